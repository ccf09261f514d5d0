"""RTP data packets: parse and serialize (RFC 3550 §5) and header extensions (RFC 8285).
RTCP packets are in :mod:`media.rtcp`.

Two ways in:

- the full path, :func:`parse_rtp` / :meth:`RtpPacket.serialize`, which validates everything
  and never reads past the buffer;
- the hot path of the audio engine, :func:`pack_rtp_header`, :func:`peek_rtp` and
  :func:`payload_end`, which build or read the fixed header without allocating a packet.

Malformed input raises ``ValueError`` (the full path) or yields ``None`` (:func:`peek_rtp`).

Header extensions are kept in ``RtpPacket.extensions`` as ``{id: data}`` together with
``RtpPacket.extension_profile``:

- ``0xBEDE``: the RFC 8285 one-byte form; ids 1..14;
- ``0x1000``-``0x100F``: the two-byte form; ids 1..255, the low four bits ("appbits") kept;
- any other profile: the block is not RFC 8285 and is kept whole, as raw bytes under the key
  :data:`RAW_EXTENSION` (-1).

A repeated id keeps its first element (later ones are ignored): a receiver then sees the same
value whichever duplicate a middlebox appended.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "RAW_EXTENSION",
    "RtpPacket",
    "pack_rtp_header",
    "parse_rtp",
    "payload_end",
    "peek_rtp",
]

RAW_EXTENSION = -1
"""``RtpPacket.extensions`` key of a header extension block of a non-RFC 8285 profile."""

ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2
TWO_BYTE_PROFILE = 0x1000  # RFC 8285 §4.3, low 4 bits are appbits
_TWO_BYTE_MASK = 0xFFF0

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")
_HEADER_EXT = struct.Struct("!BBHIIHH")  # fixed header + extension header, no CSRC
_ONE_BYTE_HEADS = tuple(bytes((b,)) for b in range(256))  # element header byte -> bytes
_ALIGN = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # zero bytes to a 32-bit boundary


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1)."""

    version: int = 2
    padding: bool = False
    """Parsed packets: the P bit was set (the padding itself is not in ``payload``)."""
    extension: bool = False
    """Parsed packets: the X bit was set. Serialize writes a block when this is set or
    ``extensions`` is not empty."""
    marker: bool = False
    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    csrc: tuple[int, ...] = ()
    extensions: dict[int, bytes] = field(default_factory=dict)
    """Header extension elements, id -> data; or the raw block under :data:`RAW_EXTENSION`."""
    payload: bytes = b""
    extension_profile: int = 0
    """The block's "defined by profile" field: 0xBEDE, 0x1000-0x100F, or another profile
    (then ``extensions`` holds the raw block). 0 on serialize: chosen from ``extensions``."""
    padding_size: int = 0
    """Bytes of padding (count byte included, 1..255) written by serialize; parsed packets:
    the padding they had."""

    def serialize(self) -> bytes:
        """The packet on the wire. The extension block uses the one-byte form when every id is
        1..14 and every value 1..16 bytes long, else the two-byte form (RFC 8285 §4.1)."""
        extensions = self.extensions
        if not (self.csrc or self.padding_size):
            if not (extensions or self.extension):
                return (
                    _pack_header(
                        self.version << 6,
                        (0x80 if self.marker else 0) | self.payload_type,
                        self.sequence_number,
                        self.timestamp,
                        self.ssrc,
                    )
                    + self.payload
                )
            if extensions and self.extension_profile in (0, ONE_BYTE_PROFILE):
                # the browser's packet: one-byte elements (RFC 8285 §4.2), no CSRC, no padding
                block = b""  # at most 14 short elements: concatenation beats a join here
                for ext_id, value in extensions.items():
                    size = len(value)
                    if ext_id < 1 or ext_id > 14 or size < 1 or size > 16:
                        break  # the general path picks the two-byte form or raises
                    block += _ONE_BYTE_HEADS[(ext_id << 4) | (size - 1)] + value
                else:
                    length = len(block)
                    return (
                        _pack_header_ext(
                            (self.version << 6) | 0x10,
                            (0x80 if self.marker else 0) | self.payload_type,
                            self.sequence_number,
                            self.timestamp,
                            self.ssrc,
                            ONE_BYTE_PROFILE,
                            (length + 3) >> 2,
                        )
                        + block
                        + _ALIGN[length & 3]
                        + self.payload
                    )
        if len(self.csrc) > 15:
            raise ValueError("more than 15 CSRCs")
        if not 0 <= self.padding_size <= 255:
            raise ValueError(f"padding_size {self.padding_size} is not in 0..255")
        has_ext = self.extension or bool(self.extensions)
        first = (
            (self.version << 6)
            | (0x20 if self.padding_size else 0)
            | (0x10 if has_ext else 0)
            | len(self.csrc)
        )
        parts = [
            _HEADER.pack(
                first,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if has_ext:
            profile, block = _pack_extensions(self.extensions, self.extension_profile)
            parts.append(_EXT_HEADER.pack(profile, len(block) // 4))
            parts.append(block)
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes((self.padding_size,)))
        return b"".join(parts)


def _is_two_byte(profile: int) -> bool:
    return profile & _TWO_BYTE_MASK == TWO_BYTE_PROFILE


def _pack_extensions(extensions: dict[int, bytes], profile: int) -> tuple[int, bytes]:
    """The "defined by profile" value and the 32-bit aligned block (RFC 8285 §4). A two-byte
    profile is kept (with its appbits); otherwise the one-byte form when it can carry every
    element."""
    if RAW_EXTENSION in extensions:
        raw = extensions[RAW_EXTENSION]
        if len(extensions) > 1 or len(raw) % 4:
            raise ValueError("a raw extension block must be alone and a multiple of 4 bytes")
        if profile == ONE_BYTE_PROFILE or _is_two_byte(profile):
            raise ValueError("a raw extension block needs a profile other than RFC 8285's")
        return profile, raw
    if profile not in (0, ONE_BYTE_PROFILE) and not _is_two_byte(profile):
        raise ValueError(f"extension profile {profile:#06x} needs a raw block")
    out = bytearray()
    if not _is_two_byte(profile):
        for ext_id, value in extensions.items():
            size = len(value)
            if not (0 < ext_id < 15 and 0 < size <= 16):
                break
            out.append((ext_id << 4) | (size - 1))
            out += value
        else:
            out += bytes(-len(out) % 4)
            return ONE_BYTE_PROFILE, bytes(out)
        out.clear()
    for ext_id, value in extensions.items():
        if not 1 <= ext_id <= 255 or len(value) > 255:
            raise ValueError(f"extension {ext_id}: id not in 1..255 or value over 255 bytes")
    for ext_id, value in extensions.items():
        out.append(ext_id)
        out.append(len(value))
        out += value
    profile = TWO_BYTE_PROFILE | (profile & 0xF if _is_two_byte(profile) else 0)
    out += bytes(-len(out) % 4)
    return profile, bytes(out)


def _parse_one_byte(block: bytes) -> dict[int, bytes]:
    """RFC 8285 §4.2 elements."""
    out: dict[int, bytes] = {}
    pos, end = 0, len(block)
    while pos < end:
        byte = block[pos]
        ext_id = byte >> 4
        if ext_id == 0:  # padding byte
            pos += 1
            continue
        if ext_id == 15:  # §4.2: "the parsing of the extension block must stop"
            break
        size = (byte & 0x0F) + 1
        start = pos + 1
        if start + size > end:
            raise ValueError(f"RTP header extension element {ext_id} overruns its block")
        if ext_id not in out:
            out[ext_id] = block[start : start + size]
        pos = start + size
    return out


def _parse_two_byte(block: bytes) -> dict[int, bytes]:
    """RFC 8285 §4.3 elements."""
    out: dict[int, bytes] = {}
    pos, end = 0, len(block)
    while pos < end:
        ext_id = block[pos]
        if ext_id == 0:  # padding byte
            pos += 1
            continue
        if pos + 2 > end:
            raise ValueError(f"RTP header extension element {ext_id} has no length byte")
        size = block[pos + 1]
        start = pos + 2
        if start + size > end:
            raise ValueError(f"RTP header extension element {ext_id} overruns its block")
        if ext_id not in out:
            out[ext_id] = block[start : start + size]
        pos = start + size
    return out


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet (RFC 3550 §5.1, §5.3.1; RFC 8285); ``ValueError`` if malformed."""
    size = len(data)
    if size < 12:
        raise ValueError(f"RTP packet of {size} bytes is shorter than the fixed header")
    first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
    if first == 0x80:  # the usual packet: no padding, extension or CSRC
        return RtpPacket(
            2, False, False, second > 0x7F, second & 0x7F, seq, ts, ssrc, (), {}, data[12:], 0, 0
        )
    if first == 0x90 and size >= 16 and data[12] == 0xBE and data[13] == 0xDE:
        # the browser's packet: a one-byte extension block (RFC 8285 §4.2), no CSRC or padding;
        # the same checks and results as the general path below, in one loop over the data
        end = 16 + 4 * ((data[14] << 8) | data[15])
        if end > size:
            raise ValueError("RTP header extension length runs past the end of the packet")
        extensions: dict[int, bytes] = {}
        pos = 16
        while pos < end:
            byte = data[pos]
            if byte < 0x10:  # id 0: a padding byte
                pos += 1
                continue
            if byte >= 0xF0:  # id 15: parsing stops
                break
            start = pos + 1
            pos = start + (byte & 0x0F) + 1
            if pos > end:
                raise ValueError(f"RTP header extension element {byte >> 4} overruns its block")
            if byte >> 4 not in extensions:
                extensions[byte >> 4] = data[start:pos]
        return RtpPacket(
            2, False, True, second > 0x7F, second & 0x7F, seq, ts, ssrc, (), extensions,
            data[end:], ONE_BYTE_PROFILE, 0,
        )  # fmt: skip
    version = first >> 6
    if version != 2:
        raise ValueError(f"RTP version {version} is not 2")
    cc = first & 0x0F
    pos = 12 + 4 * cc
    if pos > size:
        raise ValueError(f"RTP packet of {size} bytes is too short for {cc} CSRCs")
    csrc = struct.unpack_from(f"!{cc}I", data, 12) if cc else ()
    extensions = {}
    profile = 0
    if first & 0x10:
        if pos + 4 > size:
            raise ValueError("RTP header extension header is past the end of the packet")
        profile, words = _EXT_HEADER.unpack_from(data, pos)
        pos += 4
        ext_end = pos + 4 * words
        if ext_end > size:
            raise ValueError("RTP header extension length runs past the end of the packet")
        block = data[pos:ext_end]
        if profile == ONE_BYTE_PROFILE:
            extensions = _parse_one_byte(block)
        elif _is_two_byte(profile):
            extensions = _parse_two_byte(block)
        else:
            extensions = {RAW_EXTENSION: block}
        pos = ext_end
    end = size
    padding_size = 0
    if first & 0x20:
        padding_size = data[-1]
        if padding_size == 0:
            raise ValueError("RTP padding count is 0")
        if padding_size > size - pos:
            raise ValueError("RTP padding count is larger than the payload")
        end -= padding_size
    return RtpPacket(
        version=2,
        padding=bool(first & 0x20),
        extension=bool(first & 0x10),
        marker=bool(second & 0x80),
        payload_type=second & 0x7F,
        sequence_number=seq,
        timestamp=ts,
        ssrc=ssrc,
        csrc=csrc,
        extensions=extensions,
        payload=data[pos:end],
        extension_profile=profile,
        padding_size=padding_size,
    )


_pack_header = _HEADER.pack
_pack_header_ext = _HEADER_EXT.pack
_unpack_header = _HEADER.unpack_from


def pack_rtp_header(
    marker: bool, payload_type: int, sequence_number: int, timestamp: int, ssrc: int
) -> bytes:
    """The 12-byte fixed header: V=2, no padding, no extension, no CSRC."""
    return _pack_header(
        0x80, (0x80 if marker else 0) | payload_type, sequence_number, timestamp, ssrc
    )


def peek_rtp(data: bytes) -> tuple[int, int, int, int, bool, int] | None:
    """``(payload_type, sequence_number, timestamp, ssrc, marker, payload_offset)`` of an RTP
    packet, without building an :class:`RtpPacket`; ``None`` when the packet is malformed
    (the same checks as :func:`parse_rtp`, except inside the extension block, which is
    skipped). The payload ends at :func:`payload_end`."""
    size = len(data)
    if size < 12:
        return None
    first, second, seq, ts, ssrc = _unpack_header(data)
    if first & 0xC0 != 0x80:
        return None
    pos = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if pos + 4 > size:
            return None
        pos += 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    if pos > size:
        return None
    if first & 0x20 and not 0 < data[-1] <= size - pos:
        return None
    return second & 0x7F, seq, ts, ssrc, bool(second & 0x80), pos


def payload_end(data: bytes) -> int:
    """Where the payload of a packet that :func:`peek_rtp` accepted ends: before its padding
    (RFC 3550 §5.1, the P bit)."""
    if data[0] & 0x20:
        return len(data) - data[-1]
    return len(data)
