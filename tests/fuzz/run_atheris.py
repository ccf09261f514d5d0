"""Run each fuzz target under atheris for a while (used by scripts/fuzz).

    python -m tests.fuzz.run_atheris SECONDS [TARGET ...]

Every target runs in its own process (libFuzzer owns the process), with its seeds (the torture
messages, or the target's own valid inputs) as its corpus and a per-input time limit; findings are
written to .fuzz/<target>/.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child(name: str, args: list[str]) -> None:
    import atheris

    modules = ["sipcore", "media.rtp", "media.rtcp", "media.sdp", "media.sdp_values",
               "media.offer_answer", "media.dtmf", "media.jitter", "client.web.netcheck",
               "aioice.stun"]  # fmt: skip
    with atheris.instrument_imports(include=modules):
        from tests.fuzz.targets import TARGETS

    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *args], target)
    atheris.Fuzz()


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return 0
    from tests.fuzz.targets import TARGETS, seeds_for

    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    names = sys.argv[2:] or sorted(TARGETS)
    failures = []
    for name in names:
        out = ROOT / ".fuzz" / name
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"corpus-{name}-") as corpus:
            for i, seed in enumerate(seeds_for(name)):
                (Path(corpus) / f"seed{i}").write_bytes(seed)
            cmd = [
                sys.executable, "-m", "tests.fuzz.run_atheris", "--child", name,
                f"-max_total_time={seconds}", "-timeout=2", "-rss_limit_mb=2048",
                "-max_len=16384", f"-artifact_prefix={out}/", corpus,
            ]  # fmt: skip
            print(f"== {name}: {seconds} s", flush=True)
            result = subprocess.run(cmd, cwd=ROOT, check=False)
            if result.returncode != 0:
                failures.append(name)
    print("fuzz:", "findings in " + ", ".join(failures) if failures else "no finding")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
