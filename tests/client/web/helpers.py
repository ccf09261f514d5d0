"""Web clients on the embedded WSS server of :func:`tests.client.helpers.lab`, and a recorder
of their callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
