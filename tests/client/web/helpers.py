"""Web clients on the embedded WSS server of :func:`tests.client.helpers.lab`, and a recorder
of their callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client.web import WebClient
from tests.client.helpers import USERS, Lab


def account_info(net: Lab, name: str, **extra: Any) -> dict[str, Any]:
    """The SDK's sipAccountInfo for ``name`` on the lab server."""
    port = net.server.ports["wss"]
    info: dict[str, Any] = {
        "userName": name,
        "authUser": name,
        "displayName": name.title(),
        "secret": USERS[name],
        "sipdomain": net.server.domain,
        "domain": f"127.0.0.1:{port}",
        "port": str(port),
        "security": "wss",
        "caFile": str(net.ca),
        "hostAddresses": ["127.0.0.1"],
    }
    info.update(extra)
    return info


class Callbacks:
    """Records every callback of a WebClient: ``register``, ``call`` and ``session`` lists."""

    def __init__(self) -> None:
        self.register: list[tuple[str, str]] = []
        self.call: list[tuple[Any, str, str]] = []
        self.session: list[tuple[str, str, Any]] = []
        self._changed = asyncio.Event()

    def on_register(self, state: str, phone: str) -> None:
        self.register.append((state, phone))
        self._changed.set()

    async def on_call(self, call: Any, event: str, phone: str) -> None:  # a coroutine callback
        self.call.append((call, event, phone))
        self._changed.set()

    def on_session(self, state: str, phone: str, error: Any = None) -> None:
        self.session.append((state, phone, error))
        self._changed.set()

    def init(self, client: WebClient, info: dict[str, Any]) -> WebClient:
        client.initWebrtc(info, self.on_register, self.on_call, self.on_session)
        return client

    def call_events(self) -> list[str]:
        return [event for _, event, _ in self.call]

    async def wait(self, check: Callable[[], bool], timeout: float = 10) -> None:
        async def poll() -> None:
            while not check():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(poll(), timeout)


async def wait_status(client: WebClient, status: str, timeout: float = 10) -> list[str]:
    """Poll checkClientStatus until it reports ``status``; the distinct values seen."""
    seen: list[str] = []

    async def poll() -> None:
        while True:
            now = client.checkClientStatus()
            if not seen or seen[-1] != now:
                seen.append(now)
            if now == status:
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)
    return seen


ROOT = Path(__file__).resolve().parents[3]


class ClientProcess:
    """A WebClient in another process (tests/client/web/client_peer.py); ``lines`` holds all
    it printed so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, directory: Path, info: dict[str, Any]) -> ClientProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.client.web.client_peer",
            str(directory),
            json.dumps(info),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def until(self, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        """Read printed lines until one has all of ``fields``; that line."""
        assert self.process.stdout is not None

        async def find() -> dict[str, Any]:
            assert self.process.stdout is not None
            while True:
                raw = await self.process.stdout.readline()
                assert raw, f"the process ended (waiting for {fields}); printed {self.lines}"
                line: dict[str, Any] = json.loads(raw)
                self.lines.append(line)
                if all(line.get(key) == value for key, value in fields.items()):
                    return line

        return await asyncio.wait_for(find(), timeout)

    def seen(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == event]

    async def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
