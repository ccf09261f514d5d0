"""The web-client facade against the embedded WSS registrar/proxy, with real media."""

from __future__ import annotations

import asyncio
from pathlib import Path

from client.web import WebClient
from client.web.call import WebCall
from tests.client.helpers import Ear, connect, lab, tone

from .helpers import Callbacks, account_info


async def test_register_receive_answer_and_hang_up(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        bob = await net.phone("bob")
        seen = Callbacks()
        client = seen.init(WebClient(), account_info(net, "alice", audioInputs={"t": "tone:440"}))
        assert client.checkClientStatus() == "initial"
        await client.DoRegister()
        # REGISTER, 401 challenge, REGISTER with credentials, 200
        assert seen.register == [("sent_request", "alice")] * 2 + [("registered", "alice")]
        assert client.checkClientStatus() == "registered"
        assert client.getCall() is None

        out = await bob.dial("alice", source=tone("bob"))
        await seen.wait(lambda: "incoming" in seen.call_events())
        call = client.getCall()
        assert isinstance(call, WebCall) and seen.call[0][0] is call
        assert seen.call[0][2] == "alice"
        assert call.callDirection == "incoming" and call.callState == "incoming"
        assert call.remoteDisplayName == "Bob" and call.callId == out.call_id
        assert call.callStartTime is None
        await call.Answer()
        await seen.wait(lambda: "connected" in seen.call_events())
        await out.wait_established(10)
        assert call.callStartTime is not None and call.callState == "established"
        ear = Ear(out)
        await asyncio.sleep(1.0)
        assert ear.tone(440.0) > 20  # bob hears the configured input device

        await call.Hangup()
        await seen.wait(lambda: "callEnded" in seen.call_events())
        assert seen.call_events() == ["incoming", "connected", "callEnded"]
        assert await out.wait_ended(10) is not None
        assert client.getCall() is None

        await client.UnRegister()
        assert seen.register[-1] == ("unregistered", "alice")
        assert client.checkClientStatus() == "unregistered"
        await client.close()
        assert seen.register[-1] == ("terminated", "alice")
        assert client.checkClientStatus() == "unknown"


async def test_outgoing_call_ended_by_the_peer_is_terminated(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        bob = await net.phone("bob")
        seen = Callbacks()
        client = seen.init(WebClient(), account_info(net, "alice"))
        await client.DoRegister()
        incoming = bob.incoming()
        call = await client.dial("bob")
        assert call.callDirection == "outgoing" and client.getCall() is call
        inbound = await asyncio.wait_for(anext(incoming), 10)
        await inbound.answer()
        await seen.wait(lambda: "connected" in seen.call_events())
        await inbound.hangup()
        await seen.wait(lambda: "terminated" in seen.call_events())
        assert seen.call_events() == ["connected", "terminated"]
        await client.close()


_ = connect  # shared helpers used by later tests
