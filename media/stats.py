"""Per-call statistics: RTP reception counters (RFC 3550 §6.4.1, Appendix A), the ITU-T G.107
E-model and the :class:`CallStats` snapshot that :meth:`media.session.MediaSession.stats` gives.

Everything here is pure: arrival times come in as ``now`` (seconds, any monotonic clock).

E-model (ITU-T G.107 (06/2015)), narrowband scale (R at most 93.2 with the default parameters)::

    R = Ro - Is - Id - Ie,eff + A        (§7.1, A = 0: no advantage factor)

- ``Ro = 94.77`` and ``Is = 1.41`` are G.107's values for its default parameters (Table 3:
  SLR 8, RLR 2, Nc -70, Ps = Pr = 35, STMR 15, ...), taken as constants.
- ``Id = Idte + Idle + Idd`` (§7.4) with the one-way delay ``T = Ta`` and ``Tr = 2T``, the
  default TELR 65 dB and WEPL 110 dB. Idte is taken as at least 0 (the formula dips to -0.17
  for T of a few ms, which would make R rise with delay).
- ``Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)`` (§7.5), Ppl in percent.
- MOS from R by the G.107 Annex B formula; below R ≈ 6.5 it dips under 1, so the result is
  clipped to [1, 4.5], which keeps it monotone in R.

Codec values (Ie, Bpl), from ITU-T G.113 Appendix I where it has them:

- G.711 (PCMU, PCMA): Ie 0; Bpl 25.1 with packet loss concealment (G.711 Appendix I),
  4.3 without (the ``-noplc`` names).
- G.722: G.113 lists it only on the wideband scale (G.107.1); on the narrowband scale used
  here it is taken as transparent, Ie 0, and its loss robustness as that of G.711 (25.1 with
  concealment, 4.3 without). This under-rates G.722 (the narrowband scale cannot show the
  wideband gain) and is a stated assumption, not a G.113 value.
- Opus: not in G.113. At our bit rate (fullband, 32 kbit/s) its coding distortion is
  below what the narrowband scale can show, so Ie 0; Bpl 25.1 with concealment (Opus' own PLC
  is at least as good as G.711 Appendix I, so this is conservative), 4.3 without.

The engine conceals lost frames (G.711 Appendix I style for G.711 and G.722, libopus PLC for
Opus), so :mod:`media.engine` rates what a call hears with the values with concealment; the
``-noplc`` values stay for receivers without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "CODEC_IMPAIRMENTS",
    "CallStats",
    "CodecImpairment",
    "ReceptionStats",
    "delay_impairment",
    "e_model_mos",
    "e_model_r",
    "effective_equipment_impairment",
    "r_to_mos",
]

RO = 94.77  # G.107 §7.2 basic signal-to-noise ratio with the default parameters
IS = 1.41  # G.107 §7.3 simultaneous impairment factor with the default parameters
ROE = 94.77  # G.107 §7.4: -1.5 (No - 2), No = -61.18 dBm0p with the default parameters
TELR = 65.0  # G.107 Table 3 default talker echo loudness rating (dB)
WEPL = 110.0  # G.107 Table 3 default weighted echo path loss (dB)


@dataclass(frozen=True, slots=True)
class CodecImpairment:
    """E-model values of one codec (ITU-T G.113 Appendix I)."""

    ie: float
    """Equipment impairment factor Ie."""
    bpl: float
    """Packet-loss robustness factor Bpl."""


_G711_PLC = CodecImpairment(ie=0.0, bpl=25.1)
_G711_NOPLC = CodecImpairment(ie=0.0, bpl=4.3)

#: Values by lower-case codec name; ``-noplc`` names are for a decoder that conceals nothing.
CODEC_IMPAIRMENTS: dict[str, CodecImpairment] = {
    "pcmu": _G711_PLC,
    "pcma": _G711_PLC,
    "g711": _G711_PLC,
    "pcmu-noplc": _G711_NOPLC,
    "pcma-noplc": _G711_NOPLC,
    "g711-noplc": _G711_NOPLC,
    "g722": _G711_PLC,
    "g722-noplc": _G711_NOPLC,
    "opus": _G711_PLC,
    "opus-noplc": _G711_NOPLC,
}


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id = Idte + Idle + Idd (G.107 §7.4) for a mouth-to-ear delay ``T = Ta``, ``Tr = 2T``,
    with the default TELR and WEPL."""
    if not one_way_delay_ms >= 0 or math.isinf(one_way_delay_ms):
        raise ValueError(f"one-way delay must be finite and >= 0, not {one_way_delay_ms}")
    t = float(one_way_delay_ms)
    # talker echo: §7.4 (Idte = 0 below 1 ms: the echo is heard as sidetone)
    idte = 0.0
    if t >= 1.0:
        terv = TELR - 40 * math.log10((1 + t / 10) / (1 + t / 150)) + 6 * math.exp(-0.3 * t * t)
        re = 80 + 2.5 * (terv - 14)
        x = ROE - re
        # at least 0: for T of a few ms the formula dips to -0.17 (its "- 1"), which would make
        # R rise with delay
        idte = max(0.0, (x / 2 + math.sqrt(x * x / 4 + 100) - 1) * (1 - math.exp(-t)))
    # listener echo, round trip Tr = 2T
    rle = 10.5 * (WEPL + 7) / math.pow(2 * t + 1, 0.25)
    y = RO - rle
    idle = y / 2 + math.sqrt(y * y / 4 + 169)
    # absolute delay
    idd = 0.0
    if t > 100:
        x6 = math.log10(t / 100) / math.log10(2)
        idd = 25 * (math.pow(1 + x6**6, 1 / 6) - 3 * math.pow(1 + (x6 / 3) ** 6, 1 / 6) + 2)
    return idte + idle + idd


def effective_equipment_impairment(
    ie: float, bpl: float, loss_percent: float, burst_ratio: float = 1.0
) -> float:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) (G.107 §7.5), Ppl in percent;
    BurstR is 1 for random loss and above 1 for bursty loss."""
    if not 0 <= loss_percent <= 100:
        raise ValueError(f"loss must be 0..100 %, not {loss_percent}")
    if not burst_ratio > 0 or math.isinf(burst_ratio):
        raise ValueError(f"burst ratio must be finite and > 0, not {burst_ratio}")
    if bpl <= 0:
        raise ValueError(f"Bpl must be > 0, not {bpl}")
    return ie + (95 - ie) * loss_percent / (loss_percent / burst_ratio + bpl)


def r_to_mos(r: float) -> float:
    """MOS-CQE from the rating factor R (G.107 Annex B), clipped to [1, 4.5]."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
    return min(4.5, max(1.0, mos))


def _impairment(codec: str) -> CodecImpairment:
    try:
        return CODEC_IMPAIRMENTS[codec.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(CODEC_IMPAIRMENTS))
        raise ValueError(f"no E-model values for codec {codec!r} (known: {known})") from None


def e_model_r(
    *, codec: str, one_way_delay_ms: float, loss_fraction: float, burst_ratio: float = 1.0
) -> float:
    """The rating factor R = Ro - Is - Id - Ie,eff (G.107 §7.1, A = 0)."""
    if not 0 <= loss_fraction <= 1:
        raise ValueError(f"loss fraction must be 0..1, not {loss_fraction}")
    values = _impairment(codec)
    ie_eff = effective_equipment_impairment(values.ie, values.bpl, 100 * loss_fraction, burst_ratio)
    return RO - IS - delay_impairment(one_way_delay_ms) - ie_eff


def e_model_mos(
    *, codec: str, one_way_delay_ms: float, loss_fraction: float, burst_ratio: float = 1.0
) -> float:
    """Estimated MOS of a call (ITU-T G.107 E-model, narrowband scale; see the module doc).

    ``codec`` names a row of :data:`CODEC_IMPAIRMENTS` (case-insensitive), ``loss_fraction`` is
    0..1 and ``burst_ratio`` is G.107's BurstR (1: random loss). ValueError on an unknown codec
    or a value out of range.
    """
    return r_to_mos(
        e_model_r(
            codec=codec,
            one_way_delay_ms=one_way_delay_ms,
            loss_fraction=loss_fraction,
            burst_ratio=burst_ratio,
        )
    )


# --- reception (RFC 3550 Appendix A) -----------------------------------------------------------

_SEQ_MOD = 1 << 16
_MAX_DROPOUT = 3000  # RFC 3550 A.1
_MAX_MISORDER = 100


class ReceptionStats:
    """Loss and interarrival jitter of one received RTP stream (RFC 3550 A.1, A.3, A.8).

    ``clock_rate`` is the stream's RTP clock. Feed every packet of the stream, all payload types
    (events and audio share the sequence space and the clock). A new SSRC starts over.
    """

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be > 0, not {clock_rate}")
        self.clock_rate = clock_rate
        self.ssrc: int | None = None
        self.received = 0
        """Packets received (duplicates included, as in RFC 3550 A.3)."""
        self.payload_bytes = 0
        """Payload octets received."""
        self._base = 0
        self._max = 0
        self._cycles = 0
        self._jitter = 0.0
        self._transit: float | None = None

    def _restart(self, ssrc: int, sequence: int) -> None:
        self.ssrc = ssrc
        self.received = self.payload_bytes = 0
        self._base = self._max = sequence
        self._cycles = 0
        self._jitter = 0.0
        self._transit = None

    def add(
        self, *, ssrc: int, sequence: int, timestamp: int, payload_len: int, now: float
    ) -> None:
        """Count one packet that arrived at ``now`` seconds."""
        if ssrc != self.ssrc:
            self._restart(ssrc, sequence)
        else:
            delta = (sequence - self._max) % _SEQ_MOD
            if 0 < delta < _MAX_DROPOUT:
                if sequence < self._max:
                    self._cycles += _SEQ_MOD
                self._max = sequence
            elif delta >= _SEQ_MOD - _MAX_MISORDER or delta == 0:
                pass  # duplicate or reordered
            else:  # a large jump: the sender restarted its numbering (A.1, simplified)
                self._base = self._max = sequence
                self._cycles = 0
                self.received = 0
        self.received += 1
        self.payload_bytes += payload_len
        # A.8: J += (|D| - J) / 16, in timestamp units
        transit = now * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < 1 << 31:  # a timestamp wrap would look like a huge jump
                self._jitter += (d - self._jitter) / 16
        self._transit = transit

    @property
    def expected(self) -> int:
        """Packets expected from the first to the highest sequence number (A.3)."""
        if self.ssrc is None:
            return 0
        return self._cycles + self._max - self._base + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3); negative with duplicates, as RFC 3550 allows."""
        return self.expected - self.received if self.ssrc is not None else 0

    @property
    def loss_fraction(self) -> float:
        """Cumulative loss as a fraction of the expected packets, 0..1."""
        expected = self.expected
        return min(1.0, max(0, self.lost) / expected) if expected else 0.0

    @property
    def highest_sequence(self) -> int:
        """Extended highest sequence number received: cycles and the 16-bit number (A.1)."""
        return self._cycles + self._max

    @property
    def jitter(self) -> float:
        """Interarrival jitter (A.8) in timestamp units."""
        return self._jitter

    @property
    def jitter_ms(self) -> float:
        """Interarrival jitter (A.8) in milliseconds."""
        return self._jitter * 1000 / self.clock_rate


# --- the snapshot --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStats:
    """Statistics of a call's audio stream at one moment."""

    codec: str | None
    """Audio codec sent (SDP encoding name), None before negotiation."""
    clock_rate: int | None
    """Its RTP clock rate (Hz)."""
    packets_sent: int
    """RTP packets that left (audio and DTMF events; suppressed audio frames not counted)."""
    bytes_sent: int
    """Their payload octets."""
    packets_received: int
    """RTP packets received on the stream, all payload types."""
    bytes_received: int
    """Their payload octets."""
    local_packets_lost: int
    """Cumulative loss seen by our receiver: expected (by sequence number) minus received."""
    local_loss_fraction: float
    """That loss as a fraction of the expected packets, 0..1."""
    remote_packets_lost: int | None
    """Cumulative loss the peer reported in its last RTCP receiver report, None before one."""
    remote_loss_fraction: float | None
    """Fraction lost of that report (RFC 3550 §6.4.1, the 8-bit value / 256)."""
    local_jitter_ms: float
    """Interarrival jitter of the received stream (RFC 3550 A.8)."""
    remote_jitter_ms: float | None
    """Interarrival jitter the peer reported for our stream."""
    rtt_ms: float | None
    """Round-trip time from RTCP (RFC 3550 §6.4.1 LSR/DLSR), None until measured."""
    jitter_buffer_delay_ms: float | None
    """Audio held in the receive jitter buffer (:attr:`media.jitter.JitterBuffer.delay`),
    None before negotiation."""
    concealed_frames: int | None
    """Frames played out as loss concealment (lost or late packets), None before
    negotiation."""
    no_packet_time: float | None
    """Seconds since the last inbound RTP packet, None before the first."""
    mos: float | None
    """E-model MOS of what we hear, None before negotiation."""

    @classmethod
    def empty(cls) -> CallStats:
        """The statistics of a stream not negotiated yet."""
        return cls(
            codec=None,
            clock_rate=None,
            packets_sent=0,
            bytes_sent=0,
            packets_received=0,
            bytes_received=0,
            local_packets_lost=0,
            local_loss_fraction=0.0,
            remote_packets_lost=None,
            remote_loss_fraction=None,
            local_jitter_ms=0.0,
            remote_jitter_ms=None,
            rtt_ms=None,
            jitter_buffer_delay_ms=None,
            concealed_frames=None,
            no_packet_time=None,
            mos=None,
        )
