"""Runs the browser interop scenarios in a network namespace of its own and prints the result.

    unshare --net -- python -m tests.interop.browser.run --workdir DIR [--scenarios a,b]

(``tests/interop/test_browser.py`` does this.) ICE between Chromium and aiortc only pairs
loopback candidates when ``lo`` is the only interface, hence the namespace; the runner
refuses to run outside one. Inside, it brings ``lo`` up and starts, each on 127.0.0.1:
Kamailio with the project's configuration (WSS, digest auth on REGISTER and INVITE), a static
HTTP server for ``tests/interop/web``, the node playwright-core driver with headless Chromium
(fresh profile under the working directory) and our user agent. The JsSIP page registers
``alice``, the SIP.js page ``carol`` and we register ``bob``, all over WSS; then the
scenarios run in sequence, each with its own deadline. Every process started is stopped by
its PID at the end, also on failure, timeout or SIGTERM.

The last line on stdout is ``RESULT {json}``: ``ok`` (no scenario raised), ``error``, and per
scenario what both sides observed (see ``scenarios.py``). The log goes to stderr and to
``DIR/run.log``; Kamailio's, the browser's and the HTTP server's logs are in DIR too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

from sipcore.transport.pki import make_cert
from tests.interop.browser.driver import WEB, Browser, Page
from tests.interop.browser.ours import OurPhone
from tests.interop.browser.scenarios import SCENARIOS, Parties
from tests.interop.kamailio_peer import Kamailio
from tests.interop.ports import free_ports
from tests.interop.processes import missing_binaries, spawn, terminate_group

SETUP_HINT = "run scripts/setup"
BUNDLE = WEB / "build" / "jssip.bundle.js"
#: page kind -> (path, the user it registers)
PAGES = {"jssip": ("/pages/jssip.html", "alice"), "sipjs": ("/pages/sipjs.html", "carol")}
OURS_USER = "bob"
SCENARIO_TIMEOUT = 20.0


class RunError(RuntimeError):
    pass


class Log:
    def __init__(self, path: Path) -> None:
        self.start = time.monotonic()
        self.file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def __call__(self, text: str) -> None:
        line = f"{time.monotonic() - self.start:7.3f}s {text}"
        print(line, file=sys.stderr, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def check_namespace() -> None:
    """Only ``lo`` may exist (a fresh ``unshare --net``); bring it up."""
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        raise RunError(
            f"run inside 'unshare --net' (interfaces here: {', '.join(interfaces)}): "
            "ICE would pair non-loopback addresses"
        )
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def ensure_bundle() -> Path:
    """Build the JsSIP browser bundle (the npm package ships CommonJS only) unless the one in
    ``web/build`` (ignored by git) was made from the installed JsSIP version; ``scripts/setup``
    builds it the same way."""
    esbuild = WEB / "node_modules" / ".bin" / "esbuild"
    package = WEB / "node_modules" / "jssip" / "package.json"
    if not esbuild.exists() or not package.exists():
        raise RunError(f"npm packages missing in {WEB}: {SETUP_HINT}")
    version = json.loads(package.read_text())["version"]
    stamp = BUNDLE.with_suffix(".version")
    if BUNDLE.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return BUNDLE
    BUNDLE.parent.mkdir(exist_ok=True)
    subprocess.run(
        [
            str(esbuild),
            "node_modules/jssip/lib/JsSIP.js",
            "--bundle",
            "--format=iife",
            "--global-name=JsSIP",
            "--platform=browser",
            "--log-level=warning",
            f"--outfile={BUNDLE.relative_to(WEB)}",
        ],
        cwd=WEB,
        check=True,
    )
    stamp.write_text(version + "\n")
    return BUNDLE


def wait_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RunError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


async def run(args: argparse.Namespace, log: Log, result: dict[str, Any]) -> None:
    """Fill ``result`` as the run goes (so that a cancelled run still reports its part)."""
    workdir: Path = args.workdir
    timings = result["timings"]
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 3)

    kam: Kamailio | None = None
    http: subprocess.Popen[bytes] | None = None
    browser: Browser | None = None
    ours: OurPhone | None = None
    try:
        missing = missing_binaries("kamailio", "kamcmd", "node", "chromium", "ip")
        if missing:
            raise RunError(f"{', '.join(missing)} not installed: {SETUP_HINT}")
        check_namespace()
        ensure_bundle()
        mark("bundle")

        kam = Kamailio(workdir / "kamailio", tls=make_cert(workdir / "tls"))
        kam.start()
        log(f"kamailio pid {kam.pid}: {kam.wss_url}")
        mark("kamailio")

        (port,) = free_ports(1, "tcp")
        with open(workdir / "http.log", "wb") as http_log:
            http = spawn(
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(WEB),
                ],
                cwd=workdir,
                stdout=http_log,
                stderr=subprocess.STDOUT,
            )
        wait_port(port)
        log(f"http server pid {http.pid} on port {port}")

        tmp = workdir / "tmp"
        tmp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(tmp)}
        browser = Browser(workdir / "chromium-profile", workdir / "browser.log", env=env)
        assert kam.tls is not None
        ours = OurPhone(
            OURS_USER,
            f"{OURS_USER}pw",
            domain=kam.domain,
            server=kam.wss_url,
            ca_file=str(kam.tls.ca),
            log=log,
        )
        await asyncio.gather(browser.start(), ours.register())
        log(f"browser driver pid {browser.pid}: Chromium {browser.version}")
        mark("browser_and_ours_ready")
        result["browser_version"] = browser.version

        kinds = dict.fromkeys(SCENARIOS[name][0] for name in args.scenarios)
        opened = await asyncio.gather(*(open_page(browser, kam, port, kind, log) for kind in kinds))
        pages: dict[str, Page] = {kind: page for kind, page, _ in opened}
        registrations: dict[str, Any] = {kind: registered for kind, _, registered in opened}
        result["browser_registration"] = registrations
        mark("pages_registered")

        for name in args.scenarios:
            kind, scenario = SCENARIOS[name]
            log(f"--- scenario {name} ({kind})")
            page = pages[kind]
            parties = Parties(page, ours, PAGES[kind][1], OURS_USER, kam.domain, log)
            await page.call("skip")
            began = time.monotonic()
            entry: dict[str, Any]
            try:
                if not registrations[kind].get("registered"):
                    raise RunError(f"the {kind} page did not register: {registrations[kind]}")
                observed = await asyncio.wait_for(scenario(parties), SCENARIO_TIMEOUT)
                entry = {"ok": True, "observed": observed}
            except Exception as exc:  # recorded; the next scenario still runs
                log(f"scenario {name} failed: {traceback.format_exc()}")
                entry = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                await _abandon_call(parties)
            entry["seconds"] = round(time.monotonic() - began, 3)
            result["scenarios"][name] = entry
            mark(f"scenario_{name}")
        result["ok"] = all(s["ok"] for s in result["scenarios"].values())
        for page in pages.values():
            with contextlib.suppress(Exception):
                await page.call("stop", timeout=3)
    except Exception as exc:
        log(f"run failed: {traceback.format_exc()}")
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await _stop_all(log, kam, http, browser, ours)
        mark("stopped")


async def open_page(
    browser: Browser, kam: Kamailio, port: int, kind: str, log: Log
) -> tuple[str, Page, Any]:
    """Open the page of ``kind`` and register its user; (kind, page, registration outcome)."""
    path, user = PAGES[kind]
    page = await browser.open(user, f"http://127.0.0.1:{port}{path}")
    settings = {"server": kam.wss_url, "uri": kam.aor(user), "password": f"{user}pw"}
    registered = await page.call("register", {**settings, "toneHz": 700, "expect": 440})
    log(f"{kind} page registered {user}: {registered}")
    return kind, page, registered


async def _abandon_call(p: Parties) -> None:
    """After a failed scenario: end whatever call is left on either side."""
    with contextlib.suppress(Exception):
        await p.page.call("hangup", timeout=2)
    with contextlib.suppress(Exception):
        await p.ours.abandon()
    await asyncio.sleep(0.5)


async def _stop_all(
    log: Log,
    kam: Kamailio | None,
    http: subprocess.Popen[bytes] | None,
    browser: Browser | None,
    ours: OurPhone | None,
) -> None:
    if ours is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ours.close(), 5)
    if browser is not None:
        with contextlib.suppress(Exception):
            await browser.close()
        log(f"browser driver pid {browser.pid} stopped")
    if http is not None:
        terminate_group(http, grace=2.0)
        log(f"http server pid {http.pid} stopped")
    if kam is not None:
        kam.stop()
        log(f"kamailio pid {kam.pid} stopped")


async def amain(args: argparse.Namespace, log: Log) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "error": None, "scenarios": {}, "timings": {}}
    task = asyncio.ensure_future(run(args, log, result))
    loop = asyncio.get_running_loop()
    # SIGTERM/SIGINT and the overall deadline cancel the run; its finally stops everything
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await asyncio.wait_for(asyncio.shield(task), args.timeout)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        result["ok"] = False
        result["error"] = f"cancelled or over {args.timeout} s"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--scenarios",
        type=lambda text: text.split(","),
        default=list(SCENARIOS),
        help=f"comma-separated, among {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--timeout", type=float, default=50.0)
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = Log(args.workdir / "run.log")
    result = asyncio.run(amain(args, log))
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
