#!/usr/bin/env python3
"""Every benchmark in one command, summarised in ``benchmarks/results/RESULTS.md`` and
``benchmarks/results/calls.png``.

    .venv/bin/python -m benchmarks.run_all [--quick] [--only calls,jitter]

With ``--only``, the other benchmarks' sections already in RESULTS.md are kept.

Runs ``bench_sip``, ``bench_transactions``, ``bench_rtp``, ``bench_jitter`` and
``bench_calls`` (each in a fresh process, through the function that returns its rows as
data), then writes one Markdown table per benchmark (medians, the peer, the ratio, the target
and whether it is met) and a plot of the calls benchmark (streams against CPU per
stream-second and against the lowest frames/s, ours and aiortc). A benchmark that fails is
reported as failed in the Markdown (and the exit status is 1); none is skipped.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Table:
    """One benchmark's section of RESULTS.md."""

    title: str
    command: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    targets: list[tuple[str, bool | None]] = field(default_factory=list)
    """(target, met); met None when the benchmark cannot tell."""
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    ran: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M"))

    def markdown(self) -> list[str]:
        out = [f"## {self.title}", "", f"`{self.command}` ({self.seconds:.0f} s, {self.ran})", ""]
        if self.error is not None:
            return [*out, "**Failed:**", "", "```", self.error.rstrip(), "```", ""]
        out.append("| " + " | ".join(self.header) + " |")
        out.append(
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.header))) + "|"
        )
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        out.append("")
        for target, met in self.targets:
            verdict = "n/a" if met is None else "yes" if met else "**no**"
            out.append(f"- Target: {target}. Met: {verdict}")
        out += [f"- {note}" for note in self.notes]
        out.append("")
        return out


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


# -- collectors --------------------------------------------------------------------------------


def sip(quick: bool) -> Table:
    from benchmarks import bench_sip

    table = Table(
        "SIP parse / serialize (bench_sip)",
        "python benchmarks/bench_sip.py" + (" --quick" if quick else ""),
        ["message / operation", "contender", "median µs/op", "÷ peer median"],
    )
    for group, contender, median, ratio in bench_sip.rows(quick):
        table.rows.append([group, contender, _num(median), _num(ratio)])
    table.notes.append("ratios below 1 are faster than the peer (sipmessage)")
    return table


def transactions(quick: bool) -> Table:
    from benchmarks import bench_transactions

    table = Table(
        "SIP transactions in memory (bench_transactions)",
        "python benchmarks/bench_transactions.py" + (" --quick" if quick else ""),
        ["exchange", "transport", "median transactions/s", "median µs each"],
    )
    for label, transport, rate, us in bench_transactions.rows(quick):
        table.rows.append([label, transport, _num(rate, 0), _num(us, 1)])
    table.notes.append("no peer in this benchmark (the sans-I/O layer alone)")
    return table


def rtp(quick: bool) -> Table:
    from benchmarks import bench_rtp

    table = Table(
        "RTP parse / serialize and G.711 (bench_rtp)",
        "python -m benchmarks.bench_rtp" + (" --quick" if quick else ""),
        ["measure", "ours median µs", "peer median µs", "peer ÷ ours"],
    )
    ok = []
    for row in bench_rtp.run(quick=quick):
        # bench_rtp gives seconds per call
        table.rows.append([row.name, _micros(row.ours), _micros(row.peer), f"{row.ratio:,.3g}"])
        if "parse" in row.name.lower() or "serial" in row.name.lower():
            ok.append(row.ratio >= 2.0)
    table.targets.append((">= 2x aiortc on parse and on serialize", all(ok) if ok else None))
    return table


def jitter(quick: bool) -> Table:
    from benchmarks import bench_jitter

    table = Table(
        "Jitter buffer (bench_jitter)",
        "python -m benchmarks.bench_jitter" + (" --quick" if quick else ""),
        ["measure", "ours", "aiortc", "ratio / unit"],
    )
    throughput = delivered = None
    for row in bench_jitter.rows(quick):
        table.rows.append([row.name, row.ours, row.peer, row.ratio])
        if row.name.startswith("throughput"):  # the collector off and on: both must hold
            ratio = _leading_float(row.ratio)
            if ratio is not None:
                throughput = ratio if throughput is None else min(throughput, ratio)
        elif row.name.startswith("frames delivered or concealed"):
            delivered = _leading_float(row.ours)
    met = None
    if throughput is not None and delivered is not None:
        met = throughput >= 3.0 and delivered >= 99.0
    table.targets.append((">= 3x aiortc throughput; >= 99 % of frames delivered", met))
    return table


def calls(quick: bool) -> Table:
    from benchmarks import bench_calls

    seconds = 5.0 if quick else 20.0
    ours = (10, 50) if quick else bench_calls.OURS_PAIRS
    peer = (10,) if quick else bench_calls.AIORTC_PAIRS
    table = Table(
        "Concurrent PCMU calls (bench_calls)",
        "python -m benchmarks.bench_calls" + (" --quick" if quick else ""),
        [
            "impl",
            "pairs",
            "streams",
            "CPU ms / stream-s",
            "min frames/s",
            "lag p99 ms",
            "CPU ÷ aiortc",
        ],
    )
    rows = bench_calls.run(seconds=seconds, ours=ours, aiortc=peer, beyond=not quick)
    for r in rows:
        table.rows.append(
            [
                r.impl,
                str(r.pairs),
                str(r.streams),
                _num(r.cpu_ms_per_stream_s),
                _num(r.min_fps, 1),
                _num(r.lag_p99_ms, 1),
                "-" if r.ratio is None else f"{r.ratio:.1f}x",
            ]
        )
    table.targets.append(
        (
            f">= {bench_calls.TARGET_STREAMS} streams, every stream >= "
            f"{bench_calls.TARGET_FPS:g} frames/s, <= {bench_calls.TARGET_CPU_MS:g} ms CPU per "
            "stream-second (one core)",
            bench_calls.met(rows),
        )
    )
    table.notes.append(f"{seconds:g} s of steady state per row, each row in a fresh process")
    table.notes.append("CPU ÷ aiortc: aiortc's CPU per stream-second at its smallest N ÷ the row's")
    _plot(rows, RESULTS / "calls.png")
    table.notes.append("plot: calls.png")
    return table


def _micros(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f}"


def _leading_float(text: str) -> float | None:
    match = re.match(r"[\d,.]+", text.strip())
    return float(match.group().replace(",", "")) if match else None


def _plot(rows: list[Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cpu, fps) = plt.subplots(1, 2, figsize=(11, 4.2))
    for impl, style in (("ours", "o-"), ("aiortc", "s--")):
        points = sorted((r.streams, r) for r in rows if r.impl == impl)
        if not points:
            continue
        streams = [s for s, _ in points]
        cpu.plot(streams, [r.cpu_ms_per_stream_s for _, r in points], style, label=impl)
        fps.plot(streams, [r.min_fps for _, r in points], style, label=impl)
    cpu.set(xlabel="streams", ylabel="CPU ms per stream-second", title="CPU cost")
    cpu.set_yscale("log")
    fps.set(xlabel="streams", ylabel="min frames/s over streams", title="Playout rate")
    fps.axhline(49, color="grey", linewidth=0.8, linestyle=":")
    for axis in (cpu, fps):
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


BENCHMARKS: dict[str, Callable[[bool], Table]] = {
    "sip": sip,
    "transactions": transactions,
    "rtp": rtp,
    "jitter": jitter,
    "calls": calls,
}


def run_all(quick: bool = False, only: list[str] | None = None) -> list[Table]:
    tables = []
    for name, collect in BENCHMARKS.items():
        if only and name not in only:
            continue
        print(f"run_all: {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            # a fresh process per benchmark: one benchmark's heap and caches do not weigh on
            # the next one's figures
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                table = pool.submit(collect, quick).result()
        except Exception:
            table = Table(name, f"benchmarks/run_all.py ({name})", [], error=traceback.format_exc())
        table.seconds = time.monotonic() - started
        tables.append(table)
    return tables


def write(tables: list[Table], quick: bool, only: list[str] | None = None) -> Path:
    """Write RESULTS.md; with ``only``, the sections of the other benchmarks already there are
    kept as they are (each section says when it ran)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "RESULTS.md"
    sections = {table.title: table.markdown() for table in tables}
    if only and path.exists():
        kept = _sections(path.read_text(encoding="utf-8"))
        sections = {title: sections.get(title, kept[title]) for title in kept} | sections
    lines = [
        "# Benchmark results",
        "",
        f"Made by `python -m benchmarks.run_all{' --quick' if quick else ''}`; each section says "
        "when it ran. Figures are medians unless a row says otherwise.",
        "",
    ]
    for section in sections.values():
        lines += section
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _sections(text: str) -> dict[str, list[str]]:
    """The ``## title`` sections of a RESULTS.md, each with its lines."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections[line[3:].strip()] = []
        if current is not None:
            current.append(line)
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short runs of every benchmark")
    parser.add_argument("--only", default="", help=f"comma list of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    only = [x for x in args.only.split(",") if x]
    unknown = set(only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    tables = run_all(args.quick, only)
    path = write(tables, args.quick, only)
    print(path.read_text(encoding="utf-8"))
    return 1 if any(t.error for t in tables) else 0


if __name__ == "__main__":
    sys.exit(main())
