"""SIP over WebSocket, WS and WSS (RFC 7118), on the asyncio API of ``websockets``.

- The opening handshake negotiates the ``sip`` subprotocol (RFC 7118 §4): the client fails a
  connection whose server did not select it; the server rejects other clients with HTTP 400.
- One WebSocket message carries exactly one SIP message (RFC 7118 §5); text and binary frames are
  both accepted, and a message is sent as text when it is valid UTF-8, else as binary (§5.1).
- CRLF keep-alives (RFC 5626 §4.4.1) ride in their own messages: "\\r\\n\\r\\n" is a ping that is
  answered with "\\r\\n", a pong. WebSocket ping/pong frames (``ping_interval``,
  ``ping_timeout``) detect dead connections, which then end with ``flow_closed``.

Sending never blocks: each connection has a bounded queue drained by one writer task.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl as ssl_module
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import HeadersLike
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import CloseCode, Frame
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from sipcore.errors import TransportError
from sipcore.flow import Flow
from sipcore.framer import KeepAlive
from sipcore.message import DEFAULT_LIMITS, Limits
from sipcore.transport.base import (
    DEFAULT_MAX_BUFFER,
    PING,
    PONG,
    ConnectionTransport,
    MessageDeadline,
    Receiver,
    address,
    connect_error,
    logger,
    next_connection_id,
    normalize_host,
)

SIP_SUBPROTOCOL = Subprotocol("sip")  # RFC 7118 §4, IANA WebSocket Subprotocol Name Registry


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _keepalive(message: bytes) -> bytes | KeepAlive:
    """RFC 5626 §4.4.1 over WebSocket: a message of CRLF CRLF is a ping, one of CRLF a pong."""
    if message == PING:
        return KeepAlive.PING
    if message == PONG:
        return KeepAlive.PONG
    return message


class RedactWire(logging.Filter):
    """websockets logs, at DEBUG, the handshake headers and the head and tail of every frame.
    SIP messages and handshakes carry credentials (Bearer tokens, digest responses, cookies),
    so frames are logged by type and size only, and credential headers are masked."""

    SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            if any(isinstance(a, Frame) for a in args):
                record.args = tuple(
                    f"{a.opcode.name} [{len(a.data)} bytes]" if isinstance(a, Frame) else a
                    for a in args
                )
            elif (
                len(args) == 2
                and isinstance(args[0], str)
                and args[0].lower() in self.SECRET_HEADERS
            ):
                record.args = (args[0], "***")
        return True


# the logger handed to websockets for our connections (not websockets' own loggers)
wire_logger = logging.getLogger("sipcore.transport.ws.wire")
wire_logger.addFilter(RedactWire())


class _GuardedConnection(ServerConnection):
    """An incoming WebSocket connection whose started messages must end in time.

    A message has started while the frame parser holds part of a frame or a fragmented message
    is unfinished; from then on the peer has ``incomplete_timeout`` seconds to finish it (a
    slow-loris peer sending one octet at a time, or fragments without end, is closed). The
    opening handshake is bounded by ``open_timeout`` of the server.
    """

    incomplete_timeout: float = 30.0  # set per transport by a subclass

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = MessageDeadline(self.incomplete_timeout, self._incomplete)

    def _partial(self) -> bool:
        protocol = self.protocol
        return protocol.state is State.OPEN and (
            bool(protocol.reader.buffer) or protocol.current_size is not None
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.watch_incomplete(progressed=False)

    def watch_incomplete(self, *, progressed: bool) -> None:
        """After input (``progressed``: a message was delivered): see :class:`MessageDeadline`."""
        self._deadline.watch(started=self._partial(), progressed=progressed)

    def _incomplete(self) -> None:
        logger.info(
            "WebSocket %s:%s: message incomplete after %g s, connection closed",
            *address(self.remote_address),
            self.incomplete_timeout,
        )
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)


class _WsConnection:
    """One WebSocket connection: its flow, its outgoing queue and its writer task."""

    def __init__(
        self, owner: WebSocketTransport, ws: Connection, flow: Flow, *, incoming: bool
    ) -> None:
        self.owner = owner
        self.ws = ws
        self.flow = flow
        self.incoming = incoming
        self.error: BaseException | None = None
        # Outgoing messages; None asks the writer to close the connection after what precedes it
        self._queue: collections.deque[bytes | None] = collections.deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._close_code: int = CloseCode.NORMAL_CLOSURE
        self.writer = owner._spawn(self._write())

    @property
    def is_open(self) -> bool:
        return not self._closing and self.ws.state is State.OPEN

    def write(self, data: bytes) -> None:
        if not self.is_open:
            raise TransportError(f"{self.flow} is closed")
        self.owner._check_buffer(self, self._queued + len(data))
        self._queue.append(data)
        self._queued += len(data)
        self._wake.set()

    def close(self, code: int = CloseCode.NORMAL_CLOSURE) -> None:
        """Close after the queued messages are sent."""
        if not self._closing:
            self._closing = True
            self._queue.append(None)
            self._close_code = code
            self._wake.set()

    def fail(self, error: BaseException, *, abort: bool = False) -> None:
        """Close the connection; ``error`` is what flow_closed will report."""
        if self.error is None:
            self.error = error
        if abort:
            self._closing = True
            self.ws.transport.abort()
        else:
            self.close(CloseCode.INTERNAL_ERROR)

    async def _write(self) -> None:
        ws = self.ws
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                data = self._queue.popleft()
                if data is None:
                    await ws.close(self._close_code)
                    return
                self._queued -= len(data)
                await ws.send(data, text=_is_utf8(data))  # RFC 7118 §5.1
        except ConnectionClosed:
            pass  # the reader reports the end of the flow
        except Exception as exc:
            logger.exception("%s: sending failed", self.flow)
            self.fail(exc, abort=True)

    async def read(self) -> None:
        """Deliver messages until the connection ends, then report flow_closed."""
        closed_by: BaseException | None = None
        try:
            while True:
                message = await self.ws.recv(decode=False)
                if isinstance(self.ws, _GuardedConnection):
                    self.ws.watch_incomplete(progressed=True)
                if self._closing:
                    continue  # closing: drain until the close handshake ends, deliver nothing
                self.owner._received(self, _keepalive(message))
        except ConnectionClosedOK:
            pass
        except ConnectionClosed as exc:  # abnormal closure, keep-alive timeout, message too big
            closed_by = exc
        except Exception as exc:
            logger.exception("%s: receiving failed", self.flow)
            closed_by = exc
            self.ws.transport.abort()
        finally:
            self._closing = True
            self.writer.cancel()
            self.owner._connection_lost(self, self.error or closed_by)
            await asyncio.wait([self.writer])


class WebSocketTransport(ConnectionTransport[_WsConnection]):
    """WS or WSS connections (RFC 7118): a listening server, outgoing connections, or both.

    Flows are ``Flow("WS" | "WSS", remote=peer (host, port), local, connection=<unique int>)``.
    """

    def __init__(
        self,
        receiver: Receiver,
        *,
        tls: bool = False,
        client_ssl: ssl_module.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 2.0,
        max_connections: int = 1000,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        """Use :meth:`listen` or :meth:`client`."""
        super().__init__(
            receiver,
            "WSS" if tls else "WS",
            client_ssl=client_ssl,
            limits=limits,
            max_connections=max_connections,
            max_buffer=max_buffer,
        )
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._attempts: set[asyncio.Task[_WsConnection]] = set()

    @classmethod
    async def listen(
        cls,
        receiver: Receiver,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl: ssl_module.SSLContext | None = None,
        client_ssl: ssl_module.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 2.0,
        max_connections: int = 1000,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> WebSocketTransport:
        """Serve WebSocket (WSS when ``ssl``, a server context, is given) on (host, port).

        Only clients offering the ``sip`` subprotocol are accepted (RFC 7118 §4); others get
        HTTP 400, and connections beyond ``max_connections`` get HTTP 503.
        """
        self = cls(
            receiver,
            tls=ssl is not None,
            client_ssl=client_ssl,
            limits=limits,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_connections=max_connections,
            max_buffer=max_buffer,
        )
        guarded = type(
            "GuardedConnection",
            (_GuardedConnection,),
            {"incomplete_timeout": limits.incomplete_timeout},
        )
        try:
            self._server = await serve(
                self._serve_connection,
                host,
                port,
                ssl=ssl,
                subprotocols=[SIP_SUBPROTOCOL],
                process_request=self._process_request,
                max_size=limits.max_message_size,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                open_timeout=limits.incomplete_timeout,  # TLS and WebSocket handshakes
                create_connection=guarded,
                logger=wire_logger,
            )
        except OSError as exc:
            raise self._listen_error(host, port, exc) from exc
        self._local = address(next(iter(self._server.sockets)).getsockname())
        return self

    @classmethod
    def client(
        cls,
        receiver: Receiver,
        *,
        tls: bool = False,
        ssl: ssl_module.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 2.0,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> WebSocketTransport:
        """A transport for outgoing connections only, to ws:// and wss:// URLs alike.

        Each flow says "WS" or "WSS" after its URL; :attr:`name` is "WSS" when ``tls`` or ``ssl``
        (the default client context of :meth:`connect`) is given, else "WS".
        """
        return cls(
            receiver,
            tls=tls or ssl is not None,
            client_ssl=ssl,
            limits=limits,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_buffer=max_buffer,
        )

    async def connect(
        self,
        url: str,
        *,
        ssl: ssl_module.SSLContext | None = None,
        timeout: float = 5.0,
        headers: HeadersLike | None = None,
    ) -> Flow:
        """Open a WebSocket connection to ``url`` offering the ``sip`` subprotocol (RFC 7118 §4).

        The flow is "WSS" for a wss:// URL, else "WS", whatever the transport's name. A wss://
        server is verified with ``ssl`` or the transport's client context (system CAs by
        default). ``headers`` are added to the HTTP request. Raises
        :class:`~sipcore.errors.TransportError` if the connection is refused, times out, fails
        certificate verification, is rejected, or the server does not select ``sip``.
        """
        self._check_open()
        try:
            secure = parse_uri(url).secure
        except InvalidURI as exc:
            raise ValueError(f"not a WebSocket URL: {url!r}") from exc
        if secure and ssl is None:
            ssl = self._client_context()
        attempt = asyncio.get_running_loop().create_task(
            self._open(url, "WSS" if secure else "WS", ssl, timeout, headers)
        )
        self._attempts.add(attempt)
        attempt.add_done_callback(self._attempts.discard)
        return await self._await_attempt(attempt, url)

    async def _open(
        self,
        url: str,
        name: str,
        context: ssl_module.SSLContext | None,
        timeout: float,
        headers: HeadersLike | None,
    ) -> _WsConnection:
        try:
            ws = await ws_connect(
                url,
                ssl=context,
                subprotocols=[SIP_SUBPROTOCOL],
                additional_headers=headers,
                proxy=None,
                open_timeout=timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                close_timeout=self._close_timeout,
                max_size=self._limits.max_message_size,
                logger=wire_logger,
            )
        except InvalidStatus as exc:
            raise TransportError(
                f"connection to {url} rejected: HTTP {exc.response.status_code}"
            ) from exc
        except InvalidHandshake as exc:
            raise TransportError(f"connection to {url}: handshake failed: {exc}") from exc
        except OSError as exc:  # refused, timed out, certificate or TLS handshake failed
            raise connect_error(url, exc, timeout) from exc
        if ws.subprotocol != SIP_SUBPROTOCOL:
            # RFC 7118 §4: without the "sip" subprotocol the connection is not usable for SIP
            await ws.close(CloseCode.PROTOCOL_ERROR, "sip subprotocol required")
            raise TransportError(
                f"connection to {url}: server did not select the 'sip' subprotocol "
                f"(got {ws.subprotocol!r}; RFC 7118 §4)"
            )
        if self._closed:
            await ws.close(CloseCode.GOING_AWAY)
            raise TransportError(f"{self!r} closed while connecting to {url}")
        conn = self._register(ws, name, incoming=False)
        self._spawn(conn.read())
        return conn

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        refusal = self._refusal(normalize_host(address(ws.remote_address)[0]))
        if refusal is not None:
            return ws.respond(503, refusal.capitalize() + "\n")
        return None

    async def _serve_connection(self, ws: ServerConnection) -> None:
        """websockets' handler task for one accepted connection: it is the reader."""
        conn = self._register(ws, self.name, incoming=True)
        self._accepted(conn)
        await conn.read()

    def _register(self, ws: Connection, name: str, *, incoming: bool) -> _WsConnection:
        flow = Flow(
            name,
            address(ws.remote_address),
            address(ws.local_address),
            next_connection_id(),
        )
        conn = _WsConnection(self, ws, flow, incoming=incoming)
        self._connections[flow.connection] = conn
        return conn

    def _connection_lost(self, conn: _WsConnection, error: BaseException | None) -> None:
        if self._connections.pop(conn.flow.connection, None) is not None:
            self._ended(conn, error)

    def _spawn(self, coro: Coroutine[object, object, object]) -> asyncio.Task[object]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _route(self, remote: tuple[str, int]) -> _WsConnection | None:
        return next(
            (
                c
                for c in self._connections.values()
                if (normalize_host(c.flow.remote[0]), c.flow.remote[1]) == remote and c.is_open
            ),
            None,
        )

    async def close(self) -> None:
        self._closed = True
        attempts = list(self._attempts)
        for attempt in attempts:
            attempt.cancel()
        if attempts:
            await asyncio.wait(attempts)
        for conn in list(self._connections.values()):
            conn.close(CloseCode.GOING_AWAY)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=2 * self._close_timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
