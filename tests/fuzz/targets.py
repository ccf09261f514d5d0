"""Fuzz targets: each takes arbitrary bytes and may raise only the documented exceptions.

Shared by the bounded hypothesis run of the normal suite (tests/fuzz/test_fuzz.py) and the long
coverage-guided run (scripts/fuzz, atheris). A target returning normally or raising one of its
allowed exceptions is a pass; anything else, or a hang, is a finding.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from pathlib import Path

from media.rtp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtpPacket,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    parse_rtcp,
    parse_rtp,
    payload_end,
    peek_rtp,
    serialize_rtcp,
)
from sipcore import ParseError, Request, SipError, StreamFramer, parse_message
from sipcore.auth import authorization
from sipcore.flow import Flow
from sipcore.headers import AuthHeader
from sipcore.message import Limits
from sipcore.transaction_layer import TransactionLayer
from sipcore.uri import parse_name_addr, parse_uri

TORTURE = Path(__file__).resolve().parent.parent / "data" / "torture"
_LAZY = (
    "routes",
    "record_routes",
    "content_type",
    "allow",
    "supported",
    "require",
    "proxy_require",
    "unsupported",
    "www_authenticate",
    "proxy_authenticate",
    "authorization",
    "proxy_authorization",
    "min_expires",
)
_UDP = Flow("UDP", ("192.0.2.1", 5060), ("192.0.2.2", 5060))


def seeds() -> list[bytes]:
    """The project's torture messages: the starting corpus."""
    return [path.read_bytes() for path in sorted(TORTURE.glob("*.sip"))]


def rtp_seeds() -> list[bytes]:
    """Valid RTP packets: plain G.711, Opus with one-byte extensions, two-byte extensions,
    CSRCs and padding, a non-RFC 8285 block."""
    return [
        RtpPacket(payload_type=0, sequence_number=1, timestamp=160, ssrc=1,
                  payload=bytes(160)).serialize(),
        RtpPacket(marker=True, payload_type=111, sequence_number=0xFFFF, timestamp=0xFFFFFC40,
                  ssrc=0xDEADBEEF, extensions={1: b"\x9e", 2: b"0"},
                  payload=bytes(range(88))).serialize(),
        RtpPacket(payload_type=9, csrc=(1, 2, 3), extensions={15: b"", 3: b"x" * 20},
                  payload=b"g722", padding_size=6).serialize(),
        RtpPacket(extension=True, extensions={-1: b"\x01\x02\x03\x04"},
                  extension_profile=0xABAC, payload=b"a").serialize(),
    ]  # fmt: skip


def rtcp_seeds() -> list[bytes]:
    """Valid RTCP compound packets: SR + SDES, RR + BYE with a reason, padded APP, RTPFB."""
    block = ReportBlock(0xAABBCCDD, 25, -3, 0x1FFFF, 44, 0x12345678, 65536)
    return [
        serialize_rtcp([
            SenderReport(1, 0xE8F2A4C980000000, 160, 3, 480, [block]),
            SourceDescription([(1, [(1, b"user@host")]), (2, [(1, b"x"), (6, b"tool")])]),
        ]),
        serialize_rtcp([ReceiverReport(2, [block, block]), Bye([1, 2], b"gone")]),
        serialize_rtcp([ReceiverReport(3), UnknownRtcp(204, 1, b"\0\0\0\1name\0\0\0\4", True)]),
        serialize_rtcp([UnknownRtcp(205, 1, bytes(12))]),
    ]  # fmt: skip


def rtp_packet(data: bytes) -> None:
    """parse_rtp raises only ValueError; peek_rtp agrees with it; what it accepts serializes to
    bytes that parse to the same packet."""
    try:
        pkt = parse_rtp(data)
    except ValueError:
        return
    peeked = peek_rtp(data)
    assert peeked is not None
    assert peeked[:5] == (
        pkt.payload_type, pkt.sequence_number, pkt.timestamp, pkt.ssrc, pkt.marker,
    )  # fmt: skip
    assert data[peeked[5] : payload_end(data)] == pkt.payload
    again = parse_rtp(pkt.serialize())
    assert again.extensions == pkt.extensions
    assert (again.payload, again.csrc, again.padding_size) == (
        pkt.payload, pkt.csrc, pkt.padding_size,
    )  # fmt: skip


def rtcp_compound(data: bytes) -> None:
    """parse_rtcp raises only ValueError; what it accepts serializes to bytes that parse to
    the same packets."""
    try:
        packets = parse_rtcp(data)
    except ValueError:
        return
    assert packets
    assert parse_rtcp(serialize_rtcp(packets)) == packets


DELIMS = [b"\r\n", b"\r\n\r\n", b":", b";", b",", b"<", b">", b'"', b"\\", b" ", b"\t", b"%"]
"""Delimiters the mutators insert."""
MUTATIONS = ("flip", "cut", "dup", "insert", "splice")


def mutate(rng: random.Random, corpus: list[bytes]) -> bytes:
    """A seeded mutation of one message of ``corpus``, with the edits of the hypothesis
    strategy in test_fuzz (byte flips, cuts, duplicated runs, inserted delimiters, splices),
    for runs that replay a fixed set of inputs."""
    buf = bytearray(rng.choice(corpus))
    for _ in range(rng.randint(1, 8)):
        kind = rng.choice(MUTATIONS)
        pos = rng.randint(0, max(0, len(buf) - 1))
        if kind == "flip" and buf:
            buf[pos] = rng.randint(0, 255)
        elif kind == "cut":
            del buf[pos : pos + rng.randint(1, 64)]
        elif kind == "dup":
            buf[pos:pos] = buf[pos : pos + rng.randint(1, 200)]
        elif kind == "insert":
            buf[pos:pos] = rng.choice(DELIMS)
        else:
            other = rng.choice(corpus)
            start = rng.randint(0, max(0, len(other) - 1))
            buf[pos:pos] = other[start : start + rng.randint(1, 300)]
    return bytes(buf)


def sip_message(data: bytes) -> None:
    """parse_message raises only ParseError; what it accepts serializes to bytes it accepts
    again, with the same identity; lazy accessors raise only ParseError."""
    try:
        msg = parse_message(data, limits=Limits(max_message_size=16384))
    except ParseError:
        return
    for name in _LAZY:
        with contextlib.suppress(ParseError):
            getattr(msg, name)
    for addr in (msg.from_, msg.to, *msg.contacts):
        assert isinstance(addr.params, dict)
    again = parse_message(bytes(msg))
    assert again.call_id == msg.call_id
    assert again.cseq == msg.cseq
    assert [str(v) for v in again.vias] == [str(v) for v in msg.vias]
    if isinstance(msg, Request):
        assert isinstance(again, Request) and again.method == msg.method


def stream_framer(data: bytes) -> None:
    """The framer raises only ParseError, and cutting the stream anywhere yields the same
    messages (a CRLF CRLF ping cut in two reads as two pongs, RFC 5626 §4.4.1)."""
    whole: list[bytes] = []
    with contextlib.suppress(ParseError):
        whole = [
            m
            for m in StreamFramer(Limits(max_message_size=8192)).feed(data)
            if isinstance(m, bytes)
        ]
    cut = data[0] % (len(data) or 1) if data else 0
    framer = StreamFramer(Limits(max_message_size=8192))
    parts: list[bytes] = []
    try:
        parts += [m for m in framer.feed(data[:cut]) if isinstance(m, bytes)]
        parts += [m for m in framer.feed(data[cut:]) if isinstance(m, bytes)]
    except ParseError:
        pass
    shorter = min(len(whole), len(parts))
    assert parts[:shorter] == whole[:shorter]


def transaction_layer(data: bytes) -> None:
    """The receive path never raises, whatever arrives, and timers run out."""
    layer = TransactionLayer()
    layer.receive(data, _UDP, 0.0)
    layer.receive(data, _UDP, 0.5)
    while layer.next_event() is not None:
        pass
    layer.data_to_send()
    layer.handle_timer(100.0)
    assert layer.get_timer() is None


def uris(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for parse in (parse_uri, parse_name_addr):
        with contextlib.suppress(ParseError):
            parse(text)


def auth_challenge(data: bytes) -> None:
    """A hostile challenge yields an Authorization value or a SipError, nothing else."""
    text = data.decode("utf-8", "replace")
    try:
        AuthHeader.parse(text)
        authorization(text, method="REGISTER", uri="sip:x", username="u", password="p")
    except SipError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sip_message": sip_message,
    "stream_framer": stream_framer,
    "transaction_layer": transaction_layer,
    "uris": uris,
    "auth_challenge": auth_challenge,
    "rtp_packet": rtp_packet,
    "rtcp_compound": rtcp_compound,
}

_SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "rtp_packet": rtp_seeds,
    "rtcp_compound": rtcp_seeds,
}


def seeds_for(name: str) -> list[bytes]:
    """The starting corpus of one target: its own packets, else the torture messages."""
    return _SEEDS.get(name, seeds)()
