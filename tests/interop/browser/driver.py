"""Client of ``tests/interop/web/driver.mjs``: headless Chromium under playwright-core, spoken
to over the node process's stdin/stdout with JSON lines (see the protocol there)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parent.parent / "web"


class BrowserError(RuntimeError):
    """The browser or a page failed, or did not answer in time."""


class Page:
    """One tab; ``await page.eval("phone.call('sip:bob@127.0.0.1')")``."""

    def __init__(self, browser: Browser, name: str) -> None:
        self.browser = browser
        self.name = name

    async def eval(self, expr: str, timeout: float = 15.0) -> Any:
        return await self.browser.request(
            {"op": "eval", "page": self.name, "expr": expr}, timeout=timeout
        )

    async def call(self, method: str, *args: Any, timeout: float = 15.0) -> Any:
        """``phone.<method>(*args)`` with the arguments as JSON."""
        arguments = ", ".join(json.dumps(a) for a in args)
        return await self.eval(f"phone.{method}({arguments})", timeout=timeout)

    async def next(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The page's next event called ``name`` (see EventLog in pages/audio.js)."""
        ms = int(timeout * 1000)
        event: dict[str, Any] = await self.eval(
            f"phone.next({json.dumps(name)}, {ms})", timeout=timeout + 5
        )
        return event


class Browser:
    """The node driver process and its Chromium."""

    def __init__(self, user_data_dir: Path, log_path: Path, *, env: dict[str, str]) -> None:
        self.user_data_dir = user_data_dir
        self.log_path = log_path
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.version: str | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self, timeout: float = 20.0) -> None:
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                "node",
                str(WEB / "driver.mjs"),
                str(self.user_data_dir),
                cwd=WEB,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.env,
                start_new_session=True,  # its PID is the group of node and chromium
                limit=1 << 24,
            )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError as exc:
            raise BrowserError(f"the browser did not start within {timeout} s") from exc
        if not line:
            raise BrowserError("the browser driver exited while starting (see its log)")
        self.version = json.loads(line).get("version")
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            future = self._waiting.pop(message.get("id"), None)
            if future is None or future.done():
                continue
            if message.get("ok"):
                future.set_result(message.get("value"))
            else:
                future.set_exception(BrowserError(message.get("error", "failed")))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BrowserError("the browser driver exited"))
        self._waiting.clear()

    async def request(self, request: dict[str, Any], timeout: float = 15.0) -> Any:
        if self.proc is None or self.proc.stdin is None or self.proc.returncode is not None:
            raise BrowserError("the browser driver is not running")
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        self.proc.stdin.write((json.dumps({"id": ident, **request}) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise BrowserError(f"no answer to {request} within {timeout} s") from exc
        finally:
            self._waiting.pop(ident, None)

    async def open(self, name: str, url: str) -> Page:
        await self.request({"op": "open", "page": name, "url": url})
        return Page(self, name)

    async def close(self, grace: float = 5.0) -> None:
        """Close the browser; past ``grace`` s, SIGKILL the driver's process group."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.request({"op": "close"}, timeout=grace)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
        # chromium's helpers are in the driver's group: none may outlive the run
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
