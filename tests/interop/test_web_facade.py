"""The web-client facade through a real Kamailio over WSS and plain WS: register, incoming
and outgoing calls, DTMF both ways and hold."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from client.config import PhoneConfig
from client.events import DtmfReceived, RemoteHoldChanged
from client.phone import Phone
from client.web import WebClient
from tests.client.helpers import LOOPBACK, Recorder
from tests.client.web.helpers import Callbacks

from .helpers import until
from .kamailio_peer import Kamailio


@pytest.mark.parametrize("security", ["wss", "ws"])
async def test_web_facade_through_kamailio(
    kamailio: Kamailio, security: Literal["wss", "ws"]
) -> None:
    assert kamailio.tls is not None
    host, _, port = kamailio.uri(security).partition("://")[2].partition(":")
    seen = Callbacks()
    client = seen.init(
        WebClient(),
        {
            "userName": "alice",
            "secret": "alicepw",
            "sipdomain": kamailio.domain,
            "domain": f"{host}:{port}",
            "security": security,
            "caFile": str(kamailio.tls.ca),
            "hostAddresses": ["127.0.0.1"],
        },
    )
    assert client.phone is not None
    assert client.phone.config.server == f"{security}://{host}:{port}"
    a_events = Recorder(client.phone)
    bob_config = PhoneConfig(
        aor=f"sip:bob@{kamailio.domain}",
        server=kamailio.uri(security),
        password="bobpw",
        ca_file=str(kamailio.tls.ca),
        media=LOOPBACK,
    )
    async with Phone(bob_config) as bob:
        await bob.register()
        b_events = Recorder(bob)
        await client.DoRegister()
        assert seen.register[-1] == ("registered", "alice")

        inbound_call = await bob.dial("alice")  # incoming for the facade
        await seen.wait(lambda: "incoming" in seen.call_events())
        web_call = client.getCall()
        assert web_call is not None
        await web_call.Answer()
        await inbound_call.wait_established(10)
        await web_call.sendDTMF("7")
        await b_events.wait(DtmfReceived, lambda e: e.digit == "7")
        # and towards the facade: its call hears the digits in order
        # (once bob's audio flows: before its first RTP packet RFC 4733 falls back to INFO)
        await until(lambda: web_call.call.media.rtp_packets_received)
        assert await inbound_call.send_dtmf("4*") == "rfc4733"
        await a_events.wait(DtmfReceived, lambda e: e.digit == "*")
        received = [e for e in a_events.of(DtmfReceived) if e.call is web_call.call]
        assert [(e.digit, e.method) for e in received] == [("4", "rfc4733"), ("*", "rfc4733")]
        await web_call.Hold()
        await b_events.wait(RemoteHoldChanged, lambda e: e.held)
        await web_call.UnHold()
        await b_events.wait(RemoteHoldChanged, lambda e: not e.held)
        await inbound_call.hangup()
        await seen.wait(lambda: "terminated" in seen.call_events())

        incoming = bob.incoming()
        out = await client.dial("bob")
        answered = await asyncio.wait_for(anext(incoming), 10)
        await answered.answer()
        await seen.wait(lambda: seen.call_events().count("connected") == 2)
        out.Hangup()
        await seen.wait(lambda: "callEnded" in seen.call_events())
        assert seen.call_events() == [
            "incoming",
            "connected",
            "terminated",
            "connected",
            "callEnded",
        ]
        await client.close()
