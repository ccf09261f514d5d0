"""Muting without renegotiation: a track that passes its source's frames through, or silence of
the same length and timing while muted (RTP keeps flowing, so NATs and the peer's jitter buffer
see no gap)."""

from __future__ import annotations

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from .tracks import TrackPcm, _gives_pcm

__all__ = ["MuteGate"]


class MuteGate(MediaStreamTrack):
    """Wraps an audio ``source``; ``muted`` swaps its samples for zeros. Stopping the gate (as
    closing a peer connection does) leaves the source live for another session.

    ``source`` may be replaced at any time, muted or not; the old source may then be stopped
    at once: a read still waiting on it moves on to the new one instead of ending the track.
    """

    kind = "audio"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self._reader: TrackPcm | None = None
        self.source = source
        self.muted = False

    @property
    def source(self) -> MediaStreamTrack:
        return self._source

    @source.setter
    def source(self, source: MediaStreamTrack) -> None:
        self._source = source
        if self._reader is not None:
            self._reader.close()
        # a track without next_pcm (not one of media.tracks) is read by a task
        self._reader = None if _gives_pcm(source) else TrackPcm(source)

    @property
    def sample_rate(self) -> int:
        """Rate of the source's PCM, for :mod:`media.engine` (Hz)."""
        if self._reader is not None:
            return self._reader.sample_rate
        return int(self._source.sample_rate)  # type: ignore[attr-defined]

    def next_pcm(self) -> bytes:
        """The source's next 20 ms of PCM (:mod:`media.engine`), zeros of the same length
        while muted."""
        source = self._reader if self._reader is not None else self._source
        pcm: bytes = source.next_pcm()  # type: ignore[union-attr]
        return bytes(len(pcm)) if self.muted else pcm

    def stop(self) -> None:
        """End the gate (its source stays live)."""
        if self._reader is not None:
            self._reader.close()
        super().stop()

    async def recv(self) -> AudioFrame:
        while True:
            source = self.source
            try:
                frame = await source.recv()
                break
            except MediaStreamError:
                if self.source is source:
                    raise  # our source ended: so does the gate
        if not self.muted or not isinstance(frame, AudioFrame):
            return frame  # type: ignore[return-value]
        silent = AudioFrame(
            format=frame.format.name, layout=frame.layout.name, samples=frame.samples
        )
        for plane in silent.planes:
            plane.update(bytes(plane.buffer_size))
        silent.pts = frame.pts
        silent.sample_rate = frame.sample_rate
        silent.time_base = frame.time_base
        return silent
