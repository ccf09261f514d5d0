"""The SDP value types (RFC 8866, formerly RFC 4566) and the small readers of field and
attribute values that build them; the line model and the parser that use them live in
:mod:`media.sdp`.

Each type is one line or one attribute value read into fields: :class:`Line` (any
``<type>=<value>`` line), :class:`Attribute` (§5.13), :class:`Origin` (§5.2),
:class:`Connection` (§5.7), :class:`Bandwidth` (§5.8), :class:`Codec` (``a=rtpmap`` §6.6 and
``a=fmtp`` §6.15, or the static payload types of RFC 3551 §6), :class:`Candidate`
(RFC 8839 §5.1), :class:`Fingerprint` (RFC 8122 §5) and :class:`Group` (RFC 5888 §5). The
readers return None for a value they cannot read and raise nothing, so that the typed views can
skip it (RFC 8866 §5.13).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Attribute",
    "Bandwidth",
    "Candidate",
    "Codec",
    "Connection",
    "Fingerprint",
    "Group",
    "Line",
    "Origin",
    "bounded_int",
    "codec_from_rtpmap",
    "split_payload_type",
]


@dataclass(slots=True)
class Line:
    """One ``<type>=<value>`` line, kept verbatim."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}={self.value}"


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=name`` (a property attribute, ``value`` None) or ``a=name:value`` (RFC 8866 §5.13)."""

    name: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, colon, value = text.partition(":")
        return cls(name, value if colon else None)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=`` (RFC 8866 §5.2)."""

    username: str
    session_id: int
    session_version: int
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=`` (RFC 8866 §5.7); ``address`` may carry ``/ttl`` and ``/count`` suffixes."""

    nettype: str
    addrtype: str
    address: str

    @property
    def host(self) -> str:
        """The address without multicast suffixes."""
        return self.address.split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=`` (RFC 8866 §5.8): ``AS``, ``CT``, ``TIAS`` (RFC 3890), ..."""

    type: str
    value: int


@dataclass(frozen=True, slots=True)
class Codec:
    """One RTP format of a media section: ``a=rtpmap`` (RFC 8866 §6.6) with its ``a=fmtp``
    (§6.15), or the static assignment of RFC 3551 §6 when there is no rtpmap."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int | None = None
    fmtp: str | None = None
    """The format parameters verbatim, e.g. ``minptime=10;useinbandfec=1`` or ``0-16``."""

    @property
    def parameters(self) -> dict[str, str | None]:
        """``fmtp`` split at ``;`` into ``name=value`` pairs (``None`` for bare tokens)."""
        params: dict[str, str | None] = {}
        for item in (self.fmtp or "").split(";"):
            name, eq, value = item.strip().partition("=")
            if name:
                params[name.strip()] = value.strip() if eq else None
        return params

    @property
    def encoding(self) -> str:
        """``name/clock_rate[/channels]`` as in rtpmap."""
        suffix = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.name}/{self.clock_rate}{suffix}"

    def same_codec(self, other: Codec) -> bool:
        """Same encoding (name case-insensitive, rate, channels with 1 as default)."""
        return (
            self.name.lower() == other.name.lower()
            and self.clock_rate == other.clock_rate
            and (self.channels or 1) == (other.channels or 1)
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """``a=candidate`` (RFC 8839 §5.1)."""

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> Candidate | None:
        """Parse an attribute value; None when malformed."""
        parts = value.split()
        if len(parts) < 8 or parts[6] != "typ" or len(parts) % 2:
            return None
        component = bounded_int(parts[1], 1, 256)
        priority = bounded_int(parts[3], 0, 2**32 - 1)
        port = bounded_int(parts[5], 0, 65535)
        if component is None or priority is None or port is None:
            return None
        related_address: str | None = None
        related_port: int | None = None
        extensions: list[tuple[str, str]] = []
        for i in range(8, len(parts), 2):
            name, ext = parts[i], parts[i + 1]
            if name == "raddr":
                related_address = ext
            elif name == "rport" and bounded_int(ext, 0, 65535) is not None:
                related_port = int(ext)
            else:
                extensions.append((name, ext))
        return cls(
            foundation=parts[0],
            component=component,
            transport=parts[2],
            priority=priority,
            address=parts[4],
            port=port,
            type=parts[7],
            related_address=related_address,
            related_port=related_port,
            extensions=tuple(extensions),
        )


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``a=fingerprint`` (RFC 8122 §5)."""

    algorithm: str
    value: str


@dataclass(frozen=True, slots=True)
class Group:
    """``a=group`` (RFC 5888 §5), e.g. ``BUNDLE 0 1`` (RFC 9143)."""

    semantics: str
    mids: tuple[str, ...]


# RFC 3551 §6 Tables 4 and 5: static payload types
_STATIC: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}


def bounded_int(text: str, low: int = 0, high: int | None = None) -> int | None:
    """``text`` as a decimal integer within ``low``..``high`` (inclusive; no upper bound when
    ``high`` is None), or None: only ASCII digits, at most 20 of them, no sign or spaces."""
    if not text or len(text) > 20 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    if value < low or (high is not None and value > high):
        return None
    return value


def split_payload_type(value: str) -> tuple[int, str] | None:
    """``<pt> <rest>`` of rtpmap/fmtp/rtcp-fb values: the payload type (0..127) and the text
    after the first space, verbatim; None when the payload type is not a number in range."""
    pt_text, _, rest = value.partition(" ")
    pt = bounded_int(pt_text, 0, 127)
    return None if pt is None else (pt, rest)


def codec_from_rtpmap(pt: int, rtpmap: str | None, fmtp: str | None) -> Codec | None:
    """The :class:`Codec` of payload type ``pt`` from its ``a=rtpmap`` and ``a=fmtp`` values
    after the payload type (``opus/48000/2``, ``minptime=10``). Without a readable rtpmap the
    static assignment of RFC 3551 §6 applies; None for a dynamic type without one."""
    if rtpmap is not None:
        parts = rtpmap.split("/")
        if len(parts) in (2, 3) and parts[0]:
            rate = bounded_int(parts[1], 1)
            channels = bounded_int(parts[2], 1) if len(parts) == 3 else None
            if rate is not None and (len(parts) == 2 or channels is not None):
                return Codec(pt, parts[0], rate, channels, fmtp)
    if pt in _STATIC:
        name, rate, channels = _STATIC[pt]
        return Codec(pt, name, rate, channels, fmtp)
    return None
