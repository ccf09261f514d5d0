"""Kamailio for the interop tests, on loopback.

:class:`Kamailio` runs ``tests/interop/kamailio/kamailio.cfg`` (registrar, digest auth,
record-routing proxy; UDP, TCP, WS and WSS) on its own free ports and control socket, with a
certificate from :func:`sipcore.transport.pki.make_cert` (a private CA and a server
certificate for 127.0.0.1, ::1 and localhost, so that TLS clients verify the server against
the CA file); it queries Kamailio over kamcmd (:mod:`tests.interop.kamcmd`).
:class:`KamailioFactory` makes several instances for one test.

The process is started and stopped with :mod:`tests.interop.processes`; its log goes to the
working directory given by the caller, normally a pytest tmp dir.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from sipcore.transport.pki import CertFiles, make_cert

from .kamcmd import Contact, KamcmdError, RpcNode, parse_contact, parse_rpc
from .ports import LOOPBACK, free_ports
from .processes import LoggedProcess, PeerError, kill_group, require_binary, tail, terminate_group

HERE = Path(__file__).resolve().parent
KAMAILIO_CFG = HERE / "kamailio" / "kamailio.cfg"

Transport: TypeAlias = Literal["udp", "tcp", "ws", "wss"]
#: A Kamailio ``-A`` define: True gives a flag (``-A NAME``), False leaves it out, an int
#: gives ``NAME=int`` and a str is passed verbatim (quote strings: ``'"text"'``).
Define: TypeAlias = bool | int | str


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


class Kamailio(LoggedProcess):
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
        super().__init__(self.workdir / "kamailio.log")
        self.ctl_path = self._ctl_path()
        self._run_defines: dict[str, Define] = {}
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
                self._end(lambda proc: terminate_group(proc, grace=2.0))
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
        stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
        self._spawn(cmd, cwd=self.workdir, header=f"{stamp} start {self.starts}: {' '.join(cmd)}")

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

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL to the process group after ``timeout`` s. Returns the
        exit status (None if never started). The object can be started again."""
        return self._end(lambda proc: terminate_group(proc, grace=timeout))

    def kill(self) -> int | None:
        """SIGKILL Kamailio and all its workers at once, as in a crash."""
        return self._end(kill_group)

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
        return [parse_contact(c) for c in node.find("Contact")]

    def locations(self) -> dict[str, list[Contact]]:
        """Every AoR of the location table with its contacts (``ul.dump``)."""
        node = self.rpc("ul.dump")
        table: dict[str, list[Contact]] = {}
        for info in node.find("Info"):
            aor = info.text("AoR")
            if aor is not None:
                table[aor] = [parse_contact(c) for c in info.find("Contact")]
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
