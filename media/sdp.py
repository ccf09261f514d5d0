"""A pure SDP model (RFC 8866, formerly RFC 4566) and its parser; the value types it reads
lines into (Origin, Connection, Codec, Candidate, ...) live in :mod:`media.sdp_values`, and the
RFC 3264 offer/answer helpers that edit it in :mod:`media.offer_answer`.

The model keeps every line verbatim and in order: a :class:`SessionDescription` holds its
session-level lines and a list of :class:`MediaSection`, each of which holds its ``m=`` fields
and the lines after it. Typed views (codecs, direction, ICE, DTLS, BUNDLE, ...) are computed
from those lines when asked for, and the helpers edit the lines in place, so anything the model
does not understand, unknown line types and attributes included, survives a round trip:
``serialize(parse(x)) == x`` for well-formed input with CRLF line ends.

Parsing rules (RFC 8866 §5) and where this module chose:

- Lines end in CRLF; a bare LF is accepted too (§5: "parsers SHOULD be tolerant") and written
  back as CRLF. Trailing empty lines are dropped; an empty line elsewhere, a NUL or a lone CR
  is malformed.
- The first line is ``v=0`` (§5.1); one ``o=`` (§5.2, numeric session id and version) and one
  ``s=`` (§5.3) are required. ``t=`` is not required, as some SIP devices omit it.
- Every line is ``<letter>=<value>`` with a lower-case letter. Letters this module does not
  know are kept as they are (RFC 8866 would have the whole description ignored; being lenient
  costs nothing here). Session-only lines (``v o s u e p t r z``) inside a media section are
  malformed.
- ``o=``, ``c=``, ``b=``, ``t=`` and ``m=`` are checked when parsed; attribute values are kept
  verbatim and only read by the typed views, which skip values they cannot read (§5.13).
- Input is bounded: at most :data:`MAX_SDP_LENGTH` characters and :data:`MAX_LINES` lines.
  Anything malformed raises :class:`SdpError` (a ValueError) naming the 1-based line; nothing
  else is raised, whatever the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from .sdp_values import (
    Attribute,
    Bandwidth,
    Candidate,
    Codec,
    Connection,
    Fingerprint,
    Group,
    Line,
    Origin,
    bounded_int,
    codec_from_rtpmap,
    split_payload_type,
)

__all__ = [
    "DIRECTIONS",
    "MAX_LINES",
    "MAX_SDP_LENGTH",
    "MediaSection",
    "SdpError",
    "SessionDescription",
    "parse",
    "serialize",
]

MAX_SDP_LENGTH = 128 * 1024
MAX_LINES = 4096

#: Media direction attributes (RFC 8866 §6.7; RFC 3264 §5.1).
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

_SESSION_ONLY = frozenset("vosueptrz")


class SdpError(ValueError):
    """Malformed SDP; ``line`` is the 1-based line number, when there is one."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"SDP line {line}: {message}" if line is not None else message)


# --- the model ---------------------------------------------------------------------------------


class _Block:
    """Lines of one level (session or media) and the typed views they share."""

    lines: list[Line]

    # attributes (RFC 8866 §5.13)

    def _attribute_lines(self, name: str | None = None) -> Iterator[tuple[int, Attribute]]:
        for index, line in enumerate(self.lines):
            if line.type == "a":
                attr = Attribute.parse(line.value)
                if name is None or attr.name == name:
                    yield index, attr

    def attributes(self, name: str | None = None) -> list[Attribute]:
        """The attributes of this level, in order; only those called ``name`` if given."""
        return [attr for _, attr in self._attribute_lines(name)]

    def attribute(self, name: str) -> str | None:
        """The value of the first ``name`` attribute (``""`` for a property attribute)."""
        for _, attr in self._attribute_lines(name):
            return attr.value if attr.value is not None else ""
        return None

    def has_attribute(self, name: str) -> bool:
        return any(True for _ in self._attribute_lines(name))

    def add_attribute(self, name: str, value: str | None = None) -> None:
        """Append ``a=name[:value]`` at the end of this level."""
        self.lines.append(Line("a", str(Attribute(name, value))))

    def set_attribute(self, name: str, value: str | None = None) -> None:
        """Replace the first ``name`` attribute in place, dropping any others, or append it."""
        indexes = [index for index, _ in self._attribute_lines(name)]
        self._replace_attributes(indexes, Attribute(name, value))

    def _replace_attributes(self, indexes: list[int], attribute: Attribute) -> None:
        """Put ``attribute`` at the first of these attribute lines and drop the others, or
        append it when there are none."""
        if not indexes:
            self.lines.append(Line("a", str(attribute)))
            return
        self.lines[indexes[0]] = Line("a", str(attribute))
        for index in reversed(indexes[1:]):
            del self.lines[index]

    def remove_attributes(self, name: str, value_prefix: str | None = None) -> int:
        """Remove the ``name`` attributes (whose value starts with ``value_prefix``, if given);
        returns how many went."""
        doomed = [
            index
            for index, attr in self._attribute_lines(name)
            if value_prefix is None or (attr.value or "").startswith(value_prefix)
        ]
        for index in reversed(doomed):
            del self.lines[index]
        return len(doomed)

    # other lines of either level

    def _first(self, kind: str) -> str | None:
        for line in self.lines:
            if line.type == kind:
                return line.value
        return None

    @property
    def connection(self) -> Connection | None:
        """``c=`` of this level (RFC 8866 §5.7); the first one for a media section."""
        value = self._first("c")
        if value is None:
            return None
        nettype, addrtype, address = value.split()  # checked when parsed
        return Connection(nettype, addrtype, address)

    @property
    def bandwidths(self) -> list[Bandwidth]:
        """``b=`` lines (RFC 8866 §5.8)."""
        out = []
        for line in self.lines:
            if line.type == "b":
                kind, _, value = line.value.partition(":")
                out.append(Bandwidth(kind, int(value)))  # checked when parsed
        return out

    # typed attributes that may sit at either level

    @property
    def direction(self) -> str | None:
        """The direction attribute of this level (RFC 8866 §6.7), None if there is none."""
        for _, attr in self._attribute_lines():
            if attr.value is None and attr.name in DIRECTIONS:
                return attr.name
        return None

    @property
    def ice_ufrag(self) -> str | None:
        """``a=ice-ufrag`` (RFC 8839 §5.4)."""
        return self.attribute("ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        """``a=ice-pwd`` (RFC 8839 §5.4)."""
        return self.attribute("ice-pwd")

    @property
    def ice_options(self) -> list[str]:
        """``a=ice-options`` tokens (RFC 8839 §5.6), e.g. ``trickle``."""
        return [
            opt for attr in self.attributes("ice-options") for opt in (attr.value or "").split()
        ]

    @property
    def fingerprints(self) -> list[Fingerprint]:
        """``a=fingerprint`` (RFC 8122 §5)."""
        out = []
        for attr in self.attributes("fingerprint"):
            parts = (attr.value or "").split()
            if len(parts) == 2:
                out.append(Fingerprint(parts[0].lower(), parts[1]))
        return out

    @property
    def setup(self) -> str | None:
        """``a=setup`` (RFC 4145 §4): ``active``, ``passive``, ``actpass`` or ``holdconn``."""
        value = self.attribute("setup")
        return value.strip().lower() if value else None


@dataclass(eq=False)
class MediaSection(_Block):
    """One ``m=`` line and the lines after it (RFC 8866 §5.14)."""

    kind: str
    """Media type: ``audio``, ``video``, ``application``, ..."""
    port: int
    """Transport port; 0 rejects or disables the stream (RFC 3264 §6, §8.2)."""
    proto: str
    """Transport protocol, e.g. ``UDP/TLS/RTP/SAVPF`` (RFC 5764 §8) or ``RTP/AVP``."""
    formats: list[str]
    """Format list; RTP payload type numbers for RTP protocols."""
    port_count: int | None = None
    lines: list[Line] = field(default_factory=list)
    _parsed: tuple[tuple[object, ...], str] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def _fields(self) -> tuple[object, ...]:
        return (self.kind, self.port, self.port_count, self.proto, tuple(self.formats))

    @property
    def m_line(self) -> str:
        """The ``m=`` value: verbatim as parsed unless a field has changed since."""
        if self._parsed is not None and self._parsed[0] == self._fields():
            return self._parsed[1]
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        return " ".join([self.kind, port, self.proto, *self.formats])

    def serialize_lines(self) -> Iterator[str]:
        yield f"m={self.m_line}"
        for line in self.lines:
            yield str(line)

    # typed views

    @property
    def is_rtp(self) -> bool:
        return "RTP" in self.proto.upper().split("/")

    @property
    def payload_types(self) -> list[int]:
        """The formats that are RTP payload type numbers, in m= order."""
        return [pt for fmt in self.formats if (pt := bounded_int(fmt, 0, 127)) is not None]

    @property
    def mid(self) -> str | None:
        """``a=mid`` (RFC 5888 §4)."""
        return self.attribute("mid")

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux`` (RFC 5761)."""
        return self.has_attribute("rtcp-mux")

    @property
    def candidates(self) -> list[Candidate]:
        """``a=candidate`` lines that parse (RFC 8839 §5.1)."""
        out = []
        for attr in self.attributes("candidate"):
            candidate = Candidate.parse(attr.value or "")
            if candidate is not None:
                out.append(candidate)
        return out

    @property
    def end_of_candidates(self) -> bool:
        """``a=end-of-candidates`` (RFC 8840)."""
        return self.has_attribute("end-of-candidates")

    def _pt_values(self, name: str) -> dict[int, str]:
        """First ``a=name:<pt> <rest>`` per payload type."""
        found: dict[int, str] = {}
        for attr in self.attributes(name):
            split = split_payload_type(attr.value or "")
            if split is not None and split[0] not in found:
                found[split[0]] = split[1].strip()
        return found

    def rtcp_feedback(self, payload_type: int) -> list[str]:
        """``a=rtcp-fb`` values for a payload type, including ``*`` ones (RFC 4585 §4.2)."""
        out = []
        for attr in self.attributes("rtcp-fb"):
            pt_text, _, rest = (attr.value or "").partition(" ")
            if pt_text in ("*", str(payload_type)):
                out.append(rest.strip())
        return out

    @property
    def codecs(self) -> list[Codec]:
        """The RTP formats in m= order, from rtpmap/fmtp or the static table (RFC 3551 §6).

        Dynamic payload types without a readable rtpmap are left out.
        """
        if not self.is_rtp:
            return []
        rtpmaps = self._pt_values("rtpmap")
        fmtps = self._pt_values("fmtp")
        out = []
        for pt in self.payload_types:
            codec = codec_from_rtpmap(pt, rtpmaps.get(pt), fmtps.get(pt))
            if codec is not None:
                out.append(codec)
        return out

    def codec(self, payload_type: int) -> Codec | None:
        for codec in self.codecs:
            if codec.payload_type == payload_type:
                return codec
        return None


@dataclass(eq=False)
class SessionDescription(_Block):
    """A whole session description: session-level lines, then the media sections."""

    lines: list[Line] = field(default_factory=list)
    media: list[MediaSection] = field(default_factory=list)

    def serialize(self) -> str:
        """The description with CRLF line ends (RFC 8866 §5)."""
        out = [str(line) for line in self.lines]
        for section in self.media:
            out.extend(section.serialize_lines())
        return "\r\n".join(out) + "\r\n"

    def __str__(self) -> str:
        return self.serialize()

    def encode(self) -> bytes:
        return self.serialize().encode("utf-8")

    # session-level views

    @property
    def origin(self) -> Origin:
        """``o=`` (RFC 8866 §5.2)."""
        parts = (self._first("o") or "").split()  # present and checked when parsed
        return Origin(parts[0], int(parts[1]), int(parts[2]), parts[3], parts[4], parts[5])

    @origin.setter
    def origin(self, origin: Origin) -> None:
        for line in self.lines:
            if line.type == "o":
                line.value = str(origin)
                return
        self.lines.insert(1, Line("o", str(origin)))

    def bump_version(self) -> None:
        """Increment the o= session version, as each new offer or answer must (RFC 3264 §8)."""
        origin = self.origin
        self.origin = replace(origin, session_version=origin.session_version + 1)

    @property
    def name(self) -> str:
        """``s=`` (RFC 8866 §5.3)."""
        return self._first("s") or ""

    @property
    def timing(self) -> list[tuple[int, int]]:
        """``t=`` start and stop times (RFC 8866 §5.9)."""
        out = []
        for line in self.lines:
            if line.type == "t":
                start, stop = line.value.split()  # checked when parsed
                out.append((int(start), int(stop)))
        return out

    @property
    def groups(self) -> list[Group]:
        """``a=group`` (RFC 5888 §5)."""
        out = []
        for attr in self.attributes("group"):
            parts = (attr.value or "").split()
            if parts:
                out.append(Group(parts[0], tuple(parts[1:])))
        return out

    @property
    def bundle(self) -> list[str]:
        """The mids of the first BUNDLE group (RFC 9143), or []."""
        for group in self.groups:
            if group.semantics.upper() == "BUNDLE":
                return list(group.mids)
        return []

    @property
    def ice_lite(self) -> bool:
        """``a=ice-lite`` (RFC 8839 §5.3)."""
        return self.has_attribute("ice-lite")

    def find(self, mid: str) -> MediaSection | None:
        """The media section with this mid."""
        for section in self.media:
            if section.mid == mid:
                return section
        return None

    # media level wins over session level

    def direction_of(self, section: MediaSection) -> str:
        """Effective direction: media level, else session level, else sendrecv (RFC 8866 §6.7)."""
        return section.direction or self.direction or "sendrecv"

    def connection_of(self, section: MediaSection) -> Connection | None:
        """Effective ``c=``: media level, else session level (RFC 8866 §5.7)."""
        return section.connection or self.connection

    def attribute_of(self, section: MediaSection, name: str) -> str | None:
        """An attribute from the media section, else from the session level, e.g. ice-ufrag,
        ice-pwd, fingerprint or setup, which may sit at either level (RFC 8839, RFC 8122)."""
        value = section.attribute(name)
        return value if value is not None else self.attribute(name)


# --- parsing -----------------------------------------------------------------------------------


def _check_origin(value: str, number: int) -> None:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError(f"o= needs 6 fields, got {len(parts)}", number)
    if bounded_int(parts[1]) is None or bounded_int(parts[2]) is None:
        raise SdpError("o= session id and version must be numbers", number)


def _check_connection(value: str, number: int) -> None:
    if len(value.split()) != 3:
        raise SdpError("c= needs <nettype> <addrtype> <address>", number)


def _check_bandwidth(value: str, number: int) -> None:
    kind, colon, amount = value.partition(":")
    if not colon or not kind or bounded_int(amount) is None:
        raise SdpError("b= needs <bwtype>:<bandwidth>", number)


def _check_timing(value: str, number: int) -> None:
    parts = value.split()
    if len(parts) != 2 or bounded_int(parts[0]) is None or bounded_int(parts[1]) is None:
        raise SdpError("t= needs <start-time> <stop-time>", number)


def _parse_media(value: str, number: int) -> MediaSection:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("m= needs <media> <port> <proto> <fmt> ...", number)
    port_text, slash, count_text = parts[1].partition("/")
    port = bounded_int(port_text, 0, 65535)
    count = bounded_int(count_text, 1) if slash else None
    if port is None or (slash and count is None):
        raise SdpError(f"bad m= port {parts[1]!r}", number)
    section = MediaSection(parts[0], port, parts[2], parts[3:], count)
    section._parsed = (section._fields(), value)
    return section


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("not UTF-8", data.count(b"\n", 0, exc.start) + 1) from None


def parse(text: str | bytes) -> SessionDescription:
    """Parse a session description; SdpError (a ValueError) if it is malformed."""
    if isinstance(text, bytes | bytearray | memoryview):
        data = bytes(text)
        if len(data) > MAX_SDP_LENGTH * 4:
            raise SdpError(f"SDP longer than {MAX_SDP_LENGTH} characters")
        text = _decode(data)
    if not isinstance(text, str):
        raise SdpError(f"SDP must be str or bytes, not {type(text).__name__}")
    if len(text) > MAX_SDP_LENGTH:
        raise SdpError(f"SDP longer than {MAX_SDP_LENGTH} characters")
    raw = text.split("\n")
    while raw and raw[-1] in ("", "\r"):
        raw.pop()  # the final line end, and tolerated trailing empty lines
    if len(raw) > MAX_LINES:
        raise SdpError(f"SDP has more than {MAX_LINES} lines")
    if not raw:
        raise SdpError("empty SDP")
    sdp = SessionDescription()
    block: list[Line] = sdp.lines
    section: MediaSection | None = None
    seen: set[str] = set()
    for number, item in enumerate(raw, 1):
        line = item[:-1] if item.endswith("\r") else item
        if "\r" in line or "\x00" in line:
            raise SdpError("CR or NUL inside a line", number)
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError(f"expected <type>=<value>, got {line[:40]!r}", number)
        kind, value = line[0], line[2:]
        if number == 1:
            if line != "v=0":
                raise SdpError("an SDP must start with v=0", number)
        elif kind in "vos" and section is None and kind in seen:
            raise SdpError(f"duplicate {kind}= line", number)
        if section is not None and kind in _SESSION_ONLY:
            raise SdpError(f"{kind}= is not allowed in a media section", number)
        seen.add(kind)
        if kind == "m":
            section = _parse_media(value, number)
            sdp.media.append(section)
            block = section.lines
            continue
        if kind == "o":
            _check_origin(value, number)
        elif kind == "c":
            _check_connection(value, number)
        elif kind == "b":
            _check_bandwidth(value, number)
        elif kind == "t":
            _check_timing(value, number)
        elif kind == "a":
            name = value.partition(":")[0]
            if not name or any(ch.isspace() for ch in name):
                raise SdpError(f"bad attribute name in {line[:40]!r}", number)
        block.append(Line(kind, value))
    for required in "os":
        if required not in seen:
            raise SdpError(f"missing {required}= line")
    return sdp


def serialize(sdp: SessionDescription) -> str:
    """The text of a description, CRLF line ends."""
    return sdp.serialize()
