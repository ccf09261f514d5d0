"""RFC 4733 DTMF on aiortc's audio RTP stream: events injected on send, extracted on receive,
and the inbound activity clock and reception counters kept on the way.

aiortc knows no telephone-event, so this module sits at the two places where plaintext RTP
passes the DTLS transport, by setting attributes on the transport *instance* (the class is left
alone, so other peer connections are untouched):

- ``RTCDtlsTransport._send_rtp(data)``: the coroutine through which ``RTCRtpSender._run_rtp``
  (audio) and the RTCP loops hand serialized plaintext packets to SRTP and the wire; both call
  it as ``self.transport._send_rtp(...)``. The wrapper renumbers the sender's RTP packets from
  one counter of its own (:class:`OutboundSequencer`), drops the audio packets made while an
  event is sent, and sends the event packets through the original coroutine, so they get SRTP
  like the audio. RTCP passes unchanged.
- ``RTCDtlsTransport._handle_rtp_data(data, arrival_time_ms)``: the coroutine ``_recv_next``
  calls as ``self._handle_rtp_data(...)`` with each SRTP-unprotected RTP packet, before aiortc
  routes it to a receiver (which would drop a payload type it does not know). The wrapper
  stamps the activity clock, counts the packet, takes telephone-event packets out for
  :class:`media.dtmf.DtmfReceiver`, and renumbers the audio packets after them
  (:class:`InboundSequencer`) so that aiortc's audio jitter buffer, which waits for missing
  sequence numbers, sees no hole where the events were.

Also relied on: ``RTCRtpSender._ssrc`` (the SSRC of the sent stream), and that aiortc neither
retransmits audio (no NACK or RTX in its audio codec table) nor pads it. A retransmission would
still be given the number its original got. These are aiortc 1.x internals: the import fails on
another major version, and the behaviour is verified by ``tests/media/test_dtmf_rtp.py``.
"""

from __future__ import annotations

import asyncio
import struct
from bisect import bisect_left, bisect_right
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiortc
from aiortc.rtp import RtpPacket, is_rtcp

from .dtmf import DtmfReceiver, DtmfSender, digit_to_event
from .offer_answer import NegotiatedAudio
from .stats import ReceptionStats

__all__ = [
    "DtmfRtp",
    "DtmfUnavailable",
    "InboundSequencer",
    "OutboundSequencer",
]

_SUPPORTED_MAJOR = "1"
if aiortc.__version__.split(".")[0] != _SUPPORTED_MAJOR:
    raise ImportError(
        f"media.dtmf_rtp relies on aiortc {_SUPPORTED_MAJOR}.x internals "
        f"(RTCDtlsTransport._send_rtp/_handle_rtp_data); found aiortc {aiortc.__version__}"
    )

for _name in ("_send_rtp", "_handle_rtp_data"):
    if not callable(getattr(aiortc.RTCDtlsTransport, _name, None)):
        raise ImportError(f"aiortc {aiortc.__version__}: RTCDtlsTransport.{_name} is gone")

_SEQ_MASK = 0xFFFF
_TS_MASK = 0xFFFFFFFF
PTIME_MS = 20  # RFC 4733 §2.5.1.2: one update per audio packet interval (aiortc: 20 ms)

_ORIGINAL = "_media_dtmf_rtp_send"  # attribute keeping the transport's own _send_rtp
SendRtp = Callable[[bytes], Awaitable[None]]
HandleRtp = Callable[[bytes, int], Awaitable[None]]


class DtmfUnavailable(RuntimeError):
    """DTMF cannot be sent over RTP: telephone-event was not negotiated at the audio clock
    rate, or the audio stream has not started."""


def _seq_after(a: int, b: int) -> bool:
    """16-bit serial comparison: sequence number a comes after b."""
    return 0 < (a - b) & _SEQ_MASK < 0x8000


class OutboundSequencer:
    """Sequence numbers of one sent RTP stream when packets are added and audio is dropped
    (RFC 3550 §5.1: one increment per packet sent, no gap, no repeat).

    The first audio packet sets the start, so a stream without events keeps aiortc's numbers.
    """

    def __init__(self, history: int = 512) -> None:
        self._next: int | None = None
        self._given: OrderedDict[int, int | None] = OrderedDict()
        self._history = history

    @property
    def started(self) -> bool:
        return self._next is not None

    def audio(self, sequence: int, *, suppress: bool = False) -> int | None:
        """The number to send an audio packet (aiortc's ``sequence``) with, or None to drop it.
        A number seen before (a retransmission) gets what it got then."""
        if sequence in self._given:
            return self._given[sequence]
        if self._next is None:
            self._next = sequence
        out = None if suppress else self._take()
        self._given[sequence] = out
        if len(self._given) > self._history:
            self._given.popitem(last=False)
        return out

    def inject(self) -> int:
        """The number of an added packet."""
        if self._next is None:
            raise DtmfUnavailable("the RTP stream has not started")
        return self._take()

    def _take(self) -> int:
        assert self._next is not None
        out = self._next
        self._next = (out + 1) & _SEQ_MASK
        return out


class InboundSequencer:
    """Closes the holes that extracted event packets leave in the received audio numbering.

    An audio packet is shifted down by the number of event packets taken out before it.
    Duplicates, and event packets older than the newest audio packet (reordered across the
    boundary), are not counted: shifting for them would give two audio packets one number.
    The last ``history`` removed numbers are kept sorted, so that counting the ones after an
    audio packet costs two bisections, not a pass over them all; numbers more than ``window``
    packets behind the newest audio are forgotten (no audio that old is still played out, and
    half a sequence cycle later they would look ahead again).
    """

    def __init__(self, history: int = 256, window: int = 1000) -> None:
        self._history = history
        self._window = window
        self._removed: deque[int] = deque()  # in the order taken out
        self._sorted: list[int] = []  # the same numbers, sorted
        self._total = 0
        self._newest_audio: int | None = None

    def event(self, sequence: int) -> None:
        """An event packet was taken out of the stream."""
        removed = self._sorted
        at = bisect_left(removed, sequence)
        if at < len(removed) and removed[at] == sequence:
            return  # a duplicate
        if self._newest_audio is not None and not _seq_after(sequence, self._newest_audio):
            return
        if len(self._removed) == self._history:
            self._forget_oldest()
            at = bisect_left(removed, sequence)
        self._removed.append(sequence)
        removed.insert(at, sequence)
        self._total += 1

    def audio(self, sequence: int) -> int:
        """The number to hand an audio packet on with."""
        if self._newest_audio is None or _seq_after(sequence, self._newest_audio):
            self._newest_audio = sequence
            while self._removed and (sequence - self._removed[0]) & _SEQ_MASK > self._window:
                self._forget_oldest()
        removed = self._sorted
        if not removed:
            return (sequence - self._total) & _SEQ_MASK
        # removed numbers after it (16-bit serial): sequence + 1 .. sequence + 0x7FFF
        first, last = sequence + 1, sequence + 0x7FFF
        if last <= _SEQ_MASK:
            later = bisect_right(removed, last) - bisect_left(removed, first)
        else:
            later = len(removed) - bisect_left(removed, first)
            later += bisect_right(removed, last - _SEQ_MASK - 1)
        return (sequence - (self._total - later)) & _SEQ_MASK

    def _forget_oldest(self) -> None:
        sorted_ = self._sorted
        del sorted_[bisect_left(sorted_, self._removed.popleft())]


def _renumbered(data: bytes, old: int, new: int) -> bytes:
    """The packet with sequence number ``new``; the packet itself when it already has it."""
    return data if new == old else data[:2] + struct.pack("!H", new) + data[4:]


def _header_length(data: bytes) -> int:
    """Length of the fixed header, CSRCs and extension (RFC 3550 §5.1, §5.3.1)."""
    length = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10 and len(data) >= length + 4:
        length += 4 + 4 * struct.unpack_from("!H", data, length + 2)[0]
    return length


class DtmfRtp:
    """DTMF over RTP and the inbound counters of one MediaSession's audio stream.

    ``on_digit`` gets each received digit once. ``clock`` gives the time stamped on inbound
    packets and pacing events (the event loop's ``time`` by default).
    """

    def __init__(
        self,
        on_digit: Callable[[str], None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._on_digit = on_digit
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self.audio: NegotiatedAudio | None = None
        self.last_rtp_at: float | None = None
        """Clock time of the last inbound RTP packet (any payload type), None before one."""
        self.rtp_packets_received = 0
        """Inbound RTP packets, any payload type."""
        self.reception = ReceptionStats(8000)
        self.packets_sent = 0
        self.bytes_sent = 0
        self.audio_suppressed = 0
        """Audio packets dropped while events were sent."""
        self._receiver = DtmfReceiver()
        self._in = InboundSequencer()
        self._out = OutboundSequencer()
        self._ssrc: int | None = None
        self._sender: Any = None
        self._sending_event = False
        self._last_header: bytes | None = None
        self._last_timestamp = 0
        self._last_sent_at = 0.0
        self._lock = asyncio.Lock()

    # -- wiring ----------------------------------------------------------------------------------
    def attach(self, sender: Any, receiver: Any, audio: NegotiatedAudio | None) -> None:
        """Hook the transports of an aiortc ``RTCRtpSender``/``RTCRtpReceiver`` pair (again after
        each negotiation: a new transport is hooked, a hooked one is left as it is) and take the
        negotiated formats."""
        self.audio = audio
        if audio is not None and audio.clock_rate != self.reception.clock_rate:
            self.reception = ReceptionStats(audio.clock_rate)
        if sender is not self._sender:
            self._sender = sender
            self._out = OutboundSequencer()
            self._last_header = None
        self._ssrc = int(sender._ssrc)
        self._hook(sender.transport)
        self._hook(receiver.transport)

    def _hook(self, transport: Any) -> None:
        if getattr(transport, _ORIGINAL, None) is not None:
            return
        send: SendRtp = transport._send_rtp
        setattr(transport, _ORIGINAL, send)  # also marks the transport as hooked
        handle: HandleRtp = transport._handle_rtp_data

        async def send_rtp(data: bytes) -> None:
            out = self._outbound(data)
            if out is not None:
                await getattr(transport, _ORIGINAL)(out)

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            out = self._inbound(data)
            if out is not None:
                await handle(out, arrival_time_ms)

        transport._send_rtp = send_rtp
        transport._handle_rtp_data = handle_rtp_data

    # -- outbound --------------------------------------------------------------------------------
    def _outbound(self, data: bytes) -> bytes | None:
        """What to send in place of a packet aiortc sends: renumbered, or None to drop it."""
        if len(data) < 12 or is_rtcp(data) or struct.unpack_from("!L", data, 8)[0] != self._ssrc:
            return data
        sequence = struct.unpack_from("!H", data, 2)[0]
        out = self._out.audio(sequence, suppress=self._sending_event)
        if out is None:
            self.audio_suppressed += 1
            return None
        header = _header_length(data)
        self._last_header = data[:header]
        self._last_timestamp = struct.unpack_from("!L", data, 4)[0]
        self._last_sent_at = self._clock()
        self.packets_sent += 1
        self.bytes_sent += len(data) - header
        return _renumbered(data, sequence, out)

    async def send(
        self, digits: str, *, duration_ms: int = 100, gap_ms: int = 70, volume: int = 10
    ) -> None:
        """Send ``digits`` as RFC 4733 events on the audio stream, one after the other with
        ``gap_ms`` of audio between them. Everything is checked before the first packet:
        ValueError for a bad digit or value, DtmfUnavailable when events cannot be sent."""
        for digit in digits:
            digit_to_event(digit)
        if isinstance(gap_ms, bool) or not isinstance(gap_ms, int) or gap_ms < 0:
            raise ValueError(f"gap_ms must be an int >= 0, not {gap_ms!r}")
        audio = self.audio
        if audio is None or audio.telephone_event_pt is None:
            raise DtmfUnavailable("telephone-event was not negotiated at the audio clock rate")
        packetiser = DtmfSender(audio.clock_rate, PTIME_MS)
        for digit in digits:  # duration and volume errors before anything is sent
            packetiser.packets(digit, duration_ms=duration_ms, volume=volume, start_timestamp=0)
        if self._last_header is None:
            raise DtmfUnavailable("the audio stream has not started")
        async with self._lock:
            for index, digit in enumerate(digits):
                if index:
                    await asyncio.sleep(gap_ms / 1000)
                await self._send_digit(
                    packetiser, audio.telephone_event_pt, digit, duration_ms, volume
                )

    async def _send_digit(
        self, packetiser: DtmfSender, payload_type: int, digit: str, duration_ms: int, volume: int
    ) -> None:
        """One event (RFC 4733 §2.5.1): it starts where the audio stream is now, on its clock;
        audio packets are dropped until its last end packet is out."""
        header = self._last_header
        if header is None:
            raise DtmfUnavailable("the audio stream has not started")
        start = self._clock()
        elapsed = round((start - self._last_sent_at) * packetiser.clock_rate)
        timestamp = (self._last_timestamp + max(0, elapsed)) & _TS_MASK
        packets = packetiser.packets(
            digit, duration_ms=duration_ms, volume=volume, start_timestamp=timestamp
        )
        send: SendRtp = getattr(self._sender.transport, _ORIGINAL)
        self._sending_event = True
        try:
            for packet in packets:
                delay = start + packet.offset_ms / 1000 - self._clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                data = bytearray(header)
                data[1] = (0x80 if packet.marker else 0) | payload_type
                struct.pack_into("!HL", data, 2, self._out.inject(), packet.timestamp)
                data += packet.payload
                self.packets_sent += 1
                self.bytes_sent += len(packet.payload)
                await send(bytes(data))
        finally:
            self._sending_event = False

    # -- inbound ---------------------------------------------------------------------------------
    def _inbound(self, data: bytes) -> bytes | None:
        """What to hand on to aiortc for a received packet: renumbered audio, or None."""
        if len(data) < 12 or data[0] >> 6 != 2:
            return data
        now = self._clock()
        self.last_rtp_at = now
        self.rtp_packets_received += 1
        payload_type = data[1] & 0x7F
        sequence, timestamp, ssrc = struct.unpack_from("!HLL", data, 2)
        header = _header_length(data)
        padding = data[-1] if data[0] & 0x20 and len(data) > header else 0
        self.reception.add(
            ssrc=ssrc,
            sequence=sequence,
            timestamp=timestamp,
            payload_len=max(0, len(data) - header - padding),
            now=now,
        )
        audio = self.audio
        if audio is None or payload_type not in audio.receive_telephone_event_pts:
            return _renumbered(data, sequence, self._in.audio(sequence))
        self._in.event(sequence)
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            return None
        for digit in self._receiver.feed(
            sequence=sequence,
            timestamp=timestamp,
            marker=bool(packet.marker),
            payload=packet.payload,
        ):
            self._on_digit(digit)
        return None
