"""Header fields: a case-insensitive multimap and typed header values (RFC 3261 §7.3, §20)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from . import _grammar as g
from .errors import ParseError
from .uri import (
    LazyParams,
    Params,
    check_host,
    fast_hostport,
    format_params,
    parse_generic_params,
    parse_port,
    quote_string,
    unquote_string,
)

_T = TypeVar("_T")

# §7.3.3 compact forms, and later registrations (IANA "Header Field Parameters and Values")
COMPACT_FORMS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

# Headers whose grammar is a comma-separated list (§7.3.1): only these are split into values.
# Everything else (auth headers, Date, Call-ID, unknown headers ...) stays one value per line.
LIST_HEADERS = frozenset(
    {
        "accept",
        "accept-contact",
        "accept-encoding",
        "accept-language",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "error-info",
        "history-info",
        "in-reply-to",
        "p-asserted-identity",
        "p-preferred-identity",
        "path",
        "proxy-require",
        "reason",
        "record-route",
        "reject-contact",
        "request-disposition",
        "require",
        "route",
        "security-client",
        "security-server",
        "security-verify",
        "service-route",
        "supported",
        "unsupported",
        "via",
        "warning",
    }
)

_CANONICAL_CACHE: dict[str, str] = {}
_CACHE_LIMIT = 4096


def canonical_name(name: str) -> str:
    """The lookup key of a header name: lower case, compact forms expanded."""
    key = _CANONICAL_CACHE.get(name)
    if key is None:
        lower = name.lower()
        key = COMPACT_FORMS.get(lower, lower)
        if len(_CANONICAL_CACHE) < _CACHE_LIMIT:
            _CANONICAL_CACHE[name] = key
    return key


def split_list(value: str) -> list[str]:
    """Split a header value on commas outside quoted strings and <> (§7.3.1)."""
    if "," not in value:
        return [value]
    parts: list[str] = []
    start = 0
    in_quotes = in_angle = escaped = False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif in_quotes:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            parts.append(value[start:i].strip(" \t"))
            start = i + 1
    parts.append(value[start:].strip(" \t"))
    return parts


def split_values(lines: Iterable[str]) -> list[str]:
    """The non-empty values of the lines of a list header, split on top-level commas."""
    return [value for line in lines for value in split_list(line) if value]


class Headers:
    """An ordered, case-insensitive multimap of header fields.

    Names are matched case-insensitively and compact forms are accepted (``"v"`` is ``"Via"``);
    iteration yields ``(name, value)`` in wire order with names as they were written.
    """

    __slots__ = ("_fields", "_map", "_typed")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []
        self._map: dict[str, list[str]] = {}
        self._typed: dict[str, Any] = {}
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def _from_parsed(
        cls, fields: list[tuple[str, str, str]], index: dict[str, list[str]]
    ) -> Headers:
        headers = cls.__new__(cls)
        headers._fields = fields
        headers._map = index
        headers._typed = {}
        return headers

    def typed(self, key: str, parse: Callable[[list[str]], _T]) -> _T:
        """The typed value of canonical ``key``, parsed from its lines once and cached until the
        header changes. ``parse`` receives the raw lines (empty when the header is absent)."""
        try:
            return self._typed[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._typed[key] = parse(self._map.get(key, []))
            return value

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field value of ``name`` (one header line, unsplit), or ``default``."""
        values = self._map.get(canonical_name(name))
        return values[0] if values else default

    def get_lines(self, name: str) -> list[str]:
        """Every field value of ``name``, one per header line, unsplit."""
        return list(self._map.get(canonical_name(name), ()))

    def get_all(self, name: str) -> list[str]:
        """All values of ``name``; list-valued headers are split on top-level commas."""
        key = canonical_name(name)
        lines = self._map.get(key, ())
        return split_values(lines) if key in LIST_HEADERS else list(lines)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_name(name) in self._map

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._fields:
            yield name, value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, v) for k, _, v in self._fields] == [(k, v) for k, _, v in other._fields]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def copy(self) -> Headers:
        return Headers._from_parsed(list(self._fields), {k: list(v) for k, v in self._map.items()})

    # -- mutation ------------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        _check_field(name, value)
        key = canonical_name(name)
        self._typed.pop(key, None)
        self._fields.append((key, name, value))
        self._map.setdefault(key, []).append(value)

    def prepend(self, name: str, value: str) -> None:
        """Insert a header line before every other (e.g. a new top Via, §16.6 step 8)."""
        _check_field(name, value)
        key = canonical_name(name)
        self._typed.pop(key, None)
        self._fields.insert(0, (key, name, value))
        self._map.setdefault(key, []).insert(0, value)

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line, kept at the first line's position."""
        _check_field(name, value)
        key = canonical_name(name)
        if key not in self._map:
            self.add(name, value)
            return
        self._typed.pop(key, None)
        fields: list[tuple[str, str, str]] = []
        for field in self._fields:
            if field[0] != key:
                fields.append(field)
            elif key in self._map:
                fields.append((key, name, value))
                del self._map[key]
        self._fields = fields
        self._map[key] = [value]

    def remove(self, name: str) -> None:
        """Remove every line of ``name`` (no error when absent)."""
        key = canonical_name(name)
        self._typed.pop(key, None)
        if self._map.pop(key, None) is not None:
            self._fields = [f for f in self._fields if f[0] != key]

    def replace_line(self, name: str, index: int, value: str) -> None:
        """Replace the ``index``-th line of ``name`` in place."""
        _check_field(name, value)
        key = canonical_name(name)
        values = self._map.get(key)
        if values is None or not -len(values) <= index < len(values):
            raise IndexError(f"{name} has no line {index}")
        self._typed.pop(key, None)
        position = index % len(values)
        seen = 0
        for i, (field_key, field_name, _) in enumerate(self._fields):
            if field_key == key:
                if seen == position:
                    self._fields[i] = (key, field_name, value)
                    break
                seen += 1
        values[position] = value

    def remove_first(self, name: str) -> None:
        """Remove the first line of ``name`` (e.g. the top Via of a response, §18.1.2)."""
        key = canonical_name(name)
        values = self._map.get(key)
        if not values:
            return
        self._typed.pop(key, None)
        for i, field in enumerate(self._fields):
            if field[0] == key:
                del self._fields[i]
                break
        del values[0]
        if not values:
            del self._map[key]


def pop_first_value(headers: Headers, name: str) -> None:
    """Remove the first value of a list header, whose first line may hold several."""
    lines = headers.get_lines(name)
    if not lines:
        return
    values = split_list(lines[0])
    if len(values) > 1:
        headers.replace_line(name, 0, ", ".join(values[1:]))
    else:
        headers.remove_first(name)


def _check_field(name: str, value: str) -> None:
    """Refuse header lines that would corrupt the wire form (local misuse)."""
    if not g.TOKEN_RE.fullmatch(name):
        raise ValueError(f"bad header name: {name!r}")
    if "\r" in value or "\n" in value:
        raise ValueError(f"header value of {name} contains a line break")


class Via(LazyParams):
    """One via-parm (§20.42): sent-protocol, sent-by and parameters (split on first use)."""

    __slots__ = ("host", "port", "protocol", "transport")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: Params | None = None,
        protocol: str = "SIP/2.0",
    ) -> None:
        self.transport = transport.upper()
        self.host = host
        self.port = port
        self._params: Params | None = params if params is not None else {}
        self._ptext = ""
        self.protocol = protocol

    @classmethod
    def parse(cls, text: str) -> Via:
        if text.startswith("SIP/2.0/"):
            via = _fast_via(text)
            if via is not None:
                return via
        m = g.VIA_RE.fullmatch(text)
        if m is None:
            raise ParseError(f"bad Via: {text[:80]!r}")
        name, version, transport, host, port, ptext = m.groups()
        via = cls.__new__(cls)
        via.protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name}/{version}"
        via.transport = transport if transport.isupper() else transport.upper()
        via.host = check_host(host, "Via")
        via.port = None if port is None else parse_port(port, "Via")
        via._set_params(ptext)
        return via

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | bool | None:
        """RFC 3581: None when absent, True when present without a value, else the port."""
        if "rport" not in self.params:
            return None
        value = self.params["rport"]
        return True if value is None else parse_port(value, "Via rport")

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        value = self.params.get("ttl")
        if value is None:
            return None
        if not value.isdigit() or len(value) > 3 or int(value) > 255:
            raise ParseError(f"bad Via ttl: {value!r}")
        return int(value)

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def replace(self, **changes: Any) -> Via:
        fields: dict[str, Any] = {
            "transport": self.transport,
            "host": self.host,
            "port": self.port,
            "params": dict(self.params),
            "protocol": self.protocol,
        }
        fields.update(changes)
        return Via(**fields)

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return (
            self.protocol == other.protocol
            and self.transport == other.transport
            and self.host.lower() == other.host.lower()
            and self.port == other.port
            and self.params == other.params
        )

    def __hash__(self) -> int:
        return hash((self.transport, self.host.lower(), self.port, self.branch))


def _fast_via(text: str) -> Via | None:
    """``SIP/2.0/<transport> <host>[:<port>][;params]`` in its common shape (see uri.py)."""
    transport, sp, rest = text[8:].partition(" ")
    if not sp or not transport.isalpha() or not transport.isascii():
        return None
    sent_by, _, _ = rest.partition(";")
    hostport = fast_hostport(sent_by)
    if hostport is None:
        return None
    ptext = rest[len(sent_by) :]
    if ptext and g.FAST_PARAMS_RE.fullmatch(ptext) is None:
        return None
    via = Via.__new__(Via)
    via.protocol = "SIP/2.0"
    via.transport = transport if transport.isupper() else transport.upper()
    via.host, via.port = hostport
    via._set_params(ptext)
    return via


class CSeq:
    """CSeq (§20.16): sequence number (< 2**31, §8.1.1.5) and method."""

    __slots__ = ("method", "number")

    def __init__(self, number: int, method: str) -> None:
        self.number = number
        self.method = method

    @classmethod
    def parse(cls, text: str) -> CSeq:
        digits, sp, method = text.partition(" ")
        if (
            sp
            and method.isalpha()
            and method.isascii()
            and digits.isdigit()
            and digits.isascii()
            and len(digits) < 10
        ):
            return cls(int(digits), method)
        m = g.CSEQ_RE.fullmatch(text)
        if m is None:
            raise ParseError(f"bad CSeq: {text[:80]!r}")
        digits, method = m.groups()
        if len(digits) > 10:
            digits = digits.lstrip("0") or "0"
        number = int(digits) if len(digits) <= 10 else 2**31
        if number >= 2**31:
            raise ParseError(f"CSeq number out of range: {digits[:20]!r}")
        return cls(number, method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    def __repr__(self) -> str:
        return f"CSeq({self.number}, {self.method!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CSeq):
            return NotImplemented
        return self.number == other.number and self.method == other.method

    def __hash__(self) -> int:
        return hash((self.number, self.method))


class MediaType:
    """A media type (§20.15 Content-Type): type/subtype with parameters."""

    __slots__ = ("params", "subtype", "type")

    def __init__(self, type: str, subtype: str, params: Params | None = None) -> None:
        self.type = type.lower()
        self.subtype = subtype.lower()
        self.params: Params = params if params is not None else {}

    @classmethod
    def parse(cls, text: str) -> MediaType:
        m = g.MEDIA_TYPE_RE.match(text)
        if m is None:
            raise ParseError(f"bad media type: {text!r}")
        return cls(m.group(1), m.group(2), parse_generic_params(text[m.end() :], "media type"))

    @property
    def mime(self) -> str:
        """``type/subtype`` in lower case."""
        return f"{self.type}/{self.subtype}"

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"MediaType({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MediaType):
            return NotImplemented
        return self.mime == other.mime and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.mime)


class AuthHeader:
    """A challenge or credentials value (§20.27, §20.44; RFC 7235): scheme and auth-params.

    ``params`` holds unquoted values with lower-case names; ``token68`` is set for schemes such
    as Bearer (RFC 8898) that carry a single token.
    """

    __slots__ = ("params", "scheme", "token68")

    _QUOTED = frozenset(
        {"realm", "domain", "nonce", "opaque", "qop", "username", "uri", "response", "cnonce"}
    )

    def __init__(
        self, scheme: str, params: dict[str, str] | None = None, token68: str | None = None
    ):
        self.scheme = scheme
        self.params: dict[str, str] = params if params is not None else {}
        self.token68 = token68

    @classmethod
    def parse(cls, text: str) -> AuthHeader:
        text = text.strip(" \t")
        end = len(text)
        for sep in (" ", "\t"):
            pos = text.find(sep)
            if 0 <= pos < end:
                end = pos
        scheme, rest = text[:end], text[end:].strip(" \t")
        if not g.TOKEN_RE.fullmatch(scheme):
            raise ParseError(f"bad auth scheme: {text[:40]!r}")
        if rest and "=" not in rest.rstrip("="):
            if not g.TOKEN68_RE.fullmatch(rest):
                raise ParseError(f"bad token68 credentials for {scheme}")
            return cls(scheme, token68=rest)
        params: dict[str, str] = {}
        pos, end = 0, len(rest)
        while pos < end:
            m = g.AUTH_PARAM_RE.match(rest, pos)
            if m is None:
                raise ParseError(f"bad auth parameter: {rest[pos : pos + 40]!r}")
            key = m.group(1).lower()
            if key in params:  # RFC 7235 §2.2: each parameter at most once
                raise ParseError(f"repeated auth parameter: {key!r}")
            value = m.group(2)
            params[key] = unquote_string(value) if value[0] == '"' else value
            pos = m.end()
        return cls(scheme, params)

    def __str__(self) -> str:
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        parts = []
        credentials = "response" in self.params  # Authorization: qop is a bare token there
        for name, value in self.params.items():
            quoted = name in self._QUOTED and not (credentials and name == "qop")
            if quoted or not g.TOKEN_RE.fullmatch(value):
                parts.append(f"{name}={quote_string(value)}")
            else:
                parts.append(f"{name}={value}")
        return f"{self.scheme} " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"AuthHeader({self.scheme!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuthHeader):
            return NotImplemented
        return (
            self.scheme.lower() == other.scheme.lower()
            and self.params == other.params
            and self.token68 == other.token68
        )

    def __hash__(self) -> int:
        return hash(self.scheme.lower())


def parse_token_list(values: list[str], where: str) -> list[str]:
    """Validate a list of tokens (Allow, Supported, Require ...)."""
    for value in values:
        if not g.TOKEN_RE.fullmatch(value):
            raise ParseError(f"bad token in {where}: {value!r}")
    return values
