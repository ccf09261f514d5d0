from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.typing import Subprotocol

from sipcore.errors import TransportError
from sipcore.flow import Flow
from sipcore.message import Limits
from sipcore.transport import (
    SIP_SUBPROTOCOL,
    WebSocketTransport,
    client_ssl_context,
    server_ssl_context,
)
from tests.sipcore.transport.helpers import Pki, Recorder, options, other_tasks


@pytest.fixture
async def server() -> AsyncIterator[tuple[WebSocketTransport, Recorder]]:
    rec = Recorder()
    transport = await WebSocketTransport.listen(rec, "127.0.0.1", 0)
    yield transport, rec
    await transport.close()


def url(transport: WebSocketTransport, scheme: str = "ws") -> str:
    host, port = transport.local
    return f"{scheme}://{host}:{port}/"


async def test_round_trip(server: tuple[WebSocketTransport, Recorder]) -> None:
    listener, srv = server
    cli = Recorder()
    async with WebSocketTransport.client(cli) as client:
        assert client.name == "WS" and client.reliable
        flow = await client.connect(url(listener), headers={"X-Test": "1"})
        assert flow.transport == "WS" and flow.remote == listener.local and flow.connection
        client.send(options(1, transport="WS"), flow)
        await srv.until(lambda: len(srv.messages) == 1)
        data, incoming = srv.messages[0]
        assert data == options(1, transport="WS")
        assert srv.opened == [incoming]
        assert incoming.transport == "WS" and incoming.remote == flow.local
        assert listener.flows() == [incoming] and client.flows() == [flow]
        assert listener.carries(incoming) and not listener.carries(flow)
        listener.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", incoming)
        await cli.until(lambda: len(cli.messages) == 1)
        assert cli.messages[0] == (b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", flow)


async def test_text_and_binary_frames(server: tuple[WebSocketTransport, Recorder]) -> None:
    listener, srv = server
    async with ws_connect(url(listener), subprotocols=[SIP_SUBPROTOCOL]) as ws:
        assert ws.subprotocol == "sip"
        await ws.send("MESSAGE sip:x SIP/2.0\r\n\r\nhé")  # text
        await ws.send(b"\xff\xfe binary")  # binary
        await srv.until(lambda: len(srv.messages) == 2)
        assert srv.payloads == ["MESSAGE sip:x SIP/2.0\r\n\r\nhé".encode(), b"\xff\xfe binary"]
        incoming = srv.opened[0]
        listener.send("é".encode(), incoming)  # valid UTF-8 goes as text
        listener.send(b"\xff", incoming)  # anything else as binary
        assert await ws.recv() == "é"
        assert await ws.recv() == b"\xff"
        await ws.send("\r\n\r\n")  # RFC 5626 ping ...
        assert await ws.recv() == "\r\n"  # ... answered with a pong
        await ws.send("\r\n")  # a pong
        await srv.until(lambda: srv.keepalives == [incoming])


async def test_ping_from_client(server: tuple[WebSocketTransport, Recorder]) -> None:
    listener, _ = server
    cli = Recorder()
    async with WebSocketTransport.client(cli) as client:
        flow = await client.connect(url(listener))
        client.ping(flow)
        await cli.until(lambda: cli.keepalives == [flow])


async def test_refuses_server_without_sip_subprotocol() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as plain:  # no subprotocols
        port = next(iter(plain.sockets)).getsockname()[1]
        async with WebSocketTransport.client(Recorder()) as client:
            with pytest.raises(TransportError, match=r"did not select the 'sip' subprotocol"):
                await client.connect(f"ws://127.0.0.1:{port}/")
            assert client.flows() == []


async def test_server_rejects_other_subprotocols(
    server: tuple[WebSocketTransport, Recorder],
) -> None:
    listener, srv = server
    for offered in ([], [Subprotocol("chat")]):
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(url(listener), subprotocols=offered):
                pass
        assert info.value.response.status_code == 400
    assert srv.opened == []
    async with WebSocketTransport.client(Recorder()) as client:  # and the client side says so
        with pytest.raises(TransportError, match="rejected: HTTP 503"):
            limited = await WebSocketTransport.listen(Recorder(), max_connections=0)
            try:
                await client.connect(url(limited))
            finally:
                await limited.close()


async def test_wss(pki: Pki) -> None:
    srv, cli = Recorder(), Recorder()
    async with (
        await WebSocketTransport.listen(
            srv, ssl=server_ssl_context(pki.certfile, pki.keyfile)
        ) as listener,
        WebSocketTransport.client(cli, ssl=client_ssl_context(cafile=pki.cafile)) as client,
    ):
        assert listener.name == "WSS" and client.name == "WSS"
        flow = await client.connect(url(listener, "wss"))
        assert flow.transport == "WSS"
        client.send(options(1, transport="WSS"), flow)
        await srv.until(lambda: len(srv.messages) == 1)
        assert srv.opened[0].transport == "WSS"
        async with WebSocketTransport.client(Recorder()) as mixed:  # for ws:// and wss:// alike
            context = client_ssl_context(cafile=pki.cafile)
            secure = await mixed.connect(url(listener, "wss"), ssl=context)
            assert mixed.name == "WS" and secure.transport == "WSS"
    async with WebSocketTransport.client(Recorder(), tls=True) as untrusting:
        listener = await WebSocketTransport.listen(
            Recorder(), ssl=server_ssl_context(pki.certfile, pki.keyfile)
        )
        try:
            with pytest.raises(TransportError, match="certificate verify failed"):
                await untrusting.connect(url(listener, "wss"))
        finally:
            await listener.close()


async def test_flow_closed_when_peer_closes(server: tuple[WebSocketTransport, Recorder]) -> None:
    listener, srv = server
    cli = Recorder()
    async with WebSocketTransport.client(cli) as client:
        flow = await client.connect(url(listener))
        await srv.until(lambda: len(srv.opened) == 1)
        client.send(b"last words", flow)
        client.close_flow(flow)  # the queued message goes out first
        await srv.until(lambda: len(srv.closed) == 1)
        await cli.until(lambda: len(cli.closed) == 1)
        assert srv.payloads == [b"last words"]
        assert srv.closed == [(srv.opened[0], None)]
        assert cli.closed == [(flow, None)]
        with pytest.raises(TransportError, match="no open connection"):
            client.send(b"x", flow)
        flow = await client.connect(url(listener))
        await srv.until(lambda: len(srv.opened) == 2)
        listener.close_flow(srv.opened[1])  # and the other way
        await cli.until(lambda: len(cli.closed) == 2)
        assert cli.closed[1] == (flow, None)


async def test_dead_peer_detected_by_websocket_pings() -> None:
    srv = Recorder()
    async with (
        await WebSocketTransport.listen(
            srv, ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1
        ) as listener,
        ws_connect(
            url(listener), subprotocols=[SIP_SUBPROTOCOL], ping_interval=None, close_timeout=0.1
        ) as ws,
    ):
        ws.transport.pause_reading()  # the client stops answering pings
        await srv.until(lambda: len(srv.closed) == 1)
        assert isinstance(srv.closed[0][1], ConnectionClosedError)
        ws.transport.resume_reading()


async def test_message_size_limit() -> None:
    srv = Recorder()
    async with (
        await WebSocketTransport.listen(srv, limits=Limits(max_message_size=100)) as listener,
        ws_connect(url(listener), subprotocols=[SIP_SUBPROTOCOL]) as ws,
    ):
        await ws.send(b"x" * 101)
        await srv.until(lambda: len(srv.closed) == 1)
        assert isinstance(srv.closed[0][1], ConnectionClosedError)
        assert srv.messages == []


async def test_send_queue_bound(server: tuple[WebSocketTransport, Recorder]) -> None:
    listener, _ = server
    cli = Recorder()
    async with WebSocketTransport.client(cli, max_buffer=1000) as client:
        flow = await client.connect(url(listener))
        client.send(b"a" * 600, flow)  # queued: sent once the writer runs
        with pytest.raises(TransportError, match="over 1000 octets queued"):
            client.send(b"b" * 600, flow)
        await cli.until(lambda: len(cli.closed) == 1)
        assert isinstance(cli.closed[0][1], TransportError)


async def test_connect_errors() -> None:
    async with WebSocketTransport.client(Recorder()) as client:
        listener = await WebSocketTransport.listen(Recorder())
        await listener.close()  # its port is now closed
        with pytest.raises(TransportError, match="refused"):
            await client.connect(url(listener))
        with pytest.raises(ValueError, match="not a WebSocket URL"):
            await client.connect("http://127.0.0.1/")


async def test_close_leaves_nothing_running() -> None:
    srv, cli = Recorder(), Recorder()
    listener = await WebSocketTransport.listen(srv)
    client = WebSocketTransport.client(cli)
    flows = [await client.connect(url(listener)) for _ in range(2)]
    await srv.until(lambda: len(srv.opened) == 2)
    client.send(b"hello", flows[0])
    await listener.close()
    await listener.close()  # idempotent
    await cli.until(lambda: len(cli.closed) == 2)
    assert {flow for flow, _ in srv.closed} == set(srv.opened)
    await client.close()
    assert other_tasks() == set()
    with pytest.raises(TransportError, match="closed"):
        await client.connect(url(listener))
    await asyncio.sleep(0)


async def test_receiver_error_closes_flow(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Recorder):
        def message_received(self, data: bytes, flow: Flow) -> None:
            super().message_received(data, flow)
            raise RuntimeError("bug")

    srv = Broken()
    async with (
        await WebSocketTransport.listen(srv) as listener,
        WebSocketTransport.client(Recorder()) as client,
    ):
        flow = await client.connect(url(listener))
        # a flow without a connection number means the open connection to that remote
        client.send(b"one", Flow("WS", listener.local))
        client.send(b"two", flow)
        await srv.until(lambda: len(srv.closed) == 1)
        assert srv.payloads == [b"one"]  # nothing more once the flow is closing
        assert isinstance(srv.closed[0][1], RuntimeError)
    assert "message_received failed" in caplog.text


async def test_listen_failure() -> None:
    async with await WebSocketTransport.listen(Recorder()) as first:
        with pytest.raises(TransportError, match="cannot listen on WS"):
            await WebSocketTransport.listen(Recorder(), *first.local)


def test_wire_log_shows_frames_by_type_and_size_and_masks_credential_headers() -> None:
    import logging

    from websockets.frames import Frame, Opcode

    from sipcore.transport.ws import RedactWire

    redact = RedactWire()
    message = b"REGISTER sip:a SIP/2.0\r\nAuthorization: Bearer tok-secret-123\r\n\r\n"

    def logged(msg: str, *args: object) -> str:
        record = logging.LogRecord("x", logging.DEBUG, __file__, 1, msg, args, None)
        assert redact.filter(record)
        return record.getMessage()

    assert logged("> %s", Frame(Opcode.TEXT, message)) == f"> TEXT [{len(message)} bytes]"
    assert logged("> %s: %s", "Authorization", "Bearer tok-secret-123") == "> Authorization: ***"
    assert logged("< %s: %s", "Set-Cookie", "sid=1") == "< Set-Cookie: ***"
    assert logged("> %s: %s", "Host", "example.com") == "> Host: example.com"
    assert logged("= connection is %s", "OPEN") == "= connection is OPEN"


_UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: sip\r\n\r\n"
)


def _masked_text_frame(payload: bytes) -> bytes:
    """A client text frame (RFC 6455 §5.2) with a zero mask, for payloads under 126 octets."""
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


async def _closed_by_peer(reader: asyncio.StreamReader) -> None:
    """Wait until the server ends the connection (EOF or reset); TimeoutError after 2 s."""
    try:
        async with asyncio.timeout(2):
            while await reader.read(4096):
                pass
    except ConnectionError:
        pass


async def test_slow_loris_handshake_is_closed() -> None:
    rec = Recorder()
    limits = Limits(incomplete_timeout=0.3)
    async with await WebSocketTransport.listen(rec, limits=limits) as listener:
        reader, writer = await asyncio.open_connection(*listener.local)
        sent = 0
        try:
            while sent < len(_UPGRADE) - 1 and not reader.at_eof():
                writer.write(_UPGRADE[sent : sent + 1])
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.02)
        except ConnectionError:
            pass
        await _closed_by_peer(reader)
        assert sent < len(_UPGRADE) - 1  # closed before the handshake could end
        assert rec.opened == []
        writer.close()


@pytest.mark.parametrize("fragmented", [False, True])
async def test_unfinished_message_is_closed(fragmented: bool) -> None:
    # after the handshake: a frame that never ends, or a fragmented message whose fragments
    # keep coming but never finish it
    rec = Recorder()
    limits = Limits(incomplete_timeout=0.3)
    async with await WebSocketTransport.listen(rec, limits=limits, ping_interval=None) as listener:
        reader, writer = await asyncio.open_connection(*listener.local)
        writer.write(_UPGRADE)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert head.startswith(b"HTTP/1.1 101")
        await rec.until(lambda: len(rec.opened) == 1)
        writer.write(_masked_text_frame(options(1)[:100]))  # a whole message goes through
        await rec.until(lambda: len(rec.messages) == 1)
        message = options(2)
        if fragmented:
            first = bytes([0x01, 0x80 | 10]) + b"\0\0\0\0" + message[:10]  # text, FIN unset
            writer.write(first)
            chunks = [bytes([0x00, 0x81]) + b"\0\0\0\0" + message[i : i + 1] for i in range(10, 60)]
        else:
            frame = _masked_text_frame(message[:100])
            chunks = [frame[i : i + 1] for i in range(len(frame) - 1)]
        sent = 0
        with contextlib.suppress(ConnectionError):
            for chunk in chunks:
                if rec.closed:
                    break
                writer.write(chunk)
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.02)
        await rec.until(lambda: len(rec.closed) == 1)
        assert sent < len(chunks)
        assert len(rec.messages) == 1
        writer.close()


async def test_connections_per_address() -> None:
    srv = Recorder()
    limits = Limits(max_connections_per_address=2)
    async with (
        await WebSocketTransport.listen(srv, limits=limits) as listener,
        WebSocketTransport.client(Recorder()) as client,
    ):
        first = await client.connect(url(listener))
        await client.connect(url(listener))
        await srv.until(lambda: len(srv.opened) == 2)
        with pytest.raises(TransportError, match="rejected: HTTP 503"):
            await client.connect(url(listener))
        # another loopback address is served meanwhile
        host, port = listener.local
        async with ws_connect(
            f"ws://{host}:{port}/", subprotocols=[SIP_SUBPROTOCOL], local_addr=("127.0.0.2", 0)
        ):
            await srv.until(lambda: len(srv.opened) == 3)
        client.close_flow(first)
        await srv.until(lambda: len(srv.closed) == 2)
        await client.connect(url(listener))
        await srv.until(lambda: len(srv.opened) == 4)
