"""The lean audio engine: our own RTP/SRTP path for the audio of many calls in one process.

aiortc keeps what it does well (SDP, ICE through aioice, the DTLS handshake and its SRTP
keys); the audio packets of a stream go through :class:`AudioStream` instead of aiortc's
RTCRtpSender/RTCRtpReceiver (see :mod:`media.srtp_link` for the hand-over). There is no task
per packet, no queue hop and no thread:

- **Receive** (synchronous, in the datagram callback): SRTP unprotect, a header peek, the
  RFC 3550 A.1/A.8 counters, then telephone-event packets to :class:`media.dtmf.DtmfReceiver`
  and audio payloads to the stream's :class:`media.jitter.JitterBuffer`.
- **One pacing clock per event loop** (:class:`AudioEngine`): a ``call_at`` chain on absolute
  20 ms deadlines (no drift); a late tick runs the frames it missed, at most
  ``max_catch_up`` of them, and skips the rest (their RTP time still passes). On each frame,
  every stream pulls 20 ms of PCM from its source, encodes it, prepends the RTP header,
  protects it and sends it; then pops its jitter buffer once and decodes (or conceals) the
  frame for its sink.
- **DTMF** (RFC 4733 §2.5.1): events go on the audio SSRC with continuous sequence numbers,
  in place of the audio frames they overlap (marker on the first, the end packet three times).
- **RTCP** (RFC 3550 §6): SR/RR with SDES CNAME at the §6.2 interval, RTT and remote loss from
  the peer's reports (:mod:`media.rtcp_session`).

Sources are objects with ``sample_rate`` and a synchronous ``next_pcm() -> bytes`` (20 ms of
16-bit mono PCM at that rate), e.g. every source of :mod:`media.tracks`; audio is resampled to
the codec rate only when the rates differ. Sinks are callables ``on_pcm(pcm, sample_rate)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .codecs import make_decoder, make_encoder
from .dtmf import DtmfPacket, DtmfReceiver, DtmfSender, digit_to_event
from .jitter import JitterBuffer, JitterConfig
from .offer_answer import NegotiatedAudio
from .rtcp_session import RtcpSession, next_interval
from .rtp import pack_rtp_header, payload_end, peek_rtp
from .srtp_link import SrtpLink
from .stats import CODEC_IMPAIRMENTS, CallStats, ReceptionStats, e_model_mos
from .tracks import SilenceTrack, _Converter, _pcm_frame

__all__ = [
    "FRAME_TIME",
    "AudioEngine",
    "AudioStream",
    "DtmfUnavailable",
    "PcmSource",
    "StreamConfig",
]

logger = logging.getLogger(__name__)

FRAME_TIME = 0.02
"""The packet and playout period (seconds): 20 ms, RFC 3551 §4.5's default for audio."""
PTIME_MS = 20
_SEQ_MASK = 0xFFFF
_TS_MASK = 0xFFFFFFFF


class DtmfUnavailable(RuntimeError):
    """DTMF cannot be sent over RTP: telephone-event was not negotiated at the audio clock
    rate, or the stream is not sending."""


class PcmSource(Protocol):
    """Audio for a stream: 20 ms of signed 16-bit mono PCM per call, at ``sample_rate``."""

    @property
    def sample_rate(self) -> int: ...

    def next_pcm(self) -> bytes: ...


PcmSink = Callable[[bytes, int], None]
"""Gets each played-out frame: PCM (16-bit mono) and its sample rate."""


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Settings of one engine stream."""

    rtcp_interval: float = 1.0
    """RTCP report interval (seconds); each report is sent after 0.5 to 1.5 times it, the
    first after half that. RFC 3550 §6.2 recommends a 5 s minimum for RTP/AVP; the
    (S)AVPF profile of WebRTC calls (RFC 4585 §3.4) drops it, and one audio stream's 5 %
    RTCP share allows a report about every second."""
    jitter: JitterConfig = field(default_factory=JitterConfig)
    """The receive jitter buffer's settings."""


class _Resampled:
    """A source at another rate, converted to ``rate`` 20 ms at a time (PyAV's resampler
    keeps a few samples of delay; the first frames are padded with silence)."""

    def __init__(self, source: PcmSource, rate: int) -> None:
        self.source = source
        self.sample_rate = rate
        self._bytes = 2 * rate * PTIME_MS // 1000
        self._converter = _Converter(rate)
        self._buffer = bytearray()

    def next_pcm(self) -> bytes:
        pcm = self.source.next_pcm()
        self._buffer += self._converter.convert(_pcm_frame(pcm, rate=self.source.sample_rate))
        need = self._bytes
        if len(self._buffer) < need:
            self._buffer[:0] = bytes(need - len(self._buffer))
        chunk = bytes(self._buffer[:need])
        del self._buffer[:need]
        return chunk


class AudioEngine:
    """The pacing clock of every stream on one event loop (see the module doc).

    ``max_catch_up`` bounds the frames a late tick runs at once; the clock runs only while
    it has streams. :meth:`for_loop` gives the engine shared by a loop.
    """

    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AudioEngine]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(
        self, *, max_catch_up: int = 3, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        if max_catch_up < 1:
            raise ValueError("max_catch_up must be >= 1")
        self.max_catch_up = max_catch_up
        self.loop = loop or asyncio.get_running_loop()
        self.streams: list[AudioStream] = []
        self.frames = 0
        """Frame periods run so far."""
        self.frames_skipped = 0
        """Frame periods skipped because the loop was too late to run them."""
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> AudioEngine:
        """The engine of ``loop`` (the running loop by default), made on first use."""
        loop = loop or asyncio.get_running_loop()
        engine = cls._shared.get(loop)
        if engine is None:
            engine = cls._shared[loop] = cls(loop=loop)
        return engine

    @property
    def running(self) -> bool:
        return self._handle is not None

    def add(self, stream: AudioStream) -> None:
        if stream in self.streams:
            return
        self.streams.append(stream)
        if self._handle is None:
            self._deadline = self.loop.time() + FRAME_TIME
            self._handle = self.loop.call_at(self._deadline, self._tick)

    def remove(self, stream: AudioStream) -> None:
        with contextlib.suppress(ValueError):
            self.streams.remove(stream)
        if not self.streams and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self.loop.time()
        due = int((now - self._deadline) / FRAME_TIME) + 1
        if due > self.max_catch_up:
            skipped = due - self.max_catch_up
            self.frames_skipped += skipped
            self._deadline += skipped * FRAME_TIME
            for stream in list(self.streams):
                stream._skip(skipped)
            due = self.max_catch_up
        for _ in range(due):
            t = self._deadline
            for stream in list(self.streams):
                try:
                    stream._frame(t)
                except Exception:
                    logger.exception("audio stream failed; closing it")
                    stream.close()
            self.frames += 1
            self._deadline += FRAME_TIME
        if self.streams:
            self._handle = self.loop.call_at(self._deadline, self._tick)
        else:
            self._handle = None


class AudioStream:
    """One sendrecv audio stream of a call on the engine.

    Made with the negotiated formats (:class:`media.offer_answer.NegotiatedAudio`); started on
    a connected aiortc DTLS transport by :meth:`start`; :meth:`close` gives the transport back.
    ``sending`` false (hold, recvonly) stops the outgoing audio; reception goes on.
    """

    def __init__(
        self,
        audio: NegotiatedAudio,
        *,
        source: PcmSource | None = None,
        on_pcm: PcmSink | None = None,
        on_dtmf: Callable[[str], None] | None = None,
        ssrc: int | None = None,
        cname: str = "",
        config: StreamConfig | None = None,
        engine: AudioEngine | None = None,
    ) -> None:
        self.config = config or StreamConfig()
        self.engine = engine or AudioEngine.for_loop()
        self.ssrc = ssrc if ssrc is not None else random.getrandbits(32)
        self.cname = cname
        """The SDES CNAME of our reports (RFC 3550 §6.5.1): the SDP's ``a=ssrc`` cname."""
        self.on_pcm = on_pcm
        """Gets each played-out frame (decoding happens only while it is set)."""
        self.on_dtmf = on_dtmf
        """Gets each digit received by RFC 4733, once per digit."""
        self.sending = True
        self.frames_played = 0
        """Frames the playout clock took from the jitter buffer (decoded or concealed)."""
        self.frames_concealed = 0
        """Of those, frames concealed (lost or late)."""
        self.rtp_packets_received = 0
        """Inbound RTP packets, any payload type."""
        self.last_rtp_at: float | None = None
        """Loop time of the last inbound RTP packet, None before one."""
        self._source: PcmSource | None = None
        self._link: SrtpLink | None = None
        self._aiortc: tuple[Any, Any] | None = None
        self._sequence = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._marker = True
        self._receiver = DtmfReceiver()
        self._dtmf: _Event | None = None
        self._dtmf_lock = asyncio.Lock()
        self._rtcp_due = math.inf
        self._rng = random.Random()
        self.closed = False
        self._set_audio(audio)
        self.source = source

    # -- formats and source ----------------------------------------------------------------------
    def _set_audio(self, audio: NegotiatedAudio) -> None:
        self.audio = audio
        codec = audio.codec
        if hasattr(self, "_encoder"):
            self._close_codecs()
        self._encoder = make_encoder(codec.name, codec.clock_rate, codec.channels or 1)
        self._decoder = make_decoder(codec.name, codec.clock_rate, codec.channels or 1)
        self._payload_type = codec.payload_type
        self._step = codec.clock_rate * PTIME_MS // 1000
        self._events = audio.receive_telephone_event_pts
        self.reception = ReceptionStats(codec.clock_rate)
        self.jitter_buffer = JitterBuffer(codec.clock_rate, self.config.jitter)
        self.rtcp = RtcpSession(self.ssrc, self.cname, self.reception)

    def update(self, audio: NegotiatedAudio) -> None:
        """Take the formats of a new offer/answer exchange; a new codec or clock rate starts
        new codec state, jitter buffer and counters."""
        same = (
            audio.codec.name.lower() == self.audio.codec.name.lower()
            and audio.codec.clock_rate == self.audio.codec.clock_rate
        )
        if same:
            self.audio = audio
            self._payload_type = audio.codec.payload_type
            self._events = audio.receive_telephone_event_pts
            return
        counters = (self.rtcp.packets_sent, self.rtcp.octets_sent)
        self._set_audio(audio)
        self.rtcp.packets_sent, self.rtcp.octets_sent = counters
        self.source = self._source

    @property
    def source(self) -> PcmSource | None:
        """Where the sent audio comes from (None: silence)."""
        return self._source

    @source.setter
    def source(self, source: PcmSource | None) -> None:
        self._source = source
        rate = self._encoder.sample_rate
        if source is None:
            self._pull: PcmSource = SilenceTrack(sample_rate=rate)
        elif source.sample_rate != rate:
            self._pull = _Resampled(source, rate)
        else:
            self._pull = source

    def _close_codecs(self) -> None:
        """Free the native state of the codecs that hold one (Opus)."""
        for codec in (self._encoder, self._decoder):
            close = getattr(codec, "close", None)
            if close is not None:
                close()

    # -- life cycle ------------------------------------------------------------------------------
    def start(self, dtls: Any, *, sender: Any = None, receiver: Any = None) -> None:
        """Take over the SRTP path of a connected aiortc DTLS transport and join the clock;
        ``sender``/``receiver`` are the transceiver's aiortc objects, whose own loops are
        stopped once they have started."""
        if self._link is not None or self.closed:
            raise RuntimeError("stream already started" if self._link else "stream closed")
        self._link = SrtpLink(dtls, self._on_rtp, self._on_rtcp)
        self._aiortc = (sender, receiver) if sender is not None or receiver is not None else None
        now = self.engine.loop.time()
        self._rtcp_due = now + next_interval(self.config.rtcp_interval / 2, self._rng)
        self.engine.add(self)

    @property
    def started(self) -> bool:
        return self._link is not None

    def close(self) -> None:
        """Leave the clock, send an RTCP BYE (RFC 3550 §6.6) and give the transport back; the
        codecs are freed, so a closed stream cannot start again."""
        self.closed = True
        self.engine.remove(self)
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                now = self.engine.loop.time()
                link.send_rtcp(self.rtcp.build(now, time.time(), self._step * 50, bye=True))
            link.close()
        if self._dtmf is not None:
            self._dtmf.finish(DtmfUnavailable("the stream was closed"))
            self._dtmf = None
        self._close_codecs()

    # -- receive (called from the datagram callback) ---------------------------------------------
    def _on_rtp(self, packet: bytes) -> None:
        header = peek_rtp(packet)
        if header is None:
            return
        payload_type, sequence, timestamp, ssrc, marker, start = header
        end = payload_end(packet)
        now = self.engine.loop.time()
        self.last_rtp_at = now
        self.rtp_packets_received += 1
        self.reception.add(
            ssrc=ssrc, sequence=sequence, timestamp=timestamp, payload_len=end - start, now=now
        )
        if payload_type in self._events:
            digits = self._receiver.feed(
                sequence=sequence, timestamp=timestamp, marker=marker, payload=packet[start:end]
            )
            if self.on_dtmf is not None:
                for digit in digits:
                    self.on_dtmf(digit)
            return
        self.jitter_buffer.push(sequence, timestamp, ssrc, packet[start:end], now, marker)

    def _on_rtcp(self, packet: bytes) -> None:
        self.rtcp.receive(packet, self.engine.loop.time(), time.time())

    # -- the clock ---------------------------------------------------------------------------------
    def _frame(self, t: float) -> None:
        link = self._link
        if link is None:
            return
        if self._aiortc is not None and link.release_aiortc(*self._aiortc):
            self._aiortc = None
        if not self.sending:
            self._marker = True  # the first packet after a pause starts a talkspurt
        else:
            pcm = self._pull.next_pcm()
            if self._dtmf is not None:
                self._send_event(link, t)
            else:
                payload = self._encoder.encode(pcm)
                timestamp = self._timestamp
                link.send_rtp(
                    pack_rtp_header(
                        self._marker, self._payload_type, self._sequence, timestamp, self.ssrc
                    )
                    + payload
                )
                self._marker = False
                self._sequence = (self._sequence + 1) & _SEQ_MASK
                self.rtcp.sent(timestamp, len(payload), t)
        # the RTP clock runs on while nothing is sent (RFC 3550 §5.1: timestamps follow time)
        self._timestamp = (self._timestamp + self._step) & _TS_MASK
        frame = self.jitter_buffer.pop(t)
        if frame is not None:
            self.frames_played += 1
            sink = self.on_pcm
            received = frame[1]
            if received is None:
                self.frames_concealed += 1
                if sink is not None:
                    sink(self._decoder.conceal(), self._decoder.sample_rate)
            elif sink is not None:
                try:
                    pcm = self._decoder.decode(received)
                except ValueError:  # a payload the codec rejects is a lost frame
                    self.frames_concealed += 1
                    pcm = self._decoder.conceal()
                sink(pcm, self._decoder.sample_rate)
        if t >= self._rtcp_due:
            self._rtcp_due = t + next_interval(self.config.rtcp_interval, self._rng)
            link.send_rtcp(self.rtcp.build(t, time.time(), self.audio.clock_rate))

    def _skip(self, frames: int) -> None:
        """``frames`` periods passed without running: their RTP time passes all the same."""
        if self._link is not None:
            self._timestamp = (self._timestamp + frames * self._step) & _TS_MASK

    # -- DTMF (RFC 4733) -----------------------------------------------------------------------
    async def send_dtmf(
        self, digits: str, *, duration_ms: int = 100, gap_ms: int = 70, volume: int = 10
    ) -> None:
        """Send ``digits`` as RFC 4733 events, ``gap_ms`` of audio between them. Everything is
        checked before the first packet: ValueError for a bad digit or value, DtmfUnavailable
        when events cannot be sent."""
        for digit in digits:
            digit_to_event(digit)
        if isinstance(gap_ms, bool) or not isinstance(gap_ms, int) or gap_ms < 0:
            raise ValueError(f"gap_ms must be an int >= 0, not {gap_ms!r}")
        payload_type = self.audio.telephone_event_pt
        if payload_type is None:
            raise DtmfUnavailable("telephone-event was not negotiated at the audio clock rate")
        packetiser = DtmfSender(self.audio.clock_rate, PTIME_MS)
        for digit in digits:  # duration and volume errors before anything is sent
            packetiser.packets(digit, duration_ms=duration_ms, volume=volume, start_timestamp=0)
        if self._link is None or not self.sending:
            raise DtmfUnavailable("the audio stream is not sending")
        async with self._dtmf_lock:
            for index, digit in enumerate(digits):
                if index:
                    await asyncio.sleep(gap_ms / 1000)
                if self._link is None:
                    raise DtmfUnavailable("the stream was closed")
                event = _Event(packetiser, payload_type, digit, duration_ms, volume)
                self._dtmf = event
                await event.done

    def _send_event(self, link: SrtpLink, t: float) -> None:
        """The packets of the current event due in this frame period, in place of its audio."""
        event = self._dtmf
        assert event is not None
        for packet in event.due(self._timestamp):
            link.send_rtp(
                pack_rtp_header(
                    packet.marker, event.payload_type, self._sequence, packet.timestamp, self.ssrc
                )
                + packet.payload
            )
            self._sequence = (self._sequence + 1) & _SEQ_MASK
            self.rtcp.sent(packet.timestamp, len(packet.payload), t)
        if event.finished:
            self._dtmf = None
            event.finish(None)

    # -- statistics ------------------------------------------------------------------------------
    def stats(self) -> CallStats:
        """A snapshot of the stream's counters (:class:`media.stats.CallStats`)."""
        now = self.engine.loop.time()
        reception = self.reception
        remote = self.rtcp.remote
        rtt = self.rtcp.rtt
        rtt_ms = rtt * 1000 if rtt is not None else None
        rate = self.audio.clock_rate
        delay_ms = self.jitter_buffer.delay * 1000
        codec = self.audio.codec.name
        key = codec.lower() if codec.lower() in CODEC_IMPAIRMENTS else "g711"
        mos = e_model_mos(
            codec=key,
            one_way_delay_ms=(rtt_ms or 0.0) / 2 + PTIME_MS + delay_ms,
            loss_fraction=reception.loss_fraction,
        )
        last = self.last_rtp_at
        return CallStats(
            codec=codec,
            clock_rate=rate,
            packets_sent=self.rtcp.packets_sent,
            bytes_sent=self.rtcp.octets_sent,
            packets_received=reception.received,
            bytes_received=reception.payload_bytes,
            local_packets_lost=reception.lost,
            local_loss_fraction=reception.loss_fraction,
            remote_packets_lost=remote.packets_lost if remote is not None else None,
            remote_loss_fraction=remote.fraction_lost if remote is not None else None,
            local_jitter_ms=reception.jitter_ms,
            remote_jitter_ms=remote.jitter * 1000 / rate if remote is not None else None,
            rtt_ms=rtt_ms,
            jitter_buffer_delay_ms=delay_ms,
            concealed_frames=self.frames_concealed,
            no_packet_time=None if last is None else max(0.0, now - last),
            mos=mos,
        )


class _Event:
    """One digit being sent: its packets, built on its first frame period (it starts at the
    audio's RTP time then, RFC 4733 §2.5.1.1), then handed out period by period."""

    def __init__(
        self, packetiser: DtmfSender, payload_type: int, digit: str, duration_ms: int, volume: int
    ) -> None:
        self.payload_type = payload_type
        self._packetiser = packetiser
        self._args = (digit, duration_ms, volume)
        self._packets: list[DtmfPacket] | None = None
        self._next = 0
        self._elapsed = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def due(self, timestamp: int) -> list[DtmfPacket]:
        if self._packets is None:
            digit, duration_ms, volume = self._args
            self._packets = self._packetiser.packets(
                digit, duration_ms=duration_ms, volume=volume, start_timestamp=timestamp
            )
        packets = self._packets
        start = self._next
        while self._next < len(packets) and packets[self._next].offset_ms <= self._elapsed:
            self._next += 1
        self._elapsed += PTIME_MS
        return packets[start : self._next]

    @property
    def finished(self) -> bool:
        return self._packets is not None and self._next >= len(self._packets)

    def finish(self, error: Exception | None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)
