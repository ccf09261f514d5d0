"""DTMF injection and extraction at aiortc's DTLS transport hooks, with aiortc's RtpPacket on an
in-process transport stand-in (the real transports are exercised in test_call_media)."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.rtp import RtcpByePacket, RtpPacket

from media.dtmf import decode_payload, encode_payload
from media.dtmf_rtp import DtmfRtp, DtmfUnavailable, InboundSequencer, OutboundSequencer
from media.offer_answer import NegotiatedAudio
from media.sdp import Codec

SSRC = 0x11223344
OPUS = NegotiatedAudio(
    codec=Codec(96, "opus", 48000, 2),
    telephone_event_pt=110,
    receive_telephone_event_pts=frozenset({101, 110}),
)


class Transport:
    """Records what reaches the wire side (sent) and aiortc's receivers (handed)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.handed: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self.handed.append(data)


class Sender:
    def __init__(self, transport: Transport) -> None:
        self._ssrc = SSRC
        self.transport = transport


class Receiver:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport


def attached(audio: NegotiatedAudio | None = OPUS) -> tuple[DtmfRtp, Transport, list[str]]:
    digits: list[str] = []
    dtmf = DtmfRtp(digits.append)
    transport = Transport()
    dtmf.attach(Sender(transport), Receiver(transport), audio)
    return dtmf, transport, digits


def rtp(
    seq: int, ts: int, *, pt: int = 96, marker: int = 0, payload: bytes = b"\xaa" * 40
) -> bytes:
    packet = RtpPacket(payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=SSRC, marker=marker)
    packet.payload = payload
    return packet.serialize()


class TestSequencers:
    def test_outbound_keeps_numbers_until_packets_are_added_or_dropped(self) -> None:
        seq = OutboundSequencer()
        with pytest.raises(DtmfUnavailable):
            seq.inject()
        assert [seq.audio(n) for n in (65534, 65535)] == [65534, 65535]
        assert [seq.inject(), seq.inject()] == [0, 1]
        assert seq.audio(0, suppress=True) is None
        assert seq.audio(1) == 2
        assert seq.audio(1) == 2  # a retransmission gets its first number
        assert seq.audio(0) is None  # and a dropped packet stays dropped

    def test_inbound_closes_the_holes_of_extracted_events(self) -> None:
        seq = InboundSequencer()
        assert seq.audio(65533) == 65533
        for n in (65534, 65535, 0, 65535):  # the last one a duplicate
            seq.event(n)
        assert seq.audio(1) == 65534
        assert seq.audio(2) == 65535
        seq.event(1)  # older than the newest audio packet: not counted
        assert seq.audio(3) == 0
        seq.event(5)
        assert seq.audio(4) == 1  # reordered: the event after it does not shift it
        assert seq.audio(6) == 2

    def test_inbound_counts_events_after_a_late_packet_across_the_wrap(self) -> None:
        seq = InboundSequencer()
        assert seq.audio(65530) == 65530
        for n in (65531, 0, 1):
            seq.event(n)
        assert seq.audio(2) == 65535
        assert seq.audio(65532) == 65531  # late: only 65531 came out before it
        assert seq.audio(65535) == 65534

    def test_inbound_remembers_the_last_history_events(self) -> None:
        seq = InboundSequencer(history=2)
        assert seq.audio(100) == 100
        for n in (101, 102, 101):  # the last one a duplicate
            seq.event(n)
        assert seq.audio(103) == 101
        seq.event(104)  # 101 is forgotten
        assert seq.audio(105) == 102
        assert seq.audio(103) == 101  # a late packet: 104 is still known to come after it


class TestSend:
    async def test_packet_order_on_the_audio_stream(self) -> None:
        dtmf, transport, _ = attached()
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def audio() -> None:  # 20 ms frames, timestamps on the clock as aiortc's are
            seq = 40000
            while True:
                ts = 5000 + 960 * round((loop.time() - start) / 0.02)
                await transport._send_rtp(rtp(seq, ts))
                seq += 1
                await asyncio.sleep(0.02)

        task = asyncio.ensure_future(audio())
        try:
            await asyncio.sleep(0.1)
            await dtmf.send("1#", duration_ms=100, gap_ms=70, volume=12)
            await asyncio.sleep(0.1)
        finally:
            task.cancel()
        packets = [RtpPacket.parse(data) for data in transport.sent]
        assert {p.ssrc for p in packets} == {SSRC}
        numbers = [p.sequence_number for p in packets]
        assert numbers == [(40000 + i) & 0xFFFF for i in range(len(packets))]
        assert dtmf.audio_suppressed > 0
        kinds = "".join("e" if p.payload_type == 110 else "a" for p in packets)
        # audio, 7 event packets, audio in the gap, 7 event packets, audio
        assert kinds.strip("a").split("a")[0] == "eeeeeee"
        runs = [run for run in kinds.split("a") if run]
        assert runs == ["eeeeeee", "eeeeeee"]
        events = [p for p in packets if p.payload_type == 110]
        for n, digit_code in enumerate((1, 11)):
            train = events[7 * n : 7 * n + 7]
            assert [p.marker for p in train] == [1, 0, 0, 0, 0, 0, 0]
            assert len({p.timestamp for p in train}) == 1
            decoded = [decode_payload(p.payload) for p in train]
            assert {e.event for e in decoded} == {digit_code}
            assert {e.volume for e in decoded} == {12}
            assert [e.duration for e in decoded] == [960, 1920, 2880, 3840, 4800, 4800, 4800]
            assert [e.end for e in decoded] == [False] * 4 + [True] * 3
            # the event starts after the audio before it and ends before the audio after it
            first = packets.index(train[0])
            last = packets.index(train[-1])
            assert packets[first - 1].timestamp < train[0].timestamp
            assert train[0].timestamp + 4800 <= packets[last + 1].timestamp
        assert dtmf.packets_sent == len(packets)

    async def test_bad_input_sends_nothing(self) -> None:
        dtmf, transport, _ = attached()
        await transport._send_rtp(rtp(1, 0))
        for digits in ("12E", "1 ", "x"):
            with pytest.raises(ValueError, match="DTMF digit"):
                await dtmf.send(digits)
        with pytest.raises(ValueError):
            await dtmf.send("1", duration_ms=0)
        with pytest.raises(ValueError):
            await dtmf.send("1", volume=64)
        with pytest.raises(ValueError):
            await dtmf.send("12", gap_ms=-1)
        assert len(transport.sent) == 1

    async def test_unavailable_without_negotiation_or_audio(self) -> None:
        dtmf, transport, _ = attached(None)
        await transport._send_rtp(rtp(1, 0))
        with pytest.raises(DtmfUnavailable):
            await dtmf.send("1")
        no_event = NegotiatedAudio(OPUS.codec, None, frozenset())
        dtmf, transport, _ = attached(no_event)
        await transport._send_rtp(rtp(1, 0))
        with pytest.raises(DtmfUnavailable):
            await dtmf.send("1")
        dtmf, transport, _ = attached()
        with pytest.raises(DtmfUnavailable):
            await dtmf.send("1")  # no audio sent yet
        assert transport.sent == []

    async def test_rtcp_and_other_streams_pass_unchanged(self) -> None:
        dtmf, transport, _ = attached()
        rtcp = bytes(RtcpByePacket(sources=[SSRC]))
        other = RtpPacket(payload_type=96, sequence_number=7, timestamp=1, ssrc=99).serialize()
        await transport._send_rtp(rtcp)
        await transport._send_rtp(other)
        assert transport.sent == [rtcp, other]
        assert dtmf.packets_sent == 0


class TestReceive:
    async def test_events_become_digits_once_and_audio_goes_on(self) -> None:
        now = [100.0]
        digits: list[str] = []
        dtmf = DtmfRtp(digits.append, clock=lambda: now[0])
        transport = Transport()
        dtmf.attach(Sender(transport), Receiver(transport), OPUS)
        assert (dtmf.last_rtp_at, dtmf.rtp_packets_received) == (None, 0)

        def event(
            seq: int, code: int, duration: int, *, end: bool = False, marker: int = 0
        ) -> bytes:
            payload = encode_payload(code, end=end, volume=10, duration=duration)
            return rtp(seq, 96000, pt=110, marker=marker, payload=payload)

        wire = [
            rtp(10, 90000),
            rtp(11, 90960),
            event(12, 5, 960, marker=1),
            event(14, 5, 2880),  # reordered
            event(13, 5, 1920),
            event(15, 5, 3840, end=True),
            event(16, 5, 3840, end=True),
            event(17, 5, 3840, end=True),
            event(17, 5, 3840, end=True),  # duplicated
            rtp(18, 101760),
            rtp(19, 102720),
        ]
        for n, data in enumerate(wire):
            now[0] = 100.0 + n
            await transport._handle_rtp_data(data, 0)
        assert digits == ["5"]
        handed = [RtpPacket.parse(data) for data in transport.handed]
        assert [p.payload_type for p in handed] == [96] * 4
        assert [p.sequence_number for p in handed] == [10, 11, 12, 13]
        assert [p.timestamp for p in handed] == [90000, 90960, 101760, 102720]
        assert dtmf.last_rtp_at == 100.0 + len(wire) - 1
        assert dtmf.rtp_packets_received == len(wire)
        assert dtmf.reception.expected == 10
        assert dtmf.reception.received == 11
        assert dtmf.reception.lost == -1  # the duplicate, as RFC 3550 A.3 counts

    async def test_lost_end_packets_and_the_other_payload_type(self) -> None:
        _dtmf, transport, digits = attached()
        first = encode_payload(1, end=False, volume=10, duration=160)
        second = encode_payload(11, end=True, volume=10, duration=800)
        await transport._handle_rtp_data(rtp(1, 8000, pt=101, payload=first), 0)
        assert digits == []
        await transport._handle_rtp_data(rtp(2, 16000, pt=101, payload=second), 0)
        assert digits == ["1", "#"]
        await transport._handle_rtp_data(rtp(3, 16000, pt=101, payload=second), 0)
        assert digits == ["1", "#"]
        assert transport.handed == []


def test_inbound_numbering_stays_continuous_long_after_events() -> None:
    """Removed numbers far behind the audio are forgotten: half a sequence cycle later they
    would look ahead again (16-bit serial arithmetic) and shift the audio twice."""
    sequencer = InboundSequencer()
    for seq in range(100, 105):
        sequencer.event(seq)
    out = [sequencer.audio(seq & 0xFFFF) for seq in range(105, 105 + 70000)]
    assert out == [(seq - 5) & 0xFFFF for seq in range(105, 105 + 70000)]
