from __future__ import annotations

import logging
import socket

import pytest

from sipcore.errors import TransportError
from sipcore.flow import Flow
from sipcore.message import Limits
from sipcore.transport import UdpTransport
from tests.sipcore.transport.helpers import Recorder, options, other_tasks


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_datagrams_both_ways() -> None:
    a_rec, b_rec = Recorder(), Recorder()
    async with (
        await UdpTransport.bind(a_rec) as a,
        await UdpTransport.bind(b_rec) as b,
    ):
        assert a.name == "UDP" and not a.reliable
        assert a.local[0] == "127.0.0.1" and a.local[1] > 0
        a.send(options(1, transport="UDP"), Flow("UDP", b.local))
        await b_rec.until(lambda: len(b_rec.messages) == 1)
        data, flow = b_rec.messages[0]
        assert data == options(1, transport="UDP")
        assert flow == Flow("UDP", a.local, b.local)
        b.send(b"SIP/2.0 200 OK\r\n\r\n", flow)  # reply on the flow it came from
        await a_rec.until(lambda: len(a_rec.messages) == 1)
        assert a_rec.messages[0] == (b"SIP/2.0 200 OK\r\n\r\n", Flow("UDP", b.local, a.local))
        assert a.flows() == [] and not a.carries(flow)
        a.close_flow(flow)  # no connections: a no-op


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
async def test_ipv6() -> None:
    a_rec, b_rec = Recorder(), Recorder()
    async with (
        await UdpTransport.bind(a_rec, "::1") as a,
        await UdpTransport.bind(b_rec, "::1") as b,
    ):
        assert a.local[0] == "::1"
        a.send(options(2, transport="UDP"), Flow("UDP", b.local))
        await b_rec.until(lambda: len(b_rec.messages) == 1)
        _, flow = b_rec.messages[0]
        assert flow.remote == a.local and flow.local == b.local
        assert str(flow) == f"udp:[::1]:{a.local[1]}"
        b.send(b"pong", flow)
        await a_rec.until(lambda: a_rec.payloads == [b"pong"])


async def test_keepalives_and_oversized_datagrams(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    caplog.set_level(logging.DEBUG, logger="sipcore.transport")
    async with (
        await UdpTransport.bind(rec, limits=Limits(max_message_size=100)) as server,
        await UdpTransport.bind(Recorder()) as client,
    ):
        to = Flow("UDP", server.local)
        client.send(b"\r\n\r\n", to)  # a ping without a STUN answer: ignored
        client.send(b"x" * 101, to)  # over the limit: dropped
        client.send(b"\r\n", to)  # a pong
        client.send(b"y" * 100, to)  # at the limit: delivered
        await rec.until(lambda: len(rec.messages) == 1)
        assert rec.keepalives == [Flow("UDP", client.local, server.local)]
        assert rec.payloads == [b"y" * 100]
        assert "101 octets dropped: over the 100 octet limit" in caplog.text
        assert "CRLF-only datagram of 4 octets ignored" in caplog.text


async def test_send_errors_and_close() -> None:
    transport = await UdpTransport.bind(Recorder())
    with pytest.raises(TransportError, match="resolved IP address"):
        transport.send(b"x", Flow("UDP", ("example.com", 5060)))
    with pytest.raises(TransportError, match="not a UDP flow"):
        transport.send(b"x", Flow("TCP", ("127.0.0.1", 5060)))
    await transport.close()
    await transport.close()  # idempotent
    with pytest.raises(TransportError, match="closed"):
        transport.send(b"x", Flow("UDP", ("127.0.0.1", 5060)))
    assert other_tasks() == set()


async def test_receiver_errors_do_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Recorder):
        def message_received(self, data: bytes, flow: Flow) -> None:
            super().message_received(data, flow)
            raise RuntimeError("bug")

    rec = Broken()
    async with await UdpTransport.bind(rec) as server, await UdpTransport.bind(Recorder()) as c:
        c.send(b"one", Flow("UDP", server.local))
        c.send(b"two", Flow("UDP", server.local))
        await rec.until(lambda: rec.payloads == [b"one", b"two"])
    assert "message_received failed" in caplog.text


async def test_bind_failure() -> None:
    async with await UdpTransport.bind(Recorder()) as first:
        with pytest.raises(TransportError, match="cannot bind UDP"):
            await UdpTransport.bind(Recorder(), *first.local)
