"""What a MediaSession adds to aiortc's SDP for a SIP call: telephone-event offered and
answered, the negotiated audio formats, and the digits received by RFC 4733 (the events
themselves go through :mod:`media.engine`).

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

from .offer_answer import (
    NegotiatedAudio,
    answer_telephone_event,
    ensure_telephone_event,
    negotiated_audio,
)
from .sdp import MediaSection, SessionDescription, parse

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
    """telephone-event in the SDP of one session, its negotiated formats and its received
    digits."""

    def __init__(self, telephone_event: bool = True) -> None:
        self.telephone_event = telephone_event
        self.on_dtmf: Callable[[str], None] | None = None
        """Called with each digit received, once per digit."""
        self.audio: NegotiatedAudio | None = None
        """The codec and telephone-event payload types of the last exchange."""
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

    def negotiated(self, remote: bytes) -> NegotiatedAudio | None:
        """Take the outcome of an exchange: our last local description and the peer's
        ``remote`` one."""
        audio = None
        if self._local is not None:
            local_section = _audio(parse(self._local))
            remote_section = _audio(parse(remote), local_section.mid if local_section else None)
            if local_section is not None and remote_section is not None:
                audio = negotiated_audio(local_section, remote_section)
        self.audio = audio
        return audio

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
