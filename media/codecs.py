"""Audio codecs of the RTP engine: G.711 µ-law and A-law through lookup tables, G.722 through
PyAV (FFmpeg), Opus through libopus (:mod:`media.opus`), behind one small interface, one object
per stream direction.

PCM in and out is 16-bit signed little-endian mono at the codec's ``sample_rate`` (8000 for
G.711, 16000 for G.722, 48000 for Opus). Encoding and decoding run synchronously in the
calling thread.

Packet loss concealment (:meth:`Decoder.conceal`) repeats the last decoded frame with a fade,
in the spirit of ITU-T G.711 Appendix I (attenuation from 10 ms into the loss, silence from
60 ms): the gain falls linearly from 1 by 0.2 per 10 ms of concealed audio, reaching 0 at
50 ms, and stays there. Opus uses libopus's own concealment instead (RFC 6716 §4.4), which
continues the signal rather than repeating a frame.
"""

from __future__ import annotations

import operator
import sys
import warnings
from array import array
from collections.abc import Callable
from fractions import Fraction
from typing import Literal, Protocol

import av
import av.error

from media.opus import OpusDecoder, OpusEncoder

# The C G.711 encoders of the standard library (Sun's g711.c: the same segment tables, checked
# equal to ours over every sample in tests/media/test_codecs.py) run 160 samples in under a
# microsecond, several times faster than the table lookup; the module is deprecated and gone
# from Python 3.13, where the tables serve alone. It works in native byte order.
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop as _audioop
except ImportError:  # pragma: no cover - Python 3.13+
    _audioop = None  # type: ignore[assignment]
_FAST_G711: dict[str, Callable[[bytes, int], bytes]] = (
    {"PCMU": _audioop.lin2ulaw, "PCMA": _audioop.lin2alaw}
    if _audioop is not None and sys.byteorder == "little"
    else {}
)

__all__ = [
    "Decoder",
    "Encoder",
    "alaw_decode",
    "alaw_encode",
    "make_decoder",
    "make_encoder",
    "ulaw_decode",
    "ulaw_encode",
]


# --------------------------------------------------------------------------- G.711 tables


def _ulaw_from_linear(sample: int) -> int:
    """ITU-T G.711 µ-law of a 16-bit sample (the 14 high bits are coded)."""
    value = sample >> 2
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + (0x84 >> 2)  # clip, then add the bias
    segment = (value >> 6).bit_length()  # first segment ends at 0x3F, then doubles
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _linear_from_ulaw(code: int) -> int:
    code = ~code & 0xFF
    value = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - value if code & 0x80 else value - 0x84


def _alaw_from_linear(sample: int) -> int:
    """ITU-T G.711 A-law of a 16-bit sample (the 13 high bits are coded)."""
    value = sample >> 3
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    segment = (value >> 5).bit_length()  # first segment ends at 0x1F, then doubles
    if segment >= 8:
        return 0x7F ^ mask
    mantissa = (value >> (1 if segment < 2 else segment)) & 0x0F
    return ((segment << 4) | mantissa) ^ mask


def _linear_from_alaw(code: int) -> int:
    code ^= 0x55
    value = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    if segment == 0:
        value += 8
    else:
        value = (value + 0x108) << (segment - 1)
    return value if code & 0x80 else -value


def _encode_table(law: Callable[[int], int]) -> bytes:
    """Code of every native-order unsigned 16-bit value read from little-endian PCM."""
    out = bytearray(65536)
    for index in range(65536):
        raw = index.to_bytes(2, sys.byteorder)
        out[index] = law(int.from_bytes(raw, "little", signed=True))
    return bytes(out)


def _decode_tables(law: Callable[[int], int]) -> tuple[bytes, bytes]:
    """``bytes.translate`` tables giving the low and the high byte of each decoded sample."""
    samples = [law(code).to_bytes(2, "little", signed=True) for code in range(256)]
    return bytes(s[0] for s in samples), bytes(s[1] for s in samples)


_ULAW_ENCODE = _encode_table(_ulaw_from_linear)
_ALAW_ENCODE = _encode_table(_alaw_from_linear)
_ULAW_LOW, _ULAW_HIGH = _decode_tables(_linear_from_ulaw)
_ALAW_LOW, _ALAW_HIGH = _decode_tables(_linear_from_alaw)


def _encode(pcm: bytes, table: bytes) -> bytes:
    if len(pcm) % 2:
        raise ValueError("16-bit PCM has an even number of bytes")
    samples = memoryview(pcm).cast("B").cast("H")
    if len(samples) > 1:
        return bytes(operator.itemgetter(*samples)(table))
    return bytes(table[s] for s in samples)


def _decode(data: bytes, low: bytes, high: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(low)
    out[1::2] = data.translate(high)
    return bytes(out)


def ulaw_encode(pcm: bytes) -> bytes:
    """G.711 µ-law of 16-bit signed little-endian PCM (one byte per sample)."""
    return _encode(pcm, _ULAW_ENCODE)


def ulaw_decode(data: bytes) -> bytes:
    """16-bit signed little-endian PCM of G.711 µ-law bytes."""
    return _decode(data, _ULAW_LOW, _ULAW_HIGH)


def alaw_encode(pcm: bytes) -> bytes:
    """G.711 A-law of 16-bit signed little-endian PCM (one byte per sample)."""
    return _encode(pcm, _ALAW_ENCODE)


def alaw_decode(data: bytes) -> bytes:
    """16-bit signed little-endian PCM of G.711 A-law bytes."""
    return _decode(data, _ALAW_LOW, _ALAW_HIGH)


# --------------------------------------------------------------------------- interface


class Encoder(Protocol):
    """Encodes one direction of a stream, one frame of PCM per call."""

    name: str
    clock_rate: int
    """RTP timestamp units per second (RFC 3551 §4.5)."""
    sample_rate: int
    """Samples per second of the PCM taken."""
    samples_per_frame: int
    """PCM samples in one 20 ms frame (the RTP timestamp advances by
    ``samples_per_frame * clock_rate // sample_rate`` per frame)."""

    def encode(self, pcm: bytes) -> bytes: ...


class Decoder(Protocol):
    """Decodes one direction of a stream, one payload per call."""

    name: str
    clock_rate: int
    sample_rate: int
    """Samples per second of the PCM returned."""
    samples_per_frame: int

    def decode(self, payload: bytes) -> bytes:
        """PCM of one payload; ``ValueError`` if the codec rejects it."""
        ...

    def conceal(self) -> bytes:
        """Exactly one frame (``samples_per_frame`` samples) standing in for a lost one."""
        ...


FADE_STEP_MS = 10  # G.711 Appendix I: attenuate by 20 % per 10 ms
FADE_PER_STEP = 0.2


class _Concealer:
    """Repeats the last decoded frame, fading to silence (see the module docstring)."""

    def __init__(self, samples_per_frame: int, sample_rate: int) -> None:
        self._frame = samples_per_frame
        self._last = array("h", bytes(2 * samples_per_frame))
        self._lost = 0  # samples concealed since the last real frame
        self._fall = FADE_PER_STEP / (sample_rate * FADE_STEP_MS / 1000)  # gain per sample

    def decoded(self, pcm: bytes) -> bytes:
        """Note a real frame (its last ``samples_per_frame`` samples are kept)."""
        frame = array("h", pcm[-2 * self._frame :])
        if len(frame) < self._frame:
            frame = array("h", bytes(2 * (self._frame - len(frame)))) + frame
        self._last = frame
        self._lost = 0
        return pcm

    def conceal(self) -> bytes:
        start, fall = self._lost, self._fall
        self._lost += self._frame
        if 1.0 - start * fall <= 0.0:
            return bytes(2 * self._frame)
        out = array(
            "h",
            (round(s * max(0.0, 1.0 - (start + i) * fall)) for i, s in enumerate(self._last)),
        )
        return out.tobytes()


class G711Encoder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.clock_rate = self.sample_rate = 8000
        self.samples_per_frame = 160
        self._table = _ULAW_ENCODE if name == "PCMU" else _ALAW_ENCODE
        self._fast = _FAST_G711.get(name)

    def encode(self, pcm: bytes) -> bytes:
        fast = self._fast
        if fast is None or len(pcm) % 2:
            return _encode(pcm, self._table)
        return fast(pcm, 2)


class G711Decoder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.clock_rate = self.sample_rate = 8000
        self.samples_per_frame = 160
        if name == "PCMU":
            self._low, self._high = _ULAW_LOW, _ULAW_HIGH
        else:
            self._low, self._high = _ALAW_LOW, _ALAW_HIGH
        self._plc = _Concealer(160, 8000)

    def decode(self, payload: bytes) -> bytes:
        return self._plc.decoded(_decode(payload, self._low, self._high))

    def conceal(self) -> bytes:
        return self._plc.conceal()


def _context(codec: str, mode: Literal["r", "w"], sample_rate: int) -> av.AudioCodecContext:
    ctx = av.CodecContext.create(codec, mode)
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate = sample_rate
    ctx.layout = "mono"
    ctx.format = "s16"
    return ctx


class AvEncoder:
    """An FFmpeg encoder fed one 20 ms frame at a time (G.722)."""

    def __init__(self, name: str, codec: str, clock_rate: int, sample_rate: int) -> None:
        self.name = name
        self.clock_rate = clock_rate
        self.sample_rate = sample_rate
        self.samples_per_frame = sample_rate // 50
        ctx = _context(codec, "w", sample_rate)
        ctx.time_base = Fraction(1, sample_rate)
        ctx.open()
        self._ctx = ctx
        self._pts = 0

    def encode(self, pcm: bytes) -> bytes:
        """One frame of PCM (exactly ``samples_per_frame`` samples) to one payload."""
        if len(pcm) != 2 * self.samples_per_frame:
            raise ValueError(f"{self.name} encodes frames of {self.samples_per_frame} samples")
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples_per_frame)
        frame.sample_rate = self.sample_rate
        frame.time_base = Fraction(1, self.sample_rate)
        frame.pts = self._pts
        self._pts += self.samples_per_frame
        frame.planes[0].update(pcm)
        return b"".join(bytes(packet) for packet in self._ctx.encode(frame))


class AvDecoder:
    """An FFmpeg decoder, one payload at a time (G.722)."""

    def __init__(self, name: str, codec: str, clock_rate: int, sample_rate: int) -> None:
        self.name = name
        self.clock_rate = clock_rate
        self.sample_rate = sample_rate
        self.samples_per_frame = sample_rate // 50
        self._ctx = _context(codec, "r", sample_rate)
        self._ctx.open()
        self._plc = _Concealer(self.samples_per_frame, sample_rate)

    def decode(self, payload: bytes) -> bytes:
        if not payload:
            raise ValueError(f"empty {self.name} payload")
        try:
            frames = self._ctx.decode(av.Packet(payload))
        except av.error.FFmpegError as exc:
            raise ValueError(f"{self.name} payload rejected: {exc}") from exc
        out = []
        for frame in frames:
            if frame.format.name != "s16" or frame.layout.nb_channels != 1:
                raise ValueError(f"{self.name} decoder gave {frame.format.name} audio")
            out.append(bytes(frame.planes[0])[: 2 * frame.samples])
        return self._plc.decoded(b"".join(out))

    def conceal(self) -> bytes:
        return self._plc.conceal()


# name -> (FFmpeg codec, "opus" for libopus, or None for the tables; RTP clock; PCM rate)
_CODECS: dict[str, tuple[str | None, int, int]] = {
    "PCMU": (None, 8000, 8000),
    "PCMA": (None, 8000, 8000),
    "G722": ("g722", 8000, 16000),  # RFC 3551 §4.5.2: 8000 Hz clock for 16 kHz audio
    "OPUS": ("opus", 48000, 48000),  # RFC 7587 §4.1: 48 kHz clock
}
OPUS_BIT_RATE = 32000


def _lookup(name: str, clock_rate: int, channels: int) -> tuple[str, str | None, int, int]:
    key = name.upper()
    if key not in _CODECS:
        raise ValueError(f"no codec {name!r}")
    codec, clock, rate = _CODECS[key]
    if clock_rate != clock:
        raise ValueError(f"{name} has an RTP clock of {clock} Hz, not {clock_rate}")
    # RFC 7587 §7: opus is always signalled with 2 channels; mono is sent and accepted.
    if channels != 1 and not (key == "OPUS" and channels == 2):
        raise ValueError(f"{name} with {channels} channels is not supported")
    return ("opus" if key == "OPUS" else key), codec, clock, rate


def make_encoder(name: str, clock_rate: int, channels: int = 1) -> Encoder:
    """An encoder for the rtpmap ``name/clock_rate[/channels]``: PCMU, PCMA, G722 or opus
    (case-insensitive); ``ValueError`` for anything else."""
    label, codec, clock, rate = _lookup(name, clock_rate, channels)
    if codec is None:
        return G711Encoder(label)
    if codec == "opus":
        return OpusEncoder(OPUS_BIT_RATE)
    return AvEncoder(label, codec, clock, rate)


def make_decoder(name: str, clock_rate: int, channels: int = 1) -> Decoder:
    """A decoder for the rtpmap ``name/clock_rate[/channels]`` (see :func:`make_encoder`)."""
    label, codec, clock, rate = _lookup(name, clock_rate, channels)
    if codec is None:
        return G711Decoder(label)
    if codec == "opus":
        return OpusDecoder()
    return AvDecoder(label, codec, clock, rate)
