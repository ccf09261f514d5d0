"""media.mute.MuteGate: silence of the same shape while muted, across source changes, and a
source replaced and stopped while a read waits on it."""

from __future__ import annotations

import array
import asyncio

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from media.mute import MuteGate
from media.tracks import ToneTrack


def peak(frame: AudioFrame) -> int:
    return max(abs(x) for x in array.array("h", bytes(frame.planes[0])))


class Blocked(MediaStreamTrack):
    """A source whose read waits until it is stopped, then ends."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self._stopped = asyncio.Event()

    async def recv(self) -> AudioFrame:
        self.reading.set()
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


async def test_muted_frames_are_zeros_of_the_same_shape_and_timing() -> None:
    gate = MuteGate(ToneTrack(440.0))
    loud = await gate.recv()
    gate.muted = True
    quiet = await gate.recv()
    assert peak(loud) > 5000 and peak(quiet) == 0
    assert (quiet.samples, quiet.sample_rate, quiet.format.name, quiet.layout.name) == (
        loud.samples,
        loud.sample_rate,
        loud.format.name,
        loud.layout.name,
    )
    assert quiet.pts == loud.pts + loud.samples and quiet.time_base == loud.time_base
    gate.muted = False
    assert peak(await gate.recv()) > 5000


async def test_a_new_source_stays_muted() -> None:
    gate = MuteGate(ToneTrack(440.0))
    gate.muted = True
    gate.source = ToneTrack(1500.0)
    assert [peak(await gate.recv()) for _ in range(3)] == [0, 0, 0]
    gate.muted = False
    assert peak(await gate.recv()) > 5000


async def test_a_source_replaced_and_stopped_mid_read_hands_over() -> None:
    old = Blocked()
    gate = MuteGate(old)
    read = asyncio.ensure_future(gate.recv())
    await old.reading.wait()
    gate.source = ToneTrack(440.0)
    old.stop()
    frame = await asyncio.wait_for(read, 5)
    assert peak(frame) > 5000


async def test_a_source_that_ends_ends_the_gate() -> None:
    old = Blocked()
    gate = MuteGate(old)
    read = asyncio.ensure_future(gate.recv())
    await old.reading.wait()
    old.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(read, 5)


async def test_a_track_without_next_pcm_is_read_for_the_engine() -> None:
    class Plain(MediaStreamTrack):
        kind = "audio"

        async def recv(self) -> AudioFrame:
            await asyncio.sleep(0)
            frame = AudioFrame(format="s16", layout="mono", samples=960)
            frame.planes[0].update(array.array("h", [1000] * 960).tobytes())
            frame.sample_rate = 48000
            return frame

    plain = Plain()
    gate = MuteGate(plain)
    assert gate.sample_rate == 48000
    assert gate.next_pcm() == bytes(1920)  # the reader has only just started
    for _ in range(5):
        await asyncio.sleep(0)
    assert set(array.array("h", gate.next_pcm())) == {1000}
    gate.muted = True
    assert gate.next_pcm() == bytes(1920)
    reader = gate._reader
    assert reader is not None
    gate.source = ToneTrack(440.0)  # a source with next_pcm: the reader is closed
    assert gate._reader is None and reader._task is None
    gate.muted = False
    assert len(gate.next_pcm()) == 1920 and gate.next_pcm() != bytes(1920)
    gate.stop()
    assert plain.readyState == "live"
