"""Audio input and output "devices" of the web-client facade.

A browser picks microphones and speakers by device id. Here a device id names a *spec*, so a
machine without sound hardware (a server, CI) still has devices to choose from:

================== =============================================================
input spec         source
================== =============================================================
``silence``        digital silence (the default input)
``tone:HZ``        a sine tone of HZ hertz
``wav:PATH``       a WAV file, looped
``device:NAME``    a local input device through PortAudio (:mod:`media.devices`;
                   NAME is a PortAudio name or index, empty for the default)
================== =============================================================

================== =============================================================
output spec        sink
================== =============================================================
``null``           received audio is dropped (the default output)
``wav:PATH``       received audio is written to a WAV file
``device:NAME``    a local output device through PortAudio
================== =============================================================

The first entry of each list is the default device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from media.devices import MicrophoneTrack, SpeakerSink
from media.tracks import FrameSink, SilenceTrack, ToneTrack, WavFileTrack, WavRecorder

__all__ = [
    "DEFAULT_INPUTS",
    "DEFAULT_OUTPUTS",
    "check_input_spec",
    "check_output_spec",
    "open_input",
    "open_output",
]

DEFAULT_INPUTS = {"default": "silence"}
DEFAULT_OUTPUTS = {"default": "null"}


def _split(spec: str) -> tuple[str, str]:
    kind, _, arg = spec.partition(":")
    return kind, arg


def check_input_spec(spec: str) -> None:
    """ValueError unless ``spec`` is a well-formed input spec (the device is not opened)."""
    kind, arg = _split(spec)
    if kind == "silence" and not arg:
        return
    if kind == "tone":
        try:
            if float(arg) >= 0:
                return
        except ValueError:
            pass
        raise ValueError(f"tone needs a frequency in hertz, got {spec!r}")
    if kind == "wav" and arg:
        return
    if kind == "device":
        return
    raise ValueError(f"not an input spec: {spec!r} (silence, tone:HZ, wav:PATH, device:NAME)")


def check_output_spec(spec: str) -> None:
    kind, arg = _split(spec)
    if (kind == "null" and not arg) or (kind == "wav" and arg) or kind == "device":
        return
    raise ValueError(f"not an output spec: {spec!r} (null, wav:PATH, device:NAME)")


def _device(arg: str) -> int | str | None:
    if not arg:
        return None
    return int(arg) if arg.isdigit() else arg


def open_input(spec: str) -> MediaStreamTrack:
    """A fresh source track for ``spec``; OSError, ValueError or
    :class:`~media.devices.AudioDeviceError` when it cannot be opened. Needs a running loop
    for ``device:``."""
    check_input_spec(spec)
    kind, arg = _split(spec)
    if kind == "silence":
        return SilenceTrack()
    if kind == "tone":
        return ToneTrack(float(arg))
    if kind == "wav":
        return WavFileTrack(arg, loop=True)
    return MicrophoneTrack(_device(arg))


class _NullSink(FrameSink):
    def write_frame(self, frame: AudioFrame) -> None:
        pass


def open_output(spec: str) -> FrameSink:
    """A fresh sink for ``spec``; OSError or AudioDeviceError when it cannot be opened."""
    check_output_spec(spec)
    kind, arg = _split(spec)
    if kind == "null":
        return _NullSink()
    if kind == "wav":
        return WavRecorder(Path(arg))
    return SpeakerSink(_device(arg))


def frame_writer(sink: FrameSink) -> Callable[[AudioFrame], None]:
    """``sink.write_frame`` that ignores a sink closed meanwhile."""

    def write(frame: AudioFrame) -> None:
        with contextlib.suppress(ValueError):  # closed meanwhile
            sink.write_frame(frame)

    return write
