"""Our phones calling each other through a real Kamailio over WSS (registrar, digest auth on
REGISTER and INVITE, record-routing proxy), with WebRTC media on loopback."""

from __future__ import annotations

import asyncio

from client.call import Call, CallState, EndReason
from client.events import CallStateChanged, DtmfReceived, RemoteHoldChanged
from tests.client.helpers import Ear, Recorder, connect

from .helpers import hear, phones, until
from .kamailio_peer import Kamailio


async def check_hold(holder: Call, held: Call, held_events: Recorder) -> None:
    """``holder`` holds: it stops hearing ``held``; then resumes and hears it again."""
    ear = Ear(holder)
    await holder.hold()
    await held_events.wait(RemoteHoldChanged, lambda e: e.held and e.call is held)
    await asyncio.sleep(0.3)
    assert await ear.frames_in(1.0) == 0
    await holder.unhold()
    await held_events.wait(RemoteHoldChanged, lambda e: not e.held and e.call is held)
    resumed = len(ear.frames)
    await until(lambda: len(ear.frames) > resumed)  # then a full rate: over 30 frames in 1 s
    assert await ear.frames_in(1.0) > 30


async def test_call_through_kamailio_wss(kamailio: Kamailio) -> None:
    async with phones(kamailio, "alice", "bob") as (alice, bob):
        a_events, b_events = Recorder(alice), Recorder(bob)
        out, inc = await connect(alice, bob, "bob")
        a_ear, b_ear = Ear(out), Ear(inc)
        await hear(a_ear, 1000.0, "alice")
        await hear(b_ear, 440.0, "bob")
        assert out.core is not None and out.core.dialog is not None
        assert out.core.dialog.route_set, "Kamailio record-routes the dialog"

        # RFC 4733 both ways, then SIP INFO both ways
        assert await out.send_dtmf("159") == "rfc4733"
        assert await inc.send_dtmf("*0#") == "rfc4733"
        await b_events.wait(DtmfReceived, lambda e: e.digit == "9")
        await a_events.wait(DtmfReceived, lambda e: e.digit == "#")
        assert await out.send_dtmf("2A", method="info") == "info"
        assert await inc.send_dtmf("7", method="info") == "info"
        received = {
            name: [(e.digit, e.method) for e in events.of(DtmfReceived)]
            for name, events in (("bob", b_events), ("alice", a_events))
        }
        assert received["bob"] == [
            ("1", "rfc4733"),
            ("5", "rfc4733"),
            ("9", "rfc4733"),
            ("2", "info"),
            ("A", "info"),
        ]
        assert received["alice"] == [
            ("*", "rfc4733"),
            ("0", "rfc4733"),
            ("#", "rfc4733"),
            ("7", "info"),
        ]

        await check_hold(out, inc, b_events)  # the caller holds
        await check_hold(inc, out, a_events)  # the callee holds

        await out.hangup()  # the caller hangs up
        assert await inc.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert out.end_reason is EndReason.LOCAL_HANGUP


async def test_callee_hangs_up_and_caller_cancels(kamailio: Kamailio) -> None:
    async with phones(kamailio, "carol", "dave") as (carol, dave):
        out, inc = await connect(carol, dave, "dave")
        await inc.hangup()  # the callee hangs up
        assert await out.wait_ended(10) is EndReason.REMOTE_HANGUP

        events = Recorder(carol)
        incoming = dave.incoming()
        ringing = await carol.dial("dave")
        inc = await asyncio.wait_for(anext(incoming), 10)
        await events.wait(CallStateChanged, lambda e: e.state is CallState.RINGING)
        await ringing.hangup()  # CANCEL while ringing
        assert await ringing.wait_ended(10) is EndReason.CANCELLED
        assert await inc.wait_ended(10) is EndReason.REMOTE_CANCELLED
