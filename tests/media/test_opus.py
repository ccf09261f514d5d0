"""Opus through libopus: concealment that continues the signal and fades, round trip quality,
bit-stream compatibility with PyAV's (FFmpeg's) Opus both ways, and the native state freed."""

from __future__ import annotations

import gc
import math
import os
from array import array
from fractions import Fraction
from typing import Literal

import av
import pytest

from media.codecs import make_decoder, make_encoder
from media.opus import OpusDecoder, OpusEncoder, _lib, opus_version
from tests.media.test_codecs import tone, tone_snr_db

RATE, SPF = 48000, 960


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def tone_frames(count: int, start: int = 0) -> list[bytes]:
    return [tone(RATE, SPF, (start + k) * SPF) for k in range(count)]


def warmed_up_decoder(frames: int = 10) -> tuple[OpusDecoder, bytes]:
    """A decoder that has decoded ``frames`` frames of a 440 Hz tone; and the last one."""
    encoder, decoder = OpusEncoder(), OpusDecoder()
    last = b""
    for pcm in tone_frames(frames):
        last = decoder.decode(encoder.encode(pcm))
    encoder.close()
    return decoder, last


def test_factories_give_the_libopus_classes() -> None:
    assert isinstance(make_encoder("opus", 48000, 2), OpusEncoder)
    assert isinstance(make_decoder("OPUS", 48000), OpusDecoder)
    assert opus_version().startswith("libopus ")


# --------------------------------------------------------------------------- concealment


def test_conceal_before_any_packet_is_one_frame_of_silence() -> None:
    assert OpusDecoder().conceal() == bytes(2 * SPF)


def test_conceal_continues_the_tone_then_fades_out() -> None:
    decoder, last = warmed_up_decoder()
    assert tone_snr_db(last, RATE) >= 20.0
    frames = [decoder.conceal() for _ in range(25)]
    assert [len(f) for f in frames] == [2 * SPF] * 25  # exactly one frame each
    # right after the tone: not silence, and the same 440 Hz sinusoid carried on in phase
    # across the frame boundary (one fitted sinusoid over the last real frame and the first
    # concealed one)
    assert rms(frames[0]) > 0.3 * rms(last)
    assert tone_snr_db(last + frames[0], RATE) >= 10.0
    # a plain repeat of the last frame breaks the phase (440 Hz is 8.8 periods per 20 ms):
    # the measure tells the two apart
    assert tone_snr_db(last + last, RATE) < 5.0
    # a long loss decays: falling over the first frames, then (near) silence
    levels = [rms(f) for f in frames]
    assert levels[0] > levels[1] > levels[2] > levels[3]
    assert max(levels[10:]) < 0.005 * rms(last)


def test_a_packet_after_a_loss_ends_the_concealment() -> None:
    decoder, _ = warmed_up_decoder()
    encoder = OpusEncoder()
    for _ in range(20):
        decoder.conceal()
    for pcm in tone_frames(5, start=30):
        out = decoder.decode(encoder.encode(pcm))
    assert tone_snr_db(out, RATE) >= 20.0
    assert rms(decoder.conceal()) > 0.3 * rms(out)


# --------------------------------------------------------------------------- quality


def test_round_trip_snr_on_a_tone() -> None:
    encoder, decoder = OpusEncoder(), OpusDecoder()
    packets = [encoder.encode(pcm) for pcm in tone_frames(15)]
    assert all(0 < len(p) <= 1275 for p in packets)
    out = b"".join(decoder.decode(p) for p in packets)
    assert len(out) == 15 * 2 * SPF
    assert tone_snr_db(out[2 * 5 * SPF :], RATE) >= 20.0


def _pyav(mode: Literal["r", "w"]) -> av.AudioCodecContext:
    ctx = av.CodecContext.create("libopus", mode)
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate, ctx.layout, ctx.format = RATE, "mono", "s16"
    return ctx


def test_pyav_decodes_our_packets() -> None:
    encoder, theirs = OpusEncoder(), _pyav("r")
    out = []
    for pcm in tone_frames(15):
        frames = theirs.decode(av.Packet(encoder.encode(pcm)))
        out += [bytes(frame.planes[0])[: 2 * frame.samples] for frame in frames]
    decoded = b"".join(out)
    assert len(decoded) == 15 * 2 * SPF
    assert tone_snr_db(decoded[2 * 5 * SPF :], RATE) >= 20.0


def test_we_decode_pyavs_packets() -> None:
    theirs = _pyav("w")
    theirs.time_base = Fraction(1, RATE)
    theirs.bit_rate = 32000
    decoder = OpusDecoder()
    out = []
    for k, pcm in enumerate(tone_frames(15)):
        frame = av.AudioFrame(format="s16", layout="mono", samples=SPF)
        frame.sample_rate, frame.pts = RATE, k * SPF
        frame.planes[0].update(pcm)
        out += [decoder.decode(bytes(p)) for p in theirs.encode(frame)]
    assert all(len(pcm) == 2 * SPF for pcm in out) and len(out) >= 10
    assert tone_snr_db(b"".join(out[5:]), RATE) >= 20.0


# --------------------------------------------------------------------------- errors


def test_rejects() -> None:
    encoder, decoder = OpusEncoder(), OpusDecoder()
    with pytest.raises(ValueError, match="frames of 960 samples"):
        encoder.encode(bytes(2 * SPF - 2))
    with pytest.raises(ValueError, match="empty opus payload"):
        decoder.decode(b"")
    # TOC code 3 with a frame count of 0 (RFC 6716 §3.2.5, R5): invalid
    with pytest.raises(ValueError, match="opus payload rejected"):
        decoder.decode(b"\xfb\x00")
    with pytest.raises(ValueError, match="opus_encoder_ctl"):
        OpusEncoder(complexity=11)


def test_closed_objects_raise_and_close_twice_is_harmless() -> None:
    encoder, decoder = OpusEncoder(), OpusDecoder()
    encoder.close()
    decoder.close()
    encoder.close()
    decoder.close()
    with pytest.raises(ValueError, match="closed"):
        encoder.encode(bytes(2 * SPF))
    with pytest.raises(ValueError, match="closed"):
        decoder.conceal()


# --------------------------------------------------------------------------- native state


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_leak_over_many_create_close_cycles() -> None:
    cycles = 1500
    lib = _lib()
    state_size = lib.opus_encoder_get_size(1) + lib.opus_decoder_get_size(1)
    limit = 16 * 1024 * 1024
    assert cycles * state_size > 4 * limit  # a leak would show well past the limit
    pcm = tone(RATE, SPF)
    for _ in range(50):  # let the allocator settle
        OpusEncoder().close()
        OpusDecoder().close()
    before = _rss()
    for k in range(cycles):
        encoder, decoder = OpusEncoder(), OpusDecoder()
        if k % 100 == 0:
            decoder.decode(encoder.encode(pcm))
        if k % 2:  # closed explicitly, or freed by the finalizer when dropped
            encoder.close()
            decoder.close()
        del encoder, decoder
    gc.collect()
    assert _rss() - before < limit


def test_finalizer_frees_a_dropped_object() -> None:
    encoder, decoder = OpusEncoder(), OpusDecoder()
    finalizers = [encoder._finalizer, decoder._finalizer]
    assert all(f.alive for f in finalizers)
    del encoder, decoder
    assert not any(f.alive for f in finalizers)
