"""A real TURN server for the interop tests: coturn's ``turnserver`` on loopback.

:class:`Turn` starts ``turnserver`` on a free 127.0.0.1 port with long-term credentials
(RFC 8656 §9.2), relaying only on 127.0.0.1 in a small port range, with its user database in
the caller's working directory; it returns once the server answers a STUN Binding request
(RFC 8489 §6), and stops it by its PID. Loopback peers need ``--allow-loopback-peers``:
without it coturn refuses to relay to 127.0.0.1.

Processes are started and stopped with the helpers of :mod:`tests.interop.processes`, so they
are killed at interpreter exit if a caller forgot to.
"""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

from aiortc import RTCIceServer

from .ports import LOOPBACK, ephemeral_low, free_ports
from .processes import LoggedProcess, PeerError, require_binary, tail, terminate_group

__all__ = ["Turn", "stun_binding"]

MAGIC_COOKIE = 0x2112A442
RELAY_PORTS = 100  # relay ports per server: two per session is plenty for the tests


def stun_binding(host: str, port: int, *, timeout: float = 0.2) -> tuple[str, int] | None:
    """Send one STUN Binding request over UDP; the XOR-MAPPED-ADDRESS of the success
    response (RFC 8489 §14.2), or None if nothing valid came back in ``timeout`` seconds."""
    transaction = os.urandom(12)
    request = (0x0001).to_bytes(2, "big") + bytes(2) + MAGIC_COOKIE.to_bytes(4, "big") + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (host, port))
        try:
            data = sock.recv(2048)
        except (TimeoutError, ConnectionRefusedError):
            return None
    if len(data) < 20 or data[:2] != b"\x01\x01" or data[8:20] != transaction:
        return None
    attributes = data[20 : 20 + int.from_bytes(data[2:4], "big")]
    while len(attributes) >= 4:
        kind = int.from_bytes(attributes[:2], "big")
        length = int.from_bytes(attributes[2:4], "big")
        value = attributes[4 : 4 + length]
        if kind == 0x0020 and len(value) == 8 and value[1] == 0x01:  # XOR-MAPPED-ADDRESS, IPv4
            xport = int.from_bytes(value[2:4], "big") ^ (MAGIC_COOKIE >> 16)
            xaddr = int.from_bytes(value[4:8], "big") ^ MAGIC_COOKIE
            return socket.inet_ntoa(xaddr.to_bytes(4, "big")), xport
        attributes = attributes[4 + (length + 3) // 4 * 4 :]
    return None


def _relay_range() -> tuple[int, int]:
    """A block of ports for relayed addresses, below the ephemeral range (coturn skips
    the ones that are taken)."""
    high = min(ephemeral_low(), 65536) - RELAY_PORTS - 1
    low = 20000 if high > 25000 else 1025
    first = random.SystemRandom().randint(low, high)
    return first, first + RELAY_PORTS - 1


class Turn(LoggedProcess):
    """One coturn ``turnserver`` with user ``username``/``password`` in ``realm``.

    ``Turn(workdir).start()`` picks a free port and relay range, starts the server and
    waits until it answers STUN; ``stop()`` ends it by PID. The log is
    ``workdir/turnserver.log``.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "test",
        password: str = "testpw",
        realm: str = "sipwebrtc.test",
        host: str = LOOPBACK,
        ready_timeout: float = 10.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.realm = realm
        self.host = host
        self.ready_timeout = ready_timeout
        self.port: int | None = None
        self.relay_ports: tuple[int, int] | None = None
        super().__init__(self.workdir / "turnserver.log")

    def __repr__(self) -> str:  # no password: reprs end up in test reports
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<Turn {self.host}:{self.port} {state} log={self.log_path}>"

    @property
    def url(self) -> str:
        """``turn:host:port`` (UDP)."""
        if self.port is None:
            raise PeerError("the port is chosen by start()")
        return f"turn:{self.host}:{self.port}"

    def ice_server(self) -> RTCIceServer:
        """The server and its credentials, for ``MediaConfig.ice_servers``."""
        return RTCIceServer(urls=self.url, username=self.username, credential=self.password)

    def command(self) -> list[str]:
        if self.port is None or self.relay_ports is None:
            raise PeerError("ports are chosen by start()")
        return [
            require_binary("turnserver"),
            "-n",  # no configuration file
            f"--listening-ip={self.host}",
            f"--relay-ip={self.host}",
            f"--listening-port={self.port}",
            f"--min-port={self.relay_ports[0]}",
            f"--max-port={self.relay_ports[1]}",
            "--lt-cred-mech",
            f"--user={self.username}:{self.password}",
            f"--realm={self.realm}",
            f"--userdb={self.workdir / 'turndb'}",
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-rfc5780",
            "--fingerprint",
            f"--pidfile={self.workdir / 'turnserver.pid'}",
            "--log-file=stdout",
            "--simple-log",
            "--no-software-attribute",
        ]

    def start(self) -> Turn:
        """Start the server; :class:`PeerError` with the log's tail if it does not answer."""
        if self.running:
            raise PeerError(f"turnserver already running (pid {self.pid})")
        (self.port,) = free_ports(1, "both", host=self.host)
        self.relay_ports = _relay_range()
        cmd = self.command()
        # the password is in the command line: log only the rest
        header = f"start: {' '.join(c for c in cmd if '--user=' not in c)}"
        self._spawn(cmd, cwd=self.workdir, header=header)
        try:
            self._wait_ready()
        except PeerError:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None and self.port is not None
        deadline = time.monotonic() + self.ready_timeout
        while stun_binding(self.host, self.port) is None:
            if self._proc.poll() is not None:
                raise PeerError(
                    f"turnserver exited with {self._proc.returncode}:\n{tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise PeerError(
                    f"turnserver did not answer STUN on {self.host}:{self.port} within "
                    f"{self.ready_timeout} s:\n{tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self) -> int | None:
        """Stop the server (by PID); its exit status, or None if it was not started."""
        return self._end(terminate_group)
