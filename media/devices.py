"""Local sound devices as a call's source and sink, through the optional ``sounddevice``
package (PortAudio): ``pip install 'sipwebrtc[audio]'`` and, on Debian, ``libportaudio2``.

Without them, constructing a device object raises :class:`AudioDeviceError` saying what to
install; nothing else in the project imports this module. PortAudio calls back from its own
thread: captured audio is handed to the event loop, played audio is taken from a buffer
guarded by a lock.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from .tracks import SAMPLE_RATE, FrameSink, PcmSourceTrack, _Converter

__all__ = ["AudioDeviceError", "MicrophoneTrack", "SpeakerSink", "default_device_names"]

Device = int | str | None
"""A PortAudio device index or name (a substring is enough); None for the default one."""


class AudioDeviceError(RuntimeError):
    """The sound device library is missing, or the device could not be opened."""


def _sounddevice() -> Any:
    try:
        return importlib.import_module("sounddevice")
    except ImportError as exc:
        raise AudioDeviceError(
            "local audio devices need the optional sounddevice package: "
            "pip install 'sipwebrtc[audio]'"
        ) from exc
    except OSError as exc:  # sounddevice imports, but PortAudio itself is not installed
        raise AudioDeviceError(
            f"the PortAudio library is missing ({exc}): install libportaudio2"
        ) from exc


def _open(sd: Any, kind: str, device: Device, sample_rate: int, callback: Any) -> Any:
    """A started mono 16-bit PortAudio stream of 20 ms blocks."""
    try:
        stream = getattr(sd, kind)(
            channels=1,
            dtype="int16",
            device=device,
            samplerate=sample_rate,
            blocksize=sample_rate // 50,
            callback=callback,
        )
        stream.start()
    except Exception as exc:  # sounddevice.PortAudioError, ValueError for a bad device
        raise AudioDeviceError(f"cannot open audio device {device!r}: {exc}") from exc
    return stream


def default_device_names() -> tuple[str, str]:
    """Names of the default input and output devices; AudioDeviceError when the library is
    missing or there is no such device."""
    sd = _sounddevice()
    try:
        names = [sd.query_devices(kind=kind)["name"] for kind in ("input", "output")]
    except Exception as exc:  # sounddevice.PortAudioError: no default device of that kind
        raise AudioDeviceError(f"no default audio device: {exc}") from exc
    return str(names[0]), str(names[1])


class MicrophoneTrack(PcmSourceTrack):
    """Audio captured from a local input device, as a paced call source.

    Capture runs at ``sample_rate`` and is resampled to 48 kHz; at most ``max_queued``
    seconds wait to be sent, and captured audio that does not fit is dropped (counted in
    :attr:`overruns`), so a device clock faster than the call's cannot build up delay.
    Must be created inside a running event loop.
    """

    def __init__(
        self, device: Device = None, *, sample_rate: int = SAMPLE_RATE, max_queued: float = 0.2
    ) -> None:
        super().__init__(max_queued=max_queued)
        sd = _sounddevice()
        self.capture_rate = sample_rate
        """Rate of the device capture (Hz); the track gives 48 kHz (``sample_rate``)."""
        self.overruns = 0
        """Captured blocks dropped because the queue was full."""
        self._event_loop = asyncio.get_running_loop()
        self._stream = _open(sd, "RawInputStream", device, sample_rate, self._captured)

    def _captured(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        # PortAudio's thread
        pcm = bytes(indata)
        self._event_loop.call_soon_threadsafe(self._push, pcm)

    def _push(self, pcm: bytes) -> None:
        try:
            self.write_nowait(pcm, self.capture_rate)
        except asyncio.QueueFull:
            self.overruns += 1
        except MediaStreamError:  # stopped meanwhile
            pass

    def stop(self) -> None:
        if self.readyState == "live":
            self._stream.stop()
            self._stream.close()
        super().stop()


class SpeakerSink(FrameSink):
    """Plays received frames on a local output device (mono, ``sample_rate``).

    At most ``max_buffered`` seconds wait to be played; beyond that the oldest audio is
    dropped (counted in :attr:`dropped`), and the device plays silence when nothing waits.
    """

    def __init__(
        self, device: Device = None, *, sample_rate: int = SAMPLE_RATE, max_buffered: float = 0.2
    ) -> None:
        super().__init__()
        sd = _sounddevice()
        self.sample_rate = sample_rate
        self.capacity = 2 * int(max_buffered * sample_rate)
        """Most bytes buffered."""
        self.dropped = 0
        """Bytes of audio dropped because the buffer was full."""
        self._converter = _Converter(sample_rate)
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._stream: Any = _open(sd, "RawOutputStream", device, sample_rate, self._play)

    def write_frame(self, frame: AudioFrame) -> None:
        if self._stream is None:
            raise ValueError("speaker is closed")
        pcm = self._converter.convert(frame)
        with self._lock:
            self._buffer += pcm
            excess = len(self._buffer) - self.capacity
            if excess > 0:
                del self._buffer[:excess]
                self.dropped += excess

    def _play(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        # PortAudio's thread
        size = 2 * frames
        with self._lock:
            pcm = bytes(self._buffer[:size])
            del self._buffer[:size]
        outdata[:] = pcm + bytes(size - len(pcm))

    def close(self) -> None:
        super().close()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
