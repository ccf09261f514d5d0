"""The peers' processes: where their executables are, how they are started and stopped.

- :func:`find_binary`, :func:`require_binary` and :func:`missing_binaries` look for an
  executable on PATH and in the sbin directories; a missing one raises
  :class:`MissingBinaryError`, which names scripts/setup;
- :func:`spawn` starts a command directly (never through a shell, whose PID would not be the
  peer's), in its own process group; :func:`terminate_group` and :func:`kill_group` stop it
  by its PID, with everything in its group. Whatever is still running at interpreter exit is
  killed, in case a caller forgot to;
- :class:`LoggedProcess` is the common part of a long-running peer (Kamailio, coturn): one
  process at a time, its output appended to a log;
- :func:`tail` reads the end of a log, for error messages.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

SETUP_HINT = "run scripts/setup to install the interop peers (Kamailio, SIPp)"

# kamailio and kamcmd live in /usr/sbin, which is not on every user's PATH
_SEARCH_PATH = os.pathsep.join(
    p for p in (os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin") if p
)


class PeerError(RuntimeError):
    """A peer could not be started, did not answer, or failed."""


class MissingBinaryError(PeerError):
    """A peer's executable is not installed."""


def find_binary(name: str) -> str | None:
    """The path of an executable, looking in the sbin directories too."""
    return shutil.which(name, path=_SEARCH_PATH)


def require_binary(name: str) -> str:
    """The path of an executable; :class:`MissingBinaryError` naming the fix if absent."""
    path = find_binary(name)
    if path is None:
        raise MissingBinaryError(f"{name} not found: {SETUP_HINT}")
    return path


def missing_binaries(*names: str) -> list[str]:
    """The executables among ``names`` that are not installed."""
    return [name for name in names if find_binary(name) is None]


# --------------------------------------------------------------------------------------
# Processes


#: The processes started by :func:`spawn` and not stopped yet, by PID: killed at exit.
live_processes: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    cmd: list[str], *, cwd: Path, stdout: IO[bytes], stderr: IO[bytes] | int
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` directly, in a new session: its PID is also its process group."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    live_processes[proc.pid] = proc
    return proc


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running. Zombies do not count: killed
    workers are reparented to PID 1, which may reap them late."""
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` to the process group of ``proc`` (started by :func:`spawn`)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def terminate_group(
    proc: subprocess.Popen[bytes], *, sig: signal.Signals = signal.SIGTERM, grace: float = 5.0
) -> int:
    """Stop ``proc`` and everything in its process group: ``sig`` to the leader, then
    SIGKILL to the group after ``grace`` seconds. Returns the leader's exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=5.0)
    # children of the leader (Kamailio workers) leave on their own; make sure they did
    deadline = time.monotonic() + grace
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if _group_alive(proc.pid):
        _signal_group(proc, signal.SIGKILL)
    live_processes.pop(proc.pid, None)
    returncode = proc.returncode
    assert returncode is not None
    return returncode


def kill_group(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL the whole process group of ``proc`` at once (a crash, as seen by peers)."""
    _signal_group(proc, signal.SIGKILL)
    proc.wait(timeout=5.0)
    deadline = time.monotonic() + 2.0
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    live_processes.pop(proc.pid, None)
    return proc.returncode


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(live_processes.values()):
        with contextlib.suppress(Exception):
            kill_group(proc)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class LoggedProcess:
    """One peer process at a time (started with :func:`spawn`), its stdout and stderr
    appended to ``log_path`` after a ``==== header`` line per start."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self, cmd: list[str], *, cwd: Path, header: str) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open while running
        self._log.write(f"==== {header}\n".encode())
        self._log.flush()
        self._proc = spawn(cmd, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT)

    def _end(self, stop: Callable[[subprocess.Popen[bytes]], int]) -> int | None:
        """Stop the process with ``stop`` (e.g. :func:`terminate_group`) and close the log;
        the exit status, or None when nothing was started."""
        proc, self._proc = self._proc, None
        status = stop(proc) if proc is not None else None
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        return status
