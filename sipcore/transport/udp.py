"""SIP over UDP (RFC 3261 §18): one datagram carries one message, and a flow is a peer address."""

from __future__ import annotations

import asyncio
import ipaddress

from sipcore.errors import TransportError
from sipcore.flow import Flow
from sipcore.message import DEFAULT_LIMITS, Limits
from sipcore.transport.base import PONG, Receiver, Transport, address, deliver, logger


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.owner: UdpTransport | None = None  # set once the endpoint exists
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.paused = False

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.owner is not None:
            self.owner._datagram_received(data, address(addr))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable ...) on an unconnected socket: asyncio does not say for
        # which peer, so they cannot be mapped to a flow; the transaction timers handle the loss.
        logger.debug("%r: %s", self.owner, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class UdpTransport(Transport):
    """A bound UDP socket (IPv4 or IPv6). Flows are ``Flow("UDP", remote=peer, local=bound)``."""

    name = "UDP"

    def __init__(
        self,
        receiver: Receiver,
        transport: asyncio.DatagramTransport,
        protocol: _DatagramProtocol,
        *,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        """Use :meth:`bind`."""
        self._receiver = receiver
        self._transport = transport
        self._protocol = protocol
        self._limits = limits
        self._local = address(transport.get_extra_info("sockname"))
        self._closed = False

    @classmethod
    async def bind(
        cls,
        receiver: Receiver,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: Limits = DEFAULT_LIMITS,
    ) -> UdpTransport:
        """Bind a UDP socket on (host, port); port 0 picks a free one (see :attr:`local`)."""
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                _DatagramProtocol, local_addr=(host, port)
            )
        except OSError as exc:
            raise TransportError(f"cannot bind UDP {host}:{port}: {exc.strerror or exc}") from exc
        owner = cls(receiver, transport, protocol, limits=limits)
        protocol.owner = owner
        return owner

    @property
    def local(self) -> tuple[str, int]:
        return self._local

    def _datagram_received(self, data: bytes, remote: tuple[str, int]) -> None:
        flow = Flow("UDP", remote, self._local)
        if len(data) > self._limits.max_message_size:
            logger.debug(
                "%s: datagram of %d octets dropped: over the %d octet limit",
                flow,
                len(data),
                self._limits.max_message_size,
            )
            return
        if not data.strip(b"\r\n"):
            # RFC 5626 §4.4.1 CRLF keep-alives: a pong is reported, anything else ignored
            if data == PONG:
                deliver(self._receiver.keepalive_received, flow)
            else:
                logger.debug("%s: CRLF-only datagram of %d octets ignored", flow, len(data))
            return
        deliver(self._receiver.message_received, data, flow)

    def send(self, data: bytes, flow: Flow) -> None:
        """sendto(flow.remote); datagrams that the socket cannot take now are queued by asyncio."""
        if self._closed or self._transport.is_closing():
            raise TransportError(f"{self!r} is closed")
        if flow.transport != "UDP":
            raise TransportError(f"{flow} is not a UDP flow")
        host, port = flow.remote
        try:
            ipaddress.ip_address(host)
        except ValueError:
            # socket.sendto() would resolve a name synchronously and block the loop
            raise TransportError(f"{flow}: UDP needs a resolved IP address") from None
        if self._protocol.paused:
            # asyncio's buffer is over its high-water mark: UDP may lose datagrams, and the
            # transaction layer retransmits (§17.1.1.2), so drop rather than queue without bound
            logger.debug("%s: datagram dropped: socket send buffer full", flow)
            return
        self._transport.sendto(data, (host, port))

    def flows(self) -> list[Flow]:
        return []

    def close_flow(self, flow: Flow) -> None:
        """UDP has no connections: nothing to close."""

    async def close(self) -> None:
        self._closed = True
        self._transport.close()
        await asyncio.shield(self._protocol.closed)
