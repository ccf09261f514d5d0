"""DTMF as RFC 4733 telephone-events over RTP, and as SIP INFO bodies (fallback).

Everything here is pure: no I/O and no clock. The RTP side works on payloads and header fields
that the media layer hands in (receive) or sends out at the offsets it is given (send).

Payload (RFC 4733 §2.3)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     event     |E|R| volume    |          duration             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Decisions where the RFC leaves room:

- **Payload length.** A telephone-event payload is exactly 4 bytes. Several events in one packet
  come only through RFC 2198 redundancy, which is a different payload type (RFC 4733 §2.5.1.5,
  §2.5.2.4), so any other length is malformed here.
- **R bit.** Sent as 0 and ignored on receipt (RFC 4733 §2.3.3).
- **Event identity.** An event is its RTP timestamp: every packet of an event, retransmitted end
  packets included, carries the timestamp of its start (RFC 4733 §2.5.1.2, §2.5.1.3). The
  marker bit (§2.5.1.2) and the sequence number are not needed to tell events apart, so a lost
  marker changes nothing and sequence-number wrap-around is harmless. Timestamps are compared
  in 32-bit serial arithmetic, so they wrap as well. A packet whose event code differs from
  the one already seen at its timestamp is dropped.
- **When a digit is reported.** Once, on the first end (E) packet of its event; or, when the end
  packets were lost, as soon as a later event is seen (a new timestamp), since events on one
  stream do not overlap (RFC 4733 §2.5.2). An event that first shows up after a later one has
  started is therefore reported at once. Duplicates, the three end packets (§2.5.1.4) and late
  packets of a reported event are dropped.
- **Long events.** A sender splits an event longer than 0xFFFF timestamp units into segments;
  each new segment starts at the previous segment's timestamp plus its duration, and only the
  last segment carries the E bit (RFC 4733 §2.5.1.3). The receiver (§2.5.2.3) joins segments
  of the same event code whose timestamps are a multiple of 0xFFFF apart (or exactly the
  earlier, unended segment's duration apart), so a long press is one digit, whichever order
  its packets arrive in and whether or not the sender also set the E bit on intermediate
  segments. The price: a new press of the same digit starting exactly that far after an
  earlier one would be taken for its continuation.
- **Memory.** The receiver remembers the last ``history`` (default 32) timestamps, of which a
  long event keeps only its first and last segments; a packet older than the newest timestamp
  it has forgotten is dropped rather than risk reporting a digit twice. Reordering deeper than
  that memory is out of scope.
- **Non-digit events.** Codes 0-15 are the digits ``0123456789*#ABCD`` (RFC 4733 §3.2). Other
  codes (16 is flash) still mark the end of the previous event but are not digits and are never
  reported.
- **Sender.** The first packet carries the marker bit and one ptime of duration; each update
  adds a ptime; the last packet has the E bit, the full duration and is sent three times in all,
  one ptime apart (§2.5.1.2, §2.5.1.4). Durations are limited to 1..60000 ms.
- **SIP INFO.** ``application/dtmf-relay`` (``Signal=5\\r\\nDuration=100\\r\\n``) and
  ``application/dtmf`` (``5``), neither standardised by the IETF; parsing tolerates case,
  spaces and LF-only lines, and reads ``Signal=10`` .. ``Signal=15`` as the RFC 4733 event codes
  for ``* # A B C D``, as some gateways send them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DIGITS",
    "DtmfPacket",
    "DtmfReceiver",
    "DtmfSender",
    "TelephoneEvent",
    "decode_payload",
    "digit_to_event",
    "encode_payload",
    "event_to_digit",
    "info_body",
    "parse_info",
]

#: Event codes 0-15 in order (RFC 4733 §3.2).
DIGITS = "0123456789*#ABCD"

MAX_DURATION = 0xFFFF  # RFC 4733 §2.3.5: 16-bit unsigned duration in timestamp units
MAX_VOLUME = 63  # RFC 4733 §2.3.4: 0 to -63 dBm0, sign dropped
END_PACKETS = 3  # RFC 4733 §2.5.1.4: the final packet is sent a total of three times
MAX_EVENT_MS = 60_000
MAX_INFO_BODY = 1024

_TS_MASK = 0xFFFFFFFF
_HALF = 1 << 31


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} {value} out of range {low}..{high}")


def digit_to_event(digit: str) -> int:
    """The RFC 4733 §3.2 event code of a DTMF digit: ``0-9 * # A-D`` (``a-d`` too)."""
    if isinstance(digit, str) and len(digit) == 1:
        code = DIGITS.find(digit.upper())
        if code >= 0:
            return code
    raise ValueError(f"invalid DTMF digit {digit!r}: expected one of 0-9, *, #, A-D")


def event_to_digit(event: int) -> str | None:
    """The digit of an event code, or None for codes that are not digits (16 flash, ...)."""
    return DIGITS[event] if 0 <= event < len(DIGITS) else None


# --- payload (RFC 4733 §2.3) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One decoded telephone-event payload (RFC 4733 §2.3)."""

    event: int
    """Event code, 0-255 (§2.3.1); 0-15 are DTMF digits (§3.2)."""
    end: bool
    """E bit: this packet reports the end of the event (§2.3.2)."""
    volume: int
    """Power level in -dBm0, 0-63 (§2.3.4)."""
    duration: int
    """Duration so far in timestamp units, 0-0xFFFF (§2.3.5)."""

    @property
    def digit(self) -> str | None:
        """The DTMF digit, or None when the event is not a digit."""
        return event_to_digit(self.event)

    def encode(self) -> bytes:
        return encode_payload(self.event, end=self.end, volume=self.volume, duration=self.duration)


def encode_payload(event: int, *, end: bool, volume: int, duration: int) -> bytes:
    """The 4-byte payload of one event report; the R bit is 0 (RFC 4733 §2.3.3).

    Raises ValueError when event (0-255), volume (0-63) or duration (0-0xFFFF) is out of range.
    """
    _check_int("event", event, 0, 255)
    _check_int("volume", volume, 0, MAX_VOLUME)
    _check_int("duration", duration, 0, MAX_DURATION)
    return bytes((event, (0x80 if end else 0) | volume, duration >> 8, duration & 0xFF))


def decode_payload(payload: bytes) -> TelephoneEvent:
    """Decode one payload; ValueError unless it is exactly 4 bytes.

    The R bit is ignored (RFC 4733 §2.3.3: the receiver MUST ignore it).
    """
    if len(payload) != 4:
        raise ValueError(f"telephone-event payload must be 4 bytes, got {len(payload)}")
    event, flags, high, low = bytes(payload)
    return TelephoneEvent(
        event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=(high << 8) | low
    )


# --- sending (RFC 4733 §2.5.1) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    """One RTP packet to send for an event."""

    marker: bool
    """RTP marker bit: set on the first packet of the event only (§2.5.1.2)."""
    timestamp: int
    """RTP timestamp: the start of the event, or of its segment for long events (§2.5.1.3)."""
    payload: bytes
    """The 4-byte telephone-event payload."""
    offset_ms: int
    """When to send it, in milliseconds after the first packet."""


class DtmfSender:
    """Builds the packet train of one digit (RFC 4733 §2.5.1).

    ``clock_rate`` is the telephone-event clock rate negotiated in SDP: 8000, or 48000 next to
    Opus (any multiple of 1000 Hz works); ``ptime_ms`` is the update interval.
    """

    def __init__(self, clock_rate: int = 8000, ptime_ms: int = 20) -> None:
        _check_int("clock_rate", clock_rate, 1000, 1_000_000)
        if clock_rate % 1000:
            raise ValueError(f"clock_rate {clock_rate} is not a whole number of kHz")
        _check_int("ptime_ms", ptime_ms, 1, 1000)
        if ptime_ms * clock_rate // 1000 > MAX_DURATION:
            raise ValueError(f"ptime_ms {ptime_ms} exceeds the 16-bit duration at {clock_rate} Hz")
        self.clock_rate = clock_rate
        self.ptime_ms = ptime_ms

    def units(self, ms: int) -> int:
        """Milliseconds in timestamp units."""
        return ms * self.clock_rate // 1000

    def packets(
        self, digit: str, *, duration_ms: int = 100, volume: int = 10, start_timestamp: int
    ) -> list[DtmfPacket]:
        """Every packet of one digit, in sending order.

        Events longer than 0xFFFF timestamp units (8.19 s at 8000 Hz, 1.36 s at 48000 Hz) are
        split into segments (§2.5.1.3): a segment that reaches 0xFFFF is closed by its final
        packet, without the E bit, sent three times (§2.5.1.4), and the next segment continues
        with timestamp + 0xFFFF. Only the very first packet has the marker bit.
        """
        event = digit_to_event(digit)
        _check_int("duration_ms", duration_ms, 1, MAX_EVENT_MS)
        _check_int("volume", volume, 0, MAX_VOLUME)
        _check_int("start_timestamp", start_timestamp, 0, _TS_MASK)
        total = self.units(duration_ms)
        step = self.units(self.ptime_ms)
        ptime = self.ptime_ms
        # (offset, payload, timestamp) in creation order; sorted by offset at the end (stable)
        queued: list[tuple[int, bytes, int]] = []
        segment_start = 0  # in units from the event start
        segment_ts = start_timestamp
        last_duration = -1  # duration of the last update sent for the current segment
        tick = 0
        while True:
            elapsed = min((tick + 1) * step, total)
            offset = tick * ptime
            while elapsed - segment_start > MAX_DURATION:
                # §2.5.1.3: close the full segment and start the next one
                closing = encode_payload(event, end=False, volume=volume, duration=MAX_DURATION)
                sent = 1 if last_duration == MAX_DURATION else 0
                queued.extend(
                    (offset + i * ptime, closing, segment_ts) for i in range(END_PACKETS - sent)
                )
                segment_start += MAX_DURATION
                segment_ts = (segment_ts + MAX_DURATION) & _TS_MASK
                last_duration = -1
            duration = elapsed - segment_start
            end = elapsed == total
            payload = encode_payload(event, end=end, volume=volume, duration=duration)
            copies = END_PACKETS if end else 1  # §2.5.1.4
            queued.extend((offset + i * ptime, payload, segment_ts) for i in range(copies))
            last_duration = duration
            if end:
                break
            tick += 1
        queued.sort(key=lambda item: item[0])
        return [
            DtmfPacket(marker=i == 0, timestamp=ts, payload=payload, offset_ms=offset)
            for i, (offset, payload, ts) in enumerate(queued)
        ]


# --- receiving (RFC 4733 §2.5.2) ---------------------------------------------------------------


def _newer(a: int, b: int) -> bool:
    """Serial-number comparison of 32-bit RTP timestamps: a is after b."""
    return 0 < (a - b) & _TS_MASK < _HALF


@dataclass(eq=False, slots=True)
class _Chain:
    """The segments of one (possibly long) event share one of these."""

    reported: bool = False


@dataclass(slots=True)
class _Seen:
    """What the receiver remembers of one timestamp."""

    code: int
    duration: int  # largest duration seen
    ended: bool  # an E packet was seen
    done: bool = False  # ended, superseded, or joined to a later segment
    chain: _Chain = field(default_factory=_Chain)


def _continues(earlier: _Seen, gap: int) -> bool:
    """Whether an event of the same code ``gap`` units later is the next segment (§2.5.1.3)."""
    if gap <= 0 or gap >= _HALF:
        return False
    if gap % MAX_DURATION == 0 and (not earlier.ended or earlier.duration == MAX_DURATION):
        return True
    return not earlier.ended and gap == earlier.duration


class DtmfReceiver:
    """Turns received telephone-event packets into digits, each reported once.

    Feed every packet of the telephone-event payload type; see the module docstring for the
    rules. Never raises on packet content.
    """

    def __init__(self, history: int = 32) -> None:
        _check_int("history", history, 1, 4096)
        self._history = history
        self._events: dict[int, _Seen] = {}
        self._newest: int | None = None
        self._horizon: int | None = None

    def feed(self, *, sequence: int, timestamp: int, marker: bool, payload: bytes) -> list[str]:
        """The digits completed by this packet (usually none or one).

        ``sequence`` and ``marker`` are accepted as they come off the RTP header but events are
        identified by ``timestamp`` alone (RFC 4733 §2.5.1.2), so neither a lost marker nor a
        sequence-number wrap matters. Malformed payloads give [].
        """
        try:
            event = decode_payload(payload)
            ts = int(timestamp) & _TS_MASK
        except (TypeError, ValueError):
            return []
        return self._receive(ts, event)

    def _receive(self, ts: int, event: TelephoneEvent) -> list[str]:
        seen = self._events.get(ts)
        if seen is not None:
            if seen.done or seen.code != event.event:
                return []  # duplicate, retransmitted end, late packet, or a conflicting code
            seen.duration = max(seen.duration, event.duration)
            if not event.end:
                return []
            seen.ended = True
            return self._complete(ts)
        if self._horizon is not None and not _newer(ts, self._horizon):
            return []  # older than events already forgotten: cannot tell whether it was reported
        seen = _Seen(code=event.event, duration=event.duration, ended=event.end)
        self._events[ts] = seen
        self._join_segments(ts, seen)
        digits: list[str] = []
        if seen.done:
            pass  # an earlier segment of an event already known
        elif self._newest is not None and _newer(self._newest, ts):
            digits += self._complete(ts)  # a later event has started, so this one is over
        else:
            if self._newest is not None:
                digits += self._complete(self._newest)  # superseded without an end packet
            self._newest = ts
            if seen.ended:
                digits += self._complete(ts)
        self._trim()
        return digits

    def _join_segments(self, ts: int, seen: _Seen) -> None:
        """Join ``seen`` to the known segments of the same long event (§2.5.1.3, §2.5.2.3)."""
        joined = False
        for other_ts, other in self._events.items():
            if other is seen or other.code != seen.code:
                continue
            if _continues(other, (ts - other_ts) & _TS_MASK):
                other.done = True  # the earlier segment is continued, not finished
                self._merge(other.chain, seen)
                joined = True
            elif _continues(seen, (other_ts - ts) & _TS_MASK):
                seen.done = True
                self._merge(other.chain, seen)
                joined = True
        if joined:
            self._forget_inner_segments(seen.chain, ts)

    def _forget_inner_segments(self, chain: _Chain, ts: int) -> None:
        """Keep only the first and last known segment of an event: late packets of the others
        are whole segments away from either, so they still join, and a long press costs two
        entries of memory, not one per segment."""
        members = sorted(
            (t for t, seen in self._events.items() if seen.chain is chain),
            key=lambda t: (t - ts + _HALF) & _TS_MASK,
        )
        for t in members[1:-1]:
            if self._events[t].done:
                del self._events[t]

    def _merge(self, chain: _Chain, seen: _Seen) -> None:
        old = seen.chain
        if old is chain:
            return
        chain.reported = chain.reported or old.reported
        for other in self._events.values():
            if other.chain is old:
                other.chain = chain

    def _complete(self, ts: int) -> list[str]:
        seen = self._events.get(ts)
        if seen is None or seen.done:
            return []
        seen.done = True
        if seen.chain.reported:
            return []
        seen.chain.reported = True
        digit = event_to_digit(seen.code)
        return [digit] if digit is not None else []

    def _trim(self) -> None:
        newest = self._newest
        if newest is None:
            return
        while len(self._events) > self._history + 1:
            done = [ts for ts, seen in self._events.items() if seen.done and ts != newest]
            if not done:
                break
            oldest = max(done, key=lambda ts: (newest - ts) & _TS_MASK)
            del self._events[oldest]
            if self._horizon is None or _newer(oldest, self._horizon):
                self._horizon = oldest
        if self._horizon is not None and (newest - self._horizon) & _TS_MASK >= _HALF >> 1:
            self._horizon = None  # long forgotten; keep the serial comparison meaningful


# --- SIP INFO ----------------------------------------------------------------------------------

DTMF_RELAY = "application/dtmf-relay"
DTMF = "application/dtmf"


def info_body(
    digit: str, duration_ms: int = 100, *, content_type: str = DTMF_RELAY
) -> tuple[str, bytes]:
    """(Content-Type, body) of a SIP INFO carrying one digit.

    ``application/dtmf-relay`` gives ``Signal=5\\r\\nDuration=100\\r\\n``; ``application/dtmf``
    gives ``5``. The digit is sent upper-case.
    """
    symbol = DIGITS[digit_to_event(digit)]
    _check_int("duration_ms", duration_ms, 1, MAX_EVENT_MS)
    kind = content_type.strip().lower()
    if kind == DTMF_RELAY:
        return DTMF_RELAY, f"Signal={symbol}\r\nDuration={duration_ms}\r\n".encode("ascii")
    if kind == DTMF:
        return DTMF, symbol.encode("ascii")
    raise ValueError(f"unsupported DTMF content type {content_type!r}")


def _signal(value: str) -> str | None:
    value = value.strip()
    if value.isascii() and value.isdigit() and 10 <= int(value) <= 15:
        return DIGITS[int(value)]  # event codes for * # A-D, as some gateways send them
    if len(value) == 1:
        code = DIGITS.find(value.upper())
        return DIGITS[code] if code >= 0 else None
    return None


def parse_info(content_type: str, body: bytes) -> str | None:
    """The digit of a SIP INFO body, or None if it is not DTMF or is malformed.

    Tolerates parameters on the content type, any case, spaces around names and values, and
    CRLF, LF or CR line ends. ``Signal=10``/``11`` (and 12-15) are read as ``*``/``#`` (and A-D).
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in (DTMF_RELAY, DTMF) or len(body) > MAX_INFO_BODY:
        return None
    try:
        text = bytes(body).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        return None
    if kind == DTMF:
        return _signal(text)
    for line in text.splitlines():
        name, eq, value = line.partition("=")
        if eq and name.strip().lower() == "signal":
            return _signal(value)
    return None
