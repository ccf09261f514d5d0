"""RTCP for one engine audio stream (RFC 3550 §6): the reports we send and what we learn from
the peer's. Pure: times come in as arguments (``now`` on the monotonic clock the stream uses,
``wallclock`` in Unix seconds for the NTP fields).

We send one compound packet per interval (§6.1: a report first, then SDES with the CNAME):
an SR (§6.4.1) when we have sent RTP since the previous report, else an RR (§6.4.2), with one
report block on the stream we receive. From the peer's SR we keep LSR and its arrival for our
DLSR; from its report blocks on our SSRC we take the loss, the jitter and, when LSR is set,
the round-trip time ``A - LSR - DLSR`` (§6.4.1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .rtcp import (
    SDES_CNAME,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    middle_32,
    ntp_timestamp,
    parse_rtcp,
    serialize_rtcp,
)
from .stats import ReceptionStats

__all__ = ["RemoteReport", "RtcpSession", "next_interval"]


def next_interval(minimum: float, rng: random.Random | None = None) -> float:
    """The time to the next report: the minimum interval (§6.2: 5 s recommended; one audio
    stream's bandwidth share never calls for more) times a random factor in [0.5, 1.5] so
    that reports of many streams do not synchronise (§6.3.1)."""
    return minimum * (0.5 + (rng or random).random())


@dataclass(frozen=True, slots=True)
class RemoteReport:
    """The peer's last report block on our stream."""

    fraction_lost: float
    """Loss since its previous report, 0..1 (the 8-bit value / 256)."""
    packets_lost: int
    """Cumulative packets lost (signed, RFC 3550 §6.4.1)."""
    jitter: int
    """Interarrival jitter in timestamp units."""
    received_at: float
    """When it arrived (monotonic seconds)."""


class RtcpSession:
    """Reports for the stream we send (``ssrc``) and the one we receive (``reception``)."""

    def __init__(self, ssrc: int, cname: str, reception: ReceptionStats) -> None:
        self.ssrc = ssrc
        self.cname = cname.encode()
        self.reception = reception
        # what we sent, kept up to date by the stream
        self.packets_sent = 0
        self.octets_sent = 0
        self.last_rtp_timestamp = 0
        self.last_sent_at: float | None = None
        self._sent_since_report = False
        # the peer's last SR (LSR, and when it came, for DLSR)
        self._lsr: int | None = None
        self._lsr_at = 0.0
        # loss interval (§6.4.1 fraction lost: since the previous report)
        self._expected_prior = 0
        self._received_prior = 0
        self.remote: RemoteReport | None = None
        self.rtt: float | None = None
        """Last round-trip time measured (seconds), None before one."""

    def sent(self, timestamp: int, octets: int, now: float) -> None:
        """One RTP packet left with ``octets`` of payload."""
        self.packets_sent += 1
        self.octets_sent += octets
        self.last_rtp_timestamp = timestamp
        self.last_sent_at = now
        self._sent_since_report = True

    # -- ours ----------------------------------------------------------------------------------
    def _report_blocks(self, now: float) -> list[ReportBlock]:
        reception = self.reception
        if reception.ssrc is None:
            return []
        expected = reception.expected
        received = reception.received
        interval_expected = expected - self._expected_prior
        interval_lost = interval_expected - (received - self._received_prior)
        self._expected_prior, self._received_prior = expected, received
        fraction = 0
        if interval_expected > 0 and interval_lost > 0:
            fraction = min(255, (interval_lost << 8) // interval_expected)
        lost = max(-(1 << 23), min((1 << 23) - 1, reception.lost))
        dlsr = 0
        if self._lsr is not None:
            dlsr = min(0xFFFFFFFF, max(0, int((now - self._lsr_at) * 65536)))
        return [
            ReportBlock(
                ssrc=reception.ssrc,
                fraction_lost=fraction,
                packets_lost=lost,
                highest_sequence=reception.highest_sequence & 0xFFFFFFFF,
                jitter=int(reception.jitter) & 0xFFFFFFFF,
                lsr=self._lsr or 0,
                dlsr=dlsr,
            )
        ]

    def build(self, now: float, wallclock: float, clock_rate: int, *, bye: bool = False) -> bytes:
        """The compound packet to send now: SR or RR, SDES CNAME, and BYE when leaving."""
        blocks = self._report_blocks(now)
        report: SenderReport | ReceiverReport
        if self._sent_since_report and self.last_sent_at is not None:
            elapsed = int((now - self.last_sent_at) * clock_rate)
            report = SenderReport(
                ssrc=self.ssrc,
                ntp_timestamp=ntp_timestamp(wallclock),
                rtp_timestamp=(self.last_rtp_timestamp + elapsed) & 0xFFFFFFFF,
                packet_count=self.packets_sent & 0xFFFFFFFF,
                octet_count=self.octets_sent & 0xFFFFFFFF,
                reports=blocks,
            )
        else:
            report = ReceiverReport(ssrc=self.ssrc, reports=blocks)
        self._sent_since_report = False
        packets: list[RtcpPacket] = [
            report,
            SourceDescription(chunks=[(self.ssrc, [(SDES_CNAME, self.cname)])]),
        ]
        if bye:
            packets.append(Bye(sources=[self.ssrc], reason=None))
        return serialize_rtcp(packets)

    # -- theirs --------------------------------------------------------------------------------
    def receive(self, data: bytes, now: float, wallclock: float) -> None:
        """Take a compound packet from the peer; a malformed one is ignored."""
        try:
            packets = parse_rtcp(data)
        except ValueError:
            return
        arrival = middle_32(ntp_timestamp(wallclock))
        for packet in packets:
            if isinstance(packet, SenderReport):
                self._lsr = middle_32(packet.ntp_timestamp)
                self._lsr_at = now
                self._blocks(packet.reports, arrival, now)
            elif isinstance(packet, ReceiverReport):
                self._blocks(packet.reports, arrival, now)

    def _blocks(self, blocks: list[ReportBlock], arrival: int, now: float) -> None:
        for block in blocks:
            if block.ssrc != self.ssrc:
                continue
            self.remote = RemoteReport(
                fraction_lost=block.fraction_lost / 256,
                packets_lost=block.packets_lost,
                jitter=block.jitter,
                received_at=now,
            )
            if block.lsr:
                # §6.4.1: A - LSR - DLSR, in 1/65536 s; a negative value (clock skew) is 0
                rtt = ((arrival - block.lsr - block.dlsr) & 0xFFFFFFFF) / 65536
                self.rtt = rtt if rtt < 0x8000 else 0.0
