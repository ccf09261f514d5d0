"""The registration client driver: :class:`Account` keeps one registration alive over one client
flow of a :class:`~sipcore.stack.SipStack` (create it with ``SipStack.account(...)``).

It connects, registers (the sans-I/O :class:`~sipcore.registration.Registration` decides what
to send), refreshes, keeps the flow alive (RFC 5626 §4.4) and, when the flow is lost, reconnects
with jittered exponential backoff (RFC 5626 §4.5). It reports its connectivity with the events
below, alongside those of the registration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SipError, TransportError, TransportFailure
from .events import Event
from .flow import Flow
from .headers import Via
from .message import Request, Response, build_request, generate_branch, generate_tag
from .registration import (
    Registered,
    Registration,
    RegistrationConfig,
    RegistrationTerminated,
    RegState,
    Unregistered,
)
from .ua import LocalIdentity
from .uri import NameAddr, SipUri

if TYPE_CHECKING:
    from .stack import SipStack

__all__ = [
    "Account",
    "ConnectFailed",
    "Connected",
    "Connecting",
    "Disconnected",
    "Reconnecting",
    "local_identity",
]

logger = logging.getLogger("sipcore.account")
_EVENT_QUEUE = 1000  # events kept for each reader of Account.events()


# -- connectivity events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Connecting(Event):
    target: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(Event):
    flow: Flow


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectFailed(Event):
    target: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(Event):
    flow: Flow
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnecting(Event):
    delay: float
    attempt: int


class Account:
    """One registration kept alive over one client flow: connect, register, refresh, keep the
    flow alive, and on its loss reconnect with jittered exponential backoff (RFC 5626 §4.5).
    With ``reconnect`` off, a failed connection attempt or the loss of the flow stops the
    account instead, reported as :class:`RegistrationTerminated`."""

    def __init__(
        self,
        stack: SipStack,
        config: RegistrationConfig,
        target: str,
        *,
        token: Callable[[], str | None] | None = None,
        reconnect: bool = True,
    ) -> None:
        self.stack = stack
        self.target = target
        self.reconnect = reconnect
        self.registration = Registration(config, token=token)
        self.flow: Flow | None = None
        self._readers: list[asyncio.Queue[Event]] = []  # one per events() iterator
        self.listeners: list[Callable[[Event], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._wanted = False
        self._flow_lost: asyncio.Event = asyncio.Event()
        self._settled: asyncio.Event = asyncio.Event()
        self._settled_by: Event | None = None
        self.failures = 0
        self.history: list[Event] = []
        """The latest events (100 to 200 of them)."""
        # RFC 7118 §5: a WebSocket client names itself with a random .invalid host, kept for the
        # account's life so that re-registrations refresh one binding
        self._ws_identity = (f"{secrets.token_hex(6)}.invalid", secrets.token_hex(4))

    @property
    def state(self) -> RegState:
        return self.registration.state

    def running(self) -> bool:
        """Wanted: started and not stopped (it may be between two connections)."""
        return self._wanted

    def identity(self, flow: Flow) -> LocalIdentity:
        """How this account appears on ``flow``: the Via sent-by and Contact it registers."""
        return local_identity(flow, self.registration.config.aor, self._ws_identity)

    # -- control -----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect and register; keeps going (refresh, reconnect) until ``stop()``."""
        self._wanted = True
        if self._task is None or self._task.done():
            self._task = self.stack.spawn(self._run())
        elif self.flow is not None and self.registration.state in (
            RegState.UNREGISTERED,
            RegState.TERMINATED,
        ):
            self._register_now()

    async def register(self, timeout: float = 35.0) -> Event:
        """Start, then wait for the outcome: Registered or RegistrationTerminated."""
        self._settled.clear()
        self.start()
        await asyncio.wait_for(self._settled.wait(), timeout)
        assert self._settled_by is not None
        return self._settled_by  # not history[-1]: a retry may have been sent since

    def refresh(self) -> bool:
        """Send a REGISTER now instead of at the refresh deadline (e.g. after new credentials,
        or when the application knows the network changed). False when there is no flow to
        send it on (the account is connecting; it registers once connected)."""
        if self.flow is None or not self._wanted:
            return False
        self._register_now()
        return True

    async def stop(self, *, unregister: bool = True, timeout: float = 5.0) -> None:
        """Unregister (when registered) and stop reconnecting."""
        self._wanted = False
        if unregister and self.flow is not None:
            request = self.registration.unregister(self.stack.now())
            if request is not None:
                self._settled.clear()
                self._send(request)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._settled.wait(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- events ------------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[Event]:
        """Every event from now on: ``async for event in account.events()``. A reader more
        than 1000 events behind loses the oldest. Events are kept only for open iterators
        (they hold whole messages)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=_EVENT_QUEUE)
        self._readers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._readers.remove(queue)

    def _emit(self, event: Event) -> None:
        self.history.append(event)
        if len(self.history) > 200:
            del self.history[:100]
        for queue in self._readers:
            if queue.full():  # a slow reader: keep the newest events
                queue.get_nowait()
            queue.put_nowait(event)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("account listener failed")
        if isinstance(event, Registered | RegistrationTerminated | Unregistered):
            self._settled_by = event
            self._settled.set()

    def _drain_registration(self) -> None:
        events = self.registration.events
        while events:
            event = events.pop(0)
            if isinstance(event, Registered):
                self.failures = 0
            self._emit(event)

    # -- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        stack = self.stack
        attempt = 0
        while self._wanted:
            self._emit(Connecting(target=self.target, attempt=attempt))
            try:
                flow = await stack.connect(self.target)
            except (TransportError, OSError) as exc:
                self._emit(ConnectFailed(target=self.target, reason=str(exc)))
                if not self.reconnect:
                    self._give_up(f"connection failed: {exc}")
                    break
                attempt += 1
                await self._backoff(attempt)
                continue
            self.flow = flow
            self._flow_lost.clear()
            stack.watch_flow(flow, self._on_flow_closed)
            self._emit(Connected(flow=flow))
            me = self.identity(flow)
            self.registration.set_flow(me.transport, me.host, me.port, me.contact)
            if self._wanted:
                self._register_now()
            keepalive = stack.spawn(self._keepalive(flow))
            await self._flow_lost.wait()
            keepalive.cancel()
            self.flow = None
            self.registration.flow_lost()
            if not self.running():
                break
            if not self.reconnect:
                self._give_up("connection lost")
                break
            attempt = 1 if self.failures == 0 else attempt + 1
            self.failures += 1
            await self._backoff(attempt)

    def _give_up(self, reason: str) -> None:
        self._wanted = False
        self._emit(RegistrationTerminated(reason=reason))

    async def _backoff(self, attempt: int) -> None:
        cfg = self.stack.config
        wait = min(cfg.reconnect_max, cfg.reconnect_base * 2 ** max(0, attempt - 1))
        delay = wait * (0.5 + random.random() / 2)  # RFC 5626 §4.5: 50-100 % of the wait
        self._emit(Reconnecting(delay=delay, attempt=attempt))
        await asyncio.sleep(delay)

    def _on_flow_closed(self, error: BaseException | None) -> None:
        if self.flow is not None:
            self._emit(Disconnected(flow=self.flow, reason=str(error or "closed")))
        self._flow_lost.set()

    async def _keepalive(self, flow: Flow) -> None:
        """RFC 5626 §4.4.1 CRLF keep-alives on stream and WebSocket flows; OPTIONS on UDP."""
        cfg = self.stack.config
        if cfg.keepalive_interval <= 0:
            return
        while True:
            await asyncio.sleep(cfg.keepalive_interval * (0.8 + random.random() * 0.2))
            try:
                if flow.transport == "UDP":
                    await asyncio.wait_for(self._options_ping(flow), cfg.keepalive_timeout)
                else:
                    await asyncio.wait_for(self.stack.ping(flow), cfg.keepalive_timeout)
            except (TimeoutError, SipError):
                logger.info("keep-alive failed on %s: closing the flow", flow)
                self.stack.close_flow(flow)
                self._on_flow_closed(TransportError("keep-alive timed out"))
                return

    async def _options_ping(self, flow: Flow) -> None:
        cfg = self.registration.config
        me = self.identity(flow)
        registrar = cfg.registrar or SipUri(cfg.aor.host, port=cfg.aor.port)
        request = build_request(
            "OPTIONS",
            registrar,
            from_addr=NameAddr(cfg.aor).with_tag(generate_tag()),
            to_addr=NameAddr(registrar),
            call_id=secrets.token_hex(10),
            cseq=1,
            via=Via("UDP", me.host, me.port, {"branch": generate_branch(), "rport": None}),
        )
        await self.stack.request(request, flow)

    def _register_now(self) -> None:
        request = self.registration.register(self.stack.now())
        self._send(request)

    def _send(self, request: Request) -> None:
        flow = self.flow
        self._drain_registration()
        if flow is None:
            return
        handle = self.stack.send_request(request, flow)
        handle.final.add_done_callback(self._outcome)

    def _outcome(self, fut: asyncio.Future[Response]) -> None:
        now = self.stack.now()
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            status = getattr(exc, "status", None)
            self.registration.failed(str(exc), status)
            self._drain_registration()
            if isinstance(exc, TransportFailure) and self.flow is not None:
                self._flow_lost.set()
            return
        retry = self.registration.response(fut.result(), now)
        if retry is not None:
            self._send(retry)
        else:
            self._drain_registration()
        self.stack.process()  # the registration's deadline may have moved

    def handle_timer(self, now: float) -> None:
        request = self.registration.handle_timer(now)
        if request is not None:
            self._send(request)


def local_identity(
    flow: Flow, aor: SipUri, ws_identity: tuple[str, str] | None = None
) -> LocalIdentity:
    """Via transport, sent-by and our Contact on ``flow``: RFC 7118 §5 for a WebSocket client
    given ``ws_identity`` (a random ``.invalid`` host, since it cannot be reached but over the
    flow), the flow's local address otherwise."""
    if flow.transport in ("WS", "WSS") and ws_identity is not None:
        host, user = ws_identity
        contact = SipUri(host, user=user, params={"transport": "ws"})
        return LocalIdentity(flow.transport, host, None, contact)
    host, port = flow.local
    host = f"[{host}]" if ":" in host else host
    params: dict[str, str | None] = {}
    if flow.transport != "UDP":
        params["transport"] = flow.transport.lower()
    contact = SipUri(host, user=aor.user, port=port, params=params)
    return LocalIdentity(flow.transport, host, port, contact)
