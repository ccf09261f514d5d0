"""A lossy UDP relay in front of a TURN server: seeded loss, neighbour reordering and
duplication of the RTP a client sends, and a switch that stalls everything.

Why in front of TURN: with relay-only ICE (``MediaConfig.ice_transport_policy="relay"``) the
only path a session's media may take is client -> TURN server -> peer's relayed address. A
client whose ``ice_servers`` names this relay instead of the TURN server therefore sends and
receives every media packet through it, with no SDP rewriting and no candidate filtering.

What is impaired: only client -> server ChannelData (RFC 8656 §12.4) whose payload is RTP
(first byte 128-191, RFC 7983 §7; RTCP packet types 192-223 left alone, RFC 5761 §4). STUN,
TURN control and DTLS pass untouched, so gathering and handshakes behave as on a clean path
and the figures seen by the receiver are the relay's alone. One relay per client gives one
impaired hop per direction. :attr:`LossyRelay.stalled` drops everything, both ways.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, cast

__all__ = ["Impairments", "LossyRelay"]

Address = tuple[str, int]


@dataclass
class Impairments:
    """What the relay did to the RTP of its clients."""

    rtp: int = 0
    """RTP packets received from clients."""
    lost: int = 0
    """Of those, dropped."""
    reordered: int = 0
    """Held back and sent after the next one (a neighbour swap)."""
    duplicated: int = 0
    """Sent twice."""
    stalled: int = 0
    """Datagrams (any kind, either way) dropped while stalled."""


class _Upstream(asyncio.DatagramProtocol):
    """The relay's socket towards the TURN server for one client."""

    def __init__(self, relay: LossyRelay, client: Address) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.held: bytes | None = None  # a packet waiting for its neighbour

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.relay._to_client(data, self.client)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.sendto(data)


def _is_rtp_channel_data(data: bytes) -> bool:
    # ChannelData: channel 0x4000-0x7FFF, 16-bit length, then the application datagram
    if len(data) < 6 or not 0x40 <= data[0] <= 0x7F:
        return False
    return 127 < data[4] < 192 and not 191 < data[5] < 224


class LossyRelay(asyncio.DatagramProtocol):
    """Listens on a loopback port and forwards each client's datagrams to ``upstream`` from a
    socket of that client's own (so the TURN server sees one 5-tuple per client)."""

    def __init__(
        self,
        upstream: Address,
        *,
        loss: float = 0.05,
        reorder: float = 0.05,
        duplicate: float = 0.02,
        seed: int = 1,
    ) -> None:
        self.upstream = upstream
        self.loss = loss
        self.reorder = reorder
        self.duplicate = duplicate
        self.stalled = False
        """True: every datagram, either way, is dropped."""
        self.counts = Impairments()
        self._rng = random.Random(seed)
        self._transport: asyncio.DatagramTransport | None = None
        self._clients: dict[Address, _Upstream] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self.port = 0

    async def start(self) -> LossyRelay:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.port = transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        for upstream in self._clients.values():
            if upstream.transport is not None:
                upstream.transport.close()
        self._clients.clear()
        if self._transport is not None:
            self._transport.close()

    # -- asyncio ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        client: Address = (addr[0], addr[1])
        if self.stalled:
            self.counts.stalled += 1
            return
        upstream = self._clients.get(client)
        if upstream is None:
            upstream = self._clients[client] = _Upstream(self, client)
            self._pending[client] = [data]
            asyncio.get_running_loop().create_task(self._connect(upstream))
            return
        if upstream.transport is None:
            self._pending[client].append(data)
            return
        self._from_client(upstream, data)

    async def _connect(self, upstream: _Upstream) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: upstream, remote_addr=self.upstream)
        for data in self._pending.pop(upstream.client, []):
            self._from_client(upstream, data)

    # -- forwarding ------------------------------------------------------------------------------
    def _from_client(self, upstream: _Upstream, data: bytes) -> None:
        if not _is_rtp_channel_data(data):
            upstream.send(data)
            return
        counts = self.counts
        counts.rtp += 1
        draw = self._rng.random()
        if draw < self.loss:
            counts.lost += 1
            return
        if draw < self.loss + self.reorder and upstream.held is None:
            counts.reordered += 1
            upstream.held = data
            return
        upstream.send(data)
        if self._rng.random() < self.duplicate:
            counts.duplicated += 1
            upstream.send(data)
        held, upstream.held = upstream.held, None
        if held is not None:
            upstream.send(held)

    def _to_client(self, data: bytes, client: Address) -> None:
        if self.stalled:
            self.counts.stalled += 1
            return
        if self._transport is not None:
            self._transport.sendto(data, client)
