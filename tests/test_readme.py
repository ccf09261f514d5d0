"""The README's examples run as written: each ```python block is run as a script against the
server and callee its "Trying the examples" section starts (those commands are taken from the
README too), and every command line of its ```sh blocks is accepted by the CLI's parser.

The only change made to the README's text is the server's port: the server is started on a free
port and ``127.0.0.1:8443`` is replaced by its address, so that parallel runs do not collide.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from client import cli, server_cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ADDRESS = "127.0.0.1:8443"
"""The server address the README's examples use; replaced by the test server's."""

EXPECTED: dict[str, list[str]] = {
    "Calls": [r"^CallStats\(codec='opus'", r"^call ended: EndReason\.LOCAL_HANGUP$"],
    "Web-client facade": [
        r"^registration: registered alice$",
        r"^registered$",
        r"^call: connected outgoing$",
        r"^call: callEnded outgoing$",
        r"^registration: unregistered alice$",
    ],
    "Using the engine": [r"^Registered\(expires=\d+", r"^Unregistered$"],
    "Mobile-voice facade": [
        r"^ready$",
        r"^established: bob$",
        r"^CallStatistics\(codec='opus'",
        r"^ended: EndReason\.LOCAL_HANGUP$",
    ],
}
"""Lines each section's example prints (regular expressions, in this order)."""
DIALS_BOB = {"Calls", "Web-client facade", "Mobile-voice facade"}
"""Sections whose example calls bob: his softphone must see that call end well."""
EXAMPLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Block:
    section: str
    lang: str
    text: str


def blocks(lang: str) -> list[Block]:
    """The README's fenced blocks of ``lang``, with the ``##`` section each is in."""
    found: list[Block] = []
    section = ""
    fence: str | None = None
    lines: list[str] = []
    for line in README.read_text().splitlines(keepends=True):
        if fence is None:
            if line.startswith("## "):
                section = line[3:].strip()
            elif line.startswith("```"):
                fence = line[3:].strip()
                lines = []
        elif line.rstrip() == "```":
            if fence == lang:
                found.append(Block(section, fence, "".join(lines)))
            fence = None
        else:
            lines.append(line)
    return found


def commands(text: str) -> list[list[str]]:
    """The command lines of a shell block (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", text)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def split_env(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``VAR=value`` words and the command after them."""
    env: dict[str, str] = {}
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
        name, _, value = argv.pop(0).partition("=")
        env[name] = value
    return env, argv


def client_command(argv: list[str]) -> tuple[str, list[str]] | None:
    """(``phone`` or ``server``, its options) for ``python -m client phone|server ...``."""
    if argv[:3] == ["python", "-m", "client"] and len(argv) > 3:
        return argv[3], argv[4:]
    return None


# -- the sh blocks -------------------------------------------------------------------------------
def test_every_client_command_line_of_the_readme_parses() -> None:
    seen = {"phone": 0, "server": 0}
    parsers = {"phone": cli.build_parser(), "server": server_cli.build_parser()}
    for block in blocks("sh"):
        for line in commands(block.text):
            _, argv = split_env(line)
            if argv[-1:] == ["&"]:
                argv = argv[:-1]
            command = client_command(argv)
            if command is None:
                continue
            name, options = command
            assert name in parsers, f"{block.section}: unknown command {shlex.join(argv)}"
            try:
                parsers[name].parse_args(options)
            except SystemExit as exc:
                pytest.fail(f"{block.section}: {shlex.join(argv)} does not parse (exit {exc})")
            seen[name] += 1
    assert seen["phone"] >= 4 and seen["server"] >= 1, seen


def test_an_unknown_option_in_a_command_line_is_caught() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--aor", "sip:a@b", "--no-such-option"])
    with pytest.raises(SystemExit):
        server_cli.build_parser().parse_args(["--user", "alice"])  # no password


# -- the python blocks ----------------------------------------------------------------------------
class Process:
    """A background command of the README, its stdout lines collected as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._keep, args=(self.proc.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _keep(self, stream: IO[str]) -> None:
        self.stderr.extend(stream)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The next stdout line matching ``pattern``."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{self.argv[:4]}: no {pattern!r} in {timeout} s") from None
            if line is None:
                raise AssertionError(f"{self.argv[:4]} exited: {''.join(self.stderr)[-2000:]}")
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@dataclass
class Setup:
    cwd: Path
    env: dict[str, str]
    address: str
    bob: Process


def _env() -> dict[str, str]:
    """The environment of every process: this checkout's sources first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The README's "Trying the examples" commands, run in a fresh directory: the server on a
    free port (``--wss 0`` added) and bob's softphone (``--json`` added, the port replaced)."""
    (block,) = [b for b in blocks("sh") if b.section == "Trying the examples"]
    server_line, bob_line = commands(block.text)
    cwd = tmp_path_factory.mktemp("readme")
    started: list[Process] = []
    try:
        env, argv = split_env(server_line)
        assert argv[-1] == "&" and client_command(argv[:-1]) is not None, server_line
        server = Process([sys.executable, *argv[1:-1], "--wss", "0"], {**_env(), **env}, cwd)
        started.append(server)
        ready = server.wait_for(r"^ready: ")
        match = re.search(r"wss://(127\.0\.0\.1:\d+)", ready)
        assert match, ready
        address = match.group(1)
        assert (cwd / "ca.pem").is_file()

        env, argv = split_env(bob_line)
        assert argv[-1] == "&" and client_command(argv[:-1]) is not None, bob_line
        assert any(ADDRESS in word for word in argv), bob_line
        argv = [w.replace(ADDRESS, address) for w in argv[1:-1]]
        bob = Process([sys.executable, *argv, "--json"], {**_env(), **env}, cwd)
        started.append(bob)
        bob.wait_for(r'"event": "registration".*"state": "registered"')
        yield Setup(cwd, _env(), address, bob)
    finally:
        for process in reversed(started):
            process.stop()
    assert started[0].proc.returncode == 0, "".join(started[0].stderr)


def python_blocks() -> list[Any]:
    return [pytest.param(b, id=b.section.lower().replace(" ", "-")) for b in blocks("python")]


def test_the_readme_has_the_python_examples_this_test_knows() -> None:
    sections = [b.section for b in blocks("python")]
    assert sorted(sections) == sorted(EXPECTED), "give each new example its expected output"


@pytest.mark.parametrize("block", python_blocks())
def test_python_example_runs_as_written(setup: Setup, block: Block) -> None:
    assert block.section in EXPECTED, f"no expected output for the example in {block.section}"
    assert ADDRESS in block.text, f"{block.section}: the example does not use {ADDRESS}"
    script = setup.cwd / f"example_{len(list(setup.cwd.glob('example_*.py')))}.py"
    script.write_text(block.text.replace(ADDRESS, setup.address))

    result = subprocess.run(
        [sys.executable, script.name],
        cwd=setup.cwd,
        env=setup.env,
        check=False,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
    )

    assert result.returncode == 0, f"{block.section}:\n{result.stdout}\n{result.stderr}"
    lines = result.stdout.splitlines()
    position = 0
    for pattern in EXPECTED[block.section]:
        for index in range(position, len(lines)):
            if re.search(pattern, lines[index]):
                position = index + 1
                break
        else:
            pytest.fail(f"{block.section}: no line {pattern!r} (in order) in:\n{result.stdout}")
    if block.section in DIALS_BOB:
        line = setup.bob.wait_for(r'"event": "call_end"', timeout=10)
        ended = json.loads(line)
        assert ended["result"] == "ok" and ended["reason"] == "remote_hangup", ended
