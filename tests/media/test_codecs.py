"""Audio codecs: G.711 bit-exact against audioop and PyAV, Opus and G.722 round trips on a tone,
and the concealment fade (Opus concealment is libopus's, tested in ``test_opus.py``)."""

from __future__ import annotations

import math
import struct
import warnings
from array import array
from collections.abc import Callable
from fractions import Fraction

import av
import pytest

from media.codecs import (
    Decoder,
    Encoder,
    alaw_decode,
    alaw_encode,
    make_decoder,
    make_encoder,
    ulaw_decode,
    ulaw_encode,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

Codec = Callable[[bytes], bytes]

EVERY_SAMPLE = struct.pack("<65536h", *range(-32768, 32768))
EVERY_CODE = bytes(range(256))


def tone(rate: int, samples: int, start: int = 0, frequency: float = 440.0) -> bytes:
    return array(
        "h",
        (
            round(8000 * math.sin(2 * math.pi * frequency * (start + i) / rate))
            for i in range(samples)
        ),
    ).tobytes()


def tone_snr_db(pcm: bytes, rate: int, frequency: float = 440.0) -> float:
    """Power of the least-squares fitted sinusoid over the power of what is left (any delay
    and phase shift of the codec is absorbed by the fit)."""
    samples = array("h", pcm)
    w = 2 * math.pi * frequency / rate
    sin = [math.sin(w * i) for i in range(len(samples))]
    cos = [math.cos(w * i) for i in range(len(samples))]
    n = len(samples)
    a = 2 * sum(x * s for x, s in zip(samples, sin, strict=True)) / n
    b = 2 * sum(x * c for x, c in zip(samples, cos, strict=True)) / n
    fit = [a * s + b * c for s, c in zip(sin, cos, strict=True)]
    signal = sum(f * f for f in fit)
    noise = sum((x - f) ** 2 for x, f in zip(samples, fit, strict=True))
    return 10 * math.log10(signal / noise)


# --------------------------------------------------------------------------- G.711


@pytest.mark.parametrize(
    ("encode", "reference"),
    [(ulaw_encode, audioop.lin2ulaw), (alaw_encode, audioop.lin2alaw)],
)
def test_g711_encode_matches_audioop_on_every_sample(
    encode: Codec, reference: Callable[[bytes, int], bytes]
) -> None:
    assert encode(EVERY_SAMPLE) == reference(EVERY_SAMPLE, 2)


@pytest.mark.parametrize(
    ("decode", "reference"),
    [(ulaw_decode, audioop.ulaw2lin), (alaw_decode, audioop.alaw2lin)],
)
def test_g711_decode_matches_audioop_on_every_code(
    decode: Codec, reference: Callable[[bytes, int], bytes]
) -> None:
    assert decode(EVERY_CODE) == reference(EVERY_CODE, 2)


@pytest.mark.parametrize(
    ("codec", "encode", "decode"),
    [("pcm_mulaw", ulaw_encode, ulaw_decode), ("pcm_alaw", alaw_encode, alaw_decode)],
)
def test_g711_matches_pyav(codec: str, encode: Codec, decode: Codec) -> None:
    pcm = tone(8000, 160, frequency=1000.0)
    enc = av.CodecContext.create(codec, "w")
    enc.sample_rate, enc.layout, enc.format = 8000, "mono", "s16"
    enc.time_base = Fraction(1, 8000)
    frame = av.AudioFrame(format="s16", layout="mono", samples=160)
    frame.sample_rate, frame.pts = 8000, 0
    frame.planes[0].update(pcm)
    theirs = b"".join(bytes(p) for p in enc.encode(frame))
    assert encode(pcm) == theirs
    dec = av.CodecContext.create(codec, "r")
    dec.sample_rate, dec.layout, dec.format = 8000, "mono", "s16"
    (out,) = dec.decode(av.Packet(theirs))
    assert decode(theirs) == bytes(out.planes[0])[:320]


@pytest.mark.parametrize(("name", "table"), [("PCMU", ulaw_encode), ("PCMA", alaw_encode)])
def test_g711_encoder_objects_match_the_tables_on_every_sample(name: str, table: Codec) -> None:
    # the encoders take the C path where the standard library still has it
    assert make_encoder(name, 8000).encode(EVERY_SAMPLE) == table(EVERY_SAMPLE)
    with pytest.raises(ValueError, match="even number"):
        make_encoder(name, 8000).encode(b"\x00")


def test_g711_edge_lengths() -> None:
    assert ulaw_encode(b"") == b"" and alaw_decode(b"") == b""
    assert ulaw_encode(b"\x00\x00") == b"\xff"
    assert alaw_encode(b"\x00\x00") == b"\xd5"
    with pytest.raises(ValueError, match="even number"):
        ulaw_encode(b"\x00")


# --------------------------------------------------------------------------- factories


@pytest.mark.parametrize(
    ("name", "clock", "rate", "frame", "payload"),
    [
        ("PCMU", 8000, 8000, 160, 160),
        ("pcma", 8000, 8000, 160, 160),
        ("G722", 8000, 16000, 320, 160),
        ("opus", 48000, 48000, 960, None),
    ],
)
def test_factories(name: str, clock: int, rate: int, frame: int, payload: int | None) -> None:
    encoder: Encoder = make_encoder(name, clock, 2 if name == "opus" else 1)
    decoder: Decoder = make_decoder(name, clock)
    for codec in (encoder, decoder):
        assert (codec.name, codec.clock_rate) == (
            "opus" if name == "opus" else name.upper(),
            clock,
        )
        assert (codec.sample_rate, codec.samples_per_frame) == (rate, frame)
    data = encoder.encode(tone(rate, frame))
    if payload is not None:
        assert len(data) == payload
    assert len(decoder.decode(data)) == 2 * frame


@pytest.mark.parametrize(
    ("name", "clock", "channels", "message"),
    [
        ("iLBC", 8000, 1, "no codec"),
        ("PCMU", 16000, 1, "clock of 8000"),
        ("G722", 16000, 1, "clock of 8000"),
        ("opus", 48000, 3, "3 channels"),
        ("PCMA", 8000, 2, "2 channels"),
    ],
)
def test_factories_reject(name: str, clock: int, channels: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_encoder(name, clock, channels)
    with pytest.raises(ValueError, match=message):
        make_decoder(name, clock, channels)


def test_av_encoder_takes_one_frame_and_decoder_rejects_empty() -> None:
    with pytest.raises(ValueError, match="frames of 960 samples"):
        make_encoder("opus", 48000).encode(bytes(2 * 959))
    with pytest.raises(ValueError, match="empty"):
        make_decoder("G722", 8000).decode(b"")


# --------------------------------------------------------------------------- quality


@pytest.mark.parametrize(("name", "clock", "minimum_db"), [
    ("opus", 48000, 20.0), ("G722", 8000, 20.0), ("PCMU", 8000, 30.0), ("PCMA", 8000, 30.0),
])  # fmt: skip
def test_round_trip_snr_on_a_tone(name: str, clock: int, minimum_db: float) -> None:
    encoder, decoder = make_encoder(name, clock), make_decoder(name, clock)
    spf = encoder.samples_per_frame
    out = b"".join(
        decoder.decode(encoder.encode(tone(encoder.sample_rate, spf, k * spf))) for k in range(15)
    )
    assert len(out) == 15 * 2 * spf
    steady = out[2 * 5 * spf :]  # past the codec's start-up
    assert tone_snr_db(steady, encoder.sample_rate) >= minimum_db
    # noise alone is far from a tone: the measure can fail
    assert tone_snr_db(bytes(range(256)) * (len(steady) // 256), encoder.sample_rate) < 3.0


# --------------------------------------------------------------------------- concealment


@pytest.mark.parametrize(("name", "clock"), [("PCMU", 8000), ("G722", 8000)])
def test_conceal_fades_the_last_frame_to_silence(name: str, clock: int) -> None:
    encoder, decoder = make_encoder(name, clock), make_decoder(name, clock)
    spf, rate = decoder.samples_per_frame, decoder.sample_rate
    assert decoder.conceal() == bytes(2 * spf)  # nothing decoded yet: silence
    last = b""
    for k in range(10):
        last = decoder.decode(encoder.encode(tone(rate, spf, k * spf)))
    frames = [decoder.conceal() for _ in range(4)]
    assert [len(f) for f in frames] == [2 * spf] * 4
    reference = array("h", last)
    first = array("h", frames[0])
    # gain 1 - 0.2 per 10 ms: sample i of the first frame is the last frame's, scaled
    per_sample = 0.2 / (rate / 100)
    for i in (0, spf // 3, spf - 1):
        assert first[i] == round(reference[i] * (1 - i * per_sample))
    peaks = [max(abs(s) for s in array("h", f)) for f in frames]
    assert peaks[0] > peaks[1] > peaks[2] > 0
    assert frames[2][-2:] == b"\x00\x00" or abs(array("h", frames[2])[-1]) <= 1
    assert frames[3] == bytes(2 * spf)  # 60 ms into the loss: silence
    # a real frame ends the concealment: the next loss starts at full gain again
    last = decoder.decode(encoder.encode(tone(rate, spf, 10 * spf)))
    again = array("h", decoder.conceal())
    assert again[0] == array("h", last)[0]
