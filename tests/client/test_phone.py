"""Phones calling each other through the embedded registrar/proxy over WSS, with real media."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import pytest

from client.call import Call, CallState, EndReason
from client.config import PhoneConfig
from client.errors import CallFailed, CallStateError, ConfigError, RegistrationFailed
from client.events import (
    CallStateChanged,
    DtmfReceived,
    IncomingCallReceived,
    MediaRenewal,
    MissedCall,
    RegistrationChanged,
    RemoteHoldChanged,
    TransferRequested,
)
from client.phone import Phone
from sipcore.message import Response, parse_message

from .helpers import LOOPBACK, Ear, Lab, Recorder, connect, lab, tone


def states(recorder: Recorder, call: Call) -> list[str]:
    return [e.state.value for e in recorder.of(CallStateChanged) if e.call is call]


async def test_call_with_audio_dtmf_hold_and_hangup(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, bob = await net.phone("alice"), await net.phone("bob")
        a_events, b_events = Recorder(alice), Recorder(bob)
        out, inc = await connect(alice, bob)
        a_ear, b_ear = Ear(out), Ear(inc)
        await asyncio.sleep(1.5)
        assert len(a_ear.frames) > 40 and len(b_ear.frames) > 40
        assert a_ear.tone(1000.0) > 20 and b_ear.tone(440.0) > 20  # each hears the other
        assert inc.remote_display_name == "Alice" and inc.remote_uri.startswith("sip:alice@")

        assert await out.send_dtmf("12#") == "rfc4733"
        await b_events.wait(DtmfReceived, lambda e: e.digit == "#")
        assert [(e.digit, e.method) for e in b_events.of(DtmfReceived)] == [
            ("1", "rfc4733"),
            ("2", "rfc4733"),
            ("#", "rfc4733"),
        ]
        assert await inc.send_dtmf("*d", method="info") == "info"
        assert [(e.digit, e.method) for e in a_events.of(DtmfReceived)] == [
            ("*", "info"),
            ("D", "info"),
        ]
        with pytest.raises(ValueError):
            await out.send_dtmf("1x")

        stats = await out.stats()
        assert stats.codec is not None and stats.codec.lower() == "opus"
        assert stats.packets_received > 40 and stats.packets_sent > 40
        assert stats.local_packets_lost == 0 and stats.mos is not None and stats.mos > 4.0

        await out.hold()
        await out.hold()  # idempotent: stays held, no second re-INVITE
        assert out.held
        held = await b_events.wait(RemoteHoldChanged)
        assert held.held and inc.remote_held
        await asyncio.sleep(0.3)
        assert await a_ear.frames_in(1.0) == 0  # bob is recvonly now
        await out.hold_toggle()  # resumes
        assert not out.held
        await b_events.wait(RemoteHoldChanged, lambda e: not e.held)
        await asyncio.sleep(0.3)
        assert await a_ear.frames_in(1.0) > 30
        assert len(b_events.of(RemoteHoldChanged)) == 2

        await inc.hangup()
        assert await out.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert inc.end_reason is EndReason.LOCAL_HANGUP
        assert states(a_events, out) == [
            "outgoing_initiated",
            "connecting",
            "ringing",
            "established",
            "ended",
        ]
        assert states(b_events, inc) == ["incoming", "answering", "established", "ending", "ended"]
        assert alice.calls == [] and bob.calls == []
        assert out.details()["duration"] is not None


async def test_mute_sends_silence_without_renegotiation(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, bob = await net.phone("alice"), await net.phone("bob")
        out, inc = await connect(alice, bob)
        ear = Ear(inc)
        await asyncio.sleep(1.0)
        assert ear.rms() > 1000
        out.mute()
        await asyncio.sleep(0.6)
        assert out.muted and await ear.frames_in(1.0) > 30  # packets keep flowing
        assert ear.rms() < 50
        out.mute_toggle()
        await asyncio.sleep(0.6)
        assert ear.rms() > 1000
        await out.hangup()
        assert await inc.wait_ended(10) is EndReason.REMOTE_HANGUP


async def test_cancel_while_ringing_is_a_missed_call(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, bob = await net.phone("alice"), await net.phone("bob")
        a_events, b_events = Recorder(alice), Recorder(bob)
        out = await alice.dial("bob")
        incoming = await b_events.wait(IncomingCallReceived)
        await a_events.wait(CallStateChanged, lambda e: e.state is CallState.RINGING)
        assert out.state is CallState.RINGING
        await out.hangup()
        assert await out.wait_ended(10) is EndReason.CANCELLED
        assert await incoming.call.wait_ended(10) is EndReason.REMOTE_CANCELLED
        missed = await b_events.wait(MissedCall)
        assert missed.reason == "cancelled" and missed.remote.startswith("sip:alice@")


async def test_rejected_call_fails_with_the_reason(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, bob = await net.phone("alice"), await net.phone("bob")
        incoming = bob.incoming()
        out = await alice.dial(f"sip:bob@{net.server.domain}")
        await (await asyncio.wait_for(anext(incoming), 10)).reject(603)
        with pytest.raises(CallFailed) as failed:
            await out.wait_established(10)
        assert failed.value.reason is EndReason.DECLINED and failed.value.status == 603
        with pytest.raises(CallStateError):
            await out.hold()


async def test_second_call_gets_busy_and_is_reported_missed(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, bob, carol = [await net.phone(n) for n in ("alice", "bob", "carol")]
        b_events = Recorder(bob)
        out, inc = await connect(alice, bob)
        second = await carol.dial("bob")
        assert await second.wait_ended(10) is EndReason.BUSY
        missed = await b_events.wait(MissedCall)
        assert missed.reason == "busy" and missed.remote.startswith("sip:carol@")
        assert inc.state is CallState.ESTABLISHED and bob.calls == [inc]
        with pytest.raises(CallStateError):
            await alice.dial("carol")  # one call at a time
        await out.hangup()


async def test_multi_call_mode_takes_a_second_call(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, carol = await net.phone("alice"), await net.phone("carol")
        bob = await net.phone("bob", multi_call=True)
        await connect(alice, bob)
        incoming = bob.incoming()
        second = await carol.dial("bob")
        call = await asyncio.wait_for(anext(incoming), 10)
        await call.answer()
        await second.wait_established(10)
        assert len(bob.calls) == 2


async def test_lost_media_is_renewed_by_reinvite(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice = await net.phone("alice", media_timeout=1.0)
        bob = await net.phone("bob", media_timeout=0)
        a_events = Recorder(alice)
        out, inc = await connect(alice, bob)
        ear = Ear(out)
        await asyncio.sleep(0.5)
        await inc.media.pc.close()  # bob's media dies without any signalling
        await a_events.wait(CallStateChanged, lambda e: e.state is CallState.MEDIA_DISRUPTED)
        await a_events.wait(
            MediaRenewal, lambda e: e.outcome in ("succeeded", "failed"), timeout=15
        )
        assert out.state is CallState.ESTABLISHED
        assert await ear.frames_in(1.0) > 30
        assert await Ear(inc).frames_in(1.0) > 30 and inc.state is CallState.ESTABLISHED
        assert states(a_events, out)[-3:] == ["media_disrupted", "renewing_media", "established"]
        await out.hangup()


async def test_media_that_cannot_be_renewed_ends_the_call(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice = await net.phone("alice", media_timeout=0.5, media_renewals=2)
        bob = await net.phone("bob", media_timeout=0)
        out, inc = await connect(alice, bob)

        async def refuse(request: object) -> None:
            inc._sip(lambda ua, c, now: ua.answer_reinvite(c, now, status=488))

        inc._answer_reinvite = refuse  # type: ignore[method-assign]
        await inc.media.pc.close()
        assert await out.wait_ended(20) is EndReason.MEDIA_TIMEOUT
        assert await inc.wait_ended(10) is EndReason.REMOTE_HANGUP


async def test_registration_events_and_config_errors(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice = await net.phone("alice", register=False)
        events = Recorder(alice)
        await alice.register()
        assert [e.state for e in events.of(RegistrationChanged)][-2:] == [
            "sent_request",
            "registered",
        ]
        await alice.unregister()
        assert events.of(RegistrationChanged)[-1].state == "unregistered"
    with pytest.raises(ConfigError, match="aor"):
        Lab.config(net, "alice", aor="alice")
    with pytest.raises(ConfigError, match="server"):
        Lab.config(net, "alice", server="http://example.com")


async def test_without_auto_reconnect_a_dead_server_ends_the_registration(
    tmp_path: Path,
) -> None:
    async with lab(tmp_path) as net:
        server = net.server.uri("wss")
    # the server is gone: nothing listens on its port any more
    alice = Phone(Lab.config(net, "alice", server=server, auto_reconnect=False))
    async with alice:
        events = Recorder(alice)
        with pytest.raises(RegistrationFailed, match="connection failed"):
            await alice.register(timeout=10)
        assert [e.state for e in events.of(RegistrationChanged)] == [
            "connecting",
            "disconnected",
            "terminated",
        ]
        assert not alice.account.running()


async def test_blind_transfer(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, bob, carol = [await net.phone(n) for n in ("alice", "bob", "carol")]
        a_events = Recorder(alice)
        out, inc = await connect(alice, bob)
        to_carol = carol.incoming()

        async def carol_answers() -> Call:
            call = await asyncio.wait_for(anext(to_carol), 10)
            await call.answer()
            return call

        answering = asyncio.ensure_future(carol_answers())
        assert await inc.transfer("carol")  # bob REFERs alice to carol, then hangs up
        carols = await answering
        requested = await a_events.wait(TransferRequested)
        assert requested.call is out and requested.target.startswith("sip:carol@")
        new = requested.new_call
        await new.wait_established(10)
        assert await out.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert inc.end_reason is EndReason.LOCAL_HANGUP
        await carols.wait_established(10)
        assert carols.remote_uri.startswith("sip:alice@")
        assert await Ear(new).frames_in(1.0) > 30
        await new.hangup()


async def test_calls_of_a_blind_transfer_are_freed_when_they_end(tmp_path: Path) -> None:
    # the soak run's path: ears on every call, a blind transfer, the new call hung up
    async with lab(tmp_path) as net:
        alice, bob, carol = [await net.phone(n) for n in ("alice", "bob", "carol")]
        out, inc = await connect(alice, bob)
        ears = [Ear(out), Ear(inc)]
        to_carol = carol.incoming()
        transferring = asyncio.ensure_future(inc.transfer("carol"))
        carols = await asyncio.wait_for(anext(to_carol), 10)
        await carols.answer()
        assert await transferring
        await carols.wait_established(10)
        assert await out.wait_ended(10) is EndReason.REMOTE_HANGUP
        [new] = alice.calls
        await new.wait_established(10)
        ears += [Ear(new), Ear(carols)]
        assert await ears[2].frames_in(0.5) > 10
        await new.hangup()
        assert await carols.wait_ended(10) is EndReason.REMOTE_HANGUP
        calls = (out, inc, new, carols)
        alive = [weakref.ref(c) for c in calls] + [weakref.ref(c.media) for c in calls]
        del calls, out, inc, new, carols, transferring, ears
        await asyncio.sleep(0.2)  # the media sessions close in tasks of the stack
        gc.collect()
        assert [ref() for ref in alive] == [None] * 8
        assert not alice.calls and not bob.calls and not carol.calls


async def test_transfer_refused_when_not_followed(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice = await net.phone("alice", follow_transfers=False)
        bob = await net.phone("bob")
        out, inc = await connect(alice, bob)
        assert not await inc.transfer("carol")
        assert inc.state is CallState.ESTABLISHED and out.state is CallState.ESTABLISHED
        await out.hangup()


async def test_attended_transfer_replaces_the_consultation_call(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, carol = await net.phone("alice"), await net.phone("carol")
        bob = await net.phone("bob", multi_call=True)
        a_events, c_events = Recorder(alice), Recorder(carol)
        first, bob_first = await connect(alice, bob)  # alice calls bob
        await bob_first.hold()
        consult, carol_consult = await connect(bob, carol, "carol")  # bob consults carol
        # bob joins alice and carol: alice calls carol with Replaces of bob's call to carol
        assert await bob_first.transfer(replaces=consult)
        requested = await a_events.wait(TransferRequested)
        new = requested.new_call
        await new.wait_established(10)
        replacing = await c_events.wait(IncomingCallReceived, lambda e: e.call is not carol_consult)
        assert replacing.call.state is CallState.ESTABLISHED  # answered without ringing
        assert await carol_consult.wait_ended(10) is EndReason.REPLACED
        assert await consult.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert await first.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert bob.calls == [] and alice.calls == [new] and carol.calls == [replacing.call]
        assert await Ear(new).frames_in(1.0) > 30
        await new.hangup()


def _direct(name: str, *listen: str) -> PhoneConfig:
    return PhoneConfig(aor=f"sip:{name}@127.0.0.1", listen=listen, media=LOOPBACK)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_phones_without_a_server_call_each_other_directly(transport: str) -> None:
    async with (
        Phone(_direct("alice", f"{transport}:127.0.0.1:0")) as alice,
        Phone(_direct("bob", "udp:127.0.0.1:0", "tcp:127.0.0.1:0")) as bob,
    ):
        assert alice.account is None and not alice.registered
        with pytest.raises(ConfigError, match="no server"):
            await alice.register()
        (bob_udp, bob_tcp) = bob.listeners
        port = (bob_udp if transport == "udp" else bob_tcp).local[1]
        incoming = bob.incoming()
        call = await alice.dial(
            f"sip:bob@127.0.0.1:{port};transport={transport}", source=tone("alice")
        )
        inbound = await asyncio.wait_for(anext(incoming), 10)
        assert inbound.remote_uri == "sip:alice@127.0.0.1"
        invite = inbound.core.invite if inbound.core is not None else None
        assert invite is not None and invite.vias[0].transport == transport.upper()
        # the Contact names alice's listener, where requests reach her
        (contact,) = invite.contacts
        assert contact.uri.port == alice.listeners[0].local[1]
        inbound.set_source(tone("bob"))
        ear = Ear(call)
        await inbound.answer()
        await call.wait_established(10)
        await asyncio.sleep(1.0)
        assert ear.tone(1000.0) > 20
        await inbound.hangup()
        assert await call.wait_ended(10) is EndReason.REMOTE_HANGUP


async def test_phone_without_a_server_answers_options_and_checks_requests() -> None:
    async with Phone(_direct("bob", "udp:127.0.0.1:0")) as bob:
        port = bob.listeners[0].local[1]
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                replies.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
        me = transport.get_extra_info("sockname")[1]

        def request(method: str, extra: str = "") -> bytes:
            return (
                f"{method} sip:bob@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{method}{len(extra)}\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
                f"Call-ID: {method}-{len(extra)}\r\nCSeq: 1 {method}\r\n{extra}"
                "Content-Length: 0\r\n\r\n"
            ).encode()

        try:
            transport.sendto(request("OPTIONS"), ("127.0.0.1", port))
            response = parse_message(await asyncio.wait_for(replies.get(), 5))
            assert isinstance(response, Response) and response.status_code == 200
            assert "INVITE" in response.allow and "BYE" in response.allow
            assert response.headers.get("Accept") == "application/sdp"
            # what the UA core supports, extensions included (§11.2)
            assert {"replaces", "100rel", "timer"} <= set(response.supported)
            transport.sendto(request("OPTIONS", "Require: nosuchext\r\n"), ("127.0.0.1", port))
            response = parse_message(await asyncio.wait_for(replies.get(), 5))
            assert isinstance(response, Response) and response.status_code == 420
            assert response.unsupported == ["nosuchext"]
        finally:
            transport.close()


def test_listen_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="server or listen"):
        PhoneConfig(aor="sip:bob@127.0.0.1")
    with pytest.raises(ConfigError, match="listen"):
        PhoneConfig(aor="sip:bob@127.0.0.1", listen=("sctp:127.0.0.1:5060",))
    with pytest.raises(ConfigError, match="listen"):
        PhoneConfig(aor="sip:bob@127.0.0.1", listen=("udp:127.0.0.1",))
