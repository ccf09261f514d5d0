from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from sipcore.errors import ParseError, TransportError
from sipcore.flow import Flow
from sipcore.message import Limits
from sipcore.transport import StreamTransport, client_ssl_context, server_ssl_context
from tests.sipcore.transport.helpers import Pki, Recorder, options, other_tasks


@pytest.fixture
async def server() -> AsyncIterator[tuple[StreamTransport, Recorder]]:
    rec = Recorder()
    transport = await StreamTransport.listen(rec, "127.0.0.1", 0)
    yield transport, rec
    await transport.close()


async def test_round_trip(server: tuple[StreamTransport, Recorder]) -> None:
    listener, srv = server
    cli = Recorder()
    async with StreamTransport.client(cli) as client:
        assert client.name == "TCP" and client.reliable and client.local == ("", 0)
        flow = await client.connect(*listener.local)
        assert flow.transport == "TCP" and flow.remote == listener.local and flow.connection
        client.send(options(1), flow)
        await srv.until(lambda: len(srv.messages) == 1)
        data, incoming = srv.messages[0]
        assert data == options(1)
        assert srv.opened == [incoming]
        assert incoming.remote == flow.local and incoming.local == flow.remote
        assert incoming.connection != flow.connection
        assert listener.flows() == [incoming]
        assert listener.carries(incoming) and not listener.carries(flow)
        assert not client.carries(Flow("TCP", flow.remote))  # connection 0 is no open flow
        listener.send(b"SIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", incoming)
        await cli.until(lambda: len(cli.messages) == 1)
        assert cli.messages[0] == (b"SIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", flow)
        assert cli.opened == []  # flow_opened is for incoming connections only


async def test_split_and_coalesced_messages(server: tuple[StreamTransport, Recorder]) -> None:
    listener, srv = server
    first, second, third = options(1, b"v=0\r\n"), options(2), options(3, b"body")
    _, writer = await asyncio.open_connection(*listener.local)
    wire = first + second + third
    for piece in (wire[:7], wire[7:150], wire[150 : len(first) + 3], wire[len(first) + 3 :]):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.01)
    await srv.until(lambda: len(srv.messages) == 3)
    assert srv.payloads == [first, second, third]
    writer.close()
    await writer.wait_closed()
    await srv.until(lambda: len(srv.closed) == 1)
    assert srv.closed == [(srv.opened[0], None)]


async def test_ping_answered_with_pong(server: tuple[StreamTransport, Recorder]) -> None:
    listener, srv = server
    reader, writer = await asyncio.open_connection(*listener.local)
    writer.write(b"\r\n\r\n")  # RFC 5626 §4.4.1 ping
    assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
    writer.write(b"\r\n")  # a pong from the peer
    await srv.until(lambda: len(srv.keepalives) == 1)
    assert srv.keepalives == srv.opened
    writer.close()
    await writer.wait_closed()


async def test_ping_from_client(server: tuple[StreamTransport, Recorder]) -> None:
    listener, srv = server
    cli = Recorder()
    async with StreamTransport.client(cli) as client:
        flow = await client.connect(*listener.local)
        client.ping(flow)
        await cli.until(lambda: cli.keepalives == [flow])
        assert srv.keepalives == []  # the server answered; it received no pong


async def test_connection_reuse(server: tuple[StreamTransport, Recorder]) -> None:
    listener, srv = server
    async with StreamTransport.client(Recorder()) as client:
        host, port = listener.local
        flows = await asyncio.gather(*(client.connect(host, port) for _ in range(3)))
        assert len(set(flows)) == 1
        assert await client.connect(host, port) == flows[0]
        # connection 0 means "the open connection to this remote" (RFC 3261 §18.1.1)
        client.send(options(9), Flow("TCP", (host, port)))
        await srv.until(lambda: srv.payloads == [options(9)])
        assert srv.messages[0][1] == srv.opened[0]


async def test_framing_error_closes_connection(server: tuple[StreamTransport, Recorder]) -> None:
    listener, srv = server
    reader, writer = await asyncio.open_connection(*listener.local)
    writer.write(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n")  # no Content-Length
    assert await asyncio.wait_for(reader.read(), 2) == b""  # closed by the server
    await srv.until(lambda: len(srv.closed) == 1)
    flow, error = srv.closed[0]
    assert flow == srv.opened[0]
    assert isinstance(error, ParseError) and "Content-Length" in str(error)
    assert listener.flows() == [] and not listener.carries(flow)
    with pytest.raises(TransportError, match="no open connection"):
        listener.send(b"x", flow)
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(
    ("length", "status"),
    [(b"Content-Length: -999\r\n", b"400"), (b"", b"400"), (b"l: 1\r\nl: 2\r\n", b"400")],
)
async def test_framing_error_in_a_whole_request_is_answered_before_closing(
    server: tuple[StreamTransport, Recorder], length: bytes, status: bytes
) -> None:
    # RFC 4475 §3.1.2.3 (ncl), §3.3.9 (mcl01), §3.4.1 (inv2543 on a stream): the header
    # section is whole, so the error answer can be formed; then the stream is given up (§18.3)
    listener, srv = server
    reader, writer = await asyncio.open_connection(*listener.local)
    head = (
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKf\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: fr\r\nCSeq: 4 OPTIONS\r\n"
    )
    writer.write(options(9) + head + length + b"\r\nbody")  # a good message first
    answer = await asyncio.wait_for(reader.read(), 2)  # then closed by the server
    assert answer.startswith(b"SIP/2.0 " + status + b" ")
    assert b"\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKf\r\n" in answer
    assert b"\r\nCSeq: 4 OPTIONS\r\n" in answer
    await srv.until(lambda: len(srv.closed) == 1)
    assert srv.payloads == [options(9)]
    writer.close()
    await writer.wait_closed()


async def test_flow_closed_both_sides(server: tuple[StreamTransport, Recorder]) -> None:
    listener, srv = server
    cli = Recorder()
    async with StreamTransport.client(cli) as client:
        flow = await client.connect(*listener.local)
        await srv.until(lambda: len(srv.opened) == 1)
        listener.close_flow(srv.opened[0])  # server side closes
        await cli.until(lambda: len(cli.closed) == 1)
        await srv.until(lambda: len(srv.closed) == 1)
        assert cli.closed == [(flow, None)]
        assert srv.closed == [(srv.opened[0], None)]
        assert client.flows() == []
        again = await client.connect(*listener.local)  # a new connection
        assert again.connection != flow.connection


async def test_receiver_error_closes_flow(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Recorder):
        def message_received(self, data: bytes, flow: Flow) -> None:
            super().message_received(data, flow)
            raise RuntimeError("bug")

    rec = Broken()
    async with (
        await StreamTransport.listen(rec) as listener,
        StreamTransport.client(Recorder()) as client,
    ):
        flow = await client.connect(*listener.local)
        client.send(options(1) + options(2), flow)
        await rec.until(lambda: len(rec.closed) == 1)
        assert rec.payloads == [options(1)]  # nothing more once the flow is failing
        assert isinstance(rec.closed[0][1], RuntimeError)
    assert "message_received failed" in caplog.text


async def test_connect_refused() -> None:
    with socket.socket() as sock:  # a port that is certainly closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with StreamTransport.client(Recorder()) as client:
        with pytest.raises(TransportError, match="refused"):
            await client.connect("127.0.0.1", port)


async def test_connect_timeout(pki: Pki) -> None:
    with socket.socket() as sock:  # accepts TCP (backlog) but never answers the TLS hello
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        async with StreamTransport.client(Recorder(), tls=True) as client:
            with pytest.raises(TransportError, match="timed out"):
                await client.connect(*sock.getsockname(), timeout=0.1)


async def test_max_connections() -> None:
    rec = Recorder()
    async with await StreamTransport.listen(rec, max_connections=1) as listener:
        _, w1 = await asyncio.open_connection(*listener.local)
        r2, w2 = await asyncio.open_connection(*listener.local)
        assert await asyncio.wait_for(r2.read(), 2) == b""  # refused: closed at once
        assert len(rec.opened) == 1
        for writer in (w1, w2):
            writer.close()
            await writer.wait_closed()


async def test_write_buffer_bound() -> None:
    with socket.socket() as sock:  # a peer that never reads
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        cli = Recorder()
        async with StreamTransport.client(cli, max_buffer=256 * 1024) as client:
            flow = await client.connect(*sock.getsockname())
            chunk = options(1, b"x" * 16000)
            with pytest.raises(TransportError, match="queued, flow closed"):
                for _ in range(10_000):
                    client.send(chunk, flow)
            await cli.until(lambda: len(cli.closed) == 1)
            assert isinstance(cli.closed[0][1], TransportError)
            with pytest.raises(TransportError):
                client.send(b"x", flow)


async def test_tls_with_cafile(pki: Pki) -> None:
    srv, cli = Recorder(), Recorder()
    async with (
        await StreamTransport.listen(
            srv, ssl=server_ssl_context(pki.certfile, pki.keyfile)
        ) as listener,
        StreamTransport.client(cli, ssl=client_ssl_context(cafile=pki.cafile)) as client,
    ):
        assert listener.name == "TLS" and client.name == "TLS"
        flow = await client.connect(*listener.local)
        assert flow.transport == "TLS"
        client.send(options(1, transport="TLS"), flow)
        await srv.until(lambda: len(srv.messages) == 1)
        assert srv.messages[0] == (options(1, transport="TLS"), srv.opened[0])
        listener.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", srv.opened[0])
        await cli.until(lambda: len(cli.messages) == 1)
        # and by name, with the certificate's DNS entry
        named = await client.connect("127.0.0.1", listener.local[1], server_hostname="localhost")
        assert named == flow  # same destination: reused


async def test_tls_verification_failure(pki: Pki) -> None:
    srv = Recorder()
    async with (
        await StreamTransport.listen(
            srv, ssl=server_ssl_context(pki.certfile, pki.keyfile)
        ) as listener,
        StreamTransport.client(Recorder(), tls=True) as client,  # system CAs only
    ):
        with pytest.raises(TransportError, match=r"certificate verify failed: \w"):
            await client.connect(*listener.local)
        wrong_name = client_ssl_context(cafile=pki.cafile)
        with pytest.raises(TransportError, match=r"certificate verify failed: .*mismatch"):
            await client.connect(*listener.local, ssl=wrong_name, server_hostname="sip.example")
        assert srv.opened == []


async def test_tls_without_verification(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    srv = Recorder()
    with caplog.at_level(logging.WARNING, logger="sipcore.transport"):
        context = client_ssl_context(verify=False)
    assert "TLS certificate verification disabled for" in caplog.text
    async with (
        await StreamTransport.listen(
            srv, ssl=server_ssl_context(pki.certfile, pki.keyfile)
        ) as listener,
        StreamTransport.client(Recorder(), ssl=context) as client,
    ):
        flow = await client.connect(*listener.local, server_hostname="sip.example")
        client.send(options(1, transport="TLS"), flow)
        await srv.until(lambda: len(srv.messages) == 1)


async def test_close_leaves_nothing_running(pki: Pki) -> None:
    srv, cli = Recorder(), Recorder()
    listener = await StreamTransport.listen(srv, ssl=server_ssl_context(pki.certfile, pki.keyfile))
    client = StreamTransport.client(cli, ssl=client_ssl_context(cafile=pki.cafile))
    flow = await client.connect(*listener.local)
    await srv.until(lambda: len(srv.opened) == 1)
    await listener.close()
    await listener.close()  # idempotent
    await cli.until(lambda: len(cli.closed) == 1)
    assert srv.closed == [(srv.opened[0], None)]
    await client.close()
    assert cli.closed == [(flow, None)]
    assert other_tasks() == set()
    with pytest.raises(TransportError, match="closed"):
        await client.connect(*listener.local)
    with pytest.raises(TransportError):
        client.send(b"x", flow)


async def test_close_cancels_connect_attempts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        client = StreamTransport.client(Recorder(), tls=True)
        attempt = asyncio.ensure_future(client.connect(*sock.getsockname()))
        await asyncio.sleep(0.05)
        await client.close()
        with pytest.raises(TransportError, match="closed while connecting"):
            await attempt
    assert other_tasks() == set()


async def test_ssl_on_tcp_transport_is_an_error() -> None:
    async with StreamTransport.client(Recorder()) as client:
        with pytest.raises(ValueError, match="TCP transport"):
            await client.connect("127.0.0.1", 5060, ssl=client_ssl_context())


async def test_listen_failure(server: tuple[StreamTransport, Recorder]) -> None:
    listener, _ = server
    with pytest.raises(TransportError, match="cannot listen on TCP"):
        await StreamTransport.listen(Recorder(), *listener.local)


async def test_slow_loris_peer_is_closed() -> None:
    # one octet at a time, never finishing the message: closed after incomplete_timeout, however
    # steadily octets keep coming
    rec = Recorder()
    limits = Limits(incomplete_timeout=0.3)
    async with await StreamTransport.listen(rec, limits=limits) as listener:
        reader, writer = await asyncio.open_connection(*listener.local)
        message = options(1)
        sent = 0
        with contextlib.suppress(ConnectionError):
            while not rec.closed and sent < len(message) - 1:
                writer.write(message[sent : sent + 1])
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.02)
        await rec.until(lambda: len(rec.closed) == 1)
        assert rec.messages == []
        error = rec.closed[0][1]
        assert isinstance(error, TransportError)
        assert "message incomplete after 0.3 s" in str(error)
        assert 0 < sent < len(message) - 1  # closed before the peer got to the end
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()


async def test_incomplete_deadline_is_per_message() -> None:
    # the buffer is never empty for longer than the deadline (each write ends one message and
    # starts the next), but every message completes in time: the connection stays open
    rec = Recorder()
    async with await StreamTransport.listen(rec, limits=Limits(incomplete_timeout=0.3)) as lis:
        _, writer = await asyncio.open_connection(*lis.local)
        messages = [options(n) for n in range(1, 8)]
        writer.write(messages[0][:20])
        for n in range(1, 7):
            await asyncio.sleep(0.15)
            writer.write(messages[n - 1][20:] + messages[n][:20])
            await rec.until(lambda n=n: len(rec.messages) == n)
        writer.write(messages[6][20:])
        await rec.until(lambda: len(rec.messages) == 7)
        assert rec.payloads == messages
        await asyncio.sleep(0.4)  # idle between messages is not an incomplete message
        assert rec.closed == []
        writer.close()
        await writer.wait_closed()


async def test_connections_per_address() -> None:
    rec = Recorder()
    limits = Limits(max_connections_per_address=2)
    async with await StreamTransport.listen(rec, limits=limits) as listener:
        w = [(await asyncio.open_connection(*listener.local))[1] for _ in range(2)]
        await rec.until(lambda: len(rec.opened) == 2)
        r3, w3 = await asyncio.open_connection(*listener.local)
        assert await asyncio.wait_for(r3.read(), 2) == b""  # refused: closed at once
        # another address of the loopback range is not affected
        _, w4 = await asyncio.open_connection(*listener.local, local_addr=("127.0.0.2", 0))
        await rec.until(lambda: len(rec.opened) == 3)
        assert rec.opened[-1].remote[0] == "127.0.0.2"
        # a closed connection frees its slot
        w[0].close()
        await rec.until(lambda: len(rec.closed) == 1)
        _, w5 = await asyncio.open_connection(*listener.local)
        await rec.until(lambda: len(rec.opened) == 4)
        for writer in (*w, w3, w4, w5):
            writer.close()
