"""What a MediaSession adds to aiortc for a SIP call: telephone-event in its SDP, DTMF by RFC
4733 both ways, the inbound activity clock and the call statistics.

SDP (RFC 4733 §7.1.1, RFC 3264 §6.1): aiortc neither offers nor accepts telephone-event (it
drops unknown formats from a remote description, which is harmless), so its local descriptions
are completed here: an offer gets telephone-event at 8000 Hz and at 48000 Hz beside Opus; an
answer gets exactly the telephone-events of the offer that fit the codecs it kept, with the
offer's payload types, and none when the offer had none. After each exchange the codec and the
telephone-event payload types are read from both descriptions (:func:`negotiated_audio`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from .dtmf_rtp import DtmfRtp
from .offer_answer import (
    NegotiatedAudio,
    answer_telephone_event,
    ensure_telephone_event,
    negotiated_audio,
)
from .sdp import MediaSection, SessionDescription, parse
from .stats import CallStats, call_mos

__all__ = ["CallMedia"]

DIGIT_QUEUE = 256


def _audio(description: SessionDescription, mid: str | None = None) -> MediaSection | None:
    """The audio section with this mid, else the first audio section."""
    sections = [m for m in description.media if m.kind == "audio"]
    if mid is not None:
        for section in sections:
            if section.mid == mid:
                return section
    return sections[0] if sections else None


class CallMedia:
    """DTMF, activity and statistics of one session's audio stream over aiortc."""

    def __init__(self, telephone_event: bool = True) -> None:
        self.telephone_event = telephone_event
        self.on_dtmf: Callable[[str], None] | None = None
        """Called with each digit received, once per digit."""
        self.rtp = DtmfRtp(self._digit)
        self._local: bytes | None = None
        self._digits: asyncio.Queue[str] = asyncio.Queue(maxsize=DIGIT_QUEUE)

    # -- SDP ---------------------------------------------------------------------------------
    def local_description(self, sdp: str, offer: bytes | None) -> bytes:
        """aiortc's local description with telephone-event made right: ``offer`` is the remote
        offer when this is an answer, None when it is an offer."""
        description = parse(sdp)
        if self.telephone_event:
            remote = parse(offer) if offer is not None else None
            for section in description.media:
                if section.kind != "audio" or section.port == 0:
                    continue
                if remote is None:
                    ensure_telephone_event(section)
                elif (offered := _audio(remote, section.mid)) is not None:
                    answer_telephone_event(offered, section)
        self._local = description.encode()
        return self._local

    def negotiated(self, transceiver: Any, *, remote: bytes) -> NegotiatedAudio | None:
        """Take the outcome of an exchange (our last local description and the peer's ``remote``
        one) and hook the transceiver's transports."""
        audio = None
        if self._local is not None:
            local_section = _audio(parse(self._local))
            remote_section = _audio(parse(remote), local_section.mid if local_section else None)
            if local_section is not None and remote_section is not None:
                audio = negotiated_audio(local_section, remote_section)
        self.rtp.attach(transceiver.sender, transceiver.receiver, audio)
        return audio

    @property
    def audio(self) -> NegotiatedAudio | None:
        """The codec and telephone-event payload types of the last exchange."""
        return self.rtp.audio

    # -- DTMF --------------------------------------------------------------------------------
    def _digit(self, digit: str) -> None:
        if self.on_dtmf is not None:
            self.on_dtmf(digit)
        if self._digits.full():
            self._digits.get_nowait()
        self._digits.put_nowait(digit)

    async def digits(self) -> AsyncIterator[str]:
        """Received digits as they come (the oldest are dropped past 256 unread)."""
        while True:
            yield await self._digits.get()

    async def send_dtmf(
        self, digits: str, *, duration_ms: int = 100, gap_ms: int = 70, volume: int = 10
    ) -> None:
        """See :meth:`media.dtmf_rtp.DtmfRtp.send`."""
        await self.rtp.send(digits, duration_ms=duration_ms, gap_ms=gap_ms, volume=volume)

    # -- activity and statistics -------------------------------------------------------------
    @property
    def last_rtp_at(self) -> float | None:
        return self.rtp.last_rtp_at

    @property
    def rtp_packets_received(self) -> int:
        return self.rtp.rtp_packets_received

    async def stats(self, transceiver: Any) -> CallStats:
        """A snapshot: our counters, plus the peer's last RTCP receiver report on our stream
        (from aiortc's sender statistics)."""
        audio = self.rtp.audio
        reception = self.rtp.reception
        remote = None
        for entry in (await transceiver.sender.getStats()).values():
            if entry.type == "remote-inbound-rtp":
                remote = entry
        rate = audio.clock_rate if audio is not None else None
        rtt = remote.roundTripTime if remote is not None else None
        rtt_ms = rtt * 1000 if rtt is not None else None
        last = self.rtp.last_rtp_at
        now = asyncio.get_running_loop().time()
        return CallStats(
            codec=audio.codec.name if audio is not None else None,
            clock_rate=rate,
            packets_sent=self.rtp.packets_sent,
            bytes_sent=self.rtp.bytes_sent,
            packets_received=reception.received,
            bytes_received=reception.payload_bytes,
            local_packets_lost=reception.lost,
            local_loss_fraction=reception.loss_fraction,
            remote_packets_lost=remote.packetsLost if remote is not None else None,
            remote_loss_fraction=remote.fractionLost / 256 if remote is not None else None,
            local_jitter_ms=reception.jitter_ms,
            remote_jitter_ms=(
                remote.jitter * 1000 / rate if remote is not None and rate is not None else None
            ),
            rtt_ms=rtt_ms,
            jitter_buffer_delay_ms=None,
            concealed_frames=None,
            no_packet_time=None if last is None else max(0.0, now - last),
            mos=(
                call_mos(
                    codec=audio.codec.name, rtt_ms=rtt_ms, loss_fraction=reception.loss_fraction
                )
                if audio is not None
                else None
            ),
        )
