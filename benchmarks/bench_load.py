#!/usr/bin/env python3
"""Signalling load: SIPp UAC -> Kamailio -> our UAS (benchmarks/load_uas.py), no media.

Each call is INVITE / 100 / 200 / ACK / BYE / 200 through a record-routing Kamailio (no INVITE
auth). For every rate of the ladder a fresh Kamailio and UAS run SIPp for ``--seconds``; the
table gives successful and failed calls, SIPp's retransmissions and the CPU seconds each side
used. SIPp, Kamailio and the UAS share the machine's cores.

    .venv/bin/python benchmarks/bench_load.py                  # 200 ... 1000 calls/s, 20 s each
    .venv/bin/python benchmarks/bench_load.py --rates 600 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the interop helpers live in the tests package

from tests.interop.kamailio_peer import Kamailio  # noqa: E402
from tests.interop.ports import free_ports  # noqa: E402
from tests.interop.sipp_peer import Sipp  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process and its descendants (Kamailio forks workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, total, todo = set(), 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in tree or current not in stats:
            continue
        tree.add(current)
        total += stats[current][1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def run_rate(rate: int, seconds: int, workdir: Path) -> dict[str, object]:
    kam = Kamailio(
        workdir / f"kam-{rate}", defines={"NO_INVITE_AUTH": True}, children=4, shm_mb=512
    )
    kam.start()
    uas = None
    try:
        host, port = kam.address("udp")
        uas = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "load_uas.py"),
                "--registrar",
                f"{host}:{port}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert uas.stdout is not None
        ready = uas.stdout.readline().strip()
        if not ready.startswith("READY"):
            raise RuntimeError(f"UAS did not register: {ready}")
        kam_cpu0 = cpu_seconds(kam.pid or 0)
        sipp = Sipp(workdir / f"sipp-{rate}")
        (sipp_port,) = free_ports(1, "udp")
        started = time.monotonic()
        result = sipp.run(
            "uac_invite_bye.xml",
            "-s", "bob", "-r", rate, "-m", rate * seconds, "-d", 0,
            "-p", sipp_port, "-recv_timeout", 10000, "-max_recv_loops", 10000,
            remote=f"{host}:{port}",
            variables={"caller": "alice", "domain": host},
            trace_msg=False,
            timeout=seconds * 4 + 30,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        kam_cpu = cpu_seconds(kam.pid or 0) - kam_cpu0
        uas.terminate()
        out, _ = uas.communicate(timeout=30)
        stats = json.loads(out.strip().splitlines()[-1])
        return {
            "rate": rate,
            "calls": result.successful_calls,
            "failed": result.failed_calls,
            "retrans": result.retransmissions,
            "elapsed": round(elapsed, 1),
            "uas_cpu": stats["cpu_s"],
            "kam_cpu": round(kam_cpu, 1),
            "answered": stats["answered"],
        }
    finally:
        if uas is not None and uas.poll() is None:
            uas.kill()
        kam.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,400,600,800,1000")
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for rate in rates:
            row = run_rate(rate, args.seconds, Path(tmp))
            rows.append(row)
            print(f"# {row}", file=sys.stderr, flush=True)
    print("| calls/s offered | successful | failed | SIPp retransmissions | "
          "UAS CPU s | Kamailio CPU s | wall s |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['rate']} | {r['calls']} | {r['failed']} | {r['retrans']} | "
            f"{r['uas_cpu']} | {r['kam_cpu']} | {r['elapsed']} |"
        )
    clean = [int(str(r["rate"])) for r in rows if r["failed"] == 0 and int(str(r["calls"])) > 0]
    print(f"\nhighest rate with 0 failed calls: {max(clean) if clean else 'none'} calls/s "
          f"({args.seconds} s per rate)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
