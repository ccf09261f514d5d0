from __future__ import annotations

import array
import math

from av import AudioFrame

from media.levels import goertzel, mono


def tone(frequency: float, rate: int = 8000, n: int = 800) -> array.array[int]:
    return array.array(
        "h", (int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(n))
    )


def test_goertzel_finds_the_tone_and_not_its_neighbours() -> None:
    samples = tone(700.0)
    at = goertzel(samples, 8000, 700.0)
    assert at > 1000 * goertzel(samples, 8000, 1000.0)
    assert at > 1000 * goertzel(samples, 8000, 400.0)
    # a full-scale sine of amplitude A gives about A²/4 per sample
    assert 0.9 < at / (8000**2 / 4 * 800) < 1.1
    assert goertzel(array.array("h"), 8000, 700.0) == 0.0


def test_mono_takes_the_first_channel_and_trims_the_padding() -> None:
    frame = AudioFrame(format="s16", layout="stereo", samples=3)
    frame.planes[0].update(array.array("h", [1, -1, 2, -2, 3, -3]).tobytes())
    assert list(mono(frame)) == [1, 2, 3]
    single = AudioFrame(format="s16", layout="mono", samples=4)
    single.planes[0].update(array.array("h", [5, 6, 7, 8]).tobytes())
    assert list(mono(single)) == [5, 6, 7, 8]
