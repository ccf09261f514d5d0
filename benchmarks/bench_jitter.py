#!/usr/bin/env python3
"""Audio jitter buffer: ``media.jitter.JitterBuffer`` against aiortc's ``JitterBuffer``.

Run from the project root::

    .venv/bin/python benchmarks/bench_jitter.py            # 100 k packets, 9 timed rounds
    .venv/bin/python benchmarks/bench_jitter.py --quick    # 20 k packets, 3 rounds

The trace (fixed seed): 20 ms PCMU packets (160 samples, 160 bytes) sent every 20 ms, a
one-way delay of 30 ms plus exponential jitter (mean 4 ms) with a 0.5 % chance of a 20 to 80 ms
spike, 5 % of neighbour pairs swapped on the wire, 1 % of the packets lost; the packets are
fed to both buffers in arrival order. aiortc's buffer is ``JitterBuffer(capacity=16,
prefetch=4)`` fed ``aiortc.rtp.RtpPacket`` objects made beforehand; its frames are what
``add()`` returns, at the arrival of the packet that completes them. Ours is fed the same
fields through ``push()`` and drained by ``pop(now)`` every 20 ms, as a playout clock does.

Throughput is packets per second over the whole replay (ours: pushes and pops), the median of
several rounds after one warm-up round of each buffer; the ratio is the median of the ratios of
the rounds, each round running the two buffers back to back. The rounds alternate the buffers
and the collector setting: off while timed (``timeit``'s convention: what the buffers cost) and
on (the harness keeps every frame out, so collections walk a growing heap: a cost of the
harness as much as of the buffers). Every round starts with ``gc.collect()``.

Added delay is the time a frame leaves the buffer minus its packet's arrival. A second trace
without loss or jitter loses one packet at 10 s and shows, for both buffers, the longest gap
between frames with a payload around the loss, the frames that arrived but never came out, and
the added delay a second later (aiortc: the 4 frames held before the hole are discarded,
output stops for 16 packets, and the buffer keeps 14 to 15 packets, about 300 ms, for the rest
of the call).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiortc.jitterbuffer import JitterBuffer as AiortcJitterBuffer  # noqa: E402
from aiortc.rtp import RtpPacket  # noqa: E402

from media.jitter import JitterBuffer, PlayoutFrame  # noqa: E402

RATE = 8000
FRAME = 160
PERIOD = 0.02
SSRC = 0x1234ABCD

Packet = tuple[int, int, int, bytes, float, bool]  # seq, ts, ssrc, payload, arrival, marker


@dataclass(frozen=True)
class Row:
    """One result: what was measured, our figure, the peer's, and their ratio or unit."""

    name: str
    ours: str
    peer: str
    ratio: str


def make_trace(
    count: int,
    *,
    seed: int = 7,
    loss: float = 0.01,
    swaps: float = 0.05,
    jitter: bool = True,
    lose: tuple[int, ...] = (),
) -> list[Packet]:
    """Packets in arrival order; sequence and timestamp start near their wrap points."""
    rng = random.Random(seed)
    seq0, ts0 = 65000, 0xFFFFFFFF - 50 * FRAME
    payload = bytes(range(160))
    arrivals = []
    for i in range(count):
        delay = 0.03
        if jitter:
            delay += rng.expovariate(1 / 0.004)
            if rng.random() < 0.005:
                delay += rng.uniform(0.02, 0.08)
        arrivals.append(i * PERIOD + delay)
    i = 0
    while i < count - 1:  # a neighbour swap: the later packet arrives first
        if rng.random() < swaps:
            low, high = sorted((arrivals[i], arrivals[i + 1]))
            arrivals[i], arrivals[i + 1] = high, low
            i += 2
        else:
            i += 1
    packets = [
        ((seq0 + i) & 0xFFFF, (ts0 + i * FRAME) & 0xFFFFFFFF, SSRC, payload, arrivals[i], False)
        for i in range(count)
        if i not in lose and rng.random() >= loss
    ]
    packets.sort(key=lambda p: p[4])
    return packets


# --------------------------------------------------------------------------- replays


@dataclass
class Outcome:
    frames: int  # frames out with a payload
    concealed: int  # frames out without (ours only)
    delays: list[float]  # per frame with a payload: out time - arrival
    seconds: float  # replay time


def schedule(packets: list[Packet]) -> list[tuple[Packet, tuple[float, ...]]]:
    """Each packet with the playout ticks (every 20 ms) that come before its arrival."""
    result = []
    k = 0
    for packet in packets:
        ticks = []
        while k * PERIOD <= packet[4]:
            ticks.append(k * PERIOD)
            k += 1
        result.append((packet, tuple(ticks)))
    return result


def _start_timing(gc_on: bool) -> float:
    """Collect garbage, so that every round starts alike; with ``gc_on`` false, keep the
    collector off until :func:`_stop_timing` (as ``timeit`` does)."""
    gc.collect()
    if not gc_on:
        gc.disable()
    return time.perf_counter()


def _stop_timing(start: float) -> float:
    seconds = time.perf_counter() - start
    gc.enable()
    return seconds


def replay_ours(
    packets: list[Packet],
    plan: list[tuple[Packet, tuple[float, ...]]],
    *,
    probe: float | None = None,
    gc_on: bool = True,
) -> tuple[Outcome, dict[str, object]]:
    """Push in arrival order, pop at every tick; ``probe``: also read the delays then."""
    jb = JitterBuffer(RATE)
    push, pop = jb.push, jb.pop
    frames: list[PlayoutFrame | None] = []
    append = frames.append
    info: dict[str, object] = {}
    start = _start_timing(gc_on)
    if probe is None:
        for (seq, ts, ssrc, payload, arrival, marker), ticks in plan:
            for tick in ticks:
                append(pop(tick))
            push(seq, ts, ssrc, payload, arrival, marker)
    else:
        for (seq, ts, ssrc, payload, arrival, marker), ticks in plan:
            for tick in ticks:
                append(pop(tick))
                if not info and tick > probe:
                    info = {
                        "delay": jb.delay,
                        "target": jb.target_delay,
                        "playout": jb.playout_delay,
                    }
            push(seq, ts, ssrc, payload, arrival, marker)
    seconds = _stop_timing(start)
    arrival_of = {p[1]: p[4] for p in packets}
    all_ticks = [tick for _, ticks in plan for tick in ticks]
    delays = [
        tick - arrival_of[f[0]]
        for tick, f in zip(all_ticks, frames, strict=True)
        if f is not None and f[1] is not None
    ]
    concealed = sum(1 for f in frames if f is not None and f[1] is None)
    info["stats"] = jb.stats()
    return Outcome(len(delays), concealed, delays, seconds), info


def aiortc_packets(packets: list[Packet]) -> list[RtpPacket]:
    result = []
    for seq, ts, ssrc, payload, _arrival, marker in packets:
        rtp = RtpPacket(
            payload_type=0,
            marker=int(marker),
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=payload,
        )
        rtp._data = payload  # what aiortc's receiver sets before add()
        result.append(rtp)
    return result


def replay_aiortc(packets: list[Packet], rtp: list[RtpPacket], *, gc_on: bool = True) -> Outcome:
    jb = AiortcJitterBuffer(capacity=16, prefetch=4)
    add = jb.add
    outs: list[object] = []
    append = outs.append
    start = _start_timing(gc_on)
    for packet in rtp:
        append(add(packet)[1])
    seconds = _stop_timing(start)
    arrival_of = {p[1]: p[4] for p in packets}
    delays = [
        p[4] - arrival_of[f.timestamp]  # type: ignore[attr-defined]
        for p, f in zip(packets, outs, strict=True)
        if f is not None
    ]
    return Outcome(len(delays), 0, delays, seconds)


# --------------------------------------------------------------------------- single loss


@dataclass
class AfterLoss:
    """One buffer on the clean trace with one packet lost."""

    stall: float  # longest time between two frames out with a payload, around the loss
    concealed: int  # frames out without a payload
    never_delivered: int  # packets sent within 1 s of the loss that arrived and never came out
    held: int  # packets held in the buffer 1 s after the loss
    delay: float  # added delay (out time - arrival) of the first frame out 1 s after the loss


def after_one_loss(lost: int = 500, tail: int = 200) -> dict[str, AfterLoss]:
    """Both buffers on the same clean trace (no jitter, no swaps) that loses packet ``lost``.

    aiortc's ``add()`` returns at most one frame per call, and only once ``prefetch`` complete
    frames follow it without a hole. After a hole it returns nothing until a packet lands
    ``capacity`` numbers past the oldest held one; ``smart_remove`` then discards the oldest
    packets, one per arrival, whether they were complete or not. The frames held before the
    hole are thrown away, never returned: counted here as frames sent within a second of the
    loss that arrived and never came out.
    """
    count = lost + tail
    packets = make_trace(count, loss=0.0, swaps=0.0, jitter=False, lose=(lost,))
    arrival_of = {p[1]: p[4] for p in packets}
    near = {p[1] for p in packets if abs(p[4] - 0.03 - lost * PERIOD) <= 1.0}
    probe = lost * PERIOD + 1.0
    lost_at = lost * PERIOD

    # ours: pop every 20 ms, frames out at the tick
    jb = JitterBuffer(RATE)
    out: list[tuple[float, int]] = []  # (time out, RTP timestamp) of frames with a payload
    concealed = 0
    held = -1
    for (seq, ts, ssrc, payload, arrival, marker), ticks in schedule(packets):
        for tick in ticks:
            if held < 0 and tick > probe:
                held = jb.packets
            frame = jb.pop(tick)
            if frame is not None:
                if frame[1] is None:
                    concealed += 1
                else:
                    out.append((tick, frame[0]))
        jb.push(seq, ts, ssrc, payload, arrival, marker)
    ours = _after_loss(out, concealed, held, near, arrival_of, lost_at, probe)

    # aiortc: a frame comes out at the arrival of the packet whose add() returns it
    peer_jb = AiortcJitterBuffer(capacity=16, prefetch=4)
    out = []
    held = -1
    for p, packet in zip(packets, aiortc_packets(packets), strict=True):
        if held < 0 and p[4] > probe:
            held = _held(peer_jb)
        frame = peer_jb.add(packet)[1]
        if frame is not None:
            out.append((p[4], frame.timestamp))
    peer = _after_loss(out, 0, held, near, arrival_of, lost_at, probe)
    return {"ours": ours, "aiortc": peer}


def _held(jb: AiortcJitterBuffer) -> int:
    return sum(1 for x in jb._packets if x is not None)


def _after_loss(
    out: list[tuple[float, int]],
    concealed: int,
    held: int,
    near: set[int],
    arrival_of: dict[int, float],
    lost_at: float,
    probe: float,
) -> AfterLoss:
    times = [t for t, _ in out]
    # the longest gap between two frames out with a payload, from 1 s before the loss to 1 s after
    stall = max(b - a for a, b in itertools.pairwise(times) if lost_at - 1.0 < b and a < probe)
    first_after = next((t, ts) for t, ts in out if t > probe)
    return AfterLoss(
        stall=stall,
        concealed=concealed,
        never_delivered=len(near - {ts for _, ts in out}),
        held=held,
        delay=first_after[0] - arrival_of[first_after[1]],
    )


# --------------------------------------------------------------------------- report


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rows(quick: bool = False) -> list[Row]:
    """Measure and return the results as data (for a summary table)."""
    count = 20_000 if quick else 100_000
    rounds = 3 if quick else 9
    packets = make_trace(count)
    plan = schedule(packets)
    rtp = aiortc_packets(packets)
    replay_ours(packets, plan)  # warm-up: the interpreter specializes the hot paths
    replay_aiortc(packets, rtp)
    # the rounds interleave both buffers and both collector settings, so that a slow spell
    # of the machine falls on all four series alike
    times: dict[tuple[str, bool], list[float]] = {}
    ours = peer = None
    for _ in range(rounds):
        for gc_on in (False, True):
            ours, _ = replay_ours(packets, plan, gc_on=gc_on)
            peer = replay_aiortc(packets, rtp, gc_on=gc_on)
            times.setdefault(("ours", gc_on), []).append(ours.seconds)
            times.setdefault(("aiortc", gc_on), []).append(peer.seconds)
    rates = {
        gc_on: (
            len(packets) / statistics.median(times["ours", gc_on]),
            len(packets) / statistics.median(times["aiortc", gc_on]),
            # the ratio of each round's pair, run back to back, then the median of those
            statistics.median(
                peer_s / ours_s
                for ours_s, peer_s in zip(times["ours", gc_on], times["aiortc", gc_on], strict=True)
            ),
        )
        for gc_on in (False, True)
    }
    assert ours is not None and peer is not None
    ours_share = (ours.frames + ours.concealed) / count
    peer_share = peer.frames / count

    lost_at = 500  # 10 s in
    probe = lost_at * PERIOD + 1.0 + 0.03
    # ours on the jittery trace: the target it adapted to, one second after a loss
    jittery = make_trace(lost_at + 200, lose=(lost_at,))
    _, jittery_probe = replay_ours(jittery, schedule(jittery), probe=probe)
    single = after_one_loss(lost_at)
    mine, theirs = single["ours"], single["aiortc"]
    ms = 1000
    return [
        *(
            Row(
                f"throughput (packets/s, median), garbage collector {'on' if gc_on else 'off'}",
                f"{rates[gc_on][0]:,.0f}",
                f"{rates[gc_on][1]:,.0f}",
                f"{rates[gc_on][2]:.2f}×",
            )
            for gc_on in (False, True)
        ),
        Row("frames delivered or concealed / sent", f"{ours_share:.2%}", f"{peer_share:.2%}", "%"),
        Row(
            "frames delivered with payload / sent",
            f"{ours.frames / count:.2%}",
            f"{peer.frames / count:.2%}",
            "%",
        ),
        Row(
            "mean added delay",
            f"{statistics.fmean(ours.delays) * ms:.1f}",
            f"{statistics.fmean(peer.delays) * ms:.1f}",
            "ms",
        ),
        Row(
            "p99 added delay",
            f"{_pct(ours.delays, 0.99) * ms:.1f}",
            f"{_pct(peer.delays, 0.99) * ms:.1f}",
            "ms",
        ),
        Row(
            "clean trace, one loss: longest gap between frames with payload",
            f"{mine.stall * ms:.0f} ({mine.concealed} concealed)",
            f"{theirs.stall * ms:.0f}",
            "ms",
        ),
        Row(
            "clean trace, one loss: frames that arrived and never came out",
            f"{mine.never_delivered}",
            f"{theirs.never_delivered}",
            "frames",
        ),
        Row(
            "clean trace, 1 s after one loss: added delay",
            f"{mine.delay * ms:.0f} ({mine.held} packets held)",
            f"{theirs.delay * ms:.0f} ({theirs.held} packets held)",
            "ms",
        ),
        Row(
            "jittery trace, 1 s after one loss: buffered delay",
            f"{jittery_probe['delay'] * ms:.0f} buffered, "
            f"{jittery_probe['playout'] * ms:.0f} playout "
            f"(target {jittery_probe['target'] * ms:.0f})",
            "",
            "ms",
        ),
    ]


def render(table: list[Row]) -> str:
    lines = ["| measure | ours | aiortc | ratio / unit |", "|---|---:|---:|---|"]
    lines += [f"| {r.name} | {r.ours} | {r.peer} | {r.ratio} |" for r in table]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, *, out: Callable[[str], object] = sys.stdout.write) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="20 k packets, 3 rounds")
    args = parser.parse_args(argv)
    out("# Audio jitter buffer: media.jitter vs aiortc\n\n")
    out(render(rows(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
