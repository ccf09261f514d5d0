"""Fuzz targets: each takes arbitrary bytes and may raise only the documented exceptions.

Shared by the bounded hypothesis run of the normal suite (tests/fuzz/test_fuzz.py) and the long
coverage-guided run (scripts/fuzz, atheris). A target returning normally or raising one of its
allowed exceptions is a pass; anything else, or a hang, is a finding.
"""

from __future__ import annotations

import contextlib
import copy
import random
import struct
from collections.abc import Callable
from pathlib import Path

from aioice import stun as aioice_stun

from client.web.netcheck import binding_answer
from media import sdp as sdp_model
from media.dtmf import (
    DIGITS,
    DtmfReceiver,
    DtmfSender,
    decode_payload,
    encode_payload,
    info_body,
    parse_info,
)
from media.jitter import JitterBuffer, JitterConfig
from media.offer_answer import (
    answer_telephone_event,
    ensure_telephone_event,
    filter_codecs,
    holds,
    ice_ufrag,
    negotiated_audio,
    negotiated_codecs,
    remote_hold,
    require_srtp,
    set_direction,
)
from media.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    parse_rtcp,
    serialize_rtcp,
)
from media.rtp import RtpPacket, parse_rtp, payload_end, peek_rtp
from media.sdp import SdpError
from sipcore import ParseError, Request, SipError, StreamFramer, parse_message
from sipcore.auth import authorization
from sipcore.flow import Flow
from sipcore.headers import AuthHeader
from sipcore.message import Limits
from sipcore.transaction_layer import TransactionLayer
from sipcore.uri import parse_name_addr, parse_uri
from tests.media.sdp_samples import AIORTC_ANSWER, CHROMIUM_OFFER, PBX_OFFER

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


# --- SDP (media.sdp, media.offer_answer) -------------------------------------------------------

_LOCAL = sdp_model.parse(AIORTC_ANSWER)
"""A local description the offer/answer helpers compare the fuzzed one with."""


def sdp_seeds() -> list[bytes]:
    """Valid descriptions: a browser offer, an aiortc answer, a PBX offer over plain RTP, and
    one with LF line ends, session-level attributes and an unknown line type."""
    lf = (
        "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=x\nc=IN IP4 0.0.0.0\nb=AS:64\nt=0 0\na=sendonly\n"
        "a=ice-ufrag:abcd\ny=unknown\nm=audio 4000/2 RTP/AVP 0 101 96\na=rtpmap:101 "
        "telephone-event/8000\na=fmtp:101 0-15\na=rtcp-fb:* nack\nm=video 0 RTP/AVP 31\n"
    )
    return [text.encode() for text in (CHROMIUM_OFFER, AIORTC_ANSWER, PBX_OFFER, lf)]


def _read_views(description: sdp_model.SessionDescription) -> None:
    """Every typed view of the model; they must not raise on anything parse accepted."""
    description.origin, description.name, description.timing, description.bundle  # noqa: B018
    description.ice_lite  # noqa: B018
    for block in (description, *description.media):
        block.attributes(), block.connection, block.bandwidths, block.direction
        block.ice_ufrag, block.ice_pwd, block.ice_options, block.fingerprints  # noqa: B018
        block.setup  # noqa: B018
    for section in description.media:
        section.candidates, section.mid, section.rtcp_mux, section.end_of_candidates  # noqa: B018
        for codec in section.codecs:
            codec.parameters, codec.encoding  # noqa: B018
            section.rtcp_feedback(codec.payload_type)
        description.direction_of(section), description.connection_of(section)
        remote_hold(section, description)


def sdp(data: bytes) -> None:
    """parse raises only SdpError; what parses serializes to text that parses to the same
    text, and to the input itself when that was CRLF-terminated text; the typed views never
    raise; the offer/answer helpers that read a remote description raise only SdpError
    (require_srtp) or ValueError (the documented refusals) and leave serializable SDP."""
    ice_ufrag(data), holds(data)
    with contextlib.suppress(SdpError):
        require_srtp(data)
    try:
        description = sdp_model.parse(data)
    except SdpError:
        return
    text = description.serialize()
    assert sdp_model.parse(text).serialize() == text
    body = data.replace(b"\r\n", b"")
    if data.endswith(b"\r\n") and not data.endswith(b"\r\n\r\n") and b"\n" not in body:
        assert text == data.decode()
    _read_views(description)
    description.bump_version()
    for section in description.media:
        negotiated_codecs(_LOCAL.media[0], section)
        negotiated_codecs(section, _LOCAL.media[0])
        negotiated_audio(_LOCAL.media[0], section)
        negotiated_audio(section, _LOCAL.media[0])
        answer = copy.deepcopy(_LOCAL.media[0])
        with contextlib.suppress(ValueError):
            answer_telephone_event(section, answer)
        assert sdp_model.parse(_LOCAL.serialize()).media  # the shared one is untouched
        with contextlib.suppress(ValueError):
            answer_telephone_event(_LOCAL.media[0], section)
        with contextlib.suppress(ValueError):
            filter_codecs(section, ["opus", "PCMU/8000", "telephone-event"])
        with contextlib.suppress(ValueError):
            ensure_telephone_event(section)
        set_direction(section, "sendonly")
        assert section.direction == "sendonly"
    text = description.serialize()
    assert sdp_model.parse(text).serialize() == text


# --- RFC 4733 (media.dtmf) ---------------------------------------------------------------------

_INFO_TYPES = ("application/dtmf-relay", "application/dtmf", "Application/DTMF-Relay; x=1")


_DTMF_START = 0xFFFFF000  # timestamps wrap during the seeds' events


def dtmf_seeds() -> list[bytes]:
    """Packet trains of a short digit at 8000 Hz, a long (segmented) one and two digits at
    48000 Hz, in the record format of :func:`dtmf_payload`; then an INFO body."""
    seeds = []
    for clock_rate, digits, duration_ms in ((8000, "5", 100), (48000, "#", 2000),
                                             (48000, "1A", 200)):  # fmt: skip
        sender = DtmfSender(clock_rate)
        out = bytearray()
        start = _DTMF_START
        for digit in digits:
            for seq, pkt in enumerate(sender.packets(digit, duration_ms=duration_ms,
                                                     start_timestamp=start)):  # fmt: skip
                offset = (pkt.timestamp - _DTMF_START) & 0xFFFFFFFF
                out += struct.pack("!HIB", seq, offset, pkt.marker) + pkt.payload
            start = (start + sender.units(duration_ms + 100)) & 0xFFFFFFFF
        seeds.append(bytes(out))
    seeds.append(b"\x00" + info_body("7")[1])
    return seeds


def dtmf_payload(data: bytes) -> None:
    """decode_payload raises only ValueError and inverts encode_payload (R bit aside);
    DtmfReceiver.feed never raises, reports only digits, at most one per event timestamp,
    keeps its memory bounded, and ignores duplicated packets; parse_info gives a digit or
    None. Records are 11 bytes: sequence number, timestamp offset (a signed 24-bit offset from
    a start just before the wrap, so the receiver's memory horizon stays meaningful), flags
    (bit 0 the marker; 0xF0-0xF7 a payload of the low 3 bits' length) and 4 payload bytes."""
    for i in range(0, min(len(data), 64), 4):
        chunk = data[i : i + 4]
        try:
            event = decode_payload(chunk)
        except ValueError:
            assert len(chunk) != 4
            continue
        assert encode_payload(event.event, end=event.end, volume=event.volume,
                              duration=event.duration) == bytes((chunk[0], chunk[1] & 0xBF,
                                                                 *chunk[2:]))  # fmt: skip
    once, twice = DtmfReceiver(history=4), DtmfReceiver(history=4)
    heard: list[str] = []
    heard_twice: list[str] = []
    timestamps: set[int] = set()
    for pos in range(0, min(len(data), 11 * 150) - 10, 11):
        sequence, offset, flags = struct.unpack_from("!HIB", data, pos)
        offset = ((offset & 0xFFFFFF) ^ 0x800000) - 0x800000
        timestamp = (_DTMF_START + offset) & 0xFFFFFFFF
        payload = data[pos + 7 : pos + 7 + (4 if flags < 0xF0 else flags & 7)]
        fed = {"sequence": sequence, "timestamp": timestamp, "marker": bool(flags & 1)}
        heard += once.feed(**fed, payload=payload)
        heard_twice += twice.feed(**fed, payload=payload)
        heard_twice += twice.feed(**fed, payload=payload)
        if len(payload) == 4 and payload[0] < 16:
            timestamps.add(timestamp)
        assert len(once._events) <= 4 + 2
    assert all(digit in DIGITS and len(digit) == 1 for digit in heard)
    assert len(heard) <= len(timestamps)
    assert heard_twice == heard
    kind = _INFO_TYPES[data[0] % len(_INFO_TYPES)] if data else _INFO_TYPES[0]
    digit = parse_info(kind, data[1:])
    assert digit is None or (len(digit) == 1 and digit in DIGITS)


# --- STUN (aioice's parser as the client and ICE call it) --------------------------------------

_TRANSACTION = bytes(range(12))


def stun_seeds() -> list[bytes]:
    """A Binding request, a success response with XOR-MAPPED-ADDRESS, one with
    MESSAGE-INTEGRITY and FINGERPRINT as ICE sends them, and an error response."""
    request = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST,
                                  transaction_id=_TRANSACTION)  # fmt: skip
    request.attributes.update({"PRIORITY": 1853824767, "USERNAME": "a:b",
                               "ICE-CONTROLLING": 0x1122334455667788})  # fmt: skip
    request.add_message_integrity(b"password")
    request.add_fingerprint()
    ok = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.RESPONSE,
                             transaction_id=_TRANSACTION)  # fmt: skip
    ok.attributes["XOR-MAPPED-ADDRESS"] = ("192.0.2.1", 40000)
    ok6 = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.RESPONSE,
                              transaction_id=_TRANSACTION)  # fmt: skip
    ok6.attributes["XOR-MAPPED-ADDRESS"] = ("2001:db8::1", 3478)
    ok6.attributes["MAPPED-ADDRESS"] = ("2001:db8::1", 3478)
    error = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.ERROR,
                                transaction_id=_TRANSACTION)  # fmt: skip
    error.attributes["ERROR-CODE"] = (487, "Role Conflict")
    plain = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    return [bytes(m) for m in (request, ok, ok6, error, plain)]


def stun(data: bytes) -> None:
    """aioice's parse_message raises only ValueError or struct.error (what aioice's own ICE
    receive path lets escape, and what the network check catches); the check's
    binding_answer never raises and returns only a message with our transaction id, whose
    mapped address reads as (host, port)."""
    with contextlib.suppress(ValueError, struct.error):
        aioice_stun.parse_message(data)
    for transaction in (_TRANSACTION, data[8:20]):
        answer = binding_answer(data, transaction)
        if answer is None:
            continue
        assert answer.transaction_id == transaction
        address = answer.attributes.get("XOR-MAPPED-ADDRESS") or answer.attributes.get(
            "MAPPED-ADDRESS"
        )
        if address is not None:
            str(address[0]), int(address[1])


# --- jitter buffer -----------------------------------------------------------------------------

_JITTER = JitterConfig(max_packets=16, window=0.5, max_misorder=20, max_dropout=200)


def jitter_seeds() -> list[bytes]:
    """Records of :func:`jitter`: a clean 20 ms stream, one with loss and reordering, one with
    a talkspurt gap and marker, and an SSRC change with a sequence jump."""
    clean = bytes([1, 1, 0, 20, 1] * 30)
    lossy = bytes([1, 1, 0, 20, 1, 2, 2, 0, 20, 1, 0xFF, 0xFF, 0, 0, 2, 3, 3, 0, 25, 1] * 8)
    gap = bytes([1, 1, 0, 20, 1] * 10 + [1, 50, 1, 200, 0] + [1, 1, 0, 20, 1] * 10)
    jump = bytes([1, 1, 0, 20, 1] * 8 + [0x7F, 1, 2, 20, 1, 1, 1, 2, 20, 1] + [1, 1, 2, 20, 1] * 8)
    return [clean, lossy, gap, jump]


def jitter(data: bytes) -> None:
    """Push/pop sequences decoded from the bytes (5 per step: sequence step, timestamp step in
    frames, SSRC and marker bits, arrival step in ms, pops) never raise, keep at most
    max_packets, play the packets of a stream in timestamp order, each once, and keep the
    counters consistent: ``played`` is the number of frames returned with a payload."""
    buf = JitterBuffer(8000, _JITTER)
    seq, ts, now = 1000, 0xFFFFF000, 0.0
    played, last, resets = 0, None, 0
    for pos in range(0, len(data) - 4, 5):
        dseq, dts, flags, dt, pops = data[pos : pos + 5]
        seq = (seq + (dseq if dseq < 0x80 else dseq - 0x100)) & 0xFFFF
        ts = (ts + (dts if dts < 0x80 else dts - 0x100) * 160 + (flags >> 4)) & 0xFFFFFFFF
        now += dt / 1000
        buf.push(seq, ts, 0x1234 + (flags & 2), data[pos : pos + 1 + (flags & 12)], now,
                 marker=bool(flags & 1))  # fmt: skip
        assert buf.packets <= _JITTER.max_packets
        for _ in range(pops & 3):
            now += 0.02
            frame = buf.pop(now)
            if buf.stats().resets != resets:
                resets, last = buf.stats().resets, None
            if frame is None or frame[1] is None:
                continue  # concealment frames carry the playout position, not a packet's
            if last is not None:
                assert 0 < (frame[0] - last) & 0xFFFFFFFF < 1 << 31, "out of order"
            last = frame[0]
            played += 1
    stats = buf.stats()
    assert stats.played == played
    assert min(stats.played, stats.lost, stats.late, stats.dropped, stats.duplicates) >= 0
    assert _JITTER.min_delay <= buf.target_delay <= _JITTER.max_delay


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sip_message": sip_message,
    "stream_framer": stream_framer,
    "transaction_layer": transaction_layer,
    "uris": uris,
    "auth_challenge": auth_challenge,
    "rtp_packet": rtp_packet,
    "rtcp_compound": rtcp_compound,
    "sdp": sdp,
    "dtmf_payload": dtmf_payload,
    "stun": stun,
    "jitter": jitter,
}

_SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "rtp_packet": rtp_seeds,
    "rtcp_compound": rtcp_seeds,
    "sdp": sdp_seeds,
    "dtmf_payload": dtmf_seeds,
    "stun": stun_seeds,
    "jitter": jitter_seeds,
}


def seeds_for(name: str) -> list[bytes]:
    """The starting corpus of one target: its own packets, else the torture messages."""
    return _SEEDS.get(name, seeds)()
