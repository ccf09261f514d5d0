"""Local sound devices, with a stand-in for the sounddevice package (this machine has no
sound card): the glue between PortAudio's callbacks and the call's tracks."""

from __future__ import annotations

import array
import asyncio
import sys
import threading
import types
from typing import Any, ClassVar

import pytest
from av import AudioFrame

from media.devices import AudioDeviceError, MicrophoneTrack, SpeakerSink, default_device_names
from media.tracks import FRAME_SAMPLES


class FakeStream:
    """Records how it was opened; the test calls its callback as PortAudio would."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.started = self.stopped = self.closed = False
        FakeStream.opened.append(self)

    opened: ClassVar[list[FakeStream]] = []

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True


class Unavailable(Exception):
    pass


@pytest.fixture
def sounddevice(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("sounddevice")
    module.RawInputStream = FakeStream  # type: ignore[attr-defined]
    module.RawOutputStream = FakeStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    FakeStream.opened = []
    return module


def test_default_device_names(sounddevice: types.ModuleType) -> None:
    def query_devices(kind: str) -> dict[str, Any]:
        if kind == "output" and getattr(sounddevice, "mute", False):
            raise Unavailable("Error querying device -1")
        return {"name": f"USB {kind}", "max_input_channels": 1}

    sounddevice.query_devices = query_devices  # type: ignore[attr-defined]
    assert default_device_names() == ("USB input", "USB output")
    sounddevice.mute = True  # type: ignore[attr-defined]
    with pytest.raises(AudioDeviceError, match="no default audio device: Error querying"):
        default_device_names()


def test_missing_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    with pytest.raises(AudioDeviceError, match=r"pip install 'sipwebrtc\[audio\]'"):
        SpeakerSink()


def test_device_that_cannot_open_gives_a_clear_error(sounddevice: types.ModuleType) -> None:
    def refuse(**kwargs: Any) -> None:
        raise Unavailable("Error querying device -1")

    sounddevice.RawOutputStream = refuse  # type: ignore[attr-defined]
    with pytest.raises(AudioDeviceError, match=r"cannot open audio device 'USB'.*device -1"):
        SpeakerSink("USB")


async def test_microphone_captures_into_the_call(sounddevice: types.ModuleType) -> None:
    mic = MicrophoneTrack(sample_rate=48000, max_queued=0.04)
    (stream,) = FakeStream.opened
    assert stream.started
    assert {k: stream.kwargs[k] for k in ("channels", "dtype", "samplerate", "blocksize")} == {
        "channels": 1,
        "dtype": "int16",
        "samplerate": 48000,
        "blocksize": 960,
    }
    block = array.array("h", [1234] * FRAME_SAMPLES).tobytes()
    # PortAudio calls from its own thread: three blocks, one more than the queue holds
    thread = threading.Thread(
        target=lambda: [stream.callback(block, FRAME_SAMPLES, None, None) for _ in range(3)]
    )
    thread.start()
    thread.join()
    for _ in range(10):
        await asyncio.sleep(0)
    assert mic.overruns == 1
    frame = await mic.recv()
    assert set(array.array("h", bytes(frame.planes[0]))) == {1234}
    mic.stop()
    assert stream.stopped and stream.closed


async def test_speaker_plays_received_frames_then_silence(sounddevice: types.ModuleType) -> None:
    speaker = SpeakerSink(sample_rate=16000, max_buffered=0.1)
    (stream,) = FakeStream.opened
    assert stream.kwargs["samplerate"] == 16000 and stream.kwargs["blocksize"] == 320
    stereo = AudioFrame(format="s16", layout="stereo", samples=FRAME_SAMPLES)
    stereo.planes[0].update(array.array("h", [3000, 3000] * FRAME_SAMPLES).tobytes())
    stereo.sample_rate = 48000
    for _ in range(5):
        speaker.write_frame(stereo)
    out = bytearray(2 * 320)
    stream.callback(out, 320, None, None)
    played = array.array("h", bytes(out))
    assert all(abs(x - 3000) < 50 for x in played[40:])  # after the resampler's ramp
    for _ in range(10):  # the rest of the buffer, then silence
        stream.callback(out, 320, None, None)
    assert set(bytes(out)) == {0}
    for _ in range(20):  # more than max_buffered: the oldest is dropped
        speaker.write_frame(stereo)
    assert speaker.dropped > 0
    await speaker.stop()
    assert stream.stopped and stream.closed
    with pytest.raises(ValueError, match="closed"):
        speaker.write_frame(stereo)
