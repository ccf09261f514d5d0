"""Shared pieces of the asyncio driver tests: a fast stack configuration and a polling wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sipcore.stack import StackConfig
from sipcore.timers import TimerConfig

FAST = StackConfig(
    timers=TimerConfig(t1=0.05, t2=0.4, t4=0.5),
    reconnect_base=0.05,
    reconnect_max=0.2,
    keepalive_interval=0.2,
    keepalive_timeout=0.3,
)


async def until(condition: Callable[[], bool], timeout: float, step: float = 0.02) -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes; the caller asserts the outcome."""
    for _ in range(round(timeout / step)):
        if condition():
            return
        await asyncio.sleep(step)
