from __future__ import annotations

import pytest

from sipcore import AuthHeader, CSeq, Headers, MediaType, ParseError, Via
from sipcore.headers import pop_first_value, split_list


class TestHeaders:
    def test_case_insensitive_and_compact(self) -> None:
        h = Headers([("Via", "SIP/2.0/UDP a"), ("v", "SIP/2.0/UDP b"), ("CALL-ID", "x")])
        assert h.get("VIA") == "SIP/2.0/UDP a"
        assert h.get_lines("via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]
        assert h.get("i") == "x"
        assert "call-id" in h
        assert "Contact" not in h
        assert h.get("Contact", "none") == "none"
        assert list(h) == [("Via", "SIP/2.0/UDP a"), ("v", "SIP/2.0/UDP b"), ("CALL-ID", "x")]
        assert len(h) == 3

    def test_get_all_splits_only_list_headers(self) -> None:
        h = Headers(
            [
                ("Contact", '"A, B" <sip:a@b>, <sip:c@d;x=1,2>'),
                ("WWW-Authenticate", 'Digest realm="a", nonce="b"'),
                ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
                ("X-Unknown", "a, b"),
                ("Allow", "INVITE, ACK,BYE"),
            ]
        )
        assert h.get_all("m") == ['"A, B" <sip:a@b>', "<sip:c@d;x=1,2>"]
        assert h.get_all("www-authenticate") == ['Digest realm="a", nonce="b"']
        assert h.get_all("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
        assert h.get_all("X-Unknown") == ["a, b"]
        assert h.get_all("Allow") == ["INVITE", "ACK", "BYE"]

    def test_mutation_keeps_order_and_invalidates(self) -> None:
        h = Headers([("Via", "SIP/2.0/UDP a"), ("To", "<sip:b@c>"), ("Via", "SIP/2.0/UDP b")])
        assert h.typed("via", len) == 2
        h.prepend("Via", "SIP/2.0/UDP z")
        assert h.typed("via", len) == 3
        assert h.get("via") == "SIP/2.0/UDP z"
        h.remove_first("Via")
        assert h.get_lines("via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]
        h.set("Via", "SIP/2.0/TCP q")
        assert list(h) == [("Via", "SIP/2.0/TCP q"), ("To", "<sip:b@c>")]
        h.remove("to")
        assert list(h) == [("Via", "SIP/2.0/TCP q")]
        h.remove("absent")
        h.remove_first("absent")
        copy = h.copy()
        copy.add("X", "1")
        assert "X" not in h

    def test_refuses_injection(self) -> None:
        h = Headers()
        with pytest.raises(ValueError):
            h.add("X", "a\r\nInjected: yes")
        with pytest.raises(ValueError):
            h.add("Bad Name", "x")

    def test_split_list_quotes_and_brackets(self) -> None:
        assert split_list('a, "b,\\"c", <d,e>') == ["a", '"b,\\"c"', "<d,e>"]
        assert split_list("one") == ["one"]

    def test_pop_first_value(self) -> None:
        h = Headers(
            [("Route", "<sip:p1;lr>, <sip:p2;lr>"), ("To", "<sip:b@c>"), ("Route", "<sip:p3>")]
        )
        pop_first_value(h, "Route")  # the first line holds two values: only one goes
        assert h.get_lines("Route") == ["<sip:p2;lr>", "<sip:p3>"]
        pop_first_value(h, "Route")
        assert list(h) == [("To", "<sip:b@c>"), ("Route", "<sip:p3>")]
        pop_first_value(h, "Route")
        pop_first_value(h, "Route")  # nothing left: no error
        assert list(h) == [("To", "<sip:b@c>")]


class TestVia:
    def test_parse(self) -> None:
        via = Via.parse(
            "SIP/2.0/WSS df7jal23ls0d.invalid;received=127.0.0.1;rport=54321;branch=z9hG4bK1"
        )
        assert via.transport == "WSS"
        assert via.host == "df7jal23ls0d.invalid"
        assert via.port is None
        assert via.branch == "z9hG4bK1"
        assert via.received == "127.0.0.1"
        assert via.rport == 54321
        assert via.sent_by == "df7jal23ls0d.invalid"

    def test_lws_and_case(self) -> None:
        # RFC 4475 §3.1.1.1 wsinv: LWS around the separators, lower-case transport
        via = Via.parse("SIP  /   2.0  / udp  192.0.2.2 : 05060 ; branch = 390skdjuw ; rport")
        assert via.transport == "UDP"
        assert via.port == 5060
        assert via.branch == "390skdjuw"
        assert via.rport is True

    def test_ipv6(self) -> None:
        via = Via.parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
        assert via.host == "[2001:db8::9:1]"
        assert via.received == "2001:db8::9:255"

    def test_unknown_transport_kept(self) -> None:
        assert Via.parse("SIP/2.0/NOTATRANSPORT t.example.com").transport == "NOTATRANSPORT"

    @pytest.mark.parametrize(
        "text",
        ["SIP/2.0/UDP", "SIP/2.0 host", "SIP/2.0/UDP host:70000", "SIP/2.0/UDP [::1", "garbage"],
    )
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ParseError):
            Via.parse(text)

    def test_bad_rport_and_ttl(self) -> None:
        with pytest.raises(ParseError):
            _ = Via.parse("SIP/2.0/UDP h;rport=abc").rport
        with pytest.raises(ParseError):
            _ = Via.parse("SIP/2.0/UDP h;ttl=300").ttl

    def test_str_round_trip(self) -> None:
        via = Via("ws", "a.invalid", None, {"branch": "z9hG4bKx", "rport": None})
        assert str(via) == "SIP/2.0/WS a.invalid;branch=z9hG4bKx;rport"
        assert Via.parse(str(via)) == via
        assert via.replace(port=5060).port == 5060


class TestScalars:
    def test_cseq(self) -> None:
        assert CSeq.parse("0009 INVITE") == CSeq(9, "INVITE")
        assert CSeq.parse("1 \t NEWMETHOD") == CSeq(1, "NEWMETHOD")
        assert CSeq.parse("2147483647 ACK").number == 2**31 - 1
        for bad in ("2147483648 INVITE", "x INVITE", "1", "36893488147419103232 INVITE"):
            with pytest.raises(ParseError):
                CSeq.parse(bad)

    def test_media_type(self) -> None:
        mt = MediaType.parse('Multipart/Mixed; boundary="unique-boundary-1"')
        assert mt.mime == "multipart/mixed"
        assert mt.params == {"boundary": '"unique-boundary-1"'}
        with pytest.raises(ParseError):
            MediaType.parse("application")


class TestAuthHeader:
    def test_digest_challenge(self) -> None:
        auth = AuthHeader.parse(
            'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth,auth-int", '
            'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5'
        )
        assert auth.scheme == "Digest"
        assert auth.params["qop"] == "auth,auth-int"
        assert auth.params["opaque"] == ""
        assert auth.params["stale"] == "FALSE"
        again = AuthHeader.parse(str(auth))
        assert again == auth

    def test_bearer(self) -> None:
        auth = AuthHeader.parse("Bearer eyJhbGciOi.J9.xyz==")
        assert auth.token68 == "eyJhbGciOi.J9.xyz=="
        assert str(auth) == "Bearer eyJhbGciOi.J9.xyz=="

    @pytest.mark.parametrize("text", ['Digest realm="a', "Digest =x", "Di gest realm=a junk", ""])
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ParseError):
            AuthHeader.parse(text)


def test_auth_header_rules() -> None:
    creds = AuthHeader.parse('Digest\tusername="a", qop=auth, nc=00000001, response="x"')
    assert "qop=auth," in str(creds)  # a bare token in credentials (RFC 7616 §3.4)
    with pytest.raises(ParseError):
        AuthHeader.parse('Digest realm="a", realm="b"')  # RFC 7235 §2.2
    with pytest.raises(ParseError):
        AuthHeader.parse("Bearer abc def")
