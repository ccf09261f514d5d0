#!/usr/bin/env python3
"""Parse and serialize throughput of ``sipcore`` against other pure-Python SIP libraries.

Run from the project root::

    .venv/bin/python benchmarks/bench_sip.py                 # full run, Markdown on stdout
    .venv/bin/python benchmarks/bench_sip.py --quick         # fewer and shorter rounds
    .venv/bin/python benchmarks/bench_sip.py --markdown benchmarks/results/sip.md

Two messages are built in ``sip_messages.py``: a WebRTC INVITE as a browser (JsSIP / SIP.js)
sends it over a secure WebSocket and a proxy forwards it, with its SDP offer, and a 200 OK to
REGISTER.

Parsing contenders, per message (their adapters are in ``sip_contenders.py``):

* ``sipcore.parse_message`` alone, and followed by typed access to the top Via branch, the
  From and To tags, the To URI, the CSeq number, the Call-ID, the first Contact URI and its
  ``expires`` parameter;
* sipmessage ``Message.parse`` (header values kept as strings; the Request-URI is typed), and
  the same followed by the same fields through its typed classes (Via, Address, CSeq);
* sippy ``SipRequest`` / ``SipResponse`` built from the decoded text, as its transaction
  manager does, alone and followed by the same fields through ``getHFBody`` (sippy parses a
  header body on first access);
* a naive floor: split head from body, split the head into lines, ``partition(b":")`` each.

Serialization contenders: ``bytes(msg)`` of a message parsed by sipcore, the same message
built from scratch with sipcore's ``build_request`` / ``build_response`` and then
``bytes()``, ``bytes(msg)`` for sipmessage, ``str(msg).encode()`` for sippy (what
``localStr()`` yields without a local address), and a naive floor that joins the partitioned
lines of the naive parse.

Every contender's result is checked against the known content before it is timed. Each
contender is timed in rounds of N calls (N sized for a target duration per round) with the
garbage collector enabled; a round is cut into batches interleaved with the other contenders'
so that drift of a shared CPU spreads evenly, and the median per-call time over the rounds is
reported.

If ``sipcore`` cannot be imported the peers are still measured and its rows say why.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import timeit
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: benchmarks/ is then on the path, not ROOT

from benchmarks.sip_contenders import (  # noqa: E402
    GROUPS,
    Contender,
    Group,
    Libraries,
    Runner,
    Unavailable,
)
from benchmarks.sip_messages import TestMessage, register_ok, webrtc_invite  # noqa: E402

# --------------------------------------------------------------------------- timing


@dataclass
class Run:
    contender: Contender
    runner: Runner | None = None
    number: int = 0
    samples: list[float] = field(default_factory=list)  # seconds per call, one per round
    problem: str = ""
    output: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def iqr(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4)
        return q3 - q1


def _timer(runner: Runner) -> timeit.Timer:
    # timeit switches the collector off while timing; the setup switches it back on.
    return timeit.Timer(runner, setup=gc.enable)


def calibrate(runner: Runner, seconds: float) -> int:
    """Calls per round so that one round lasts about ``seconds``."""
    timer = _timer(runner)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min(0.02, seconds / 2):
            break
        number *= 10 if elapsed < 0.002 else 2
    return max(1, round(number * seconds / elapsed))


@dataclass(frozen=True)
class Settings:
    repeats: int  # rounds per contender
    seconds: float  # target duration of one contender's round
    slices: int  # batches a round is cut into, interleaved across contenders


def measure(group: Group, msg: TestMessage, libs: Libraries, settings: Settings) -> list[Run]:
    """Build and check every contender, then time ``settings.repeats`` rounds of each.

    A round is cut into ``settings.slices`` equal batches and the batches of all contenders
    are interleaved, in an order that rotates, so that the slow and fast phases of a shared or
    frequency-scaling CPU fall on every contender alike.
    """
    slices = settings.slices
    runs = [Run(c) for c in group.contenders]
    for run in runs:
        try:
            run.runner = run.contender.build(msg, libs)
        except Unavailable as exc:
            run.problem = f"not run: {exc}"
        except Exception as exc:
            run.problem = f"failed verification: {type(exc).__name__}: {exc}"
        else:
            run.output = run.runner()
            run.number = max(1, round(calibrate(run.runner, settings.seconds) / slices))
    active = [(run, _timer(run.runner)) for run in runs if run.runner is not None]
    for round_no in range(settings.repeats):
        totals = [0.0] * len(active)
        for slice_no in range(slices):
            shift = (round_no * slices + slice_no) % len(active) if active else 0
            for i in [*range(shift, len(active)), *range(shift)]:
                run, timer = active[i]
                totals[i] += timer.timeit(run.number)
        for (run, _), total in zip(active, totals, strict=True):
            run.samples.append(total / (run.number * slices))
        print(
            f"  {msg.key} / {group.title}: round {round_no + 1}/{settings.repeats}",
            file=sys.stderr,
        )
    return runs


# --------------------------------------------------------------------------- report


def _us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:.3f}" if us < 1 else f"{us:.2f}" if us < 100 else f"{us:.1f}"


def _ratio(run: Run, ref: Run | None) -> str:
    if ref is None or not ref.samples or not run.samples:
        return "—"
    return f"{run.median / ref.median:.2f}×"


def render_group(group: Group, runs: list[Run], msg: TestMessage) -> list[str]:
    by_name = {run.contender.name: run for run in runs}
    peer, floor = by_name.get(group.peer_ref), by_name.get(group.floor_ref)
    extra_head, extra_rule = (" same bytes |", ":---:|") if group.serializes else ("", "")
    lines = [
        f"**{group.title}**",
        "",
        f"| Contender | Timed | median µs/op | IQR µs | best µs | ops/s (median) "
        f"| ÷ {group.peer_ref} | ÷ {group.floor_ref} |{extra_head}",
        f"|---|---|---:|---:|---:|---:|---:|---:|{extra_rule}",
    ]
    problems: list[str] = []
    for run in runs:
        c = run.contender
        if run.samples:
            same = ""
            if group.serializes:
                same = " yes |" if run.output == msg.data else " no |"
            lines.append(
                f"| {c.name} | {c.timed} | {_us(run.median)} | {_us(run.iqr)} | {_us(run.best)} "
                f"| {1 / run.median:,.0f} | {_ratio(run, peer)} | {_ratio(run, floor)} |{same}"
            )
        else:
            blanks = " |" * (6 if group.serializes else 5)
            lines.append(f"| {c.name} | {c.timed} | n/a |{blanks}")
            problems.append(f"- **{c.name}**: {run.problem}")
    lines.append("")
    if problems:
        lines += [*problems, ""]
    return lines


def environment(libs: Libraries, settings: Settings) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.partition(":")[2].strip()
                    break
    except OSError:
        pass
    return [
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {cpu}",
        f"- sipcore: {libs.sipcore.status}",
        f"- sipmessage: {libs.sipmessage.status}; sippy: {libs.sippy.status}",
        f"- {settings.repeats} rounds per contender of about {settings.seconds * 1000:.0f} ms of "
        f"calls each, every round cut into {settings.slices} batches interleaved with the other "
        "contenders'; GC enabled",
        "- median µs/op, IQR and best are the median, interquartile range and minimum of the "
        "per-call time over the rounds; ops/s = 1 / median",
        "- ratios are median time ÷ the reference's median time (below 1 = faster than it)",
    ]


def report(
    messages: list[TestMessage],
    results: dict[str, list[list[Run]]],
    libs: Libraries,
    settings: Settings,
) -> str:
    out = ["# SIP message parse / serialize benchmark", ""]
    out += environment(libs, settings)
    out.append("")
    out.append(
        "Message sizes: "
        + ", ".join(
            f"{m.title}: {len(m.data)} bytes ({m.head_size} head + {len(m.body)} body)"
            for m in messages
        )
    )
    out.append("")
    for msg in messages:
        out.append(f"## {msg.title}: {len(msg.data)} bytes")
        out.append("")
        for group, runs in zip(GROUPS, results[msg.key], strict=True):
            out += render_group(group, runs, msg)
    out += ["## Notes", ""]
    if libs.sipcore.module is None:
        out += [f'- **The sipcore rows ("ours") were not run: sipcore {libs.sipcore.status}.**']
    out += [f"- {group.title}: {note}" for group in GROUPS for note in group.notes]
    return "\n".join(out).rstrip() + "\n"


def rows(quick: bool = False) -> list[tuple[str, str, float | None, float | None]]:
    """The results as data: (message / group, contender, median µs per op, that median ÷ the
    group's peer median); None where a contender could not run."""
    settings = Settings(repeats=5 if quick else 15, seconds=0.05 if quick else 0.2, slices=5)
    libs = Libraries.load()
    out: list[tuple[str, str, float | None, float | None]] = []
    for msg in (webrtc_invite(), register_ok()):
        for group in GROUPS:
            runs = measure(group, msg, libs, settings)
            peer = next((r for r in runs if r.contender.name == group.peer_ref), None)
            for run in runs:
                median = run.median * 1e6 if run.samples else None
                ratio = None
                if median is not None and peer is not None and peer.samples:
                    ratio = run.median / peer.median
                out.append((f"{msg.title} / {group.title}", run.contender.name, median, ratio))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="5 rounds of ~50 ms instead of 15 rounds of ~200 ms"
    )
    parser.add_argument("--markdown", metavar="PATH", type=Path, help="also write the report here")
    parser.add_argument("--repeats", type=int, help="rounds per contender (overrides the default)")
    parser.add_argument("--seconds", type=float, help="target duration of one round in seconds")
    parser.add_argument("--slices", type=int, help="interleaved batches per round (default 10)")
    args = parser.parse_args(argv)

    settings = Settings(
        repeats=args.repeats or (5 if args.quick else 15),
        seconds=args.seconds or (0.05 if args.quick else 0.2),
        slices=args.slices or (5 if args.quick else 10),
    )
    libs = Libraries.load()
    messages = [webrtc_invite(), register_ok()]
    for msg in messages:
        print(f"{msg.title}: {len(msg.data)} bytes", file=sys.stderr)
    print(f"sipcore: {libs.sipcore.status}", file=sys.stderr)

    results = {
        msg.key: [measure(group, msg, libs, settings) for group in GROUPS] for msg in messages
    }
    text = report(messages, results, libs, settings)
    sys.stdout.write(text)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
