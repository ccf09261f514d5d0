#!/usr/bin/env python3
"""RTP parse / serialize, G.711 and Opus throughput of ``media`` against aiortc.

Run from the project root::

    .venv/bin/python benchmarks/bench_rtp.py            # full run, Markdown on stdout
    .venv/bin/python benchmarks/bench_rtp.py --quick    # fewer and shorter rounds

Packets: (a) a PCMU packet of 172 bytes (12-byte header, 160 bytes of payload); (b) an Opus
packet of 100 bytes with the one-byte header extensions audio level (RFC 6464, id 1) and mid
(id 2), as a browser sends them. Each row times ours against aiortc on the same bytes:

* parse: ``media.rtp.parse_rtp`` vs ``aiortc.rtp.RtpPacket.parse`` (with an extension map
  for id 1 and 2 on the Opus packet, as aiortc's receiver has); and the hot path
  ``peek_rtp`` + ``payload_end`` + payload slice vs the same aiortc parse;
* serialize: ``RtpPacket.serialize`` vs aiortc's ``RtpPacket.serialize``; and the hot path
  ``pack_rtp_header(...) + payload`` (PCMU only: it writes no extension) vs the same;
* G.711 µ-law, one 20 ms frame: ``ulaw_encode`` / ``ulaw_decode`` vs aiortc's
  ``PcmuEncoder.encode(AudioFrame)`` / ``PcmuDecoder.decode(JitterFrame)`` (PyAV's pcm_mulaw).
* Opus, one 20 ms frame of a 440 Hz tone: ``media.opus`` (libopus through ctypes; mono, VOIP,
  32 kb/s, complexity 9) vs aiortc's ``OpusEncoder.encode(AudioFrame)`` (PyAV: resampled to
  stereo, VOIP, 96 kb/s, FFmpeg's default complexity 10) and ``OpusDecoder.decode(JitterFrame)``
  (stereo frames, not turned into bytes); not the same work, but each stack's own path. The
  decode row on aiortc's packet gives both sides the same bytes. Two more rows compare ctypes
  with PyAV's libopus at our settings, the choice ``media.opus`` made. Encode time is mostly
  libopus itself; the system libopus and the one bundled with PyAV may differ in version.
  Outputs are checked by decoding each side's packets with the other's decoder.

Every contender's output is checked against the other's before timing. Each contender runs
rounds of N calls (N sized for a target duration); ours and the peer alternate, the order
swapping every round, with the garbage collector on; the median per-call time over the rounds
is reported. *ratio* is the peer's median ÷ ours: above 1, ours is faster.
"""

from __future__ import annotations

import argparse
import fractions
import gc
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Runner = Callable[[], object]


@dataclass(frozen=True)
class Row:
    """One measured pair: median seconds per call of ours and of the peer."""

    name: str
    ours: float
    peer: float

    @property
    def ratio(self) -> float:
        """The peer's median ÷ ours (above 1: ours is faster)."""
        return self.peer / self.ours


@dataclass(frozen=True)
class Case:
    name: str
    ours: Runner
    peer: Runner


def _s16_frame(pcm: bytes, rate: int, pts: int) -> Any:
    """A mono s16 PyAV frame of ``pcm`` at ``rate``, with its pts in samples."""
    from media.tracks import _pcm_frame

    frame = _pcm_frame(pcm, rate=rate)
    frame.time_base = fractions.Fraction(1, rate)
    frame.pts = pts
    return frame


def _aiortc_map() -> object:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(
                    id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
                ),
                RTCRtpHeaderExtensionParameters(id=2, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            ]
        )
    )
    return extensions_map


def rtp_cases() -> list[Case]:
    from aiortc import rtp as theirs

    from media import rtp

    pcmu = rtp.RtpPacket(
        payload_type=0, sequence_number=4242, timestamp=679360, ssrc=0x1A2B3C4D,
        payload=bytes(range(160)),
    )  # fmt: skip
    opus = rtp.RtpPacket(
        marker=True, payload_type=111, sequence_number=65000, timestamp=0xFFFF0000,
        ssrc=0x5E6F7A8B, extensions={1: b"\x9e", 2: b"0"}, payload=bytes(range(80)),
    )  # fmt: skip
    pcmu_data, opus_data = pcmu.serialize(), opus.serialize()
    assert (len(pcmu_data), len(opus_data)) == (172, 100)
    empty_map = theirs.HeaderExtensionsMap()
    ext_map = _aiortc_map()
    parse, peek, payload_end = rtp.parse_rtp, rtp.peek_rtp, rtp.payload_end
    their_parse = theirs.RtpPacket.parse
    cases: list[Case] = []
    for label, data, ours_pkt, extensions_map in (
        ("PCMU 172 B", pcmu_data, pcmu, empty_map),
        ("Opus 100 B + audio-level, mid", opus_data, opus, ext_map),
    ):
        their_pkt = theirs.RtpPacket.parse(data, extensions_map)  # type: ignore[arg-type]
        # aiortc writes mid before audio-level: the same packet, in another order
        their_data = their_pkt.serialize(extensions_map)  # type: ignore[arg-type]
        assert rtp.parse_rtp(their_data) == rtp.parse_rtp(data)
        parsed = rtp.parse_rtp(data)
        assert (parsed.payload, parsed.extensions) == (ours_pkt.payload, ours_pkt.extensions)
        if ours_pkt.extensions:
            assert their_pkt.extensions.audio_level == (True, 0x1E)
            assert their_pkt.extensions.mid == "0"

        def peek_path(data: bytes = data) -> object:
            fields = peek(data)
            assert fields is not None
            return data[fields[5] : payload_end(data)]

        assert peek_path() == ours_pkt.payload
        cases += [
            Case(
                f"{label}: parse (`parse_rtp`)",
                lambda data=data: parse(data),
                lambda data=data, m=extensions_map: their_parse(data, m),
            ),
            Case(
                f"{label}: peek (`peek_rtp` + payload slice)",
                peek_path,
                lambda data=data, m=extensions_map: their_parse(data, m),
            ),
            Case(
                f"{label}: serialize (`RtpPacket.serialize`)",
                ours_pkt.serialize,
                lambda p=their_pkt, m=extensions_map: p.serialize(m),
            ),
        ]
    pack = rtp.pack_rtp_header
    payload = pcmu.payload
    their_pcmu = theirs.RtpPacket.parse(pcmu_data, empty_map)

    def pack_path() -> bytes:
        return pack(False, 0, 4242, 679360, 0x1A2B3C4D) + payload

    assert pack_path() == pcmu_data
    cases.append(
        Case(
            "PCMU 172 B: build (`pack_rtp_header` + payload)",
            pack_path,
            lambda: their_pcmu.serialize(empty_map),
        )
    )
    return cases


def g711_cases() -> list[Case]:
    import math
    from array import array

    from aiortc.codecs.g711 import PcmuDecoder, PcmuEncoder
    from aiortc.jitterbuffer import JitterFrame

    from media.codecs import ulaw_decode, ulaw_encode

    pcm = array(
        "h", (round(9000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(160))
    ).tobytes()
    encoder = PcmuEncoder()
    decoder = PcmuDecoder()

    def their_encode() -> bytes:
        packets, _ = encoder.encode(_s16_frame(pcm, 8000, 0))
        return packets[0]

    encoded = their_encode()
    assert ulaw_encode(pcm) == encoded
    jitter_frame = JitterFrame(data=encoded, timestamp=0)

    def their_decode() -> bytes:
        (frame,) = decoder.decode(jitter_frame)
        return bytes(frame.planes[0])[:320]

    assert ulaw_decode(encoded) == their_decode()
    return [
        Case("G.711 µ-law encode, 20 ms (`ulaw_encode`)", lambda: ulaw_encode(pcm), their_encode),
        Case(
            "G.711 µ-law decode, 20 ms (`ulaw_decode`)", lambda: ulaw_decode(encoded), their_decode
        ),
    ]


def opus_cases() -> list[Case]:
    import math
    from array import array

    import av
    from aiortc.codecs.opus import OpusDecoder as TheirDecoder
    from aiortc.codecs.opus import OpusEncoder as TheirEncoder
    from aiortc.jitterbuffer import JitterFrame
    from av import AudioFrame

    from media.opus import OpusDecoder, OpusEncoder

    pcm = array(
        "h", (round(9000 * math.sin(2 * math.pi * 440 * i / 48000)) for i in range(960))
    ).tobytes()
    encoder, decoder = OpusEncoder(), OpusDecoder()
    their_encoder, their_decoder = TheirEncoder(), TheirDecoder()
    pts = 0

    def their_encode() -> bytes:
        nonlocal pts
        frame = _s16_frame(pcm, 48000, pts)
        pts += 960
        packets, _ = their_encoder.encode(frame)
        return packets[0] if packets else b""

    ours = [encoder.encode(pcm) for _ in range(10)][-1]
    theirs = [their_encode() for _ in range(10)][-1]
    # each side decodes the other's packets: one 20 ms frame, mono here, stereo there
    their_frame = JitterFrame(data=ours, timestamp=0)
    (decoded,) = their_decoder.decode(their_frame)
    assert isinstance(decoded, AudioFrame)
    assert (decoded.samples, decoded.layout.nb_channels) == (960, 2)
    assert len(decoder.decode(theirs)) == 2 * 960
    jitter_frame = JitterFrame(data=theirs, timestamp=0)
    # PyAV's libopus with our settings (mono, VOIP, 32 kb/s, complexity 9): ctypes vs PyAV
    av_encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(av_encoder, av.AudioCodecContext)
    av_encoder.sample_rate, av_encoder.layout, av_encoder.format = 48000, "mono", "s16"
    av_encoder.time_base = fractions.Fraction(1, 48000)
    av_encoder.bit_rate = 32000
    av_encoder.options = {"application": "voip", "compression_level": "9"}
    av_encoder.open()
    av_pts = 0

    def av_encode() -> bytes:
        nonlocal av_pts
        frame = _s16_frame(pcm, 48000, av_pts)
        av_pts += 960
        return b"".join(bytes(p) for p in av_encoder.encode(frame))

    assert len(decoder.decode([av_encode() for _ in range(10)][-1])) == 2 * 960
    av_decoder = av.CodecContext.create("libopus", "r")
    assert isinstance(av_decoder, av.AudioCodecContext)
    av_decoder.sample_rate, av_decoder.layout, av_decoder.format = 48000, "mono", "s16"
    av_packet = av.Packet(ours)

    def av_decode() -> bytes:
        (frame,) = av_decoder.decode(av_packet)
        return bytes(frame.planes[0])[: 2 * frame.samples]

    assert len(av_decode()) == len(decoder.decode(ours))
    return [
        Case(
            "Opus encode, 20 ms, our settings: ctypes vs PyAV (not aiortc)",
            lambda: encoder.encode(pcm),
            av_encode,
        ),
        Case(
            "Opus decode, 20 ms, mono: ctypes vs PyAV (not aiortc)",
            lambda: decoder.decode(ours),
            av_decode,
        ),
        Case(
            "Opus encode, 20 ms (`media.opus`: mono 32 kb/s vs aiortc: stereo 96 kb/s)",
            lambda: encoder.encode(pcm),
            their_encode,
        ),
        Case(
            "Opus decode, 20 ms (`media.opus`: mono vs aiortc: stereo frames)",
            lambda: decoder.decode(ours),
            lambda: their_decoder.decode(jitter_frame),
        ),
        Case(
            "Opus decode, 20 ms, the same packet (aiortc's) both sides",
            lambda: decoder.decode(theirs),
            lambda: their_decoder.decode(jitter_frame),
        ),
    ]


@dataclass(frozen=True)
class Settings:
    repeats: int
    seconds: float


def _calibrate(timer: timeit.Timer, seconds: float) -> int:
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min(0.02, seconds / 2):
            return max(1, round(number * seconds / elapsed))
        number *= 10 if elapsed < 0.002 else 2


def measure(case: Case, settings: Settings) -> Row:
    """Median seconds per call of ours and of the peer, in alternating rounds."""
    timers = [timeit.Timer(case.ours, setup=gc.enable), timeit.Timer(case.peer, setup=gc.enable)]
    numbers = [_calibrate(t, settings.seconds) for t in timers]
    samples: list[list[float]] = [[], []]
    for round_no in range(settings.repeats):
        for i in (0, 1) if round_no % 2 == 0 else (1, 0):
            samples[i].append(timers[i].timeit(numbers[i]) / numbers[i])
    return Row(case.name, statistics.median(samples[0]), statistics.median(samples[1]))


def run(quick: bool = False) -> list[Row]:
    """Every case measured: the rows of the table, as data."""
    settings = Settings(repeats=5, seconds=0.05) if quick else Settings(repeats=15, seconds=0.2)
    rows = []
    for case in [*rtp_cases(), *g711_cases(), *opus_cases()]:
        rows.append(measure(case, settings))
        print(f"  {case.name}", file=sys.stderr)
    return rows


def render(rows: list[Row]) -> str:
    import aiortc
    import av

    lines = [
        "# RTP packets, G.711 and Opus: ours vs aiortc",
        "",
        f"- Python {platform.python_version()}, {platform.system()} {platform.machine()}; "
        f"aiortc {aiortc.__version__}, PyAV {av.__version__}",
        "- median µs per call; ratio = aiortc's median ÷ ours (above 1: ours is faster)",
        "",
        "| Case | ours µs | aiortc µs | ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.name} | {r.ours * 1e6:.2f} | {r.peer * 1e6:.2f} | {r.ratio:.1f}× |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="5 rounds of ~50 ms instead of 15 rounds of ~200 ms"
    )
    parser.add_argument("--markdown", metavar="PATH", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    text = render(run(args.quick))
    sys.stdout.write(text)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
