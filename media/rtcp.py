"""RTCP packets (RFC 3550 §6): the compound packet, SR, RR, SDES and BYE with their
report blocks, other types kept as they came; the NTP timestamp helpers the reports carry
(§4, §6.4.1); and telling RTCP from RTP on one port (RFC 5761). RTP data packets are in
:mod:`media.rtp`; the reports one stream sends and reads, in :mod:`media.rtcp_session`.

:func:`parse_rtcp` validates everything, never reads past the buffer and raises
``ValueError`` for malformed input; :func:`serialize_rtcp` and each packet's ``serialize``
raise ``ValueError`` for a field that does not fit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "Bye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "SenderReport",
    "SourceDescription",
    "UnknownRtcp",
    "is_rtcp",
    "middle_32",
    "ntp_timestamp",
    "parse_rtcp",
    "serialize_rtcp",
]

_RTCP_HEADER = struct.Struct("!BBH")
_REPORT_BLOCK = struct.Struct("!IB3sIIII")
_SENDER_INFO = struct.Struct("!IQIII")

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
SDES_CNAME = 1


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: on a multiplexed port, RTCP has a second byte (packet type) of 192..223,
    which RTP cannot have (payload types 64..95 with the marker bit are not used)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(slots=True)
class ReportBlock:
    """A reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    """Cumulative number lost, a signed 24-bit value."""
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    def serialize(self) -> bytes:
        if not -0x800000 <= self.packets_lost <= 0x7FFFFF:
            raise ValueError(f"packets_lost {self.packets_lost} does not fit 24 signed bits")
        lost = (self.packets_lost & 0xFFFFFF).to_bytes(3, "big")
        return _REPORT_BLOCK.pack(
            self.ssrc,
            self.fraction_lost,
            lost,
            self.highest_sequence,
            self.jitter,
            self.lsr,
            self.dlsr,
        )

    @classmethod
    def parse(cls, data: bytes, pos: int) -> ReportBlock:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, pos)
        lost_signed = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, lost_signed, highest, jitter, lsr, dlsr)


def _rtcp_header(packet_type: int, count: int, body: bytes) -> bytes:
    if not 0 <= count <= 31:
        raise ValueError(f"RTCP count {count} is not in 0..31")
    if len(body) % 4:
        raise ValueError("an RTCP packet body must be a multiple of 4 bytes")
    return _RTCP_HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


@dataclass(slots=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1)."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = _SENDER_INFO.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        blocks = b"".join(r.serialize() for r in self.reports)
        return _rtcp_header(RTCP_SR, len(self.reports), body + blocks)


@dataclass(slots=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = self.ssrc.to_bytes(4, "big") + b"".join(r.serialize() for r in self.reports)
        return _rtcp_header(RTCP_RR, len(self.reports), body)


@dataclass(slots=True)
class SourceDescription:
    """SDES (RFC 3550 §6.5): chunks of (SSRC/CSRC, [(item type, value)]); CNAME is type 1."""

    chunks: list[tuple[int, list[tuple[int, bytes]]]] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = bytearray()
        for source, items in self.chunks:
            chunk = bytearray(source.to_bytes(4, "big"))
            for item_type, value in items:
                if not 1 <= item_type <= 255 or len(value) > 255:
                    raise ValueError(f"SDES item {item_type}: bad type or value over 255 bytes")
                chunk.append(item_type)
                chunk.append(len(value))
                chunk += value
            # §6.5: the list ends with at least one null octet, then pads to 32 bits.
            chunk += bytes(4 - len(chunk) % 4)
            body += chunk
        return _rtcp_header(RTCP_SDES, len(self.chunks), bytes(body))


@dataclass(slots=True)
class Bye:
    """BYE (RFC 3550 §6.6)."""

    sources: list[int] = field(default_factory=list)
    reason: bytes | None = None

    def serialize(self) -> bytes:
        body = b"".join(s.to_bytes(4, "big") for s in self.sources)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise ValueError("BYE reason over 255 bytes")
            reason = bytes((len(self.reason),)) + self.reason
            body += reason + bytes(-len(reason) % 4)
        return _rtcp_header(RTCP_BYE, len(self.sources), body)


@dataclass(slots=True)
class UnknownRtcp:
    """An RTCP packet of another type (RTPFB, PSFB, APP, XR...), kept as it came."""

    packet_type: int
    count: int
    """The five bits after the P bit (report count, or FMT for feedback)."""
    body: bytes
    padding: bool = False
    """The P bit: ``body`` ends with the padding it came with (its last byte the count)."""

    def serialize(self) -> bytes:
        data = _rtcp_header(self.packet_type, self.count, self.body)
        return bytes((data[0] | 0x20,)) + data[1:] if self.padding else data


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownRtcp


def _parse_blocks(body: bytes, pos: int, count: int, kind: str) -> list[ReportBlock]:
    if pos + 24 * count > len(body):
        raise ValueError(f"RTCP {kind} is too short for {count} report blocks")
    return [ReportBlock.parse(body, pos + 24 * i) for i in range(count)]


def _parse_sdes(body: bytes, count: int) -> SourceDescription:
    chunks: list[tuple[int, list[tuple[int, bytes]]]] = []
    pos, end = 0, len(body)
    for _ in range(count):
        if pos + 4 > end:
            raise ValueError("RTCP SDES chunk is past the end of the packet")
        source = int.from_bytes(body[pos : pos + 4], "big")
        start = pos
        pos += 4
        items: list[tuple[int, bytes]] = []
        while True:
            if pos >= end:
                raise ValueError("RTCP SDES chunk has no terminating null item")
            item_type = body[pos]
            if item_type == 0:
                pos += 1
                break
            if pos + 2 > end or pos + 2 + body[pos + 1] > end:
                raise ValueError(f"RTCP SDES item {item_type} overruns the packet")
            size = body[pos + 1]
            items.append((item_type, body[pos + 2 : pos + 2 + size]))
            pos += 2 + size
        pos += -(pos - start) % 4  # §6.5: each chunk starts on a 32-bit boundary
        if pos > end:
            raise ValueError("RTCP SDES chunk padding runs past the end of the packet")
        chunks.append((source, items))
    return SourceDescription(chunks)


def _parse_bye(body: bytes, count: int) -> Bye:
    pos = 4 * count
    if pos > len(body):
        raise ValueError(f"RTCP BYE is too short for {count} sources")
    sources = list(struct.unpack_from(f"!{count}I", body)) if count else []
    reason = None
    if pos < len(body):
        size = body[pos]
        if pos + 1 + size > len(body):
            raise ValueError("RTCP BYE reason runs past the end of the packet")
        reason = body[pos + 1 : pos + 1 + size]
    return Bye(sources, reason)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet (RFC 3550 §6.1, §6.4-§6.6): every packet with its length
    word; padding only on the last one. ``ValueError`` if any part is malformed. The first
    packet is not required to be a report (RFC 5506 reduced-size RTCP)."""
    packets: list[RtcpPacket] = []
    pos, size = 0, len(data)
    if not size:
        raise ValueError("empty RTCP packet")
    while pos < size:
        if pos + 4 > size:
            raise ValueError("RTCP header is past the end of the compound packet")
        first, packet_type, words = _RTCP_HEADER.unpack_from(data, pos)
        if first >> 6 != 2:
            raise ValueError(f"RTCP version {first >> 6} is not 2")
        end = pos + 4 + 4 * words
        if end > size:
            raise ValueError("RTCP length runs past the end of the compound packet")
        body = whole = data[pos + 4 : end]
        if first & 0x20:
            if end != size:
                raise ValueError("RTCP padding on a packet that is not the last")
            pad = body[-1] if body else 0
            if pad == 0 or pad > len(body):
                raise ValueError("RTCP padding count is 0 or larger than the packet")
            body = body[:-pad]
        count = first & 0x1F
        packet: RtcpPacket
        if packet_type == RTCP_SR:
            if len(body) < 24:
                raise ValueError("RTCP SR is shorter than its sender info")
            ssrc, ntp, rtp_ts, packets_sent, octets = _SENDER_INFO.unpack_from(body)
            reports = _parse_blocks(body, 24, count, "SR")
            packet = SenderReport(ssrc, ntp, rtp_ts, packets_sent, octets, reports)
        elif packet_type == RTCP_RR:
            if len(body) < 4:
                raise ValueError("RTCP RR is shorter than its SSRC")
            reports = _parse_blocks(body, 4, count, "RR")
            packet = ReceiverReport(int.from_bytes(body[:4], "big"), reports)
        elif packet_type == RTCP_SDES:
            packet = _parse_sdes(body, count)
        elif packet_type == RTCP_BYE:
            packet = _parse_bye(body, count)
        else:
            packet = UnknownRtcp(packet_type, count, whole, padding=bool(first & 0x20))
        packets.append(packet)
        pos = end
    return packets


def serialize_rtcp(packets: list[RtcpPacket]) -> bytes:
    """A compound RTCP packet (RFC 3550 §6.1): the packets one after the other."""
    return b"".join(p.serialize() for p in packets)


def ntp_timestamp(unix_time: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4: seconds since 1900 in 32.32 fixed point)."""
    return round((unix_time + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def middle_32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR field (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF
