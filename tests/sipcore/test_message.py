from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipcore import (
    MAGIC_COOKIE,
    Limits,
    NameAddr,
    ParseError,
    Request,
    Response,
    SipUri,
    Via,
    build_request,
    build_response,
    generate_branch,
    generate_call_id,
    generate_tag,
    parse_message,
    reason_phrase,
)
from tests.fuzz.targets import sip_message

INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Route: <sip:127.0.0.1:8443;transport=ws;lr>\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b'From: "Alice" <sip:alice@atlanta.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:k3l4m5n6@df7jal23ls0d.invalid;transport=ws;ob>\r\n"
    b"Supported: timer, outbound\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)

OK_REGISTER = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnashds7;received=192.0.2.4;rport=5060\r\n"
    b"From: <sip:alice@example.com>;tag=a73kszlfl\r\n"
    b"To: <sip:alice@example.com>;tag=37GkEhwl6\r\n"
    b"Call-ID: 1j9FpLxk3uxtm8tn@10.0.0.1\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b'Contact: <sip:alice@10.0.0.1>;expires=3600;+sip.instance="<urn:uuid:0001>"\r\n'
    b"Content-Length: 0\r\n"
    b"\r\n"
)


class TestParse:
    def test_request(self) -> None:
        msg = parse_message(INVITE)
        assert isinstance(msg, Request)
        assert msg.method == "INVITE"
        assert str(msg.uri) == "sip:bob@biloxi.com"
        assert msg.call_id == "a84b4c76e66710@pc33.atlanta.com"
        assert (msg.cseq.number, msg.cseq.method) == (314159, "INVITE")
        (via,) = msg.vias
        assert (via.transport, via.host, via.port, via.branch) == (
            "WSS",
            "df7jal23ls0d.invalid",
            None,
            "z9hG4bK776asdhds",
        )
        assert msg.from_.display_name == "Alice"
        assert msg.from_.tag == "1928301774"
        assert msg.to.tag is None
        assert msg.to.display_name == "Bob"
        assert [str(c.uri) for c in msg.contacts] == [
            "sip:k3l4m5n6@df7jal23ls0d.invalid;transport=ws;ob"
        ]
        assert msg.max_forwards == 70
        assert [str(r.uri) for r in msg.routes] == ["sip:127.0.0.1:8443;transport=ws;lr"]
        assert msg.record_routes == []
        assert msg.supported == ["timer", "outbound"]
        assert msg.allow == ["INVITE", "ACK", "CANCEL", "BYE"]
        assert msg.require == []
        assert msg.content_type is not None and msg.content_type.mime == "application/sdp"
        assert msg.content_length == 4
        assert msg.body == b"v=0\n"
        assert msg.headers.get("l") == "4"
        assert bytes(msg) == INVITE

    def test_response(self) -> None:
        msg = parse_message(OK_REGISTER)
        assert isinstance(msg, Response)
        assert (msg.status_code, msg.reason) == (200, "OK")
        assert msg.top_via.received == "192.0.2.4"
        assert msg.top_via.rport == 5060
        (contact,) = msg.contacts
        assert contact.expires == 3600
        assert contact.params["+sip.instance"] == '"<urn:uuid:0001>"'
        assert not msg.contact_star
        assert bytes(msg) == OK_REGISTER

    def test_compact_and_folded_headers(self) -> None:
        data = (
            b"OPTIONS sip:a@b.com SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
            b"f: <sip:c@d.com>;tag=1\r\nt: <sip:a@b.com>\r\ni: cid\r\n"
            b"CSeq: 1\r\n  OPTIONS\r\nSubject: one\r\n\ttwo\r\nl: 0\r\n\r\n"
        )
        msg = parse_message(data)
        assert msg.cseq.method == "OPTIONS"
        assert msg.headers.get("subject") == "one two"
        assert msg.headers.get("s") == "one two"

    def test_leading_crlf_and_bare_lf(self) -> None:
        msg = parse_message(b"\r\n\r\n" + INVITE)
        assert msg.call_id == "a84b4c76e66710@pc33.atlanta.com"
        bare = INVITE.replace(b"\r\n", b"\n")
        assert parse_message(bare).call_id == "a84b4c76e66710@pc33.atlanta.com"

    def test_contact_star(self) -> None:
        data = OK_REGISTER.replace(
            b'Contact: <sip:alice@10.0.0.1>;expires=3600;+sip.instance="<urn:uuid:0001>"',
            b"Contact: *\r\nExpires: 0",
        )
        msg = parse_message(data)
        assert msg.contact_star
        assert msg.contacts == []
        assert msg.expires == 0
        with pytest.raises(ParseError):
            parse_message(data.replace(b"Contact: *", b"Contact: *, <sip:a@b>"))

    def test_datagram_trailing_octets_ignored(self) -> None:
        msg = parse_message(INVITE + b"garbage")
        assert msg.body == b"v=0\n"

    def test_no_content_length(self) -> None:
        data = INVITE.replace(b"Content-Length: 4\r\n", b"")
        assert parse_message(data).body == b"v=0\n"
        with pytest.raises(ParseError):
            parse_message(data, stream=True)

    def test_auth_headers(self) -> None:
        data = OK_REGISTER.replace(b"200 OK", b"401 Unauthorized").replace(
            b"Content-Length: 0",
            b'WWW-Authenticate: Digest realm="example.com", nonce="abc", qop="auth,auth-int"\r\n'
            b'WWW-Authenticate: Digest realm="example.com", nonce="def", algorithm=SHA-256\r\n'
            b"Content-Length: 0",
        )
        msg = parse_message(data)
        challenges = msg.www_authenticate
        assert [c.params["nonce"] for c in challenges] == ["abc", "def"]
        assert challenges[0].params["qop"] == "auth,auth-int"
        assert msg.proxy_authenticate == []


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"", 400),
        (b"INVITE sip:a@b SIP/2.0\r\n", 400),  # no empty line
        (INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
        (INVITE.replace(b"INVITE sip", b"INVITE  sip", 1), 400),
        (INVITE.replace(b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", b""), 400),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), 400),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), 400),
        (INVITE.replace(b"Content-Length: 4", b"Content-Length: 5"), 400),
        (INVITE.replace(b"Content-Length: 4", b"Content-Length: -4"), 400),
        (INVITE.replace(b"Content-Length: 4", b"Content-Length: 4\r\nl: 4"), 400),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards 70"), 400),
        (INVITE.replace(b"Max-Forwards: 70", b"Max Forwards: 70"), 400),
        (INVITE.replace(b"To: Bob", b"To: Bob\r\nTo: Bob"), 400),
        (INVITE.replace(b"Via: SIP/2.0/WSS", b"Via: SIP/2.0/"), 400),
        (b"SIP/2.0 1000 Nope\r\n\r\n", 400),
        (b"SIP/2.0 099 Nope\r\n\r\n", 400),
        (b" \r\n\r\n", 400),
    ],
)
def test_malformed(data: bytes, hint: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_message(data)
    assert info.value.status_hint == hint


def test_limits() -> None:
    limits = Limits(max_message_size=2000, max_header_count=20, max_line_length=100)
    with pytest.raises(ParseError) as info:
        parse_message(INVITE + b"x" * 2000, limits=limits)
    assert info.value.status_hint == 513
    many = INVITE.replace(b"Max-Forwards: 70\r\n", b"X-A: 1\r\n" * 30 + b"Max-Forwards: 70\r\n")
    with pytest.raises(ParseError):
        parse_message(many, limits=limits)
    long_line = INVITE.replace(b"Max-Forwards: 70\r\n", b"X-A: " + b"a" * 150 + b"\r\n")
    with pytest.raises(ParseError):
        parse_message(long_line, limits=Limits(max_line_length=100))
    assert parse_message(INVITE, limits=limits).method == "INVITE"


def test_non_bytes_input() -> None:
    with pytest.raises(ParseError):
        parse_message("INVITE")  # type: ignore[arg-type]
    assert parse_message(bytearray(INVITE)).method == "INVITE"  # type: ignore[arg-type]


class TestBuild:
    def test_request_and_response_per_8_2_6(self) -> None:
        via = Via("UDP", "10.0.0.1", 5060, {"branch": generate_branch(), "rport": None})
        req = build_request(
            "INVITE",
            SipUri("biloxi.com", user="bob"),
            from_addr=NameAddr(
                SipUri("atlanta.com", user="alice"), "Alice", {"tag": generate_tag()}
            ),
            to_addr=NameAddr(SipUri("biloxi.com", user="bob")),
            call_id=generate_call_id("atlanta.com"),
            cseq=1,
            via=via,
            contact=NameAddr(SipUri("10.0.0.1", user="alice")),
            headers=[("Timestamp", "54"), ("Record-Route", "<sip:p1.example.com;lr>")],
            body=b"v=0\r\n",
            content_type="application/sdp",
        )
        wire = bytes(req)
        parsed = parse_message(wire)
        assert isinstance(parsed, Request)
        assert parsed.vias[0].branch is not None
        assert parsed.vias[0].branch.startswith(MAGIC_COOKIE)
        assert parsed.max_forwards == 70
        assert parsed.body == b"v=0\r\n"
        assert parsed.content_length == 5

        trying = build_response(parsed, 100, to_tag="ignored-for-100")
        assert trying.reason == "Trying"
        assert trying.headers.get("Timestamp") == "54"
        assert trying.to.tag is None
        assert trying.record_routes == []

        ringing = build_response(parsed, 180, to_tag="xyz")
        again = parse_message(bytes(ringing))
        assert isinstance(again, Response)
        assert again.to.tag == "xyz"
        assert again.from_.tag == parsed.from_.tag
        assert again.call_id == parsed.call_id
        assert again.cseq == parsed.cseq
        assert [str(v) for v in again.vias] == [str(v) for v in parsed.vias]
        assert [str(r) for r in again.record_routes] == ["<sip:p1.example.com;lr>"]
        assert "Timestamp" not in again.headers

        busy = build_response(parsed, 486, to_tag="xyz")
        assert busy.reason == "Busy Here"
        assert busy.record_routes == []

    def test_serialize_fixes_content_length(self) -> None:
        msg = parse_message(INVITE)
        msg.body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
        again = parse_message(bytes(msg))
        assert again.body == msg.body
        assert again.content_length == len(msg.body)
        assert msg.headers.get("Content-Length") == "4"  # the original stays untouched

    def test_body_needs_content_type(self) -> None:
        with pytest.raises(ValueError):
            build_request(
                "MESSAGE",
                SipUri("b.com"),
                from_addr=NameAddr(SipUri("a.com")),
                to_addr=NameAddr(SipUri("b.com")),
                call_id="c",
                cseq=1,
                via=Via("UDP", "a.com"),
                body=b"hi",
            )

    def test_reason_phrase(self) -> None:
        assert reason_phrase(487) == "Request Terminated"
        assert reason_phrase(499) == "Bad Request"
        assert reason_phrase(799) == "Unknown"


# -- properties ----------------------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_token = st.text(alphabet=_ALNUM + "-.!%*_+`'~", min_size=1, max_size=12)
_user = st.text(alphabet=_ALNUM + "-_.!~*'()&=+$,;?/", min_size=1, max_size=12)
_pchars = st.text(alphabet=_ALNUM + "-_.!~*'()[]/:&+$", min_size=1, max_size=12)
_host = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,2}", fullmatch=True)
_display = st.none() | st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12
)


@st.composite
def _name_addrs(draw: st.DrawFn) -> NameAddr:
    uri = SipUri(
        draw(_host),
        user=draw(st.none() | _user),
        port=draw(st.none() | st.integers(0, 65535)),
        params=draw(st.dictionaries(_pchars.map(str.lower), st.none() | _pchars, max_size=3)),
    )
    params = draw(st.dictionaries(_token.map(str.lower), st.none() | _token, max_size=3))
    return NameAddr(uri, draw(_display), params)


@st.composite
def _requests(draw: st.DrawFn) -> Request:
    method = draw(_token.filter(lambda t: t.isalpha()) | st.sampled_from(["INVITE", "BYE"]))
    vias = draw(
        st.lists(
            st.builds(
                Via,
                st.sampled_from(["UDP", "TCP", "WS", "WSS", "TLS"]),
                _host,
                st.none() | st.integers(0, 65535),
                st.dictionaries(_token.map(str.lower), st.none() | _token, max_size=3),
            ),
            min_size=1,
            max_size=3,
        )
    )
    req = build_request(
        method,
        draw(_name_addrs()).uri,
        from_addr=draw(_name_addrs()),
        to_addr=draw(_name_addrs()),
        call_id=draw(_token),
        cseq=draw(st.integers(0, 2**31 - 1)),
        via=vias[0],
        max_forwards=draw(st.integers(0, 255)),
        contact=draw(st.none() | _name_addrs()),
        headers=[("Via", str(v)) for v in vias[1:]]
        + draw(st.lists(st.tuples(_token.map(lambda t: "X-" + t), _token), max_size=4)),
        body=draw(st.binary(max_size=64)),
        content_type="application/octet-stream",
    )
    return req


@given(_requests())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_build_serialize_parse_round_trip(req: Request) -> None:
    wire = bytes(req)
    parsed = parse_message(wire)
    assert isinstance(parsed, Request)
    assert parsed.method == req.method
    assert parsed.uri == req.uri
    assert parsed.from_ == req.from_
    assert parsed.to == req.to
    assert parsed.call_id == req.call_id
    assert parsed.cseq == req.cseq
    assert parsed.vias == req.vias
    assert parsed.contacts == req.contacts
    assert parsed.max_forwards == req.max_forwards
    assert parsed.body == req.body
    assert list(parsed.headers) == list(req.headers)
    assert bytes(parsed) == wire


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Random edits of a valid message: byte flips, cuts, insertions of delimiters."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            kind = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
            pos = draw(st.integers(0, max(0, len(buf) - 1)))
            if kind == "flip" and buf:
                buf[pos] = draw(st.integers(0, 255))
            elif kind == "cut":
                del buf[pos : pos + draw(st.integers(1, 40))]
            elif kind == "insert":
                buf[pos:pos] = draw(
                    st.sampled_from(
                        [b"\r\n", b":", b";", b",", b"<", b">", b'"', b" ", b"\x00", b"%"]
                    )
                )
            else:
                end = min(len(buf), pos + draw(st.integers(1, 80)))
                buf[pos:pos] = buf[pos:end]
        return bytes(buf)

    return mutate()


@given(st.one_of(st.binary(max_size=600), _mutations(INVITE), _mutations(OK_REGISTER)))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_any_input_raises_only_parse_error_and_is_bounded(data: bytes) -> None:
    started = time.perf_counter()
    sip_message(data)  # only ParseError; every lazy accessor too; what parses round-trips
    assert time.perf_counter() - started < 1.0
