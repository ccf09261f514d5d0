"""Opus (RFC 6716) through libopus, called with ``ctypes``: one encoder and one decoder per
stream direction, 48 kHz mono 16-bit PCM, one 20 ms frame (960 samples) per call.

Why not PyAV: FFmpeg takes an empty packet for end of stream, so it cannot reach libopus's
packet loss concealment; here :meth:`OpusDecoder.conceal` calls ``opus_decode`` with no packet
(RFC 6716 §4.4), which extrapolates the signal (pitch and spectral envelope) and fades it out
over a long loss. Calling libopus directly is also faster than PyAV for one frame (see
``benchmarks/bench_rtp.py``).

In-band FEC (RFC 6716 §2.1.7, ``decode_fec=1`` with the packet after the lost one) is not used:
the jitter buffer hands the decoder one frame at a time (a ``PlayoutFrame`` payload of None for a
loss) and does not offer the next packet, so a loss is concealed with PLC only.

The native state is freed by :meth:`close` or, failing that, when the object is collected.
The shared library is the system's ``libopus.so.0`` (Debian package ``libopus0``), loaded on
first use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref

__all__ = ["OpusDecoder", "OpusEncoder", "opus_version"]

SAMPLE_RATE = 48000
SAMPLES_PER_FRAME = 960  # 20 ms
MAX_FRAME_SAMPLES = 5760  # 120 ms, the longest Opus packet (RFC 6716 §3.2.5)
MAX_PACKET_BYTES = 1500  # RFC 6716 §3.4 R5: a 20 ms packet is at most 1275 bytes

OPUS_APPLICATION_VOIP = 2048
OPUS_SET_BITRATE_REQUEST = 4002
OPUS_SET_COMPLEXITY_REQUEST = 4010
OPUS_OK = 0


@functools.cache
def _lib() -> ctypes.CDLL:
    """libopus with the prototypes used here; ``OSError`` when it is not installed."""
    try:
        lib = ctypes.CDLL("libopus.so.0")
    except OSError:
        name = ctypes.util.find_library("opus")
        if name is None:
            raise OSError("libopus is not installed (Debian package libopus0)") from None
        lib = ctypes.CDLL(name)
    p_int = ctypes.POINTER(ctypes.c_int)
    lib.opus_get_version_string.argtypes = []
    lib.opus_get_version_string.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [ctypes.c_int]
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int, p_int]
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_destroy.restype = None
    # opus_encoder_ctl is variadic: only the fixed arguments get a prototype
    lib.opus_encoder_ctl.restype = ctypes.c_int
    lib.opus_encode.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int32
    ]  # fmt: skip
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, p_int]
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decoder_destroy.restype = None
    lib.opus_decode.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int,
        ctypes.c_int,
    ]  # fmt: skip
    lib.opus_decode.restype = ctypes.c_int
    return lib


def opus_version() -> str:
    """The libopus version string, e.g. ``"libopus 1.3.1"``."""
    return str(_lib().opus_get_version_string().decode())


def _error(code: int) -> str:
    return str(_lib().opus_strerror(code).decode())


class OpusEncoder:
    """libopus encoder, ``OPUS_APPLICATION_VOIP``, mono at 48 kHz, 20 ms frames."""

    name = "opus"
    clock_rate = SAMPLE_RATE  # RFC 7587 §4.1: the RTP clock is always 48 kHz
    sample_rate = SAMPLE_RATE
    samples_per_frame = SAMPLES_PER_FRAME

    def __init__(self, bit_rate: int = 32000, complexity: int = 9) -> None:
        lib = _lib()
        err = ctypes.c_int(0)
        state = lib.opus_encoder_create(SAMPLE_RATE, 1, OPUS_APPLICATION_VOIP, ctypes.byref(err))
        if err.value != OPUS_OK or not state:
            raise ValueError(f"opus_encoder_create: {_error(err.value)}")
        self._state: int | None = state
        self._finalizer = weakref.finalize(self, lib.opus_encoder_destroy, state)
        for request, value in (
            (OPUS_SET_BITRATE_REQUEST, bit_rate),
            (OPUS_SET_COMPLEXITY_REQUEST, complexity),
        ):
            code = lib.opus_encoder_ctl(ctypes.c_void_p(state), request, ctypes.c_int32(value))
            if code != OPUS_OK:
                self.close()
                raise ValueError(f"opus_encoder_ctl({request}, {value}): {_error(code)}")
        self._encode = lib.opus_encode
        self._out = ctypes.create_string_buffer(MAX_PACKET_BYTES)
        self._out_view = memoryview(self._out)

    def encode(self, pcm: bytes) -> bytes:
        """One frame of PCM (exactly ``samples_per_frame`` samples) to one payload."""
        if len(pcm) != 2 * SAMPLES_PER_FRAME:
            raise ValueError(f"opus encodes frames of {SAMPLES_PER_FRAME} samples")
        if self._state is None:
            raise ValueError("opus encoder is closed")
        size = self._encode(self._state, pcm, SAMPLES_PER_FRAME, self._out, MAX_PACKET_BYTES)
        if size < 0:
            raise ValueError(f"opus_encode: {_error(size)}")
        return self._out_view[:size].tobytes()

    def close(self) -> None:
        """Free the native state (again: nothing); :meth:`encode` then raises."""
        self._state = None
        self._finalizer()


class OpusDecoder:
    """libopus decoder, mono at 48 kHz; :meth:`conceal` is libopus's PLC."""

    name = "opus"
    clock_rate = SAMPLE_RATE
    sample_rate = SAMPLE_RATE
    samples_per_frame = SAMPLES_PER_FRAME

    def __init__(self) -> None:
        lib = _lib()
        err = ctypes.c_int(0)
        state = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(err))
        if err.value != OPUS_OK or not state:
            raise ValueError(f"opus_decoder_create: {_error(err.value)}")
        self._state: int | None = state
        self._finalizer = weakref.finalize(self, lib.opus_decoder_destroy, state)
        self._decode = lib.opus_decode
        self._pcm = ctypes.create_string_buffer(2 * MAX_FRAME_SAMPLES)
        self._pcm_view = memoryview(self._pcm)

    def decode(self, payload: bytes) -> bytes:
        """PCM of one payload (a packet of up to 120 ms); ``ValueError`` if libopus rejects
        it."""
        if not payload:
            raise ValueError("empty opus payload")
        return self._run(payload, len(payload), MAX_FRAME_SAMPLES)

    def conceal(self) -> bytes:
        """One frame of PLC (RFC 6716 §4.4): libopus continues the signal from its state and
        fades it out as the loss goes on; silence before the first packet."""
        return self._run(None, 0, SAMPLES_PER_FRAME)

    def _run(self, payload: bytes | None, size: int, frame_size: int) -> bytes:
        if self._state is None:
            raise ValueError("opus decoder is closed")
        samples = self._decode(self._state, payload, size, self._pcm, frame_size, 0)
        if samples < 0:
            raise ValueError(f"opus payload rejected: {_error(samples)}")
        return self._pcm_view[: 2 * samples].tobytes()

    def close(self) -> None:
        """Free the native state (again: nothing); :meth:`decode` then raises."""
        self._state = None
        self._finalizer()
