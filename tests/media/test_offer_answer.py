from __future__ import annotations

import copy

import pytest

from media import sdp as sdp_module
from media.offer_answer import (
    answer_direction,
    answer_telephone_event,
    ensure_telephone_event,
    filter_codecs,
    hold_direction,
    holds,
    ice_ufrag,
    negotiated_audio,
    negotiated_codecs,
    remote_hold,
    require_srtp,
    set_direction,
)
from media.sdp import (
    MediaSection,
    SdpError,
    SessionDescription,
    parse,
)
from media.sdp_values import Codec, Line
from tests.media.sdp_samples import (
    AIORTC_ANSWER,
    CHROMIUM_OFFER,
    PBX_OFFER,
    crlf,
)


class TestDirection:
    def test_set_direction_replaces_in_place(self) -> None:
        sdp = parse(CHROMIUM_OFFER)
        audio = sdp.media[0]
        index = audio.lines.index(Line("a", "sendrecv"))
        set_direction(audio, "sendonly")
        assert audio.lines[index] == Line("a", "sendonly")
        assert audio.direction == "sendonly"
        assert len(audio.lines) == len(parse(CHROMIUM_OFFER).media[0].lines)

    def test_set_direction_drops_duplicates_and_appends(self) -> None:
        sdp = parse(PBX_OFFER + "a=sendrecv\r\na=inactive\r\n")
        audio = sdp.media[0]
        set_direction(audio, "recvonly")
        assert [a.name for a in audio.attributes() if a.name in sdp_module.DIRECTIONS] == [
            "recvonly"
        ]
        sdp = parse(PBX_OFFER)
        set_direction(sdp.media[0], "inactive")
        assert sdp.media[0].lines[-1] == Line("a", "inactive")
        set_direction(sdp, "sendrecv")  # session level
        assert sdp.direction == "sendrecv"
        assert sdp.direction_of(sdp.media[0]) == "inactive"

    def test_set_direction_rejects_unknown(self) -> None:
        with pytest.raises(ValueError, match="direction"):
            set_direction(parse(PBX_OFFER).media[0], "sendreceive")

    @pytest.mark.parametrize(
        ("current", "remote", "expected"),
        [
            ("sendrecv", None, "sendonly"),  # RFC 3264 §8.4
            ("sendrecv", "sendrecv", "sendonly"),
            ("recvonly", "sendonly", "inactive"),  # the peer holds us already
            ("recvonly", None, "inactive"),
            ("sendonly", "recvonly", "sendonly"),  # already holding
            ("inactive", "inactive", "inactive"),
            ("sendrecv", "sendonly", "inactive"),  # the peer does not receive
            ("sendrecv", "inactive", "inactive"),
        ],
    )
    def test_hold_direction(self, current: str, remote: str | None, expected: str) -> None:
        assert hold_direction(current, remote) == expected

    @pytest.mark.parametrize(
        ("offered", "local", "expected"),
        [
            ("sendrecv", "sendrecv", "sendrecv"),
            ("sendonly", "sendrecv", "recvonly"),  # RFC 3264 §6.1
            ("recvonly", "sendrecv", "sendonly"),
            ("inactive", "sendrecv", "inactive"),
            ("sendrecv", "recvonly", "recvonly"),
            ("sendrecv", "sendonly", "sendonly"),
            ("sendonly", "sendonly", "inactive"),
            ("sendrecv", "inactive", "inactive"),
        ],
    )
    def test_answer_direction(self, offered: str, local: str, expected: str) -> None:
        assert answer_direction(offered, local) == expected

    def test_bad_directions(self) -> None:
        with pytest.raises(ValueError):
            hold_direction("hold")
        with pytest.raises(ValueError):
            hold_direction("sendrecv", "x")
        with pytest.raises(ValueError):
            answer_direction("sendrecv", "x")


class TestRemoteHold:
    def offer(self, *media_lines: str, session: tuple[str, ...] = ()) -> SessionDescription:
        return parse(
            crlf(
                "v=0",
                "o=- 1 1 IN IP4 198.51.100.1",
                "s=-",
                *session,
                "t=0 0",
                "m=audio 4000 RTP/AVP 0",
                *media_lines,
            )
        )

    @pytest.mark.parametrize(
        ("media_lines", "held"),
        [
            ((), False),
            (("a=sendrecv",), False),
            (("a=recvonly",), False),
            (("a=sendonly",), True),
            (("a=inactive",), True),
            (("c=IN IP4 0.0.0.0",), True),  # RFC 2543 style
            (("c=IN IP4 198.51.100.1",), False),
            (("c=IN IP4 0.0.0.0", "a=ice-ufrag:abcd"), False),  # ICE placeholder, not hold
        ],
    )
    def test_media_level(self, media_lines: tuple[str, ...], held: bool) -> None:
        sdp = self.offer(*media_lines)
        assert remote_hold(sdp.media[0]) is held
        assert remote_hold(sdp.media[0], sdp) is held

    @pytest.mark.parametrize(
        ("session", "media_lines", "held"),
        [
            (("c=IN IP4 0.0.0.0",), (), True),
            (("a=sendonly",), (), True),
            (("a=sendonly",), ("a=sendrecv",), False),  # media level wins
            (("a=inactive",), ("a=sendonly",), True),
            (("c=IN IP4 0.0.0.0", "a=ice-ufrag:abcd"), (), False),
            (("c=IN IP4 0.0.0.0",), ("c=IN IP4 198.51.100.1",), False),
        ],
    )
    def test_session_level(
        self, session: tuple[str, ...], media_lines: tuple[str, ...], held: bool
    ) -> None:
        sdp = self.offer(*media_lines, session=session)
        assert remote_hold(sdp.media[0], sdp) is held

    def test_rejected_stream_is_not_hold(self) -> None:
        sdp = self.offer("a=inactive")
        sdp.media[0].port = 0
        assert not remote_hold(sdp.media[0], sdp)

    def test_chromium_and_aiortc(self) -> None:
        offer = parse(CHROMIUM_OFFER)
        assert not remote_hold(offer.media[0], offer)
        answer = parse(AIORTC_ANSWER)
        assert not remote_hold(answer.media[0], answer)  # recvonly: we may still send
        assert remote_hold(answer.media[1], answer)  # inactive


class TestCodecs:
    def test_filter_audio(self) -> None:
        sdp = parse(CHROMIUM_OFFER)
        audio = sdp.media[0]
        kept = filter_codecs(audio, ["PCMU", "opus"])
        assert [c.encoding for c in kept] == [
            "PCMU/8000",
            "opus/48000/2",
            "telephone-event/48000",
            "telephone-event/8000",
        ]
        assert audio.formats == ["0", "111", "110", "126"]
        rtpmaps = [a.value for a in audio.attributes("rtpmap")]
        assert rtpmaps == [
            "111 opus/48000/2",
            "0 PCMU/8000",
            "110 telephone-event/48000",
            "126 telephone-event/8000",
        ]
        assert [a.value for a in audio.attributes("fmtp")] == ["111 minptime=10;useinbandfec=1"]
        assert audio.rtcp_feedback(111) == ["transport-cc"]
        assert audio.attributes("ssrc")  # unrelated lines stay
        text = sdp.serialize()
        assert "m=audio 54400 UDP/TLS/RTP/SAVPF 0 111 110 126\r\n" in text
        assert parse(text).serialize() == text

    def test_filter_keeps_telephone_event_at_matching_rates(self) -> None:
        audio = parse(CHROMIUM_OFFER).media[0]
        kept = filter_codecs(audio, ["pcma/8000"])
        assert [c.payload_type for c in kept] == [8, 126]  # no Opus, so no te/48000

    def test_filter_by_rate_and_channels(self) -> None:
        audio = parse(CHROMIUM_OFFER).media[0]
        assert [c.payload_type for c in filter_codecs(audio, ["OPUS/48000/2"])] == [111, 110, 126]
        audio = parse(CHROMIUM_OFFER).media[0]
        with pytest.raises(ValueError, match="none of"):
            filter_codecs(audio, ["opus/48000/1", "opus/16000"])

    def test_filter_video_keeps_rtx(self) -> None:
        video = parse(CHROMIUM_OFFER).media[1]
        kept = filter_codecs(video, ["H264", "VP8"])
        assert [c.payload_type for c in kept] == [102, 96, 97, 103]
        assert video.rtcp_feedback(98) == []
        assert video.codec(99) is None
        assert "99 apt=98" not in [a.value for a in video.attributes("fmtp")]

    def test_filter_nothing_offered_leaves_section_alone(self) -> None:
        audio = parse(CHROMIUM_OFFER).media[0]
        before = copy.deepcopy(audio.lines)
        with pytest.raises(ValueError, match="AMR"):
            filter_codecs(audio, ["AMR"])
        with pytest.raises(ValueError):
            filter_codecs(audio, ["telephone-event"])
        assert audio.lines == before
        assert audio.formats == ["111", "63", "9", "0", "8", "13", "110", "126"]

    def test_ensure_telephone_event_adds(self) -> None:
        sdp = parse(CHROMIUM_OFFER)
        audio = sdp.media[0]
        filter_codecs(audio, ["opus", "PCMU"])
        audio.formats = ["111", "0"]
        audio.remove_attributes("rtpmap", "110 ")
        audio.remove_attributes("rtpmap", "126 ")
        assert ensure_telephone_event(audio, [8000, 48000]) == [101, 110]
        assert audio.formats == ["111", "0", "101", "110"]
        assert audio.codec(101) == Codec(101, "telephone-event", 8000, None, "0-16")
        assert audio.codec(110) == Codec(110, "telephone-event", 48000, None, "0-16")
        values = [line.value for line in audio.lines if line.type == "a"]
        at = values.index("rtpmap:0 PCMU/8000")
        assert values[at + 1 : at + 5] == [
            "rtpmap:101 telephone-event/8000",
            "fmtp:101 0-16",
            "rtpmap:110 telephone-event/48000",
            "fmtp:110 0-16",
        ]
        # idempotent
        assert ensure_telephone_event(audio, [8000, 48000]) == [101, 110]
        assert audio.formats == ["111", "0", "101", "110"]

    def test_ensure_telephone_event_existing(self) -> None:
        audio = parse(CHROMIUM_OFFER).media[0]
        assert ensure_telephone_event(audio, [8000, 48000]) == [126, 110]
        assert ensure_telephone_event(audio) == [126, 110]

    def test_ensure_telephone_event_without_opus(self) -> None:
        audio = parse(PBX_OFFER).media[0]
        audio.formats = ["0", "8"]
        assert audio.remove_attributes("rtpmap", "101 ") == 1
        assert audio.remove_attributes("fmtp", "101 ") == 1
        assert ensure_telephone_event(audio, [8000, 48000]) == [101]  # no 48 kHz codec
        assert audio.formats == ["0", "8", "101"]

    def test_ensure_telephone_event_picks_a_free_type(self) -> None:
        sdp = parse(
            crlf(
                "v=0",
                "o=- 1 1 IN IP4 127.0.0.1",
                "s=-",
                "m=audio 9 RTP/AVP 101 127 0",
                "a=rtpmap:101 opus/48000/2",
                "a=rtpmap:127 L16/8000",
                "a=fmtp:126 stray",
            )
        )
        audio = sdp.media[0]
        assert ensure_telephone_event(audio, [8000]) == [125]

    def test_ensure_telephone_event_runs_out(self) -> None:
        pts = [str(pt) for pt in [*range(96, 128), *range(35, 64), 101]]
        section = MediaSection("audio", 9, "RTP/AVP", [*pts, "0"])
        with pytest.raises(ValueError, match="free"):
            ensure_telephone_event(section, [8000])

    def test_ensure_telephone_event_needs_audio(self) -> None:
        with pytest.raises(ValueError, match="audio"):
            ensure_telephone_event(parse(CHROMIUM_OFFER).media[1], [8000])

    def test_negotiated(self) -> None:
        offer = parse(CHROMIUM_OFFER).media[0]
        answer = parse(PBX_OFFER).media[0]
        answer.formats = ["0", "126"]
        answer.add_attribute("rtpmap", "126 telephone-event/8000")
        assert [(c.payload_type, c.encoding) for c in negotiated_codecs(offer, answer)] == [
            (0, "PCMU/8000"),
            (126, "telephone-event/8000"),
        ]
        answer.port = 0
        assert negotiated_codecs(offer, answer) == []


def _audio(*lines: str, formats: str) -> MediaSection:
    sdp = parse(
        crlf(
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.1",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=0 0",
            f"m=audio 4000 RTP/AVP {formats}",
            *lines,
        )
    )
    return sdp.media[0]


OPUS_OFFER_LINES = (
    "a=rtpmap:111 opus/48000/2",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=fmtp:110 0-15",
    "a=rtpmap:126 telephone-event/8000",
)


class TestAnswerTelephoneEvent:
    def test_answer_takes_the_offered_payload_types_and_fmtp(self) -> None:
        offer = _audio(*OPUS_OFFER_LINES, formats="111 0 110 126")
        # aiortc's own answer: its payload types, no telephone-event
        answer = _audio("a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000", formats="111 0")
        assert answer_telephone_event(offer, answer) == [110, 126]
        assert answer.formats == ["111", "0", "110", "126"]
        events = {c.payload_type: c for c in answer.codecs if c.name == "telephone-event"}
        assert (events[110].clock_rate, events[110].fmtp) == (48000, "0-15")
        assert (events[126].clock_rate, events[126].fmtp) == (8000, "0-16")

    def test_no_telephone_event_in_the_answer_when_the_offer_had_none(self) -> None:
        offer = _audio("a=rtpmap:0 PCMU/8000", formats="0")
        answer = _audio(
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            formats="0 101",
        )
        assert answer_telephone_event(offer, answer) == []
        assert answer.formats == ["0"]
        assert [str(line) for line in answer.lines if "101" in str(line)] == []

    def test_rates_of_codecs_the_answer_dropped_are_left_out(self) -> None:
        offer = _audio(*OPUS_OFFER_LINES, formats="111 0 110 126")
        answer = _audio("a=rtpmap:0 PCMU/8000", formats="0")  # Opus not kept
        assert answer_telephone_event(offer, answer) == [126]
        assert answer.formats == ["0", "126"]

    def test_a_payload_type_taken_in_the_answer_is_replaced_by_a_free_one(self) -> None:
        offer = _audio("a=rtpmap:0 PCMU/8000", "a=rtpmap:96 telephone-event/8000", formats="0 96")
        answer = _audio("a=rtpmap:0 PCMU/8000", "a=rtpmap:96 opus/48000/2", formats="0 96")
        (pt,) = answer_telephone_event(offer, answer)
        assert pt not in (0, 96)
        assert answer.codec(pt) == Codec(pt, "telephone-event", 8000, None, "0-16")


class TestNegotiatedAudio:
    def test_answerer_sends_events_with_the_offered_payload_type_at_the_audio_rate(self) -> None:
        offer = _audio(*OPUS_OFFER_LINES, formats="111 0 110 126")
        answer = _audio(
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/48000",
            "a=rtpmap:102 telephone-event/8000",
            formats="96 0 101 102",
        )
        # we answered: the remote description is the offer
        ours = negotiated_audio(answer, offer)
        assert ours is not None
        assert (ours.codec.name, ours.codec.payload_type, ours.clock_rate) == ("opus", 111, 48000)
        assert ours.telephone_event_pt == 110
        assert ours.receive_telephone_event_pts == {101, 102, 110, 126}
        # we offered: the remote description is the answer
        theirs = negotiated_audio(offer, answer)
        assert theirs is not None
        assert (theirs.codec.payload_type, theirs.telephone_event_pt) == (96, 101)

    def test_event_rate_must_match_the_audio_codec(self) -> None:
        offer = _audio(
            "a=rtpmap:111 opus/48000/2", "a=rtpmap:126 telephone-event/8000", formats="111 126"
        )
        answer = _audio(
            "a=rtpmap:111 opus/48000/2", "a=rtpmap:126 telephone-event/8000", formats="111 126"
        )
        audio = negotiated_audio(answer, offer)
        assert audio is not None
        assert audio.telephone_event_pt is None
        assert audio.receive_telephone_event_pts == {126}

    def test_g711_with_events_at_8000(self) -> None:
        offer = parse(PBX_OFFER).media[0]
        answer = _audio("a=rtpmap:0 PCMU/8000", formats="0")
        answer_telephone_event(offer, answer)
        audio = negotiated_audio(answer, offer)
        assert audio is not None
        assert (audio.codec.name, audio.clock_rate, audio.telephone_event_pt) == ("PCMU", 8000, 101)

    def test_no_common_codec_or_rejected_stream(self) -> None:
        offer = _audio("a=rtpmap:0 PCMU/8000", formats="0")
        answer = _audio("a=rtpmap:8 PCMA/8000", formats="8")
        assert negotiated_audio(answer, offer) is None
        answer.port = 0
        assert negotiated_audio(offer, answer) is None


def _sdp(*media_lines: str, session: str = "") -> bytes:
    head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + session
    return (head + "".join(media_lines)).encode()


AUDIO = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"


def test_ice_ufrag_of_the_audio_stream_or_the_session() -> None:
    assert ice_ufrag(_sdp(AUDIO + "a=ice-ufrag:abcd\r\n")) == "abcd"
    assert ice_ufrag(_sdp(AUDIO, session="a=ice-ufrag:sess\r\n")) == "sess"
    assert ice_ufrag(_sdp(AUDIO)) is None
    assert ice_ufrag(b"not sdp") is None
    assert ice_ufrag(_sdp("m=video 9 RTP/AVP 96\r\na=ice-ufrag:v\r\n")) is None


def test_holds_reads_the_offered_direction() -> None:
    assert holds(_sdp(AUDIO + "a=sendonly\r\n"))
    assert holds(_sdp(AUDIO + "a=inactive\r\n"))
    assert holds(_sdp(AUDIO, session="a=sendonly\r\n"))
    assert not holds(_sdp(AUDIO + "a=sendrecv\r\n"))
    assert not holds(_sdp(AUDIO + "a=recvonly\r\n"))
    assert not holds(b"\xff garbage")


def test_require_srtp() -> None:
    secure = (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"a=fingerprint:sha-256 AB:CD\r\n"
        b"m=audio 5004 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    )
    require_srtp(secure)  # session-level fingerprint, DTLS-SRTP profile: fine
    with pytest.raises(SdpError, match="RTP/AVP refused: SRTP is mandatory"):
        require_srtp(secure.replace(b"UDP/TLS/RTP/SAVPF", b"RTP/AVP"))
    with pytest.raises(SdpError, match="without a DTLS fingerprint"):
        require_srtp(secure.replace(b"a=fingerprint:sha-256 AB:CD\r\n", b""))
    # a disabled plain stream next to a secure one is no plain media
    require_srtp(secure + b"m=audio 0 RTP/AVP 0\r\n")
