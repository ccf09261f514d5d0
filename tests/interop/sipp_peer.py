"""SIPp for the interop tests, on loopback.

:class:`Sipp` runs the SIPp scenarios of ``tests/interop/sipp/`` (or any scenario file) in the
foreground or in the background (:class:`SippProcess`), with their statistics, screens,
unexpected messages and message traces in the caller's working directory, normally a pytest
tmp dir; :class:`SippResult` reads them back.

Processes are started and stopped with :mod:`tests.interop.processes`.
"""

from __future__ import annotations

import contextlib
import csv
import re
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .ports import LOOPBACK
from .processes import (
    PeerError,
    kill_group,
    live_processes,
    require_binary,
    spawn,
    tail,
    terminate_group,
)

HERE = Path(__file__).resolve().parent
SIPP_DIR = HERE / "sipp"


@dataclass(frozen=True)
class SippMessageStat:
    """One row of SIPp's scenario screen: a message of the scenario and its counters."""

    message: str  # "INVITE", "200", "Pause [0ms]", ...
    direction: Literal["send", "recv", "other"]
    count: int
    retrans: int
    timeouts: int
    unexpected: int
    lost: int


@dataclass
class SippResult:
    """How a SIPp run ended."""

    returncode: int
    successful_calls: int
    failed_calls: int
    retransmissions: int
    counters: dict[str, str]
    messages: list[SippMessageStat]
    command: list[str]
    files: dict[str, Path]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Exit status 0, no failed call and at least one successful call."""
        return (
            self.returncode == 0
            and not self.timed_out
            and self.failed_calls == 0
            and self.successful_calls > 0
        )

    def counter(self, name: str) -> int:
        """A cumulative counter of the statistics file, e.g. ``FailedTimeoutOnRecv``."""
        value = self.counters.get(f"{name}(C)", self.counters.get(name, "0"))
        return int(value) if value.isdigit() else 0

    def message(self, name: str, direction: str | None = None) -> list[SippMessageStat]:
        return [
            m
            for m in self.messages
            if m.message == name and (direction is None or m.direction == direction)
        ]

    def describe(self, lines: int = 30) -> str:
        """A summary for assertion messages: counters, command and the error log."""
        parts = [
            f"sipp exit {self.returncode}{' (timed out)' if self.timed_out else ''}: "
            f"{self.successful_calls} successful, {self.failed_calls} failed, "
            f"{self.retransmissions} retransmissions",
            "command: " + " ".join(self.command),
        ]
        failures = {
            k: v for k, v in self.counters.items() if k.startswith("Failed") and v not in ("", "0")
        }
        if failures:
            parts.append(f"failure counters: {failures}")
        for label in ("stderr", "errors"):
            path = self.files.get(label)
            text = tail(path, lines) if path is not None else ""
            if text:
                parts.append(f"--- {label} ({path}):\n{text}")
        if "messages" in self.files:
            parts.append(f"messages: {self.files['messages']}")
        return "\n".join(parts)


def _read_stat_csv(path: Path) -> dict[str, str]:
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = [row for row in csv.reader(f, delimiter=";") if row]
    except FileNotFoundError:
        return {}
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    return {name: value for name, value in zip(header, last, strict=False) if name}


_SCREEN_ROW = re.compile(r"^(?P<before>.*?)\s*(?P<arrow>-{3,}>|<-{3,})\s*(?P<after>.*)$")


def _parse_screen(text: str) -> tuple[list[SippMessageStat], dict[str, int]]:
    """The message table of the last scenario screen, and the cumulative
    "Successful call" / "Failed call" of the last statistics screen."""
    lines = text.splitlines()
    header_at = [i for i, line in enumerate(lines) if "Messages" in line and "Retrans" in line]
    messages: list[SippMessageStat] = []
    if header_at:
        header = lines[header_at[-1]]
        names = ["Messages", "Retrans", "Timeout", "Unexp", "Lost"]
        starts = [(header.find(n), n) for n in names if header.find(n) >= 0]
        starts.sort()
        for line in lines[header_at[-1] + 1 :]:
            if line.startswith("---") or not line.strip():
                if line.startswith("---"):
                    break
                continue
            first = starts[0][0]
            label_part = line[:first]
            columns: dict[str, int] = {}
            for idx, (pos, name) in enumerate(starts):
                end = starts[idx + 1][0] if idx + 1 < len(starts) else len(line)
                cell = line[pos:end].strip()
                columns[name] = int(cell) if cell.isdigit() else 0
            direction: Literal["send", "recv", "other"] = "other"
            label = label_part.strip()
            row = _SCREEN_ROW.match(label)
            if row:
                # UAC screens: "INVITE ---->" sent, "200 <----" received;
                # UAS screens: "----> INVITE" received, "<---- 180" sent
                outward = row.group("arrow").endswith(">")
                if row.group("before"):
                    label, direction = row.group("before"), "send" if outward else "recv"
                else:
                    label, direction = row.group("after"), "recv" if outward else "send"
            messages.append(
                SippMessageStat(
                    message=re.sub(r"\s+", " ", label),
                    direction=direction,
                    count=columns.get("Messages", 0),
                    retrans=columns.get("Retrans", 0),
                    timeouts=columns.get("Timeout", 0),
                    unexpected=columns.get("Unexp", 0),
                    lost=columns.get("Lost", 0),
                )
            )
    totals: dict[str, int] = {}
    for label, key in (("Successful call", "successful"), ("Failed call", "failed")):
        for line in lines:
            if line.strip().startswith(label):
                cells = [c.strip() for c in line.split("|")]
                if len(cells) >= 3 and cells[2].isdigit():
                    totals[key] = int(cells[2])
    return messages, totals


class SippProcess:
    """A SIPp run in the background (see :meth:`Sipp.start`)."""

    def __init__(self, proc: subprocess.Popen[bytes], command: list[str], files: dict[str, Path]):
        self._proc = proc
        self.command = command
        self.files = files
        self._result: SippResult | None = None
        self._timed_out = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def wait(self, timeout: float = 30.0) -> SippResult:
        """Wait for SIPp to exit; past ``timeout`` it is stopped and the result says
        ``timed_out``."""
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            self.stop(grace=1.0)
        return self.result()

    def stop(self, grace: float = 2.0) -> SippResult:
        """Ask SIPp to finish (SIGUSR1: no new call, calls in progress end); past
        ``grace`` seconds, SIGTERM, then SIGKILL. Statistics are final only if it
        finished within ``grace``."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGUSR1)
            try:
                self._proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                terminate_group(self._proc, sig=signal.SIGTERM, grace=2.0)
        live_processes.pop(self._proc.pid, None)
        return self.result()

    def kill(self) -> None:
        if self._proc.poll() is None:
            kill_group(self._proc)
        live_processes.pop(self._proc.pid, None)

    def result(self) -> SippResult:
        """The result, once SIPp has exited."""
        if self._result is not None:
            return self._result
        returncode = self._proc.poll()
        if returncode is None:
            raise PeerError(f"sipp (pid {self.pid}) is still running")
        live_processes.pop(self._proc.pid, None)
        counters = _read_stat_csv(self.files["stats"])
        screen = (
            self.files["screen"].read_text(errors="replace")
            if self.files["screen"].exists()
            else ""
        )
        messages, totals = _parse_screen(screen)

        def number(name: str, fallback: str) -> int:
            value = counters.get(name, "")
            return int(value) if value.isdigit() else totals.get(fallback, 0)

        self._result = SippResult(
            returncode=returncode,
            successful_calls=number("SuccessfulCall(C)", "successful"),
            failed_calls=number("FailedCall(C)", "failed"),
            retransmissions=number("Retransmissions(C)", "retransmissions"),
            counters=counters,
            messages=messages,
            command=self.command,
            files=self.files,
            timed_out=self._timed_out,
        )
        return self._result


class Sipp:
    """Runs SIPp scenarios with their traces in ``workdir``.

    Scenario names are looked up in ``tests/interop/sipp/`` first. Every run gets
    ``-nostdin``, ``-i 127.0.0.1`` (unless ``-i`` is given), a statistics file
    (``-trace_stat``), the final screens (``-trace_screen``), the unexpected messages
    (``-trace_err``) and, unless ``trace_msg=False``, every message (``-trace_msg``);
    :class:`SippResult` reads them.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.processes: list[SippProcess] = []
        self._runs = 0

    @staticmethod
    def scenario_path(scenario: str | Path) -> Path:
        candidate = SIPP_DIR / scenario
        if candidate.is_file():
            return candidate
        path = Path(scenario)
        if path.is_file():
            return path
        raise PeerError(f"no SIPp scenario {scenario!r} (looked in {SIPP_DIR} and {path})")

    def start(
        self,
        scenario: str | Path,
        *args: str | int,
        remote: str | None = None,
        variables: Mapping[str, str | int] | None = None,
        trace_msg: bool = True,
        name: str | None = None,
    ) -> SippProcess:
        """Start SIPp in the background: ``scenario`` (a file of tests/interop/sipp or a
        path), ``remote`` (``host:port``, for a UAC), ``variables`` (``-set``) and any
        other SIPp arguments in ``args``."""
        sipp = require_binary("sipp")
        path = self.scenario_path(scenario)
        self._runs += 1
        stem = f"{name or path.stem}-{self._runs}"
        files = {
            "stdout": self.workdir / f"{stem}.out",
            "stderr": self.workdir / f"{stem}.err",
            "stats": self.workdir / f"{stem}.csv",
            "screen": self.workdir / f"{stem}.screen",
            "errors": self.workdir / f"{stem}.errors",
        }
        extra = [str(a) for a in args]
        cmd = [sipp]
        if remote is not None:
            cmd.append(remote)
        cmd += ["-sf", str(path), "-nostdin"]
        if "-i" not in extra:
            cmd += ["-i", LOOPBACK]
        for key, value in (variables or {}).items():
            cmd += ["-set", key, str(value)]
        cmd += ["-trace_stat", "-stf", str(files["stats"]), "-fd", "1"]
        cmd += ["-trace_screen", "-screen_file", str(files["screen"])]
        cmd += ["-trace_err", "-error_file", str(files["errors"])]
        if trace_msg:
            files["messages"] = self.workdir / f"{stem}.messages"
            cmd += ["-trace_msg", "-message_file", str(files["messages"])]
        cmd += extra
        with open(files["stdout"], "wb") as out, open(files["stderr"], "wb") as err:
            proc = spawn(cmd, cwd=self.workdir, stdout=out, stderr=err)
        process = SippProcess(proc, cmd, files)
        self.processes.append(process)
        return process

    def run(
        self,
        scenario: str | Path,
        *args: str | int,
        remote: str | None = None,
        variables: Mapping[str, str | int] | None = None,
        trace_msg: bool = True,
        name: str | None = None,
        timeout: float = 30.0,
    ) -> SippResult:
        """Run SIPp in the foreground until it exits (or ``timeout``): see :meth:`start`."""
        process = self.start(
            scenario, *args, remote=remote, variables=variables, trace_msg=trace_msg, name=name
        )
        return process.wait(timeout=timeout)

    def cleanup(self) -> None:
        """Kill every SIPp still running."""
        for process in self.processes:
            process.kill()
