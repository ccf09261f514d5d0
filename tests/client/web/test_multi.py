"""client.web.multi: parent and children over a Unix socket, in real separate processes, and
the channel's defences (directory checks, stale sockets, garbage and oversize lines)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from client.web.multi import (
    MAX_LINE,
    REREGISTER,
    ChannelError,
    Role,
    SessionCoordinator,
    channel_directory,
    channel_path,
)

ROOT = Path(__file__).resolve().parents[3]
USER, SERVER = "alice", "wss://127.0.0.1:8443"


class Peer:
    """A process running tests/client/web/session_peer.py; ``lines`` holds all it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, directory: Path) -> Peer:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.client.web.session_peer",
            str(directory),
            USER,
            SERVER,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def expect(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        """The next printed line, which must be ``event``."""
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, f"the peer ended (waiting for {event})"
        line: dict[str, Any] = json.loads(raw)
        self.lines.append(line)
        assert line["event"] == event, line
        return line

    async def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()

    async def status(self) -> dict[str, Any]:
        await self.command("status")
        return await self.expect("status")

    async def wait_children(self, count: int) -> None:
        for _ in range(200):
            if (await self.status())["children"] == count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never {count} children")

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    started: list[Peer] = []
    yield started
    for peer in started:
        await peer.stop()


async def spawn(peers: list[Peer], directory: Path, role: str) -> Peer:
    peer = await Peer.start(directory)
    peers.append(peer)
    assert (await peer.expect("role"))["role"] == role
    return peer


async def test_parent_children_and_takeover_after_kill(peers: list[Peer], tmp_path: Path) -> None:
    parent = await spawn(peers, tmp_path, "parent")
    first = await spawn(peers, tmp_path, "child")
    second = await spawn(peers, tmp_path, "child")
    await parent.wait_children(2)
    for state in ("incoming", "connected", "callEnded"):
        await parent.command(f"publish {state} bob")
        assert (await parent.expect("published"))["state"] == state
    for child in (first, second):
        for state in ("incoming", "connected", "callEnded"):
            line = await child.expect("state")
            assert (line["state"], line["phone"], line["role"]) == (state, "bob", "child")

    parent.process.send_signal(signal.SIGKILL)
    await parent.process.wait()
    # one child wins the election: told re-register, and it is the parent from then on
    winner, loser = await asyncio.wait_for(_winner(first, second), 15)
    assert winner.lines[-1] == {
        "event": "state",
        "state": REREGISTER,
        "phone": None,
        "role": "parent",
    }
    await winner.wait_children(1)  # the other one attached to it
    assert (await loser.status())["role"] == "child"
    await winner.command("publish incoming carol")
    await winner.expect("published")
    line = await loser.expect("state")
    assert (line["state"], line["phone"], line["role"]) == ("incoming", "carol", "child")
    assert not [x for x in loser.lines if x.get("state") == REREGISTER]

    # a clean exit hands over the same way
    await winner.command("close")
    await winner.expect("closed")
    line = await loser.expect("state")
    assert (line["state"], line["role"]) == (REREGISTER, "parent")
    assert (await loser.status())["children"] == 0


async def _winner(first: Peer, second: Peer) -> tuple[Peer, Peer]:
    """The child that printed re-register first, and the other one."""
    tasks = {asyncio.ensure_future(c.expect("state")): c for c in (first, second)}
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    (task,) = done
    winner = tasks[task]
    return winner, second if winner is first else first


async def test_socket_left_by_a_killed_parent_is_taken_over(
    peers: list[Peer], tmp_path: Path
) -> None:
    parent = await spawn(peers, tmp_path, "parent")
    parent.process.send_signal(signal.SIGKILL)
    await parent.process.wait()
    path = channel_path(USER, SERVER, tmp_path)
    assert path.exists()  # nobody removed it
    await spawn(peers, tmp_path, "parent")


async def test_stale_socket_file_is_taken_over(tmp_path: Path) -> None:
    path = channel_path(USER, SERVER, tmp_path)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    told: list[tuple[str, str | None]] = []
    parent = SessionCoordinator(USER, SERVER, lambda s, p: None, directory=tmp_path)
    child = SessionCoordinator(USER, SERVER, lambda s, p: told.append((s, p)), directory=tmp_path)
    try:
        assert await parent.start() is Role.PARENT
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert await child.start() is Role.CHILD
        await _until(lambda: parent.children == 1)
        parent.publish("incoming", "bob")
        await _until(lambda: bool(told))
        assert told == [("incoming", "bob")]
    finally:
        await child.close()
        await parent.close()
    assert not path.exists()


async def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = channel_path(USER, SERVER, tmp_path)
    path.write_text("not a socket")
    coordinator = SessionCoordinator(USER, SERVER, lambda s, p: None, directory=tmp_path)
    with pytest.raises(ChannelError, match="not a socket"):
        await coordinator.start()
    await coordinator.close()
    assert path.read_text() == "not a socket"


async def test_garbage_and_oversize_lines_are_dropped(tmp_path: Path) -> None:
    told: list[tuple[str, str | None]] = []
    parent = SessionCoordinator(USER, SERVER, lambda s, p: None, directory=tmp_path)
    child = SessionCoordinator(USER, SERVER, lambda s, p: told.append((s, p)), directory=tmp_path)
    assert await parent.start() is Role.PARENT
    reader, writer = await asyncio.open_unix_connection(str(parent.path))
    try:
        assert json.loads(await reader.readline())["type"] == "welcome"
        writer.write(b"not json\n\xff\xfe\x00\n[1, 2]\n{}\n" + b"x" * (50 * MAX_LINE))
        writer.write(b'"tail of the long line"\n' + b"y" * (MAX_LINE + 1) + b"\n")
        writer.write(b'{"type": "hello", "pid": 1}\n')
        await writer.drain()
        await _until(lambda: parent.dropped == 6)
        assert await child.start() is Role.CHILD  # the parent still serves
        await _until(lambda: parent.children == 2)
        parent.publish("connected", "bob")
        assert json.loads(await reader.readline()) == {
            "type": "state",
            "state": "connected",
            "phone": "bob",
        }
        await _until(lambda: told == [("connected", "bob")])
    finally:
        writer.close()
        await child.close()
        await parent.close()


async def test_child_drops_what_a_bad_parent_sends(tmp_path: Path) -> None:
    """A fake parent (holding the lock, so the child cannot win it) sends junk between two
    good messages: the child passes on only the good ones."""
    path = channel_path(USER, SERVER, tmp_path)
    lock = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"type":"welcome","pid":1}\n')
        writer.write(b'{"type":"state","state":"incoming","phone":"bob"}\n')
        writer.write(b'{"type":"state","state":"exploded"}\n{"type":"state","phone":7}\n')
        writer.write(b"\x00" * (3 * MAX_LINE) + b"\n" + b"junk\n")
        writer.write(b'{"type":"state","state":"callEnded","phone":null}\n')
        await writer.drain()
        await reader.read()

    told: list[tuple[str, str | None]] = []
    server = await asyncio.start_unix_server(serve, path=str(path))
    child = SessionCoordinator(USER, SERVER, lambda s, p: told.append((s, p)), directory=tmp_path)
    try:
        assert await child.start() is Role.CHILD
        await _until(lambda: len(told) == 2)
        assert told == [("incoming", "bob"), ("callEnded", None)]
        assert child.dropped == 4
    finally:
        await child.close()
        server.close()
        os.close(lock)


async def test_children_beyond_the_limit_are_refused(tmp_path: Path) -> None:
    parent = SessionCoordinator(USER, SERVER, lambda s, p: None, directory=tmp_path, max_children=1)
    first = SessionCoordinator(USER, SERVER, lambda s, p: None, directory=tmp_path)
    second = SessionCoordinator(USER, SERVER, lambda s, p: None, directory=tmp_path)
    try:
        assert await parent.start() is Role.PARENT
        assert await first.start() is Role.CHILD
        with pytest.raises(ChannelError, match="too many children"):
            await second.start()
        assert parent.children == 1
    finally:
        for coordinator in (second, first, parent):
            await coordinator.close()


async def test_async_callbacks_and_publish_rules(tmp_path: Path) -> None:
    told: list[str] = []

    async def on_state(state: str, phone: str | None) -> None:
        await asyncio.sleep(0)
        told.append(state)

    parent = SessionCoordinator(USER, SERVER, lambda s, p: None, directory=tmp_path)
    child = SessionCoordinator(USER, SERVER, on_state, directory=tmp_path)
    try:
        await parent.start()
        await child.start()
        with pytest.raises(ChannelError, match="only the parent"):
            child.publish("incoming")
        with pytest.raises(ValueError, match="unknown call state"):
            parent.publish("ringing")
        await _until(lambda: parent.children == 1)
        parent.publish("incoming")
        await _until(lambda: told == ["incoming"])
        await parent.close()  # the only child takes over
        await _until(lambda: told == ["incoming", REREGISTER])
        assert child.role is Role.PARENT
    finally:
        await child.close()
        await parent.close()


def test_directory_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(ChannelError, match="writable by others"):
        channel_directory(open_dir)
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(ChannelError, match="not a directory"):
        channel_directory(link)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    made = channel_directory()
    assert made == runtime / "sipwebrtc"
    assert made.stat().st_mode & 0o777 == 0o700
    path = channel_path("alice", "wss://a.example")
    assert path.parent == made
    assert path != channel_path("bob", "wss://a.example") != channel_path("alice", "wss://b")
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    with pytest.raises(ChannelError, match="too long"):
        channel_path("alice", "wss://a.example", deep)


async def _until(condition: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never met")
