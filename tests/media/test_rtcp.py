"""RTCP packets: compound round trips, every rejection branch, the NTP helpers, RTP/RTCP
demultiplexing, and the same bytes through aiortc's parser and serializer."""

from __future__ import annotations

import pytest
from aiortc import rtp as aiortc_rtp
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    is_rtcp,
    middle_32,
    ntp_timestamp,
    parse_rtcp,
    serialize_rtcp,
)
from media.rtp import pack_rtp_header


def test_is_rtcp_by_second_byte() -> None:
    assert is_rtcp(b"\x80\xc8")  # SR
    assert is_rtcp(b"\x80\xdf")  # 223, the top of RFC 5761's range
    assert not is_rtcp(b"\x80\xbf")
    assert not is_rtcp(b"\x80\xe0")
    assert not is_rtcp(b"\x80")
    assert not is_rtcp(pack_rtp_header(True, 111, 1, 2, 3))


def test_compound_rtcp_round_trip() -> None:
    block = ReportBlock(0xAABBCCDD, 25, -1, 0x1FFFF, 44, 0x12345678, 65536)
    packets = [
        SenderReport(1, ntp_timestamp(1_700_000_000.25), 0xFFFFFFFF, 10, 1600, [block]),
        ReceiverReport(2, [block, ReportBlock(3, 0, 0x7FFFFF, 0, 0, 0, 0)]),
        SourceDescription([(1, [(1, b"user@host")]), (2, [(1, b"ab"), (6, b"tool")])]),
        Bye([1, 2], b"gone"),
        UnknownRtcp(205, 1, b"\x00\x00\x00\x01\x00\x00\x00\x02"),
    ]
    data = serialize_rtcp(packets)
    assert parse_rtcp(data) == packets
    assert serialize_rtcp(parse_rtcp(data)) == data


def test_report_block_packs_negative_loss_in_24_bits() -> None:
    data = ReportBlock(1, 2, -2, 3, 4, 5, 6).serialize()
    assert data[4:8] == b"\x02\xff\xff\xfe"
    with pytest.raises(ValueError, match="24 signed bits"):
        ReportBlock(1, 2, 0x800000, 3, 4, 5, 6).serialize()


def test_sdes_chunk_is_null_terminated_and_aligned() -> None:
    data = SourceDescription([(7, [(1, b"a")])]).serialize()
    assert data == b"\x81\xca\x00\x02" + b"\x00\x00\x00\x07" + b"\x01\x01a\x00"
    # two items filling the word exactly still get a null word
    data = SourceDescription([(7, [(1, b"abcdef")])]).serialize()
    assert data[8:] == b"\x01\x06abcdef" + b"\x00\x00\x00\x00"


def test_unknown_rtcp_keeps_its_padding() -> None:
    app = b"\xa2\xcc\x00\x03" + b"\x00\x00\x00\x01" + b"name" + b"\x00\x00\x00\x04"
    packets = parse_rtcp(app)
    assert packets == [UnknownRtcp(204, 2, app[4:], padding=True)]
    assert serialize_rtcp(packets) == app


def test_bye_without_reason_and_empty_bye() -> None:
    assert parse_rtcp(Bye([5]).serialize()) == [Bye([5], None)]
    assert parse_rtcp(Bye().serialize()) == [Bye([], None)]


def test_padding_on_the_last_rtcp_packet() -> None:
    rr = ReceiverReport(9).serialize()
    padded = b"\xa0\xc9\x00\x02" + rr[4:] + b"\x00\x00\x00\x04"
    assert parse_rtcp(Bye([1]).serialize() + padded) == [Bye([1]), ReceiverReport(9)]


def test_ntp_helpers() -> None:
    ntp = ntp_timestamp(0.5)
    assert ntp == (2208988800 << 32) | 0x80000000
    assert middle_32(ntp) == ((2208988800 & 0xFFFF) << 16) | 0x8000
    assert ntp_timestamp(-2208988800.0) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x80\xc9\x00", "header is past the end"),
        (b"\x40\xc9\x00\x00", "version 1"),
        (b"\x80\xc9\x00\x02\x00\x00\x00\x01", "length runs past"),
        (b"\xa0\xcb\x00\x00" + Bye().serialize(), "padding on a packet that is not the last"),
        (b"\xa0\xcb\x00\x00", "padding count is 0"),
        (b"\xa0\xcb\x00\x01\x00\x00\x00\x00", "padding count is 0"),
        (b"\xa0\xcb\x00\x01\x00\x00\x00\x05", "larger than the packet"),
        (b"\x80\xc8\x00\x05" + bytes(20), "shorter than its sender info"),
        (b"\x81\xc8\x00\x06" + bytes(24), "too short for 1 report blocks"),
        (b"\x80\xc9\x00\x00", "shorter than its SSRC"),
        (b"\x81\xc9\x00\x01" + bytes(4), "too short for 1 report blocks"),
        (b"\x82\xca\x00\x02" + b"\x00\x00\x00\x01\x00\x00\x00\x00", "chunk is past the end"),
        (b"\x81\xca\x00\x02" + b"\x00\x00\x00\x01\x01\x02ab", "no terminating null item"),
        (b"\x81\xca\x00\x02" + b"\x00\x00\x00\x01\x01\x05ab", "item 1 overruns"),
        (b"\x81\xca\x00\x02" + b"\x00\x00\x00\x01\x01\x01a\x07", "item 7 overruns"),
        (b"\x82\xcb\x00\x01" + b"\x00\x00\x00\x01", "too short for 2 sources"),
        (b"\x81\xcb\x00\x02" + b"\x00\x00\x00\x01\x05abc", "reason runs past"),
    ],
)
def test_parse_rtcp_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rtcp(data)


def test_sdes_padding_past_the_end_is_rejected() -> None:
    # SSRC + an empty item + null = 7 bytes: its alignment needs an 8th byte
    chunk = b"\x00\x00\x00\x01\x01\x00\x00"
    assert parse_rtcp(b"\x81\xca\x00\x02" + chunk + b"\x00") == [
        SourceDescription([(1, [(1, b"")])])
    ]
    with pytest.raises(ValueError, match="chunk padding"):
        parse_rtcp(b"\xa1\xca\x00\x03" + chunk + b"\x00\x00\x00\x00\x05")


def test_rtcp_serialize_rejects() -> None:
    with pytest.raises(ValueError, match="count 32"):
        ReceiverReport(1, [ReportBlock(0, 0, 0, 0, 0, 0, 0)] * 32).serialize()
    with pytest.raises(ValueError, match="multiple of 4"):
        UnknownRtcp(204, 0, b"abc").serialize()
    with pytest.raises(ValueError, match="SDES item"):
        SourceDescription([(1, [(1, b"a" * 256)])]).serialize()
    with pytest.raises(ValueError, match="reason"):
        Bye([1], b"a" * 256).serialize()


# --------------------------------------------------------------------------- aiortc interop


def test_rtcp_interop_with_aiortc() -> None:
    block = ReportBlock(7, 12, -5, 70000, 33, 0xABCDEF01, 1234)
    ours = [
        SenderReport(1, ntp_timestamp(1_700_000_000.0), 160, 3, 480, [block]),
        SourceDescription([(1, [(1, b"cname@x")])]),
        Bye([1]),
    ]
    data = serialize_rtcp(ours)
    theirs = aiortc_rtp.RtcpPacket.parse(data)
    assert [type(p).__name__ for p in theirs] == ["RtcpSrPacket", "RtcpSdesPacket", "RtcpByePacket"]
    sr = theirs[0]
    assert isinstance(sr, aiortc_rtp.RtcpSrPacket)
    assert sr.sender_info.ntp_timestamp == ours[0].ntp_timestamp  # type: ignore[union-attr]
    assert (sr.reports[0].packets_lost, sr.reports[0].highest_sequence) == (-5, 70000)
    assert b"".join(bytes(p) for p in theirs) == data
    rr = aiortc_rtp.RtcpRrPacket(
        ssrc=3,
        reports=[
            aiortc_rtp.RtcpReceiverInfo(
                ssrc=4, fraction_lost=1, packets_lost=-2, highest_sequence=3, jitter=4,
                lsr=5, dlsr=6,
            )
        ],
    )  # fmt: skip
    assert parse_rtcp(bytes(rr)) == [ReceiverReport(3, [ReportBlock(4, 1, -2, 3, 4, 5, 6)])]


# --------------------------------------------------------------------------- properties


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_any_bytes_give_rtcp_packets_or_value_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except ValueError:
        return
    assert packets
