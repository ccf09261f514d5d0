"""An adaptive audio jitter buffer: RTP packets in, one playout frame per frame period out.

Pure: arrival times come in as ``arrival`` and the playout clock as ``now`` (seconds, one
monotonic clock for both). The playout clock calls :meth:`JitterBuffer.pop` once per frame
duration (:attr:`JitterBuffer.frame_duration`, 20 ms for the usual audio packetization).

How it works:

- Packets are keyed by their RTP timestamp, extended past the 32-bit wrap (RFC 3550 A.1 style
  arithmetic on both the 16-bit sequence number and the 32-bit timestamp). The frame duration
  is the timestamp step between two consecutive sequence numbers.
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
  lost packet gives exactly one ``PlayoutFrame(payload=None)`` and the next packet follows.
  An empty buffer holds the playout position (``None`` is returned): a delay spike then costs
  no frames; its packets are played when they come.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["JitterBuffer", "JitterConfig", "JitterStats", "PlayoutFrame"]

_SEQ_MOD = 1 << 16
_TS_MASK = 0xFFFFFFFF
_TS_HALF = 1 << 31
_SEEN_BITS = 128  # duplicate window in sequence numbers (> max_misorder)
_SEEN_MASK = (1 << _SEEN_BITS) - 1
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
        if self.max_misorder >= _SEEN_BITS:
            raise ValueError(f"max_misorder must be < {_SEEN_BITS}")


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


@dataclass(slots=True)
class PlayoutFrame:
    """One frame for the decoder."""

    timestamp: int
    """RTP timestamp of the frame."""
    payload: bytes | None
    """None: conceal this frame (lost or late); the decoder does PLC."""
    marker: bool = False
    """The packet's marker bit (first packet of a talkspurt)."""


class JitterBuffer:
    """Adaptive playout buffer for one audio RTP stream of clock rate ``clock_rate``."""

    __slots__ = (
        "_base",
        "_buf",
        "_clock_rate",
        "_config",
        "_dropped",
        "_duplicates",
        "_frame",
        "_frame_s",
        "_hi_ext",
        "_hi_seq",
        "_hi_ts",
        "_inserted",
        "_inv_rate",
        "_late",
        "_lost",
        "_max_conceal",
        "_max_jump",
        "_measured",
        "_min_cur",
        "_min_prev",
        "_next",
        "_peak",
        "_peak_cur",
        "_peak_prev",
        "_played",
        "_playing",
        "_probation",
        "_received",
        "_reordered",
        "_resets",
        "_rotate_at",
        "_seen",
        "_since_skip",
        "_skipped",
        "_ssrc",
        "_target",
    )

    def __init__(self, clock_rate: int, config: JitterConfig = JitterConfig()) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be > 0, not {clock_rate}")
        self._clock_rate = clock_rate
        self._config = config
        self._inv_rate = 1.0 / clock_rate
        self._max_jump = round(config.max_jump * clock_rate)
        self._max_conceal = round(config.max_conceal * clock_rate)
        self._frame = clock_rate // 50  # 20 ms until learned
        self._frame_s = self._frame / clock_rate
        self._buf: dict[int, tuple[bytes, bool]] = {}
        self._ssrc: int | None = None
        self._hi_seq = self._hi_ts = self._hi_ext = 0
        self._seen = 0
        self._probation: tuple[int, int, int, bytes, float, bool] | None = None
        self._next = 0
        self._playing = False
        self._since_skip = 0
        # delay measurement
        self._base = self._min_cur = self._min_prev = 0.0
        self._peak = self._peak_cur = self._peak_prev = 0.0
        self._rotate_at = 0.0
        self._measured = False
        self._target = min(max(config.initial_delay, config.min_delay), config.max_delay)
        # counters
        self._received = self._duplicates = self._late = self._reordered = 0
        self._lost = self._dropped = self._played = self._resets = 0
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
        return JitterStats(
            received=self._received,
            duplicates=self._duplicates,
            late=self._late,
            reordered=self._reordered,
            lost=self._lost,
            dropped=self._dropped,
            played=self._played,
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
        self._received += 1
        if ssrc != self._ssrc:
            self._restart(ssrc, sequence_number, timestamp, arrival)
            ext = self._hi_ext
        else:
            # RFC 3550 A.1: classify by the 16-bit distance to the highest sequence number
            ds = (sequence_number - self._hi_seq) & 0xFFFF
            if 0 < ds < self._config.max_dropout:
                step = (timestamp - self._hi_ts) & _TS_MASK
                if step >= _TS_HALF or (step > self._max_jump and not marker):
                    # the timestamp went backwards or leapt with the numbering going on
                    self._resets += 1
                    self._restart(ssrc, sequence_number, timestamp, arrival)
                    ext = self._hi_ext
                else:
                    if ds == 1 and not marker and step != self._frame and 0 < step:
                        self._learn_frame(step)
                    ext = self._hi_ext + step
                    self._hi_seq = sequence_number
                    self._hi_ts = timestamp
                    self._hi_ext = ext
                    self._seen = ((self._seen << ds) | 1) & _SEEN_MASK
                    self._probation = None
            elif ds == 0:
                self._duplicates += 1
                return
            elif ds >= _SEQ_MOD - self._config.max_misorder:
                back = _SEQ_MOD - ds
                bit = 1 << back
                if self._seen & bit:
                    self._duplicates += 1
                    return
                self._seen |= bit
                self._reordered += 1
                behind = (self._hi_ts - timestamp) & _TS_MASK
                if behind >= _TS_HALF:  # an older number with a later timestamp
                    behind -= 1 << 32
                ext = self._hi_ext - behind
            else:
                # a jump: restart only once the next packet confirms the new numbering
                pending = self._probation
                if pending is None or (pending[0] + 1) & 0xFFFF != sequence_number:
                    self._probation = (
                        sequence_number,
                        timestamp,
                        ssrc,
                        payload,
                        arrival,
                        marker,
                    )
                    return
                self._probation = None
                self._resets += 1
                self._ssrc = None  # the pending packet starts the new stream
                self._received -= 2  # both were counted on arrival
                self.push(*pending)
                self.push(sequence_number, timestamp, ssrc, payload, arrival, marker)
                return
        buf = self._buf
        if ext < self._next:  # its frame was played or concealed already
            self._late += 1
            return
        if ext in buf:  # same timestamp, another number: keep the first
            self._duplicates += 1
            return
        if len(buf) >= self._config.max_packets:
            self._drop_oldest()
        buf[ext] = (payload, marker)
        # delay measurement (RFC 3550 A.8 transit; windowed base and peak)
        transit = arrival - ext * self._inv_rate
        if arrival >= self._rotate_at:
            self._rotate(arrival)
        if transit < self._min_cur:
            self._min_cur = transit
            if transit < self._base:
                self._base = transit
        relative = transit - self._base
        if relative > self._peak_cur:
            self._peak_cur = relative
            if relative > self._peak:
                self._peak = relative
                self._set_target()

    def _learn_frame(self, step: int) -> None:
        if step <= _MAX_FRAME * self._clock_rate:
            self._frame = step
            self._frame_s = step * self._inv_rate

    def _restart(self, ssrc: int, sequence: int, timestamp: int, arrival: float) -> None:
        """Start a new stream: clear the buffer and the playout position; the measured peak
        delay is kept (a path property), the transit base is not (a new timeline)."""
        if self._ssrc is not None and ssrc != self._ssrc:
            self._resets += 1
        self._ssrc = ssrc
        self._buf.clear()
        self._playing = False
        self._hi_seq = sequence
        self._hi_ts = timestamp
        self._hi_ext = 1 << 32  # extended timestamps stay positive below the first one
        self._seen = 1
        self._probation = None
        self._next = 0
        transit = arrival - self._hi_ext * self._inv_rate
        self._base = self._min_cur = self._min_prev = transit
        if not self._measured:
            self._rotate_at = arrival + self._config.window

    def _rotate(self, arrival: float) -> None:
        """Start a new half-window: forget the older half's base and peak."""
        self._min_prev, self._min_cur = self._min_cur, float("inf")
        self._peak_prev, self._peak_cur = self._peak_cur, 0.0
        self._base = self._min_prev
        self._peak = self._peak_prev
        self._rotate_at = arrival + self._config.window
        self._measured = True
        self._set_target()

    def _set_target(self) -> None:
        config = self._config
        target = self._peak + config.headroom
        if not self._measured:
            target = max(target, config.initial_delay)
        self._target = min(max(target, config.min_delay), config.max_delay)

    def _drop_oldest(self) -> None:
        oldest = min(self._buf)
        del self._buf[oldest]
        self._dropped += 1
        self._next = oldest + self._frame  # nothing older is buffered

    # ------------------------------------------------------------------ output

    def pop(self, now: float) -> PlayoutFrame | None:
        """The frame to play at ``now``; None when there is nothing to play."""
        if not self._playing:
            return self._start(now)
        nxt = self._next
        buf = self._buf
        self._since_skip += 1
        # keep the playout offset within one frame of base + target
        error = now - nxt * self._inv_rate - self._base - self._target
        if error > self._frame_s:
            if self._since_skip >= self._config.shrink_interval and buf:
                self._since_skip = 0
                self._skipped += 1
                buf.pop(nxt, None)
                nxt = self._next = nxt + self._frame
        elif error < -self._frame_s and buf:
            self._inserted += 1
            return PlayoutFrame(nxt & _TS_MASK, None)
        item = buf.pop(nxt, None)
        if item is not None:
            self._next = nxt + self._frame
            self._played += 1
            return PlayoutFrame(nxt & _TS_MASK, item[0], item[1])
        if not buf:
            return None  # underrun: hold the position until packets come
        first = min(buf)
        payload, marker = buf[first]
        if first < nxt + self._frame:  # off the frame grid (packetization changed)
            del buf[first]
            self._next = first + self._frame
            self._played += 1
            return PlayoutFrame(first & _TS_MASK, payload, marker)
        if marker or first - nxt > self._max_conceal:
            # a silence gap: restart playout at the next talkspurt (RFC 3551 §4.1 marker)
            self._playing = False
            return self._start(now)
        self._next = nxt + self._frame
        self._lost += 1
        return PlayoutFrame(nxt & _TS_MASK, None)

    def _start(self, now: float) -> PlayoutFrame | None:
        """Start playout with the first buffered packet once it has waited the target."""
        buf = self._buf
        if not buf:
            return None
        first = min(buf)
        if now - first * self._inv_rate < self._base + self._target:
            return None
        payload, marker = buf.pop(first)
        self._playing = True
        self._since_skip = 0
        self._next = first + self._frame
        self._played += 1
        return PlayoutFrame(first & _TS_MASK, payload, marker)
