"""SIP, SIPS, tel and other URIs, and name-addr values (RFC 3261 §19.1, §20.10, §25; RFC 3966).

Value objects here are immutable by convention: they use ``__slots__`` rather than frozen
dataclasses because a message parse builds several of them and frozen construction costs
several times more; derive changed copies with ``replace()``.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import unquote

from . import _grammar as g
from .errors import ParseError

Params = dict[str, str | None]

_DEFAULT_PORTS = {"sip": 5060, "sips": 5061}


def _check_ipv6(host: str, where: str) -> str:
    """Validate an IPv6reference (RFC 5118 §4.1): brackets around a valid IPv6 address."""
    try:
        ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        raise ParseError(f"bad IPv6 reference in {where}: {host!r}") from None
    return host


def check_host(host: str, where: str) -> str:
    """Finish validating a host matched loosely as ``[...]`` or ``[A-Za-z0-9][A-Za-z0-9.-]*``:
    hostname labels (§25.1) or a valid IPv6reference (RFC 5118 §4.1)."""
    if host[0] == "[":
        return _check_ipv6(host, where)
    if ".." in host or "-." in host or ".-" in host or host[-1] == "-":
        raise ParseError(f"bad host in {where}: {host!r}")
    return host


def parse_port(text: str, where: str) -> int:
    """Parse a port (1*DIGIT, leading zeros allowed) bounded to 0-65535."""
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"bad port in {where}: {text!r}")
    if len(text) > 5:
        text = text.lstrip("0") or "0"
    port = int(text) if len(text) <= 5 else 65536
    if port > 65535:
        raise ParseError(f"port out of range in {where}: {text!r}")
    return port


def _split_uri_params(text: str) -> Params:
    """Already-validated ``;name[=value]`` parameters without quotes or spaces (uri-parameters
    always are), names lower-cased (§19.1.4: case-insensitive)."""
    params: Params = {}
    for item in text.split(";")[1:]:
        name, eq, value = item.partition("=")
        params[name.lower()] = value if eq else None
    return params


def split_params(text: str) -> Params:
    """Split already-validated *( SEMI generic-param ) text: lower-case names, quoted values
    keep their quotes, a parameter without a value maps to None."""
    if '"' not in text and " " not in text and "\t" not in text:
        return _split_uri_params(text)
    # quoted values may hold ';' and '=' (an empty match group means "no value": a quoted
    # value always has its quotes)
    return {name.lower(): value or None for name, value in g.PARAM_PAIR_RE.findall(text)}


def _split_uri_headers(text: str) -> dict[str, str]:
    """Already-validated headers = header *( "&" header )."""
    headers: dict[str, str] = {}
    for item in text.split("&"):
        name, _, value = item.partition("=")
        headers[name] = value
    return headers


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


class LazyParams:
    """Parameters kept as their validated text and split into a dict on first use (a parse
    pays only for the parameters someone reads)."""

    __slots__ = ("_params", "_ptext")

    _params: Params | None
    _ptext: str

    def _set_params(self, ptext: str) -> None:
        if ptext:
            self._params = None
            self._ptext = ptext
        else:
            self._params = {}
            self._ptext = ""

    _split = staticmethod(split_params)

    @property
    def params(self) -> Params:
        params = self._params
        if params is None:
            params = self._params = self._split(self._ptext)
        return params


# -- fast paths ---------------------------------------------------------------------------------
# The common shapes of URIs and parameters are recognised with str methods, which beat a regular
# expression here; they accept a strict subset of the grammar and return None for anything else,
# which then goes through the full patterns in ``_grammar`` (tests check both paths agree).
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_HOST_CHARS = _ALNUM + ".-"
_FAST_URI_CHARS = _ALNUM + "-_.!~*'()&=+$,;/:@"


def fast_hostport(hostport: str) -> tuple[str, int | None] | None:
    """Host and port of ``host[:port]`` in its common shape: a hostname or IPv4 address made
    only of letters, digits, '.' and '-' (§25.1), a port of at most five digits up to 65535."""
    host, colon, port_text = hostport.partition(":")
    if (
        not host
        or host.strip(_HOST_CHARS)
        or host[0] == "."
        or host[0] == "-"
        or host[-1] == "-"
        or ".." in host
        or "-." in host
        or ".-" in host
    ):
        return None
    if not colon:
        return host, None
    if not port_text.isdigit() or len(port_text) > 5 or not port_text.isascii():
        return None
    port = int(port_text)
    return (host, port) if port <= 65535 else None


def _fast_sip_uri(text: str) -> SipUri | None:
    if text.startswith("sip:"):
        rest = text[4:]
        scheme = "sip"
    elif text.startswith("sips:"):
        rest = text[5:]
        scheme = "sips"
    else:
        return None
    if not rest or rest.strip(_FAST_URI_CHARS):
        return None  # '%', '?', '[', or characters no URI may hold: the full grammar decides
    user: str | None
    user, at, hostpart = rest.partition("@")
    if at:
        if not user or ":" in user or "@" in hostpart:
            return None
    else:
        hostpart = user
        user = None
    hostport, _, _ = hostpart.partition(";")
    host_port = fast_hostport(hostport)
    if host_port is None:
        return None
    ptext = hostpart[len(hostport) :]
    if ptext and g.FAST_URI_PARAMS_RE.fullmatch(ptext) is None:
        return None
    uri = SipUri.__new__(SipUri)
    uri.scheme = scheme
    uri.user = user
    uri.password = None
    uri.host, uri.port = host_port
    uri._set_params(ptext)
    uri.headers = {}
    uri._text = text
    return uri


class SipUri(LazyParams):
    """A ``sip:`` or ``sips:`` URI (§19.1.1).

    ``user`` and ``password`` keep escapes as they were on the wire; ``params`` has lower-case
    names and is split from the text on first use; ``str()`` gives the wire form (the original
    text for a parsed URI).
    """

    __slots__ = (
        "_text",
        "headers",
        "host",
        "password",
        "port",
        "scheme",
        "user",
    )

    def __init__(
        self,
        host: str,
        *,
        scheme: str = "sip",
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
        params: Params | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self._params: Params | None = params if params is not None else {}
        self._ptext = ""
        self.headers: dict[str, str] = headers if headers is not None else {}
        self._text: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse ``sip:``/``sips:`` URI text; raise ParseError if it is not one (§25.1)."""
        uri = _fast_sip_uri(text)
        return uri if uri is not None else cls._parse_grammar(text)

    @classmethod
    def _parse_grammar(cls, text: str) -> SipUri:
        """The full §25.1 path, for everything the fast path leaves (tests check they agree)."""
        if "@" in text:
            m = g.SIP_URI_USER_RE.fullmatch(text)
            if m is None:
                raise ParseError(f"bad SIP URI: {text[:80]!r}")
            return cls._from_groups(text, *m.groups())
        m = g.SIP_URI_NOUSER_RE.fullmatch(text)
        if m is None:
            raise ParseError(f"bad SIP URI: {text[:80]!r}")
        scheme, host, port, params, headers = m.groups()
        return cls._from_groups(text, scheme, None, None, host, port, params, headers)

    @classmethod
    def _from_groups(
        cls,
        text: str,
        scheme: str,
        user: str | None,
        password: str | None,
        host: str,
        port: str | None,
        params: str,
        headers: str | None,
    ) -> SipUri:
        """Finish a URI whose syntax a grammar pattern has matched."""
        if "%" in text and g.BAD_ESCAPE_RE.search(text):
            raise ParseError(f"bad escape in URI: {text[:80]!r}")
        uri = cls.__new__(cls)
        uri.scheme = "sip" if scheme == "sip" else scheme.lower()
        uri.user = user
        uri.password = password
        uri.host = check_host(host, "URI")
        uri.port = None if port is None else parse_port(port, "URI")
        uri._set_params(params)
        uri.headers = _split_uri_headers(headers) if headers else {}
        uri._text = text
        return uri

    _split = staticmethod(_split_uri_params)

    # -- derived values ------------------------------------------------------------------
    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def lr(self) -> bool:
        return "lr" in self.params

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else _DEFAULT_PORTS[self.scheme]

    def replace(self, **changes: Any) -> SipUri:
        """A copy with the given fields changed (keyword names as in the constructor)."""
        fields: dict[str, Any] = {
            "scheme": self.scheme,
            "user": self.user,
            "password": self.password,
            "port": self.port,
            "params": dict(self.params),
            "headers": dict(self.headers),
        }
        host = changes.pop("host", self.host)
        fields.update(changes)
        return SipUri(host, **fields)

    def equivalent(self, other: object) -> bool:
        """URI comparison per §19.1.4."""
        if not isinstance(other, SipUri) or self.scheme != other.scheme:
            return False
        if _unescape(self.user) != _unescape(other.user):
            return False
        if _unescape(self.password) != _unescape(other.password):
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        for name in ("user", "ttl", "method", "maddr", "transport"):
            if _lower(self.params.get(name)) != _lower(other.params.get(name)) or (
                (name in self.params) != (name in other.params)
            ):
                return False
        for name in self.params.keys() & other.params.keys():
            if _lower(self.params[name]) != _lower(other.params[name]):
                return False
        mine = {k.lower(): unquote(v) for k, v in self.headers.items()}
        theirs = {k.lower(): unquote(v) for k, v in other.headers.items()}
        return mine == theirs

    def __str__(self) -> str:
        if self._text is None:
            userinfo = ""
            if self.user is not None:
                userinfo = self.user
                if self.password is not None:
                    userinfo += ":" + self.password
                userinfo += "@"
            text = f"{self.scheme}:{userinfo}{self.hostport}{format_params(self.params)}"
            if self.headers:
                text += "?" + "&".join(f"{k}={v}" for k, v in self.headers.items())
            self._text = text
        return self._text

    def __repr__(self) -> str:
        return f"SipUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SipUri):
            return NotImplemented
        return (
            self.scheme == other.scheme
            and self.user == other.user
            and self.password == other.password
            and self.host.lower() == other.host.lower()
            and self.port == other.port
            and self.params == other.params
            and self.headers == other.headers
        )

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, self.host.lower(), self.port))


class TelUri:
    """A ``tel:`` URI (RFC 3966): the number and its parameters."""

    __slots__ = ("number", "params")

    def __init__(self, number: str, params: Params | None = None) -> None:
        self.number = number
        self.params: Params = params if params is not None else {}

    @classmethod
    def parse(cls, text: str) -> TelUri:
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.lower() != "tel":
            raise ParseError(f"not a tel URI: {text!r}")
        number, _, _ = rest.partition(";")
        ptext = rest[len(number) :]
        if (
            not number
            or not g.PARAMCHARS_RE.fullmatch(number)
            or (ptext and not g.URI_PARAMS_RE.fullmatch(ptext))
            or ("%" in rest and g.BAD_ESCAPE_RE.search(rest))
        ):
            raise ParseError(f"bad tel URI: {text[:80]!r}")
        return cls(number, _split_uri_params(ptext) if ptext else {})

    @property
    def scheme(self) -> str:
        return "tel"

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"TelUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TelUri):
            return NotImplemented
        return self.number == other.number and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.number)


class AbsoluteUri:
    """Any other absoluteURI (RFC 2396), e.g. ``mailto:`` or ``urn:``, kept verbatim (the scheme
    compares case-insensitively)."""

    __slots__ = ("opaque", "scheme")

    def __init__(self, scheme: str, opaque: str) -> None:
        self.scheme = scheme
        self.opaque = opaque

    @classmethod
    def parse(cls, text: str) -> AbsoluteUri:
        scheme, colon, rest = text.partition(":")
        if not colon or not g.SCHEME_RE.fullmatch(scheme) or not g.URIC_RE.fullmatch(rest):
            raise ParseError(f"bad URI: {text!r}")
        return cls(scheme, rest)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def __repr__(self) -> str:
        return f"AbsoluteUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteUri):
            return NotImplemented
        return self.scheme.lower() == other.scheme.lower() and self.opaque == other.opaque

    def __hash__(self) -> int:
        return hash((self.scheme.lower(), self.opaque))


Uri = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse any addr-spec: SIP-URI / SIPS-URI / absoluteURI (tel URIs get their own type)."""
    if text[:4] == "sip:" or text[:5] == "sips:":
        return SipUri.parse(text)
    scheme = text[:5].lower()
    if scheme.startswith(("sip:", "sips:")):
        return SipUri.parse(text)
    if scheme.startswith("tel:"):
        return TelUri.parse(text)
    return AbsoluteUri.parse(text)


def _unescape(value: str | None) -> str | None:
    return unquote(value) if value is not None and "%" in value else value


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def unquote_string(quoted: str) -> str:
    """The content of a quoted-string without the quotes and quoted-pair escapes (§25.1)."""
    inner = quoted[1:-1]
    return g.QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner


def quote_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_generic_params(text: str, where: str) -> Params:
    """Validate and split *( SEMI generic-param ) (§25.1)."""
    if not text:
        return {}
    if g.GENERIC_PARAMS_RE.fullmatch(text) is None:
        raise ParseError(f"bad parameters in {where}: {text[:80]!r}")
    return split_params(text)


class NameAddr(LazyParams):
    """name-addr / addr-spec with header parameters, as in From, To, Contact, Route (§20.10).

    ``display_name`` is unquoted; ``params`` are the header parameters (lower-case names, quoted
    values with their quotes), split from the text on first use.
    """

    __slots__ = ("display_name", "uri")

    def __init__(self, uri: Uri, display_name: str | None = None, params: Params | None = None):
        self.uri = uri
        self.display_name = display_name
        self._params: Params | None = params if params is not None else {}
        self._ptext = ""

    @classmethod
    def parse(cls, text: str, *, where: str = "header") -> NameAddr:
        """Parse one ( name-addr / addr-spec ) *( SEMI generic-param ) value (§20.10)."""
        addr = cls.__new__(cls)
        fast = _fast_name_addr(addr, text)
        if fast:
            return addr
        m = g.NAME_ADDR_SIP_RE.fullmatch(text)
        if m is not None:
            quoted, tokens, scheme, user, password, host, port, uparams, uheaders, ptext = (
                m.groups()
            )
            start, end = m.span(3)
            addr.uri = SipUri._from_groups(
                text[start : text.index(">", end)],
                scheme,
                user,
                password,
                host,
                port,
                uparams,
                uheaders,
            )
        else:
            m = g.NAME_ADDR_RE.fullmatch(text)
            if m is not None:
                quoted, tokens, uri_text, ptext = m.groups()
            else:
                quoted = tokens = None
                uri_text, ptext = _addr_spec(text, where)
            addr.uri = parse_uri(uri_text)
        addr.display_name = tokens if quoted is None else unquote_string(quoted)
        addr._set_params(ptext)
        return addr

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def q(self) -> float | None:
        value = self.params.get("q")
        if value is None:
            return None
        try:
            q = float(value)
        except ValueError:
            raise ParseError(f"bad q value: {value!r}") from None
        if not 0.0 <= q <= 1.0:
            raise ParseError(f"q value out of range: {value!r}")
        return q

    @property
    def expires(self) -> int | None:
        value = self.params.get("expires")
        return None if value is None else parse_delta_seconds(value, "expires parameter")

    def replace(self, **changes: Any) -> NameAddr:
        fields: dict[str, Any] = {
            "uri": self.uri,
            "display_name": self.display_name,
            "params": dict(self.params),
        }
        fields.update(changes)
        return NameAddr(**fields)

    def with_tag(self, tag: str) -> NameAddr:
        params = dict(self.params)
        params["tag"] = tag
        return NameAddr(self.uri, self.display_name, params)

    def __str__(self) -> str:
        uri = str(self.uri)
        if self.display_name is not None:
            head = f"{quote_string(self.display_name)} <{uri}>"
        else:
            head = f"<{uri}>"
        return head + format_params(self.params)

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return (
            self.uri == other.uri
            and self.display_name == other.display_name
            and self.params == other.params
        )

    def __hash__(self) -> int:
        return hash(self.uri)


def _fast_name_addr(addr: NameAddr, text: str) -> bool:
    """Fill ``addr`` from ``[ quoted-string ] <sip-uri> [ params ]`` in its common shape."""
    display: str | None = None
    if text[:1] == '"':
        end = text.find('"', 1)
        if end < 0:
            return False
        display = text[1:end]
        if "\\" in display or not display.isprintable():
            return False
        text = text[end + 1 :].lstrip(" ")
    if text[:1] != "<":
        return False
    gt = text.find(">")
    if gt < 0:
        return False
    uri = _fast_sip_uri(text[1:gt])
    if uri is None:
        return False
    ptext = text[gt + 1 :]
    if ptext and g.FAST_PARAMS_RE.fullmatch(ptext) is None:
        return False
    addr.uri = uri
    addr.display_name = display
    addr._set_params(ptext)
    return True


def _addr_spec(text: str, where: str) -> tuple[str, str]:
    """Split an addr-spec value (no <>) into URI text and header parameters (§20.10): any ';'
    starts the header parameters, and a URI holding ',', '?' or ';' would have needed <>."""
    text = text.strip(" \t")
    uri_text, _, _ = text.partition(";")
    ptext = text[len(uri_text) :]
    uri_text = uri_text.rstrip(" \t")
    if not uri_text or any(c in uri_text for c in '<>"?, \t'):
        raise ParseError(f"bad name-addr or addr-spec in {where}: {text[:80]!r}")
    if ptext and g.GENERIC_PARAMS_RE.fullmatch(ptext) is None:
        raise ParseError(f"bad parameters in {where}: {ptext[:80]!r}")
    return uri_text, ptext


def parse_name_addr(text: str) -> NameAddr:
    """Parse a name-addr or addr-spec with header parameters."""
    return NameAddr.parse(text)


def parse_delta_seconds(text: str, where: str) -> int:
    """delta-seconds = 1*DIGIT; leading zeros allowed, values above 2**32-1 are rejected."""
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"bad {where}: {text!r}")
    stripped = text.lstrip("0") or "0"
    if len(stripped) > 10 or int(stripped) > 0xFFFFFFFF:
        raise ParseError(f"{where} too large: {text!r}")
    return int(stripped)
