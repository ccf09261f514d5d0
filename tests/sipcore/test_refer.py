"""REFER and Replaces value models (sipcore.refer): parse/format round trips, parser robustness
and the subscription tables."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore import NameAddr, SipUri
from sipcore.errors import InvalidStateError, ParseError
from sipcore.refer import (
    NOTIFIER_TABLE,
    SUBSCRIBER_TABLE,
    EventHeader,
    NotifierInput,
    NotifierState,
    ReferredBy,
    ReferTo,
    Replaces,
    Sipfrag,
    SubscriberInput,
    SubscriberState,
    SubscriptionState,
    SubState,
    TargetDialog,
    notifier_step,
    subscriber_step,
)

# -- value models -------------------------------------------------------------------------------


def test_replaces_round_trip() -> None:
    text = "98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only"
    replaces = Replaces.parse(text)
    assert replaces == Replaces("98732@sip.example.com", "ff87ff", "r33th4x0r", True)
    assert str(replaces) == "98732@sip.example.com;to-tag=ff87ff;from-tag=r33th4x0r;early-only"
    assert Replaces.parse(str(replaces)) == replaces
    assert Replaces.parse(" abc ; TO-TAG=1 ; From-Tag=2 ") == Replaces("abc", "1", "2")
    # the peer's view of our dialog: its local tag is our remote one
    assert Replaces.of_dialog("c", local_tag="mine", remote_tag="theirs") == Replaces(
        "c", to_tag="theirs", from_tag="mine"
    )


@pytest.mark.parametrize(
    "text",
    ["", "abc", "abc;to-tag=1", "abc;from-tag=2", "a b;to-tag=1;from-tag=2", "x;to-tag;from-tag=2"],
)
def test_replaces_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        Replaces.parse(text)


def test_target_dialog_round_trip() -> None:
    td = TargetDialog.parse("abc@host;remote-tag=r;local-tag=l")
    assert td == TargetDialog("abc@host", local_tag="l", remote_tag="r")
    assert TargetDialog.parse(str(td)) == td
    with pytest.raises(ParseError):
        TargetDialog.parse("abc@host;local-tag=l")


def test_refer_to_escapes_replaces_into_the_uri_headers() -> None:
    carol = SipUri("192.0.2.3", user="carol", port=5060)
    replaces = Replaces("12345@192.0.2.1", "c-tag", "a-tag")
    refer_to = ReferTo.build(carol, replaces=replaces)
    text = str(refer_to)
    assert text == (
        "<sip:carol@192.0.2.3:5060?Replaces=12345%40192.0.2.1%3Bto-tag%3Dc-tag%3Bfrom-tag%3Da-tag>"
    )
    parsed = ReferTo.parse(text)
    assert parsed.replaces == replaces
    assert str(parsed.target) == "sip:carol@192.0.2.3:5060"
    assert ReferTo.parse("<sip:carol@example.com>").replaces is None
    assert ReferTo.parse("sip:carol@example.com;x=1").address.params == {"x": "1"}
    assert str(ReferTo.parse("<tel:+15551234>").target) == "tel:+15551234"
    with pytest.raises(ValueError):
        ReferTo.build(NameAddr(ReferTo.parse("<tel:+1555>").uri), replaces=replaces)


def test_refer_to_with_a_bad_replaces_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        ReferTo.parse("<sip:carol@example.com?Replaces=abc%3Bto-tag%3D1>")
    with pytest.raises(ParseError):
        ReferTo.parse("sip:carol@example.com?Replaces=x")  # headers need <>


def test_referred_by_round_trip() -> None:
    by = ReferredBy.parse('"Alice" <sip:alice@example.com>;cid="20398823.2UWQFN309shb3@ref"')
    assert str(by.address.uri) == "sip:alice@example.com"
    assert ReferredBy.parse(str(by)) == by


def test_event_header() -> None:
    event = EventHeader.parse("refer;id=93809824")
    assert event == EventHeader("refer", "93809824")
    assert str(event) == "refer;id=93809824"
    assert EventHeader.parse("Refer") == EventHeader("refer")
    assert str(EventHeader("refer")) == "refer"
    for bad in ("", ";id=1", "refer;id", "ref er"):
        with pytest.raises(ParseError):
            EventHeader.parse(bad)


def test_subscription_state() -> None:
    assert SubscriptionState.parse("active;expires=60") == SubscriptionState(
        SubState.ACTIVE, expires=60
    )
    final = SubscriptionState.parse("terminated;reason=noresource")
    assert final == SubscriptionState(SubState.TERMINATED, reason="noresource")
    assert str(final) == "terminated;reason=noresource"
    assert SubscriptionState.parse("waiting;retry-after=5").state is SubState.PENDING
    for bad in ("", "active;expires=soon", "active;expires=-1", 'terminated;reason="x"'):
        with pytest.raises(ParseError):
            SubscriptionState.parse(bad)


def test_sipfrag() -> None:
    assert Sipfrag.parse(b"SIP/2.0 200 OK\r\n") == Sipfrag(200, "OK")
    assert Sipfrag.parse(b"SIP/2.0 180 Ringing\r\nContact: <sip:c@h>\r\n") == Sipfrag(
        180, "Ringing"
    )
    assert Sipfrag.parse(b"SIP/2.0 503") == Sipfrag(503, "")
    assert bytes(Sipfrag(100, "Trying")) == b"SIP/2.0 100 Trying\r\n"
    for bad in (b"", b"hello", b"SIP/2.0 099 Low\r\n", b"SIP/3.0 200 OK", b"\xff\xfe"):
        with pytest.raises(ParseError):
            Sipfrag.parse(bad)


def test_terminated_is_absorbing_in_both_tables() -> None:
    for (state, _), (_, after) in SUBSCRIBER_TABLE.items():
        if state is SubscriberState.TERMINATED:
            assert after is SubscriberState.TERMINATED
    for (state, _), after in NOTIFIER_TABLE.items():
        if state is NotifierState.TERMINATED:
            assert after is NotifierState.TERMINATED
    # inputs not in the tables: refused (network) or an error (application)
    assert subscriber_step(SubscriberState.TERMINATED, SubscriberInput.NOTIFY) is None
    with pytest.raises(InvalidStateError):
        notifier_step(NotifierState.TERMINATED, NotifierInput.PROGRESS)
    with pytest.raises(InvalidStateError):
        notifier_step(NotifierState.RECEIVED, NotifierInput.FINAL)


PARSERS = [
    Replaces.parse,
    TargetDialog.parse,
    ReferTo.parse,
    ReferredBy.parse,
    EventHeader.parse,
    SubscriptionState.parse,
]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(PARSERS))
def test_header_parsers_raise_only_parse_error(text: str, parse: object) -> None:
    with contextlib.suppress(ParseError):
        parse(text)  # type: ignore[operator]


_REPLACES_TEXT = st.from_regex(
    r"[A-Za-z0-9.\-]{1,12}(@[A-Za-z0-9.]{1,8})?;(to-tag|TO-TAG)=[A-Za-z0-9~%]{1,8};from-tag=[a-z0-9!]{1,8}(;early-only)?",
    fullmatch=True,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), _REPLACES_TEXT))
def test_replaces_in_a_refer_to_survives_escaping(text: str) -> None:
    try:
        replaces = Replaces.parse(text)
    except ParseError:
        return
    assert Replaces.parse(str(replaces)) == replaces
    refer_to = ReferTo.build(SipUri("example.com", user="carol"), replaces=replaces)
    assert ReferTo.parse(str(refer_to)).replaces == replaces


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60) | st.text(max_size=60).map(lambda t: ("SIP/2.0 " + t).encode()))
def test_sipfrag_raises_only_parse_error(body: bytes) -> None:
    try:
        frag = Sipfrag.parse(body)
    except ParseError:
        return
    assert 100 <= frag.status <= 999
