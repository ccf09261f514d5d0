"""Waits shared by the interop tests and the soak run. They poll instead of sleeping a fixed
time, so that a loaded machine only makes them slower, not fail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.01
) -> None:
    """Return once ``condition()`` is true, checking every ``interval`` seconds;
    AssertionError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"condition not reached in {timeout} s")
        await asyncio.sleep(interval)
