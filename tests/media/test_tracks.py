"""Audio sources and sinks: WAV play and record, PCM pushed by a bot, pacing, source switching."""

from __future__ import annotations

import array
import asyncio
import math
import wave
from pathlib import Path

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from media.levels import goertzel, mono
from media.session import MediaConfig, MediaSession
from media.session import ToneTrack as SessionToneTrack
from media.tracks import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    PcmSourceTrack,
    SilenceTrack,
    ToneTrack,
    TrackPcm,
    WavFileTrack,
    WavRecorder,
)

LOOPBACK = MediaConfig(host_addresses=("127.0.0.1",))


def tone_pcm(frequency: float, rate: int, seconds: float, amplitude: float = 0.5) -> bytes:
    """Signed 16-bit mono PCM of a sine tone."""
    peak = int(32767 * amplitude)
    step = 2 * math.pi * frequency / rate
    return array.array(
        "h", (int(peak * math.sin(step * i)) for i in range(int(rate * seconds)))
    ).tobytes()


def write_tone_wav(
    path: Path, frequency: float, rate: int, seconds: float, *, channels: int = 1, width: int = 2
) -> None:
    """A WAV file holding a tone in every channel, 8-bit (unsigned) or 16-bit."""
    samples = array.array("h", tone_pcm(frequency, rate, seconds))
    if width == 1:
        data = bytes((s >> 8) + 128 for s in samples for _ in range(channels))
    else:
        data = array.array("h", (s for s in samples for _ in range(channels))).tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(data)


def read_wav(path: Path) -> tuple[wave._wave_params, array.array[int]]:
    with wave.open(str(path), "rb") as wav:
        return wav.getparams(), array.array("h", wav.readframes(wav.getnframes()))


def test_tone_track_is_re_exported_by_the_session_module() -> None:
    assert SessionToneTrack is ToneTrack


@pytest.mark.parametrize(
    ("rate", "channels", "width", "frequency"),
    [(8000, 1, 2, 1000.0), (16000, 1, 2, 3000.0), (16000, 2, 1, 700.0), (44100, 2, 2, 440.0)],
)
async def test_wav_round_trip_keeps_duration_rate_and_tone(
    tmp_path: Path, rate: int, channels: int, width: int, frequency: float
) -> None:
    seconds = 0.3
    source = tmp_path / "in.wav"
    write_tone_wav(source, frequency, rate, seconds, channels=channels, width=width)
    track = WavFileTrack(source)
    assert track.duration == pytest.approx(seconds)
    recorder = WavRecorder(tmp_path / "out.wav", sample_rate=rate)
    frames = 0
    while not track.ended.is_set():
        frame = await track.recv()
        recorder.write_frame(frame)
        frames += 1
    recorder.close()
    track.stop()
    # the last frame is padded with silence: whole frames, no more than needed
    assert frames == math.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES)
    params, samples = read_wav(tmp_path / "out.wav")
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, rate)
    assert len(samples) == recorder.samples_written
    assert abs(len(samples) - frames * FRAME_SAMPLES * rate / SAMPLE_RATE) <= rate // 1000
    # the tone is there, where it was, and nothing else is
    body = samples[rate // 50 : int(rate * (seconds - 0.02))]
    other = frequency * 1.5
    assert goertzel(body, rate, frequency) > 1000 * goertzel(body, rate, other)
    rms = math.sqrt(sum(x * x for x in body) / len(body))
    assert 0.5 * 32767 * 0.6 < rms < 0.5 * 32767 * 0.8  # sine of amplitude 0.5: 0.707
    tail = samples[int(rate * (seconds + 0.005)) :]
    assert all(abs(x) < 300 for x in tail)


async def test_frames_are_paced_20_ms_48_khz_mono() -> None:
    for track in (ToneTrack(440.0), SilenceTrack(), PcmSourceTrack()):
        frames = [await track.recv() for _ in range(4)]
        assert [f.pts for f in frames] == [0, 960, 1920, 2880]
        for f in frames:
            assert (f.samples, f.sample_rate, f.format.name, f.layout.name) == (
                960,
                48000,
                "s16",
                "mono",
            )
            assert f.time_base == pytest.approx(1 / 48000)
        track.stop()


async def test_silence_track_is_silent_and_stops() -> None:
    track = SilenceTrack()
    frame = await track.recv()
    assert set(bytes(frame.planes[0])[: 2 * frame.samples]) == {0}
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_wav_ended_fires_after_the_last_frame_and_not_when_looping(tmp_path: Path) -> None:
    path = tmp_path / "prompt.wav"
    write_tone_wav(path, 500.0, 8000, 0.05)  # 2.5 frames: 3 with padding
    track = WavFileTrack(path)
    waiter = asyncio.ensure_future(track.done())
    for _ in range(2):
        await track.recv()
        await asyncio.sleep(0)
        assert not waiter.done()
    last = await track.recv()
    assert track.ended.is_set()
    await asyncio.wait_for(waiter, 1.0)
    # half of the last frame is audio, the rest silence; afterwards only silence
    pcm = mono(last)
    assert max(abs(x) for x in pcm[:400]) > 10000
    assert max(abs(x) for x in pcm[560:]) < 300
    after = await track.recv()
    assert set(bytes(after.planes[0])[: 2 * after.samples]) == {0}
    track.stop()

    looping = WavFileTrack(path, loop=True)
    heard = array.array("h")
    for _ in range(8):  # 160 ms of a 50 ms file
        heard.extend(mono(await looping.recv()))
    assert not looping.ended.is_set()
    assert max(abs(x) for x in heard[-FRAME_SAMPLES:]) > 10000  # still playing
    looping.stop()
    assert looping.ended.is_set()


def test_wav_file_with_24_bit_samples_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(3)
        wav.setframerate(8000)
        wav.writeframes(bytes(300))
    with pytest.raises(ValueError, match="24-bit"):
        WavFileTrack(path)


async def test_pcm_source_plays_what_is_written_then_silence() -> None:
    track = PcmSourceTrack()
    ramp = array.array("h", range(-1000, 1000)).tobytes()  # 2000 samples: 2.08 frames
    track.write_nowait(ramp)
    assert track.queued == pytest.approx(2000 / 48000)
    out = b"".join([bytes((await track.recv()).planes[0])[: 2 * FRAME_SAMPLES] for _ in range(4)])
    assert out[: len(ramp)] == ramp
    assert set(out[len(ramp) :]) == {0}
    assert track.underruns == 2  # the third frame partly, the fourth wholly silence
    assert track.queued == 0
    track.stop()


async def test_pcm_source_backpressure_bounds_the_queue() -> None:
    track = PcmSourceTrack(max_queued=0.04)  # two frames
    frame = bytes(2 * FRAME_SAMPLES)
    track.write_nowait(frame + frame)
    with pytest.raises(asyncio.QueueFull):
        track.write_nowait(b"\x01\x00")
    assert track.queued == pytest.approx(0.04)
    # a blocking write of three frames waits for room, frame by frame
    marked = array.array("h", [7] * (3 * FRAME_SAMPLES)).tobytes()
    writer = asyncio.ensure_future(track.write(marked))
    await asyncio.sleep(0)
    assert not writer.done()
    assert track.queued == pytest.approx(0.04)
    for _ in range(2):
        await track.recv()
        await asyncio.sleep(0)
        assert track.queued <= 0.04 + 1e-9
    assert not writer.done()
    await track.recv()
    await asyncio.sleep(0)
    assert writer.done() and writer.exception() is None
    assert track.queued == pytest.approx(0.04)
    for _ in range(2):
        assert set(mono(await track.recv())) == {7}
    track.stop()


async def test_pcm_source_clear_barges_in_and_wakes_writers() -> None:
    track = PcmSourceTrack(max_queued=0.04)
    track.write_nowait(array.array("h", [5] * (2 * FRAME_SAMPLES)).tobytes())
    writer = asyncio.ensure_future(track.write(array.array("h", [9] * FRAME_SAMPLES).tobytes()))
    await asyncio.sleep(0)
    assert not writer.done()
    assert track.clear() == pytest.approx(0.04)
    await asyncio.sleep(0)
    assert writer.done()
    assert set(mono(await track.recv())) == {9}  # written after the barge-in
    drained = asyncio.ensure_future(track.drain())
    await asyncio.sleep(0)
    assert drained.done()
    track.stop()
    with pytest.raises(MediaStreamError):
        track.write_nowait(b"\x00\x00")


async def test_pcm_source_resamples_other_rates() -> None:
    track = PcmSourceTrack(max_queued=1.0)
    track.write_nowait(tone_pcm(1000.0, 8000, 0.2), sample_rate=8000)
    samples = array.array("h")
    for _ in range(12):
        samples.extend(mono(await track.recv()))
    body = samples[960 : 9 * 960]
    assert goertzel(body, SAMPLE_RATE, 1000.0) > 1000 * goertzel(body, SAMPLE_RATE, 1500.0)
    # all 200 ms came out, the resampler's last samples included, then silence
    loud = [i for i, x in enumerate(samples) if abs(x) > 1000]
    assert loud[0] < 20 and abs(loud[-1] - 0.2 * SAMPLE_RATE) < 20
    assert track.underruns == 2
    track.stop()


async def test_recorder_reads_a_track_until_stopped(tmp_path: Path) -> None:
    recorder = WavRecorder(tmp_path / "rec.wav", sample_rate=16000)
    source = ToneTrack(1200.0)
    recorder.start(source)
    while recorder.samples_written < 16000 * 0.2:
        await asyncio.sleep(0.02)
    await recorder.stop()
    params, samples = read_wav(tmp_path / "rec.wav")
    assert params.framerate == 16000 and len(samples) == recorder.samples_written
    assert goertzel(samples, 16000, 1200.0) > 1000 * goertzel(samples, 16000, 800.0)
    source.stop()


async def test_set_source_switches_the_tone_without_renegotiation(tmp_path: Path) -> None:
    alice = MediaSession(LOOPBACK, ToneTrack(440.0))
    bob = MediaSession(LOOPBACK, SilenceTrack())
    heard: list[AudioFrame] = []
    recorder = WavRecorder(tmp_path / "call.wav", sample_rate=16000)

    def on_frame(frame: AudioFrame) -> None:
        heard.append(frame)
        recorder.write_frame(frame)

    bob.on_frame = on_frame

    def dominant() -> float:
        samples = array.array("h")
        for f in heard[-20:]:
            samples.extend(mono(f))
        rate = heard[-1].sample_rate
        return max((440.0, 1000.0), key=lambda f: goertzel(samples, rate, f))

    try:
        await alice.set_answer(await bob.create_answer(await alice.create_offer()))
        for _ in range(200):
            if len(heard) > 40:
                break
            await asyncio.sleep(0.02)
        assert dominant() == 440.0
        local = alice.pc.localDescription.sdp
        alice.set_source(ToneTrack(1000.0))
        assert alice.stream is not None and alice.stream.source is alice.source
        mark = len(heard)
        for _ in range(200):
            if len(heard) > mark + 40:
                break
            await asyncio.sleep(0.02)
        assert len(heard) > mark + 40
        assert dominant() == 1000.0
        assert alice.pc.localDescription.sdp == local  # no new offer
    finally:
        await alice.close()
        await bob.close()
        recorder.close()
    # the recording (Opus mono at 48 kHz in, mono 16 kHz out) holds both tones in turn
    params, samples = read_wav(tmp_path / "call.wav")
    assert params.framerate == 16000 and len(samples) == recorder.samples_written
    switch = mark * len(samples) // len(heard)
    before, after = samples[switch - 8000 : switch - 1600], samples[-8000:]
    assert goertzel(before, 16000, 440.0) > 20 * goertzel(before, 16000, 1000.0)
    assert goertzel(after, 16000, 1000.0) > 20 * goertzel(after, 16000, 440.0)


class StereoTone(MediaStreamTrack):
    """A plain aiortc track (no ``next_pcm``): 20 ms stereo frames of a tone at 16 kHz, one
    per ``pace`` seconds (0: as fast as they are read), ``limit`` of them, then the end."""

    kind = "audio"

    def __init__(self, frequency: float, limit: int, pace: float = 0.0) -> None:
        super().__init__()
        self.pace = pace
        self._pcm = tone_pcm(frequency, 16000, 1.0)
        self._index = 0
        self.limit = limit

    async def recv(self) -> AudioFrame:
        await asyncio.sleep(self.pace)
        if self._index >= self.limit:
            raise MediaStreamError
        start = 640 * (self._index % 50)
        mono_pcm = array.array("h", self._pcm[start : start + 640])
        stereo = array.array("h", (s for s in mono_pcm for _ in range(2)))
        frame = AudioFrame(format="s16", layout="stereo", samples=320)
        frame.planes[0].update(stereo.tobytes())
        frame.sample_rate = 16000
        self._index += 1
        return frame


async def test_track_pcm_reads_a_plain_track_into_20ms_of_48khz_mono() -> None:
    track = StereoTone(600.0, limit=50)
    reader = TrackPcm(track, max_buffered=0.1)
    assert reader.sample_rate == SAMPLE_RATE
    assert reader.next_pcm() == bytes(2 * FRAME_SAMPLES)  # nothing read yet: silence
    assert reader.underruns == 1
    for _ in range(100):
        await asyncio.sleep(0)
        if track._index == track.limit:
            break
    assert track._index == track.limit
    # a second of audio came in; the buffer kept only its last 0.1 s (5 frames)
    frames = [reader.next_pcm() for _ in range(6)]
    assert all(len(f) == 2 * FRAME_SAMPLES for f in frames)
    assert reader.underruns == 2  # the sixth frame is silence again
    samples = array.array("h", b"".join(frames[1:4]))
    assert goertzel(samples, SAMPLE_RATE, 600.0) > 100 * goertzel(samples, SAMPLE_RATE, 1000.0)
    reader.close()
    assert reader._task is None
    assert track.readyState == "live"  # the track is not stopped


async def test_session_sends_a_track_without_next_pcm() -> None:
    alice = MediaSession(LOOPBACK, StereoTone(600.0, limit=10**6, pace=0.02))
    bob = MediaSession(LOOPBACK, SilenceTrack())
    heard: list[AudioFrame] = []
    bob.on_frame = heard.append
    try:
        await alice.set_answer(await bob.create_answer(await alice.create_offer()))
        for _ in range(250):
            if len(heard) > 40:
                break
            await asyncio.sleep(0.02)
        samples = array.array("h")
        for frame in heard[-20:]:
            samples.extend(mono(frame))
        rate = heard[-1].sample_rate
        assert goertzel(samples, rate, 600.0) > 100 * goertzel(samples, rate, 1000.0)
    finally:
        await alice.close()
        await bob.close()
