"""Calls through a real Kamailio that lose their signalling flow mid-call: the WebSocket closed
under one phone, and Kamailio killed and started again under both. Media is peer to peer, so
the calls are kept while the accounts reconnect and register again; the dialogs then move to
the new flows (target refresh), and hold and BYE afterwards work both ways."""

from __future__ import annotations

from client.call import Call, EndReason
from client.events import RegistrationChanged, SignallingChanged
from tests.client.helpers import Ear, Recorder, connect

from .helpers import hear, phones
from .kamailio_peer import Kamailio, KamailioFactory
from .test_calls_kamailio import check_hold


def steps(events: Recorder, call: Call) -> list[str]:
    return [e.state for e in events.of(SignallingChanged) if e.call is call]


def registrations(events: Recorder) -> int:
    return sum(1 for e in events.of(RegistrationChanged) if e.state == "registered")


async def tones_flow(out: Call, inc: Call, out_ear: Ear, inc_ear: Ear) -> None:
    """Both ends receive new audio at a steady rate and hear the other's tone in it."""
    await hear(out_ear, 1000.0, "alice")
    await hear(inc_ear, 440.0, "bob")
    assert await out_ear.frames_in(0.5) > 10 and await inc_ear.frames_in(0.5) > 10
    assert not out.ended and not inc.ended


async def test_websocket_closed_mid_call_keeps_the_call(kamailio: Kamailio) -> None:
    async with phones(kamailio, "alice/ws", "bob/wss") as (alice, bob):
        a_events, b_events = Recorder(alice), Recorder(bob)
        out, inc = await connect(alice, bob, "bob")
        out_ear, inc_ear = Ear(out), Ear(inc)
        await tones_flow(out, inc, out_ear, inc_ear)
        old_flow = alice.account.flow
        assert old_flow is not None

        alice.stack.close_flow(old_flow)  # alice's WebSocket to Kamailio goes away
        await a_events.wait(SignallingChanged, lambda e: e.state == "lost")
        await tones_flow(out, inc, out_ear, inc_ear)  # media does not need the flow
        await a_events.wait(SignallingChanged, lambda e: e.state == "restored", timeout=20)
        assert registrations(a_events) >= 1  # registered again over the new flow
        new_flow = alice.account.flow
        assert new_flow is not None and new_flow != old_flow
        assert out.core is not None and out.core.flow == new_flow
        assert steps(a_events, out)[0] == "lost" and steps(a_events, out)[-1] == "restored"
        assert steps(b_events, inc) == []  # bob's flow never went away
        await tones_flow(out, inc, out_ear, inc_ear)

        # re-INVITEs both ways over the new flow: bob's reaches alice at her new connection
        await check_hold(inc, out, a_events)
        await check_hold(out, inc, b_events)
        await inc.hangup()  # bob's BYE reaches alice too
        assert await out.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert inc.end_reason is EndReason.LOCAL_HANGUP


async def test_kamailio_restarted_mid_call_keeps_the_call(
    kamailio_factory: KamailioFactory,
) -> None:
    kam = kamailio_factory()
    async with phones(kam, "carol/ws", "dave/wss") as (carol, dave):
        c_events, d_events = Recorder(carol), Recorder(dave)
        out, inc = await connect(carol, dave, "dave")
        out_ear, inc_ear = Ear(out), Ear(inc)
        await tones_flow(out, inc, out_ear, inc_ear)

        kam.kill()  # SIGKILL: both WebSockets drop, the location table is lost
        await c_events.wait(SignallingChanged, lambda e: e.state == "lost")
        await d_events.wait(SignallingChanged, lambda e: e.state == "lost")
        await tones_flow(out, inc, out_ear, inc_ear)
        kam.start()
        await c_events.wait(SignallingChanged, lambda e: e.state == "restored", timeout=30)
        await d_events.wait(SignallingChanged, lambda e: e.state == "restored", timeout=30)
        assert len(kam.location("carol")) == 1 and len(kam.location("dave")) == 1
        await tones_flow(out, inc, out_ear, inc_ear)

        await check_hold(out, inc, d_events)
        await out.hangup()
        assert await inc.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert out.end_reason is EndReason.LOCAL_HANGUP
