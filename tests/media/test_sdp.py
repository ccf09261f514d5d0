from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media import sdp as sdp_module
from media.offer_answer import (
    ensure_telephone_event,
    filter_codecs,
    negotiated_codecs,
    remote_hold,
    set_direction,
)
from media.sdp import (
    MAX_LINES,
    MAX_SDP_LENGTH,
    MediaSection,
    SdpError,
    SessionDescription,
    parse,
    serialize,
)
from media.sdp_values import (
    Attribute,
    Bandwidth,
    Codec,
    Connection,
    Fingerprint,
    Group,
    Line,
    Origin,
)
from tests.media.sdp_samples import (
    AIORTC_ANSWER,
    CHROMIUM_OFFER,
    PBX_OFFER,
    crlf,
)


class TestChromiumOffer:
    def test_session(self) -> None:
        sdp = parse(CHROMIUM_OFFER)
        assert sdp.origin == Origin("-", 4611731400430051336, 2, "IN", "IP4", "127.0.0.1")
        assert sdp.name == "-"
        assert sdp.timing == [(0, 0)]
        assert sdp.groups == [Group("BUNDLE", ("0", "1"))]
        assert sdp.bundle == ["0", "1"]
        assert sdp.direction is None
        assert not sdp.ice_lite
        assert sdp.attribute("msid-semantic") == " WMS 5d1b4b7e-2c5a-4c4e-9a8e-0f2e0d7c1b2a"
        assert sdp.attribute("extmap-allow-mixed") == ""
        assert [s.kind for s in sdp.media] == ["audio", "video"]

    def test_audio(self) -> None:
        sdp = parse(CHROMIUM_OFFER)
        audio = sdp.media[0]
        assert (audio.kind, audio.port, audio.port_count) == ("audio", 54400, None)
        assert audio.proto == "UDP/TLS/RTP/SAVPF"
        assert audio.is_rtp
        assert audio.formats == ["111", "63", "9", "0", "8", "13", "110", "126"]
        assert [c.encoding for c in audio.codecs] == [
            "opus/48000/2",
            "red/48000/2",
            "G722/8000",
            "PCMU/8000",
            "PCMA/8000",
            "CN/8000",
            "telephone-event/48000",
            "telephone-event/8000",
        ]
        opus = audio.codec(111)
        assert opus == Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1")
        assert opus.parameters == {"minptime": "10", "useinbandfec": "1"}
        assert audio.rtcp_feedback(111) == ["transport-cc"]
        assert audio.codec(63) is not None and audio.codec(63).fmtp == "111/111"
        assert audio.codec(42) is None
        assert audio.direction == "sendrecv"
        assert sdp.direction_of(audio) == "sendrecv"
        assert audio.mid == "0"
        assert audio.rtcp_mux
        assert audio.connection == Connection("IN", "IP4", "203.0.113.7")
        assert (audio.ice_ufrag, audio.ice_pwd) == ("Xq1R", "0mGn8FwTzBRrqX3u2mW0kH9e")
        assert audio.ice_options == ["trickle"]
        assert audio.fingerprints == [
            Fingerprint(
                "sha-256",
                "3C:4E:9A:1F:0B:77:D2:58:6E:81:AC:35:F0:2D:C4:9B:17:E6:58:0A:BD:42:93:6C:8F:11"
                ":D7:E0:5A:33:C2:94",
            )
        ]
        assert audio.setup == "actpass"
        assert not audio.end_of_candidates

    def test_video(self) -> None:
        sdp = parse(CHROMIUM_OFFER)
        video = sdp.find("1")
        assert video is sdp.media[1]
        assert video.direction == "recvonly"
        assert video.payload_types == [96, 97, 98, 99, 102, 103]
        assert video.codec(97) == Codec(97, "rtx", 90000, None, "apt=96")
        assert video.rtcp_feedback(96) == [
            "goog-remb",
            "transport-cc",
            "ccm fir",
            "nack",
            "nack pli",
        ]
        assert sdp.find("7") is None

    def test_round_trip(self) -> None:
        assert serialize(parse(CHROMIUM_OFFER)) == CHROMIUM_OFFER
        assert parse(CHROMIUM_OFFER.encode()).encode() == CHROMIUM_OFFER.encode()


class TestAiortcAnswer:
    def test_embedded(self) -> None:
        answer = parse(AIORTC_ANSWER)
        assert str(answer) == AIORTC_ANSWER
        audio, video = answer.media
        assert audio.direction == "recvonly"
        assert video.direction == "inactive"
        assert audio.setup == "active"
        assert audio.end_of_candidates
        assert [c.address for c in audio.candidates] == ["198.51.100.2", "2001:db8::2"]
        assert answer.bundle == ["0", "1"]
        offer = parse(CHROMIUM_OFFER)
        assert [c.encoding for c in negotiated_codecs(offer.media[0], audio)] == [
            "opus/48000/2",
            "G722/8000",
            "PCMU/8000",
            "PCMA/8000",
        ]
        assert [c.name for c in negotiated_codecs(offer.media[1], video)] == [
            "VP8",
            "rtx",
            "H264",
            "rtx",
        ]

    async def test_generated(self) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        offer = parse(CHROMIUM_OFFER)
        for section in offer.media:
            section.remove_attributes("candidate")  # nothing to check connectivity with
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer.serialize(), "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            text = pc.localDescription.sdp
        finally:
            await pc.close()
        answer = parse(text)
        assert serialize(answer) == text.replace("\r\n", "\n").replace("\n", "\r\n")
        assert [s.mid for s in answer.media] == ["0", "1"]
        audio = answer.media[0]
        assert audio.proto == "UDP/TLS/RTP/SAVPF"
        assert answer.direction_of(audio) == "recvonly"
        assert not remote_hold(audio, answer)
        assert audio.setup == "active"
        assert audio.ice_ufrag and audio.ice_pwd
        assert "sha-256" in {f.algorithm for f in audio.fingerprints}
        assert audio.rtcp_mux
        assert all(c.type == "host" for c in audio.candidates)
        negotiated = negotiated_codecs(offer.media[0], audio)
        assert negotiated and negotiated[0].name == "opus"
        assert {c.name for c in negotiated} <= {"opus", "G722", "PCMU", "PCMA"}


class TestRoundTrip:
    @pytest.mark.parametrize("text", [CHROMIUM_OFFER, AIORTC_ANSWER, PBX_OFFER])
    def test_exact(self, text: str) -> None:
        assert parse(text).serialize() == text

    def test_unknown_lines_and_attributes_kept_in_order(self) -> None:
        text = crlf(
            "v=0",
            "o=alice 1 1 IN IP6 2001:db8::1",
            "s= ",
            "i=A session",
            "u=http://example.com/",
            "e=alice@example.com",
            "p=+1 555 0100",
            "c=IN IP6 2001:db8::1",
            "t=3034423619 3042462419",
            "r=7d 1h 0 25h",
            "z=2882844526 -1h 2898848070 0",
            "k=prompt",
            "y=some future line",
            "a=X-custom:whatever  spacing ",
            "a=tool:x y",
            "m=audio 49170/2 RTP/AVP 0 96",
            "i=media title",
            "y=another",
            "k=clear:key",
            "a=rtpmap:96 L16/16000/2",
            "a=weird-attribute:with:colons",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "c=IN IP4 0.0.0.0",
            "a=sctp-port:5000",
            "a=max-message-size:262144",
        )
        sdp = parse(text)
        assert sdp.serialize() == text
        audio, data = sdp.media
        assert audio.port_count == 2
        assert [c.encoding for c in audio.codecs] == ["PCMU/8000/1", "L16/16000/2"]
        assert audio.attribute("weird-attribute") == "with:colons"  # the name stops at ':'
        assert data.formats == ["webrtc-datachannel"]
        assert not data.is_rtp
        assert data.codecs == []
        assert data.attribute("sctp-port") == "5000"
        assert [line.type for line in sdp.lines].count("y") == 1

    def test_lf_only_is_accepted_and_written_with_crlf(self) -> None:
        text = PBX_OFFER.replace("\r\n", "\n")
        assert parse(text).serialize() == PBX_OFFER

    def test_missing_final_line_end(self) -> None:
        assert parse(PBX_OFFER.rstrip("\r\n")).serialize() == PBX_OFFER

    def test_trailing_empty_lines_dropped(self) -> None:
        assert parse(PBX_OFFER + "\r\n\r\n").serialize() == PBX_OFFER

    def test_edit_m_line(self) -> None:
        sdp = parse(PBX_OFFER.replace("m=audio 17384 RTP/AVP", "m=audio  17384 RTP/AVP"))
        assert sdp.media[0].m_line == "audio  17384 RTP/AVP 0 8 101"  # verbatim until edited
        sdp.media[0].port = 0
        assert sdp.media[0].m_line == "audio 0 RTP/AVP 0 8 101"

    def test_build_from_scratch(self) -> None:
        sdp = SessionDescription(
            [Line("v", "0"), Line("o", "- 1 1 IN IP4 127.0.0.1"), Line("s", "-"), Line("t", "0 0")]
        )
        section = MediaSection("audio", 5004, "RTP/AVP", ["0"])
        section.lines.append(Line("c", "IN IP4 127.0.0.1"))
        section.add_attribute("rtpmap", "0 PCMU/8000")
        sdp.media.append(section)
        set_direction(section, "sendrecv")
        ensure_telephone_event(section, [8000])
        text = sdp.serialize()
        assert text == crlf(
            "v=0",
            "o=- 1 1 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "m=audio 5004 RTP/AVP 0 101",
            "c=IN IP4 127.0.0.1",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=sendrecv",
        )
        assert parse(text).serialize() == text


class TestTypedViews:
    def test_pbx(self) -> None:
        sdp = parse(PBX_OFFER)
        audio = sdp.media[0]
        assert sdp.connection == Connection("IN", "IP4", "198.51.100.20")
        assert audio.connection is None
        assert sdp.connection_of(audio) == sdp.connection
        assert sdp.bandwidths == [Bandwidth("CT", 384)]
        assert audio.bandwidths == [Bandwidth("AS", 64)]
        # PCMA has no rtpmap: the static table (RFC 3551) fills in
        assert [c.encoding for c in audio.codecs] == [
            "PCMU/8000",
            "PCMA/8000/1",
            "telephone-event/8000",
        ]
        assert audio.codec(101) is not None and audio.codec(101).parameters == {"0-16": None}
        assert audio.direction is None
        assert sdp.direction == "sendonly"
        assert sdp.direction_of(audio) == "sendonly"  # session level applies
        assert audio.attribute("ptime") == "20"
        assert audio.ice_ufrag is None
        assert audio.setup is None

    def test_media_level_wins(self) -> None:
        sdp = parse(PBX_OFFER + "a=recvonly\r\n")
        assert sdp.direction_of(sdp.media[0]) == "recvonly"
        sdp = parse(PBX_OFFER.replace("a=sendonly\r\n", ""))
        assert sdp.direction_of(sdp.media[0]) == "sendrecv"  # RFC 8866 §6.7 default

    def test_attribute_of_falls_back_to_session(self) -> None:
        sdp = parse(
            crlf(
                "v=0",
                "o=- 1 1 IN IP4 127.0.0.1",
                "s=-",
                "t=0 0",
                "a=ice-ufrag:sess",
                "a=ice-pwd:sessionpassword",
                "a=fingerprint:SHA-1 AA:BB",
                "a=ice-lite",
                "m=audio 9 UDP/TLS/RTP/SAVPF 0",
                "a=ice-ufrag:media",
            )
        )
        audio = sdp.media[0]
        assert sdp.attribute_of(audio, "ice-ufrag") == "media"
        assert sdp.attribute_of(audio, "ice-pwd") == "sessionpassword"
        assert sdp.fingerprints == [Fingerprint("sha-1", "AA:BB")]
        assert sdp.ice_lite
        assert sdp.attribute_of(audio, "setup") is None

    def test_lenient_views_skip_junk(self) -> None:
        sdp = parse(
            crlf(
                "v=0",
                "o=- 1 1 IN IP4 127.0.0.1",
                "s=-",
                "a=group:",
                "m=audio 9 RTP/AVP 96 97 98 0 x",
                "a=rtpmap:96 opus",
                "a=rtpmap:97 opus/abc",
                "a=rtpmap:98 opus/48000/x",
                "a=rtpmap:0 PCMU/8000",
                "a=rtpmap:0 PCMA/8000",
                "a=rtpmap:200 foo/8000",
                "a=candidate:1 1 udp 1 1.2.3.4 5 typ",
                "a=candidate:1 1 udp p 1.2.3.4 5 typ host",
                "a=candidate:1 1 udp 1 1.2.3.4 5 type host",
                "a=fingerprint:sha-256",
            )
        )
        audio = sdp.media[0]
        assert sdp.timing == []
        assert sdp.groups == []
        assert audio.payload_types == [96, 97, 98, 0]
        assert [c.encoding for c in audio.codecs] == ["PCMU/8000"]  # first rtpmap wins
        assert audio.candidates == []
        assert audio.fingerprints == []

    def test_attribute_editing(self) -> None:
        sdp = parse(PBX_OFFER)
        audio = sdp.media[0]
        audio.set_attribute("ptime", "30")
        assert audio.attribute("ptime") == "30"
        assert audio.lines[4] == Line("a", "ptime:30")  # replaced in place
        audio.add_attribute("ptime", "40")
        audio.set_attribute("ptime", "10")
        assert audio.attributes("ptime") == [Attribute("ptime", "10")]
        assert audio.remove_attributes("rtpmap", "101 ") == 1
        assert audio.remove_attributes("nothing") == 0

    def test_bump_version(self) -> None:
        sdp = parse(PBX_OFFER)
        sdp.bump_version()
        assert sdp.origin.session_version == 1394536067
        assert (
            sdp.serialize().splitlines()[1] == "o=root 1394536066 1394536067 IN IP4 198.51.100.20"
        )


class TestMalformed:
    @pytest.mark.parametrize(
        ("text", "line", "message"),
        [
            ("", None, "empty"),
            ("\r\n\r\n", None, "empty"),
            ("o=- 1 1 IN IP4 h\r\ns=-\r\n", 1, "v=0"),
            ("v=1\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", 1, "v=0"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nhello\r\n", 4, "<type>=<value>"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nA=x\r\n", 4, "<type>=<value>"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\n\r\ns=-\r\n", 3, "<type>=<value>"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=\r\n", 4, "attribute name"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=:x\r\n", 4, "attribute name"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=a b:c\r\n", 4, "attribute name"),
            ("v=0\r\no=- 1 IN IP4 h\r\ns=-\r\n", 2, "6 fields"),
            ("v=0\r\no=- x 1 IN IP4 h\r\ns=-\r\n", 2, "numbers"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4\r\n", 4, "c="),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nb=AS\r\n", 4, "b="),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nb=AS:x\r\n", 4, "b="),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0\r\n", 4, "t="),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP\r\n", 4, "m="),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio x RTP/AVP 0\r\n", 4, "port"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n", 4, "port"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1/ RTP/AVP 0\r\n", 4, "port"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\ns=x\r\n", 5, "media"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n", 5, "media"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", 3, "duplicate"),
            ("v=0\r\nv=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", 2, "duplicate"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=x\ry\r\n", 4, "CR"),
            ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=x\x00\r\n", 4, "NUL"),
            ("v=0\r\ns=-\r\n", None, "missing o="),
            ("v=0\r\no=- 1 1 IN IP4 h\r\n", None, "missing s="),
        ],
    )
    def test_cases(self, text: str, line: int | None, message: str) -> None:
        with pytest.raises(SdpError, match=message) as info:
            parse(text)
        assert info.value.line == line
        if line is not None:
            assert str(info.value).startswith(f"SDP line {line}: ")

    def test_is_value_error(self) -> None:
        with pytest.raises(ValueError):
            parse("nonsense")

    def test_not_utf8(self) -> None:
        with pytest.raises(SdpError, match="UTF-8") as info:
            parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\n")
        assert info.value.line == 3

    def test_not_text(self) -> None:
        with pytest.raises(SdpError):
            parse(42)  # type: ignore[arg-type]

    def test_bounds(self) -> None:
        head = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n"
        with pytest.raises(SdpError, match="longer"):
            parse(head + "a=" + "x" * MAX_SDP_LENGTH + "\r\n")
        with pytest.raises(SdpError, match="longer"):
            parse((head + "a=" + "x" * MAX_SDP_LENGTH * 4 + "\r\n").encode())
        with pytest.raises(SdpError, match="lines"):
            parse(head + "a=x\r\n" * MAX_LINES)
        assert len(parse(head + "a=x\r\n" * (MAX_LINES - 3)).lines) == MAX_LINES


# --- property tests ----------------------------------------------------------------------------

_PREFIXES = [
    "v=0",
    "o=- 1 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "c=IN IP4 0.0.0.0",
    "b=AS:",
    "m=audio 9 RTP/AVP ",
    "m=video 0/2 UDP/TLS/RTP/SAVPF ",
    "a=rtpmap:",
    "a=fmtp:",
    "a=rtcp-fb:",
    "a=candidate:",
    "a=fingerprint:",
    "a=group:BUNDLE ",
    "a=sendonly",
    "a=inactive",
    "a=setup:",
    "a=ice-ufrag:",
    "a=mid:",
    "x=",
    "",
]
_VALUES = st.text(alphabet=st.sampled_from("0123456789 /:;=-abcdefPCMUopus.*\t²٣"), max_size=24)
_REAL = sorted(
    {
        line
        for text in (CHROMIUM_OFFER, AIORTC_ANSWER, PBX_OFFER)
        for line in text.splitlines()
        if line[:2] not in ("v=", "o=", "s=")
    }
)
_LINE = st.one_of(
    st.sampled_from(_REAL),
    st.builds(
        lambda line, cut, value: line[:cut] + value,
        st.sampled_from(_REAL),
        st.integers(0, 40),
        _VALUES,
    ),
    st.builds(lambda prefix, value: prefix + value, st.sampled_from(_PREFIXES), _VALUES),
)


def exercise(sdp: SessionDescription) -> None:
    """Every typed view and helper must work, or fail with ValueError only for helpers."""
    for block in [sdp, *sdp.media]:
        block.attributes()
        block.connection  # noqa: B018
        block.bandwidths  # noqa: B018
        block.direction  # noqa: B018
        block.fingerprints  # noqa: B018
        block.setup  # noqa: B018
        block.ice_options  # noqa: B018
        (block.ice_ufrag, block.ice_pwd)  # noqa: B018
    sdp.origin  # noqa: B018
    (sdp.name, sdp.timing, sdp.groups, sdp.bundle, sdp.ice_lite)  # noqa: B018
    for section in sdp.media:
        section.m_line  # noqa: B018
        (section.mid, section.rtcp_mux, section.candidates, section.end_of_candidates)  # noqa: B018
        for codec in section.codecs:
            (codec.parameters, codec.encoding)  # noqa: B018
            section.rtcp_feedback(codec.payload_type)
        sdp.direction_of(section)
        sdp.connection_of(section)
        sdp.attribute_of(section, "ice-pwd")
        remote_hold(section, sdp)
        remote_hold(section)
        negotiated_codecs(section, section)
        for helper in (
            lambda s: filter_codecs(s, ["opus", "PCMU"]),
            lambda s: ensure_telephone_event(s, [8000, 48000]),
        ):
            with contextlib.suppress(ValueError):
                helper(section)
        set_direction(section, "inactive")
    text = sdp.serialize()
    assert parse(text).serialize() == text


class TestProperties:
    @given(st.text(max_size=300))
    def test_arbitrary_text_raises_only_sdp_error(self, text: str) -> None:
        with contextlib.suppress(SdpError):
            exercise(parse(text))

    @given(st.binary(max_size=300))
    def test_arbitrary_bytes_raise_only_sdp_error(self, data: bytes) -> None:
        with contextlib.suppress(SdpError):
            exercise(parse(data))

    @settings(max_examples=300)
    @given(
        st.lists(_LINE, max_size=25),
        st.sampled_from(["\r\n", "\n", "\r", " "]),
        st.booleans(),
    )
    def test_sdp_like_text(self, lines: list[str], separator: str, head: bool) -> None:
        if head:
            lines = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", *lines]
        text = separator.join(lines) + separator
        try:
            sdp = parse(text)
        except SdpError:
            return
        if separator == "\r\n" and all(lines):
            assert sdp.serialize() == text  # well-formed CRLF input round-trips exactly
        exercise(sdp)

    @settings(max_examples=300)
    @given(
        st.sampled_from([CHROMIUM_OFFER, AIORTC_ANSWER, PBX_OFFER]),
        st.lists(st.tuples(st.integers(0, 200), st.integers(0, 60), _VALUES), max_size=6),
    )
    def test_mutated_real_sdp(self, text: str, mutations: list[tuple[int, int, str]]) -> None:
        lines = text.split("\r\n")[:-1]
        for index, cut, value in mutations:
            at = index % len(lines)
            lines[at] = lines[at][:cut] + value
        mutated = crlf(*lines)
        try:
            sdp = parse(mutated)
        except SdpError:
            return
        if all(lines):  # well-formed: no empty line (a trailing one would be dropped)
            assert sdp.serialize() == mutated
        exercise(sdp)

    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["audio", "video", "application"]),
                st.integers(0, 65535),
                st.sampled_from(["RTP/AVP", "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP"]),
                st.lists(st.integers(0, 127).map(str), min_size=1, max_size=6),
                st.lists(
                    st.from_regex(r"a=[a-z][a-z0-9-]{0,10}(:[ -~]{0,20})?", fullmatch=True),
                    max_size=6,
                ),
            ),
            max_size=4,
        )
    )
    def test_generated_round_trip(
        self, sections: list[tuple[str, int, str, list[str], list[str]]]
    ) -> None:
        lines = ["v=0", "o=- 7 7 IN IP4 127.0.0.1", "s=-", "t=0 0"]
        for kind, port, proto, formats, attributes in sections:
            lines.append(f"m={kind} {port} {proto} {' '.join(formats)}")
            lines.extend(attributes)
        text = crlf(*lines)
        sdp = parse(text)
        assert serialize(sdp) == text
        assert [s.formats for s in sdp.media] == [f for _, _, _, f, _ in sections]
        exercise(sdp)


def test_exports() -> None:
    for name in sdp_module.__all__:
        assert hasattr(sdp_module, name)
