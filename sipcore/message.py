"""SIP requests and responses: parse, typed access, build, serialize (RFC 3261 §7, §8, §20).

``parse_message`` handles one datagram or WebSocket message (RFC 7118 §5: one SIP message per
frame) or one message cut by :class:`sipcore.framer.StreamFramer`. It validates the start line,
the header-line syntax, Content-Length and the headers every transaction needs (Via, From, To,
Call-ID, CSeq, Max-Forwards, Contact, Expires); other headers are parsed when first accessed.
Any malformed input raises :class:`ParseError`, never anything else.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import _grammar as g
from .errors import ParseError
from .headers import (
    AuthHeader,
    CSeq,
    Headers,
    MediaType,
    Via,
    canonical_name,
    parse_token_list,
    split_list,
    split_values,
)
from .uri import NameAddr, SipUri, Uri, _fast_sip_uri, parse_delta_seconds, parse_uri

# §8.1.1.7: branch IDs of RFC 3261 elements start with the magic cookie
MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep any input from exhausting memory or time."""

    max_message_size: int = 65535
    """Largest message (start line, headers and body) in bytes; larger input gets 513."""
    max_header_count: int = 256
    """Most header lines in one message (after unfolding)."""
    max_line_length: int = 8192
    """Longest start line or header line (after unfolding)."""
    incomplete_timeout: float = 30.0
    """Seconds a connection may take to complete a message it has started (or its TLS or
    WebSocket opening handshake) before it is closed: a slow-loris peer cannot hold it open."""
    max_connections_per_address: int = 50
    """Most incoming connections from one remote IP address at once; the excess is refused."""
    max_transactions_per_peer: int = 500
    """Most pending server transactions created by requests from one remote IP address; the
    excess is answered 503 with Retry-After (RFC 3261 §21.5.4)."""


DEFAULT_LIMITS = Limits()

_REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK", 202: "Accepted",
    204: "No Notification", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 410: "Gone", 412: "Conditional Request Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    428: "Use Identity Header", 429: "Provide Referrer Identity", 430: "Flow Failed",
    433: "Anonymity Disallowed", 439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded", 469: "Bad Info Package", 470: "Consent Needed",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required", 500: "Server Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large",
    555: "Push Notification Service Not Supported",
    580: "Precondition Failure", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}  # fmt: skip


def reason_phrase(status_code: int) -> str:
    """The standard reason phrase of a status code (a class default for unknown codes)."""
    return _REASONS.get(status_code) or _REASONS.get(status_code // 100 * 100, "Unknown")


# -- typed header parsers (cached per Headers by canonical name) ---------------------------


def _vias(lines: list[str]) -> list[Via]:
    vias: list[Via] = []
    for line in lines:
        vias.extend(Via.parse(v) for v in split_list(line))
    return vias


def _name_addrs(where: str) -> Callable[[list[str]], list[NameAddr]]:
    def parse(lines: list[str]) -> list[NameAddr]:
        return [NameAddr.parse(value, where=where) for value in split_values(lines)]

    return parse


def _single(where: str, lines: list[str]) -> str | None:
    if not lines:
        return None
    if len(lines) > 1:
        raise ParseError(f"more than one {where} header")
    return lines[0]


def _required(where: str, lines: list[str]) -> str:
    value = _single(where, lines)
    if value is None:
        raise ParseError(f"no {where} header")
    return value


def _name_addr(where: str) -> Callable[[list[str]], NameAddr]:
    def parse(lines: list[str]) -> NameAddr:
        return NameAddr.parse(_required(where, lines), where=where)

    return parse


def _call_id(lines: list[str]) -> str:
    value = _required("Call-ID", lines)
    if not g.CALL_ID_RE.fullmatch(value):
        raise ParseError(f"bad Call-ID: {value!r}")
    return value


def _cseq(lines: list[str]) -> CSeq:
    return CSeq.parse(_required("CSeq", lines))


def _max_forwards(lines: list[str]) -> int | None:
    value = _single("Max-Forwards", lines)
    if value is None:
        return None
    # §20.22: 1*DIGIT; RFC 4475 §3.1.2.4 treats values above 255 as out of range
    if not value.isdigit() or not value.isascii():
        raise ParseError(f"bad Max-Forwards: {value!r}")
    stripped = value.lstrip("0") or "0"
    if len(stripped) > 3 or int(stripped) > 255:
        raise ParseError(f"Max-Forwards out of range: {value!r}")
    return int(stripped)


def _int_header(where: str) -> Callable[[list[str]], int | None]:
    def parse(lines: list[str]) -> int | None:
        value = _single(where, lines)
        return None if value is None else parse_delta_seconds(value, where)

    return parse


def _contacts(lines: list[str]) -> tuple[list[NameAddr], bool]:
    contacts: list[NameAddr] = []
    star = False
    for line in lines:
        for value in split_list(line):
            if value == "*":
                star = True
            elif value:
                contacts.append(NameAddr.parse(value, where="Contact"))
    # §10.2.2: "*" only alone (and only with Expires: 0, checked by the registrar)
    if star and (contacts or len(lines) > 1):
        raise ParseError("Contact '*' mixed with other contacts")
    return contacts, star


def _content_type(lines: list[str]) -> MediaType | None:
    value = _single("Content-Type", lines)
    return None if value is None else MediaType.parse(value)


def _auth(lines: list[str]) -> list[AuthHeader]:
    return [AuthHeader.parse(line) for line in lines]


def _tokens(where: str) -> Callable[[list[str]], list[str]]:
    def parse(lines: list[str]) -> list[str]:
        return parse_token_list(split_values(lines), where)

    return parse


_FROM = _name_addr("From")
_TO = _name_addr("To")
_ROUTES = _name_addrs("Route")
_RECORD_ROUTES = _name_addrs("Record-Route")
_EXPIRES = _int_header("Expires")
_MIN_EXPIRES = _int_header("Min-Expires")
_ALLOW = _tokens("Allow")
_SUPPORTED = _tokens("Supported")
_REQUIRE = _tokens("Require")
_PROXY_REQUIRE = _tokens("Proxy-Require")
_UNSUPPORTED = _tokens("Unsupported")


class Message:
    """What requests and responses share: headers, body and typed accessors."""

    __slots__ = ("body", "headers")

    def __init__(self, headers: Headers | Iterable[tuple[str, str]] = (), body: bytes = b""):
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body

    # -- typed accessors (§20); cached in ``headers`` until the header changes ------------
    @property
    def vias(self) -> list[Via]:
        return self.headers.typed("via", _vias)

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise ParseError("no Via header")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        return self.headers.typed("from", _FROM)

    @property
    def to(self) -> NameAddr:
        return self.headers.typed("to", _TO)

    @property
    def call_id(self) -> str:
        return self.headers.typed("call-id", _call_id)

    @property
    def cseq(self) -> CSeq:
        return self.headers.typed("cseq", _cseq)

    @property
    def max_forwards(self) -> int | None:
        return self.headers.typed("max-forwards", _max_forwards)

    @property
    def contacts(self) -> list[NameAddr]:
        return self.headers.typed("contact", _contacts)[0]

    @property
    def contact_star(self) -> bool:
        return self.headers.typed("contact", _contacts)[1]

    @property
    def routes(self) -> list[NameAddr]:
        return self.headers.typed("route", _ROUTES)

    @property
    def record_routes(self) -> list[NameAddr]:
        return self.headers.typed("record-route", _RECORD_ROUTES)

    @property
    def expires(self) -> int | None:
        return self.headers.typed("expires", _EXPIRES)

    @property
    def min_expires(self) -> int | None:
        return self.headers.typed("min-expires", _MIN_EXPIRES)

    @property
    def content_type(self) -> MediaType | None:
        return self.headers.typed("content-type", _content_type)

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return None if value is None else parse_delta_seconds(value, "Content-Length")

    @property
    def allow(self) -> list[str]:
        return self.headers.typed("allow", _ALLOW)

    @property
    def supported(self) -> list[str]:
        return self.headers.typed("supported", _SUPPORTED)

    @property
    def require(self) -> list[str]:
        return self.headers.typed("require", _REQUIRE)

    @property
    def proxy_require(self) -> list[str]:
        return self.headers.typed("proxy-require", _PROXY_REQUIRE)

    @property
    def unsupported(self) -> list[str]:
        return self.headers.typed("unsupported", _UNSUPPORTED)

    @property
    def www_authenticate(self) -> list[AuthHeader]:
        return self.headers.typed("www-authenticate", _auth)

    @property
    def proxy_authenticate(self) -> list[AuthHeader]:
        return self.headers.typed("proxy-authenticate", _auth)

    @property
    def authorization(self) -> list[AuthHeader]:
        return self.headers.typed("authorization", _auth)

    @property
    def proxy_authorization(self) -> list[AuthHeader]:
        return self.headers.typed("proxy-authorization", _auth)

    # -- serialization ---------------------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        """The wire form; Content-Length is written to match the body (§20.14)."""
        headers = self.headers
        length = str(len(self.body))
        if headers._map.get("content-length") != [length]:
            headers = headers.copy()
            headers.set("Content-Length", length)
        lines = [self.start_line()]
        lines.extend(f"{name}: {value}" for _, name, value in headers._fields)
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body


class Request(Message):
    """A SIP request (§7.1). ``method`` is case-sensitive and kept verbatim."""

    __slots__ = ("method", "uri", "version")

    def __init__(
        self,
        method: str,
        uri: Uri,
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = g.SIP_VERSION,
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri
        self.version = version

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response (§7.2)."""

    __slots__ = ("reason", "status_code", "version")

    def __init__(
        self,
        status_code: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = g.SIP_VERSION,
    ) -> None:
        super().__init__(headers, body)
        self.status_code = status_code
        self.reason = reason_phrase(status_code) if reason is None else reason
        self.version = version

    def start_line(self) -> str:
        return f"{self.version} {self.status_code} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason}>"


# -- parsing ----------------------------------------------------------------------------------


def parse_message(
    data: bytes, *, limits: Limits = DEFAULT_LIMITS, stream: bool = False
) -> Request | Response:
    """Parse one SIP message from ``data``.

    Datagram semantics by default (UDP, one WebSocket message): Content-Length is optional and
    octets past it are ignored (RFC 4475 §3.1.1.8); ``stream=True`` requires Content-Length
    (§18.3). Raises :class:`ParseError` (with ``status_hint``) for any malformed input and
    nothing else.
    """
    try:
        return _parse(data, limits, stream)
    except ParseError:
        raise
    except Exception as exc:  # a guarantee for hostile input: only ParseError leaves
        raise ParseError(f"malformed message ({type(exc).__name__})") from exc


def _parse(data: object, limits: Limits, stream: bool) -> Request | Response:
    if not isinstance(data, bytes):
        if not isinstance(data, bytearray | memoryview):
            raise ParseError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if len(data) > limits.max_message_size:
        raise ParseError("message too large", status_hint=513)
    # §7.5: CRLFs before the start line are ignored
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        head = data[start:end].decode("utf-8", "surrogateescape")
        body = data[end + 4 :]
    else:
        # tolerate bare LF line ends (robustness, §7.5 leaves them to the implementation)
        end = data.find(b"\n\n", start)
        if end < 0:
            raise ParseError("no empty line after the headers")
        head = data[start:end].decode("utf-8", "surrogateescape").replace("\r\n", "\n")
        head = head.replace("\n", "\r\n")
        body = data[end + 2 :]
    if "\n " in head or "\n\t" in head:
        head = g.UNFOLD_RE.sub(" ", head)  # §7.3.1: folding is equivalent to one SP
    lines = head.split("\r\n")
    if len(lines) - 1 > limits.max_header_count:
        raise ParseError("too many header lines", status_hint=513)

    max_line = limits.max_line_length
    start_line = lines[0]
    if len(start_line) > max_line:
        raise ParseError("start line too long", status_hint=414)

    # header lines: name HCOLON value (§7.3.1); folded lines were joined above
    fields: list[tuple[str, str, str]] = []
    index: dict[str, list[str]] = {}
    cache = _NAME_CACHE
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        entry = cache.get(name)
        if entry is None or not value:
            if not colon:
                raise ParseError(f"header line without a colon: {line[:40]!r}")
            entry = entry or _header_name(name)
        key = entry[0]
        value = value.strip(" \t")
        fields.append((key, entry[1], value))
        values = index.get(key)
        if values is None:
            index[key] = [value]
        else:
            values.append(value)
    if len(head) > max_line and any(len(value) > max_line for _, _, value in fields):
        raise ParseError("header line too long", status_hint=513)
    headers = Headers._from_parsed(fields, index)

    msg: Request | Response
    if start_line[:4].upper() == "SIP/":
        msg = _response(start_line, headers)
    else:
        msg = _request(start_line, headers)

    try:
        via_lines = index["via"]
        (from_value,) = index["from"]
        (to_value,) = index["to"]
        call_id_lines = index["call-id"]
        (cseq_value,) = index["cseq"]
    except KeyError as exc:
        raise ParseError(f"missing {exc.args[0]} header") from None
    except ValueError:  # RFC 4475 §3.2.8: single-valued headers appear once
        raise ParseError("more than one From, To or CSeq header") from None

    # §18.3 / §20.14 Content-Length
    cl_values = index.get("content-length")
    if cl_values is None:
        if stream:
            raise ParseError("Content-Length required on a stream transport")
    else:
        if len(cl_values) > 1:  # RFC 4475 §3.2.9
            raise ParseError("more than one Content-Length header")
        length = parse_delta_seconds(cl_values[0], "Content-Length")
        if length > len(body):
            raise ParseError(f"Content-Length {length} exceeds the {len(body)} octets received")
        if length < len(body):
            body = body[:length]
    msg.body = body

    # eager typed parse of what transactions and dialogs always need, into the typed cache
    typed = headers._typed
    typed["via"] = _vias(via_lines)
    typed["from"] = NameAddr.parse(from_value, where="From")
    typed["to"] = NameAddr.parse(to_value, where="To")
    typed["call-id"] = _call_id(call_id_lines)
    typed["cseq"] = cseq = CSeq.parse(cseq_value)
    if "max-forwards" in index:
        typed["max-forwards"] = _max_forwards(index["max-forwards"])
    if "contact" in index:
        typed["contact"] = _contacts(index["contact"])
    if "expires" in index:
        typed["expires"] = _EXPIRES(index["expires"])
    if type(msg) is Request and cseq.method != msg.method:
        # RFC 4475 §3.1.2.16, §3.1.2.17
        raise ParseError(f"CSeq method {cseq.method!r} does not match {msg.method!r}")
    return msg


_NAME_CACHE: dict[str, tuple[str, str]] = {}


def _header_name(raw: str) -> tuple[str, str]:
    """Validate a header name (token, HCOLON allows SP/HT before the colon) and cache it."""
    name = raw.rstrip(" \t")
    if not g.TOKEN_RE.fullmatch(name):
        raise ParseError(f"bad header name: {raw[:40]!r}")
    entry = (canonical_name(name), name)
    if len(_NAME_CACHE) < 4096:
        _NAME_CACHE[raw] = entry
    return entry


def _request(line: str, headers: Headers) -> Request:
    method, _, rest = line.partition(" ")
    uri_text, _, version = rest.partition(" ")
    if version == g.SIP_VERSION and method.isalpha() and method.isascii():
        fast = _fast_sip_uri(uri_text)
        if fast is not None:
            return Request(method, fast, headers)
    m = g.REQUEST_LINE_RE.fullmatch(line)
    if m is None:
        raise ParseError(f"bad request line: {line[:80]!r}")
    method, uri_text, version = m.groups()
    if version.upper() != g.SIP_VERSION:
        if g.STATUS_LINE_RE.match(version + " 000"):
            raise ParseError(f"unsupported SIP version {version!r}", status_hint=505)
        raise ParseError(f"bad SIP version {version!r}")
    uri = parse_uri(uri_text)
    if isinstance(uri, SipUri) and uri.headers:
        # §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.9)
        raise ParseError("Request-URI must not carry headers")
    return Request(method, uri, headers, version=g.SIP_VERSION)


def _response(line: str, headers: Headers) -> Response:
    m = g.STATUS_LINE_RE.fullmatch(line)
    if m is None:
        raise ParseError(f"bad status line: {line[:80]!r}")
    version, code, reason = m.groups()
    if version.upper() != g.SIP_VERSION:
        raise ParseError(f"unsupported SIP version {version!r}", status_hint=505)
    status = int(code)
    if not 100 <= status <= 699:
        raise ParseError(f"status code out of range: {code}")
    return Response(status, reason or "", headers, version=g.SIP_VERSION)


# -- building (§8.1.1, §8.2.6) ----------------------------------------------------------------


def generate_branch() -> str:
    """A new branch parameter with the §8.1.1.7 magic cookie."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def generate_tag() -> str:
    """A new From/To tag (§19.3: at least 32 bits of randomness)."""
    return secrets.token_hex(6)


def generate_call_id(host: str | None = None) -> str:
    """A new Call-ID (§8.1.1.4), globally unique with overwhelming probability."""
    local = secrets.token_hex(12)
    return f"{local}@{host}" if host else local


def _add_body_fields(fields: list[tuple[str, str]], body: bytes, content_type: str | None) -> None:
    """Content-Type (required with a body) and Content-Length, the last fields of a message."""
    if body or content_type:
        if content_type is None:
            raise ValueError("a body needs a content_type")
        fields.append(("Content-Type", content_type))
    fields.append(("Content-Length", str(len(body))))


def build_request(
    method: str,
    uri: Uri,
    *,
    from_addr: NameAddr,
    to_addr: NameAddr,
    call_id: str,
    cseq: int,
    via: Via,
    max_forwards: int = 70,
    contact: NameAddr | None = None,
    routes: Iterable[NameAddr] = (),
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """A request with the §8.1.1 mandatory headers in the usual order."""
    fields: list[tuple[str, str]] = [("Via", str(via)), ("Max-Forwards", str(max_forwards))]
    fields.extend(("Route", str(route)) for route in routes)
    fields += [
        ("From", str(from_addr)),
        ("To", str(to_addr)),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        fields.append(("Contact", str(contact)))
    fields.extend(headers)
    _add_body_fields(fields, body, content_type)
    return Request(method, uri, Headers(fields), body)


# §12.1.1: responses that establish a dialog copy the Record-Route of the request
_DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


def build_response(
    request: Request,
    status_code: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """A response to ``request`` per §8.2.6.

    Via (all values, in order), From, Call-ID and CSeq are copied; To is copied and gets
    ``to_tag`` when it has no tag yet and the status is above 100 (§8.2.6.2); 100 Trying
    copies Timestamp (§8.2.6.1); dialog-creating 1xx/2xx copy Record-Route (§12.1.1).
    """
    src = request.headers
    fields: list[tuple[str, str]] = [("Via", value) for value in src.get_lines("via")]
    if status_code < 300 and request.method in _DIALOG_METHODS and status_code > 100:
        fields.extend(("Record-Route", value) for value in src.get_lines("record-route"))
    to_value = src.get("to") or ""
    if to_tag is not None and status_code > 100 and request.to.tag is None:
        to_value = str(request.to.with_tag(to_tag))
    fields += [
        ("From", src.get("from") or ""),
        ("To", to_value),
        ("Call-ID", src.get("call-id") or ""),
        ("CSeq", src.get("cseq") or ""),
    ]
    if status_code == 100 and "timestamp" in src:
        fields.append(("Timestamp", src.get("timestamp") or ""))
    fields.extend(headers)
    _add_body_fields(fields, body, content_type)
    return Response(status_code, reason, Headers(fields), body)
