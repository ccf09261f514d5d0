"""RTP packets: round trips, every rejection branch, RFC 8285 examples, and the same bytes
through aiortc's parser and serializer."""

from __future__ import annotations

import struct

import pytest
from aiortc import rtp as aiortc_rtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp import (
    RAW_EXTENSION,
    RtpPacket,
    pack_rtp_header,
    parse_rtp,
    payload_end,
    peek_rtp,
)

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID = "urn:ietf:params:rtp-hdrext:sdes:mid"


def header(first: int = 0x80, second: int = 0, seq: int = 1, ts: int = 2, ssrc: int = 3) -> bytes:
    return struct.pack("!BBHII", first, second, seq, ts, ssrc)


def with_extension(profile: int, block: bytes, payload: bytes = b"pp") -> bytes:
    assert len(block) % 4 == 0
    return header(0x90) + struct.pack("!HH", profile, len(block) // 4) + block + payload


# --------------------------------------------------------------------------- RTP round trips


def test_fixed_header_fields_and_wrap_around_values() -> None:
    data = header(0x80, 0x80 | 0x7F, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + b"abc"
    pkt = parse_rtp(data)
    assert (pkt.marker, pkt.payload_type, pkt.sequence_number) == (True, 127, 0xFFFF)
    assert (pkt.timestamp, pkt.ssrc, pkt.payload) == (0xFFFFFFFF, 0xFFFFFFFF, b"abc")
    assert (pkt.padding, pkt.extension, pkt.csrc, pkt.extensions) == (False, False, (), {})
    assert pkt.serialize() == data


def test_csrc_padding_and_extension_round_trip() -> None:
    pkt = RtpPacket(
        marker=True,
        payload_type=111,
        sequence_number=7,
        timestamp=960,
        ssrc=0xDEADBEEF,
        csrc=(1, 0xFFFFFFFF),
        extensions={1: b"\x85", 2: b"0"},
        payload=b"opus",
        padding_size=5,
    )
    data = pkt.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 2
    assert data[-5:] == b"\x00\x00\x00\x00\x05"
    # fixed header, 2 CSRCs, BEDE header, [0x10 0x85 0x20 '0'], payload, padding
    assert data[20:28] == b"\xbe\xde\x00\x01\x10\x85\x20\x30"
    back = parse_rtp(data)
    assert back.padding and back.extension
    assert back.extension_profile == 0xBEDE
    assert back == RtpPacket(
        padding=True,
        extension=True,
        marker=True,
        payload_type=111,
        sequence_number=7,
        timestamp=960,
        ssrc=0xDEADBEEF,
        csrc=(1, 0xFFFFFFFF),
        extensions={1: b"\x85", 2: b"0"},
        payload=b"opus",
        extension_profile=0xBEDE,
        padding_size=5,
    )
    assert back.serialize() == data


def test_padding_to_the_whole_payload() -> None:
    data = header(0xA0) + b"\x00\x00\x03"
    pkt = parse_rtp(data)
    assert (pkt.payload, pkt.padding_size) == (b"", 3)


@pytest.mark.parametrize(
    ("extensions", "profile", "block"),
    [
        # one-byte form when every id is 1..14 and every value 1..16 bytes
        ({14: b"x" * 16}, 0xBEDE, b"\xef" + b"x" * 16 + b"\x00\x00\x00"),
        # a 17-byte value, an id of 15 or more, or an empty value need the two-byte form
        ({1: b"y" * 17}, 0x1000, b"\x01\x11" + b"y" * 17 + b"\x00"),
        ({15: b"z"}, 0x1000, b"\x0f\x01z\x00"),
        ({255: b""}, 0x1000, b"\xff\x00\x00\x00"),
    ],
)
def test_serialize_chooses_the_extension_form(
    extensions: dict[int, bytes], profile: int, block: bytes
) -> None:
    data = RtpPacket(extensions=extensions).serialize()
    assert data[12:16] == struct.pack("!HH", profile, len(block) // 4)
    assert data[16:] == block
    assert parse_rtp(data).extensions == extensions


def test_two_byte_profile_keeps_appbits_and_form() -> None:
    data = with_extension(0x1003, b"\x01\x01a\x00")
    pkt = parse_rtp(data)
    assert (pkt.extension_profile, pkt.extensions) == (0x1003, {1: b"a"})
    assert pkt.serialize() == data


def test_empty_extension_block() -> None:
    data = with_extension(0xBEDE, b"")
    pkt = parse_rtp(data)
    assert pkt.extension and pkt.extensions == {}
    assert pkt.serialize() == data


@pytest.mark.parametrize("profile", [0xABAC, 0])
def test_other_profile_is_kept_raw(profile: int) -> None:
    data = with_extension(profile, b"\x01\x02\x03\x04")
    pkt = parse_rtp(data)
    assert pkt.extensions == {RAW_EXTENSION: b"\x01\x02\x03\x04"}
    assert pkt.extension_profile == profile
    assert pkt.serialize() == data


@pytest.mark.parametrize(
    ("pkt", "message"),
    [
        (RtpPacket(csrc=tuple(range(16))), "15 CSRCs"),
        (RtpPacket(padding_size=256), "padding_size"),
        (RtpPacket(extensions={0: b"a"}), "id not in"),
        (RtpPacket(extensions={1: b"a" * 256}), "over 255"),
        (RtpPacket(extensions={RAW_EXTENSION: b"abcd"}, extension_profile=0xBEDE), "other than"),
        (RtpPacket(extensions={RAW_EXTENSION: b"abcd"}, extension_profile=0x1001), "other than"),
        (RtpPacket(extensions={RAW_EXTENSION: b"abc"}, extension_profile=5), "multiple of 4"),
        (RtpPacket(extensions={RAW_EXTENSION: b"abcd", 1: b"a"}, extension_profile=5), "alone"),
        (RtpPacket(extensions={1: b"a"}, extension_profile=5), "needs a raw block"),
    ],
)
def test_serialize_rejects(pkt: RtpPacket, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pkt.serialize()


# --------------------------------------------------------------------------- RFC 8285


def test_rfc8285_one_byte_example_with_padding_bytes() -> None:
    # RFC 8285 §4.2 figure: ID 1 with 1 byte, ID 2 with 2 bytes, padding, ID 3 with 4 bytes.
    block = b"\x10\xaa" + b"\x21\xbb\xbb" + b"\x00\x00" + b"\x33\xcc\xcc\xcc\xcc"
    pkt = parse_rtp(with_extension(0xBEDE, block))
    assert pkt.extensions == {1: b"\xaa", 2: b"\xbb\xbb", 3: b"\xcc\xcc\xcc\xcc"}
    assert pkt.payload == b"pp"


def test_rfc8285_two_byte_example_with_zero_length_and_padding() -> None:
    # RFC 8285 §4.3 figure: ID 1 length 0, ID 2 length 1, padding, ID 3 length 4.
    block = b"\x01\x00" + b"\x02\x01\xbb" + b"\x00" + b"\x03\x04\xcc\xcc\xcc\xcc"
    pkt = parse_rtp(with_extension(0x1000, block))
    assert pkt.extensions == {1: b"", 2: b"\xbb", 3: b"\xcc\xcc\xcc\xcc"}


def test_one_byte_id_15_stops_parsing_of_the_block() -> None:
    # §4.2: the element with ID 15 and everything after it are ignored, its length too.
    block = b"\x10\xaa" + b"\xff" + b"\x20\xbb" + b"\x00\x00\x00"
    pkt = parse_rtp(with_extension(0xBEDE, block))
    assert pkt.extensions == {1: b"\xaa"}
    assert pkt.payload == b"pp"


def test_duplicate_ids_keep_the_first() -> None:
    one = parse_rtp(with_extension(0xBEDE, b"\x10\xaa\x10\xbb"))
    assert one.extensions == {1: b"\xaa"}
    two = parse_rtp(with_extension(0x1000, b"\x05\x01\xaa\x05\x01\xbb\x00\x00"))
    assert two.extensions == {5: b"\xaa"}


def general_path(data: bytes) -> bytes:
    """The same packet with one CSRC added, so that parse_rtp takes its general path."""
    return bytes((data[0] | 0x01,)) + data[1:12] + b"\x00\x00\x00\x09" + data[12:]


@pytest.mark.parametrize(
    "block",
    [
        b"\x10\xaa" + b"\x21\xbb\xbb" + b"\x00\x00" + b"\x33\xcc\xcc\xcc\xcc",
        b"\x10\xaa" + b"\xff" + b"\x20\xbb" + b"\x00\x00\x00",
        b"\x10\xaa\x10\xbb",
        b"",
        b"\x00\x00\x00\x00",
        b"\xef" + b"x" * 16 + b"\x00\x00\x00",
        b"\x01ab\x00",  # id 0 with a length: one padding byte all the same
        b"\x0f\x00\x10\xaa",
    ],
)
def test_one_byte_fast_path_matches_the_general_path(block: bytes) -> None:
    data = with_extension(0xBEDE, block)
    fast, general = parse_rtp(data), parse_rtp(general_path(data))
    assert general.csrc == (9,)
    general.csrc = ()
    assert fast == general
    assert (fast.extension, fast.extension_profile, fast.payload) == (True, 0xBEDE, b"pp")


@given(
    st.dictionaries(st.integers(1, 14), st.binary(min_size=1, max_size=16), min_size=1, max_size=6),
    st.binary(max_size=40),
)
def test_one_byte_serialize_fast_path_matches_the_general_path(
    extensions: dict[int, bytes], payload: bytes
) -> None:
    fast = RtpPacket(marker=True, payload_type=111, extensions=extensions, payload=payload)
    general = RtpPacket(
        marker=True, payload_type=111, extensions=extensions, payload=payload, csrc=(9,)
    )
    data = fast.serialize()
    assert general_path(data) == general.serialize()
    assert data[:1] == b"\x90" and data[12:14] == b"\xbe\xde"
    back = parse_rtp(data)
    assert (back.extensions, back.payload) == (extensions, payload)


# --------------------------------------------------------------------------- RTP rejections


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (header()[:11], "shorter than the fixed header"),
        (header(0x40), "version 1 is not 2"),
        (header(0xC0), "version 3 is not 2"),
        (header(0x82) + b"\x00\x00\x00\x01", "too short for 2 CSRCs"),
        (header(0x90) + b"\xbe\xde\x00", "extension header is past the end"),
        (header(0x90) + b"\xbe\xde\x00\x02" + b"\x10\xaa\x00\x00", "extension length runs past"),
        (with_extension(0xBEDE, b"\x00\x00\x00\x31"), "element 3 overruns"),
        (with_extension(0xBEDE, b"\x13\xaa\xbb\xcc", b""), "element 1 overruns"),
        # the same through the general path (a CSRC in front of the block)
        (header(0x91) + b"\x00\x00\x00\x09\xbe\xde\x00\x02\x10\xaa", "extension length runs"),
        (general_path(with_extension(0xBEDE, b"\x00\x00\x00\x31")), "element 3 overruns"),
        (general_path(with_extension(0xBEDE, b"\x13\xaa\xbb\xcc", b"")), "element 1 overr"),
        (with_extension(0x1000, b"\x00\x00\x00\x07"), "element 7 has no length byte"),
        (with_extension(0x1000, b"\x07\x03\xaa\xbb"), "element 7 overruns"),
        (header(0xA0) + b"abc\x00", "padding count is 0"),
        (header(0xA0) + b"ab\x04", "padding count is larger than the payload"),
        (header(0xB0) + b"\xbe\xde\x00\x00" + b"\x05", "padding count is larger"),
    ],
)
def test_parse_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rtp(data)
    # peek_rtp makes the same checks, except inside the extension block, which it skips
    assert (peek_rtp(data) is None) == ("element" not in message)


# --------------------------------------------------------------------------- hot path


def test_pack_rtp_header_matches_the_dataclass() -> None:
    got = pack_rtp_header(True, 0, 0xFFFF, 0xFFFFFFFF, 0x01020304)
    assert got == RtpPacket(marker=True, sequence_number=0xFFFF, timestamp=0xFFFFFFFF,
                            ssrc=0x01020304).serialize()  # fmt: skip
    assert pack_rtp_header(False, 8, 1, 2, 3) == header(0x80, 8, 1, 2, 3)


def test_peek_and_payload_end() -> None:
    pkt = RtpPacket(
        marker=True, payload_type=9, sequence_number=5, timestamp=6, ssrc=7, csrc=(1,),
        extensions={1: b"\x85"}, payload=b"hello", padding_size=3,
    )  # fmt: skip
    data = pkt.serialize()
    peeked = peek_rtp(data)
    assert peeked is not None
    assert peeked[:5] == (9, 5, 6, 7, True)
    assert data[peeked[5] : payload_end(data)] == b"hello"
    plain = pack_rtp_header(False, 0, 1, 2, 3) + b"x"
    assert peek_rtp(plain) == (0, 1, 2, 3, False, 12)
    assert payload_end(plain) == 13


# --------------------------------------------------------------------------- aiortc interop


def _aiortc_map() -> aiortc_rtp.HeaderExtensionsMap:
    extensions_map = aiortc_rtp.HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri=AUDIO_LEVEL),
                RTCRtpHeaderExtensionParameters(id=2, uri=MID),
            ]
        )
    )
    return extensions_map


def test_aiortc_parses_ours() -> None:
    ours = RtpPacket(
        marker=True, payload_type=111, sequence_number=0xFFFF, timestamp=0xFFFFFF00,
        ssrc=0x11223344, csrc=(5, 6), extensions={1: b"\x9e", 2: b"audio"},
        payload=bytes(range(100)), padding_size=7,
    )  # fmt: skip
    theirs = aiortc_rtp.RtpPacket.parse(ours.serialize(), _aiortc_map())
    assert (theirs.marker, theirs.payload_type) == (1, 111)
    assert (theirs.sequence_number, theirs.timestamp, theirs.ssrc) == (
        0xFFFF,
        0xFFFFFF00,
        0x11223344,
    )
    assert theirs.csrc == [5, 6]
    assert theirs.extensions.audio_level == (True, 0x1E)
    assert theirs.extensions.mid == "audio"
    assert theirs.payload == bytes(range(100))
    assert theirs.padding_size == 7


def test_we_parse_aiortcs() -> None:
    theirs = aiortc_rtp.RtpPacket(
        payload_type=0, marker=1, sequence_number=65535, timestamp=4294967295, ssrc=42,
        payload=b"\xff" * 160,
    )  # fmt: skip
    theirs.csrc = [9]
    theirs.extensions.audio_level = (False, 40)
    theirs.extensions.mid = "0"
    theirs.padding_size = 3
    data = theirs.serialize(_aiortc_map())
    ours = parse_rtp(data)
    assert (ours.marker, ours.payload_type, ours.sequence_number) == (True, 0, 65535)
    assert (ours.timestamp, ours.ssrc, ours.csrc) == (4294967295, 42, (9,))
    assert ours.extensions == {1: bytes([40]), 2: b"0"}
    assert (ours.payload, ours.padding_size) == (b"\xff" * 160, 3)
    assert ours.serialize()[:-3] == data[:-3]  # aiortc's padding bytes are random


# --------------------------------------------------------------------------- properties


extension_maps = st.one_of(
    st.dictionaries(st.integers(1, 14), st.binary(min_size=1, max_size=16), max_size=5),
    st.dictionaries(st.integers(1, 255), st.binary(max_size=40), max_size=5),
)
packets = st.builds(
    RtpPacket,
    marker=st.booleans(),
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extensions=extension_maps,
    payload=st.binary(max_size=200),
    padding_size=st.integers(0, 255),
)


@given(packets)
def test_round_trip(pkt: RtpPacket) -> None:
    data = pkt.serialize()
    back = parse_rtp(data)
    assert back.extensions == pkt.extensions
    assert (back.marker, back.payload_type, back.sequence_number) == (
        pkt.marker,
        pkt.payload_type,
        pkt.sequence_number,
    )
    assert (back.timestamp, back.ssrc, back.csrc) == (pkt.timestamp, pkt.ssrc, pkt.csrc)
    assert (back.payload, back.padding_size) == (pkt.payload, pkt.padding_size)
    assert back.serialize() == data
    peeked = peek_rtp(data)
    assert peeked is not None
    assert data[peeked[5] : payload_end(data)] == pkt.payload


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_any_bytes_give_a_packet_or_value_error(data: bytes) -> None:
    try:
        pkt = parse_rtp(data)
    except ValueError:
        return
    assert isinstance(pkt, RtpPacket)
    assert peek_rtp(data) is not None
