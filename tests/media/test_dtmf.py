from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media import dtmf
from media.dtmf import (
    DIGITS,
    DtmfPacket,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    decode_payload,
    digit_to_event,
    encode_payload,
    event_to_digit,
    info_body,
    parse_info,
)

SEGMENT = 0xFFFF


def feed_all(
    receiver: DtmfReceiver, packets: list[DtmfPacket], first_sequence: int = 0
) -> list[list[str]]:
    """Feed packets in list order with consecutive sequence numbers; per-packet results."""
    return [
        receiver.feed(
            sequence=(first_sequence + i) & 0xFFFF,
            timestamp=p.timestamp,
            marker=p.marker,
            payload=p.payload,
        )
        for i, p in enumerate(packets)
    ]


def flat(results: list[list[str]]) -> list[str]:
    return [digit for result in results for digit in result]


def train(
    digits: str, *, clock_rate: int = 8000, duration_ms: int = 100, gap: int = 400, start: int = 0
) -> list[DtmfPacket]:
    """Packets of several digits one after the other, ``gap`` units apart."""
    sender = DtmfSender(clock_rate)
    packets: list[DtmfPacket] = []
    ts = start
    for digit in digits:
        packets += sender.packets(digit, duration_ms=duration_ms, start_timestamp=ts)
        ts = (ts + sender.units(duration_ms) + gap) & 0xFFFFFFFF
    return packets


class TestPayload:
    def test_layout(self) -> None:
        # RFC 4733 §2.3: event, E|R|volume, 16-bit duration (network order)
        assert encode_payload(5, end=False, volume=10, duration=160) == b"\x05\x0a\x00\xa0"
        assert encode_payload(5, end=True, volume=10, duration=800) == b"\x05\x8a\x03\x20"
        assert encode_payload(11, end=True, volume=63, duration=0xFFFF) == b"\x0b\xbf\xff\xff"
        assert encode_payload(16, end=False, volume=0, duration=0) == b"\x10\x00\x00\x00"

    def test_decode(self) -> None:
        event = decode_payload(b"\x05\x8a\x03\x20")
        assert event == TelephoneEvent(event=5, end=True, volume=10, duration=800)
        assert event.digit == "5"
        assert event.encode() == b"\x05\x8a\x03\x20"
        assert decode_payload(bytearray(b"\x10\x00\x00\x00")).digit is None  # flash

    def test_reserved_bit_is_ignored(self) -> None:
        # RFC 4733 §2.3.3: the receiver MUST ignore R
        assert decode_payload(b"\x05\xca\x03\x20") == decode_payload(b"\x05\x8a\x03\x20")
        assert decode_payload(b"\x05\x7f\x00\x01") == TelephoneEvent(5, False, 63, 1)

    @pytest.mark.parametrize("payload", [b"", b"\x05", b"\x05\x8a\x03", b"\x05\x8a\x03\x20\x00"])
    def test_wrong_length(self, payload: bytes) -> None:
        with pytest.raises(ValueError, match="4 bytes"):
            decode_payload(payload)

    def test_redundant_payload_is_not_plain(self) -> None:
        # two events back to back only come in an RFC 2198 payload, not this one
        with pytest.raises(ValueError):
            decode_payload(b"\x05\x8a\x03\x20" * 2)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"event": 256}, "event"),
            ({"event": -1}, "event"),
            ({"volume": 64}, "volume"),
            ({"volume": -1}, "volume"),
            ({"duration": 0x10000}, "duration"),
            ({"duration": -1}, "duration"),
        ],
    )
    def test_encode_out_of_range(self, kwargs: dict[str, int], message: str) -> None:
        args: dict[str, Any] = {"event": 1, "end": False, "volume": 10, "duration": 0}
        args.update(kwargs)
        event = args.pop("event")
        with pytest.raises(ValueError, match=message):
            encode_payload(event, **args)

    def test_encode_rejects_non_int(self) -> None:
        with pytest.raises(TypeError):
            encode_payload(1.0, end=False, volume=10, duration=0)  # type: ignore[arg-type]

    @given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
    def test_round_trip(self, event: int, end: bool, volume: int, duration: int) -> None:
        payload = encode_payload(event, end=end, volume=volume, duration=duration)
        assert len(payload) == 4
        assert payload[1] & 0x40 == 0  # R sent as 0
        assert decode_payload(payload) == TelephoneEvent(event, end, volume, duration)

    @given(st.binary(min_size=4, max_size=4))
    def test_decode_round_trip(self, payload: bytes) -> None:
        assert (
            decode_payload(payload).encode() == bytes([payload[0], payload[1] & 0xBF]) + payload[2:]
        )


class TestDigits:
    def test_codes(self) -> None:
        # RFC 4733 §3.2
        assert [digit_to_event(d) for d in DIGITS] == list(range(16))
        assert [digit_to_event(d) for d in "abcd"] == [12, 13, 14, 15]
        assert [event_to_digit(i) for i in range(16)] == list(DIGITS)
        assert event_to_digit(16) is None
        assert event_to_digit(255) is None

    @pytest.mark.parametrize("digit", ["", "E", "e", "55", " ", "+", "٣", "**"])
    def test_invalid(self, digit: str) -> None:
        with pytest.raises(ValueError, match=r"invalid DTMF digit .*0-9, \*, #, A-D"):
            digit_to_event(digit)


class TestSender:
    def test_packets_of_one_digit(self) -> None:
        packets = DtmfSender().packets("5", start_timestamp=1000)
        events = [decode_payload(p.payload) for p in packets]
        assert [p.marker for p in packets] == [True] + [False] * 6
        assert {p.timestamp for p in packets} == {1000}
        assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
        assert [e.end for e in events] == [False] * 4 + [True] * 3
        assert {e.event for e in events} == {5}
        assert {e.volume for e in events} == {10}
        assert [p.offset_ms for p in packets] == [0, 20, 40, 60, 80, 100, 120]

    def test_48000(self) -> None:
        # telephone-event/48000 next to Opus: 20 ms = 960 units
        packets = DtmfSender(48000).packets("#", duration_ms=100, start_timestamp=7)
        events = [decode_payload(p.payload) for p in packets]
        assert [e.duration for e in events] == [960, 1920, 2880, 3840, 4800, 4800, 4800]
        assert {e.event for e in events} == {11}

    def test_duration_not_a_multiple_of_ptime(self) -> None:
        packets = DtmfSender(8000, 20).packets("1", duration_ms=50, volume=0, start_timestamp=0)
        events = [decode_payload(p.payload) for p in packets]
        assert [(e.duration, e.end) for e in events] == [
            (160, False),
            (320, False),
            (400, True),
            (400, True),
            (400, True),
        ]

    def test_shorter_than_ptime(self) -> None:
        packets = DtmfSender(8000, 50).packets("1", duration_ms=10, start_timestamp=0)
        assert [p.marker for p in packets] == [True, False, False]
        assert [decode_payload(p.payload).duration for p in packets] == [80, 80, 80]
        assert all(decode_payload(p.payload).end for p in packets)

    @pytest.mark.parametrize("clock_rate", [8000, 16000, 48000])
    @pytest.mark.parametrize("digit", [*DIGITS, "a", "d"])
    def test_decodes_back(self, clock_rate: int, digit: str) -> None:
        packets = DtmfSender(clock_rate).packets(digit, duration_ms=120, start_timestamp=99)
        events = [decode_payload(p.payload) for p in packets]
        assert {e.digit for e in events} == {digit.upper()}
        assert [p.marker for p in packets].count(True) == 1
        assert packets[0].marker
        ends = [p for p, e in zip(packets, events, strict=True) if e.end]
        assert len(ends) == 3
        assert ends == packets[-3:]
        assert len({p.payload for p in ends}) == 1
        assert decode_payload(ends[0].payload).duration == clock_rate * 120 // 1000
        durations = [e.duration for e in events]
        assert durations == sorted(durations)
        assert flat(feed_all(DtmfReceiver(), packets)) == [digit.upper()]

    def test_long_event_is_segmented(self) -> None:
        # RFC 4733 §2.5.1.3: 3 s at 48000 Hz = 144000 units = 0xFFFF + 0xFFFF + 12930
        start = 0xFFFFFFFF - 100
        packets = DtmfSender(48000).packets("9", duration_ms=3000, start_timestamp=start)
        events = [decode_payload(p.payload) for p in packets]
        segments = [start, (start + SEGMENT) & 0xFFFFFFFF, (start + 2 * SEGMENT) & 0xFFFFFFFF]
        assert sorted({p.timestamp for p in packets}) == sorted(segments)
        assert [p.marker for p in packets].count(True) == 1 and packets[0].marker
        finals = {
            ts: max(e.duration for p, e in zip(packets, events, strict=True) if p.timestamp == ts)
            for ts in segments
        }
        assert finals == {segments[0]: SEGMENT, segments[1]: SEGMENT, segments[2]: 12930}
        assert sum(finals.values()) == 144000
        for ts in segments[:2]:
            closing = [
                e
                for p, e in zip(packets, events, strict=True)
                if p.timestamp == ts and e.duration == SEGMENT
            ]
            assert len(closing) == 3  # §2.5.1.4: for each segment too
            assert not any(e.end for p, e in zip(packets, events, strict=True) if p.timestamp == ts)
        ends = [e for e in events if e.end]
        assert len(ends) == 3 and all(e.duration == 12930 for e in ends)
        assert [p.offset_ms for p in packets] == sorted(p.offset_ms for p in packets)
        assert packets[-1].offset_ms == 3020
        assert flat(feed_all(DtmfReceiver(), packets)) == ["9"]

    def test_segment_exactly_full(self) -> None:
        # 0xFFFF units is not a multiple of 160: the full segment's final packet is sent 3 times
        sender = DtmfSender(8000, 20)
        packets = sender.packets("0", duration_ms=9000, start_timestamp=0)
        first = [decode_payload(p.payload) for p in packets if p.timestamp == 0]
        assert [e.duration for e in first].count(SEGMENT) == 3
        assert flat(feed_all(DtmfReceiver(), packets)) == ["0"]

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"duration_ms": 0}, ValueError),
            ({"duration_ms": 60_001}, ValueError),
            ({"volume": 64}, ValueError),
            ({"start_timestamp": -1}, ValueError),
            ({"start_timestamp": 1 << 32}, ValueError),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, int], error: type[Exception]) -> None:
        args = {"duration_ms": 100, "volume": 10, "start_timestamp": 0, **kwargs}
        with pytest.raises(error):
            DtmfSender().packets("1", **args)

    def test_bad_digit(self) -> None:
        with pytest.raises(ValueError, match="invalid DTMF digit 'x'"):
            DtmfSender().packets("x", start_timestamp=0)

    @pytest.mark.parametrize(("rate", "ptime"), [(0, 20), (8001, 20), (8000, 0), (48000, 2000)])
    def test_bad_config(self, rate: int, ptime: int) -> None:
        with pytest.raises(ValueError):
            DtmfSender(rate, ptime)


class TestReceiver:
    def test_sequence_reported_at_first_end_packet(self) -> None:
        packets = train("1234#")
        results = feed_all(DtmfReceiver(), packets)
        assert flat(results) == list("1234#")
        first_ends: dict[int, int] = {}
        for index, packet in enumerate(packets):
            if decode_payload(packet.payload).end:
                first_ends.setdefault(packet.timestamp, index)
        assert [i for i, result in enumerate(results) if result] == list(first_ends.values())

    def test_three_end_packets_one_digit(self) -> None:
        packets = DtmfSender().packets("7", start_timestamp=0)
        receiver = DtmfReceiver()
        ends = [p for p in packets if decode_payload(p.payload).end]
        assert len(ends) == 3
        assert flat(feed_all(receiver, ends)) == ["7"]

    def test_duplicates(self) -> None:
        packets = train("55")  # the same digit twice is two events
        doubled = [p for p in packets for _ in range(2)]
        assert flat(feed_all(DtmfReceiver(), doubled)) == ["5", "5"]

    def test_end_before_start(self) -> None:
        packets = DtmfSender().packets("8", start_timestamp=500)
        receiver = DtmfReceiver()
        results = feed_all(receiver, [packets[-1], *packets[:-1]])
        assert results[0] == ["8"]
        assert flat(results[1:]) == []

    def test_lost_end_reported_when_next_event_starts(self) -> None:
        first = [
            p
            for p in DtmfSender().packets("1", start_timestamp=0)
            if not decode_payload(p.payload).end
        ]
        second = DtmfSender().packets("2", start_timestamp=1200)
        results = feed_all(DtmfReceiver(), first + second)
        assert flat(results[: len(first)]) == []
        assert results[len(first)] == ["1"]  # the new timestamp ends the old event
        assert flat(results) == ["1", "2"]

    def test_late_packet_of_reported_event(self) -> None:
        first = DtmfSender().packets("1", start_timestamp=0)
        second = DtmfSender().packets("2", start_timestamp=1200)
        receiver = DtmfReceiver()
        assert flat(feed_all(receiver, first[1:] + second)) == ["1", "2"]
        assert flat(feed_all(receiver, first[:1] + first + second)) == []

    def test_older_event_arriving_late_is_reported_once(self) -> None:
        first = DtmfSender().packets("1", start_timestamp=0)
        second = DtmfSender().packets("2", start_timestamp=1200)
        receiver = DtmfReceiver()
        assert flat(feed_all(receiver, second)) == ["2"]
        results = feed_all(receiver, first)
        assert results[0] == ["1"]  # a later event already started, so it is over
        assert flat(results) == ["1"]

    def test_non_digit_events(self) -> None:
        flash = [
            DtmfPacket(
                i == 0, 800, encode_payload(16, end=i >= 2, volume=10, duration=160 * (i + 1)), 0
            )
            for i in range(5)
        ]
        digit_without_end = DtmfSender().packets("3", start_timestamp=0)[:3]
        receiver = DtmfReceiver()
        results = feed_all(receiver, digit_without_end + flash)
        assert flat(results) == ["3"]  # the flash ends the digit but is not itself one
        assert results[3] == ["3"]

    def test_conflicting_event_code_at_same_timestamp(self) -> None:
        receiver = DtmfReceiver()
        assert (
            receiver.feed(
                sequence=1,
                timestamp=0,
                marker=True,
                payload=encode_payload(1, end=False, volume=10, duration=160),
            )
            == []
        )
        assert (
            receiver.feed(
                sequence=2,
                timestamp=0,
                marker=False,
                payload=encode_payload(2, end=True, volume=10, duration=320),
            )
            == []
        )
        assert receiver.feed(
            sequence=3,
            timestamp=0,
            marker=False,
            payload=encode_payload(1, end=True, volume=10, duration=320),
        ) == ["1"]

    def test_timestamp_wrap(self) -> None:
        packets = train("123", start=0xFFFFFFFF - 900, gap=200)
        timestamps = sorted({p.timestamp for p in packets})
        assert timestamps[0] < 1000 < 0xFFFFFFFF - 900 <= timestamps[-1]  # wrapped
        receiver = DtmfReceiver()
        assert flat(feed_all(receiver, packets)) == ["1", "2", "3"]
        # a late packet from before the wrap is still recognised as old
        assert flat(feed_all(receiver, packets[:2])) == []

    def test_events_across_wrap_in_any_order(self) -> None:
        packets = train("12", start=0xFFFFFFFF - 500)
        receiver = DtmfReceiver()
        second = [p for p in packets if p.timestamp < 1 << 31]
        first = [p for p in packets if p.timestamp >= 1 << 31]
        results = feed_all(receiver, second + first)
        assert flat(results) == ["2", "1"]

    def test_sequence_wrap(self) -> None:
        packets = train("90")
        results = feed_all(DtmfReceiver(), packets, first_sequence=0xFFFF - 5)
        assert flat(results) == ["9", "0"]

    @pytest.mark.parametrize(
        "payload", [b"", b"\x01", b"\x01\x02\x03", b"\x01\x82\x03\x20\x00", b"\x01\x82\x03\x20" * 2]
    )
    def test_malformed_payload_ignored(self, payload: bytes) -> None:
        receiver = DtmfReceiver()
        assert receiver.feed(sequence=0, timestamp=0, marker=True, payload=payload) == []
        packets = DtmfSender().packets("4", start_timestamp=0)
        assert flat(feed_all(receiver, packets)) == ["4"]

    def test_wrong_types_ignored(self) -> None:
        receiver = DtmfReceiver()
        bad: Any = None
        assert receiver.feed(sequence=0, timestamp=0, marker=True, payload=bad) == []
        assert (
            receiver.feed(sequence=0, timestamp=bad, marker=True, payload=b"\x01\x82\x03\x20") == []
        )

    @given(
        st.lists(
            st.tuples(
                st.integers(-(1 << 40), 1 << 40),
                st.integers(-(1 << 40), 1 << 40),
                st.booleans(),
                st.one_of(st.binary(max_size=9), st.binary(min_size=4, max_size=4)),
            ),
            max_size=60,
        )
    )
    def test_never_raises(self, packets: list[tuple[int, int, bool, bytes]]) -> None:
        receiver = DtmfReceiver(history=4)
        for sequence, timestamp, marker, payload in packets:
            out = receiver.feed(
                sequence=sequence, timestamp=timestamp, marker=marker, payload=payload
            )
            assert all(d in DIGITS for d in out)
        assert len(receiver._events) <= 5 + 1

    def test_bounded_memory(self) -> None:
        receiver = DtmfReceiver()
        packets = train("0123456789" * 5, gap=100)
        assert flat(feed_all(receiver, packets)) == list("0123456789" * 5)
        assert len(receiver._events) <= 33
        # a packet of a forgotten event must not be reported again
        assert flat(feed_all(receiver, packets[:10])) == []

    def test_long_event_with_end_bit_on_every_segment(self) -> None:
        # a sender that also marks intermediate segments as ended still gives one digit
        packets = [
            DtmfPacket(segment == 0, segment * SEGMENT, payload, 0)
            for segment, duration in enumerate([SEGMENT, SEGMENT, 800])
            for payload in [encode_payload(3, end=True, volume=10, duration=duration)] * 3
        ]
        assert flat(feed_all(DtmfReceiver(), packets)) == ["3"]
        assert flat(feed_all(DtmfReceiver(), packets[::-1])) == ["3"]

    def test_long_event_middle_segment_lost(self) -> None:
        packets = DtmfSender(8000).packets("6", duration_ms=20_000, start_timestamp=10)
        middle = (10 + SEGMENT) & 0xFFFFFFFF
        kept = [p for p in packets if p.timestamp != middle]
        assert flat(feed_all(DtmfReceiver(), kept)) == ["6"]
        assert flat(feed_all(DtmfReceiver(), kept[::-1])) == ["6"]

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def test_long_event_any_order(self, data: st.DataObject) -> None:
        packets = DtmfSender(48000).packets(
            "*", duration_ms=3000, start_timestamp=data.draw(st.integers(0, 0xFFFFFFFF))
        )
        shuffled = data.draw(st.permutations(packets))
        assert flat(feed_all(DtmfReceiver(), shuffled)) == ["*"]

    def test_long_event_memory(self) -> None:
        # 55 s at 48000 Hz is 41 segments; only the first and last stay remembered
        packets = DtmfSender(48000).packets("2", duration_ms=55_000, start_timestamp=5)
        assert len({p.timestamp for p in packets}) == 41
        receiver = DtmfReceiver()
        assert flat(feed_all(receiver, packets)) == ["2"]
        assert len(receiver._events) == 2
        assert flat(feed_all(receiver, packets[::-1])) == []

    @settings(max_examples=25, deadline=None)
    @given(st.integers(0, 2**32))
    def test_several_long_events_any_order(self, seed: int) -> None:
        packets = train("1*1", clock_rate=48000, duration_ms=20_000, gap=5000)
        # 45 segments in all, more than the receiver's history of 32 timestamps
        assert len({p.timestamp for p in packets}) == 45
        random.Random(seed).shuffle(packets)
        assert Counter(flat(feed_all(DtmfReceiver(), packets))) == Counter("1*1")

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.tuples(st.sampled_from(DIGITS), st.integers(20, 300), st.integers(0, 2000)),
            min_size=1,
            max_size=8,
        ),
        st.integers(0, 0xFFFFFFFF),
        st.integers(0, 0xFFFF),
        st.data(),
    )
    def test_any_permutation_reports_each_event_once(
        self,
        events: list[tuple[str, int, int]],
        start: int,
        first_sequence: int,
        data: st.DataObject,
    ) -> None:
        sender = DtmfSender(8000)
        sent: list[tuple[int, DtmfPacket]] = []
        ts = start
        for digit, duration_ms, gap in events:
            for packet in sender.packets(digit, duration_ms=duration_ms, start_timestamp=ts):
                sent.append(((first_sequence + len(sent)) & 0xFFFF, packet))
            ts = (ts + sender.units(duration_ms) + gap) & 0xFFFFFFFF
        arrived = data.draw(st.permutations(sent))
        duplicated = data.draw(st.lists(st.sampled_from(sent), max_size=10))
        receiver = DtmfReceiver()
        reported: list[str] = []
        for sequence, packet in [*arrived, *duplicated]:
            reported += receiver.feed(
                sequence=sequence,
                timestamp=packet.timestamp,
                marker=packet.marker,
                payload=packet.payload,
            )
        assert Counter(reported) == Counter(digit.upper() for digit, _, _ in events)

    def test_bad_history(self) -> None:
        with pytest.raises(ValueError):
            DtmfReceiver(history=0)


class TestSipInfo:
    def test_dtmf_relay(self) -> None:
        assert info_body("5") == ("application/dtmf-relay", b"Signal=5\r\nDuration=100\r\n")
        assert info_body("a", 250) == ("application/dtmf-relay", b"Signal=A\r\nDuration=250\r\n")
        assert (
            info_body("#", content_type="Application/DTMF-Relay")[1]
            == b"Signal=#\r\nDuration=100\r\n"
        )

    def test_dtmf(self) -> None:
        assert info_body("5", content_type="application/dtmf") == ("application/dtmf", b"5")
        assert info_body("*", content_type="application/dtmf") == ("application/dtmf", b"*")

    @pytest.mark.parametrize(
        ("args", "kwargs"),
        [(("x",), {}), (("5", 0), {}), (("5",), {"content_type": "text/plain"}), (("",), {})],
    )
    def test_info_body_errors(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            info_body(*args, **kwargs)

    @pytest.mark.parametrize(
        ("content_type", "body", "digit"),
        [
            ("application/dtmf-relay", b"Signal=5\r\nDuration=100\r\n", "5"),
            ("application/dtmf-relay", b"Signal= 1\r\nDuration= 160\r\n", "1"),
            ("application/dtmf-relay", b"signal=9\nduration=250\n", "9"),
            ("application/dtmf-relay", b"Duration=100\r\nSignal=#\r\n", "#"),
            ("application/dtmf-relay", b"Signal = *", "*"),
            ("application/dtmf-relay", b"SIGNAL=d\r\n", "D"),
            ("application/dtmf-relay", b"Signal=10\r\nDuration=100\r\n", "*"),
            ("application/dtmf-relay", b"Signal=11\r\n", "#"),
            ("application/dtmf-relay", b"Signal=12\r\n", "A"),
            ("Application/DTMF-Relay; charset=utf-8", b"Signal=0", "0"),
            (" application/dtmf-relay ", b"\r\nSignal=3\r\n\r\n", "3"),
            ("application/dtmf", b"5", "5"),
            ("application/dtmf", b" # \r\n", "#"),
            ("application/dtmf", b"b", "B"),
            ("application/dtmf", b"11", "#"),
        ],
    )
    def test_parse_info(self, content_type: str, body: bytes, digit: str) -> None:
        assert parse_info(content_type, body) == digit

    @pytest.mark.parametrize(
        ("content_type", "body"),
        [
            ("text/plain", b"Signal=5"),
            ("application/sdp", b"5"),
            ("application/dtmf-relay", b""),
            ("application/dtmf-relay", b"Signal=\r\n"),
            ("application/dtmf-relay", b"Duration=100\r\n"),
            ("application/dtmf-relay", b"Signal=16\r\n"),  # flash is not a digit
            ("application/dtmf-relay", b"Signal=55\r\n"),
            ("application/dtmf-relay", b"Signal=E\r\n"),
            ("application/dtmf-relay", b"Signal=\xff\r\n"),
            ("application/dtmf-relay", b"Signal=5" + b" " * 2000),
            ("application/dtmf", b""),
            ("application/dtmf", b"12 3"),
            ("application/dtmf", "٣".encode()),
        ],
    )
    def test_parse_info_not_dtmf(self, content_type: str, body: bytes) -> None:
        assert parse_info(content_type, body) is None

    @pytest.mark.parametrize("content_type", ["application/dtmf-relay", "application/dtmf"])
    @pytest.mark.parametrize("digit", [*DIGITS, "c"])
    def test_round_trip(self, content_type: str, digit: str) -> None:
        kind, body = info_body(digit, content_type=content_type)
        assert parse_info(kind, body) == digit.upper()

    @given(st.text(max_size=40), st.binary(max_size=80))
    def test_parse_info_never_raises(self, content_type: str, body: bytes) -> None:
        result = parse_info(content_type, body)
        assert result is None or result in DIGITS


def test_exports() -> None:
    for name in dtmf.__all__:
        assert hasattr(dtmf, name)
