"""The asyncio driver: the only code of the stack that reads the loop's clock.

It owns the transports, the :class:`TransactionLayer` and the registrations, feeds them bytes and
``now``, sends what they produce, and keeps one loop timer armed at the earliest deadline of the
core (as aioquic's asyncio protocol does). Keep-alives and reconnection of client flows are driver
work too (RFC 5626 §4.4, §4.5); they run as one task per :class:`~sipcore.account.Account`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from .account import Account
from .errors import (
    LocalProtocolError,
    SipError,
    TransactionTimeout,
    TransportError,
    TransportFailure,
)
from .events import (
    AckReceived,
    AdditionalSuccess,
    CancelReceived,
    Event,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from .flow import Flow
from .invite import SuccessRetransmitter
from .message import (
    DEFAULT_LIMITS,
    Limits,
    Request,
    Response,
    build_response,
    generate_tag,
)
from .registration import (
    RegistrationConfig,
)
from .timers import DEFAULT_TIMERS, TimerConfig
from .transaction import State
from .transaction_layer import TransactionLayer
from .transport import (
    StreamTransport,
    Transport,
    UdpTransport,
    WebSocketTransport,
    client_ssl_context,
)
from .transport.base import RateLimitedLog
from .uas import DEFAULT_POLICY, UasPolicy, check_request, options_response

logger = logging.getLogger("sipcore.stack")


@dataclass(frozen=True, slots=True, kw_only=True)
class StackConfig:
    """Settings of one stack (every field has a sound default)."""

    timers: TimerConfig = DEFAULT_TIMERS
    limits: Limits = DEFAULT_LIMITS
    policy: UasPolicy = DEFAULT_POLICY
    user_agent: str = "sipwebrtc"
    ca_file: str | None = None
    """Extra CA certificates for TLS and WSS servers (e.g. a test CA)."""
    tls_verify: bool = True
    """Verify server certificates; switching it off is explicit and logged."""
    keepalive_interval: float = 30.0
    """Seconds between RFC 5626 keep-alives on a client flow (0: none)."""
    keepalive_timeout: float = 10.0
    """Seconds to wait for the pong before the flow counts as dead (RFC 5626 §4.4.1)."""
    reconnect_base: float = 1.0
    """First reconnection delay; doubles per failure up to ``reconnect_max`` (RFC 5626 §4.5)."""
    reconnect_max: float = 30.0
    connect_timeout: float = 5.0
    max_transactions: int = 20000


# -- handles ---------------------------------------------------------------------------------


class ClientRequest:
    """A request in flight: its provisional responses and the final one."""

    def __init__(self, request: Request, flow: Flow, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.flow = flow
        self.provisional: list[Response] = []
        self.final: asyncio.Future[Response] = loop.create_future()
        self.on_provisional: Callable[[Response], None] | None = None
        self.on_additional_success: Callable[[Response], None] | None = None

    def __await__(self) -> Any:
        return self.final.__await__()


class IncomingRequest:
    """A request that created a server transaction; answer it with ``respond``."""

    def __init__(self, stack: SipStack, transaction: str, request: Request, flow: Flow) -> None:
        self.stack = stack
        self.transaction = transaction
        self.request = request
        self.flow = flow
        self.to_tag = generate_tag()
        self.answered = False

    def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        response = build_response(
            self.request,
            status,
            reason,
            to_tag=self.to_tag,
            headers=headers or [],
            body=body,
            content_type=content_type,
        )
        self.stack.send_response(self.transaction, response)
        if status >= 200:
            self.answered = True
        return response

    @property
    def cancelled(self) -> bool:
        """A CANCEL for this INVITE arrived (§9.2)."""
        return self.transaction in self.stack._cancelled


RequestHandler = Callable[[IncomingRequest], Awaitable[None] | None]


class TransactionUser(Protocol):
    """A sans-I/O layer on top of the transaction layer (a proxy, a dialog layer) that acts on
    ``stack.layer`` itself; the stack feeds it events, flow losses and its own deadline."""

    def handle_event(self, event: Event, now: float) -> bool:
        """Process ``event``; True when it was consumed (the stack's own handling is skipped)."""

    def flow_closed(self, flow: Flow, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class SipStack:
    """One SIP stack: transports, the transaction layer and accounts, on the running loop."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.users: list[TransactionUser] = []
        """Layers that see every event first (see :class:`TransactionUser`)."""
        self.layer = TransactionLayer(
            timers=self.config.timers,
            limits=self.config.limits,
            max_transactions=self.config.max_transactions,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._transports: dict[str, Transport] = {}
        self._udp: UdpTransport | None = None
        self._stream_client: dict[str, StreamTransport] = {}
        self._ws_client: WebSocketTransport | None = None
        self._requests: dict[str, ClientRequest] = {}
        self._successes = SuccessRetransmitter(self.config.timers)
        self._cancelled: set[str] = set()
        self._invites: dict[str, IncomingRequest] = {}  # INVITE server transactions
        self._handler: RequestHandler | None = None
        self._incoming: asyncio.Queue[IncomingRequest] | None = None
        self._accounts: list[Account] = []
        self._flow_watchers: dict[Flow, list[Callable[[BaseException | None], None]]] = {}
        self._pong_watchers: dict[Flow, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dropped: list[MessageDropped] = []
        self._drop_log = RateLimitedLog(logger, clock=self.now)
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> SipStack:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self.loop.time()

    async def close(self) -> None:
        """Unregister nothing (accounts do that in ``stop()``), close transports and tasks."""
        if self._closed:
            return
        self._closed = True
        for account in list(self._accounts):
            await account.stop(unregister=False)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.users.clear()
        transports = list(self._transports.values()) + list(self._stream_client.values())
        if self._ws_client is not None:
            transports.append(self._ws_client)
        for transport in transports:
            with contextlib.suppress(Exception):
                await transport.close()
        for request in self._requests.values():
            if not request.final.done():
                request.final.set_exception(TransportFailure("stack closed"))

    def process(self) -> None:
        """Send what the core produced and re-arm the timer: call it after acting on ``layer``
        or a transaction user directly."""
        self._pump()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- transports ------------------------------------------------------------------------
    async def listen(
        self, transport: str, host: str = "127.0.0.1", port: int = 0, *, ssl: Any = None
    ) -> Transport:
        """Listen for requests on ``transport`` (UDP, TCP, TLS, WS, WSS)."""
        name = transport.upper()
        made: Transport
        if name == "UDP":
            udp = await UdpTransport.bind(self, host, port, limits=self.config.limits)
            self._udp = self._udp or udp
            made = udp
        elif name in ("TCP", "TLS"):
            if (name == "TLS") != (ssl is not None):
                raise LocalProtocolError("TLS listeners need an ssl context, TCP ones none")
            made = await StreamTransport.listen(
                self, host, port, ssl=ssl, limits=self.config.limits
            )
        elif name in ("WS", "WSS"):
            if (name == "WSS") != (ssl is not None):
                raise LocalProtocolError("WSS listeners need an ssl context, WS ones none")
            made = await WebSocketTransport.listen(
                self, host, port, ssl=ssl, limits=self.config.limits
            )
        else:
            raise LocalProtocolError(f"unknown transport {transport}")
        self._transports[f"{name}:{made.local[0]}:{made.local[1]}"] = made
        return made

    def client_ssl(self) -> ssl.SSLContext:
        return client_ssl_context(cafile=self.config.ca_file, verify=self.config.tls_verify)

    async def connect(self, target: str) -> Flow:
        """A client flow to ``target``: ``ws://host:port[/path]``, ``wss://...``,
        ``udp:host:port``, ``tcp:host:port`` or ``tls:host:port``. Open connections are reused."""
        scheme, host, port, url = parse_target(target)
        timeout = self.config.connect_timeout
        if scheme in ("ws", "wss"):
            if self._ws_client is None:
                self._ws_client = WebSocketTransport.client(self, limits=self.config.limits)
            ctx = self.client_ssl() if scheme == "wss" else None
            return await self._ws_client.connect(url, ssl=ctx, timeout=timeout)
        if scheme in ("tcp", "tls"):
            client = self._stream_client.get(scheme)
            if client is None:
                client = StreamTransport.client(
                    self, tls=scheme == "tls", limits=self.config.limits
                )
                self._stream_client[scheme] = client
            ctx = self.client_ssl() if scheme == "tls" else None
            return await client.connect(host, port, ssl=ctx, timeout=timeout)
        host = await self._resolve_udp(host, port, timeout)
        if self._udp is None:
            bind = "::1" if ":" in host and host.startswith(("::1", "0:0")) else "127.0.0.1"
            if not is_loopback(host):
                bind = "::" if ":" in host else "0.0.0.0"
            await self.listen("UDP", bind, 0)
        assert self._udp is not None
        return Flow("UDP", (host, port), self._udp.local)

    async def _resolve_udp(self, host: str, port: int, timeout: float) -> str:
        """The IP address of a UDP target (RFC 3263 §4.2 A/AAAA lookup; the UDP transport sends
        to addresses only). A name that does not resolve is one clear TransportError."""
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        try:
            async with asyncio.timeout(timeout):
                infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise TransportError(f"cannot resolve UDP {host}:{port}: {reason}") from exc
        return str(infos[0][4][0])

    def _transport_for(self, flow: Flow) -> Transport | None:
        if flow.transport == "UDP":
            for transport in self._transports.values():
                if transport.name == "UDP" and transport.local == flow.local:
                    return transport
            return self._udp
        if flow.transport in ("WS", "WSS"):
            if self._ws_client is not None and self._ws_client.carries(flow):
                return self._ws_client
        else:
            for client in self._stream_client.values():
                if client.carries(flow):
                    return client
        for transport in self._transports.values():
            if transport.name == flow.transport and transport.carries(flow):
                return transport
        return None

    def find(self, transport: str, host: str, port: int) -> Flow | None:
        """An open connection of a listener of ``transport`` to (host, port), or None."""
        for listener in self._transports.values():
            if listener.name == transport:
                for flow in listener.flows():
                    if flow.remote == (host, port):
                        return flow
        return None

    def close_flow(self, flow: Flow) -> None:
        transport = self._transport_for(flow)
        if transport is not None:
            transport.close_flow(flow)

    async def ping(self, flow: Flow) -> None:
        """A CRLF keep-alive on a stream or WebSocket ``flow`` (RFC 5626 §4.4.1); returns when
        the pong comes, raises :class:`TransportError` when the flow closes first."""
        transport = self._transport_for(flow)
        if transport is None:
            raise TransportError(f"no transport for {flow}")
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._pong_watchers[flow] = waiter
        transport.ping(flow)
        await waiter

    # -- Receiver (called by transports) ------------------------------------------------------
    def message_received(self, data: bytes, flow: Flow) -> None:
        self.layer.receive(data, flow, self.now())
        self._pump()

    def keepalive_received(self, flow: Flow) -> None:
        waiter = self._pong_watchers.pop(flow, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def flow_opened(self, flow: Flow) -> None:
        logger.debug("flow opened: %s", flow)

    def flow_closed(self, flow: Flow, error: BaseException | None) -> None:
        logger.debug("flow closed: %s (%s)", flow, error)
        if not self._closed:
            now = self.now()
            self.layer.transport_error(flow, now)
            for user in self.users:
                user.flow_closed(flow, now)
            self._pump()
        for callback in self._flow_watchers.pop(flow, []):
            callback(error)
        waiter = self._pong_watchers.pop(flow, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(TransportError(f"flow {flow} closed"))

    def watch_flow(self, flow: Flow, callback: Callable[[BaseException | None], None]) -> None:
        self._flow_watchers.setdefault(flow, []).append(callback)

    # -- requests ----------------------------------------------------------------------------
    def send_request(self, request: Request, flow: Flow) -> ClientRequest:
        """Start a client transaction; await the handle for the final response."""
        handle = ClientRequest(request, flow, self.loop)
        key = self.layer.send_request(request, flow, self.now())
        self._requests[key] = handle
        self._pump()
        return handle

    async def request(self, request: Request, flow: Flow) -> Response:
        return await self.send_request(request, flow).final

    def send_stateless(self, message: Request | Response, flow: Flow) -> None:
        self.layer.send_stateless(message, flow)
        self._pump()

    def send_response(self, transaction: str, response: Response) -> None:
        now = self.now()
        txn = self.layer.transaction(transaction)
        self.layer.send_response(transaction, response, now)
        if txn is not None and txn.request.method == "INVITE" and 200 <= response.status_code < 300:
            self._successes.start(response, txn.flow, now)  # §13.3.1.4
        self._pump()

    def on_request(self, handler: RequestHandler | None) -> None:
        """Deliver requests that pass the UAS checks to ``handler`` (sync or async)."""
        self._handler = handler

    async def incoming(self) -> AsyncIterator[IncomingRequest]:
        """Requests that pass the UAS checks, when no handler is set."""
        if self._incoming is None:
            self._incoming = asyncio.Queue(maxsize=1000)
        while True:
            yield await self._incoming.get()

    # -- accounts ----------------------------------------------------------------------------
    def account(
        self,
        config: RegistrationConfig,
        target: str,
        *,
        token: Callable[[], str | None] | None = None,
        reconnect: bool = True,
    ) -> Account:
        """An account registering ``config`` through ``target`` (see ``connect``)."""
        account = Account(self, config, target, token=token, reconnect=reconnect)
        self._accounts.append(account)
        return account

    # -- the pump ------------------------------------------------------------------------------
    def _pump(self) -> None:
        """Send what the core produced, dispatch its events, re-arm the timer."""
        layer = self.layer
        while True:
            for data, flow in layer.data_to_send():
                self._send(data, flow)
            event = layer.next_event()
            if event is None:
                break
            try:
                self._dispatch(event)
            except Exception:  # an application handler must not break the receive path
                logger.exception("error while handling %s", type(event).__name__)
        self._arm()

    def _send(self, data: bytes, flow: Flow) -> None:
        transport = self._transport_for(flow)
        try:
            if transport is None:
                raise TransportError(f"no transport for {flow}")
            transport.send(data, flow)
        except TransportError as exc:
            logger.debug("send on %s failed: %s", flow, exc)
            self.loop.call_soon(self._transport_error, flow)

    def _transport_error(self, flow: Flow) -> None:
        self.layer.transport_error(flow, self.now())
        self._pump()

    def _arm(self) -> None:
        deadlines = [self.layer.get_timer(), self._successes.get_timer()]
        deadlines += [user.get_timer() for user in self.users]
        deadlines += [a.registration.get_timer() for a in self._accounts]
        pending = [d for d in deadlines if d is not None]
        at = min(pending) if pending else None
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None:
            self._timer = self.loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.now()
        self.layer.handle_timer(now)
        for user in self.users:
            user.handle_timer(now)
        for data, flow in self._successes.handle_timer(now):
            self._send(data, flow)
        for event in self._successes.events:
            logger.info("no ACK for the 2xx of Call-ID %s", event.response.call_id)
        self._successes.events.clear()
        for account in self._accounts:
            account.handle_timer(now)
        self._pump()

    def _dispatch(self, event: Event) -> None:
        if self.users:
            now = self.now()
            if any(user.handle_event(event, now) for user in self.users):
                return
        if isinstance(event, ResponseReceived | AdditionalSuccess):
            handle = self._requests.get(event.transaction)
            if handle is None:
                return
            response = event.response
            if isinstance(event, AdditionalSuccess):
                if handle.on_additional_success is not None:
                    handle.on_additional_success(response)
            elif response.status_code < 200:
                handle.provisional.append(response)
                if handle.on_provisional is not None:
                    handle.on_provisional(response)
            elif not handle.final.done():
                handle.final.set_result(response)
        elif isinstance(event, TransactionTimedOut | TransportFailed):
            handle = self._requests.get(event.transaction)
            if handle is not None and not handle.final.done():
                exc: SipError = (
                    TransactionTimeout(f"no final response (Timer {event.timer.value})")
                    if isinstance(event, TransactionTimedOut)
                    else TransportFailure("the transport failed")
                )
                handle.final.set_exception(exc)
        elif isinstance(event, TransactionTerminated):
            self._requests.pop(event.transaction, None)
            self._cancelled.discard(event.transaction)
            self._invites.pop(event.transaction, None)
        elif isinstance(event, RequestReceived):
            self._request_received(event)
        elif isinstance(event, MessageDropped):
            # once per peer, reason and interval: a flood must not flood the log too
            self._drop_log(
                (event.flow.remote[0], event.reason),
                logging.INFO,
                "dropped a message from %s: %s",
                event.flow,
                event.reason,
            )
            if len(self.dropped) < 100:
                self.dropped.append(event)
        elif isinstance(event, StrayResponse):
            logger.debug("stray response %s", event.response.status_code)
        elif isinstance(event, AckReceived):
            self._successes.ack(event.request)
        elif isinstance(event, CancelReceived):
            # §9.2: the INVITE gets 487 unless it was answered already, with the To tag of
            # its provisional responses (§8.2.6.2)
            self._cancelled.add(event.cancelled)
            txn = self.layer.transaction(event.cancelled)
            invite = self._invites.get(event.cancelled)
            if txn is not None and txn.state is State.PROCEEDING:
                tag = invite.to_tag if invite is not None else generate_tag()
                self.layer.respond(event.cancelled, 487, self.now(), to_tag=tag)

    def _request_received(self, event: RequestReceived) -> None:
        incoming = IncomingRequest(self, event.transaction, event.request, event.flow)
        if event.request.method == "INVITE":
            self._invites[event.transaction] = incoming
        policy = self.config.policy
        error = check_request(event.request, policy, incoming.to_tag)
        if error is not None:
            self.send_response(event.transaction, error)
            return
        if event.request.method == "OPTIONS" and event.request.to.tag is None:
            self.send_response(
                event.transaction, options_response(event.request, policy, incoming.to_tag)
            )
            return
        if self._handler is not None:
            result = self._handler(incoming)
            if asyncio.iscoroutine(result):
                self.spawn(result)
            return
        if self._incoming is not None:
            try:
                self._incoming.put_nowait(incoming)
                return
            except asyncio.QueueFull:
                incoming.respond(503, headers=[("Retry-After", "2")])
                return
        incoming.respond(480 if event.request.method == "INVITE" else 501)


def parse_target(target: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, url) of a connect target; host without IPv6 brackets."""
    if "://" in target:
        parts = urlsplit(target)
        scheme = parts.scheme.lower()
        if scheme not in ("ws", "wss") or parts.hostname is None:
            raise LocalProtocolError(f"unsupported target {target!r}")
        port = parts.port or (443 if scheme == "wss" else 80)
        return scheme, parts.hostname, port, target
    scheme, _, rest = target.partition(":")
    scheme = scheme.lower()
    if scheme not in ("udp", "tcp", "tls") or not rest:
        raise LocalProtocolError(f"unsupported target {target!r}")
    host, _, port_text = rest.rpartition(":")
    if not host or not port_text.isdigit():
        raise LocalProtocolError(f"target needs host:port: {target!r}")
    return scheme, host.strip("[]"), int(port_text), target


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (127/8, ::1 or localhost)."""
    return host.startswith("127.") or host in ("::1", "localhost")
