"""Short smoke tests of the asyncio driver on loopback sockets (the core has its own tests)."""

from __future__ import annotations

import asyncio

import pytest

from sipcore import NameAddr, Request, Response, SipUri, Via, build_request, generate_branch
from sipcore.errors import TransportError
from sipcore.flow import Flow
from sipcore.message import Limits
from sipcore.stack import (
    IncomingRequest,
    SipStack,
    StackConfig,
    parse_target,
)
from tests.sipcore.stack_helpers import FAST, until


def request(flow: Flow, method: str = "OPTIONS") -> Request:
    """A request to the far end of ``flow``, with a new Call-ID and branch."""
    return build_request(
        method,
        SipUri(flow.remote[0], port=flow.remote[1]),
        from_addr=NameAddr(SipUri("example.com", user="a"), None, {"tag": "x"}),
        to_addr=NameAddr(SipUri("example.com", user="b")),
        call_id=generate_branch(),
        cseq=1,
        via=Via(flow.transport, "127.0.0.1", flow.local[1] or None, {"branch": generate_branch()}),
    )


async def ask(client: SipStack, flow: Flow, method: str = "OPTIONS") -> Response:
    return await asyncio.wait_for(client.request(request(flow, method), flow), 5)


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws"])
async def test_uas_basics_over_each_transport(transport: str) -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen(transport.upper())
        host, port = listener.local
        target = f"ws://{host}:{port}" if transport == "ws" else f"{transport}:{host}:{port}"
        flow = await client.connect(target)
        ok = await ask(client, flow)
        assert ok.status_code == 200
        assert "INVITE" in ok.allow
        assert (await ask(client, flow, "FOOBAR")).status_code == 501
        assert (await ask(client, flow, "SUBSCRIBE")).status_code == 405


async def test_malformed_and_wrong_version_over_udp() -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        flow = await client.connect(f"udp:{listener.local[0]}:{listener.local[1]}")
        answers: list[bytes] = []
        loop = asyncio.get_running_loop()

        class Probe(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                answers.append(data)

        sock, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
        good = bytes(request(flow))
        sock.sendto(good.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), listener.local)
        sock.sendto(good.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"), listener.local)
        sock.sendto(b"SIP/2.0 200 OK\r\n\r\n", listener.local)  # a bad response: silence
        await until(lambda: len(answers) >= 2, 1.0)
        sock.close()
        assert sorted(a.split(b" ", 2)[1] for a in answers) == [b"400", b"505"]
        assert len(server.dropped) == 3


async def test_handler_gets_requests_and_2xx_is_retransmitted_until_ack() -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        seen: list[IncomingRequest] = []

        def handler(incoming: IncomingRequest) -> None:
            seen.append(incoming)
            incoming.respond(200)

        server.on_request(handler)
        flow = await client.connect(f"udp:{listener.local[0]}:{listener.local[1]}")
        response = await ask(client, flow, "INVITE")
        assert response.status_code == 200
        assert seen[0].request.method == "INVITE"
        await asyncio.sleep(0.2)  # no ACK: the 2xx is retransmitted (§13.3.1.4)
        assert len(server._successes) == 1


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_ping_returns_on_the_pong_and_fails_when_the_flow_closes(transport: str) -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen(transport.upper())
        host, port = listener.local
        target = f"ws://{host}:{port}" if transport == "ws" else f"{transport}:{host}:{port}"
        flow = await client.connect(target)
        await asyncio.wait_for(client.ping(flow), 5)  # RFC 5626 §4.4.1: CRLF CRLF, then CRLF
        server.close_flow(next(iter(listener.flows())))
        await until(lambda: not client.find(flow.transport, host, port), 2.0)
        with pytest.raises(TransportError):
            await asyncio.wait_for(client.ping(flow), 5)
        udp = await client.connect(f"udp:{host}:9")
        with pytest.raises(TransportError, match="no CRLF keep-alive"):
            await client.ping(udp)  # UDP keep-alives are OPTIONS (RFC 5626 §4.4.2 uses STUN)


def test_parse_target() -> None:
    assert parse_target("wss://example.com") == ("wss", "example.com", 443, "wss://example.com")
    assert parse_target("udp:[::1]:5060")[1:3] == ("::1", 5060)
    with pytest.raises(Exception, match="unsupported"):
        parse_target("http://example.com")


async def test_cancel_gets_487_with_the_tag_of_the_ringing() -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        ringing_tags: list[str] = []

        def handler(incoming: IncomingRequest) -> None:
            ringing_tags.append(incoming.respond(180).to.tag or "")

        server.on_request(handler)
        flow = await client.connect(f"udp:{listener.local[0]}:{listener.local[1]}")
        invite = build_request(
            "INVITE",
            SipUri("127.0.0.1", user="bob", port=listener.local[1]),
            from_addr=NameAddr(SipUri("example.com", user="a"), None, {"tag": "x"}),
            to_addr=NameAddr(SipUri("example.com", user="b")),
            call_id=generate_branch(),
            cseq=1,
            via=Via("UDP", "127.0.0.1", flow.local[1], {"branch": generate_branch()}),
        )
        handle = client.send_request(invite, flow)
        while not handle.provisional or handle.provisional[-1].status_code != 180:
            await asyncio.sleep(0.01)
        cancel = build_request(
            "CANCEL",
            invite.uri,
            from_addr=invite.from_,
            to_addr=invite.to,
            call_id=invite.call_id,
            cseq=1,
            via=invite.top_via,
        )
        assert (await client.request(cancel, flow)).status_code == 200
        final = await asyncio.wait_for(handle.final, 5)
        assert final.status_code == 487
        assert final.to.tag == ringing_tags[0]


async def test_listeners_apply_the_configured_limits() -> None:
    # every listener, WS included, enforces StackConfig.limits (here: the message size)
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import ConnectionClosedError
    from websockets.typing import Subprotocol

    config = StackConfig(limits=Limits(max_message_size=1000))
    async with SipStack(config) as server:
        listener = await server.listen("WS")
        host, port = listener.local
        async with ws_connect(f"ws://{host}:{port}/", subprotocols=[Subprotocol("sip")]) as ws:
            await ws.send("OPTIONS " + "x" * 1500)
            with pytest.raises(ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # too big
