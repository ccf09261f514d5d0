from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media import sdp_values
from media.sdp import parse
from media.sdp_values import (
    Attribute,
    Candidate,
    Codec,
    Connection,
    Line,
    Origin,
    bounded_int,
    codec_from_rtpmap,
    split_payload_type,
)
from tests.media.sdp_samples import CHROMIUM_OFFER


class TestLines:
    def test_line(self) -> None:
        assert str(Line("a", "mid:0")) == "a=mid:0"

    def test_attribute(self) -> None:
        assert str(Attribute("rtcp-mux")) == "rtcp-mux"
        assert Attribute.parse("rtpmap:0 PCMU/8000") == Attribute("rtpmap", "0 PCMU/8000")
        assert Attribute.parse("rtcp-mux") == Attribute("rtcp-mux", None)
        assert Attribute.parse("x:") == Attribute("x", "")  # the colon makes a value attribute
        assert str(Attribute("x", "")) == "x:"

    def test_origin(self) -> None:
        origin = Origin("alice", 1, 2, "IN", "IP6", "2001:db8::1")
        assert str(origin) == "alice 1 2 IN IP6 2001:db8::1"

    def test_connection_host_drops_multicast_suffixes(self) -> None:
        multicast = Connection("IN", "IP4", "233.252.0.1/127/3")
        assert multicast.host == "233.252.0.1"
        assert str(multicast) == "IN IP4 233.252.0.1/127/3"
        assert Connection("IN", "IP6", "2001:db8::1").host == "2001:db8::1"


class TestCodec:
    def test_parameters(self) -> None:
        codec = Codec(111, "opus", 48000, 2, "minptime=10; useinbandfec = 1;;0-16")
        assert codec.parameters == {"minptime": "10", "useinbandfec": "1", "0-16": None}
        assert Codec(0, "PCMU", 8000).parameters == {}

    def test_encoding(self) -> None:
        assert Codec(111, "opus", 48000, 2).encoding == "opus/48000/2"
        assert Codec(0, "PCMU", 8000).encoding == "PCMU/8000"

    def test_same_codec(self) -> None:
        assert Codec(0, "PCMU", 8000).same_codec(Codec(0, "pcmu", 8000, 1))
        assert not Codec(111, "opus", 48000, 2).same_codec(Codec(111, "opus", 48000, 1))
        assert not Codec(9, "G722", 8000).same_codec(Codec(9, "G722", 16000))

    def test_from_rtpmap(self) -> None:
        assert codec_from_rtpmap(111, "opus/48000/2", "useinbandfec=1") == Codec(
            111, "opus", 48000, 2, "useinbandfec=1"
        )
        assert codec_from_rtpmap(96, "L16/16000", None) == Codec(96, "L16", 16000, None)
        # an rtpmap for a static type wins over the table (RFC 3551 §6 gives PCMU one channel)
        assert codec_from_rtpmap(0, "PCMU/8000", None) == Codec(0, "PCMU", 8000, None)

    def test_static_table_when_no_readable_rtpmap(self) -> None:
        assert codec_from_rtpmap(8, None, None) == Codec(8, "PCMA", 8000, 1)
        assert codec_from_rtpmap(8, "PCMA/x", "annexb=no") == Codec(8, "PCMA", 8000, 1, "annexb=no")
        assert codec_from_rtpmap(34, None, None) == Codec(34, "H263", 90000, None)
        assert codec_from_rtpmap(2, None, None) is None  # unassigned since RFC 3551

    @pytest.mark.parametrize(
        "rtpmap", [None, "opus", "opus/48000/0", "opus/0", "/8000", "a/8000/1/2", "opus/48000/"]
    )
    def test_dynamic_without_readable_rtpmap(self, rtpmap: str | None) -> None:
        assert codec_from_rtpmap(96, rtpmap, None) is None


class TestCandidate:
    def test_chromium_candidates(self) -> None:
        candidates = parse(CHROMIUM_OFFER).media[0].candidates
        assert [(c.type, c.transport, c.address, c.port) for c in candidates] == [
            ("host", "udp", "192.0.2.10", 54400),
            ("host", "tcp", "192.0.2.10", 9),
            ("srflx", "udp", "203.0.113.7", 54400),
        ]
        srflx = candidates[2]
        assert srflx == Candidate(
            foundation="3587128286",
            component=1,
            transport="udp",
            priority=1686052607,
            address="203.0.113.7",
            port=54400,
            type="srflx",
            related_address="192.0.2.10",
            related_port=54400,
            extensions=(("generation", "0"), ("network-id", "1"), ("network-cost", "10")),
        )
        assert ("tcptype", "active") in candidates[1].extensions

    def test_unreadable_rport_is_kept_as_an_extension(self) -> None:
        candidate = Candidate.parse("1 1 udp 1 192.0.2.1 9 typ host rport x")
        assert candidate is not None
        assert candidate.related_port is None
        assert candidate.extensions == (("rport", "x"),)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "1 1 udp 1 192.0.2.1 9 typ",  # no type
            "1 1 udp 1 192.0.2.1 9 type host",  # not "typ"
            "1 1 udp 1 192.0.2.1 9 typ host generation",  # extension without a value
            "1 0 udp 1 192.0.2.1 9 typ host",  # component 1..256
            "1 257 udp 1 192.0.2.1 9 typ host",
            "1 1 udp 4294967296 192.0.2.1 9 typ host",  # priority below 2**32
            "1 1 udp -1 192.0.2.1 9 typ host",
            "1 1 udp 1 192.0.2.1 65536 typ host",  # port
        ],
    )
    def test_malformed(self, value: str) -> None:
        assert Candidate.parse(value) is None


class TestReaders:
    @pytest.mark.parametrize(
        ("text", "low", "high", "expected"),
        [
            ("0", 0, None, 0),
            ("007", 0, None, 7),
            ("9" * 20, 0, None, 10**20 - 1),
            ("1" * 21, 0, None, None),  # too long
            ("", 0, None, None),
            ("-1", 0, None, None),
            ("+1", 0, None, None),
            (" 1", 0, None, None),
            ("1.0", 0, None, None),
            ("²", 0, None, None),  # a digit to str.isdigit, not ASCII
            ("٣", 0, None, None),
            ("127", 0, 127, 127),
            ("128", 0, 127, None),
            ("1", 1, None, 1),
            ("0", 1, None, None),
        ],
    )
    def test_bounded_int(self, text: str, low: int, high: int | None, expected: int | None) -> None:
        assert bounded_int(text, low, high) == expected

    @given(st.text(max_size=25), st.integers(0, 10), st.none() | st.integers(0, 10**6))
    def test_bounded_int_any_text(self, text: str, low: int, high: int | None) -> None:
        value = bounded_int(text, low, high)
        if value is not None:
            assert low <= value and (high is None or value <= high)
            assert text.isascii() and int(text) == value

    def test_split_payload_type(self) -> None:
        assert split_payload_type("111 opus/48000/2") == (111, "opus/48000/2")
        assert split_payload_type("96") == (96, "")
        assert split_payload_type("0  x") == (0, " x")  # the rest stays verbatim
        assert split_payload_type("128 x") is None
        assert split_payload_type("* nack") is None


def test_exports() -> None:
    for name in sdp_values.__all__:
        assert hasattr(sdp_values, name)
