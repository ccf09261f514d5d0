"""RFC 4475 and RFC 5118 torture messages against ``parse_message``.

Every file in ``tests/data/torture`` is one message of RFC 4475 §3 or RFC 5118 §4, byte for byte
(see the README there). ``CASES`` holds one entry per file: the verdict a conformant *message
parser* reaches with datagram semantics (the default of ``parse_message``), the ``status_hint`` of
the ``ParseError`` for requests it rejects, and for every message it accepts the values it must
expose so that the transaction and application layers can take the decision the RFC describes
(416 for an unknown scheme, 420 for an unknown Require, 483 for Max-Forwards 0 ...).

Where the RFC leaves the verdict to the implementation, the table takes the strict choice that
still lets the stack answer usefully, and says so in a comment quoting the RFC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import pytest

from sipcore import AbsoluteUri, ParseError, Request, Response, SipUri, parse_message

SipMessage: TypeAlias = Request | Response

DATA = Path(__file__).resolve().parent.parent / "data" / "torture"

# How the Content-Length header field of a file relates to the octets after its empty line.
Framing = Literal["exact", "absent", "larger", "negative", "trailing", "conflicting"]


@dataclass(frozen=True)
class ExpVia:
    """One Via value: transport, sent-by host and port, branch."""

    transport: str
    host: str
    port: int | None = None
    branch: str | None = None


@dataclass(frozen=True)
class ExpAddr:
    """A From, To or Contact value: URI (wire form), display name, tag."""

    uri: str
    display_name: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Case:
    """One torture message and what the parser must make of it."""

    name: str
    ref: str
    verdict: Literal["valid", "invalid"]
    # invalid: the ParseError.status_hint, or None for responses (the RFC drops them)
    status_hint: int | None = None
    # valid requests
    method: str | None = None
    uri: str | None = None
    # valid responses
    status_code: int | None = None
    reason: str | None = None
    # valid messages
    call_id: str | None = None
    cseq: tuple[int, str] | None = None
    vias: tuple[ExpVia, ...] = ()
    from_: ExpAddr | None = None
    to: ExpAddr | None = None
    contacts: tuple[ExpAddr, ...] = ()
    max_forwards: int | None = None
    body_len: int = 0
    framing: Framing = "exact"
    check: Callable[[SipMessage], None] | None = None


def valid(name: str, ref: str, **expected: Any) -> Case:
    return Case(name, ref, "valid", **expected)


def invalid(name: str, ref: str, status_hint: int | None, framing: Framing = "exact") -> Case:
    return Case(name, ref, "invalid", status_hint=status_hint, framing=framing)


def load(name: str) -> bytes:
    return (DATA / f"{name}.sip").read_bytes()


def header_section(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[:end]


def body_octets(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    return b"" if end < 0 else data[end + 4 :]


def _request(msg: SipMessage) -> Request:
    assert isinstance(msg, Request)
    return msg


def _sip(uri: object) -> SipUri:
    assert isinstance(uri, SipUri)
    return uri


def _ruri(msg: SipMessage) -> SipUri:
    """The Request-URI, which must be a SIP URI wherever this is called."""
    return _sip(_request(msg).uri)


# --- per-message checks beyond the common fields -----------------------------------------------


def _wsinv(msg: SipMessage) -> None:
    # §3.1.1.1: empty Subject (compact "s"), unknown headers kept verbatim, folded values,
    # unknown URI and header parameters, leading zeros in Max-Forwards and CSeq.
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    newfangled = msg.headers.get("NewFangledHeader")
    assert newfangled is not None
    assert newfangled.startswith("newfangled value")
    assert newfangled.endswith("continued newfangled value")
    assert _ruri(msg).params == {"unknownparam": None}
    assert [str(r.uri) for r in msg.routes] == [
        "sip:services.example.com;lr;unknownwith=value;unknown-no-value"
    ]
    (contact,) = msg.contacts
    assert contact.params["newparam"] == "newvalue"
    assert "secondparam" in contact.params
    assert contact.params["secondparam"] is None
    assert contact.q == pytest.approx(0.33)
    assert msg.content_type is not None
    assert (msg.content_type.type, msg.content_type.subtype) == ("application", "sdp")
    assert msg.content_length == 150


def _intmeth(msg: SipMessage) -> None:
    # §3.1.1.2: token characters in the method, unusual but legal URI characters, quoted-pairs
    # of BEL/NUL/DEL in the To display name, UTF-8 in a header parameter and header value.
    uri = _ruri(msg)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    param = msg.from_.params["fromparam''~+*_!.-%"]
    assert param is not None
    assert "работающий" in param
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def _esc01(msg: SipMessage) -> None:
    # §3.1.1.3: escapes are kept as on the wire; the compact forms i, C are understood.
    uri = _ruri(msg)
    assert uri.user == "sips%3Auser%40example.com"
    assert uri.host == "example.net"
    assert msg.content_type is not None
    assert (msg.content_type.type, msg.content_type.subtype) == ("application", "sdp")


def _esc02(msg: SipMessage) -> None:
    # §3.1.1.5: "C%6Fntact" is not Contact but an unknown header.
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def _longreq(msg: SipMessage) -> None:
    # §3.1.1.7: long header values and parameters; From is in addr-spec form, so everything
    # after the URI is a header parameter (RFC 3261 §20.10).
    long20 = "long" * 20
    assert msg.from_.params["unknownheaderparam" + "name" * 20] == LONG_FROM_PARAM_VALUE
    assert "unknownvalueless" + "paramname" * 10 in msg.from_.params
    assert msg.vias[-1].received == "192.0.2.5"
    assert msg.headers.get(f"Unknown-{'Long' * 20}-Name") == (
        f"unknown-{long20}-value; unknown-{long20}-parameter-name"
        f" = unknown-{long20}-parameter-value"
    )


def _dblreq(msg: SipMessage) -> None:
    # §3.1.1.8 and RFC 3261 §18.3: the octets after Content-Length: 0 are not part of the message.
    assert msg.content_length == 0
    assert msg.body == b""
    assert b"INVITE" not in bytes(msg)


def _semiuri(msg: SipMessage) -> None:
    # §3.1.1.9: ";par=..." belongs to the user part, not to the URI parameters.
    uri = _ruri(msg)
    assert uri.user == "user;par=u%40example.net"
    assert uri.host == "example.com"
    assert uri.params == {}
    assert msg.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def _mpart01(msg: SipMessage) -> None:
    # §3.1.1.11: the binary body holds NUL octets and must come through whole.
    assert msg.vias[0].rport is True
    assert [str(r.uri) for r in msg.routes] == ["sip:127.0.0.1:5080"]
    identity = msg.headers.get("Identity")
    assert identity is not None
    assert identity.startswith("r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuL")
    assert msg.content_type is not None
    assert (msg.content_type.type, msg.content_type.subtype) == ("multipart", "mixed")
    assert msg.content_type.params["boundary"] == "7a9cbec02ceef655"
    assert b"\x00" in msg.body
    assert msg.body == body_octets(load("mpart01"))


def _baddate(msg: SipMessage) -> None:
    # §3.1.2.12: "It is acceptable to reject this request as malformed (though an element
    # shouldn't do that unless the contents of the Date header field were actually important
    # to its processing)." Date is not needed to frame, route or match a message, so the
    # parser accepts the request and hands the raw value to whoever cares about it.
    assert msg.headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def _unkscm(msg: SipMessage) -> None:
    # §3.3.2: well-formed; the 416 is the application's decision, made on the scheme.
    uri = _request(msg).uri
    assert isinstance(uri, AbsoluteUri)
    assert uri.scheme.lower() == "nobodyknowsthisscheme"
    assert uri.opaque == "totallyopaquecontent"


def _novelsc(msg: SipMessage) -> None:
    # §3.3.3: well-formed; 416 or 404 is the application's decision, made on the scheme.
    uri = _request(msg).uri
    assert isinstance(uri, AbsoluteUri)
    assert uri.scheme.lower() == "soap.beep"


def _unksm2(msg: SipMessage) -> None:
    # §3.3.4: syntactically valid; a registrar answers 400 because To is not a SIP URI.
    assert isinstance(msg.to.uri, AbsoluteUri)
    assert msg.to.uri.scheme.lower() == "isbn"
    assert isinstance(msg.from_.uri, AbsoluteUri)
    assert isinstance(msg.contacts[0].uri, AbsoluteUri)


def _bext01(msg: SipMessage) -> None:
    # §3.3.5: the option tags that a UAS or proxy lists in Unsupported with its 420.
    assert msg.headers.get_all("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert msg.headers.get_all("Proxy-Require") == [
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    ]


def _invut(msg: SipMessage) -> None:
    # §3.3.6: the unknown type an endpoint answers with 415.
    assert msg.content_type is not None
    assert (msg.content_type.type, msg.content_type.subtype) == ("application", "unknownformat")
    assert msg.body == b'<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n'


def _regaut01(msg: SipMessage) -> None:
    # §3.3.7: the credentials are kept verbatim for forwarding; "Content-Length:0" has no SP.
    assert msg.headers.get("Authorization") == "NoOneKnowsThisScheme opaque-data=here"
    assert msg.content_length == 0


def _zeromf(msg: SipMessage) -> None:
    # §3.3.11: a proxy answers 483, an endpoint carries on.
    assert msg.max_forwards == 0


def _cparam01(msg: SipMessage) -> None:
    # §3.3.12: addr-spec form, so unknownparam is a contact parameter, not a URI parameter.
    (contact,) = msg.contacts
    assert contact.params == {"unknownparam": None}
    assert _sip(contact.uri).params == {}


def _cparam02(msg: SipMessage) -> None:
    # §3.3.13: name-addr form, so unknownparam is a URI parameter.
    (contact,) = msg.contacts
    assert contact.params == {}
    assert _sip(contact.uri).params == {"unknownparam": None}


def _regescrt(msg: SipMessage) -> None:
    # §3.3.14: the escaped Route header stays in the contact URI.
    (contact,) = msg.contacts
    assert {name.lower() for name in _sip(contact.uri).headers} == {"route"}


def _sdp01(msg: SipMessage) -> None:
    # §3.3.15: the Accept list an endpoint answers with 406 (or 400).
    assert msg.headers.get_all("Accept") == ["text/nobodyKnowsThis"]


def _inv2543(msg: SipMessage) -> None:
    # §3.4.1: no branch, no From tag, no Max-Forwards, no Content-Length; To is addr-spec, so
    # ";user=phone" is a header parameter there (RFC 3261 §20.10).
    assert msg.content_length is None
    assert msg.to.params == {"user": "phone"}
    assert [str(r.uri) for r in msg.record_routes] == [
        "sip:UserB@example.com;maddr=ss1.example.com"
    ]


def _ipv6_host(expected_host: str, expected_port: int | None) -> Callable[[SipMessage], None]:
    def check(msg: SipMessage) -> None:
        uri = _ruri(msg)
        assert uri.host.strip("[]") == expected_host
        assert uri.port == expected_port

    return check


def _ipv6_received(expected: str) -> Callable[[SipMessage], None]:
    # RFC 5118 §4.5: the received parameter is an IPv6 address, with or without brackets.
    def check(msg: SipMessage) -> None:
        received = msg.vias[0].received
        assert received is not None
        assert received.strip("[]") == expected

    return check


def _ipv6_sdp(msg: SipMessage) -> None:
    assert msg.content_type is not None
    assert (msg.content_type.type, msg.content_type.subtype) == ("application", "sdp")
    assert b"IN IP6 " in msg.body


def _mult_ip_in_header(msg: SipMessage) -> None:
    assert msg.vias[2].received == "192.0.2.200"


# --- the table ---------------------------------------------------------------------------------

SDP = 150  # the 150-octet SDP body most RFC 4475 messages carry
ALN = "amazinglylongcallername" * 5
LONG_TO_URI = (
    f"sip:user@example.com:6000;unknownparam1=very{'long' * 20}value"
    f";longparam{'name' * 25}=shortvalue;very{'long' * 25}ParameterNameWithNoValue"
)
LONG_FROM_PARAM_VALUE = "unknowheaderparam" + "value" * 15

CASES: tuple[Case, ...] = (
    # RFC 4475 §3.1.1: valid messages
    valid(
        "wsinv",
        "RFC 4475 §3.1.1.1",
        method="INVITE",
        uri="sip:vivekg@chair-dnrc.example.com;unknownparam",
        call_id="wsinv.ndaksdj@192.0.2.1",
        cseq=(9, "INVITE"),
        vias=(
            ExpVia("UDP", "192.0.2.2", None, "390skdjuw"),
            ExpVia("TCP", "spindle.example.com", None, "z9hG4bK9ikj8"),
            ExpVia("UDP", "192.168.255.111", None, "z9hG4bK30239"),
        ),
        from_=ExpAddr("sip:jdrosen@example.com", 'J Rosenberg \\"', "98asjd8"),
        to=ExpAddr("sip:vivekg@chair-dnrc.example.com", None, "1918181833n"),
        contacts=(ExpAddr("sip:jdrosen@example.com", 'Quoted string ""'),),
        max_forwards=68,
        body_len=SDP,
        check=_wsinv,
    ),
    valid(
        "intmeth",
        "RFC 4475 §3.1.1.2",
        method="!interesting-Method0123456789_*+`.%indeed'~",
        uri=(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
            ":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
        ),
        call_id="intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
        cseq=(139122385, "!interesting-Method0123456789_*+`.%indeed'~"),
        vias=(ExpVia("TCP", "host1.example.com", None, "z9hG4bK-.!%66*_+`'~"),),
        from_=ExpAddr(
            "sip:mundane@example.com", "token1~` token2'+_ token3*%!.-", "_token~1'+`*%!-."
        ),
        to=ExpAddr(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com",
            "BEL:\x07 NUL:\x00 DEL:\x7f",
        ),
        max_forwards=255,
        check=_intmeth,
    ),
    valid(
        "esc01",
        "RFC 4475 §3.1.1.3",
        method="INVITE",
        uri="sip:sips%3Auser%40example.com@example.net",
        call_id="esc01.239409asdfakjkn23onasd0-3234",
        cseq=(234234, "INVITE"),
        vias=(ExpVia("UDP", "host5.example.net", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:I%20have%20spaces@example.net", None, "938"),
        to=ExpAddr("sip:%75se%72@example.com"),
        contacts=(ExpAddr("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"),),
        max_forwards=87,
        body_len=SDP,
        check=_esc01,
    ),
    valid(
        "escnull",
        "RFC 4475 §3.1.1.4",
        method="REGISTER",
        uri="sip:example.com",
        call_id="escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
        cseq=(14398234, "REGISTER"),
        vias=(ExpVia("UDP", "host5.example.com", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:null-%00-null@example.com", None, "839923423"),
        to=ExpAddr("sip:null-%00-null@example.com"),
        contacts=(
            ExpAddr("sip:%00@host5.example.com"),
            ExpAddr("sip:%00%00@host5.example.com"),
        ),
        max_forwards=70,
    ),
    valid(
        "esc02",
        "RFC 4475 §3.1.1.5",
        method="RE%47IST%45R",
        uri="sip:registrar.example.com",
        call_id="esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
        cseq=(29344, "RE%47IST%45R"),
        vias=(ExpVia("TCP", "host.example.com", None, "z9hG4bK209%fzsnel234"),),
        from_=ExpAddr("sip:resource@example.com", "%Z%45", "f232jadfj23"),
        to=ExpAddr("sip:resource@example.com", "%Z%45"),
        contacts=(
            ExpAddr("sip:alias1@host1.example.com"),
            ExpAddr("sip:alias3@host3.example.com"),
        ),
        max_forwards=70,
        check=_esc02,
    ),
    valid(
        "lwsdisp",
        "RFC 4475 §3.1.1.6",
        method="OPTIONS",
        uri="sip:user@example.com",
        call_id="lwsdisp.1234abcd@funky.example.com",
        cseq=(60, "OPTIONS"),
        vias=(ExpVia("UDP", "funky.example.com", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:caller@example.com", "caller", "323"),
        to=ExpAddr("sip:user@example.com"),
        max_forwards=70,
    ),
    valid(
        "longreq",
        "RFC 4475 §3.1.1.7",
        method="INVITE",
        uri="sip:user@example.com",
        call_id="longreq.one" + "really" * 20 + "longcallid",
        cseq=(3882340, "INVITE"),
        vias=(
            *(ExpVia("TCP", f"sip{n}.example.com") for n in range(33, 0, -1)),
            ExpVia("TCP", "host.example.com", None, "very" + "long" * 50 + "branchvalue"),
        ),
        from_=ExpAddr(f"sip:{ALN}@example.net", None, "12" + "982" * 50 + "424"),
        to=ExpAddr(LONG_TO_URI, "I have a user name of " + "extreme" * 10 + " proportion"),
        contacts=(ExpAddr(f"sip:{ALN}@host5.example.net"),),
        max_forwards=70,
        body_len=SDP,
        check=_longreq,
    ),
    valid(
        "dblreq",
        "RFC 4475 §3.1.1.8",
        method="REGISTER",
        uri="sip:example.com",
        call_id="dblreq.0ha0isndaksdj99sdfafnl3lk233412",
        cseq=(8, "REGISTER"),
        vias=(ExpVia("UDP", "192.0.2.125", None, "z9hG4bKkdjuw23492"),),
        from_=ExpAddr("sip:j.user@example.com", None, "43251j3j324"),
        to=ExpAddr("sip:j.user@example.com"),
        contacts=(ExpAddr("sip:j.user@host.example.com"),),
        max_forwards=8,
        framing="trailing",
        check=_dblreq,
    ),
    valid(
        "semiuri",
        "RFC 4475 §3.1.1.9",
        method="OPTIONS",
        uri="sip:user;par=u%40example.net@example.com",
        call_id="semiuri.0ha0isndaksdj",
        cseq=(8, "OPTIONS"),
        vias=(ExpVia("UDP", "192.0.2.1", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:caller@example.org", None, "33242"),
        to=ExpAddr("sip:j_user@example.com"),
        max_forwards=3,
        check=_semiuri,
    ),
    valid(
        "transports",
        "RFC 4475 §3.1.1.10",
        method="OPTIONS",
        uri="sip:user@example.com",
        call_id="transports.kijh4akdnaqjkwendsasfdj",
        cseq=(60, "OPTIONS"),
        vias=(
            ExpVia("UDP", "t1.example.com", None, "z9hG4bKkdjuw"),
            ExpVia("SCTP", "t2.example.com", None, "z9hG4bKklasjdhf"),
            ExpVia("TLS", "t3.example.com", None, "z9hG4bK2980unddj"),
            ExpVia("UNKNOWN", "t4.example.com", None, "z9hG4bKasd0f3en"),
            ExpVia("TCP", "t5.example.com", None, "z9hG4bK0a9idfnee"),
        ),
        from_=ExpAddr("sip:caller@example.com", None, "323"),
        to=ExpAddr("sip:user@example.com"),
        max_forwards=70,
    ),
    valid(
        "mpart01",
        "RFC 4475 §3.1.1.11",
        method="MESSAGE",
        uri="sip:kumiko@example.org",
        call_id="3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
        cseq=(1, "MESSAGE"),
        vias=(ExpVia("UDP", "127.0.0.1", 5070, "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-"),),
        from_=ExpAddr("sip:fluffy@example.com", None, "2fb0dcc9"),
        to=ExpAddr("sip:kumiko@example.org"),
        contacts=(ExpAddr("sip:fluffy@127.0.0.1:5070"),),
        max_forwards=70,
        body_len=553,
        check=_mpart01,
    ),
    valid(
        "unreason",
        "RFC 4475 §3.1.1.12",
        status_code=200,
        reason="= 2**3 * 5**2 но сто девяносто девять - простое",
        call_id="unreason.1234ksdfak3j2erwedfsASdf",
        cseq=(35, "INVITE"),
        vias=(ExpVia("UDP", "192.0.2.198", None, "z9hG4bK1324923"),),
        from_=ExpAddr("sip:user@example.com", None, "11141343"),
        to=ExpAddr("sip:user@example.edu", None, "2229"),
        contacts=(ExpAddr("sip:user@host198.example.com"),),
        body_len=154,
    ),
    valid(
        "noreason",
        "RFC 4475 §3.1.1.13",
        status_code=100,
        reason="",
        call_id="noreason.asndj203insdf99223ndf",
        cseq=(35, "INVITE"),
        vias=(ExpVia("UDP", "192.0.2.105", None, "z9hG4bK2398ndaoe"),),
        from_=ExpAddr("sip:user@example.com", None, "39ansfi3"),
        to=ExpAddr("sip:user@example.edu", None, "902jndnke3"),
        contacts=(ExpAddr("sip:user@host105.example.com"),),
    ),
    # RFC 4475 §3.1.2: invalid messages
    invalid("badinv01", "RFC 4475 §3.1.2.1", 400),
    invalid("clerr", "RFC 4475 §3.1.2.2", 400, framing="larger"),
    invalid("ncl", "RFC 4475 §3.1.2.3", 400, framing="negative"),
    invalid("scalar02", "RFC 4475 §3.1.2.4", 400),
    # §3.1.2.5: "An element receiving this response will simply discard it": no status hint.
    invalid("scalarlg", "RFC 4475 §3.1.2.5", None),
    invalid("quotbal", "RFC 4475 §3.1.2.6", 400),
    invalid("ltgtruri", "RFC 4475 §3.1.2.7", 400),
    # §3.1.2.8: "should respond with a 400 Bad Request. An element could attempt to ignore the
    # embedded LWS for those schemes (like SIP) where doing so would not introduce ambiguity."
    # The strict reading: rejected.
    invalid("lwsruri", "RFC 4475 §3.1.2.8", 400),
    # §3.1.2.9: "It is acceptable to reject this request as malformed. An element that is
    # liberal in what it accepts may ignore these extra SP characters". The start line takes
    # exactly one SP between its elements (RFC 3261 §7.1): rejected.
    invalid("lwsstart", "RFC 4475 §3.1.2.9", 400),
    # §3.1.2.10: same words for the SP octets before the CRLF of the Request-Line: rejected.
    invalid("trws", "RFC 4475 §3.1.2.10", 400),
    # §3.1.2.11: "It is acceptable for an element to reject this request with a 400 Bad
    # Request." Headers are not allowed in a Request-URI (RFC 3261 §19.1.1, Table 1), and a
    # parser that dropped them silently would change the request: rejected.
    invalid("escruri", "RFC 4475 §3.1.2.11", 400),
    # §3.1.2.12: accepted, see _baddate.
    valid(
        "baddate",
        "RFC 4475 §3.1.2.12",
        method="INVITE",
        uri="sip:user@example.com",
        call_id="baddate.239423mnsadf3j23lj42--sedfnm234",
        cseq=(1392934, "INVITE"),
        vias=(ExpVia("UDP", "host.example.com", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:caller@example.net", None, "2234923"),
        to=ExpAddr("sip:user@example.com"),
        contacts=(ExpAddr("sip:caller@host5.example.net"),),
        max_forwards=70,
        body_len=SDP,
        check=_baddate,
    ),
    # §3.1.2.13: "It is reasonable for an element receiving this request to respond with a 400
    # Bad Request. An element choosing to be liberal in what it accepts could infer the angle
    # brackets since there is no ambiguity in this example. In general, that won't be
    # possible." A URI with "?" must be in name-addr form (RFC 3261 §20.10): rejected.
    invalid("regbadct", "RFC 4475 §3.1.2.13", 400),
    # §3.1.2.14: "It is reasonable to reject this request with a 400 Bad Request response.
    # Elements attempting to be liberal may ignore the spaces." The strict reading: rejected.
    invalid("badaspec", "RFC 4475 §3.1.2.14", 400),
    # §3.1.2.15: "It is reasonable always to reject this kind of error with a 400 Bad Request
    # response." See also test_baddn_is_rejected_for_its_display_names.
    invalid("baddn", "RFC 4475 §3.1.2.15", 400),
    invalid("badvers", "RFC 4475 §3.1.2.16", 505),
    invalid("mismatch01", "RFC 4475 §3.1.2.17", 400),
    # §3.1.2.18: "Any element receiving this request should respond with a 501 Not Implemented.
    # A 400 Bad Request is also acceptable". Whether a method is implemented is not the message
    # layer's to say; the CSeq method mismatch is, and it is the same rule as mismatch01:
    # rejected with 400.
    invalid("mismatch02", "RFC 4475 §3.1.2.18", 400),
    # §3.1.2.19: "An element receiving this response should simply drop it": no status hint.
    invalid("bigcode", "RFC 4475 §3.1.2.19", None),
    # RFC 4475 §3.2: transaction layer
    # §3.2.1: "A parser must not break when receiving this message." Whether to answer 400 or
    # to fall back to RFC 2543 matching is the transaction layer's choice, made on the branch.
    valid(
        "badbranch",
        "RFC 4475 §3.2.1",
        method="OPTIONS",
        uri="sip:user@example.com",
        call_id="badbranch.sadonfo23i420jv0as0derf3j3n",
        cseq=(8, "OPTIONS"),
        vias=(ExpVia("UDP", "192.0.2.1", None, "z9hG4bK"),),
        from_=ExpAddr("sip:caller@example.org", None, "33242"),
        to=ExpAddr("sip:user@example.com"),
        max_forwards=3,
    ),
    # RFC 4475 §3.3: application layer
    # §3.3.1: "An element receiving this message must not break because of the missing
    # information. Ideally, it will respond with a 400 Bad Request error." To, From and Call-ID
    # are mandatory in every request (RFC 3261 §8.1.1) and a message object cannot stand
    # without them: the parser raises, which is what lets the stack answer 400.
    invalid("insuf", "RFC 4475 §3.3.1", 400),
    valid(
        "unkscm",
        "RFC 4475 §3.3.2",
        method="OPTIONS",
        uri="nobodyKnowsThisScheme:totallyopaquecontent",
        call_id="unkscm.nasdfasser0q239nwsdfasdkl34",
        cseq=(3923423, "OPTIONS"),
        vias=(ExpVia("TCP", "host9.example.com", None, "z9hG4bKkdjuw39234"),),
        from_=ExpAddr("sip:caller@example.net", None, "384"),
        to=ExpAddr("sip:user@example.com"),
        max_forwards=3,
        check=_unkscm,
    ),
    valid(
        "novelsc",
        "RFC 4475 §3.3.3",
        method="OPTIONS",
        uri="soap.beep://192.0.2.103:3002",
        call_id="novelsc.asdfasser0q239nwsdfasdkl34",
        cseq=(3923423, "OPTIONS"),
        vias=(ExpVia("TCP", "host9.example.com", None, "z9hG4bKkdjuw39234"),),
        from_=ExpAddr("sip:caller@example.net", None, "384"),
        to=ExpAddr("sip:user@example.com"),
        max_forwards=3,
        check=_novelsc,
    ),
    valid(
        "unksm2",
        "RFC 4475 §3.3.4",
        method="REGISTER",
        uri="sip:example.com",
        call_id="unksm2.daksdj@hyphenated-host.example.com",
        cseq=(234902, "REGISTER"),
        vias=(ExpVia("UDP", "192.0.2.21", 5060, "z9hG4bKkdjuw"),),
        from_=ExpAddr("http://www.example.com", None, "3234233"),
        to=ExpAddr("isbn:2983792873"),
        contacts=(ExpAddr("name:John_Smith"),),
        max_forwards=70,
        check=_unksm2,
    ),
    valid(
        "bext01",
        "RFC 4475 §3.3.5",
        method="OPTIONS",
        uri="sip:user@example.com",
        call_id="bext01.0ha0isndaksdj",
        cseq=(8, "OPTIONS"),
        vias=(ExpVia("TLS", "fold-and-staple.example.com", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:caller@example.net", None, "242etr"),
        to=ExpAddr("sip:j_user@example.com"),
        max_forwards=6,
        check=_bext01,
    ),
    valid(
        "invut",
        "RFC 4475 §3.3.6",
        method="INVITE",
        uri="sip:user@example.com",
        call_id="invut.0ha0isndaksdjadsfij34n23d",
        cseq=(235448, "INVITE"),
        vias=(ExpVia("UDP", "somehost.example.com", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:caller@example.net", None, "8392034"),
        to=ExpAddr("sip:j.user@example.com"),
        contacts=(ExpAddr("sip:caller@host5.example.net"),),
        max_forwards=70,
        body_len=40,
        check=_invut,
    ),
    valid(
        "regaut01",
        "RFC 4475 §3.3.7",
        method="REGISTER",
        uri="sip:example.com",
        call_id="regaut01.0ha0isndaksdj",
        cseq=(9338, "REGISTER"),
        vias=(ExpVia("TCP", "192.0.2.253", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:j.user@example.com", None, "87321hj23128"),
        to=ExpAddr("sip:j.user@example.com"),
        max_forwards=8,
        check=_regaut01,
    ),
    # §3.3.8: "must not break ... would respond with a 400 Bad Request". Two Call-ID, CSeq, To,
    # From and Max-Forwards values leave nothing to match or route on (RFC 3261 §7.3.1 allows
    # repeated rows only for list headers): the parser raises so that the stack answers 400.
    invalid("multi01", "RFC 4475 §3.3.8", 400),
    # §3.3.9: "From a framing perspective, this situation is equivalent to an invalid
    # Content-Length value" and the element "should respond with an error": rejected like ncl.
    invalid("mcl01", "RFC 4475 §3.3.9", 400, framing="conflicting"),
    valid(
        "bcast",
        "RFC 4475 §3.3.10",
        status_code=200,
        reason="OK",
        call_id="bcast.0384840201234ksdfak3j2erwedfsASdf",
        cseq=(35, "INVITE"),
        vias=(
            ExpVia("UDP", "192.0.2.198", None, "z9hG4bK1324923"),
            ExpVia("UDP", "255.255.255.255", None, "z9hG4bK1saber23"),
        ),
        from_=ExpAddr("sip:user@example.com", None, "11141343"),
        to=ExpAddr("sip:user@example.edu", None, "2229"),
        contacts=(ExpAddr("sip:user@host28.example.com"),),
        body_len=154,
    ),
    valid(
        "zeromf",
        "RFC 4475 §3.3.11",
        method="OPTIONS",
        uri="sip:user@example.com",
        call_id="zeromf.jfasdlfnm2o2l43r5u0asdfas",
        cseq=(39234321, "OPTIONS"),
        vias=(ExpVia("UDP", "host1.example.com", None, "z9hG4bKkdjuw2349i"),),
        from_=ExpAddr("sip:caller@example.net", None, "3ghsd41"),
        to=ExpAddr("sip:user@example.com"),
        max_forwards=0,
        check=_zeromf,
    ),
    valid(
        "cparam01",
        "RFC 4475 §3.3.12",
        method="REGISTER",
        uri="sip:example.com",
        call_id="cparam01.70710@saturn.example.com",
        cseq=(2, "REGISTER"),
        vias=(ExpVia("UDP", "saturn.example.com", 5060, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:watson@example.com", None, "DkfVgjkrtMwaerKKpe"),
        to=ExpAddr("sip:watson@example.com"),
        contacts=(ExpAddr("sip:+19725552222@gw1.example.net"),),
        max_forwards=70,
        check=_cparam01,
    ),
    valid(
        "cparam02",
        "RFC 4475 §3.3.13",
        method="REGISTER",
        uri="sip:example.com",
        call_id="cparam02.70710@saturn.example.com",
        cseq=(3, "REGISTER"),
        vias=(ExpVia("UDP", "saturn.example.com", 5060, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:watson@example.com", None, "838293"),
        to=ExpAddr("sip:watson@example.com"),
        contacts=(ExpAddr("sip:+19725552222@gw1.example.net;unknownparam"),),
        max_forwards=70,
        check=_cparam02,
    ),
    valid(
        "regescrt",
        "RFC 4475 §3.3.14",
        method="REGISTER",
        uri="sip:example.com",
        call_id="regescrt.k345asrl3fdbv@192.0.2.1",
        cseq=(14398234, "REGISTER"),
        vias=(ExpVia("UDP", "host5.example.com", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:user@example.com", None, "8"),
        to=ExpAddr("sip:user@example.com"),
        contacts=(ExpAddr("sip:user@example.com?Route=%3Csip:sip.example.com%3E"),),
        max_forwards=70,
        check=_regescrt,
    ),
    valid(
        "sdp01",
        "RFC 4475 §3.3.15",
        method="INVITE",
        uri="sip:user@example.com",
        call_id="sdp01.ndaksdj9342dasdd",
        cseq=(8, "INVITE"),
        vias=(ExpVia("UDP", "192.0.2.15", None, "z9hG4bKkdjuw"),),
        from_=ExpAddr("sip:caller@example.net", None, "234"),
        to=ExpAddr("sip:j_user@example.com"),
        contacts=(ExpAddr("sip:caller@host15.example.net"),),
        max_forwards=5,
        body_len=SDP,
        check=_sdp01,
    ),
    # RFC 4475 §3.4: backward compatibility
    valid(
        "inv2543",
        "RFC 4475 §3.4.1",
        method="INVITE",
        uri="sip:UserB@example.com",
        call_id="inv2543.1717@ift.client.example.com",
        cseq=(56, "INVITE"),
        vias=(ExpVia("UDP", "iftgw.example.com"),),
        from_=ExpAddr("sip:+13035551111@ift.client.example.net;user=phone"),
        to=ExpAddr("sip:+16505552222@ss1.example.net"),
        max_forwards=None,
        body_len=105,
        framing="absent",
        check=_inv2543,
    ),
    # RFC 5118 §4: IPv6
    valid(
        "ipv6-good",
        "RFC 5118 §4.1",
        method="REGISTER",
        uri="sip:[2001:db8::10]",
        call_id="SSG9559905523997077@hlau_4100",
        cseq=(98176, "REGISTER"),
        vias=(ExpVia("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3-111"),),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@example.com"),
        contacts=(ExpAddr("sip:caller@[2001:db8::1]", "Caller"),),
        max_forwards=70,
        check=_ipv6_host("2001:db8::10", None),
    ),
    invalid("ipv6-bad", "RFC 5118 §4.2", 400),
    valid(
        "ipv6-port-ambiguous",
        "RFC 5118 §4.3",
        method="REGISTER",
        uri="sip:[2001:db8::10:5070]",
        call_id="SSG9559905523997077@hlau_4100",
        cseq=(98176, "REGISTER"),
        vias=(ExpVia("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3-111"),),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@example.com"),
        contacts=(ExpAddr("sip:caller@[2001:db8::1]", "Caller"),),
        max_forwards=70,
        check=_ipv6_host("2001:db8::10:5070", None),
    ),
    valid(
        "ipv6-port-unambiguous",
        "RFC 5118 §4.4",
        method="REGISTER",
        uri="sip:[2001:db8::10]:5070",
        call_id="SSG9559905523997077@hlau_4100",
        cseq=(98176, "REGISTER"),
        vias=(ExpVia("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3-111"),),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@example.com"),
        contacts=(ExpAddr("sip:caller@[2001:db8::1]", "Caller"),),
        max_forwards=70,
        check=_ipv6_host("2001:db8::10", 5070),
    ),
    # §4.5: "Even though this is not a valid request based on a strict interpretation of the
    # grammar in [RFC3261], robust implementations must nonetheless be able to parse the
    # topmost Via header field and continue processing the request."
    valid(
        "ipv6-via-received-delim",
        "RFC 5118 §4.5",
        method="BYE",
        uri="sip:[2001:db8::10]",
        call_id="SSG9559905523997077@hlau_4100",
        cseq=(321, "BYE"),
        vias=(ExpVia("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3-111"),),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@example.com", None, "bd76ya"),
        max_forwards=70,
        check=_ipv6_received("2001:db8::9:255"),
    ),
    valid(
        "ipv6-via-received-nodelim",
        "RFC 5118 §4.5",
        method="OPTIONS",
        uri="sip:[2001:db8::10]",
        call_id="SSG95523997077@hlau_4100",
        cseq=(921, "OPTIONS"),
        vias=(ExpVia("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3"),),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@example.com"),
        contacts=(ExpAddr("sip:caller@[2001:db8::9:1]", "Caller"),),
        max_forwards=70,
        check=_ipv6_received("2001:db8::9:255"),
    ),
    valid(
        "ipv6-in-sdp",
        "RFC 5118 §4.6",
        method="INVITE",
        uri="sip:user@[2001:db8::10]",
        call_id="SSG9559905523997077@hlau_4100",
        cseq=(8612, "INVITE"),
        vias=(ExpVia("UDP", "[2001:db8::20]", None, "z9hG4bKas3-111"),),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@[2001:db8::10]"),
        contacts=(ExpAddr("sip:caller@[2001:db8::20]", "Caller"),),
        max_forwards=70,
        body_len=251,
        check=_ipv6_sdp,
    ),
    valid(
        "ipv6-mult-ip-in-header",
        "RFC 5118 §4.7",
        method="BYE",
        uri="sip:user@host.example.net",
        call_id="997077@lau_4100",
        cseq=(89187, "BYE"),
        vias=(
            ExpVia("UDP", "[2001:db8::9:1]", 6050, "z9hG4bKas3-111"),
            ExpVia("UDP", "192.0.2.1", None, "z9hG4bKjhja8781hjuaij65144"),
            ExpVia("TCP", "[2001:db8::9:255]", None, "z9hG4bK451jj"),
        ),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@example.net", None, "9817--94"),
        max_forwards=70,
        check=_mult_ip_in_header,
    ),
    valid(
        "ipv6-mult-ip-in-sdp",
        "RFC 5118 §4.8",
        method="INVITE",
        uri="sip:user@[2001:db8::10]",
        call_id="SSG9559905523997077@hlau_4100",
        cseq=(8912, "INVITE"),
        vias=(ExpVia("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3-111"),),
        from_=ExpAddr("sip:user@example.com", None, "81x2"),
        to=ExpAddr("sip:user@[2001:db8::10]"),
        contacts=(ExpAddr("sip:caller@[2001:db8::9:1]", "Caller"),),
        max_forwards=70,
        body_len=189,
        check=_ipv6_sdp,
    ),
    valid(
        "ipv6-ipv4-mapped",
        "RFC 5118 §4.9",
        method="INVITE",
        uri="sip:user@example.com",
        call_id="SSG9559905523997077@hlau_4100",
        cseq=(612, "INVITE"),
        vias=(
            ExpVia("UDP", "[::ffff:192.0.2.10]", 19823, "z9hG4bKbh19"),
            ExpVia("UDP", "[::ffff:192.0.2.2]", None, "z9hG4bKas3-111"),
        ),
        from_=ExpAddr("sip:user@east.example.com", None, "81x2"),
        to=ExpAddr("sip:user@example.com"),
        contacts=(ExpAddr("sip:ted@[::ffff:192.0.2.2]", "T. desk phone"),),
        max_forwards=70,
        body_len=245,
        check=_ipv6_sdp,
    ),
    # §4.10: "A SIP implementation receiving such a message may exhibit robustness by
    # successfully parsing the IPv6 reference (it can choose to ignore the extra colon ...)".
    # "2001:db8:::192.0.2.1" is no IPv6 address (RFC 4291 §2.2); repairing it is a proxy's
    # business, not the parser's: rejected.
    invalid("ipv6-abnf-3-colons", "RFC 5118 §4.10", 400),
    valid(
        "ipv6-abnf-2-colons",
        "RFC 5118 §4.10",
        method="OPTIONS",
        uri="sip:user@[2001:db8::192.0.2.1]",
        call_id="G9559905523997077@hlau_4100",
        cseq=(689, "OPTIONS"),
        vias=(ExpVia("UDP", "lab1.east.example.com", None, "z9hG4bKas3-111"),),
        from_=ExpAddr("sip:user@example.com", None, "810x2"),
        to=ExpAddr("sip:user@[2001:db8::192.0.2.1]"),
        max_forwards=70,
        check=_ipv6_host("2001:db8::192.0.2.1", None),
    ),
)

VALID = tuple(case for case in CASES if case.verdict == "valid")
INVALID = tuple(case for case in CASES if case.verdict == "invalid")


def _params(cases: tuple[Case, ...]) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in cases]


# --- reading a parsed message back ---------------------------------------------------------------


def _addr(name_addr: Any) -> ExpAddr:
    return ExpAddr(str(name_addr.uri), name_addr.display_name, name_addr.tag)


def _observed(msg: SipMessage) -> dict[str, Any]:
    """The values the table speaks of, read from a parsed message."""
    values: dict[str, Any] = {}
    if isinstance(msg, Request):
        values["method"] = msg.method
        values["uri"] = str(msg.uri)
    else:
        values["status_code"] = msg.status_code
        values["reason"] = msg.reason
    values["call_id"] = msg.call_id
    values["cseq"] = (msg.cseq.number, msg.cseq.method)
    values["vias"] = tuple(ExpVia(v.transport, v.host, v.port, v.branch) for v in msg.vias)
    values["from_"] = _addr(msg.from_)
    values["to"] = _addr(msg.to)
    values["contacts"] = tuple(_addr(c) for c in msg.contacts)
    values["max_forwards"] = msg.max_forwards
    values["body_len"] = len(msg.body)
    return values


def _expected(case: Case) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if case.method is not None:
        values["method"] = case.method
        values["uri"] = case.uri
    else:
        values["status_code"] = case.status_code
        values["reason"] = case.reason
    values["call_id"] = case.call_id
    values["cseq"] = case.cseq
    values["vias"] = case.vias
    values["from_"] = case.from_
    values["to"] = case.to
    values["contacts"] = case.contacts
    values["max_forwards"] = case.max_forwards
    values["body_len"] = case.body_len
    return values


def _snapshot(msg: SipMessage) -> dict[str, Any]:
    """Everything a round trip through bytes() must keep, parameters and body included."""
    values = _observed(msg)
    values["via_params"] = [dict(v.params) for v in msg.vias]
    values["from_params"] = dict(msg.from_.params)
    values["to_params"] = dict(msg.to.params)
    values["contact_params"] = [dict(c.params) for c in msg.contacts]
    values["content_type"] = None if msg.content_type is None else str(msg.content_type)
    values["body"] = msg.body
    return values


def _assert_values(case: Case, msg: SipMessage) -> None:
    assert isinstance(msg, Request if case.method is not None else Response)
    assert _observed(msg) == _expected(case)


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(INVALID))
def test_rejects(case: Case) -> None:
    with pytest.raises(ParseError) as info:
        parse_message(load(case.name))
    if case.status_hint is not None:
        assert info.value.status_hint == case.status_hint


@pytest.mark.parametrize("case", _params(VALID))
def test_accepts(case: Case) -> None:
    msg = parse_message(load(case.name))
    _assert_values(case, msg)
    if case.check is not None:
        case.check(msg)


@pytest.mark.parametrize("case", _params(VALID))
def test_round_trip(case: Case) -> None:
    msg = parse_message(load(case.name))
    again = parse_message(bytes(msg))
    # The checks of the table look at the received bytes (an absent Content-Length, a compact
    # header name ...), which the serializer may render otherwise; the values must survive.
    assert _snapshot(again) == _snapshot(msg)
    _assert_values(case, again)


def test_baddn_is_rejected_for_its_display_names() -> None:
    # RFC 4475's archive ends baddn.dat without the empty line; closing the header section must
    # not make the message acceptable (§3.1.2.15: unquoted display names with non-token chars).
    with pytest.raises(ParseError) as info:
        parse_message(load("baddn") + b"\r\n")
    assert info.value.status_hint == 400


# --- the corpus itself -------------------------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.M)


def test_every_file_has_a_case() -> None:
    files = sorted(path.stem for path in DATA.glob("*.sip"))
    names = sorted(case.name for case in CASES)
    assert len(names) == len(set(names))
    assert files == names


@pytest.mark.parametrize("case", _params(CASES))
def test_header_lines_end_in_crlf(case: Case) -> None:
    head = header_section(load(case.name))
    assert b"\n" not in head.replace(b"\r\n", b"")
    assert b"\r" not in head.replace(b"\r\n", b"")


@pytest.mark.parametrize("case", _params(CASES))
def test_content_length_framing(case: Case) -> None:
    # The Content-Length values are the RFCs' own; they disagree with the body only where the
    # RFC means them to.
    data = load(case.name)
    values = [int(v) for v in _CONTENT_LENGTH.findall(header_section(data))]
    body = body_octets(data)
    if case.framing == "exact":
        assert values == [len(body)]
    elif case.framing == "absent":
        assert values == []
    elif case.framing == "larger":
        assert len(values) == 1
        assert values[0] > len(body)
    elif case.framing == "negative":
        assert len(values) == 1
        assert values[0] < 0
    elif case.framing == "trailing":
        assert len(values) == 1
        assert 0 <= values[0] < len(body)
    else:
        assert len(values) > 1
        assert len(set(values)) == len(values)
