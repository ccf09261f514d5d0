"""SIP over TCP and TLS (RFC 3261 §18.3, §26.2; RFC 5626 §4.4.1 keep-alives; RFC 5923 reuse).

Each connection is an :class:`asyncio.Protocol` with its own :class:`~sipcore.framer.StreamFramer`:
bytes are cut into messages inside ``data_received`` and handed to the receiver at once, so there
is no reader task per connection. A framing error cannot be recovered from on a stream (§18.3):
the connection is closed and the error is reported with ``flow_closed``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from typing import cast

from sipcore.errors import ParseError, TransportError
from sipcore.flow import Flow
from sipcore.framer import StreamFramer
from sipcore.message import DEFAULT_LIMITS, Limits
from sipcore.transaction_layer import error_response
from sipcore.transport.base import (
    DEFAULT_MAX_BUFFER,
    ConnectionTransport,
    MessageDeadline,
    Receiver,
    address,
    connect_error,
    logger,
    next_connection_id,
    normalize_host,
)

_WRITE_HIGH_WATER = 64 * 1024  # pause reading the peer while this much is queued to it
_CLOSE_TIMEOUT = 2.0  # close(): how long a connection may take to close before it is aborted
_TLS_HANDSHAKE_TIMEOUT = 10.0  # incoming TLS handshakes that take longer are dropped


class _Connection(asyncio.Protocol):
    """One TCP or TLS connection, incoming or outgoing."""

    def __init__(self, owner: StreamTransport, *, incoming: bool) -> None:
        self._owner = owner
        self.incoming = incoming
        self.transport: asyncio.Transport | None = None
        self.flow = Flow(owner.name, ("", 0))  # replaced in connection_made
        self.keys: list[tuple[str, int]] = []  # entries of the owner's route table
        self._framer = StreamFramer(owner._limits)
        self._error: BaseException | None = None
        self.registered = False
        self._deadline = MessageDeadline(owner._limits.incomplete_timeout, self._incomplete)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def fail(self, error: BaseException, *, abort: bool = False) -> None:
        """Close the connection; ``error`` is what flow_closed will report."""
        if self._error is None:
            self._error = error
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise TransportError(f"{self.flow} is closed")
        self._owner._check_buffer(self, transport.get_write_buffer_size() + len(data))
        transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.flow = Flow(
            self._owner.name,
            address(transport.get_extra_info("peername")),
            address(transport.get_extra_info("sockname")),
            next_connection_id(),
        )
        self.transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        self._owner._connection_made(self)

    def data_received(self, data: bytes) -> None:
        try:
            items = self._framer.feed(data)
        except ParseError as exc:
            self._framing_failed(exc)
            return
        self._deadline.watch(
            started=bool(self._framer.buffered), progressed=bool(items), is_open=self.is_open
        )
        for item in items:
            if not self.is_open:
                break
            self._owner._received(self, item)
        if self._framer.failed is not None and self.is_open:
            self._framing_failed(self._framer.failed)

    def _framing_failed(self, exc: ParseError) -> None:
        """§18.3: the stream cannot be resynchronised after a framing error, so the connection
        closes; a request whose header section arrived whole gets its error answer first (RFC
        4475 §3.1.2.3, §3.3.9: "should respond with an error")."""
        logger.info("%s: framing error, closing: %s", self.flow, exc)
        head = self._framer.failed_head
        if head is not None and head[:4].upper() != b"SIP/" and self.transport is not None:
            answer = error_response(head, exc.status_hint)
            if answer is not None and not self.transport.is_closing():
                self.transport.write(answer)
        self.fail(exc)

    def _incomplete(self) -> None:
        error = TransportError(
            f"{self.flow}: message incomplete after "
            f"{self._deadline.timeout:g} s ({self._framer.buffered} octets), flow closed"
        )
        self._owner._log(("incomplete", self.flow.remote[0]), logging.INFO, "%s", error)
        self.fail(error, abort=True)

    def eof_received(self) -> bool:
        return False  # a half-closed SIP connection is of no use: close our side too

    def pause_writing(self) -> None:
        # Back-pressure: stop reading requests from a peer that does not read our responses.
        logger.debug("%s: write buffer high, reading paused", self.flow)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        logger.debug("%s: write buffer drained, reading resumed", self.flow)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        try:
            self._owner._connection_lost(self, self._error or exc)
        finally:
            if not self.closed.done():
                self.closed.set_result(None)


class StreamTransport(ConnectionTransport[_Connection]):
    """TCP or TLS connections: a listening socket, outgoing connections, or both.

    Flows are ``Flow("TCP" | "TLS", remote, local, connection=<unique int>)``. :meth:`connect`
    reuses an open connection to the same destination (RFC 3261 §18.1.1, in the spirit of
    RFC 5923), and :meth:`send` with a flow whose ``connection`` is 0 picks the open connection to
    ``flow.remote``.
    """

    def __init__(
        self,
        receiver: Receiver,
        *,
        tls: bool = False,
        client_ssl: ssl_module.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        max_connections: int = 1000,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        """Use :meth:`listen` or :meth:`client`."""
        super().__init__(
            receiver,
            "TLS" if tls else "TCP",
            client_ssl=client_ssl,
            limits=limits,
            max_connections=max_connections,
            max_buffer=max_buffer,
        )
        self._server: asyncio.Server | None = None
        self._routes: dict[tuple[str, int], _Connection] = {}
        self._pending: dict[tuple[str, int], asyncio.Task[_Connection]] = {}

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
        max_connections: int = 1000,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> StreamTransport:
        """Listen on (host, port); TLS when ``ssl`` (a server context) is given.

        ``client_ssl`` is the default context of :meth:`connect` on a TLS transport (else
        :func:`~sipcore.transport.client_ssl_context`). Incoming connections beyond
        ``max_connections`` are closed at once.
        """
        self = cls(
            receiver,
            tls=ssl is not None,
            client_ssl=client_ssl,
            limits=limits,
            max_connections=max_connections,
            max_buffer=max_buffer,
        )
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _Connection(self, incoming=True),
                host,
                port,
                ssl=ssl,
                ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT if ssl is not None else None,
            )
        except OSError as exc:
            raise self._listen_error(host, port, exc) from exc
        self._local = address(self._server.sockets[0].getsockname())
        return self

    @classmethod
    def client(
        cls,
        receiver: Receiver,
        *,
        tls: bool = False,
        ssl: ssl_module.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> StreamTransport:
        """A transport for outgoing connections only; TLS when ``tls`` or ``ssl`` is given.

        ``ssl`` is the default client context of :meth:`connect` (else
        :func:`~sipcore.transport.client_ssl_context`: system CAs, verification on).
        """
        return cls(
            receiver,
            tls=tls or ssl is not None,
            client_ssl=ssl,
            limits=limits,
            max_buffer=max_buffer,
        )

    async def connect(
        self,
        host: str,
        port: int,
        *,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = 5.0,
    ) -> Flow:
        """Open a connection to (host, port), or return the open one (RFC 3261 §18.1.1).

        Concurrent calls for one destination share one attempt. On a TLS transport the server is
        verified against ``server_hostname`` (default: ``host``) with ``ssl`` or the transport's
        client context (§26.3.1). Raises :class:`~sipcore.errors.TransportError` saying whether
        the connection was refused, timed out, or failed certificate verification.
        """
        if ssl is not None and self.name != "TLS":
            raise ValueError("ssl= given to connect() on a TCP transport; use a TLS transport")
        key = (normalize_host(host), port)
        while True:
            self._check_open()
            conn = self._routes.get(key)
            if conn is not None and conn.is_open:
                return conn.flow
            attempt = self._pending.get(key)
            if attempt is None:
                break
            await asyncio.wait([attempt])  # another caller's attempt: share its outcome
            if not attempt.cancelled() and (error := attempt.exception()) is not None:
                raise TransportError(str(error)) from error
        attempt = asyncio.get_running_loop().create_task(
            self._open(key, host, port, ssl, server_hostname, timeout)
        )
        self._pending[key] = attempt
        attempt.add_done_callback(lambda task: self._attempt_done(key, task))
        return await self._await_attempt(attempt, f"{host}:{port}")

    async def _open(
        self,
        key: tuple[str, int],
        host: str,
        port: int,
        context: ssl_module.SSLContext | None,
        server_hostname: str | None,
        timeout: float,
    ) -> _Connection:
        """The connect attempt, run as a task that close() cancels."""
        if self.name == "TLS" and context is None:
            context = self._client_context()
        target = f"{self.name} {host}:{port}"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, incoming=False),
                    host,
                    port,
                    ssl=context,
                    server_hostname=(server_hostname or host) if context is not None else None,
                )
        except OSError as exc:
            raise connect_error(target, exc, timeout) from exc
        if not conn.registered:  # closed meanwhile, or the transport was closed
            raise TransportError(f"connection to {target} closed at once")
        conn.keys.append(key)
        self._routes[key] = conn
        return conn

    def _attempt_done(self, key: tuple[str, int], task: asyncio.Task[_Connection]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # mark it retrieved: its caller or the waiters report it

    def _connection_made(self, conn: _Connection) -> None:
        if self._closed:
            conn.fail(TransportError(f"{self!r} is closed"), abort=True)
            return
        if conn.incoming:
            refusal = self._refusal(normalize_host(conn.flow.remote[0]))
            if refusal is not None:
                conn.fail(TransportError(refusal), abort=True)
                return
        conn.registered = True
        self._connections[conn.flow.connection] = conn
        remote = (normalize_host(conn.flow.remote[0]), conn.flow.remote[1])
        conn.keys.append(remote)
        self._routes[remote] = conn
        if conn.incoming:
            self._accepted(conn)

    def _connection_lost(self, conn: _Connection, error: BaseException | None) -> None:
        if not conn.registered:
            return
        conn.registered = False
        del self._connections[conn.flow.connection]
        for key in conn.keys:
            if self._routes.get(key) is conn:
                del self._routes[key]
        self._ended(conn, error)

    def _route(self, remote: tuple[str, int]) -> _Connection | None:
        return self._routes.get(remote)

    async def close(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.close()
        attempts = list(self._pending.values())
        for attempt in attempts:
            attempt.cancel()
        if attempts:
            await asyncio.wait(attempts)
        conns = list(self._connections.values())
        for conn in conns:
            conn.close()
        waiting = {conn.closed for conn in conns}
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=_CLOSE_TIMEOUT)
            if late:
                for conn in conns:
                    if not conn.closed.done() and conn.transport is not None:
                        conn.transport.abort()
                await asyncio.wait(late)
        if self._server is not None:
            await self._server.wait_closed()
