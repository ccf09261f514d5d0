"""The response contexts of the embedded proxy (§16.7 - §16.10): forking, the best response,
Timer C and CANCEL, driven through the Proxy on a TransactionLayer with a plain float clock."""

from __future__ import annotations

import pytest

from sipcore import Response
from sipcore.transaction import build_cancel
from tests.sipcore.proxy_helpers import (
    ALICE,
    BOB,
    BOB2,
    BOB2_CONTACT,
    BOB_CONTACT,
    NOW,
    Net,
    answer,
    call_setup,
    only,
    request,
    requests_to,
    statuses,
)


def test_cancel_while_ringing() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    invite, forwarded = call_setup(net)
    net.send(answer(forwarded, 180), BOB)
    cancel = build_cancel(invite)  # §9.1
    sent = net.send(cancel, ALICE)
    assert statuses(sent, ALICE) == [200]  # the CANCEL's own answer (§16.10)
    (downstream,) = requests_to(sent, BOB)
    assert downstream.method == "CANCEL"
    assert downstream.top_via.branch == forwarded.top_via.branch  # §9.1
    assert downstream.cseq.number == forwarded.cseq.number
    sent = net.send(answer(forwarded, 487), BOB)
    assert [m.method for m in requests_to(sent, BOB)] == ["ACK"]  # hop-by-hop (§17.1.1.3)
    assert statuses(sent, ALICE) == [487]


def test_cancel_waits_for_a_provisional_response() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    invite, forwarded = call_setup(net)
    cancel = build_cancel(invite)  # §9.1
    assert requests_to(net.send(cancel, ALICE), BOB) == []  # §9.1: not before a 1xx
    sent = net.send(answer(forwarded, 100), BOB)
    assert [m.method for m in requests_to(sent, BOB)] == ["CANCEL"]


def test_forking_forwards_the_first_2xx_and_cancels_the_rest() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    net.bind("bob", BOB2_CONTACT, BOB2)
    sent = net.send(request("INVITE"), ALICE)
    (to_bob,), (to_bob2,) = requests_to(sent, BOB), requests_to(sent, BOB2)
    assert to_bob.top_via.branch != to_bob2.top_via.branch
    net.send(answer(to_bob2, 180, tag="x2"), BOB2)
    sent = net.send(answer(to_bob, 200, tag="x1"), BOB)
    assert statuses(sent, ALICE) == [200]
    (cancel,) = requests_to(sent, BOB2)
    assert cancel.method == "CANCEL" and "cause=200" in (cancel.headers.get("Reason") or "")
    sent = net.send(answer(to_bob2, 487, tag="x2"), BOB2)
    assert statuses(sent, ALICE) == []  # a final answer has gone up already


def test_best_response_after_every_branch_failed() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    net.bind("bob", BOB2_CONTACT, BOB2)
    sent = net.send(request("INVITE"), ALICE)
    (to_bob,), (to_bob2,) = requests_to(sent, BOB), requests_to(sent, BOB2)
    assert statuses(net.send(answer(to_bob, 503), BOB), ALICE) == []  # bob2 still pending
    sent = net.send(answer(to_bob2, 486, tag="x2"), BOB2)
    assert statuses(sent, ALICE) == [486]  # the lowest class (§16.7 step 6)


def test_6xx_ends_the_search_and_503_becomes_500() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    net.bind("bob", BOB2_CONTACT, BOB2)
    sent = net.send(request("INVITE"), ALICE)
    (to_bob,), (to_bob2,) = requests_to(sent, BOB), requests_to(sent, BOB2)
    net.send(answer(to_bob, 180), BOB)
    sent = net.send(answer(to_bob2, 603, tag="x2"), BOB2)
    assert [m.method for m in requests_to(sent, BOB)] == ["CANCEL"]
    sent = net.send(answer(to_bob, 487), BOB)
    assert statuses(sent, ALICE) == [603]

    single = Net()
    single.bind("bob", BOB_CONTACT, BOB)
    _, forwarded = call_setup(single)
    sent = single.send(answer(forwarded, 503), BOB)
    assert statuses(sent, ALICE) == [500]  # §16.7 step 6


def test_challenges_of_every_branch_are_aggregated() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    net.bind("bob", BOB2_CONTACT, BOB2)
    sent = net.send(request("INVITE"), ALICE)
    (to_bob,), (to_bob2,) = requests_to(sent, BOB), requests_to(sent, BOB2)
    one = 'Digest realm="one", nonce="1"'
    two = 'Digest realm="two", nonce="2"'
    net.send(answer(to_bob, 401, headers=[("WWW-Authenticate", one)]), BOB)
    sent = net.send(answer(to_bob2, 407, tag="x2", headers=[("Proxy-Authenticate", two)]), BOB2)
    (up,) = only(sent, ALICE)
    assert isinstance(up, Response) and up.status_code in (401, 407)
    assert up.headers.get_lines("WWW-Authenticate") == [one]  # §16.7 step 7
    assert up.headers.get_lines("Proxy-Authenticate") == [two]


def test_no_answer_gives_408_and_transport_failure_500() -> None:
    net = Net()
    net.bind("bob", BOB2_CONTACT, BOB2)  # UDP: Timer B after 64*T1
    sent = net.send(request("INVITE"), ALICE)
    assert requests_to(sent, BOB2)
    sent = net.advance(NOW + 40)
    assert len(requests_to(sent, BOB2)) >= 6  # Timer A retransmissions
    assert set(statuses(sent, ALICE)) == {408}  # §16.8 (retransmitted over UDP until ACKed)

    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    call_setup(net)
    net.layer.transport_error(BOB, net.now)
    net.proxy.process(net.now)
    assert statuses(net.out(), ALICE) == [500]  # §16.9: as a 503, which goes up as 500


def test_timer_c_cancels_a_branch_that_only_rings() -> None:
    net = Net(timer_c=181.0)
    net.bind("bob", BOB_CONTACT, BOB)
    _, forwarded = call_setup(net)
    net.send(answer(forwarded, 180), BOB)
    net.now += 100
    net.send(answer(forwarded, 183), BOB)  # §16.7 step 2: a provisional restarts Timer C
    assert net.proxy.get_timer() == pytest.approx(net.now + 181)
    sent = net.advance(net.now + 182)
    assert [m.method for m in requests_to(sent, BOB)] == ["CANCEL"]
    # no answer to the CANCEL either: 64*T1 later the branch is given up
    sent = net.advance(net.now + 33)
    assert set(statuses(sent, ALICE)) == {408}
    assert net.proxy.get_timer() is None


def test_non_invite_requests_and_the_end_of_contexts() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    sent = net.send(request("MESSAGE"), ALICE)
    (forwarded,) = requests_to(sent, BOB)
    assert statuses(sent, ALICE) == []  # 100 Trying is for INVITE (§17.2.1)
    assert net.proxy.context_count == 1
    assert statuses(net.send(answer(forwarded, 202), BOB), ALICE) == [202]
    net.advance(net.now + 40)
    assert net.proxy.context_count == 0
    # a response for no transaction is dropped, not forwarded (RFC 6026)
    assert net.send(answer(forwarded, 200), BOB) == []
