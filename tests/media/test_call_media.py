"""Two MediaSessions on loopback (real ICE, DTLS-SRTP, Opus, the audio on media.engine):
telephone-event in the SDP, DTMF by RFC 4733 both ways while audio flows, the activity clock
and the statistics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from media.dtmf import decode_payload
from media.engine import DtmfUnavailable
from media.rtp import RtpPacket, parse_rtp
from media.sdp import parse
from media.session import MediaConfig, MediaSession, ToneTrack

LOOPBACK = MediaConfig(host_addresses=("127.0.0.1",))


def events(sdp: bytes) -> dict[int, int]:
    """telephone-event payload type -> clock rate of the audio section."""
    (audio,) = parse(sdp).media
    return {c.payload_type: c.clock_rate for c in audio.codecs if c.name == "telephone-event"}


def record_wire(session: MediaSession) -> list[RtpPacket]:
    """Every RTP packet the session's stream hands to SRTP from now on."""
    assert session.stream is not None
    link = session.stream._link
    assert link is not None
    original = link.send_rtp
    seen: list[RtpPacket] = []

    def send(data: bytes) -> None:
        seen.append(parse_rtp(data))
        original(data)

    link.send_rtp = send  # type: ignore[method-assign]
    return seen


async def first(iterator: AsyncIterator[str], count: int) -> str:
    out = ""
    async for digit in iterator:
        out += digit
        if len(out) == count:
            break
    return out


async def connected() -> tuple[MediaSession, MediaSession]:
    alice = MediaSession(LOOPBACK, ToneTrack(440.0))
    bob = MediaSession(LOOPBACK, ToneTrack(1000.0))
    offer = await alice.create_offer()
    answer = await bob.create_answer(offer)
    await alice.set_answer(answer)
    for _ in range(250):
        if alice.frames_received > 10 and bob.frames_received > 10:
            break
        await asyncio.sleep(0.02)
    return alice, bob


async def test_offer_answer_carries_telephone_event_as_offered() -> None:
    alice = MediaSession(LOOPBACK)
    bob = MediaSession(LOOPBACK)
    plain = MediaSession(MediaConfig(host_addresses=("127.0.0.1",), telephone_event=False))
    carol = MediaSession(LOOPBACK)
    try:
        offer = await alice.create_offer()
        assert sorted(events(offer).values()) == [8000, 48000]
        answer = await bob.create_answer(offer)
        assert events(answer) == events(offer)  # the offer's payload types
        await alice.set_answer(answer)
        for session in (alice, bob):
            audio = session.call_media.audio
            assert audio is not None
            assert (audio.codec.name, audio.clock_rate) == ("opus", 48000)
            assert audio.telephone_event_pt == next(
                pt for pt, rate in events(offer).items() if rate == 48000
            )
        # an offer without telephone-event gets an answer without it, and no DTMF by RTP
        bare = await plain.create_offer()
        assert events(bare) == {}
        assert events(await carol.create_answer(bare)) == {}
        assert carol.call_media.audio is not None
        assert carol.call_media.audio.telephone_event_pt is None
        with pytest.raises(DtmfUnavailable):
            await carol.send_dtmf("1")
    finally:
        for session in (alice, bob, plain, carol):
            await session.close()


async def test_dtmf_both_ways_while_audio_flows() -> None:
    alice, bob = await connected()
    heard_by_bob: list[str] = []
    bob.on_dtmf = heard_by_bob.append
    try:
        assert alice.connection_state == bob.connection_state == "connected"
        wire = record_wire(alice)
        bob_digits = asyncio.ensure_future(first(bob.dtmf(), 4))
        alice_digits = asyncio.ensure_future(first(alice.dtmf(), 3))
        frames = alice.frames_received, bob.frames_received
        await asyncio.gather(alice.send_dtmf("123#"), bob.send_dtmf("*0D", duration_ms=80))
        assert await asyncio.wait_for(bob_digits, 5) == "123#"
        assert await asyncio.wait_for(alice_digits, 5) == "*0D"
        await asyncio.sleep(0.3)
        assert heard_by_bob == list("123#")  # each digit once, the end packets collapsed
        assert alice.frames_received > frames[0] and bob.frames_received > frames[1]
        # what alice put on the wire: one stream, no gap or repeat in the numbering
        assert len({p.ssrc for p in wire}) == 1
        numbers = [p.sequence_number for p in wire]
        assert numbers == [(numbers[0] + i) & 0xFFFF for i in range(len(wire))]
        te = alice.call_media.audio.telephone_event_pt if alice.call_media.audio else None
        trains: dict[int, list[RtpPacket]] = {}
        for p in wire:
            if p.payload_type == te:
                trains.setdefault(p.timestamp, []).append(p)
        assert len(trains) == 4
        for train, code in zip(trains.values(), (1, 2, 3, 11), strict=True):
            decoded = [decode_payload(p.payload) for p in train]
            assert [p.marker for p in train] == [1] + [0] * (len(train) - 1)
            assert {e.event for e in decoded} == {code}
            assert [e.end for e in decoded[-3:]] == [True] * 3
            assert not any(e.end for e in decoded[:-3])
            assert len({(e.duration, e.end) for e in decoded[-3:]}) == 1
            durations = [e.duration for e in decoded]
            assert durations == sorted(durations) and durations[-1] == 4800
            start, end = wire.index(train[0]), wire.index(train[-1])
            assert all(p.payload_type == te for p in wire[start : end + 1])  # audio held back
    finally:
        await alice.close()
        await bob.close()


async def test_activity_clock_and_statistics() -> None:
    before = MediaSession(LOOPBACK)
    assert (before.last_rtp_at, before.rtp_packets_received) == (None, 0)
    empty = await before.stats()
    assert (empty.codec, empty.mos, empty.no_packet_time, empty.packets_received) == (
        None,
        None,
        None,
        0,
    )
    await before.close()
    alice, bob = await connected()
    try:
        await alice.send_dtmf("5")
        await asyncio.sleep(2.5)  # let RTCP reports come both ways
        loop = asyncio.get_running_loop()
        for me, peer in ((alice, bob), (bob, alice)):
            stats = await me.stats()
            peer_stats = await peer.stats()
            assert me.last_rtp_at is not None and me.last_rtp_at <= loop.time()
            assert me.rtp_packets_received >= stats.packets_received > 50
            assert (stats.codec, stats.clock_rate) == ("opus", 48000)
            assert stats.packets_sent > 50 and stats.bytes_sent > 0
            assert stats.bytes_received > 0
            assert (stats.local_packets_lost, stats.local_loss_fraction) == (0, 0.0)
            assert stats.remote_packets_lost == 0
            assert stats.remote_loss_fraction == 0.0
            assert stats.local_jitter_ms >= 0 and stats.remote_jitter_ms is not None
            assert stats.rtt_ms is None or stats.rtt_ms >= 0
            assert stats.jitter_buffer_delay_ms is not None and stats.jitter_buffer_delay_ms >= 0
            assert stats.concealed_frames is not None and stats.concealed_frames >= 0
            assert stats.no_packet_time is not None and stats.no_packet_time >= 0
            assert stats.mos is not None and 4.0 < stats.mos <= 4.5
            # what one side sent, the other received (give or take packets in flight)
            assert abs(peer_stats.packets_received - stats.packets_sent) < 10
    finally:
        await alice.close()
        await bob.close()
