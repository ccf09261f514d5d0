"""What every transport offers the driver, and what the driver offers back (RFC 3261 §18).

A transport owns sockets and turns them into :class:`~sipcore.flow.Flow` objects: one per UDP peer
address, one per connection (TCP, TLS, WS, WSS). Inbound traffic is pushed into a
:class:`Receiver` synchronously from asyncio callbacks; outbound traffic goes through
:meth:`Transport.send`, which never blocks: it queues the bytes on the socket or fails at once.

Keep-alives follow RFC 5626 §4.4.1 on every reliable transport: a double CRLF is a ping that the
transport answers itself with a single CRLF (the pong); pongs reach the driver through
:meth:`Receiver.keepalive_received` so that it can run the keep-alive timers.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ipaddress
import itertools
import logging
import ssl
import time
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from sipcore.errors import TransportError
from sipcore.flow import RELIABLE_TRANSPORTS, Flow
from sipcore.framer import KeepAlive
from sipcore.message import Limits

logger = logging.getLogger("sipcore.transport")

# RFC 5626 §4.4.1: the CRLF keep-alive on connection-oriented transports
PING = b"\r\n\r\n"
PONG = b"\r\n"

DEFAULT_MAX_BUFFER = 4 * 1024 * 1024
"""Outbound octets a connection may have queued before it is considered dead and closed."""

_connection_ids = itertools.count(1)


def next_connection_id() -> int:
    """A process-wide unique number for :attr:`Flow.connection` (never 0, which means UDP)."""
    return next(_connection_ids)


def address(sockaddr: object) -> tuple[str, int]:
    """(host, port) of a socket address; IPv6 addresses come as 4-tuples from the socket API."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return str(sockaddr[0]), int(sockaddr[1])
    return ("", 0)


def normalize_host(host: str) -> str:
    """The canonical spelling of a host for lookups: IP literals compressed, names lower-case."""
    host = host.removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.lower()


class Receiver(Protocol):
    """The driver's side of a transport.

    Transports call these methods synchronously from asyncio callbacks, one call per event (no
    task per packet). Implementations must not block; an exception raised here is logged and the
    flow it concerns is closed.
    """

    def message_received(self, data: bytes, flow: Flow) -> None:
        """One complete SIP message: a datagram, a framed stream message or a WebSocket message."""

    def keepalive_received(self, flow: Flow) -> None:
        """A RFC 5626 §4.4.1 pong (a single CRLF) arrived on ``flow``."""

    def flow_opened(self, flow: Flow) -> None:
        """An incoming connection was accepted."""

    def flow_closed(self, flow: Flow, error: BaseException | None) -> None:
        """A connection was lost or closed, by either side; ``error`` is None for a clean close."""


class Transport(abc.ABC):
    """One listening socket or client endpoint and the flows it carries (RFC 3261 §18)."""

    name: str
    """Upper-case transport name as it appears in Via: UDP, TCP, TLS, WS or WSS."""

    @property
    @abc.abstractmethod
    def local(self) -> tuple[str, int]:
        """The bound (host, port); ("", 0) for a client-only transport."""

    @property
    def reliable(self) -> bool:
        """True for TCP, TLS, WS and WSS: no retransmissions of requests (§17.1.1.2)."""
        return self.name in RELIABLE_TRANSPORTS

    @abc.abstractmethod
    def send(self, data: bytes, flow: Flow) -> None:
        """Queue ``data`` on ``flow`` without blocking.

        Raises :class:`~sipcore.errors.TransportError` if the flow is unknown or closed, or if
        the data cannot be queued (the flow is closed then).
        """

    def ping(self, flow: Flow) -> None:
        """Send a RFC 5626 §4.4.1 keep-alive ping (double CRLF) on a connection."""
        raise TransportError(f"{self.name} has no CRLF keep-alive (RFC 5626 §4.4.2 uses STUN)")

    @abc.abstractmethod
    def flows(self) -> list[Flow]:
        """The open connections (always empty for UDP)."""

    def carries(self, flow: Flow) -> bool:
        """Whether ``flow`` is one of :meth:`flows`."""
        return flow in self.flows()

    @abc.abstractmethod
    def close_flow(self, flow: Flow) -> None:
        """Close one connection after the queued data is sent; flow_closed follows. No-op if
        the flow is unknown or already closed."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every socket and wait until they are closed; idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        host, port = self.local
        return f"<{type(self).__name__} {self.name} {host}:{port}>"


def client_ssl_context(*, cafile: str | None = None, verify: bool = True) -> ssl.SSLContext:
    """A TLS client context (RFC 3261 §26.3.1: TLS must authenticate the server).

    Verification is on by default, against the system's trusted CAs plus ``cafile``. With
    ``verify=False`` the server is not authenticated at all (``cafile`` is then ignored); this is
    logged as a warning because it gives up what TLS is for.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        logger.warning(
            "TLS certificate verification disabled for connections made with this client "
            "context: servers are not authenticated"
        )
        return context
    if cafile is not None:
        context.load_verify_locations(cafile=cafile)
    return context


def server_ssl_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A TLS server context presenting ``certfile`` (chain in PEM) with ``keyfile``.

    Client certificates are not requested. ``keyfile`` may be omitted when ``certfile`` holds the
    key too.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


class RateLimitedLog:
    """Logs a repeated condition once per key and interval, so that a flood of bad input from
    one peer does not flood the log too; the next record says how many were not logged."""

    MAX_KEYS = 4096  # keys remembered; past that the oldest are forgotten

    def __init__(
        self,
        log: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self.interval = interval
        self._clock = clock
        self._last: dict[Hashable, tuple[float, int]] = {}  # key -> (logged at, suppressed)

    def __call__(self, key: Hashable, level: int, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``interval`` ago; True when
        it was logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            msg += " (%d more like it not logged in the last %g s)"
            args = (*args, last[1], self.interval)
        self._last.pop(key, None)
        self._last[key] = (now, 0)
        while len(self._last) > self.MAX_KEYS:
            del self._last[next(iter(self._last))]
        self._log.log(level, msg, *args)
        return True


class MessageDeadline:
    """How long a started message may take to arrive (slow-loris peers): the deadline starts
    with the first octets of a message and is not moved by later octets of the same one; when
    the message is complete it starts afresh for the next one, if that has begun."""

    def __init__(self, timeout: float, expired: Callable[[], None]) -> None:
        self.timeout = timeout
        self._expired = expired
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, *, started: bool, progressed: bool, is_open: bool = True) -> None:
        """Call after input: ``started`` when part of a message is held, ``progressed`` when a
        message was completed since the last call; a new deadline is armed only while the
        connection ``is_open`` (a running one is kept while it closes)."""
        if self._handle is not None and (progressed or not started):
            self.cancel()
        if self._handle is None and started and is_open:
            self._handle = asyncio.get_running_loop().call_later(self.timeout, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._expired()


def deliver(callback: Callable[..., object], *args: object) -> Exception | None:
    """Call a :class:`Receiver` method; log and return the exception if it raised.

    Transports call this from asyncio callbacks, which must never raise; on an exception they
    close the flow concerned.
    """
    try:
        callback(*args)
    except Exception as exc:
        flows = ", ".join(str(arg) for arg in args if isinstance(arg, Flow))
        logger.exception("%s failed on %s", getattr(callback, "__name__", "receiver"), flows)
        return exc
    return None


def connect_error(target: str, exc: OSError, timeout: float) -> TransportError:
    """What a failed connection attempt to ``target`` reports: refused, timed out after
    ``timeout``, certificate verification or TLS handshake failed, or another socket error."""
    if isinstance(exc, TimeoutError):
        return TransportError(f"connection to {target} timed out after {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError(f"connection to {target} refused")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportError(
            f"connection to {target}: certificate verify failed: {exc.verify_message}"
        )
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"connection to {target}: TLS handshake failed: {exc.reason or exc}")
    return TransportError(f"connection to {target} failed: {exc.strerror or exc}")


class Connection(Protocol):
    """One connection of a :class:`ConnectionTransport`."""

    flow: Flow
    incoming: bool

    @property
    def is_open(self) -> bool: ...

    def write(self, data: bytes) -> None:
        """Queue ``data``; raises :class:`~sipcore.errors.TransportError` if it cannot."""

    def close(self) -> None:
        """Close after the queued data is sent."""

    def fail(self, error: BaseException, *, abort: bool = False) -> None:
        """Close the connection; ``error`` is what flow_closed will report."""


C = TypeVar("C", bound=Connection)


class ConnectionTransport(Transport, Generic[C]):
    """What TCP, TLS, WS and WSS share: flows by connection number, sending and CRLF keep-alives
    on them, the caps on incoming connections, and how received items and the end of a flow
    reach the :class:`Receiver`."""

    def __init__(
        self,
        receiver: Receiver,
        name: str,
        *,
        client_ssl: ssl.SSLContext | None,
        limits: Limits,
        max_connections: int,
        max_buffer: int,
    ) -> None:
        self.name = name
        self._receiver = receiver
        self._client_ssl = client_ssl
        self._limits = limits
        self._max_connections = max_connections
        self._max_buffer = max_buffer
        self._local: tuple[str, int] = ("", 0)
        self._connections: dict[int, C] = {}
        self._incoming = 0
        self._per_address: dict[str, int] = {}  # incoming connections by remote IP address
        self._log = RateLimitedLog(logger)
        self._closed = False

    @property
    def local(self) -> tuple[str, int]:
        return self._local

    def _client_context(self) -> ssl.SSLContext:
        """The client context of a connection without its own: the one given to the transport,
        else :func:`client_ssl_context` (system CAs, verification on), made once."""
        if self._client_ssl is None:
            self._client_ssl = client_ssl_context()
        return self._client_ssl

    def _listen_error(self, host: str, port: int, exc: OSError) -> TransportError:
        return TransportError(f"cannot listen on {self.name} {host}:{port}: {exc.strerror or exc}")

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{self!r} is closed")

    @abc.abstractmethod
    def _route(self, remote: tuple[str, int]) -> C | None:
        """A connection to ``remote`` (host normalized), for flows whose ``connection`` is 0."""

    def _find(self, flow: Flow) -> C:
        if flow.connection:
            conn = self._connections.get(flow.connection)
        else:
            conn = self._route((normalize_host(flow.remote[0]), flow.remote[1]))
        if conn is None or not conn.is_open:
            raise TransportError(f"{flow}: no open connection")
        return conn

    def send(self, data: bytes, flow: Flow) -> None:
        self._find(flow).write(data)

    def ping(self, flow: Flow) -> None:
        """Send a RFC 5626 §4.4.1 ping (CRLF CRLF); the pong comes as keepalive_received."""
        self._find(flow).write(PING)

    def flows(self) -> list[Flow]:
        return [conn.flow for conn in self._connections.values() if conn.is_open]

    def carries(self, flow: Flow) -> bool:
        """Whether ``flow`` is one of :meth:`flows`, found by its connection number."""
        conn = self._connections.get(flow.connection)
        return conn is not None and conn.is_open and conn.flow == flow

    def close_flow(self, flow: Flow) -> None:
        conn = self._connections.get(flow.connection) if flow.connection else None
        if conn is not None:
            conn.close()

    def _check_buffer(self, conn: C, queued: int) -> None:
        """Give ``conn`` up when ``queued`` octets would exceed the limit: its peer stopped
        reading, and buffering without bound is worse than closing the flow."""
        if queued > self._max_buffer:
            error = TransportError(
                f"{conn.flow}: over {self._max_buffer} octets queued, flow closed"
            )
            logger.warning("%s", error)
            conn.fail(error, abort=True)
            raise error

    def _refusal(self, host: str) -> str | None:
        """Why an incoming connection from ``host`` (normalized) is refused: the transport has
        ``max_connections`` incoming ones, or ``host`` has
        :attr:`~sipcore.message.Limits.max_connections_per_address`; None when it is accepted.
        Refusals are logged once per interval."""
        if self._incoming >= self._max_connections:
            self._log(
                "total",
                logging.WARNING,
                "%r: %d connections, refusing one from %s",
                self,
                self._incoming,
                host,
            )
            return "too many connections"
        limit = self._limits.max_connections_per_address
        if self._per_address.get(host, 0) >= limit:
            self._log(
                ("address", host),
                logging.WARNING,
                "%r: %d connections from %s, refusing more",
                self,
                limit,
                host,
            )
            return "too many connections from this address"
        return None

    def _accepted(self, conn: C) -> None:
        """Count an incoming connection against the caps and report flow_opened; a receiver
        that raises closes it."""
        self._incoming += 1
        host = normalize_host(conn.flow.remote[0])
        self._per_address[host] = self._per_address.get(host, 0) + 1
        error = deliver(self._receiver.flow_opened, conn.flow)
        if error is not None:
            conn.fail(error)

    def _ended(self, conn: C, error: BaseException | None) -> None:
        """A connection the transport no longer holds: free its slot in the caps and report
        flow_closed."""
        if conn.incoming:
            self._incoming -= 1
            host = normalize_host(conn.flow.remote[0])
            if self._per_address[host] > 1:
                self._per_address[host] -= 1
            else:
                del self._per_address[host]
        logger.debug("%s closed: %s", conn.flow, error or "clean")
        deliver(self._receiver.flow_closed, conn.flow, error)

    def _received(self, conn: C, item: bytes | KeepAlive) -> None:
        """Answer a ping with a pong (RFC 5626 §4.4.1), report a pong, deliver a message; a
        receiver that raises closes the connection."""
        if item is KeepAlive.PING:
            with contextlib.suppress(TransportError):  # logged, and the connection is closing
                conn.write(PONG)
            return
        if item is KeepAlive.PONG:
            error = deliver(self._receiver.keepalive_received, conn.flow)
        else:
            error = deliver(self._receiver.message_received, item, conn.flow)
        if error is not None:
            conn.fail(error)

    async def _await_attempt(self, attempt: asyncio.Task[C], target: str) -> Flow:
        """The flow of a connection attempt; an attempt cancelled by :meth:`close` (not the
        caller being cancelled) becomes a TransportError."""
        try:
            return (await attempt).flow
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if attempt.cancelled() and self._closed and current and not current.cancelling():
                raise TransportError(f"{self!r} closed while connecting to {target}") from None
            raise
