"""Message framing on stream transports (TCP, TLS): RFC 3261 §18.3, RFC 5626 §4.4.1.

Datagrams and WebSocket messages carry exactly one SIP message each (RFC 7118 §5) and go straight
to :func:`sipcore.parse_message`; byte streams go through :class:`StreamFramer` first, which cuts
them at Content-Length and reports CRLF keep-alives.
"""

from __future__ import annotations

import enum
import re

from .errors import ParseError
from .message import DEFAULT_LIMITS, Limits


class KeepAlive(enum.Enum):
    """RFC 5626 §4.4.1 keep-alives seen between messages on a stream."""

    PING = "ping"  # CRLF CRLF: answer with a pong
    PONG = "pong"  # CRLF


_CONTENT_LENGTH_RE = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.I | re.M
)


class StreamFramer:
    """Incremental framer: ``feed(bytes)`` returns the complete messages and keep-alives.

    Handles split and coalesced messages. Any framing error (no Content-Length, a bad one, more
    than ``limits.max_message_size`` octets) raises :class:`ParseError`; the stream cannot be
    resynchronised after that and the connection must be closed (§18.3).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no end of headers
        self._total: int | None = None  # size of the message being received, once known
        self._failed: ParseError | None = None
        self._failed_head: bytes | None = None

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned."""
        return len(self._buffer)

    @property
    def failed(self) -> ParseError | None:
        """The framing error met, if any (raised by the next :meth:`feed` when messages
        completed before it were returned)."""
        return self._failed

    @property
    def failed_head(self) -> bytes | None:
        """After a framing error in a complete header section (no Content-Length, a bad or a
        conflicting one, too large), that section: enough to answer the request before the
        connection closes (RFC 4475 §3.1.2.3: "should respond with an error")."""
        return self._failed_head

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        """The messages and keep-alives completed by ``data``. After a framing error the
        messages completed before it are still returned; the error is raised by the next call
        (and by every call after it)."""
        if self._failed is not None:
            raise self._failed
        out: list[bytes | KeepAlive] = []
        try:
            self._feed(data, out)
        except ParseError as exc:
            self._failed = exc
            if not out:
                raise
        return out

    def _feed(self, data: bytes, out: list[bytes | KeepAlive]) -> None:
        buf = self._buffer
        buf += data
        limit = self._limits.max_message_size
        while buf:
            if self._total is None:
                if buf[0] == 0x0D:  # CR: a keep-alive (§7.5 leading CRLFs are keep-alives too)
                    if buf.startswith(b"\r\n\r\n"):
                        out.append(KeepAlive.PING)
                        del buf[:4]
                        continue
                    if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                        if bytes(buf) == b"\r\n":
                            out.append(KeepAlive.PONG)
                            del buf[:2]
                        break
                    if buf.startswith(b"\r\n"):
                        out.append(KeepAlive.PONG)
                        del buf[:2]
                        continue
                    raise ParseError("stray CR between messages")
                end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
                if end < 0:
                    self._scanned = len(buf)
                    if len(buf) > limit:
                        raise ParseError("message headers exceed the size limit", status_hint=513)
                    break
                head = bytes(buf[:end])
                self._failed_head = head + b"\r\n\r\n"  # kept only if framing fails below
                lengths = _CONTENT_LENGTH_RE.findall(head)
                if not lengths:
                    raise ParseError("Content-Length required on a stream transport")
                if len(set(lengths)) > 1:
                    raise ParseError("conflicting Content-Length values")
                text = lengths[0]
                if not text.isdigit() or len(text.lstrip(b"0")) > 10:
                    raise ParseError(f"bad Content-Length: {text[:20]!r}")
                self._total = end + 4 + int(text)
                if self._total > limit:
                    raise ParseError("message exceeds the size limit", status_hint=513)
                self._failed_head = None
            if len(buf) < self._total:
                break
            out.append(bytes(buf[: self._total]))
            del buf[: self._total]
            self._total = None
            self._scanned = 0
