"""Real peers for the interop tests: Kamailio and SIPp on loopback.

Plain helpers, usable from tests, fixtures and scripts:

- :func:`free_ports` picks ports free for UDP and/or TCP on 127.0.0.1;
- :func:`make_cert` (from :mod:`sipcore.transport.pki`) writes a private CA and a server
  certificate for 127.0.0.1, ::1 and localhost, so that TLS clients verify the server
  against the CA file;
- :class:`Kamailio` runs ``tests/interop/kamailio/kamailio.cfg`` (registrar, digest auth,
  record-routing proxy; UDP, TCP, WS and WSS) on its own ports and control socket;
- :class:`Sipp` runs SIPp scenarios (``tests/interop/sipp/``) and reads their statistics.

Every process is started directly (never through a shell, whose PID would not be the
peer's), in its own process group, and stopped by its PID; all of them are also killed at
interpreter exit if a caller forgot to. Logs and traces go to the working directory given
by the caller, normally a pytest tmp dir.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import datetime
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, TypeAlias

from sipcore.transport.pki import CertFiles, make_cert

__all__ = ["CertFiles", "make_cert"]  # re-exported for the interop tests

HERE = Path(__file__).resolve().parent
KAMAILIO_CFG = HERE / "kamailio" / "kamailio.cfg"
SIPP_DIR = HERE / "sipp"
LOOPBACK = "127.0.0.1"
SETUP_HINT = "run scripts/setup to install the interop peers (Kamailio, SIPp)"

PortKind: TypeAlias = Literal["udp", "tcp", "both"]
Transport: TypeAlias = Literal["udp", "tcp", "ws", "wss"]
#: A Kamailio ``-A`` define: True gives a flag (``-A NAME``), False leaves it out, an int
#: gives ``NAME=int`` and a str is passed verbatim (quote strings: ``'"text"'``).
Define: TypeAlias = bool | int | str

# kamailio and kamcmd live in /usr/sbin, which is not on every user's PATH
_SEARCH_PATH = os.pathsep.join(
    p for p in (os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin") if p
)


class PeerError(RuntimeError):
    """A peer could not be started, did not answer, or failed."""


class MissingBinaryError(PeerError):
    """A peer's executable is not installed."""


class KamcmdError(PeerError):
    """kamcmd failed, or the RPC answered with an error."""


def find_binary(name: str) -> str | None:
    """The path of an executable, looking in the sbin directories too."""
    return shutil.which(name, path=_SEARCH_PATH)


def require_binary(name: str) -> str:
    """The path of an executable; :class:`MissingBinaryError` naming the fix if absent."""
    path = find_binary(name)
    if path is None:
        raise MissingBinaryError(f"{name} not found: {SETUP_HINT}")
    return path


def missing_binaries(*names: str) -> list[str]:
    """The executables among ``names`` that are not installed."""
    return [name for name in names if find_binary(name) is None]


# --------------------------------------------------------------------------------------
# Processes


_live: dict[int, subprocess.Popen[bytes]] = {}


def _spawn(
    cmd: list[str], *, cwd: Path, stdout: IO[bytes], stderr: IO[bytes] | int
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` directly, in a new session: its PID is also its process group."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    _live[proc.pid] = proc
    return proc


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running. Zombies do not count: killed
    workers are reparented to PID 1, which may reap them late."""
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` to the process group of ``proc`` (started by :func:`_spawn`)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _terminate(
    proc: subprocess.Popen[bytes], *, sig: signal.Signals = signal.SIGTERM, grace: float = 5.0
) -> int:
    """Stop ``proc`` and everything in its process group: ``sig`` to the leader, then
    SIGKILL to the group after ``grace`` seconds. Returns the leader's exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=5.0)
    # children of the leader (Kamailio workers) leave on their own; make sure they did
    deadline = time.monotonic() + grace
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if _group_alive(proc.pid):
        _signal_group(proc, signal.SIGKILL)
    _live.pop(proc.pid, None)
    returncode = proc.returncode
    assert returncode is not None
    return returncode


def _kill(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL the whole process group of ``proc`` at once (a crash, as seen by peers)."""
    _signal_group(proc, signal.SIGKILL)
    proc.wait(timeout=5.0)
    deadline = time.monotonic() + 2.0
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    _live.pop(proc.pid, None)
    return proc.returncode


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live.values()):
        with contextlib.suppress(Exception):
            _kill(proc)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------
# Ports and certificates


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bind(port: int, kind: PortKind, host: str) -> list[socket.socket] | None:
    types = {
        "udp": [socket.SOCK_DGRAM],
        "tcp": [socket.SOCK_STREAM],
        "both": [socket.SOCK_DGRAM, socket.SOCK_STREAM],
    }[kind]
    held: list[socket.socket] = []
    try:
        for sock_type in types:
            sock = socket.socket(socket.AF_INET, sock_type)
            held.append(sock)
            sock.bind((host, port))
    except OSError:
        for sock in held:
            sock.close()
        return None
    return held


def free_ports(n: int, kind: PortKind = "both", *, host: str = LOOPBACK) -> list[int]:
    """``n`` distinct ports free on ``host`` for UDP, TCP or both.

    They are drawn at random below the kernel's ephemeral range, so that the outgoing
    connections of the peers (which get ephemeral ports) cannot take them between this
    call and the bind of the process that uses them.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    high = min(_ephemeral_low(), 65536) - 1
    low = 20000 if high > 25000 else 1025
    rng = random.SystemRandom()
    ports: list[int] = []
    held: list[socket.socket] = []
    try:
        for _ in range(20 * n + 200):
            if len(ports) == n:
                break
            port = rng.randint(low, high)
            if port in ports:
                continue
            socks = _bind(port, kind, host)
            if socks is not None:
                held.extend(socks)
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    if len(ports) < n:
        raise PeerError(f"found only {len(ports)} of {n} free {kind} ports on {host}")
    return ports


# --------------------------------------------------------------------------------------
# kamcmd output


RpcValue: TypeAlias = "str | RpcNode"


@dataclass
class RpcNode:
    """One ``{ ... }`` block of kamcmd output: its ``key: value`` entries, in order."""

    entries: list[tuple[str, RpcValue]] = field(default_factory=list)

    def all(self, key: str) -> list[RpcValue]:
        return [value for k, value in self.entries if k == key]

    def get(self, key: str) -> RpcValue | None:
        values = self.all(key)
        return values[0] if values else None

    def nodes(self, key: str) -> list[RpcNode]:
        return [value for value in self.all(key) if isinstance(value, RpcNode)]

    def text(self, key: str) -> str | None:
        value = self.get(key)
        return value if isinstance(value, str) else None

    def find(self, key: str) -> list[RpcNode]:
        """Every node named ``key`` at any depth, in document order."""
        found: list[RpcNode] = []
        for k, value in self.entries:
            if isinstance(value, RpcNode):
                if k == key:
                    found.append(value)
                found.extend(value.find(key))
        return found


def parse_rpc(text: str) -> RpcNode:
    """Parse the text kamcmd prints for a structured RPC answer.

    Blocks are ``key: {`` ... ``}`` (or a bare ``{``, stored under the key ``""``) and
    leaves are ``key: value``; several top-level answers are gathered under one root.
    """
    root = RpcNode()
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            if len(stack) > 1:
                stack.pop()
            continue
        if line == "{":
            node = RpcNode()
            stack[-1].entries.append(("", node))
            stack.append(node)
            continue
        key, sep, value = line.partition(":")
        if not sep:
            stack[-1].entries.append(("", line))
            continue
        value = value.strip()
        if value == "{":
            node = RpcNode()
            stack[-1].entries.append((key.strip(), node))
            stack.append(node)
        else:
            stack[-1].entries.append((key.strip(), value))
    return root


@dataclass(frozen=True)
class Contact:
    """A contact bound to an AoR in Kamailio's location table."""

    address: str
    expires: int | None
    fields: dict[str, str]

    @property
    def received(self) -> str | None:
        value = self.fields.get("Received")
        return None if value in (None, "[not set]") else value

    @property
    def socket(self) -> str | None:
        return self.fields.get("Socket")

    @property
    def user_agent(self) -> str | None:
        return self.fields.get("User-Agent")


def _contact(node: RpcNode) -> Contact:
    fields = {k: v for k, v in node.entries if isinstance(v, str)}
    expires_text = fields.get("Expires", "")
    expires = int(expires_text) if re.fullmatch(r"-?\d+", expires_text) else None
    return Contact(address=fields.get("Address", ""), expires=expires, fields=fields)


# --------------------------------------------------------------------------------------
# Kamailio


@dataclass(frozen=True)
class KamailioPorts:
    """The listening ports of one Kamailio instance (all on the same address)."""

    sip: int  # UDP and TCP
    ws: int
    wss: int

    @classmethod
    def allocate(cls) -> KamailioPorts:
        sip, ws, wss = free_ports(3, "both")
        return cls(sip=sip, ws=ws, wss=wss)


class Kamailio:
    """One Kamailio instance running the project's interop configuration.

    ``Kamailio(workdir).start()`` picks free ports, writes a certificate (unless ``tls`` is
    given), starts ``kamailio -DD -E`` with a ``-A`` define for every port and path, and
    returns once ``kamcmd core.uptime`` answers on its own control socket. The log is
    ``workdir/kamailio.log`` (appended to by restarts).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        tls: CertFiles | None = None,
        ports: KamailioPorts | None = None,
        defines: Mapping[str, Define] | None = None,
        children: int = 2,
        shm_mb: int = 64,
        pkg_mb: int = 8,
        host: str = LOOPBACK,
        config: Path = KAMAILIO_CFG,
        ready_timeout: float = 10.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self._auto_ports = ports is None
        self.ports = ports
        self.defines: dict[str, Define] = dict(defines or {})
        self.children = children
        self.shm_mb = shm_mb
        self.pkg_mb = pkg_mb
        self.host = host
        self.config = Path(config)
        self.ready_timeout = ready_timeout
        self.log_path = self.workdir / "kamailio.log"
        self.ctl_path = self._ctl_path()
        self._run_defines: dict[str, Define] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<Kamailio {self.host} {self.ports} {state} log={self.log_path}>"

    def _ctl_path(self) -> Path:
        path = self.workdir / "ctl.sock"
        if len(str(path)) < 100:  # sun_path holds 108 bytes
            return path
        return Path(tempfile.mkdtemp(prefix="kam-")) / "ctl.sock"

    # -- process ---------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self, defines: Mapping[str, Define] | None = None) -> list[str]:
        """The kamailio command line for the current ports and the given defines."""
        if self.ports is None or self.tls is None:
            raise PeerError("ports and certificate are set by start()")
        merged: dict[str, Define] = {
            "LISTEN_IP": self.host,
            "SIP_PORT": self.ports.sip,
            "WS_PORT": self.ports.ws,
            "WSS_PORT": self.ports.wss,
            "CTL_SOCK": f'"unix:{self.ctl_path}"',
            "TLS_CERT": f'"{self.tls.cert}"',
            "TLS_KEY": f'"{self.tls.key}"',
            "CHILDREN": self.children,
        }
        merged.update(defines if defines is not None else self._run_defines)
        cmd = [
            require_binary("kamailio"),
            "-f",
            str(self.config),
            "-DD",
            "-E",
            "-m",
            str(self.shm_mb),
            "-M",
            str(self.pkg_mb),
        ]
        for name, value in merged.items():
            if value is False:
                continue
            # bool is an int: test it first
            cmd += ["-A", name if value is True else f"{name}={value}"]
        return cmd

    def start(self, defines: Mapping[str, Define] | None = None) -> Kamailio:
        """Start Kamailio with the constructor's defines updated by ``defines``.

        Waits until the RPC answers; on failure the process is stopped and
        :class:`PeerError` carries the tail of the log. Ports taken in the meantime by
        another process are replaced by new free ones (when they were chosen here).
        """
        if self.running:
            raise PeerError(f"kamailio already running (pid {self.pid})")
        require_binary("kamcmd")
        if self.tls is None:
            self.tls = make_cert(self.workdir / "tls")
        self._run_defines = {**self.defines, **(defines or {})}
        attempts = 3 if self._auto_ports else 1
        for attempt in range(attempts):
            if self.ports is None or (attempt > 0 and self._auto_ports):
                self.ports = KamailioPorts.allocate()
            try:
                self._launch()
                self._wait_ready()
            except PeerError:
                self._stop_process(grace=2.0)
                if attempt + 1 < attempts and "Address already in use" in tail(self.log_path, 30):
                    continue
                raise
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.ctl_path.unlink()
        cmd = self.command()
        self.starts += 1
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open while running
        stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
        self._log.write(f"==== {stamp} start {self.starts}: {' '.join(cmd)}\n".encode())
        self._log.flush()
        self._proc = _spawn(cmd, cwd=self.workdir, stdout=self._log, stderr=subprocess.STDOUT)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            rc = self._proc.poll()
            if rc is not None:
                raise PeerError(
                    f"kamailio exited with status {rc} while starting; "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                out = self._rpc(["core.uptime"], timeout=2.0)
            except KamcmdError:
                out = ""
            # The RPC process is up before the TCP main process (forked last) has set up
            # its signal handlers; a SIGTERM in that window is lost and shutdown hangs.
            # A SIP exchange over TCP goes through the TCP main: then every process is up.
            if "uptime" in out and self._tcp_ping():
                return
            if time.monotonic() > deadline:
                raise PeerError(
                    f"kamailio (pid {self._proc.pid}) did not answer kamcmd within "
                    f"{self.ready_timeout} s; log {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.02)

    def _tcp_ping(self) -> bool:
        """Whether an OPTIONS over TCP gets a reply."""
        assert self.ports is not None
        try:
            with socket.create_connection((self.host, self.ports.sip), timeout=1.0) as sock:
                local_host, local_port = sock.getsockname()[:2]
                sock.sendall(
                    (
                        f"OPTIONS sip:{self.host}:{self.ports.sip} SIP/2.0\r\n"
                        f"Via: SIP/2.0/TCP {local_host}:{local_port};branch=z9hG4bK"
                        f"{os.urandom(8).hex()}\r\n"
                        "Max-Forwards: 70\r\n"
                        f"From: <sip:ping@{self.host}>;tag={os.urandom(4).hex()}\r\n"
                        f"To: <sip:{self.host}:{self.ports.sip}>\r\n"
                        f"Call-ID: ready-{os.urandom(8).hex()}\r\n"
                        "CSeq: 1 OPTIONS\r\n"
                        "Content-Length: 0\r\n\r\n"
                    ).encode()
                )
                reply = sock.recv(4096)
        except OSError:
            return False
        return reply.startswith(b"SIP/2.0 ")

    def _stop_process(self, *, grace: float) -> int | None:
        if self._proc is None:
            return None
        rc = _terminate(self._proc, grace=grace)
        self._close_log()
        return rc

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL to the process group after ``timeout`` s. Returns the
        exit status (None if never started). The object can be started again."""
        return self._stop_process(grace=timeout)

    def kill(self) -> int | None:
        """SIGKILL Kamailio and all its workers at once, as in a crash."""
        if self._proc is None:
            return None
        rc = _kill(self._proc)
        self._close_log()
        return rc

    def restart(self, defines: Mapping[str, Define] | None = None) -> Kamailio:
        """Stop and start again on the same ports, with the defines of the last start
        (or the constructor's defines updated by ``defines``). The location table is in
        memory: every registration is lost."""
        previous = dict(self._run_defines)
        self.stop()
        self._auto_ports = False  # same ports, so that clients find it again
        if defines is None:
            return self.start(previous)
        return self.start(defines)

    # -- addresses -------------------------------------------------------------------

    def _ports(self) -> KamailioPorts:
        if self.ports is None:
            raise PeerError("kamailio has no ports before start()")
        return self.ports

    @property
    def sip_port(self) -> int:
        return self._ports().sip

    @property
    def ws_port(self) -> int:
        return self._ports().ws

    @property
    def wss_port(self) -> int:
        return self._ports().wss

    @property
    def domain(self) -> str:
        """The domain of the users' AoRs (and so the digest realm of REGISTER)."""
        return self.host

    def address(self, transport: Transport = "udp") -> tuple[str, int]:
        """``(host, port)`` of the socket for ``transport``."""
        ports = self._ports()
        port = {"udp": ports.sip, "tcp": ports.sip, "ws": ports.ws, "wss": ports.wss}[transport]
        return self.host, port

    def hostport(self, transport: Transport = "udp") -> str:
        host, port = self.address(transport)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def uri(self, transport: Transport = "udp") -> str:
        """Where a client connects: ``sip:HOST:PORT;transport=udp|tcp`` for SIP,
        ``ws://HOST:PORT`` / ``wss://HOST:PORT`` for WebSocket."""
        if transport in ("ws", "wss"):
            return f"{transport}://{self.hostport(transport)}"
        return f"sip:{self.hostport(transport)};transport={transport}"

    @property
    def ws_url(self) -> str:
        return self.uri("ws")

    @property
    def wss_url(self) -> str:
        return self.uri("wss")

    def aor(self, user: str) -> str:
        return f"sip:{user}@{self.domain}"

    # -- RPC -------------------------------------------------------------------------

    def _rpc(self, args: list[str], *, timeout: float) -> str:
        cmd = [require_binary("kamcmd"), "-s", f"unix:{self.ctl_path}", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise KamcmdError(f"kamcmd {' '.join(args)}: no answer in {timeout} s") from exc
        out = done.stdout.strip()
        if done.returncode != 0 or out.startswith("error"):
            detail = (out + "\n" + done.stderr.strip()).strip()
            raise KamcmdError(f"kamcmd {' '.join(args)}: {detail}")
        return out

    def kamcmd(self, *args: str | int, timeout: float = 5.0) -> str:
        """Run an RPC command over the control socket and return its output.

        kamcmd turns arguments that look like numbers into integers; prefix ``s:`` to
        send one as a string (``kamcmd("htable.get", "users", "s:1000")``).
        """
        return self._rpc([str(a) for a in args], timeout=timeout)

    def rpc(self, *args: str | int, timeout: float = 5.0) -> RpcNode:
        """:meth:`kamcmd`, parsed with :func:`parse_rpc`."""
        return parse_rpc(self.kamcmd(*args, timeout=timeout))

    def location(self, user: str) -> list[Contact]:
        """The contacts registered for ``user`` (``ul.lookup location``); [] if none."""
        try:
            node = self.rpc("ul.lookup", "location", f"s:{user}")
        except KamcmdError as exc:
            if "not found" in str(exc).lower():
                return []
            raise
        return [_contact(c) for c in node.find("Contact")]

    def locations(self) -> dict[str, list[Contact]]:
        """Every AoR of the location table with its contacts (``ul.dump``)."""
        node = self.rpc("ul.dump")
        table: dict[str, list[Contact]] = {}
        for info in node.find("Info"):
            aor = info.text("AoR")
            if aor is not None:
                table[aor] = [_contact(c) for c in info.find("Contact")]
        return table

    def add_user(self, name: str, password: str) -> None:
        """Add (or change) a user of the authentication table at run time."""
        self.kamcmd("htable.sets", "users", f"s:{name}", f"s:{password}")


class KamailioFactory:
    """Creates :class:`Kamailio` instances in subdirectories of one working directory,
    sharing one certificate; :meth:`close` stops them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.instances: list[Kamailio] = []
        self._tls: CertFiles | None = None

    @property
    def tls(self) -> CertFiles:
        if self._tls is None:
            self._tls = make_cert(self.workdir / "tls")
        return self._tls

    def __call__(
        self,
        defines: Mapping[str, Define] | None = None,
        *,
        start: bool = True,
        ports: KamailioPorts | None = None,
        children: int = 2,
        shm_mb: int = 64,
    ) -> Kamailio:
        kam = Kamailio(
            self.workdir / f"kamailio-{len(self.instances) + 1}",
            tls=self.tls,
            ports=ports,
            defines=defines,
            children=children,
            shm_mb=shm_mb,
        )
        self.instances.append(kam)
        if start:
            kam.start()
        return kam

    def close(self) -> None:
        for kam in self.instances:
            kam.stop()


# --------------------------------------------------------------------------------------
# SIPp


@dataclass(frozen=True)
class SippMessageStat:
    """One row of SIPp's scenario screen: a message of the scenario and its counters."""

    message: str  # "INVITE", "200", "Pause [0ms]", ...
    direction: Literal["send", "recv", "other"]
    count: int
    retrans: int
    timeouts: int
    unexpected: int
    lost: int


@dataclass
class SippResult:
    """How a SIPp run ended."""

    returncode: int
    successful_calls: int
    failed_calls: int
    retransmissions: int
    counters: dict[str, str]
    messages: list[SippMessageStat]
    command: list[str]
    files: dict[str, Path]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Exit status 0, no failed call and at least one successful call."""
        return (
            self.returncode == 0
            and not self.timed_out
            and self.failed_calls == 0
            and self.successful_calls > 0
        )

    def counter(self, name: str) -> int:
        """A cumulative counter of the statistics file, e.g. ``FailedTimeoutOnRecv``."""
        value = self.counters.get(f"{name}(C)", self.counters.get(name, "0"))
        return int(value) if value.isdigit() else 0

    def message(self, name: str, direction: str | None = None) -> list[SippMessageStat]:
        return [
            m
            for m in self.messages
            if m.message == name and (direction is None or m.direction == direction)
        ]

    def describe(self, lines: int = 30) -> str:
        """A summary for assertion messages: counters, command and the error log."""
        parts = [
            f"sipp exit {self.returncode}{' (timed out)' if self.timed_out else ''}: "
            f"{self.successful_calls} successful, {self.failed_calls} failed, "
            f"{self.retransmissions} retransmissions",
            "command: " + " ".join(self.command),
        ]
        failures = {
            k: v for k, v in self.counters.items() if k.startswith("Failed") and v not in ("", "0")
        }
        if failures:
            parts.append(f"failure counters: {failures}")
        for label in ("stderr", "errors"):
            path = self.files.get(label)
            text = tail(path, lines) if path is not None else ""
            if text:
                parts.append(f"--- {label} ({path}):\n{text}")
        if "messages" in self.files:
            parts.append(f"messages: {self.files['messages']}")
        return "\n".join(parts)


def _read_stat_csv(path: Path) -> dict[str, str]:
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = [row for row in csv.reader(f, delimiter=";") if row]
    except FileNotFoundError:
        return {}
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    return {name: value for name, value in zip(header, last, strict=False) if name}


_SCREEN_ROW = re.compile(r"^(?P<before>.*?)\s*(?P<arrow>-{3,}>|<-{3,})\s*(?P<after>.*)$")


def _parse_screen(text: str) -> tuple[list[SippMessageStat], dict[str, int]]:
    """The message table of the last scenario screen, and the cumulative
    "Successful call" / "Failed call" of the last statistics screen."""
    lines = text.splitlines()
    header_at = [i for i, line in enumerate(lines) if "Messages" in line and "Retrans" in line]
    messages: list[SippMessageStat] = []
    if header_at:
        header = lines[header_at[-1]]
        names = ["Messages", "Retrans", "Timeout", "Unexp", "Lost"]
        starts = [(header.find(n), n) for n in names if header.find(n) >= 0]
        starts.sort()
        for line in lines[header_at[-1] + 1 :]:
            if line.startswith("---") or not line.strip():
                if line.startswith("---"):
                    break
                continue
            first = starts[0][0]
            label_part = line[:first]
            columns: dict[str, int] = {}
            for idx, (pos, name) in enumerate(starts):
                end = starts[idx + 1][0] if idx + 1 < len(starts) else len(line)
                cell = line[pos:end].strip()
                columns[name] = int(cell) if cell.isdigit() else 0
            direction: Literal["send", "recv", "other"] = "other"
            label = label_part.strip()
            row = _SCREEN_ROW.match(label)
            if row:
                # UAC screens: "INVITE ---->" sent, "200 <----" received;
                # UAS screens: "----> INVITE" received, "<---- 180" sent
                outward = row.group("arrow").endswith(">")
                if row.group("before"):
                    label, direction = row.group("before"), "send" if outward else "recv"
                else:
                    label, direction = row.group("after"), "recv" if outward else "send"
            messages.append(
                SippMessageStat(
                    message=re.sub(r"\s+", " ", label),
                    direction=direction,
                    count=columns.get("Messages", 0),
                    retrans=columns.get("Retrans", 0),
                    timeouts=columns.get("Timeout", 0),
                    unexpected=columns.get("Unexp", 0),
                    lost=columns.get("Lost", 0),
                )
            )
    totals: dict[str, int] = {}
    for label, key in (("Successful call", "successful"), ("Failed call", "failed")):
        for line in lines:
            if line.strip().startswith(label):
                cells = [c.strip() for c in line.split("|")]
                if len(cells) >= 3 and cells[2].isdigit():
                    totals[key] = int(cells[2])
    return messages, totals


class SippProcess:
    """A SIPp run in the background (see :meth:`Sipp.start`)."""

    def __init__(self, proc: subprocess.Popen[bytes], command: list[str], files: dict[str, Path]):
        self._proc = proc
        self.command = command
        self.files = files
        self._result: SippResult | None = None
        self._timed_out = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def wait(self, timeout: float = 30.0) -> SippResult:
        """Wait for SIPp to exit; past ``timeout`` it is stopped and the result says
        ``timed_out``."""
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            self.stop(grace=1.0)
        return self.result()

    def stop(self, grace: float = 2.0) -> SippResult:
        """Ask SIPp to finish (SIGUSR1: no new call, calls in progress end); past
        ``grace`` seconds, SIGTERM, then SIGKILL. Statistics are final only if it
        finished within ``grace``."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGUSR1)
            try:
                self._proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _terminate(self._proc, sig=signal.SIGTERM, grace=2.0)
        _live.pop(self._proc.pid, None)
        return self.result()

    def kill(self) -> None:
        if self._proc.poll() is None:
            _kill(self._proc)
        _live.pop(self._proc.pid, None)

    def result(self) -> SippResult:
        """The result, once SIPp has exited."""
        if self._result is not None:
            return self._result
        returncode = self._proc.poll()
        if returncode is None:
            raise PeerError(f"sipp (pid {self.pid}) is still running")
        _live.pop(self._proc.pid, None)
        counters = _read_stat_csv(self.files["stats"])
        screen = (
            self.files["screen"].read_text(errors="replace")
            if self.files["screen"].exists()
            else ""
        )
        messages, totals = _parse_screen(screen)

        def number(name: str, fallback: str) -> int:
            value = counters.get(name, "")
            return int(value) if value.isdigit() else totals.get(fallback, 0)

        self._result = SippResult(
            returncode=returncode,
            successful_calls=number("SuccessfulCall(C)", "successful"),
            failed_calls=number("FailedCall(C)", "failed"),
            retransmissions=number("Retransmissions(C)", "retransmissions"),
            counters=counters,
            messages=messages,
            command=self.command,
            files=self.files,
            timed_out=self._timed_out,
        )
        return self._result


class Sipp:
    """Runs SIPp scenarios with their traces in ``workdir``.

    Scenario names are looked up in ``tests/interop/sipp/`` first. Every run gets
    ``-nostdin``, ``-i 127.0.0.1`` (unless ``-i`` is given), a statistics file
    (``-trace_stat``), the final screens (``-trace_screen``), the unexpected messages
    (``-trace_err``) and, unless ``trace_msg=False``, every message (``-trace_msg``);
    :class:`SippResult` reads them.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.processes: list[SippProcess] = []
        self._runs = 0

    @staticmethod
    def scenario_path(scenario: str | Path) -> Path:
        candidate = SIPP_DIR / scenario
        if candidate.is_file():
            return candidate
        path = Path(scenario)
        if path.is_file():
            return path
        raise PeerError(f"no SIPp scenario {scenario!r} (looked in {SIPP_DIR} and {path})")

    def start(
        self,
        scenario: str | Path,
        *args: str | int,
        remote: str | None = None,
        variables: Mapping[str, str | int] | None = None,
        trace_msg: bool = True,
        name: str | None = None,
    ) -> SippProcess:
        """Start SIPp in the background: ``scenario`` (a file of tests/interop/sipp or a
        path), ``remote`` (``host:port``, for a UAC), ``variables`` (``-set``) and any
        other SIPp arguments in ``args``."""
        sipp = require_binary("sipp")
        path = self.scenario_path(scenario)
        self._runs += 1
        stem = f"{name or path.stem}-{self._runs}"
        files = {
            "stdout": self.workdir / f"{stem}.out",
            "stderr": self.workdir / f"{stem}.err",
            "stats": self.workdir / f"{stem}.csv",
            "screen": self.workdir / f"{stem}.screen",
            "errors": self.workdir / f"{stem}.errors",
        }
        extra = [str(a) for a in args]
        cmd = [sipp]
        if remote is not None:
            cmd.append(remote)
        cmd += ["-sf", str(path), "-nostdin"]
        if "-i" not in extra:
            cmd += ["-i", LOOPBACK]
        for key, value in (variables or {}).items():
            cmd += ["-set", key, str(value)]
        cmd += ["-trace_stat", "-stf", str(files["stats"]), "-fd", "1"]
        cmd += ["-trace_screen", "-screen_file", str(files["screen"])]
        cmd += ["-trace_err", "-error_file", str(files["errors"])]
        if trace_msg:
            files["messages"] = self.workdir / f"{stem}.messages"
            cmd += ["-trace_msg", "-message_file", str(files["messages"])]
        cmd += extra
        with open(files["stdout"], "wb") as out, open(files["stderr"], "wb") as err:
            proc = _spawn(cmd, cwd=self.workdir, stdout=out, stderr=err)
        process = SippProcess(proc, cmd, files)
        self.processes.append(process)
        return process

    def run(
        self,
        scenario: str | Path,
        *args: str | int,
        remote: str | None = None,
        variables: Mapping[str, str | int] | None = None,
        trace_msg: bool = True,
        name: str | None = None,
        timeout: float = 30.0,
    ) -> SippResult:
        """Run SIPp in the foreground until it exits (or ``timeout``): see :meth:`start`."""
        process = self.start(
            scenario, *args, remote=remote, variables=variables, trace_msg=trace_msg, name=name
        )
        return process.wait(timeout=timeout)

    def cleanup(self) -> None:
        """Kill every SIPp still running."""
        for process in self.processes:
            process.kill()
