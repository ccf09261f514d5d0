"""SDP offer/answer helpers for SIP calls (RFC 3264, RFC 6337): directions and hold, codec
preference, telephone-event, what an answer negotiated. They work on the model of
:mod:`media.sdp`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .sdp import DIRECTIONS, MediaSection, SdpError, SessionDescription, parse
from .sdp_values import Attribute, Codec, Line, bounded_int, split_payload_type

__all__ = [
    "NegotiatedAudio",
    "answer_direction",
    "answer_telephone_event",
    "ensure_telephone_event",
    "filter_codecs",
    "hold_direction",
    "holds",
    "ice_ufrag",
    "negotiated_audio",
    "negotiated_codecs",
    "remote_hold",
    "require_srtp",
    "set_direction",
]


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}: expected one of {DIRECTIONS}")
    return direction


def _sends(direction: str) -> bool:
    return direction in ("sendrecv", "sendonly")


def _receives(direction: str) -> bool:
    return direction in ("sendrecv", "recvonly")


def _direction(send: bool, receive: bool) -> str:
    if send:
        return "sendrecv" if receive else "sendonly"
    return "recvonly" if receive else "inactive"


def set_direction(block: MediaSection | SessionDescription, direction: str) -> None:
    """Set the direction attribute of a media section (or the session level): the first
    existing one is replaced in place and any others are dropped (RFC 8866 §6.7)."""
    _check_direction(direction)
    found = [
        index
        for index, attr in block._attribute_lines()
        if attr.value is None and attr.name in DIRECTIONS
    ]
    block._replace_attributes(found, Attribute(direction))


def hold_direction(current_local: str, remote: str | None = None) -> str:
    """The direction to offer to put a stream on hold (RFC 3264 §8.4, RFC 6337 §5).

    ``current_local`` is our current direction, ``remote`` the peer's current one (None if
    unknown). Holding stops our receiving: sendrecv becomes sendonly and recvonly becomes
    inactive; if the peer does not receive (it holds us too, being sendonly or inactive), we
    have nothing to send either and offer inactive.
    """
    _check_direction(current_local)
    peer_receives = remote is None or _receives(_check_direction(remote))
    return "sendonly" if _sends(current_local) and peer_receives else "inactive"


def answer_direction(offered: str, local: str = "sendrecv") -> str:
    """The direction to answer an offered one with (RFC 3264 §6.1): we send only if the offerer
    receives and receive only if it sends, within what ``local`` allows. So sendonly is
    answered recvonly, recvonly sendonly, inactive inactive, sendrecv with ``local``."""
    _check_direction(offered)
    _check_direction(local)
    return _direction(_receives(offered) and _sends(local), _sends(offered) and _receives(local))


def remote_hold(section: MediaSection, session: SessionDescription | None = None) -> bool:
    """Whether the peer's description puts this stream on hold.

    True when its effective direction is sendonly or inactive (RFC 3264 §8.4), or, for a
    stream without ICE, when its connection address is 0.0.0.0: the RFC 2543 way that RFC 3264
    §8.4 still asks answerers to understand. With ICE (an ice-ufrag at either level) 0.0.0.0
    is only the placeholder for "no candidate yet" (RFC 8840), not hold. A rejected stream
    (port 0) is not on hold. Give ``session`` so session-level direction, c= and ICE count.
    """
    if section.port == 0:
        return False
    if session is not None:
        direction = session.direction_of(section)
        connection = session.connection_of(section)
        ice = session.attribute_of(section, "ice-ufrag") is not None
    else:
        direction = section.direction or "sendrecv"
        connection = section.connection
        ice = section.ice_ufrag is not None
    if direction in ("sendonly", "inactive"):
        return True
    return not ice and connection is not None and connection.host == "0.0.0.0"


def _is_telephone_event(codec: Codec) -> bool:
    return codec.name.lower() == "telephone-event"


def _wanted(codec: Codec, preference: str) -> bool:
    """Whether a codec matches ``name[/rate[/channels]]`` (name case-insensitive)."""
    parts = preference.split("/")
    if codec.name.lower() != parts[0].strip().lower():
        return False
    if len(parts) > 1 and str(codec.clock_rate) != parts[1].strip():
        return False
    return len(parts) <= 2 or str(codec.channels or 1) == parts[2].strip()


def _drop_payload_types(section: MediaSection, dropped: set[int]) -> None:
    """Remove rtpmap, fmtp and rtcp-fb lines of payload types no longer offered."""
    keep: list[Line] = []
    for line in section.lines:
        if line.type == "a":
            attr = Attribute.parse(line.value)
            if attr.name in ("rtpmap", "fmtp", "rtcp-fb"):
                split = split_payload_type(attr.value or "")
                if split is not None and split[0] in dropped:
                    continue
        keep.append(line)
    section.lines[:] = keep


def filter_codecs(section: MediaSection, preferred: list[str]) -> list[Codec]:
    """Restrict and reorder the RTP formats of a section to ``preferred`` codec names.

    ``preferred`` holds names like ``"opus"`` or ``"PCMU/8000"`` (case-insensitive), best
    first; formats appear in that order. Kept besides: ``rtx`` formats whose ``apt`` points to a
    kept format (RFC 4588 §8), and ``telephone-event`` (RFC 4733 §7.1.1) at 8000 Hz or at the
    clock rate of a kept codec, after the others. The rtpmap, fmtp and rtcp-fb lines of dropped
    formats are removed. Returns the kept codecs; ValueError (section unchanged) when none of
    ``preferred`` is offered.
    """
    codecs = section.codecs
    offered = set(section.payload_types)
    chosen: list[Codec] = []
    for preference in preferred:
        chosen.extend(c for c in codecs if c not in chosen and _wanted(c, preference))
    primary = [c for c in chosen if c.name.lower() not in ("rtx", "telephone-event")]
    if not primary:
        raise ValueError(f"none of {preferred} is offered in m={section.kind}")
    kept_pts = {c.payload_type for c in chosen}
    rates = {c.clock_rate for c in primary}
    for codec in codecs:
        lowered = codec.name.lower()
        if codec in chosen:
            continue
        companion = (
            lowered == "rtx" and bounded_int(codec.parameters.get("apt") or "") in kept_pts
        ) or (lowered == "telephone-event" and codec.clock_rate in (8000, *rates))
        if companion:
            chosen.append(codec)
    section.formats = [str(c.payload_type) for c in chosen]
    _drop_payload_types(section, offered - {c.payload_type for c in chosen})
    return chosen


def _free_payload_type(section: MediaSection, preferred: int) -> int:
    """A dynamic payload type not used in the section: ``preferred`` if free, else the highest
    free one in 96-127, else in 35-63 (RFC 3551 §3; 64-95 clash with RTCP under rtcp-mux,
    RFC 5761 §4)."""
    used = set(section.payload_types)
    used.update(section._pt_values("rtpmap"))
    used.update(section._pt_values("fmtp"))
    candidates: list[int] = [preferred, *range(127, 95, -1), *range(63, 34, -1)]
    for pt in candidates:
        if pt not in used:
            return pt
    raise ValueError(f"no free dynamic payload type in m={section.kind}")


def _insert_codec_lines(section: MediaSection, new: list[Line]) -> None:
    """Insert lines after the last rtpmap/fmtp/rtcp-fb line, or at the end."""
    at = len(section.lines)
    for index, attr in section._attribute_lines():
        if attr.name in ("rtpmap", "fmtp", "rtcp-fb"):
            at = index + 1
    section.lines[at:at] = new


_TE_PREFERRED_PT = {8000: 101, 48000: 110}


def ensure_telephone_event(
    section: MediaSection, clock_rates: Iterable[int] = (8000, 48000)
) -> list[int]:
    """Make sure an audio section offers telephone-event (RFC 4733 §7.1.1) at these rates.

    A rate is added if it is 8000 Hz, which every DTMF peer knows, or the clock rate of an
    offered codec (48000 Hz when Opus is offered, RFC 7587); other rates are skipped.
    Each addition appends a free dynamic payload type to the m= line, with
    ``a=rtpmap:<pt> telephone-event/<rate>`` and ``a=fmtp:<pt> 0-16`` (the DTMF events and
    flash, RFC 4733 §3.2). Returns the telephone-event payload types for the rates that apply,
    existing or new, in ``clock_rates`` order.
    """
    if section.kind != "audio" or not section.is_rtp:
        raise ValueError(f"telephone-event needs an RTP audio section, not m={section.kind}")
    codecs = section.codecs
    existing = {c.clock_rate: c.payload_type for c in codecs if _is_telephone_event(c)}
    rates = {c.clock_rate for c in codecs if not _is_telephone_event(c)}
    out: list[int] = []
    for rate in clock_rates:
        if rate in existing:
            out.append(existing[rate])
            continue
        if rate != 8000 and rate not in rates:
            continue
        pt = _free_payload_type(section, _TE_PREFERRED_PT.get(rate, 127))
        section.formats.append(str(pt))
        _insert_codec_lines(
            section,
            [Line("a", f"rtpmap:{pt} telephone-event/{rate}"), Line("a", f"fmtp:{pt} 0-16")],
        )
        existing[rate] = pt
        out.append(pt)
    return out


def negotiated_codecs(offer_section: MediaSection, answer_section: MediaSection) -> list[Codec]:
    """The codecs both sides agreed on (RFC 3264 §6.1, §7): the answer's codecs that were also
    offered (same encoding name, clock rate and channels), in the answer's order of
    preference, with the answer's payload types and parameters. [] if either side has port 0.
    """
    if offer_section.port == 0 or answer_section.port == 0:
        return []
    offered = offer_section.codecs
    return [c for c in answer_section.codecs if any(c.same_codec(o) for o in offered)]


# --- telephone-event negotiation (RFC 4733 §7.1.1 with RFC 3264 §6.1) ---------------------------

_NOT_AUDIO_CODECS = frozenset({"telephone-event", "rtx", "red", "cn", "ulpfec", "flexfec-03"})


def answer_telephone_event(offer_section: MediaSection, answer_section: MediaSection) -> list[int]:
    """Make the telephone-event formats of an answer follow the offer (RFC 3264 §6.1).

    Any telephone-event the answer has is dropped, then each one of the offer is added back,
    with the offer's payload type and fmtp, if it runs at 8000 Hz or at the clock rate of a
    codec the answer kept (RFC 4733 §7.1.1). So an answer carries telephone-event only when the
    offer had it. Returns the payload types added, in the offer's order.
    """
    drop = {c.payload_type for c in answer_section.codecs if _is_telephone_event(c)}
    if drop:
        answer_section.formats = [f for f in answer_section.formats if bounded_int(f) not in drop]
        _drop_payload_types(answer_section, drop)
    rates = {c.clock_rate for c in answer_section.codecs if not _is_telephone_event(c)}
    added: list[int] = []
    for codec in offer_section.codecs:
        if not _is_telephone_event(codec) or codec.clock_rate not in (8000, *rates):
            continue
        pt = codec.payload_type
        if pt in answer_section.payload_types:
            pt = _free_payload_type(answer_section, pt)  # the answer used it for something else
        answer_section.formats.append(str(pt))
        lines = [Line("a", f"rtpmap:{pt} telephone-event/{codec.clock_rate}")]
        lines.append(Line("a", f"fmtp:{pt} {codec.fmtp if codec.fmtp else '0-16'}"))
        _insert_codec_lines(answer_section, lines)
        added.append(pt)
    return added


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """What one negotiated audio stream sends and accepts."""

    codec: Codec
    """The audio codec sent: the first of the remote description's formats that the local
    description also has (aiortc sends with the first common codec in the remote's order)."""
    telephone_event_pt: int | None
    """Payload type to send DTMF events with: the remote description's telephone-event at the
    audio codec's clock rate (RFC 3264 §6.1: send with the payload type the peer listed; RFC
    4733 §2.1: events share the audio stream's RTP clock); None when there is none at that rate
    in both descriptions."""
    receive_telephone_event_pts: frozenset[int]
    """telephone-event payload types accepted on receipt: those of either description."""

    @property
    def clock_rate(self) -> int:
        """RTP clock rate of the stream (audio and events alike)."""
        return self.codec.clock_rate


def negotiated_audio(local: MediaSection, remote: MediaSection) -> NegotiatedAudio | None:
    """The codec and telephone-event choice of an audio stream from both descriptions of one
    offer/answer exchange (either side may be the offer); None if they share no audio codec or
    either side rejected the stream (port 0)."""
    if local.port == 0 or remote.port == 0:
        return None
    local_codecs = local.codecs
    codec = next(
        (
            c
            for c in remote.codecs
            if c.name.lower() not in _NOT_AUDIO_CODECS
            and any(c.same_codec(o) for o in local_codecs)
        ),
        None,
    )
    if codec is None:
        return None
    local_te = {c.clock_rate for c in local_codecs if _is_telephone_event(c)}
    send = next(
        (
            c.payload_type
            for c in remote.codecs
            if _is_telephone_event(c)
            and c.clock_rate == codec.clock_rate
            and c.clock_rate in local_te
        ),
        None,
    )
    receive = frozenset(
        c.payload_type for c in (*local_codecs, *remote.codecs) if _is_telephone_event(c)
    )
    return NegotiatedAudio(
        codec=codec, telephone_event_pt=send, receive_telephone_event_pts=receive
    )


def _audio(sdp: bytes) -> tuple[SessionDescription, MediaSection] | None:
    try:
        description = parse(sdp.decode("utf-8", "replace"))
    except SdpError:
        return None
    audio = [m for m in description.media if m.kind == "audio"]
    return (description, audio[0]) if audio else None


def ice_ufrag(sdp: bytes) -> str | None:
    """The ICE user fragment of the audio stream (RFC 8839 §5.4); a new one in a re-offer means
    an ICE restart or a fresh transport. None for SDP that does not parse or has none."""
    found = _audio(sdp)
    if found is None:
        return None
    description, audio = found
    return audio.ice_ufrag or description.ice_ufrag


def holds(sdp: bytes) -> bool:
    """Whether an offer puts us on hold (:func:`remote_hold` of its audio stream)."""
    found = _audio(sdp)
    return found is not None and remote_hold(found[1], found[0])


SECURE_PROFILES = frozenset({"UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP"})
"""The DTLS-SRTP transport protocols (RFC 5764 §8); WebRTC uses SAVPF (RFC 8827 §6.5)."""


def require_srtp(sdp: bytes) -> None:
    """Refuse a remote description whose active media would go unencrypted: every media
    section with a port must use a DTLS-SRTP profile and carry a certificate fingerprint
    (RFC 5763 §5, RFC 8122 §5) at its level or the session's. Plain ``RTP/AVP`` is refused:
    media is SRTP or nothing. Raises :class:`~media.sdp.SdpError` (a SIP UAS answers 488)."""
    description = parse(sdp.decode("utf-8", "replace"))
    for section in description.media:
        if section.port == 0:
            continue  # rejected or disabled stream (RFC 3264 §6)
        if section.proto.upper() not in SECURE_PROFILES:
            raise SdpError(f"{section.kind} over {section.proto} refused: SRTP is mandatory")
        if not section.fingerprints and not description.fingerprints:
            raise SdpError(f"{section.kind} without a DTLS fingerprint refused (RFC 5763 §5)")
