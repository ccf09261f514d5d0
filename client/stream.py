"""Event fan-out: bounded async iterators for readers and callbacks (plain or async) for
listeners. A reader that falls behind loses its oldest events, never the producer's time.
:class:`TaskSet` keeps background tasks alive and logs how they fail."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

__all__ = ["EventHub", "Subscription", "TaskSet"]

logger = logging.getLogger("client")
E = TypeVar("E")
T = TypeVar("T")


class TaskSet:
    """Tasks nobody may await (fire and forget): each is kept referenced until it ends, and
    what it raised goes to ``on_error`` (instead of asyncio's "never retrieved" warning)."""

    def __init__(
        self, on_error: Callable[[BaseException], object], log: logging.Logger = logger
    ) -> None:
        self.on_error = on_error
        self.log = log
        """Where :meth:`call` logs a callback that raises."""
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as a task of the running loop (RuntimeError without one)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.track(task)
        return task

    def track(self, awaitable: Awaitable[Any]) -> None:
        """Run ``awaitable`` (e.g. what an async callback returned) as a task."""
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def call(self, callback: Callable[..., object], *args: Any, what: str = "callback") -> None:
        """Run an application callback, plain or async: what it raises is logged as ``what``
        failing, never propagated; the coroutine it returns runs as a task of the set."""
        try:
            result = callback(*args)
        except Exception:
            self.log.exception("%s failed", what)
            return
        if inspect.isawaitable(result):
            self.track(result)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.on_error(exc)


class Subscription(Generic[E]):
    """Events published after it was made, in order; ends when ``until`` is set and all
    earlier events are read."""

    def __init__(self, hub: EventHub[E], until: asyncio.Event | None, maxsize: int) -> None:
        self._hub = hub
        self._until = until
        self._queue: asyncio.Queue[E] = asyncio.Queue(maxsize)
        hub._subscriptions.append(self)

    def _put(self, event: E) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[E]:
        return self

    async def __anext__(self) -> E:
        if not self._queue.empty():
            return self._queue.get_nowait()
        if self._until is None:
            return await self._queue.get()
        if self._until.is_set():
            self.close()
            raise StopAsyncIteration
        getter = asyncio.ensure_future(self._queue.get())
        ended = asyncio.ensure_future(self._until.wait())
        try:
            await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return await self.__anext__()

    def close(self) -> None:
        if self in self._hub._subscriptions:
            self._hub._subscriptions.remove(self)


class EventHub(Generic[E]):
    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self.listeners: list[Callable[[E], object]] = []
        self._subscriptions: list[Subscription[E]] = []
        self._tasks = TaskSet(lambda exc: logger.error("async event listener failed: %r", exc))

    @property
    def active(self) -> bool:
        """Whether anybody listens or reads."""
        return bool(self.listeners or self._subscriptions)

    def subscribe(self, until: asyncio.Event | None = None) -> Subscription[E]:
        return Subscription(self, until, self.maxsize)

    def publish(self, event: E) -> None:
        for subscription in self._subscriptions:
            subscription._put(event)
        for listener in list(self.listeners):
            try:
                result = listener(event)
            except Exception:
                logger.exception("event listener failed on %s", type(event).__name__)
                continue
            if inspect.isawaitable(result):
                self._tasks.track(result)
