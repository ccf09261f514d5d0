"""Audio sources and sinks for a call: tones, silence, WAV files, PCM pushed by a bot, recording.

Every source is an aiortc :class:`~aiortc.mediastreams.MediaStreamTrack` paced in real time:
``recv()`` returns 20 ms frames of 48 kHz mono signed 16-bit audio, the n-th one not before
``n * 20 ms`` after the first, with ``pts`` counting samples (960 per frame). Audio at other
rates or channel counts is converted with ``av.AudioResampler``.

The engine (:mod:`media.engine`) reads sources synchronously through ``next_pcm()``; a track
without it is read by :class:`TrackPcm`. Sinks take received frames in any format (calls give
mono 16-bit frames at the codec's rate: 8 kHz G.711, 16 kHz G.722, 48 kHz Opus) and convert
them the same way.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fractions
import functools
import math
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from av.audio.resampler import AudioResampler

__all__ = [
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "FrameSink",
    "PcmSourceTrack",
    "SilenceTrack",
    "ToneTrack",
    "TrackPcm",
    "WavFileTrack",
    "WavRecorder",
    "audio_frames",
]

SAMPLE_RATE = 48000
"""Rate of the frames every source here gives (Hz)."""
FRAME_SAMPLES = SAMPLE_RATE // 50
"""Samples in one 20 ms frame."""
_FRAME_BYTES = 2 * FRAME_SAMPLES
_SILENCE = bytes(_FRAME_BYTES)

# sample width in a WAV file (bytes) -> packed av sample format; 8-bit WAV is unsigned
_WAV_FORMATS = {1: "u8", 2: "s16", 4: "s32"}


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def _pcm_frame(pcm: bytes, *, rate: int, fmt: str = "s16", channels: int = 1) -> AudioFrame:
    """A packed (interleaved) audio frame holding ``pcm``."""
    width = {"u8": 1, "s16": 2, "s32": 4}[fmt]
    frame = AudioFrame(format=fmt, layout=_layout(channels), samples=len(pcm) // (width * channels))
    frame.planes[0].update(pcm)
    frame.sample_rate = rate
    return frame


class _Converter:
    """Any audio frames in, mono signed 16-bit PCM at ``rate`` out.

    The resampler keeps a few samples back between calls (its filter's delay); ``flush()``
    gives them. A change of input format, layout or rate flushes and starts a new resampler.
    """

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self._resampler: AudioResampler | None = None
        self._input: tuple[str, str, int] | None = None

    def convert(self, frame: AudioFrame) -> bytes:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        out = b""
        if key != self._input:
            out = self.flush()
            self._input = key
        if self._resampler is None:
            self._resampler = AudioResampler(format="s16", layout="mono", rate=self.rate)
        return out + b"".join(self._bytes(f) for f in self._resampler.resample(frame))

    def flush(self) -> bytes:
        """The samples the resampler still holds; the next frame starts a new one."""
        resampler, self._resampler, self._input = self._resampler, None, None
        if resampler is None:
            return b""
        return b"".join(self._bytes(f) for f in resampler.resample(None))

    def reset(self) -> None:
        """Drop the samples the resampler holds."""
        self._resampler = self._input = None

    @staticmethod
    def _bytes(frame: AudioFrame) -> bytes:
        return bytes(frame.planes[0])[: 2 * frame.samples]


class _PacedTrack(MediaStreamTrack):
    """A source of 20 ms mono s16 frames at ``sample_rate`` (48 kHz unless a subclass lets
    it be chosen), the n-th returned not before n × 20 ms after the first. Subclasses give
    the PCM of each frame in :meth:`_next_pcm`.

    Two ways to read it: as an aiortc track (``await recv()``, paced in real time), or
    synchronously with :meth:`next_pcm`, which the caller paces (:mod:`media.engine`).
    """

    kind = "audio"
    sample_rate = SAMPLE_RATE
    """Rate of the PCM this source gives (Hz)."""

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        rate = self.sample_rate
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += rate // 50
            delay = self._start + self._pts / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        frame = _pcm_frame(self._next_pcm(), rate=rate)
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, rate)
        return frame

    def next_pcm(self) -> bytes:
        """The next 20 ms of audio (``sample_rate // 50`` samples), without pacing."""
        return self._next_pcm()

    def _next_pcm(self) -> bytes:
        """The next 20 ms of audio: exactly ``2 * sample_rate // 50`` bytes."""
        raise NotImplementedError


class SilenceTrack(_PacedTrack):
    """Digital silence."""

    def __init__(self, *, sample_rate: int = SAMPLE_RATE) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self._silence = bytes(2 * (sample_rate // 50))

    def _next_pcm(self) -> bytes:
        return self._silence


@functools.lru_cache(maxsize=32)
def _tone_second(frequency: float, peak: int, rate: int) -> bytes:
    """One second of the tone: it repeats every second exactly when the frequency is whole."""
    step = 2 * math.pi * frequency / rate
    return array.array("h", (int(peak * math.sin(step * i)) for i in range(rate))).tobytes()


class ToneTrack(_PacedTrack):
    """A sine tone (``frequency`` 0: silence); ``amplitude`` is a fraction of full scale.

    Whole frequencies come from a table of one second shared by every track of the same
    tone (a slice per frame); others are computed sample by sample.
    """

    def __init__(
        self, frequency: float = 440.0, amplitude: float = 0.3, *, sample_rate: int = SAMPLE_RATE
    ) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self.sample_rate = sample_rate
        self._position = 0  # samples given so far

    def _next_pcm(self) -> bytes:
        rate = self.sample_rate
        samples = rate // 50
        start = self._position
        peak = int(32767 * self.amplitude)
        if float(self.frequency).is_integer():
            self._position = (start + samples) % rate
            table = _tone_second(float(self.frequency), peak, rate)
            chunk = table[2 * start : 2 * (start + samples)]
            if len(chunk) < 2 * samples:  # the second wraps inside this frame
                chunk += table[: 2 * samples - len(chunk)]
            return chunk
        self._position = start + samples
        step = 2 * math.pi * self.frequency / rate
        return array.array(
            "h", (int(peak * math.sin(step * (start + i))) for i in range(samples))
        ).tobytes()


class WavFileTrack(_PacedTrack):
    """Plays a PCM WAV file (8-, 16- or 32-bit, any rate and channel count), then silence;
    with ``loop``, starts again at the end instead.

    :attr:`ended` is set once the frame holding the last sample has been returned (or the
    track is stopped), so a bot can ``await track.done()`` before it goes on.
    """

    _CHUNK = 4096  # WAV frames read at a time

    def __init__(self, path: str | Path, *, loop: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.loop = loop
        self.ended = asyncio.Event()
        self._wav = wave.open(str(self.path), "rb")  # noqa: SIM115 - closed by stop()
        width = self._wav.getsampwidth()
        if width not in _WAV_FORMATS:
            self._wav.close()
            raise ValueError(f"{self.path}: {8 * width}-bit samples are not supported")
        self._format = _WAV_FORMATS[width]
        self._channels = self._wav.getnchannels()
        self._rate = self._wav.getframerate()
        self._frame_width = width * self._channels
        self._converter = _Converter()
        self._buffer = bytearray()
        self._eof = False

    @property
    def duration(self) -> float:
        """Length of the file (seconds)."""
        return self._wav.getnframes() / self._rate

    async def done(self) -> None:
        """Return once the file has played out (or the track was stopped)."""
        await self.ended.wait()

    def stop(self) -> None:
        super().stop()
        self._wav.close()
        self.ended.set()

    def _fill(self) -> None:
        while len(self._buffer) < _FRAME_BYTES and not self._eof:
            data = self._wav.readframes(self._CHUNK)
            data = data[: len(data) - len(data) % self._frame_width]
            if data:
                frame = _pcm_frame(data, rate=self._rate, fmt=self._format, channels=self._channels)
                self._buffer += self._converter.convert(frame)
            else:
                self._buffer += self._converter.flush()
                if self.loop and self._wav.getnframes() > 0:
                    self._wav.rewind()
                else:
                    self._eof = True

    def _next_pcm(self) -> bytes:
        if self.ended.is_set():
            return _SILENCE
        self._fill()
        pcm = bytes(self._buffer[:_FRAME_BYTES])
        del self._buffer[:_FRAME_BYTES]
        if self._eof and not self._buffer:
            self.ended.set()
        return pcm + _SILENCE[len(pcm) :]


class PcmSourceTrack(_PacedTrack):
    """Audio pushed by the application (a bot): signed 16-bit little-endian mono PCM at any
    rate, played in order, silence whenever nothing is queued.

    At most ``max_queued`` seconds are held: :meth:`write` waits for room (backpressure) and
    :meth:`write_nowait` raises :class:`asyncio.QueueFull`. :meth:`clear` drops what is
    queued (barge-in). Audio is taken 20 ms at a time; when less than that is queued, the
    rest of the frame is silence, so write ahead of playback rather than just in time.
    """

    def __init__(self, *, max_queued: float = 1.0) -> None:
        super().__init__()
        if max_queued < 0.02:
            raise ValueError("max_queued must hold at least one 20 ms frame")
        self.capacity = 2 * int(max_queued * SAMPLE_RATE)
        """Most bytes queued (48 kHz mono s16)."""
        self.underruns = 0
        """Frames that were partly or wholly silence because too little was queued."""
        self._queue = bytearray()
        self._converter = _Converter()
        self._rate: int | None = None
        self._writers = 0  # write() calls still queuing
        self._room = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    @property
    def queued(self) -> float:
        """Seconds of audio waiting to be played."""
        return len(self._queue) / (2 * SAMPLE_RATE)

    async def write(self, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
        """Queue ``pcm``, waiting while the queue is full."""
        data = self._convert(pcm, sample_rate)
        self._writers += 1
        try:
            await self._put_all(data)
        finally:
            self._writers -= 1

    async def _put_all(self, data: bytes) -> None:
        while data:
            if self.readyState != "live":
                raise MediaStreamError
            room = self.capacity - len(self._queue)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            self._put(data[:room])
            data = data[room:]

    def write_nowait(self, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
        """Queue ``pcm`` now; :class:`asyncio.QueueFull` (nothing queued) if it does not fit."""
        if self.readyState != "live":
            raise MediaStreamError
        if len(pcm) // 2 * SAMPLE_RATE // sample_rate * 2 > self.capacity - len(self._queue):
            raise asyncio.QueueFull
        self._put(self._convert(pcm, sample_rate))

    def clear(self) -> float:
        """Drop the queued audio (barge-in); returns how many seconds were dropped."""
        dropped = self.queued
        self._queue.clear()
        self._converter.reset()
        self._room.set()
        self._empty.set()
        return dropped

    async def drain(self) -> None:
        """Return once everything written so far has been played (or cleared)."""
        await self._empty.wait()

    def stop(self) -> None:
        super().stop()
        self._room.set()  # wake writers: they raise MediaStreamError
        self._empty.set()

    def _convert(self, pcm: bytes, rate: int) -> bytes:
        if len(pcm) % 2:
            raise ValueError("16-bit PCM must have an even number of bytes")
        out = b""
        if rate != self._rate:
            out = self._converter.flush()  # the end of the audio at the previous rate
            self._rate = rate
        if rate == SAMPLE_RATE or not pcm:
            return out + pcm
        return out + self._converter.convert(_pcm_frame(pcm, rate=rate))

    def _put(self, data: bytes) -> None:
        if data:
            self._queue += data
            self._empty.clear()

    def _next_pcm(self) -> bytes:
        if len(self._queue) < _FRAME_BYTES and not self._writers:
            # nothing more coming for now: the resampler's last samples belong to this frame
            self._queue += self._converter.flush()
            self._rate = None
        pcm = bytes(self._queue[:_FRAME_BYTES])
        del self._queue[:_FRAME_BYTES]
        if pcm:
            self._room.set()
        if not self._queue:
            self._empty.set()
        if len(pcm) < _FRAME_BYTES:
            self.underruns += 1
        return pcm + _SILENCE[len(pcm) :]


def _gives_pcm(track: object) -> bool:
    """Whether ``track`` gives PCM synchronously (``next_pcm`` and ``sample_rate``), as every
    source here does; any other track is read by :class:`TrackPcm`."""
    return callable(getattr(track, "next_pcm", None)) and hasattr(track, "sample_rate")


class TrackPcm:
    """Synchronous 20 ms PCM (``next_pcm``, 48 kHz mono) over any aiortc audio track, for a
    track that has no ``next_pcm`` of its own (e.g. aiortc's ``MediaPlayer``): one task reads
    ``recv()`` (the track paces itself) into a buffer of at most ``max_buffered`` seconds,
    dropping the oldest audio past it; the caller's clock takes 20 ms per call, silence
    while too little is buffered. The task starts on the first :meth:`next_pcm` and ends
    with the track or :meth:`close`."""

    sample_rate = SAMPLE_RATE

    def __init__(self, track: MediaStreamTrack, *, max_buffered: float = 0.1) -> None:
        self.track = track
        self.capacity = 2 * int(max_buffered * SAMPLE_RATE)
        self.underruns = 0
        """Frames that were partly or wholly silence."""
        self._buffer = bytearray()
        self._converter = _Converter()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def next_pcm(self) -> bytes:
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._read())
        pcm = bytes(self._buffer[:_FRAME_BYTES])
        del self._buffer[:_FRAME_BYTES]
        if len(pcm) < _FRAME_BYTES:
            self.underruns += 1
            pcm += _SILENCE[len(pcm) :]
        return pcm

    async def _read(self) -> None:
        async for frame in audio_frames(self.track):
            self._buffer += self._converter.convert(frame)
            excess = len(self._buffer) - self.capacity
            if excess > 0:
                del self._buffer[: excess + excess % 2]

    def close(self) -> None:
        """Stop reading (the track is not stopped)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None


async def audio_frames(track: MediaStreamTrack) -> AsyncIterator[AudioFrame]:
    """The audio frames ``track`` gives, until it ends."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if isinstance(frame, AudioFrame):
            yield frame


class FrameSink:
    """Base of the sinks: takes received frames through :meth:`write_frame` (usable as
    ``MediaSession.on_frame``), or reads a track itself after :meth:`start`. :meth:`stop`
    (or :meth:`close`, which does not wait for the reading task) ends it."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def write_frame(self, frame: AudioFrame) -> None:
        """Take one received frame (any format, rate and layout)."""
        raise NotImplementedError

    def start(self, track: MediaStreamTrack) -> None:
        """Take everything ``track`` gives until it ends or :meth:`stop` is called."""
        if self._task is not None:
            raise RuntimeError("already reading a track")
        self._task = asyncio.ensure_future(self._run(track))

    async def stop(self) -> None:
        """Stop reading the track (if any), then :meth:`close`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.close()

    def close(self) -> None:
        """Release what the sink holds (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self, track: MediaStreamTrack) -> None:
        async for frame in audio_frames(track):
            self.write_frame(frame)


class WavRecorder(FrameSink):
    """Writes received audio to a 16-bit mono WAV file at ``sample_rate``; the file is
    complete once :meth:`stop` or :meth:`close` has been called."""

    def __init__(self, path: str | Path, *, sample_rate: int = SAMPLE_RATE) -> None:
        super().__init__()
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.samples_written = 0
        self._wav: wave.Wave_write | None = wave.open(str(self.path), "wb")  # noqa: SIM115
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self._converter = _Converter(sample_rate)

    @property
    def duration(self) -> float:
        """Seconds written so far."""
        return self.samples_written / self.sample_rate

    def write_frame(self, frame: AudioFrame) -> None:
        if self._wav is None:
            raise ValueError("recorder is closed")
        self._write(self._converter.convert(frame))

    def close(self) -> None:
        super().close()
        if self._wav is not None:
            self._write(self._converter.flush())
            self._wav.close()
            self._wav = None

    def _write(self, pcm: bytes) -> None:
        assert self._wav is not None
        self._wav.writeframes(pcm)
        self.samples_written += len(pcm) // 2
