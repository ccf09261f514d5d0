"""Two engine streams over real loopback ICE and DTLS-SRTP (aiortc for SDP, ICE and DTLS; the
audio through media.engine): a tone arrives, RTP numbering is continuous, DTMF goes both
ways, RTCP reports give RTT and loss, a dropped SRTP packet is concealed as one frame, and
closing gives everything back to aiortc and aioice."""

from __future__ import annotations

import array
import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from media.engine import AudioEngine, AudioStream, DtmfUnavailable, StreamConfig
from media.levels import goertzel
from media.offer_answer import NegotiatedAudio
from media.rtp import peek_rtp
from media.sdp_values import Codec
from media.tracks import ToneTrack

PCMU = Codec(payload_type=0, name="PCMU", clock_rate=8000)
AUDIO = NegotiatedAudio(
    codec=PCMU, telephone_event_pt=101, receive_telephone_event_pts=frozenset({101})
)
FAST_RTCP = StreamConfig(rtcp_interval=0.2)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``condition``; fail after ``timeout`` seconds (a bound, not a measurement)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


class End:
    """One call end: a peer connection and its engine stream, with what it received."""

    def __init__(self, pc: RTCPeerConnection, stream: AudioStream) -> None:
        self.pc = pc
        self.stream = stream
        self.pcm = bytearray()
        self.digits: list[str] = []
        self.packets: list[tuple[int, int, int, bool]] = []  # (pt, seq, ts, marker) received
        stream.on_pcm = self._pcm
        stream.on_dtmf = self.digits.append

    def _pcm(self, pcm: bytes, rate: int) -> None:
        assert rate == 8000
        self.pcm += pcm

    @property
    def transceiver(self) -> Any:
        return self.pc.getTransceivers()[0]

    @property
    def dtls(self) -> Any:
        return self.transceiver.sender.transport

    def record(self) -> None:
        """Record the header of every RTP packet the stream takes in (set before start)."""
        handle = self.stream._on_rtp

        def on_rtp(packet: bytes) -> None:
            header = peek_rtp(packet)
            assert header is not None
            self.packets.append((header[0], header[1], header[2], header[4]))
            handle(packet)

        self.stream._on_rtp = on_rtp  # type: ignore[method-assign]

    def start(self) -> None:
        t = self.transceiver
        self.stream.start(self.dtls, sender=t.sender, receiver=t.receiver)


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


async def connect(config: StreamConfig | None = None) -> tuple[End, End]:
    a, b = RTCPeerConnection(), RTCPeerConnection()
    pcmu = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/PCMU"]
    for pc in (a, b):
        pc.addTransceiver("audio", direction="sendrecv").setCodecPreferences(pcmu)
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(RTCSessionDescription(a.localDescription.sdp, "offer"))
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(RTCSessionDescription(b.localDescription.sdp, "answer"))
    await until(lambda: a.connectionState == b.connectionState == "connected")
    ends = []
    for pc, frequency in ((a, 1000), (b, 700)):
        sender = pc.getTransceivers()[0].sender
        stream = AudioStream(
            AUDIO,
            source=ToneTrack(frequency, sample_rate=8000),
            ssrc=sender._ssrc,
            cname=f"cname-{frequency}",
            config=config,
        )
        ends.append(End(pc, stream))
    return ends[0], ends[1]


@pytest.fixture
async def pair(loopback: None) -> AsyncIterator[tuple[End, End]]:
    alice, bob = await connect(FAST_RTCP)
    alice.record()
    bob.record()
    alice.start()
    bob.start()
    yield alice, bob
    for end in (alice, bob):
        end.stream.close()
        await end.pc.close()


async def test_tone_arrives(pair: tuple[End, End]) -> None:
    alice, bob = pair
    await until(lambda: len(bob.pcm) >= 2 * 8000 and len(alice.pcm) >= 2 * 8000)
    heard = array.array("h", bytes(bob.pcm[-2 * 4000 :]))
    assert goertzel(heard, 8000, 1000) > 100 * goertzel(heard, 8000, 700)
    heard = array.array("h", bytes(alice.pcm[-2 * 4000 :]))
    assert goertzel(heard, 8000, 700) > 100 * goertzel(heard, 8000, 1000)
    # every frame played out is one 20 ms frame of PCM
    assert len(bob.pcm) == 320 * bob.stream.frames_played


async def test_numbering_is_continuous(pair: tuple[End, End]) -> None:
    alice, bob = pair
    await until(lambda: len(bob.packets) >= 30)
    packets = bob.packets[:30]
    assert packets[0][3] is True  # marker on the first packet (RFC 3551 §4.1)
    assert not any(marker for *_, marker in packets[1:])
    for (_, seq0, ts0, _), (_, seq1, ts1, _) in itertools.pairwise(packets):
        assert seq1 == (seq0 + 1) & 0xFFFF
        assert ts1 == (ts0 + 160) & 0xFFFFFFFF
    assert {pt for pt, *_ in packets} == {0}
    assert alice.stream.reception.lost == 0


async def test_dtmf_both_ways(pair: tuple[End, End]) -> None:
    alice, bob = pair
    await until(lambda: len(bob.packets) >= 5 and len(alice.packets) >= 5)
    await asyncio.gather(
        alice.stream.send_dtmf("12#", duration_ms=60, gap_ms=40),
        bob.stream.send_dtmf("9", duration_ms=100),
    )
    await until(lambda: bob.digits == ["1", "2", "#"] and alice.digits == ["9"])
    await until(lambda: bob.packets[-1][0] == 0)  # audio again after the events
    # one sequence space for audio and events, no gap, no repeat
    seqs = [seq for _, seq, _, _ in bob.packets]
    assert all(b == (a + 1) & 0xFFFF for a, b in itertools.pairwise(seqs))
    events = [p for p in bob.packets if p[0] == 101]
    # 60 ms at 20 ms: 3 updates, the last one sent three times (RFC 4733 §2.5.1.4)
    assert len(events) == 3 * 5
    assert [marker for *_, marker in events].count(True) == 3  # first packet of each event
    assert bob.stream.reception.lost == 0


async def test_dtmf_unavailable_without_telephone_event(loopback: None) -> None:
    alice, bob = await connect()
    try:
        plain = NegotiatedAudio(
            codec=PCMU, telephone_event_pt=None, receive_telephone_event_pts=frozenset()
        )
        alice.stream.update(plain)
        alice.start()
        with pytest.raises(DtmfUnavailable):
            await alice.stream.send_dtmf("1")
        with pytest.raises(ValueError):
            await bob.stream.send_dtmf("X")
        with pytest.raises(DtmfUnavailable):  # not started
            await bob.stream.send_dtmf("1")
    finally:
        for end in (alice, bob):
            end.stream.close()
            await end.pc.close()


async def test_rtcp_reports(pair: tuple[End, End]) -> None:
    alice, bob = pair
    await until(
        lambda: all(
            e.stream.rtcp.rtt is not None and e.stream.rtcp.remote is not None for e in (alice, bob)
        )
    )
    for end in (alice, bob):
        rtcp = end.stream.rtcp
        assert rtcp.rtt is not None and 0 <= rtcp.rtt < 1.0
        assert rtcp.remote is not None
        assert rtcp.remote.packets_lost == 0
        assert rtcp.remote.fraction_lost == 0
        stats = end.stream.stats()
        assert stats.codec == "PCMU" and stats.clock_rate == 8000
        assert stats.rtt_ms == pytest.approx(rtcp.rtt * 1000)
        assert stats.remote_packets_lost == 0
        assert stats.packets_sent == rtcp.packets_sent > 0
        assert stats.packets_received == end.stream.reception.received > 0
        assert stats.mos is not None and stats.mos > 4
    # aiortc's own RTCP for the SSRC is gone: its sender's loops were stopped
    for end in (alice, bob):
        sender = end.transceiver.sender
        assert sender._RTCRtpSender__rtcp_task.done()
        assert sender._RTCRtpSender__rtp_task.done()


async def test_lost_packet_is_concealed(loopback: None) -> None:
    alice, bob = await connect()
    try:
        alice.start()
        bob.start()
        (protocol,) = [
            p for p in bob.dtls.transport._connection._protocols if "datagram_received" in vars(p)
        ]
        hooked = protocol.datagram_received
        seen = 0

        def drop_tenth(data: bytes, addr: Any) -> None:
            nonlocal seen
            if 127 < data[0] < 192 and not 191 < data[1] < 224:
                seen += 1
                if seen == 10:
                    return
            hooked(data, addr)

        protocol.datagram_received = drop_tenth
        await until(lambda: seen >= 40 and bob.stream.frames_played >= 30)
        assert bob.stream.frames_concealed == 1
        assert bob.stream.reception.lost == 1
        assert len(bob.pcm) == 320 * bob.stream.frames_played
        assert bob.stream.stats().concealed_frames == 1
        assert bob.stream.stats().local_packets_lost == 1
    finally:
        for end in (alice, bob):
            end.stream.close()
            await end.pc.close()


async def test_close_releases_everything(loopback: None) -> None:
    engine = AudioEngine()
    alice, bob = await connect()
    before = asyncio.all_tasks()
    for end in (alice, bob):
        end.stream = AudioStream(AUDIO, ssrc=end.transceiver.sender._ssrc, engine=engine)
        end.start()
    connection = alice.dtls.transport._connection
    assert all("datagram_received" in vars(p) for p in connection._protocols)
    assert "_send_rtp" in vars(alice.dtls)
    assert engine.running
    await until(lambda: alice.stream.frames_played > 5)
    for end in (alice, bob):
        end.stream.close()
    assert not engine.running and engine.streams == []
    assert not any("datagram_received" in vars(p) for p in connection._protocols)
    assert "_send_rtp" not in vars(alice.dtls)
    assert asyncio.all_tasks() <= before  # the engine made no task of its own
    # aioice and aiortc have the connection back: a data channel would work again, and
    # closing is clean
    for end in (alice, bob):
        await end.pc.close()
    alice.stream.close()  # idempotent


async def test_closed_stream_never_starts_again(loopback: None) -> None:
    # a DTLS handshake that completes after close() used to start the closed stream, whose
    # freed codecs then failed on the clock
    engine = AudioEngine()
    alice, bob = await connect()
    alice.stream = AudioStream(AUDIO, ssrc=alice.transceiver.sender._ssrc, engine=engine)
    alice.stream.close()
    with pytest.raises(RuntimeError, match="stream closed"):
        alice.start()
    assert not alice.stream.started and not engine.running
    for end in (alice, bob):
        await end.pc.close()


async def test_late_clock_catches_up_without_burst(loopback: None) -> None:
    engine = AudioEngine(max_catch_up=3)
    alice, bob = await connect()
    try:
        alice.stream = AudioStream(AUDIO, ssrc=alice.transceiver.sender._ssrc, engine=engine)
        alice.start()
        bob.record()
        bob.start()
        await until(lambda: engine.frames >= 5)
        sent = alice.stream.rtcp.packets_sent
        frames = engine.frames
        engine.loop.call_soon(time.sleep, 0.2)  # the loop stalls 200 ms
        await until(lambda: engine.frames >= frames + 12)
        # the stall cost 10 frame periods: 3 were run late, the rest skipped
        assert engine.frames_skipped >= 6
        assert alice.stream.rtcp.packets_sent - sent <= engine.frames - frames
    finally:
        for end in (alice, bob):
            end.stream.close()
            await end.pc.close()


def test_mute_gate_gives_pcm_or_silence() -> None:
    from media.mute import MuteGate

    tone = ToneTrack(1000, sample_rate=8000)
    gate = MuteGate(tone)
    assert gate.sample_rate == 8000
    first = gate.next_pcm()
    assert len(first) == 320 and any(first)
    gate.muted = True
    assert gate.next_pcm() == bytes(320)
    gate.muted = False
    # the tone went on while muted: the third frame follows the second, not the first
    assert gate.next_pcm() == _third(1000)


def _third(frequency: int) -> bytes:
    tone = ToneTrack(frequency, sample_rate=8000)
    tone.next_pcm()
    tone.next_pcm()
    return tone.next_pcm()


async def test_pause_keeps_the_rtp_clock(pair: tuple[End, End]) -> None:
    alice, bob = pair
    await until(lambda: len(bob.packets) >= 5)
    alice.stream.sending = False
    engine = alice.stream.engine
    frames = engine.frames
    await until(lambda: engine.frames >= frames + 10)
    paused = len(bob.packets)  # what was in flight has arrived
    alice.stream.sending = True
    await until(lambda: len(bob.packets) >= paused + 3)
    (_, seq0, ts0, _), (_, seq1, ts1, marker) = bob.packets[paused - 1 : paused + 1]
    assert seq1 == (seq0 + 1) & 0xFFFF  # no packet was sent, so no number is skipped
    assert marker  # a new talkspurt (RFC 3551 §4.1)
    gap = (ts1 - ts0) & 0xFFFFFFFF
    assert gap % 160 == 0 and gap >= 160 * 10  # the RTP clock ran on through the pause


def test_srtp_operations_on_the_sessions_buffer() -> None:
    # srtp_link calls libsrtp directly on a pylibsrtp Session's buffer: same output as
    # pylibsrtp, None (never an exception) for a refused packet
    import pylibsrtp

    from media.rtp import pack_rtp_header
    from media.srtp_link import _Srtp

    key = bytes(range(30))
    tx = _Srtp(pylibsrtp.Session(pylibsrtp.Policy(key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)))
    rx = _Srtp(pylibsrtp.Session(pylibsrtp.Policy(key, pylibsrtp.Policy.SSRC_ANY_INBOUND)))
    reference = pylibsrtp.Session(pylibsrtp.Policy(key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    packet = pack_rtp_header(True, 0, 1, 160, 0x1234) + bytes(range(160))
    protected = tx.protect(packet)
    assert protected is not None and protected == reference.protect(packet)
    assert len(protected) == len(packet) + 10  # AES_CM_128_HMAC_SHA1_80 tag
    assert rx.unprotect(protected) == packet
    assert rx.unprotect(protected) is None  # a replay
    assert rx.unprotect(protected[:-1] + bytes([protected[-1] ^ 1])) is None  # a bad tag
    assert tx.protect(packet + bytes(2000)) is None  # longer than the buffer
    rtcp = bytes([0x80, 201, 0, 1]) + (0x1234).to_bytes(4, "big")
    sealed = tx.protect_rtcp(rtcp)
    assert sealed is not None and rx.unprotect_rtcp(sealed) == rtcp
