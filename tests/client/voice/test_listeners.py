"""Listener callbacks may be plain or async; a failing one is logged, not raised."""

from __future__ import annotations

import asyncio

from client.voice import CallListener, VoiceClientEventListener
from client.voice.listeners import notify


async def test_plain_async_and_failing_listeners() -> None:
    got: list[str] = []

    class Plain(VoiceClientEventListener):
        def onDeinitialized(self) -> None:
            got.append("plain")

    class Async(CallListener):
        async def onMissedCall(self, remoteId: str, time: float) -> None:
            await asyncio.sleep(0)
            got.append(f"async {remoteId} {time}")

    class Broken(VoiceClientEventListener):
        def onDeinitialized(self) -> None:
            raise RuntimeError("boom")

    notify(Plain(), "onDeinitialized")
    notify(Async(), "onMissedCall", "bob", 1.5)
    notify(Broken(), "onDeinitialized")
    notify(None, "onDeinitialized")
    notify(CallListener(), "onCallEnded", object())  # the defaults do nothing
    assert got == ["plain"]
    await asyncio.sleep(0.01)
    assert got == ["plain", "async bob 1.5"]
