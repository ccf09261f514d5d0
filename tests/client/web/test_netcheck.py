"""client.web.netcheck: ICE server URLs, TCP reachability, STUN over UDP against an
in-test STUN responder, and host-only ICE gathering (coturn: tests/interop)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aioice import stun
from aiortc import RTCIceServer

from client.web import netcheck
from media.session import MediaConfig


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Responder(asyncio.DatagramProtocol):
    """Answers STUN Binding requests with the sender's address, or with an error."""

    def __init__(self, *, error: bool = False) -> None:
        self.error = error
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        self.requests += 1
        kind = stun.Class.ERROR if self.error else stun.Class.RESPONSE
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=kind,
            transaction_id=request.transaction_id,
        )
        if not self.error:
            response.attributes["XOR-MAPPED-ADDRESS"] = addr
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


@pytest.fixture
async def responder() -> AsyncIterator[tuple[Responder, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        Responder, local_addr=("127.0.0.1", 0)
    )
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


def test_ice_server_urls() -> None:
    media = MediaConfig(
        ice_servers=(
            RTCIceServer(["stun:a.example", "turn:b.example:3479?transport=tcp", "bogus:x"]),
            RTCIceServer("turns:c.example", username="u", credential="c"),
        )
    )
    assert [str(s) for s in netcheck.ice_servers(media)] == [
        "stun:a.example:3478?transport=udp",
        "turn:b.example:3479?transport=tcp",
        "turns:c.example:5349?transport=tcp",
    ]


async def test_stun_binding_gives_the_mapped_address(responder: tuple[Responder, int]) -> None:
    protocol, port = responder
    address, mapped_port = await netcheck.stun_binding("127.0.0.1", port)
    assert address == "127.0.0.1" and mapped_port > 0
    assert protocol.requests == 1
    media = MediaConfig(ice_servers=(RTCIceServer(f"stun:127.0.0.1:{port}"),))
    check = await netcheck.udp(media)
    assert check.outcome == "pass"
    assert check.details.startswith(
        f"stun:127.0.0.1:{port}?transport=udp answered, mapped address 127.0.0.1:"
    )
    protocol.error = True
    with pytest.raises(OSError, match="STUN error response"):
        await netcheck.stun_binding("127.0.0.1", port)


def test_binding_answer_ignores_malformed_and_foreign_messages() -> None:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    answer = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    answer.attributes["XOR-MAPPED-ADDRESS"] = ("192.0.2.7", 4000)
    parsed = netcheck.binding_answer(bytes(answer), request.transaction_id)
    assert parsed is not None
    assert parsed.attributes["XOR-MAPPED-ADDRESS"] == ("192.0.2.7", 4000)
    other = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE)
    assert netcheck.binding_answer(bytes(other), request.transaction_id) is None
    assert netcheck.binding_answer(b"\x00\x01\x00", request.transaction_id) is None
    # a PRIORITY attribute of 2 bytes: aioice's parser raises struct.error, not ValueError
    short = b"\x00\x24\x00\x02\x00\x00\x00\x00"
    header = b"\x01\x01\x00\x08\x21\x12\xa4\x42" + request.transaction_id
    assert netcheck.binding_answer(header + short, request.transaction_id) is None


async def test_stun_that_does_not_answer() -> None:
    port = free_port(socket.SOCK_DGRAM)  # nothing listens there
    media = MediaConfig(ice_servers=(RTCIceServer(f"stun:127.0.0.1:{port}"),))
    check = await netcheck.udp(media, timeout=0.6)
    assert check.outcome == "fail"
    assert check.details.startswith(f"stun:127.0.0.1:{port}?transport=udp no STUN answer")
    with pytest.raises((TimeoutError, OSError)):
        await netcheck.stun_binding("127.0.0.1", port, timeout=0.3)
    assert (await netcheck.udp(MediaConfig())).outcome == "skip"


async def test_tcp_reachability() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    closed = free_port()
    turn = RTCIceServer(f"turn:127.0.0.1:{closed}?transport=tcp", username="u", credential="c")
    try:
        check = await netcheck.tcp(f"wss://127.0.0.1:{port}", MediaConfig())
        assert str(check) == f"pass: server wss 127.0.0.1:{port} reachable"
        check = await netcheck.tcp(f"tcp:127.0.0.1:{port}", MediaConfig(ice_servers=(turn,)))
        assert check.outcome == "fail"
        assert check.details.startswith(
            f"server tcp 127.0.0.1:{port} reachable; turn server 127.0.0.1:{closed} unreachable"
        )
        check = await netcheck.tcp(f"udp:127.0.0.1:{port}", MediaConfig())
        assert str(check) == "skip: no server reached over TCP"
    finally:
        server.close()
        await server.wait_closed()


async def test_host_only_gathering_never_asks_a_default_server() -> None:
    checks = await netcheck.gather(MediaConfig(host_addresses=("127.0.0.1",)))
    assert set(checks) == {"host", "srflx"}
    assert checks["host"].outcome == "pass"
    assert checks["host"].details.startswith("127.0.0.1:")
    candidates = checks["host"].details.split(" (gathered")[0].split(", ")
    assert all(c.startswith("127.0.0.1:") and c.endswith("/udp") for c in candidates)
    assert str(checks["srflx"]) == "skip: no STUN server is configured"
