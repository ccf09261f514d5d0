"""RSeq and RAck parsing (RFC 3262 §7) and the reliable-provisional state of each side."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipcore import ParseError, Response, build_response
from sipcore.prack import (
    RSEQ_MAX,
    RAck,
    ReliableProvisionals,
    RseqOrder,
    parse_rseq,
    response_rseq,
    wants_100rel,
)
from sipcore.timers import TimerConfig
from tests.sipcore.helpers import request


@given(st.text(max_size=30))
def test_rseq_and_rack_parsing_never_raise_anything_but_parse_error(text: str) -> None:
    for parse in (parse_rseq, RAck.parse):
        with contextlib.suppress(ParseError):
            parse(text)


@given(st.integers(1, RSEQ_MAX), st.integers(0, 2**31 - 1), st.sampled_from(["INVITE", "BYE"]))
def test_rack_round_trip(rseq: int, cseq: int, method: str) -> None:
    rack = RAck(rseq, cseq, method)
    assert RAck.parse(str(rack)) == rack
    assert RAck.parse(f"  {rseq}\t{cseq}  {method} ") == rack


@pytest.mark.parametrize("text", ["0", "-1", "2147483648", "99999999999", "1.5", "", "١٢", "1 2"])
def test_bad_rseq(text: str) -> None:
    with pytest.raises(ParseError):
        parse_rseq(text)


@pytest.mark.parametrize("text", ["1 1", "1 1 INVITE x", "0 1 INVITE", "1 x INVITE", "1 1 IN-V"])
def test_bad_rack(text: str) -> None:
    with pytest.raises(ParseError):
        RAck.parse(text)


def provisional(rseq: str | None, *, require: str = "100rel", status: int = 183) -> Response:
    headers = [("Require", require)]
    if rseq is not None:
        headers.append(("RSeq", rseq))
    return build_response(request("INVITE"), status, to_tag="t", headers=headers)


def test_response_rseq() -> None:
    assert response_rseq(provisional("5")) == 5
    assert response_rseq(provisional("5", require="timer")) is None  # not reliable
    assert response_rseq(provisional("5", status=200)) is None
    with pytest.raises(ParseError):
        response_rseq(provisional(None))
    with pytest.raises(ParseError):
        response_rseq(provisional("five"))


def test_wants_100rel() -> None:
    invite = request("INVITE")
    assert wants_100rel(invite) == (False, False)
    invite.headers.add("Supported", "timer, 100rel")
    assert wants_100rel(invite) == (True, False)
    invite.headers.add("Require", "100rel")
    assert wants_100rel(invite) == (True, True)
    invite.headers.set("Require", "bad token!")
    assert wants_100rel(invite) == (False, False)


def test_retransmissions_double_from_t1_and_give_up_at_64_t1() -> None:
    state = ReliableProvisionals(TimerConfig(t1=0.5), start=7)
    assert state.next_rseq() == 7
    response = provisional("7")
    assert state.send(response, 0.0) is response
    times = []
    while (deadline := state.get_timer()) is not None:
        resend, gave_up = state.handle_timer(deadline)
        if resend is not None:
            times.append(deadline)
        if gave_up:
            assert deadline == 32.0
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]


def test_second_provisional_waits_and_prack_must_match() -> None:
    invite = request("INVITE", cseq=3)
    state = ReliableProvisionals(start=100)
    first, second = provisional(str(state.next_rseq())), provisional(str(state.next_rseq()))
    assert state.send(first, 0.0) is first
    assert state.send(second, 0.0) is None  # §3: one outstanding at a time
    assert state.unacknowledged_offer is False  # neither has a body
    assert state.prack(RAck(101, 3, "INVITE"), invite, 1.0) == (False, None)
    assert state.prack(RAck(100, 2, "INVITE"), invite, 1.0) == (False, None)
    assert state.prack(RAck(100, 3, "INVITE"), invite, 1.0) == (True, second)
    assert state.get_timer() == 1.5
    state.stop()  # a final response: no more retransmissions, a late PRACK is still fine
    assert state.get_timer() is None
    assert state.prack(RAck(101, 3, "INVITE"), invite, 2.0) == (True, None)
    assert state.prack(RAck(101, 3, "INVITE"), invite, 2.0) == (False, None)


def test_rseq_order_per_dialog() -> None:
    order = RseqOrder()
    assert not order.seen("a")
    assert order.accept("a", 50)
    assert not order.accept("a", 50)  # retransmission
    assert not order.accept("a", 52)  # out of order
    assert order.accept("a", 51)
    assert order.accept("b", 9)  # another fork counts on its own
    assert order.seen("a") and order.seen("b")
