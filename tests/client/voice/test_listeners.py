"""Listener callbacks may be plain or async; a failing one is logged, not raised."""

from __future__ import annotations

import asyncio
import logging

import pytest

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


async def test_failing_listeners_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(CallListener):
        def onCallEnded(self, call: object) -> None:
            raise RuntimeError("at once")

        async def onMissedCall(self, remoteId: str, time: float) -> None:
            await asyncio.sleep(0)
            raise RuntimeError("later")

    with caplog.at_level(logging.ERROR, logger="client.voice"):
        notify(Broken(), "onCallEnded", object())
        notify(Broken(), "onMissedCall", "bob", 1.5)
        await asyncio.sleep(0.01)
    assert [r.getMessage() for r in caplog.records] == [
        "listener onCallEnded failed",
        "async listener failed: RuntimeError('later')",
    ]
