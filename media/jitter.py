"""An adaptive audio jitter buffer: RTP packets in, one playout frame per frame period out.

Pure: arrival times come in as ``arrival`` and the playout clock as ``now`` (seconds, one
monotonic clock for both). The playout clock calls :meth:`JitterBuffer.pop` once per frame
duration (:attr:`JitterBuffer.frame_duration`, 20 ms for the usual audio packetization).

How it works:

- Packets are keyed by their RTP timestamp, extended past the 32-bit wrap (RFC 3550 A.1 style
  arithmetic on both the 16-bit sequence number and the 32-bit timestamp) and counted from the
  stream's first packet. The frame duration is the timestamp step between two consecutive
  sequence numbers.
- Playout position: the extended timestamp of the next frame to play. The playout offset
  ``O = now - next / clock_rate`` says how late the stream is played relative to its own clock.
- Delay measurement, in the spirit of WebRTC NetEq's delay manager: each packet's transit
  ``arrival - timestamp / clock_rate`` (RFC 3550 A.8) is compared with the fastest transit of
  the recent window (the *base*). The relative delay ``transit - base`` of the slowest packet of
  the window (a windowed peak, about the 99th percentile over the 100 to 200 packets of a window)
  plus a headroom, clamped to [min_delay, max_delay], is the target. The window is two
  halves of ``window`` seconds: a spike raises the target on the packet that shows it; it is
  forgotten 1 to 2 windows later. The base follows the same window, so sender clock drift moves
  it along.
- Control: ``O - base`` is kept within one frame of the target. Below the band a concealment
  frame is inserted (played without advancing: the delay grows by one frame, at once). Above it
  one frame is dropped, at most one per ``shrink_interval`` frames (no time-stretching; the
  shrink is slow by design). At a silence gap (a talkspurt starting with the marker bit, or a
  long gap) playout restarts at ``base + target`` for free, without dropping speech.
- A frame missing at its playout time while later packets are buffered is concealed: one
  lost packet gives exactly one frame with payload None and the next packet follows.
  An empty buffer holds the playout position (``None`` is returned): a delay spike then costs
  no frames; its packets are played when they come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["JitterBuffer", "JitterConfig", "JitterStats", "PlayoutFrame"]

_SEQ_MOD = 1 << 16
_TS_MASK = 0xFFFFFFFF
_TS_HALF = 1 << 31
_INF = float("inf")
_MAX_FRAME = 0.12  # seconds: a larger timestamp step is not a frame duration


@dataclass(frozen=True, slots=True)
class JitterConfig:
    """Bounds and adaptation constants of a :class:`JitterBuffer`."""

    min_delay: float = 0.02
    """Seconds; lower bound of the adaptive target."""
    max_delay: float = 0.5
    """Seconds; upper bound of the adaptive target."""
    initial_delay: float = 0.06
    """Seconds; the target before a full measurement window (a larger measured one wins)."""
    max_packets: int = 100
    """Hard bound on stored packets; on overflow the oldest is dropped."""
    window: float = 2.0
    """Seconds; the base (fastest transit) and the peak relative delay are kept over the last
    one to two windows."""
    headroom: float = 0.01
    """Seconds added to the measured peak relative delay to form the target."""
    shrink_interval: int = 25
    """Frames played between two frames dropped to shrink the delay (25: at most 4 %)."""
    max_conceal: float = 0.3
    """Seconds; a hole in the buffered packets longer than this is a silence gap (playout
    restarts after it) rather than loss to conceal frame by frame."""
    max_jump: float = 10.0
    """Seconds; a timestamp step larger than this (without the marker bit) or backwards by more
    than this restarts the stream."""
    max_misorder: int = 100
    """Sequence numbers; a packet this far behind the highest is old (RFC 3550 A.1)."""
    max_dropout: int = 3000
    """Sequence numbers; a larger forward step is a jump, confirmed by the next packet in
    sequence before the stream restarts (RFC 3550 A.1 probation)."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_delay <= self.max_delay:
            raise ValueError("need 0 <= min_delay <= max_delay")
        if self.max_packets < 1 or self.shrink_interval < 1:
            raise ValueError("max_packets and shrink_interval must be >= 1")
        if self.window <= 0:
            raise ValueError("window must be > 0")
        if not 0 < self.max_misorder < self.max_dropout < _SEQ_MOD - self.max_misorder:
            raise ValueError("need 0 < max_misorder < max_dropout < 65536 - max_misorder")


@dataclass(frozen=True, slots=True)
class JitterStats:
    """Counters of a :class:`JitterBuffer` since it was made (resets do not clear them)."""

    received: int
    """Packets pushed."""
    duplicates: int
    """Packets whose sequence number was already received; dropped."""
    late: int
    """Packets that arrived after their playout time; dropped."""
    reordered: int
    """Packets that arrived after a higher sequence number (stored if not late)."""
    lost: int
    """Frames concealed because their packet was missing at playout time."""
    dropped: int
    """Packets dropped on overflow (``max_packets``)."""
    played: int
    """Frames played with a payload."""
    resets: int
    """Restarts on an SSRC change or a sequence/timestamp jump."""
    skipped: int
    """Frames dropped to shrink the delay towards the target."""
    inserted: int
    """Concealment frames inserted to grow the delay towards the target."""


PlayoutFrame: TypeAlias = tuple[int, bytes | None, bool]
"""One frame for the decoder: ``(timestamp, payload, marker)``, the RTP timestamp of the
frame, its payload (None: conceal this frame, lost or late; the decoder does PLC) and the
packet's marker bit (first packet of a talkspurt). A plain tuple: made and read on every
packet, it costs a tenth of an object with named fields, and the garbage collector stops
tracking it once it has seen it."""


class JitterBuffer:
    """Adaptive playout buffer for one audio RTP stream of clock rate ``clock_rate``."""

    __slots__ = (
        "_base",
        "_buf",
        "_clock_rate",
        "_config",
        "_discarded",
        "_dropped",
        "_duplicates",
        "_frame",
        "_frame_s",
        "_hi_ext",
        "_hi_seq",
        "_hi_ts",
        "_inserted",
        "_inv_rate",
        "_last_offset",
        "_late",
        "_lost",
        "_lower",
        "_max_conceal",
        "_max_jump",
        "_max_packets",
        "_measured",
        "_min_cur",
        "_min_prev",
        "_missing",
        "_next",
        "_peak",
        "_peak_cur",
        "_peak_line",
        "_peak_prev",
        "_playing",
        "_probation",
        "_reordered",
        "_resets",
        "_rotate_at",
        "_rx",
        "_skip_at",
        "_skipped",
        "_ssrc",
        "_target",
        "_ts0",
        "_upper",
    )

    def __init__(self, clock_rate: int, config: JitterConfig = JitterConfig()) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be > 0, not {clock_rate}")
        self._clock_rate = clock_rate
        self._config = config
        self._inv_rate = 1.0 / clock_rate
        self._max_jump = round(config.max_jump * clock_rate)
        self._max_conceal = round(config.max_conceal * clock_rate)
        self._max_packets = config.max_packets
        self._frame = clock_rate // 50  # 20 ms until learned
        self._frame_s = self._frame / clock_rate
        self._buf: dict[int, PlayoutFrame] = {}
        self._ssrc: int | None = None
        self._hi_seq = self._hi_ts = self._hi_ext = 0
        self._ts0 = 0  # RTP timestamp of extended timestamp 0 (the stream's first packet)
        self._missing: set[int] = set()  # recent sequence numbers skipped over (A.1 misorder)
        self._probation: tuple[int, int, int, bytes, float, bool] | None = None
        self._next = 0  # extended timestamp of the next frame to play
        self._playing = False
        self._skip_at = 0  # no shrink skip before this extended timestamp
        # delay measurement; the playout offset is kept within [_lower, _upper]
        self._base = self._min_cur = self._min_prev = 0.0
        self._peak = self._peak_cur = self._peak_prev = self._peak_line = 0.0
        self._rotate_at = 0.0
        self._measured = False
        self._target = min(max(config.initial_delay, config.min_delay), config.max_delay)
        self._lower, self._upper = _INF, -_INF  # see _set_bounds
        self._last_offset = 0.0
        # counters (played is derived: see stats()); received is _rx + _hi_seq: the fast path
        # of push() counts a packet by the one-step advance of _hi_seq, the other paths add 1
        # to _rx and keep the sum when they move _hi_seq
        self._rx = self._duplicates = self._late = self._reordered = 0
        self._lost = self._dropped = self._resets = self._discarded = 0
        self._skipped = self._inserted = 0

    # ------------------------------------------------------------------ properties

    @property
    def target_delay(self) -> float:
        """Seconds; the adaptive target of the playout delay."""
        return self._target

    @property
    def delay(self) -> float:
        """Seconds of audio currently buffered ahead of playout (the next frame included)."""
        if not self._buf:
            return 0.0
        start = self._next if self._playing else min(self._buf)
        return (max(self._buf) + self._frame - start) * self._inv_rate

    @property
    def playout_delay(self) -> float:
        """Seconds; how long the fastest packets of the window wait before playout, as of the
        last :meth:`pop` (the quantity kept within one frame of :attr:`target_delay`)."""
        return self._last_offset - self._base if self._playing else 0.0

    @property
    def frame_duration(self) -> float:
        """Seconds per frame as learned from the timestamps (20 ms until learned)."""
        return self._frame_s

    @property
    def frame_samples(self) -> int:
        """RTP timestamp units per frame."""
        return self._frame

    @property
    def packets(self) -> int:
        """Packets stored."""
        return len(self._buf)

    def stats(self) -> JitterStats:
        # every received packet is a duplicate, late, dropped, discarded (cleared by a restart,
        # skipped, or a superseded jump candidate), stored, pending a jump, or played
        received = self._rx + self._hi_seq
        played = (
            received
            - self._duplicates
            - self._late
            - self._dropped
            - self._discarded
            - len(self._buf)
            - (self._probation is not None)
        )
        return JitterStats(
            received=received,
            duplicates=self._duplicates,
            late=self._late,
            reordered=self._reordered,
            lost=self._lost,
            dropped=self._dropped,
            played=played,
            resets=self._resets,
            skipped=self._skipped,
            inserted=self._inserted,
        )

    # ------------------------------------------------------------------ input

    def push(
        self,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
        payload: bytes,
        arrival: float,
        marker: bool = False,
    ) -> None:
        """Store one RTP packet that arrived at ``arrival`` seconds."""
        frame = self._frame
        if (
            sequence_number - self._hi_seq == 1
            and timestamp - self._hi_ts == frame
            and ssrc == self._ssrc
        ):
            # the next packet in sequence, one frame on: newest, so neither late nor stored
            ext = self._hi_ext + frame
            self._hi_seq = sequence_number
            self._hi_ts = timestamp
            self._hi_ext = ext
        else:
            self._rx += 1
            found = self._classify(sequence_number, timestamp, ssrc, payload, arrival, marker)
            if found is None:
                return
            ext = found
        buf = self._buf
        if len(buf) >= self._max_packets:
            self._drop_oldest()
        buf[ext] = (timestamp, payload, marker)
        # delay measurement (RFC 3550 A.8 transit; windowed base and peak)
        if arrival >= self._rotate_at:
            self._rotate(arrival)
        transit = arrival - ext * self._inv_rate
        if transit < self._min_cur:
            self._min_cur = transit
            if transit < self._base:
                self._base = transit
                self._peak_line = transit + self._peak_cur
                self._set_bounds()
        elif transit > self._peak_line:
            self._peak_line = transit
            relative = self._peak_cur = transit - self._base
            if relative > self._peak:
                self._peak = relative
                self._set_target()

    def _classify(
        self,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
        payload: bytes,
        arrival: float,
        marker: bool,
    ) -> int | None:
        """The extended timestamp of a packet off the fast path, or None to drop it."""
        if ssrc != self._ssrc:
            if self._ssrc is not None:
                self._resets += 1
            self._restart(ssrc, sequence_number, timestamp, arrival)
            return self._hi_ext
        config = self._config
        # RFC 3550 A.1: classify by the 16-bit distance to the highest sequence number
        ds = (sequence_number - self._hi_seq) & 0xFFFF
        hi_ts = self._hi_ts
        if 0 < ds < config.max_dropout:
            step = (timestamp - hi_ts) & _TS_MASK
            if step >= _TS_HALF or (step > self._max_jump and not marker):
                # the timestamp went backwards or leapt with the numbering going on
                self._resets += 1
                self._restart(ssrc, sequence_number, timestamp, arrival)
                return self._hi_ext
            if ds == 1 and not marker and step != self._frame and step > 0:
                self._learn_frame(step)
            if ds > 1:
                self._note_missing(sequence_number, ds)
            ext = self._hi_ext + step
            self._rx += self._hi_seq - sequence_number
            self._hi_seq = sequence_number
            self._hi_ts = timestamp
            self._hi_ext = ext
        elif ds == 0:
            self._duplicates += 1
            return None
        elif ds >= _SEQ_MOD - config.max_misorder:
            if sequence_number not in self._missing:  # received already
                self._duplicates += 1
                return None
            self._missing.discard(sequence_number)
            self._reordered += 1
            behind = (hi_ts - timestamp) & _TS_MASK
            if behind >= _TS_HALF:  # an older number with a later timestamp
                behind -= 1 << 32
            ext = self._hi_ext - behind
        else:
            # a jump: restart only once the next packet confirms the new numbering (A.1)
            pending = self._probation
            if pending is None or (pending[0] + 1) & 0xFFFF != sequence_number:
                if pending is not None:
                    self._discarded += 1
                self._probation = (sequence_number, timestamp, ssrc, payload, arrival, marker)
                return None
            self._probation = None
            self._resets += 1
            self._ssrc = None  # the pending packet starts the new stream
            self._rx -= 2  # both were counted on arrival
            self.push(*pending)
            self.push(sequence_number, timestamp, ssrc, payload, arrival, marker)
            return None
        if ext < self._next:  # its frame was played or concealed already
            self._late += 1
            self._measure(ext, arrival)  # the delay it shows is what the target must cover
            return None
        if ext in self._buf:  # same timestamp, another number: keep the first
            self._duplicates += 1
            return None
        return ext

    def _measure(self, ext: int, arrival: float) -> None:
        """The measurement of :meth:`push` for a packet that is not stored."""
        if arrival >= self._rotate_at:
            self._rotate(arrival)
        transit = arrival - ext * self._inv_rate
        relative = transit - self._base
        if relative > self._peak_cur:
            self._peak_cur = relative
            self._peak_line = transit
            if relative > self._peak:
                self._peak = relative
                self._set_target()

    def _note_missing(self, sequence: int, ds: int) -> None:
        """Remember the numbers skipped by a step of ``ds`` up to ``sequence``."""
        missing = self._missing
        span = self._config.max_misorder
        if ds == 2:  # one number skipped, the usual case (a loss or a swap): no generator
            missing.add((sequence - 1) & 0xFFFF)
        else:
            missing.update((sequence - back) & 0xFFFF for back in range(1, min(ds, span)))
        if len(missing) > 2 * span:  # forget numbers now too old to be reordered
            missing.intersection_update((sequence - back) & 0xFFFF for back in range(1, span))

    def _learn_frame(self, step: int) -> None:
        if step <= _MAX_FRAME * self._clock_rate:
            self._frame = step
            self._frame_s = step * self._inv_rate
            self._set_bounds()

    def _restart(self, ssrc: int, sequence: int, timestamp: int, arrival: float) -> None:
        """Start a new stream: clear the buffer and the playout position; the measured peak
        delay is kept (a path property), the transit base is not (a new timeline)."""
        self._ssrc = ssrc
        self._discarded += len(self._buf)
        self._buf.clear()
        self._playing = False
        self._rx += self._hi_seq - sequence
        self._hi_seq = sequence
        self._hi_ts = self._ts0 = timestamp
        # extended timestamps count from the stream's first packet: small ints, cheap to
        # hash and to convert to float
        self._hi_ext = 0
        self._missing.clear()
        if self._probation is not None:
            self._discarded += 1
            self._probation = None
        self._next = -_TS_HALF - 1  # nothing is late before playout starts
        transit = arrival  # the first packet's extended timestamp is 0
        self._base = self._min_cur = self._min_prev = transit
        self._peak_line = transit + self._peak_cur
        if not self._measured:
            self._rotate_at = arrival + self._config.window
        self._set_bounds()

    def _rotate(self, arrival: float) -> None:
        """Start a new half-window: forget the older half's base and peak."""
        self._min_prev, self._min_cur = self._min_cur, float("inf")
        self._peak_prev, self._peak_cur = self._peak_cur, 0.0
        self._base = self._min_prev
        self._peak = self._peak_prev
        self._peak_line = self._base
        self._rotate_at = arrival + self._config.window
        self._measured = True
        self._set_target()

    def _set_target(self) -> None:
        config = self._config
        target = self._peak + config.headroom
        if not self._measured:
            target = max(target, config.initial_delay)
        self._target = min(max(target, config.min_delay), config.max_delay)
        self._set_bounds()

    def _set_bounds(self) -> None:
        if self._playing:
            level = self._base + self._target
            self._lower = level - self._frame_s
            self._upper = level + self._frame_s
        else:  # an empty band: pop() takes its slow path, which starts playout
            self._lower = _INF
            self._upper = -_INF

    def _drop_oldest(self) -> None:
        oldest = min(self._buf)
        del self._buf[oldest]
        self._dropped += 1
        self._next = oldest + self._frame  # nothing older is buffered

    # ------------------------------------------------------------------ output

    def pop(self, now: float) -> PlayoutFrame | None:
        """The frame to play at ``now``; None when there is nothing to play."""
        nxt = self._next
        offset = self._last_offset = now - nxt * self._inv_rate
        if self._lower <= offset <= self._upper:  # never while not playing (see _set_bounds)
            frame = self._buf.pop(nxt, None)
            if frame is not None:
                self._next = nxt + self._frame
                return frame
        return self._pop_slow(now)

    def _pop_slow(self, now: float) -> PlayoutFrame | None:
        if not self._playing:
            return self._start(now)
        nxt = self._next
        buf = self._buf
        # the playout offset left the band of one frame around base + target
        offset = self._last_offset
        if offset > self._upper:
            if nxt >= self._skip_at and buf:
                self._skip_at = nxt + self._config.shrink_interval * self._frame
                self._skipped += 1
                if buf.pop(nxt, None) is not None:
                    self._discarded += 1
                nxt = self._next = nxt + self._frame
        elif offset < self._lower and buf:
            self._inserted += 1
            return ((nxt + self._ts0) & _TS_MASK, None, False)
        frame = buf.pop(nxt, None)
        if frame is not None:
            self._next = nxt + self._frame
            return frame
        if not buf:
            return None  # underrun: hold the position until packets come
        first = min(buf)
        while first < nxt:  # inside a frame already played (packetization changed): too late
            del buf[first]
            self._discarded += 1
            if not buf:
                return None
            first = min(buf)
        if first < nxt + self._frame:  # off the frame grid (packetization changed)
            self._next = first + self._frame
            return buf.pop(first)
        if buf[first][2] or first - nxt > self._max_conceal:
            # a silence gap: restart playout at the next talkspurt (RFC 3551 §4.1 marker)
            self._playing = False
            self._set_bounds()
            return self._start(now)
        self._next = nxt + self._frame
        self._lost += 1
        return ((nxt + self._ts0) & _TS_MASK, None, False)

    def _start(self, now: float) -> PlayoutFrame | None:
        """Start playout with the first buffered packet once it has waited the target."""
        buf = self._buf
        if not buf:
            return None
        first = min(buf)
        if now - first * self._inv_rate < self._base + self._target:
            return None
        self._playing = True
        self._set_bounds()
        self._last_offset = now - first * self._inv_rate
        self._next = first + self._frame
        self._skip_at = first + self._config.shrink_interval * self._frame
        return buf.pop(first)
