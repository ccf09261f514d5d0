"""Device specs: checked, and opened as sources and sinks."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from aiortc.mediastreams import AudioStreamTrack

from client.web.devices import check_input_spec, check_output_spec, open_input, open_output
from media.devices import AudioDeviceError
from media.tracks import SilenceTrack, ToneTrack, WavFileTrack, WavRecorder


def test_specs() -> None:
    for good in ("silence", "tone:440", "tone:0", "wav:/a.wav", "device:", "device:3"):
        check_input_spec(good)
    for bad in ("tone:x", "tone:-1", "wav:", "mic", "silence:1"):
        with pytest.raises(ValueError):
            check_input_spec(bad)
    for good in ("null", "wav:/b.wav", "device:Speakers"):
        check_output_spec(good)
    for bad in ("null:1", "wav:", "tone:4"):
        with pytest.raises(ValueError):
            check_output_spec(bad)


async def test_open_sources_and_sinks(tmp_path: Path) -> None:
    assert isinstance(open_input("silence"), SilenceTrack)
    tone = open_input("tone:700")
    assert isinstance(tone, ToneTrack) and tone.frequency == 700.0
    path = tmp_path / "in.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(1600))
    track = open_input(f"wav:{path}")
    assert isinstance(track, WavFileTrack) and track.loop
    track.stop()
    with pytest.raises(FileNotFoundError):
        open_input(f"wav:{tmp_path / 'missing.wav'}")
    sink = open_output(f"wav:{tmp_path / 'out.wav'}")
    assert isinstance(sink, WavRecorder)
    sink.close()
    frame = await AudioStreamTrack().recv()
    open_output("null").write_frame(frame)  # dropped


async def test_local_devices_need_sounddevice() -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        with pytest.raises(AudioDeviceError):
            open_input("device:")
        with pytest.raises(AudioDeviceError):
            open_output("device:")
    else:  # a machine with PortAudio: an unknown device cannot be opened
        with pytest.raises(AudioDeviceError):
            open_input("device:no such device anywhere")
