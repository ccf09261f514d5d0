"""Several processes of one user on one host sharing one registration (the web-client SDK's
``SessionListener``).

One process, the *parent*, owns the registration and the calls; the others, *children*,
connect to it over a Unix domain socket and are told ``incoming``, ``connected`` and
``callEnded`` as the parent's calls go. When the parent goes away (cleanly, or killed: the
kernel closes its socket either way), every child sees its connection end and runs an
election: exactly one wins, is told ``re-register`` (it should register and take over the
calls) and becomes the parent; the others attach to it.

The election is an exclusive ``flock`` on a lock file beside the socket. The parent holds it
for as long as it lives and the kernel drops it when the process dies, so a socket file left
by a crashed parent is recognised as stale (its lock is free) and replaced by whoever takes
the lock next.

Where: the socket's name is derived from the user and the server; it lives in
``$XDG_RUNTIME_DIR/sipwebrtc`` or else in a private ``sipwebrtc-<uid>`` directory under the
temp dir, created 0700. A directory that is not ours, or that others may write to, is refused;
the socket itself is 0600 and the parent also checks each peer's uid (``SO_PEERCRED``, Linux).

Wire format: one JSON object per line (UTF-8, ``\\n``-terminated), at most :data:`MAX_LINE`
bytes; nothing is deserialised but JSON. Lines that are too long or not a known message are
dropped and counted in :attr:`SessionCoordinator.dropped`; the connection stays up.

- child to parent: ``{"type": "hello", "pid": 1234}``
- parent to child: ``{"type": "welcome", "pid": 4321}``, or ``{"type": "refused", "reason":
  "..."}`` when :data:`MAX_CHILDREN` are attached, then ``{"type": "state", "state":
  "incoming", "phone": "bob"}`` for each call event.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import stat
import struct
import tempfile
from collections.abc import AsyncIterator, Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from client.stream import TaskSet
from sipcore.errors import SipError

__all__ = [
    "CALL_STATES",
    "MAX_CHILDREN",
    "MAX_LINE",
    "REREGISTER",
    "ChannelError",
    "Role",
    "SessionCoordinator",
    "channel_directory",
    "channel_path",
]

logger = logging.getLogger("client.web.multi")

CALL_STATES = frozenset({"incoming", "connected", "callEnded"})
"""The call states a parent publishes to its children."""
REREGISTER = "re-register"
"""Told to the one child that became the parent: register and take over."""
MAX_LINE = 1024
"""Longest message line (bytes, newline excluded)."""
MAX_CHILDREN = 16
"""Most children attached to one parent; more are refused."""
_MAX_PHONE = 256  # longest phone (remote party) in a state message
_SEND_BACKLOG = 64 * MAX_LINE  # a child that lets this much pile up is dropped
_UNIX_PATH_MAX = 104  # sun_path is 108 bytes on Linux, 104 on the BSDs


class Role(StrEnum):
    PARENT = "parent"
    CHILD = "child"


class ChannelError(SipError):
    """The local channel cannot be used: unsafe directory, path too long, refused by the
    parent (too many children), or no parent reachable in time."""


def channel_directory(directory: str | Path | None = None) -> Path:
    """The directory for the channel sockets (created 0700 when missing); ChannelError when
    it is not a directory of ours or when others may write to it."""
    if directory is None:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and os.path.isdir(runtime):
            path = Path(runtime) / "sipwebrtc"
        else:
            path = Path(tempfile.gettempdir()) / f"sipwebrtc-{os.getuid()}"
    else:
        path = Path(directory)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):  # a symlink is refused too
        raise ChannelError(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise ChannelError(f"{path} belongs to another user")
    if info.st_mode & 0o022:
        raise ChannelError(f"{path} is writable by others")
    return path


def channel_path(user: str, server: str, directory: str | Path | None = None) -> Path:
    """The socket path of ``user`` on ``server``: a hash of both, in :func:`channel_directory`."""
    digest = hashlib.sha256(f"{user}\n{server}".encode()).hexdigest()[:24]
    path = channel_directory(directory) / f"{digest}.sock"
    if len(os.fsencode(path)) >= _UNIX_PATH_MAX:
        raise ChannelError(f"socket path too long for AF_UNIX: {path} (use a shorter directory)")
    return path


class SessionCoordinator:
    """Parent or child of the processes of ``user`` on ``server``.

    ``on_state(state, phone)`` (plain or async) is called in a child with each call state the
    parent publishes (``incoming``, ``connected``, ``callEnded``; ``phone`` is the remote party
    or None), and with ``re-register`` (phone None) in the child that became the parent.
    """

    def __init__(
        self,
        user: str,
        server: str,
        on_state: Callable[[str, str | None], object],
        *,
        directory: str | Path | None = None,
        max_children: int = MAX_CHILDREN,
        attach_timeout: float = 5.0,
    ) -> None:
        self.path = channel_path(user, server, directory)
        self.lock_path = self.path.with_suffix(".lock")
        self.on_state = on_state
        self.max_children = max_children
        self.attach_timeout = attach_timeout
        """Longest wait for a parent to accept us while another process holds the lock."""
        self.role: Role | None = None
        self.dropped = 0
        """Lines dropped because they were too long or not a known message."""
        self._lock_fd: int | None = None
        self._server: asyncio.Server | None = None
        self._children: set[asyncio.StreamWriter] = set()
        self._parent: asyncio.StreamWriter | None = None
        self._follower: asyncio.Task[None] | None = None
        self._tasks = TaskSet(
            lambda exc: logger.error("async session callback failed: %r", exc), logger
        )
        self._closed = False

    @property
    def children(self) -> int:
        """Children attached now (parent only)."""
        return len(self._children)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> Role:
        """Become the parent (the lock was free) or attach to the running parent as a child."""
        if self.role is not None:
            raise ChannelError("already started")
        lines = await self._attach()
        if lines is None:
            return Role.PARENT
        self._follower = asyncio.ensure_future(self._follow(lines))
        return Role.CHILD

    async def close(self) -> None:
        """Leave: a parent closes every child's connection (they elect a new parent), removes
        its socket and frees the lock; a child just disconnects."""
        self._closed = True
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        if self._parent is not None:
            self._parent.close()
            self._parent = None
        if self._server is not None:
            self._server.close()
            for writer in list(self._children):
                writer.close()
            self._children.clear()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self._unlock()
        self._tasks.cancel()

    # -- parent ------------------------------------------------------------------------------------
    def publish(self, state: str, phone: str | None = None) -> None:
        """Tell every child a call ``state`` of ours (parent only)."""
        if self.role is not Role.PARENT:
            raise ChannelError("only the parent publishes call states")
        if state not in CALL_STATES:
            raise ValueError(f"unknown call state {state!r} (one of {sorted(CALL_STATES)})")
        if phone is not None and len(phone) > _MAX_PHONE:
            phone = phone[:_MAX_PHONE]
        line = _encode({"type": "state", "state": state, "phone": phone})
        for writer in list(self._children):
            if writer.transport.get_write_buffer_size() > _SEND_BACKLOG:
                logger.warning("a child does not read its messages: dropping it")
                self._drop_child(writer)
                continue
            writer.write(line)

    async def _serve(self) -> None:
        """Bind the socket; the lock is ours, so an existing socket file is stale."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(info.st_mode):
                raise ChannelError(f"{self.path} exists and is not a socket")
            logger.info("taking over the stale socket %s", self.path)
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        os.chmod(self.path, 0o600)
        self.role = Role.PARENT

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid = _peer_uid(writer)
        if uid is not None and uid != os.getuid():
            logger.warning("refused a peer of uid %d on %s", uid, self.path)
            writer.close()
            return
        if len(self._children) >= self.max_children or self._closed:
            writer.write(_encode({"type": "refused", "reason": "too many children"}))
            writer.close()
            return
        self._children.add(writer)
        writer.write(_encode({"type": "welcome", "pid": os.getpid()}))
        try:
            async for line in _lines(reader, MAX_LINE):
                message = _decode(line)
                if message is None or message["type"] != "hello":
                    self.dropped += 1
        except (ConnectionError, OSError):
            pass
        finally:
            self._drop_child(writer)

    def _drop_child(self, writer: asyncio.StreamWriter) -> None:
        self._children.discard(writer)
        writer.close()

    # -- child -----------------------------------------------------------------------------------
    async def _attach(self) -> AsyncIterator[bytes] | None:
        """Take the lock and serve (returns None), or get welcomed by the parent (returns the
        lines from it); retried until ``attach_timeout`` while the lock holder is not
        accepting yet (it may be binding right now)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.attach_timeout
        while True:
            if self._lock():
                await self._serve()
                return None
            lines = await self._connect()
            if lines is not None:
                return lines
            if loop.time() >= deadline:
                raise ChannelError(f"no parent answers on {self.path}")
            await asyncio.sleep(0.05)

    async def _connect(self) -> AsyncIterator[bytes] | None:
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        writer.write(_encode({"type": "hello", "pid": os.getpid()}))
        lines = _lines(reader, MAX_LINE)
        try:
            line = await asyncio.wait_for(anext(lines, None), self.attach_timeout)
        except (TimeoutError, ConnectionError, OSError):
            line = None
        message = _decode(line) if line is not None else None
        if message is not None and message["type"] == "refused":
            writer.close()
            raise ChannelError(f"the parent refused us: {message.get('reason')}")
        if message is None or message["type"] != "welcome":
            writer.close()  # the parent went away meanwhile: elect again
            return None
        self._parent = writer
        self.role = Role.CHILD
        return lines

    async def _follow(self, lines: AsyncIterator[bytes]) -> None:
        """Pass the parent's call states on; when it goes, elect, and follow the next one."""
        while True:
            with contextlib.suppress(ConnectionError, OSError):
                async for line in lines:
                    message = _decode(line)
                    if message is None or not self._valid_state(message):
                        self.dropped += 1
                        continue
                    self._notify(message["state"], message.get("phone"))
            if self._parent is not None:
                self._parent.close()
                self._parent = None
            if self._closed:
                return
            try:
                next_lines = await self._attach()
            except ChannelError as exc:
                logger.error("lost the parent and cannot attach again: %s", exc)
                self.role = None
                return
            if next_lines is None:  # we won: the parent from now on
                logger.info("the parent left: taking over on %s", self.path)
                self._notify(REREGISTER, None)
                return
            lines = next_lines

    @staticmethod
    def _valid_state(message: dict[str, Any]) -> bool:
        phone = message.get("phone")
        return (
            message["type"] == "state"
            and message.get("state") in CALL_STATES
            and (phone is None or (isinstance(phone, str) and len(phone) <= _MAX_PHONE))
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _notify(self, state: str, phone: str | None) -> None:
        self._tasks.call(self.on_state, state, phone, what=f"session callback for {state}")

    def _lock(self) -> bool:
        """Take the election lock without waiting; True if it is ours (now or already)."""
        if self._lock_fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # frees the flock


def _encode(message: dict[str, Any]) -> bytes:
    line = json.dumps(message, separators=(",", ":")).encode()
    if len(line) > MAX_LINE:
        raise ValueError("message too long for the channel")
    return line + b"\n"


def _decode(line: bytes) -> dict[str, Any] | None:
    """The message on ``line``, or None if it is not a JSON object with a string ``type``."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


async def _lines(reader: asyncio.StreamReader, limit: int) -> AsyncIterator[bytes]:
    """Lines of at most ``limit`` bytes until EOF; a longer line is skipped whole (and given
    as ``b""``, which no decoder accepts, so that the reader counts it)."""
    buffer = bytearray()
    skipping = False
    while chunk := await reader.read(4096):
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if skipping:
                skipping = False  # the tail of an oversize line
            elif len(line) > limit:
                yield b""
            else:
                yield line
        if len(buffer) > limit:
            if not skipping:
                yield b""
            skipping = True
            buffer.clear()


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The uid of the process at the other end (Linux ``SO_PEERCRED``), None where unknown."""
    option = getattr(socket, "SO_PEERCRED", None)
    sock = writer.get_extra_info("socket")
    if option is None or sock is None:
        return None
    data = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", data)
    return int(uid)
