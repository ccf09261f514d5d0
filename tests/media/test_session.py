"""Two media sessions in one process on loopback: real ICE, DTLS-SRTP and Opus, tones both ways."""

from __future__ import annotations

import array
import asyncio
import threading
from dataclasses import replace

import pytest
from av import AudioFrame

from media.levels import goertzel, mono
from media.sdp import SdpError, parse
from media.session import MediaConfig, MediaSession, ToneTrack

LOOPBACK = MediaConfig(host_addresses=("127.0.0.1",))


async def test_tones_flow_both_ways_over_loopback() -> None:
    alice = MediaSession(LOOPBACK, ToneTrack(440.0))
    bob = MediaSession(LOOPBACK, ToneTrack(1000.0))
    heard: dict[str, list[AudioFrame]] = {"alice": [], "bob": []}
    alice.on_frame = heard["alice"].append
    bob.on_frame = heard["bob"].append
    try:
        offer = await alice.create_offer()
        sdp = parse(offer)
        (audio,) = sdp.media
        assert audio.proto == "UDP/TLS/RTP/SAVPF"
        assert [c.address for c in audio.candidates] == ["127.0.0.1"]
        names = [c.name.lower() for c in audio.codecs]
        assert "opus" in names and "telephone-event" in names
        answer = await bob.create_answer(offer)
        await alice.set_answer(answer)
        for _ in range(150):
            if len(heard["alice"]) > 60 and len(heard["bob"]) > 60:
                break
            await asyncio.sleep(0.02)
        assert alice.connection_state == bob.connection_state == "connected"
        assert len(heard["alice"]) > 60 and len(heard["bob"]) > 60
        for who, own, other in (("bob", 1000.0, 440.0), ("alice", 440.0, 1000.0)):
            frame = heard[who][-1]
            samples = array.array("h")
            for f in heard[who][-25:]:
                samples.extend(mono(f))
            rate = frame.sample_rate
            assert goertzel(samples, rate, other) > 20 * goertzel(samples, rate, own), who
    finally:
        await alice.close()
        await bob.close()


async def test_gathering_is_bounded_by_an_unanswering_stun_server() -> None:
    from aiortc import RTCIceServer

    # nothing listens on this port: aioice would wait 5 s for the STUN answer
    config = MediaConfig(
        host_addresses=("127.0.0.1",),
        ice_servers=(RTCIceServer("stun:127.0.0.1:9"),),
        gather_timeout=1.0,
    )
    session = MediaSession(config)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        offer = parse(await session.create_offer())
        assert loop.time() - started < 2.0
        assert session.gathering_fell_back
        assert [c.address for c in offer.media[0].candidates] == ["127.0.0.1"]
    finally:
        await session.close()


async def test_hold_and_resume_by_reoffer() -> None:
    alice = MediaSession(LOOPBACK, ToneTrack(440.0))
    bob = MediaSession(LOOPBACK, ToneTrack(1000.0))

    async def counts(seconds: float) -> tuple[int, int]:
        a, b = alice.frames_received, bob.frames_received
        await asyncio.sleep(seconds)
        return alice.frames_received - a, bob.frames_received - b

    try:
        await alice.set_answer(await bob.create_answer(await alice.create_offer()))
        await counts(0.5)
        hold = await alice.reoffer("sendonly")
        (audio,) = parse(hold).media
        assert audio.direction == "sendonly"
        answer = await bob.create_answer(hold)
        assert parse(answer).media[0].direction == "recvonly"
        await alice.set_answer(answer)
        await asyncio.sleep(0.2)  # frames in flight
        heard_by_alice, heard_by_bob = await counts(0.6)
        assert heard_by_alice == 0  # the held side sends nothing
        assert heard_by_bob > 15  # the holder goes on sending
        await alice.set_answer(await bob.create_answer(await alice.reoffer("sendrecv")))
        await asyncio.sleep(0.2)
        heard_by_alice, heard_by_bob = await counts(0.6)
        assert heard_by_alice > 15 and heard_by_bob > 15
    finally:
        await alice.close()
        await bob.close()


def test_config_repr_hides_turn_credentials() -> None:
    from aiortc import RTCIceServer

    config = MediaConfig(ice_servers=(RTCIceServer("turn:127.0.0.1:3478", "alice", "s3cr3t"),))
    text = repr(config)
    assert "s3cr3t" not in text
    assert "username='alice'" in text and "credential='***'" in text
    assert config.ice_servers[0].credential == "s3cr3t"  # only the repr is masked


async def test_relay_only_gathering_never_falls_back_to_host_candidates() -> None:
    from aiortc import RTCIceServer

    # nothing listens on this port: the TURN allocation cannot complete
    config = MediaConfig(
        ice_servers=(RTCIceServer("turn:127.0.0.1:9", "u", "p"),),
        ice_transport_policy="relay",
        gather_timeout=0.5,
    )
    session = MediaSession(config)
    try:
        with pytest.raises(TimeoutError):
            await session.create_offer()
        assert not session.gathering_fell_back
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("offered", "answered", "expected", "rate"),
    [
        (("PCMU",), ("opus", "G722", "PCMU", "PCMA"), "PCMU", 8000),
        (("g722", "opus"), ("PCMA", "G722"), "G722", 8000),
        (("opus", "pcma"), ("PCMA",), "PCMA", 8000),
    ],
)
async def test_codec_preferences_decide_the_codec(
    offered: tuple[str, ...], answered: tuple[str, ...], expected: str, rate: int
) -> None:
    alice = MediaSession(replace(LOOPBACK, codecs=offered), ToneTrack(440.0))
    bob = MediaSession(replace(LOOPBACK, codecs=answered), ToneTrack(1000.0))
    heard: list[AudioFrame] = []
    bob.on_frame = heard.append
    try:
        offer = await alice.create_offer()
        rtpmaps = [a.value for a in parse(offer).media[0].attributes("rtpmap")]
        names = [r.split()[1].split("/")[0].lower() for r in rtpmaps]
        assert [n for n in names if n != "telephone-event"] == [c.lower() for c in offered]
        await alice.set_answer(await bob.create_answer(offer))
        await asyncio.sleep(1.5)
        stats = await alice.stats()
        assert stats.codec is not None and stats.codec.upper() == expected
        assert stats.clock_rate == rate
        samples = array.array("h")
        for frame in heard[-25:]:
            samples.extend(mono(frame))
        assert len(heard) > 40
        assert goertzel(samples, heard[-1].sample_rate, 440.0) > 100 * goertzel(
            samples, heard[-1].sample_rate, 2345.0
        )
    finally:
        await alice.close()
        await bob.close()


def test_unknown_codec_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="G729"):
        MediaConfig(codecs=("opus", "G729"))


async def test_pcmu_carries_tones_dtmf_and_stats() -> None:
    config = replace(LOOPBACK, codecs=("PCMU",))
    alice = MediaSession(config, ToneTrack(440.0))
    bob = MediaSession(config, ToneTrack(1000.0))
    heard: dict[str, list[AudioFrame]] = {"alice": [], "bob": []}
    alice.on_frame = heard["alice"].append
    bob.on_frame = heard["bob"].append
    digits: list[str] = []
    bob.on_dtmf = digits.append
    try:
        await alice.set_answer(await bob.create_answer(await alice.create_offer()))
        for _ in range(250):
            if alice.frames_received > 60 and bob.frames_received > 60:
                break
            await asyncio.sleep(0.02)
        assert alice.stream is not None and bob.stream is not None
        assert alice.stream.started and bob.stream.started
        assert len(heard["bob"]) == bob.frames_received > 60
        pcm = array.array("h")
        for frame in heard["bob"][-25:]:
            assert frame.sample_rate == 8000
            pcm.extend(mono(frame))
        assert goertzel(pcm, 8000, 1000) < goertzel(pcm, 8000, 440) / 100
        await alice.send_dtmf("5#", duration_ms=60, gap_ms=40)
        for _ in range(100):
            if digits == ["5", "#"]:
                break
            await asyncio.sleep(0.02)
        assert digits == ["5", "#"]
        stats = await alice.stats()
        assert stats.codec == "PCMU"
        assert stats.packets_received == alice.rtp_packets_received > 0
        assert alice.last_rtp_at is not None
    finally:
        await alice.close()
        await bob.close()


async def test_plain_rtp_is_never_offered_nor_accepted() -> None:
    # SRTP is mandatory (RFC 8827 §6.5): our offers use DTLS-SRTP, and an RTP/AVP offer or
    # answer is refused before aiortc (which would take it) sees it
    alice = MediaSession(LOOPBACK, ToneTrack(440.0))
    bob = MediaSession(LOOPBACK, ToneTrack(1000.0))
    try:
        offer = await alice.create_offer()
        assert [m.proto for m in parse(offer).media] == ["UDP/TLS/RTP/SAVPF"]
        assert b"RTP/AVP " not in offer
        with pytest.raises(SdpError, match="SRTP is mandatory"):
            await bob.create_answer(offer.replace(b"UDP/TLS/RTP/SAVPF", b"RTP/AVP"))
        answer = await MediaSession(LOOPBACK, ToneTrack(1.0)).create_answer(offer)
        with pytest.raises(SdpError, match="SRTP is mandatory"):
            await alice.set_answer(answer.replace(b"UDP/TLS/RTP/SAVPF", b"RTP/AVP"))
    finally:
        await alice.close()
        await bob.close()


def _tasks(qualname: str) -> int:
    """Tasks alive in this loop running a coroutine function of that name."""
    return sum(
        getattr(task.get_coro(), "__qualname__", "") == qualname for task in asyncio.all_tasks()
    )


async def test_closing_while_ice_still_connects_leaves_no_consent_task() -> None:
    # a call hung up right after it was answered: aioice's connect() then returned during
    # close() and started consent checks that looped for ever over the emptied nominated pairs
    # (a task and its connection per session)
    before = _tasks("Connection.query_consent")
    for _ in range(3):
        alice = MediaSession(LOOPBACK, ToneTrack(440.0))
        bob = MediaSession(LOOPBACK, ToneTrack(1000.0))
        await alice.set_answer(await bob.create_answer(await alice.create_offer()))
        # close as soon as the check list is done, before connect() (which looks every 20 ms)
        # has returned: close() finds no consent task, connect() starts one during close()
        ice = alice.pc.getTransceivers()[0].receiver.transport.transport
        deadline = asyncio.get_running_loop().time() + 10
        while not ice._connection._check_list_done:
            assert asyncio.get_running_loop().time() < deadline, "ICE never completed"
            await asyncio.sleep(0)
        assert ice.state == "checking"  # connect() has not returned yet
        await alice.close()
        await bob.close()
    while _tasks("RTCPeerConnection.__connect"):  # until every connect() has returned
        assert asyncio.get_running_loop().time() < deadline + 10, "connect() never returned"
        await asyncio.sleep(0.02)
    assert _tasks("Connection.query_consent") == before


async def test_a_closed_session_never_starts_aiortc_sender_or_receiver() -> None:
    # aiortc's connect task can reach sender.send() and receiver.receive() after pc.close()
    # stopped them (a call hung up while its transports were still being set up, seen in the
    # soak run's transfers): their loops, and the receiver's decoder thread, then ran for ever
    loops = ("RTCRtpSender._run_rtp", "RTCRtpSender._run_rtcp", "RTCRtpReceiver._run_rtcp")
    before = [_tasks(name) for name in loops], threading.active_count()
    alice = MediaSession(LOOPBACK, ToneTrack(440.0))
    bob = MediaSession(LOOPBACK, ToneTrack(1000.0))
    await alice.set_answer(await bob.create_answer(await alice.create_offer()))
    await alice.close()
    await bob.close()
    pc, transceiver = alice.pc, alice.transceiver
    await transceiver.sender.send(pc._RTCPeerConnection__localRtp(transceiver))
    await transceiver.receiver.receive(pc._RTCPeerConnection__remoteRtp(transceiver))
    await asyncio.sleep(0)
    assert ([_tasks(name) for name in loops], threading.active_count()) == before
