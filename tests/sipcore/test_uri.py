from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipcore import AbsoluteUri, NameAddr, ParseError, SipUri, TelUri, parse_name_addr, parse_uri
from sipcore.uri import _fast_sip_uri, parse_delta_seconds, parse_port


class TestSipUri:
    def test_full(self) -> None:
        uri = SipUri.parse("sips:alice:secret@Example.COM:5061;transport=TLS;lr;maddr=10.0.0.1?x=y")
        assert uri.scheme == "sips"
        assert uri.user == "alice"
        assert uri.password == "secret"
        assert uri.host == "Example.COM"
        assert uri.port == 5061
        assert uri.params == {"transport": "TLS", "lr": None, "maddr": "10.0.0.1"}
        assert uri.transport == "tls"
        assert uri.lr
        assert uri.maddr == "10.0.0.1"
        assert uri.headers == {"x": "y"}
        assert str(uri) == "sips:alice:secret@Example.COM:5061;transport=TLS;lr;maddr=10.0.0.1?x=y"

    def test_no_user(self) -> None:
        uri = SipUri.parse("sip:127.0.0.1;transport=ws")
        assert uri.user is None
        assert uri.host == "127.0.0.1"
        assert uri.port is None
        assert uri.effective_port == 5060
        assert uri.hostport == "127.0.0.1"

    def test_user_with_semicolon_and_escapes(self) -> None:
        # RFC 4475 §3.1.1.9 semiuri: ';' belongs to the user part before '@'
        uri = SipUri.parse("sip:user;par=u%40example.net@example.com")
        assert uri.user == "user;par=u%40example.net"
        assert uri.host == "example.com"
        assert uri.params == {}

    def test_ipv6(self) -> None:
        uri = SipUri.parse("sip:[2001:db8::10]:5070;transport=udp")
        assert uri.host == "[2001:db8::10]"
        assert uri.port == 5070
        assert SipUri.parse("sip:user@[::1]").host == "[::1]"

    @pytest.mark.parametrize(
        "text",
        [
            "sip:",
            "sip:@example.com",
            "sip:user@",
            "sip:user@exa mple.com",
            "sip:user@example.com:99999",
            "sip:user@example.com:5x",
            "sip:user@[2001:db8::10",
            "sip:user@[2001:db8:::10:zz]",
            "sip:2001:db8::10",  # RFC 5118 §4.2: IPv6 without brackets
            "sip:user@example..com",
            "sip:user@-example.com",
            "sip:user@example.com;;lr",
            "sip:user@example.com;a=b=c",
            "sip:us%zzer@example.com",
            "sip:user@example.com?noequals",
            "sip:a@b@c",
            "http://example.com",
        ],
    )
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ParseError):
            SipUri.parse(text)

    def test_equivalence_rfc3261_19_1_4(self) -> None:
        # §19.1.4 examples of equivalent URIs
        pairs = [
            ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
        ]
        for a, b in pairs:
            assert SipUri.parse(a).equivalent(SipUri.parse(b)), (a, b)
        not_equal = [
            ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;newparam=6"),
        ]
        for a, b in not_equal:
            assert not SipUri.parse(a).equivalent(SipUri.parse(b)), (a, b)

    def test_build_and_replace(self) -> None:
        uri = SipUri("example.com", user="bob", port=5070, params={"transport": "ws"})
        assert str(uri) == "sip:bob@example.com:5070;transport=ws"
        assert str(uri.replace(port=None, params={})) == "sip:bob@example.com"
        assert SipUri.parse(str(uri)) == uri


class TestOtherUris:
    def test_tel(self) -> None:
        uri = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
        assert isinstance(uri, TelUri)
        assert uri.number == "+1-201-555-0123"
        assert uri.params == {"phone-context": "example.com"}
        assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"

    def test_absolute(self) -> None:
        uri = parse_uri("nobodyknowsthisscheme:totallyopaquecontent")
        assert isinstance(uri, AbsoluteUri)
        assert uri.scheme == "nobodyknowsthisscheme"  # as written
        assert str(uri) == "nobodyknowsthisscheme:totallyopaquecontent"
        assert isinstance(parse_uri("soap.beep://192.0.2.103:3002"), AbsoluteUri)

    @pytest.mark.parametrize(
        "text", ["", "nocolon", "1abc:def", "mailto:a b", "tel:", "tel:+1;a=%zz", "tel:+1%2"]
    )
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ParseError):
            parse_uri(text)


class TestNameAddr:
    def test_quoted_display_name(self) -> None:
        addr = parse_name_addr('"Alice \\"A\\" Smith" <sip:alice@atlanta.com>;tag=1928301774')
        assert addr.display_name == 'Alice "A" Smith'
        assert str(addr.uri) == "sip:alice@atlanta.com"
        assert addr.tag == "1928301774"

    def test_token_display_name_and_no_space(self) -> None:
        assert parse_name_addr("Bob Smith <sip:bob@b.com>").display_name == "Bob Smith"
        # RFC 4475 §3.1.1.6 lwsdisp: no LWS between display name and <
        assert parse_name_addr('"caller"<sip:caller@example.com>').display_name == "caller"
        assert parse_name_addr("caller<sip:caller@example.com>").display_name == "caller"

    def test_addr_spec_params_are_header_params(self) -> None:
        # §20.10: without <>, ';' parameters belong to the header, not to the URI
        addr = parse_name_addr("sip:bob@biloxi.com;tag=abc;expires=60")
        assert addr.uri == SipUri("biloxi.com", user="bob")
        assert addr.params == {"tag": "abc", "expires": "60"}
        assert addr.expires == 60

    def test_uri_params_inside_brackets(self) -> None:
        addr = parse_name_addr('<sip:bob@b.com;transport=ws;ob>;q=0.7;+sip.instance="<urn:x>"')
        assert isinstance(addr.uri, SipUri)
        assert addr.uri.params == {"transport": "ws", "ob": None}
        assert addr.q == 0.7
        assert addr.params["+sip.instance"] == '"<urn:x>"'

    def test_other_schemes(self) -> None:
        assert isinstance(parse_name_addr("<tel:+123>;tag=x").uri, TelUri)
        assert isinstance(parse_name_addr("<urn:service:sos>").uri, AbsoluteUri)

    @pytest.mark.parametrize(
        "text",
        [
            '"unterminated <sip:a@b.com>',
            "Bell, Alexander <sip:a@b.com>",  # RFC 4475 §3.1.2.14 baddn
            "<sip:a@b.com",
            "sip:user@example.com?Route=%3Csip:example.com%3E",  # §3.1.2.11 regbadct
            "<sip:a@b.com>;tag=",
            "<sip:a@b.com>;=x",
            "<sip:a@b.com> junk",
            "<sip:a @b.com>",
            "",
        ],
    )
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ParseError):
            NameAddr.parse(text).params  # noqa: B018

    def test_q_and_expires_range(self) -> None:
        with pytest.raises(ParseError):
            _ = parse_name_addr("<sip:a@b.com>;q=1.5").q
        with pytest.raises(ParseError):
            _ = parse_name_addr("<sip:a@b.com>;expires=99999999999").expires

    def test_with_tag_and_str(self) -> None:
        addr = NameAddr(SipUri("b.com", user="a"), "A", {}).with_tag("t1")
        assert str(addr) == '"A" <sip:a@b.com>;tag=t1'
        assert parse_name_addr(str(addr)) == addr


def test_numbers() -> None:
    assert parse_port("0005060", "x") == 5060
    assert parse_delta_seconds("0000000000000000003600", "x") == 3600
    with pytest.raises(ParseError):
        parse_delta_seconds("4294967296", "x")
    with pytest.raises(ParseError):
        parse_delta_seconds("-1", "x")
    with pytest.raises(ParseError):
        parse_delta_seconds("٣", "x")  # a non-ASCII digit


_URI_ALPHABET = "abcAZ09-_.!~*'()&=+$,;?/:@[]%<> \"\t"


@given(st.text(alphabet=_URI_ALPHABET, max_size=40))
def test_fast_path_agrees_with_grammar(tail: str) -> None:
    """The str-method fast path accepts a subset of what the full patterns accept, identically."""
    text = "sip:" + tail
    fast = _fast_sip_uri(text)
    if fast is None:
        return
    slow = SipUri._parse_grammar(text)  # raises ParseError if the grammar refuses the text
    assert fast == slow
    assert str(fast) == text


@given(st.text(max_size=60))
def test_parsers_raise_only_parse_error(text: str) -> None:
    for parse in (parse_uri, parse_name_addr):
        try:
            value = parse(text)
        except ParseError:
            continue
        if isinstance(value, NameAddr):
            assert isinstance(value.params, dict)  # validated at parse time: splitting cannot fail
