"""Network checks for the diagnostics: reachability over TCP and UDP, and ICE gathering.

Each check returns a :class:`Check`: an outcome (``pass``, ``fail`` or ``skip`` when there
is nothing to check) and one line of details. What is checked:

- **tcp**: a TCP connection to the signalling server's port (ws, wss, tcp and tls servers)
  and to every TURN server reached over TCP (``?transport=tcp``, ``turns:``). Passes when
  every one accepts; skipped when there is none (a UDP server and UDP-only ICE servers).
- **udp**: a STUN Binding request (RFC 8489 §6) over UDP to every STUN server and every TURN
  server reached over UDP; passes when every one answers, and gives the mapped address (our
  address as the server sees it). This is what WebRTC media needs: UDP out and back through
  any NAT. Skipped when no such server is configured. (A UDP signalling server is checked by
  the registration itself.)
- **host / srflx / relay**: the candidates of a real ICE gathering (aiortc's
  ``RTCIceGatherer``, the ICE servers of the account, host addresses as in its
  :class:`~media.session.MediaConfig`). ``srflx`` is skipped without a STUN server and
  ``relay`` without a TURN server (aioice asks only the first of each).
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass
from typing import Any

from aioice import stun
from aiortc import RTCIceGatherer, RTCIceTransport
from aiortc.rtcicetransport import parse_stun_turn_uri

from media.session import MediaConfig, host_addresses
from sipcore.stack import parse_target

__all__ = [
    "Check",
    "IceServer",
    "binding_answer",
    "describe",
    "gather",
    "ice_servers",
    "stun_binding",
    "tcp",
    "udp",
]


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check: ``outcome`` is pass, fail or skip."""

    outcome: str
    details: str

    def __str__(self) -> str:
        return f"{self.outcome}: {self.details}"


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN URL of the account (credentials stay in the ``RTCIceServer``)."""

    scheme: str
    host: str
    port: int
    transport: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.host}:{self.port}?transport={self.transport}"


def ice_servers(config: MediaConfig) -> list[IceServer]:
    """Every STUN/TURN URL in ``config`` (malformed ones are left out)."""
    found = []
    for server in config.ice_servers:
        urls = server.urls if isinstance(server.urls, list) else [server.urls]
        for url in urls:
            try:
                parsed: dict[str, Any] = parse_stun_turn_uri(url)
            except ValueError:
                continue
            transport = parsed.get("transport") or "udp"
            found.append(IceServer(parsed["scheme"], parsed["host"], parsed["port"], transport))
    return found


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, or just its type when it has no message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _connect(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port opens in time, else why not."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return describe(exc)
    writer.close()
    return None


async def tcp(server: str, media: MediaConfig, timeout: float = 3.0) -> Check:
    """Reachability over TCP (see the module docstring)."""
    targets: list[tuple[str, str, int]] = []
    scheme, host, port, _url = parse_target(server)
    if scheme != "udp":
        targets.append((f"server {scheme}", host, port))
    targets += [
        (f"{ice.scheme} server", ice.host, ice.port)
        for ice in ice_servers(media)
        if ice.scheme == "turns" or (ice.scheme == "turn" and ice.transport == "tcp")
    ]
    if not targets:
        return Check("skip", "no server reached over TCP")
    results = await asyncio.gather(*(_connect(h, p, timeout) for _, h, p in targets))
    lines = [
        f"{name} {h}:{p} {'reachable' if error is None else f'unreachable ({error})'}"
        for (name, h, p), error in zip(targets, results, strict=True)
    ]
    return Check("pass" if all(e is None for e in results) else "fail", "; ".join(lines))


def binding_answer(data: bytes, transaction: bytes) -> stun.Message | None:
    """The STUN message in a datagram if it answers ``transaction`` (RFC 8489 §6.3), else None.

    Never raises: aioice's parser raises ValueError for most malformed messages but
    struct.error for an attribute too short for its fixed-size value (e.g. a 2-byte PRIORITY);
    both mean "not an answer" here.
    """
    try:
        message = stun.parse_message(data)
    except (ValueError, struct.error):
        return None
    return message if message.transaction_id == transaction else None


class _StunClient(asyncio.DatagramProtocol):
    def __init__(self, transaction: bytes) -> None:
        self.transaction = transaction
        self.answer: asyncio.Future[stun.Message] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = binding_answer(data, self.transaction)
        if message is not None and not self.answer.done():
            self.answer.set_result(message)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def stun_binding(
    host: str, port: int, *, timeout: float = 2.0, tries: int = 3
) -> tuple[str, int]:
    """Our address as a STUN server at host:port sees it (XOR-MAPPED-ADDRESS of a Binding
    success response, RFC 8489 §14.2); the request is sent up to ``tries`` times within
    ``timeout``. TimeoutError when nothing answers, OSError when the network refuses."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _StunClient(request.transaction_id), remote_addr=(host, port)
    )
    try:
        for _ in range(tries):
            transport.sendto(bytes(request))
            done, _pending = await asyncio.wait({protocol.answer}, timeout=timeout / tries)
            if done:
                break
        if not protocol.answer.done():
            raise TimeoutError(f"no STUN answer from {host}:{port}")
        answer = protocol.answer.result()
    finally:
        transport.close()
    if answer.message_class != stun.Class.RESPONSE:
        raise OSError(f"STUN error response from {host}:{port}")
    address = answer.attributes.get("XOR-MAPPED-ADDRESS") or answer.attributes.get("MAPPED-ADDRESS")
    if address is None:
        raise OSError(f"STUN response from {host}:{port} without a mapped address")
    return str(address[0]), int(address[1])


async def udp(media: MediaConfig, timeout: float = 2.0) -> Check:
    """Reachability over UDP (see the module docstring)."""
    targets = [
        s
        for s in ice_servers(media)
        if s.scheme == "stun" or (s.scheme == "turn" and s.transport == "udp")
    ]
    if not targets:
        return Check("skip", "no STUN or TURN server reached over UDP is configured")

    async def one(server: IceServer) -> tuple[bool, str]:
        try:
            mapped = await stun_binding(server.host, server.port, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            return False, f"{server} no STUN answer ({exc})"
        return True, f"{server} answered, mapped address {mapped[0]}:{mapped[1]}"

    results = await asyncio.gather(*(one(s) for s in targets))
    outcome = "pass" if all(ok for ok, _ in results) else "fail"
    return Check(outcome, "; ".join(text for _, text in results))


async def gather(media: MediaConfig, timeout: float = 10.0) -> dict[str, Check]:
    """``host``, ``srflx`` and (with a TURN server) ``relay`` from a real ICE gathering."""
    servers = ice_servers(media)
    has_stun = any(s.scheme == "stun" for s in servers)
    has_turn = any(s.scheme in ("turn", "turns") for s in servers)
    gatherer = RTCIceGatherer(iceServers=list(media.ice_servers))  # [] keeps aiortc's default out
    started = time.monotonic()
    error: str | None = None
    try:
        with host_addresses(media.host_addresses):
            await asyncio.wait_for(gatherer.gather(), timeout)
    except (OSError, TimeoutError) as exc:
        error = f"gathering failed: {type(exc).__name__} {exc}"
    finally:
        candidates = gatherer.getLocalCandidates()
        await RTCIceTransport(gatherer).stop()  # closes the sockets and any TURN allocation
    elapsed = time.monotonic() - started
    by_type: dict[str, list[str]] = {"host": [], "srflx": [], "relay": []}
    for candidate in candidates:
        by_type.setdefault(candidate.type, []).append(
            f"{candidate.ip}:{candidate.port}/{candidate.protocol}"
        )
    wanted = {"host": True, "srflx": has_stun, "relay": has_turn}
    missing = {
        "host": "no usable local address",
        "srflx": "the STUN server gave no server-reflexive address",
        "relay": "the TURN server gave no relayed address (credentials, or unreachable)",
    }
    checks: dict[str, Check] = {}
    for kind, needed in wanted.items():
        found = by_type[kind]
        if found:
            checks[kind] = Check("pass", f"{', '.join(found)} (gathered in {elapsed:.1f} s)")
        elif not needed:
            if kind == "relay":
                continue  # reported only when TURN is configured
            checks[kind] = Check("skip", "no STUN server is configured")
        else:
            checks[kind] = Check("fail", error or missing[kind])
    return checks
