"""Measuring received audio: the power of one frequency (Goertzel) and frames as mono
samples, for tone checks, level meters and diagnostics."""

from __future__ import annotations

import array
import math

from av import AudioFrame

__all__ = ["goertzel", "mono"]


def goertzel(samples: array.array[int], rate: int, frequency: float) -> float:
    """Power of ``frequency`` in ``samples`` (Goertzel, normalised by the length)."""
    k = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / max(1, len(samples))


def mono(frame: AudioFrame) -> array.array[int]:
    """The first channel of a packed signed 16-bit frame (the plane's buffer may be longer
    than the samples it holds)."""
    channels = len(frame.layout.channels)
    pcm = array.array("h", bytes(frame.planes[0])[: 2 * frame.samples * channels])
    return pcm[::channels] if channels > 1 else pcm
