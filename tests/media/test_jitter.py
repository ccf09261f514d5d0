"""media.jitter: playout order, loss concealment, reordering, wrap, resets, silence, drift."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.jitter import JitterBuffer, JitterConfig, PlayoutFrame

RATE = 8000
F = 160  # samples per 20 ms frame
T = 0.02
SSRC = 0x11223344


def payload(i: int) -> bytes:
    return i.to_bytes(4, "big")


class Stream:
    """Packet ``i`` is sent at ``i * T`` with timestamp ``ts0 + i * F``; pops every ``T``."""

    def __init__(self, jb: JitterBuffer, *, seq0: int = 1000, ts0: int = 5000) -> None:
        self.jb, self.seq0, self.ts0 = jb, seq0, ts0

    def push(self, i: int, arrival: float, *, marker: bool = False, ssrc: int = SSRC) -> None:
        self.jb.push(
            (self.seq0 + i) & 0xFFFF,
            (self.ts0 + i * F) & 0xFFFFFFFF,
            ssrc,
            payload(i),
            arrival,
            marker,
        )

    def index(self, frame: PlayoutFrame) -> int:
        return ((frame[0] - self.ts0) & 0xFFFFFFFF) // F


def run(
    jb: JitterBuffer, arrivals: list[tuple[float, int]], until: float, stream: Stream
) -> list[tuple[float, str, int | None]]:
    """Feed (arrival, i) in time order with pops at k*T; returns (tick, kind, index)."""
    events = sorted(arrivals)
    out: list[tuple[float, str, int | None]] = []
    k, pos = 0, 0
    while k * T <= until:
        tick = round(k * T, 9)
        while pos < len(events) and events[pos][0] <= tick:
            stream.push(events[pos][1], events[pos][0])
            pos += 1
        frame = jb.pop(tick)
        if frame is None:
            out.append((tick, "none", None))
        else:
            kind = "play" if frame[1] is not None else "conceal"
            if frame[1] is not None:
                assert frame[1] == payload(stream.index(frame))
            out.append((tick, kind, stream.index(frame)))
        k += 1
    return out


def played(out: list[tuple[float, str, int | None]]) -> list[tuple[str, int | None]]:
    return [(kind, i) for _, kind, i in out if kind != "none"]


def steady(n: int, delay: float = 0.005) -> list[tuple[float, int]]:
    return [(i * T + delay, i) for i in range(n)]


class TestPlayout:
    def test_in_order_starts_after_the_initial_delay(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        out = run(jb, steady(50), 1.2, s)
        # first packet arrives at 5 ms; the 60 ms initial target makes it play at the 80 ms tick
        assert next(e for e in out if e[1] != "none") == (0.08, "play", 0)
        assert played(out) == [("play", i) for i in range(50)]
        st_ = jb.stats()
        assert (st_.received, st_.played, st_.lost, st_.late) == (50, 50, 0, 0)

    def test_one_loss_is_exactly_one_concealed_frame(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        arrivals = [a for a in steady(60) if a[1] != 30]
        out = run(jb, arrivals, 1.6, s)
        expected = [("play", i) for i in range(30)]
        expected += [("conceal", 30)] + [("play", i) for i in range(31, 60)]
        assert played(out) == expected
        ticks = [t for t, kind, _ in out if kind != "none"]
        assert all(round(b - a, 6) == T for a, b in itertools.pairwise(ticks))
        assert jb.stats().lost == 1

    def test_reorder_and_duplicates(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        arrivals = steady(40)
        arrivals[10] = (arrivals[11][0] + 0.001, 10)  # overtaken by 11
        arrivals += [(arrivals[20][0] + 0.001, 20), (arrivals[5][0] + 0.5, 5)]  # duplicates
        out = run(jb, arrivals, 1.0, s)
        assert played(out) == [("play", i) for i in range(40)]
        st_ = jb.stats()
        assert (st_.reordered, st_.duplicates, st_.late, st_.played) == (1, 2, 0, 40)

    def test_late_packet_is_concealed_then_dropped(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        arrivals = [a if a[1] != 20 else (20 * T + 0.3, 20) for a in steady(40)]
        out = run(jb, arrivals, 1.5, s)
        assert ("conceal", 20) in played(out)
        assert [i for kind, i in played(out) if kind == "play"] == [i for i in range(40) if i != 20]
        assert jb.stats().late == 1
        assert jb.stats().lost == 1

    def test_packet_inside_a_played_frame_is_not_played_after_it(self) -> None:
        # 100 sits inside the frame at 0 (160 samples); the frame at 160 is played next, so 100,
        # still buffered, has had its time: it is dropped, not played after 160
        jb = JitterBuffer(RATE)
        jb.push(1, 0, SSRC, b"a", 0.0)
        jb.push(3, 160, SSRC, b"c", 0.001)
        jb.push(2, 100, SSRC, b"b", 0.002)
        out = [jb.pop(now) for now in (0.07, 0.09, 0.11, 0.13)]
        assert [(f[0], f[1]) if f else None for f in out] == [
            (0, b"a"), (160, b"c"), None, None,
        ]  # fmt: skip
        st_ = jb.stats()
        assert (st_.received, st_.reordered, st_.played, jb.packets) == (3, 1, 2, 0)

    @pytest.mark.parametrize(("seq0", "ts0"), [(65530, 0xFFFFFFFF - 3 * F), (0xFFFF, 0xFFFFFF00)])
    def test_sequence_and_timestamp_wrap(self, seq0: int, ts0: int) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb, seq0=seq0, ts0=ts0)
        arrivals = [a for a in steady(30) if a[1] != 8]
        arrivals[3] = (arrivals[4][0] + 0.001, 3)  # overtaken by 4
        out = run(jb, arrivals, 0.8, s)
        assert played(out) == [("play", i) if i != 8 else ("conceal", 8) for i in range(30)]
        assert jb.stats().resets == 0

    @pytest.mark.parametrize(("rate", "ms"), [(8000, 10), (8000, 30), (48000, 20), (48000, 60)])
    def test_frame_duration_is_learned(self, rate: int, ms: int) -> None:
        jb = JitterBuffer(rate)
        step = rate * ms // 1000
        for i in range(3):
            jb.push(i, i * step, SSRC, b"x", i * ms / 1000)
        assert jb.frame_samples == step
        assert jb.frame_duration == pytest.approx(ms / 1000)


class TestResets:
    def test_ssrc_change_restarts_playout(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        run(jb, steady(20), 0.5, s)
        other = Stream(jb, seq0=7, ts0=123456)
        for i in range(10):
            other.push(i, 0.6 + i * T, ssrc=0x55)
        frames = [jb.pop(0.6 + k * T) for k in range(15)]
        got = [other.index(f) for f in frames if f is not None and f[1] is not None]
        assert got == list(range(10))
        assert jb.stats().resets == 1

    def test_sequence_jump_is_confirmed_then_restarts(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        run(jb, steady(20), 0.5, s)
        jumped = Stream(jb, seq0=40000, ts0=9_000_000)
        jumped.push(0, 0.6)
        assert jb.stats().resets == 0  # one packet is not enough (RFC 3550 A.1)
        for i in range(1, 10):
            jumped.push(i, 0.6 + i * T)
        assert jb.stats().resets == 1
        frames = [jb.pop(0.6 + k * T) for k in range(15)]
        got = [jumped.index(f) for f in frames if f is not None and f[1] is not None]
        assert got == list(range(10))

    def test_timestamp_jump_restarts(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        run(jb, steady(10), 0.3, s)
        jb.push(1010, 5000 + 20 * RATE * 60, SSRC, b"x", 0.31)  # numbering goes on, +20 min
        assert jb.stats().resets == 1


class TestSilence:
    @pytest.mark.parametrize("gap_frames", [3, 100])
    def test_talkspurt_after_silence_resyncs_without_loss(self, gap_frames: int) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        first = list(range(20))
        second = list(range(20 + gap_frames, 40 + gap_frames))
        out = run(jb, [(i * T + 0.005, i) for i in first], 0.5, s)
        for k, i in enumerate(second):  # sequence numbers go on, timestamps leap
            jb.push(1020 + k, 5000 + i * F, SSRC, payload(i), i * T + 0.005, marker=k == 0)
        tail = [jb.pop(0.52 + k * T) for k in range(gap_frames + 30)]
        frames = [f for f in tail if f is not None]
        assert [s.index(f) for f in frames] == second
        assert all(f[1] is not None for f in frames)
        assert frames[0][2]
        assert played(out) == [("play", i) for i in first]
        assert jb.stats().lost == 0

    def test_empty_buffer_holds_the_position(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        arrivals = [a if a[1] < 20 else (a[0] + 0.2, a[1]) for a in steady(40)]  # spike
        out = run(jb, arrivals, 1.5, s)
        assert played(out) == [("play", i) for i in range(40)]
        assert jb.stats().lost == 0 and jb.stats().late == 0


class TestAdaptation:
    @pytest.mark.parametrize("ppm", [-300, 300])
    def test_clock_drift_keeps_the_delay_bounded(self, ppm: int) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        rng = random.Random(ppm)
        n = 30_000  # 10 minutes
        scale = 1 - ppm * 1e-6  # the sender's 20 ms last this long on our clock
        arrivals = [(i * T * scale + 0.03 + rng.uniform(0, 0.01), i) for i in range(n)]
        out = run(jb, arrivals, n * T * scale - 0.1, s)
        offsets = [jb.playout_delay]
        assert abs(offsets[0] - jb.target_delay) <= jb.frame_duration + 1e-9
        st_ = jb.stats()
        # 300 ppm over 10 min = 180 ms = 9 frames to drop or add
        if ppm > 0:
            assert 8 <= st_.skipped <= 12 and st_.inserted <= 2
        else:  # the buffer runs dry now and then: playout holds (None) a frame, or inserts one
            start = next(k for k, e in enumerate(out) if e[1] != "none")
            held = sum(1 for e in out[start:] if e[1] == "none")
            assert 8 <= held + st_.inserted <= 12 and st_.skipped <= 2
        assert st_.late == 0 and st_.lost == 0
        assert jb.delay <= jb.target_delay + 2 * T
        kinds = [i for kind, i in played(out) if kind == "play"]
        assert kinds == sorted(kinds)

    def test_target_grows_on_a_spike_and_comes_back(self) -> None:
        jb = JitterBuffer(RATE)
        s = Stream(jb)
        arrivals = steady(1000)
        arrivals[300] = (300 * T + 0.25, 300)
        targets: dict[int, float] = {}
        events = sorted(arrivals)
        pos = 0
        for k in range(1010):
            tick = k * T
            while pos < len(events) and events[pos][0] <= tick:
                s.push(events[pos][1], events[pos][0])
                pos += 1
            jb.pop(tick)
            targets[k] = jb.target_delay
            if k == 1000:
                final = jb.playout_delay
        assert targets[290] == pytest.approx(0.02)  # no jitter: the floor
        assert targets[320] == pytest.approx(0.255)  # the 245 ms spike + 10 ms headroom
        assert targets[1000] == pytest.approx(0.02)  # forgotten after 2 to 4 s
        assert final <= 0.02 + T + 1e-9  # and the delay followed it down
        assert jb.stats().skipped >= 10

    def test_overflow_bound(self) -> None:
        jb = JitterBuffer(RATE, JitterConfig(max_packets=10))
        s = Stream(jb)
        for i in range(50):
            s.push(i, i * 0.001)
        assert jb.packets == 10
        assert jb.stats().dropped == 40
        frame = jb.pop(1.0)
        assert frame is not None and s.index(frame) == 40


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["push", "pop"]),
            st.integers(-5, 40),  # frame offset from the running position
            st.floats(0, 0.2),  # time step
            st.booleans(),  # marker
            st.sampled_from([1, 1, 1, 2]),  # ssrc
        ),
        max_size=300,
    ),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
)
def test_any_sequence_keeps_order_and_bounds(
    ops: list[tuple[str, int, float, bool, int]], seq0: int, ts0: int
) -> None:
    jb = JitterBuffer(RATE, JitterConfig(max_packets=16))
    now, pos = 0.0, 0
    last: int | None = None  # extended timestamp of the last frame out, per stream run
    resets = 0
    for op, offset, step, marker, ssrc in ops:
        now += step
        if op == "push":
            i = max(0, pos + offset)
            jb.push((seq0 + i) & 0xFFFF, (ts0 + i * F) & 0xFFFFFFFF, ssrc, b"p", now, marker)
            pos = max(pos, i)
        else:
            frame = jb.pop(now)
            if jb.stats().resets != resets:
                resets, last = jb.stats().resets, None
            if frame is not None:
                ext = (frame[0] - ts0) & 0xFFFFFFFF
                if last is not None:
                    assert ext >= last
                last = ext
        assert jb.packets <= 16
        assert 0.02 <= jb.target_delay <= 0.5
    st_ = jb.stats()
    assert st_.played >= 0 and st_.received == sum(1 for o in ops if o[0] == "push")


class TestAccounting:
    def test_received_counts_every_path(self) -> None:
        # in-order packets across the sequence and timestamp wraps, a reorder, a duplicate,
        # an SSRC change and a confirmed sequence jump: received is every push, once
        jb = JitterBuffer(RATE)
        s = Stream(jb, seq0=0xFFFD, ts0=0xFFFFFFFF - 2 * F)
        for i in (0, 1, 2, 4, 3, 5, 5, 6):
            s.push(i, i * T)
        other = Stream(jb, seq0=9, ts0=77)
        for i in range(3):
            other.push(i, 0.2 + i * T, ssrc=0x55)
        jumped = Stream(jb, seq0=30000, ts0=5_000_000)
        for i in range(3):
            jumped.push(i, 0.3 + i * T, ssrc=0x55)
        st_ = jb.stats()
        assert st_.received == 14
        assert (st_.reordered, st_.duplicates, st_.resets) == (1, 1, 2)
        assert st_.played == 0 and jb.packets == 3

    def test_reordered_packet_older_than_the_first_before_playout(self) -> None:
        # a reordered number whose timestamp is older than the stream's first packet is not
        # late before playout starts: it is stored and played first
        jb = JitterBuffer(RATE)
        jb.push(10, 1600, SSRC, b"a", 0.0)
        jb.push(12, 1920, SSRC, b"c", 0.01)
        jb.push(11, 1000, SSRC, b"b", 0.02)
        frames = [jb.pop(0.2 + k * T) for k in range(3)]
        assert [f[1] for f in frames if f is not None][:1] == [b"b"]
        assert jb.stats().late == 0 and jb.stats().reordered == 1
