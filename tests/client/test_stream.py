"""client.stream: the fire-and-forget task set and the event hub with its subscriptions."""

from __future__ import annotations

import asyncio
import logging

import pytest

from client.stream import EventHub, TaskSet


async def test_task_set_reports_failures_and_forgets_finished_tasks() -> None:
    errors: list[BaseException] = []
    tasks = TaskSet(errors.append)

    async def fail() -> None:
        raise ValueError("boom")

    async def value() -> int:
        return 7

    assert await tasks.spawn(value()) == 7
    failed = tasks.spawn(fail())
    await asyncio.wait({failed})
    await asyncio.sleep(0)  # the done callbacks run
    assert [str(e) for e in errors] == ["boom"]
    assert not tasks._tasks  # nothing kept once finished


async def test_task_set_tracks_awaitables_and_cancels() -> None:
    errors: list[BaseException] = []
    tasks = TaskSet(errors.append)
    never = asyncio.get_running_loop().create_future()
    tasks.track(never)
    sleeper = tasks.spawn(asyncio.sleep(60))
    tasks.cancel()
    await asyncio.sleep(0)
    assert never.cancelled() and sleeper.cancelled()
    assert errors == []  # a cancelled task is not a failure


async def test_hub_feeds_subscriptions_and_listeners_in_order() -> None:
    hub: EventHub[int] = EventHub()
    assert not hub.active
    seen: list[int] = []
    awaited: list[int] = []

    async def slow(event: int) -> None:
        awaited.append(event)

    hub.listeners += [seen.append, slow]
    subscription = hub.subscribe()
    assert hub.active
    for event in (1, 2, 3):
        hub.publish(event)
    assert seen == [1, 2, 3]
    assert [await subscription.__anext__() for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(0)
    assert awaited == [1, 2, 3]  # async listeners run as tasks
    subscription.close()
    hub.listeners.clear()
    assert not hub.active


async def test_full_subscription_drops_the_oldest() -> None:
    hub: EventHub[int] = EventHub(maxsize=2)
    subscription = hub.subscribe()
    for event in (1, 2, 3):
        hub.publish(event)
    assert [await subscription.__anext__() for _ in range(2)] == [2, 3]


async def test_subscription_ends_when_until_is_set_after_earlier_events() -> None:
    hub: EventHub[str] = EventHub()
    until = asyncio.Event()
    subscription = hub.subscribe(until)
    hub.publish("a")
    until.set()
    assert [event async for event in subscription] == ["a"]
    assert not hub.active  # the ended subscription left the hub


async def test_failing_listener_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub: EventHub[int] = EventHub()
    seen: list[int] = []

    def broken(event: int) -> None:
        raise RuntimeError("listener bug")

    async def broken_async(event: int) -> None:
        raise RuntimeError("async listener bug")

    hub.listeners += [broken, broken_async, seen.append]
    with caplog.at_level(logging.ERROR, logger="client"):
        hub.publish(5)
        await asyncio.sleep(0.01)
    assert seen == [5]
    messages = [r.getMessage() for r in caplog.records]
    assert any("event listener failed on int" in m for m in messages)
    assert any("async event listener failed" in m and "async listener bug" in m for m in messages)
