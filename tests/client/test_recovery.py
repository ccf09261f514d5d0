"""client.recovery: an established call kept across the loss of its signalling flow, on the
embedded WSS registrar/proxy (the Kamailio runs are in tests/interop/test_faults_kamailio.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from client.call import EndReason
from client.events import SignallingChanged
from sipcore.stack import StackConfig

from .helpers import Ear, Lab, Recorder, connect, lab


async def fast_phone(lb: Lab, name: str, **changes: object):  # type: ignore[no-untyped-def]
    from client.phone import Phone

    config = lb.config(name, **changes)
    stack = StackConfig(ca_file=str(lb.ca), reconnect_base=0.1, reconnect_max=0.5)
    phone = Phone(config, stack_config=stack)
    await lb._stack.enter_async_context(phone)
    await phone.register()
    return phone


def states(events: Recorder) -> list[str]:
    return [e.state for e in events.of(SignallingChanged)]


async def test_call_kept_when_the_flow_drops_and_bye_reaches_the_new_flow(
    tmp_path: Path,
) -> None:
    async with lab(tmp_path) as lb:
        alice, bob = await fast_phone(lb, "alice"), await fast_phone(lb, "bob")
        a_events, b_events = Recorder(alice), Recorder(bob)
        out, inc = await connect(alice, bob)
        ear = Ear(out)
        old = alice.account.flow
        assert old is not None
        alice.stack.close_flow(old)
        await a_events.wait(SignallingChanged, lambda e: e.state == "restored", timeout=20)
        assert states(a_events)[0] == "lost" and "refreshing" in states(a_events)
        assert states(b_events) == []
        assert out.core is not None and out.core.flow == alice.account.flow != old
        assert not out.ended and await ear.frames_in(0.5) > 10
        await inc.hangup()
        assert await out.wait_ended(10) is EndReason.REMOTE_HANGUP


async def test_call_ends_when_the_media_is_gone_with_the_flow(tmp_path: Path) -> None:
    async with lab(tmp_path) as lb:
        alice, bob = await fast_phone(lb, "alice"), await fast_phone(lb, "bob")
        a_events = Recorder(alice)
        out, _ = await connect(alice, bob)
        await out.media.pc.close()  # the media path is not intact
        assert alice.account.flow is not None
        alice.stack.close_flow(alice.account.flow)
        assert await out.wait_ended(10) is EndReason.CONNECTION_LOST
        failed = await a_events.wait(SignallingChanged, lambda e: e.state == "failed")
        assert "media" in failed.reason


async def test_call_ends_when_no_new_flow_comes_in_time(tmp_path: Path) -> None:
    async with lab(tmp_path) as lb:
        alice = await fast_phone(lb, "alice", flow_recovery_timeout=1.0)
        bob = await fast_phone(lb, "bob")
        a_events = Recorder(alice)
        out, _ = await connect(alice, bob)
        alice.account.target = "ws://127.0.0.1:9/"  # reconnecting fails from now on
        assert alice.account.flow is not None
        alice.stack.close_flow(alice.account.flow)
        assert await out.wait_ended(15) is EndReason.CONNECTION_LOST
        failed = await a_events.wait(SignallingChanged, lambda e: e.state == "failed")
        assert "within 1 s" in failed.reason
        assert states(a_events) == ["lost", "failed"]


async def test_calls_end_with_the_flow_when_recovery_is_off(tmp_path: Path) -> None:
    async with lab(tmp_path) as lb:
        alice = await fast_phone(lb, "alice", flow_recovery_timeout=0.0)
        bob = await fast_phone(lb, "bob")
        a_events = Recorder(alice)
        out, _ = await connect(alice, bob)
        assert alice.account.flow is not None
        alice.stack.close_flow(alice.account.flow)
        assert await out.wait_ended(10) is EndReason.FAILURE
        assert out.end_status == 503
        await asyncio.sleep(0)
        assert states(a_events) == []
