"""PRACK (RFC 3262), UPDATE (RFC 3311) and session timers (RFC 4028) between two UA cores over
the fake wire of test_ua, with a float clock."""

from __future__ import annotations

from typing import Any

from sipcore import NameAddr, Request, Response, SipUri, build_response, parse_message
from sipcore.prack import PrackReceived
from sipcore.session_timer import SessionRefreshed, SessionTimerConfig
from sipcore.ua import (
    Call,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallProgress,
    CallState,
    EndReason,
    IncomingCall,
    ReinviteReceived,
)
from sipcore.uas import ALLOW_METHODS, UasPolicy
from sipcore.update import UpdateAnswered, UpdateReceived
from tests.sipcore.test_ua import A_FLOW, B_ADDR, B_FLOW, Wire

OFFER = b"v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\n"
ANSWER = b"v=0\r\no=bob 1 1 IN IP4 192.0.2.2\r\n"
SDP = "application/sdp"


def dial(
    wire: Wire, *, body: bytes = OFFER, headers: list[tuple[str, str]] | None = None
) -> tuple[Call, Call]:
    call = wire.alice.invite(
        SipUri(B_ADDR[0], user="bob", port=B_ADDR[1]),
        from_addr=NameAddr(SipUri("example.com", user="alice")),
        flow=A_FLOW,
        now=wire.now,
        body=body,
        content_type=SDP if body else None,
        headers=headers,
    )
    wire.run()
    (incoming,) = wire.of("bob", IncomingCall)
    return call, incoming.call


def sent(wire: Wire, label: str) -> list[tuple[float, Request | Response]]:
    """The messages that went out with this method or status, with their times."""
    out = []
    for when, _, data in wire.log:
        first = data.split(b" ", 2)
        name = first[1] if data.startswith(b"SIP/") else first[0]
        if name.decode() == label:
            out.append((when, parse_message(data)))
    return out


def requests(wire: Wire, method: str) -> list[Request]:
    return [m for _, m in sent(wire, method) if isinstance(m, Request)]


def responses(wire: Wire, status: int, method: str | None = None) -> list[Response]:
    return [
        m
        for _, m in sent(wire, str(status))
        if isinstance(m, Response) and (method is None or m.cseq.method == method)
    ]


def test_reliable_183_with_answer_prack_then_200_and_ack() -> None:
    wire = Wire()
    call, bob_call = dial(wire)
    (invite,) = requests(wire, "INVITE")
    assert "100rel" in invite.supported and "timer" in invite.supported
    wire.bob.ring(bob_call, wire.now, status=183, body=ANSWER, content_type=SDP, reliable=True)
    wire.run()
    (progress,) = sent(wire, "183")
    response = progress[1]
    assert isinstance(response, Response)
    assert response.require == ["100rel"]
    rseq = int(response.headers.get("rseq") or "0")
    assert 1 <= rseq < 2**31
    (event,) = wire.of("alice", CallProgress)
    assert event.reliable and event.response.body == ANSWER
    assert call.remote_body == ANSWER
    tag = event.response.to.tag
    assert tag is not None and call.early[tag].state.value == "early"
    (prack,) = requests(wire, "PRACK")
    assert prack.headers.get("rack") == f"{rseq} {invite.cseq.number} INVITE"
    assert prack.cseq.number == invite.cseq.number + 1
    assert prack.to.tag == tag
    (ok,) = responses(wire, 200, "PRACK")
    (received,) = wire.of("bob", PrackReceived)
    assert received.call is bob_call
    assert wire.bob.get_timer() is None  # PRACKed: no retransmission is pending
    wire.bob.answer(bob_call, wire.now, body=ANSWER, content_type=SDP)
    wire.run()
    assert wire.of("alice", CallAnswered) and wire.of("bob", CallConfirmed)
    assert call.state is CallState.CONFIRMED and bob_call.state is CallState.CONFIRMED
    # the dialog of the provisional became the call's dialog: PRACK's CSeq is remembered
    assert bob_call.dialog is not None and bob_call.dialog.remote_seq == prack.cseq.number
    assert len(sent(wire, "183")) == 1  # acknowledged at once: never retransmitted
    assert ok.status_code == 200


def test_unacknowledged_183_is_retransmitted_at_t1_doubling_then_500() -> None:
    wire = Wire()
    call, bob_call = dial(wire)
    wire.drop = ["183"] * 10  # alice never sees it, so never PRACKs
    wire.bob.ring(bob_call, wire.now, status=183, body=ANSWER, content_type=SDP, reliable=True)
    wire.run()
    wire.advance(40.0)
    times = [when for when, _ in sent(wire, "183")]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # T1 * 2^n (§3)
    (final,) = responses(wire, 500, "INVITE")
    assert sent(wire, "500")[0][0] == 32.0  # 64*T1: the INVITE is rejected with a 5xx
    (ended,) = wire.of("bob", CallEnded)
    assert ended.reason is EndReason.NO_PRACK
    (alice_ended,) = wire.of("alice", CallEnded)
    assert alice_ended.reason is EndReason.REJECTED and alice_ended.status == 500
    assert final.status_code == 500 and call.ended and bob_call.ended


def test_retransmission_stops_when_the_prack_arrives() -> None:
    wire = Wire()
    _, bob_call = dial(wire)
    wire.drop = ["180", "183"]
    wire.bob.ring(bob_call, wire.now, status=180, reliable=True)
    wire.bob.ring(bob_call, wire.now, status=183, body=ANSWER, content_type=SDP, reliable=True)
    wire.run()
    assert sent(wire, "183") == []  # §3: queued until the 180 is PRACKed
    wire.advance(10.0)
    # the 180 was lost once and PRACKed after its retransmission at T1; the queued 183 went
    # out then, was lost once too, and its retransmission T1 later was PRACKed
    assert [when for when, _ in sent(wire, "180")] == [0.0, 0.5]
    assert [when for when, _ in sent(wire, "183")] == [0.5, 1.0]
    assert len(wire.of("bob", PrackReceived)) == 2
    rseqs = [int(m.headers.get("rseq") or "0") for _, m in sent(wire, "180")[:1]]
    rseqs += [int(m.headers.get("rseq") or "0") for _, m in sent(wire, "183")[:1]]
    assert rseqs[1] == rseqs[0] + 1


def test_prack_for_unknown_rseq_gets_481_and_bad_rack_400() -> None:
    wire = Wire()
    call, bob_call = dial(wire)
    wire.bob.ring(bob_call, wire.now, status=183, body=ANSWER, content_type=SDP, reliable=True)
    wire.run()
    (event,) = wire.of("alice", CallProgress)
    rseq = int(event.response.headers.get("rseq") or "0")
    dialog = call.early[event.response.to.tag or ""]
    for rack in (f"{rseq + 7} 1 INVITE", "zero 1 INVITE"):
        prack = dialog.create_request(
            "PRACK", via=wire.alice._via(wire.alice.identity(A_FLOW)), headers=[("RAck", rack)]
        )
        wire.alice.layer.send_request(prack, A_FLOW, wire.now)
        wire.run()
    assert [r.status_code for r in responses(wire, 481, "PRACK")] == [481]
    (bad,) = responses(wire, 400, "PRACK")
    assert bad.status_code == 400


def reliable_response(call: Call, rseq: str, status: int = 183, tag: str = "bobtag") -> Response:
    return build_response(
        call.invite,
        status,
        to_tag=tag,
        headers=[
            ("Contact", "<sip:bob@192.0.2.2>"),
            ("Require", "100rel"),
            ("RSeq", rseq),
        ],
    )


def test_out_of_order_and_repeated_reliable_provisionals_are_ignored() -> None:
    wire = Wire()
    wire.drop = ["INVITE"]  # bob stays out of it: responses are injected
    call = wire.alice.invite(
        SipUri(B_ADDR[0], user="bob", port=B_ADDR[1]),
        from_addr=NameAddr(SipUri("example.com", user="alice")),
        flow=A_FLOW,
        now=wire.now,
        body=OFFER,
        content_type=SDP,
    )
    wire.run()
    for rseq in ("10", "12", "10", "x1", "99999999999", "11"):
        wire.alice.layer.receive(bytes(reliable_response(call, rseq)), A_FLOW, wire.now)
        wire.pump()
    racks = [r.headers.get("rack") for r in requests(wire, "PRACK")]
    assert racks == ["10 1 INVITE", "11 1 INVITE"]
    assert len(wire.of("alice", CallProgress)) == 2


def test_answer_waits_for_the_prack_of_an_offer_in_a_reliable_provisional() -> None:
    wire = Wire()
    call, bob_call = dial(wire, body=b"")  # no offer in the INVITE: bob offers in the 183
    wire.bob.ring(bob_call, wire.now, status=183, body=OFFER, content_type=SDP, reliable=True)
    wire.run()
    (event,) = wire.of("alice", CallProgress)
    assert event.response.body == OFFER
    assert requests(wire, "PRACK") == []  # the application answers the offer in the PRACK
    wire.bob.answer(bob_call, wire.now)
    wire.run()
    assert responses(wire, 200, "INVITE") == []  # §3: held until the offer is answered
    assert wire.alice.prack(call, wire.now, body=ANSWER, content_type=SDP)
    wire.run()
    (prack,) = requests(wire, "PRACK")
    assert prack.body == ANSWER
    (received,) = wire.of("bob", PrackReceived)
    assert received.request.body == ANSWER and bob_call.remote_body == ANSWER
    assert len(responses(wire, 200, "INVITE")) == 1
    assert call.state is CallState.CONFIRMED and bob_call.state is CallState.CONFIRMED


def early_call() -> tuple[Wire, Call, Call]:
    wire = Wire()
    call, bob_call = dial(wire)
    wire.bob.ring(bob_call, wire.now, status=183, body=ANSWER, content_type=SDP, reliable=True)
    wire.run()
    return wire, call, bob_call


def test_update_in_the_early_dialog_both_ways() -> None:
    wire, call, bob_call = early_call()
    assert call.state is CallState.EARLY
    assert wire.alice.update(call, wire.now, body=b"v=0 a2\r\n", content_type=SDP)
    assert not wire.alice.update(call, wire.now, body=b"v=0 a3\r\n", content_type=SDP)
    wire.run()
    (received,) = wire.of("bob", UpdateReceived)
    assert received.request.body == b"v=0 a2\r\n" and not received.answered
    assert wire.bob.answer_update(bob_call, wire.now, body=b"v=0 b2\r\n", content_type=SDP)
    wire.run()
    (answered,) = wire.of("alice", UpdateAnswered)
    assert answered.response.status_code == 200 and answered.response.body == b"v=0 b2\r\n"
    assert wire.bob.update(bob_call, wire.now, body=b"v=0 b3\r\n", content_type=SDP)
    wire.run()
    (to_alice,) = wire.of("alice", UpdateReceived)
    assert to_alice.request.body == b"v=0 b3\r\n"
    wire.alice.answer_update(call, wire.now, body=b"v=0 a4\r\n", content_type=SDP)
    wire.run()
    (bob_answered,) = wire.of("bob", UpdateAnswered)
    assert bob_answered.response.body == b"v=0 a4\r\n"
    assert call.state is CallState.EARLY and bob_call.state is CallState.EARLY
    wire.bob.answer(bob_call, wire.now)
    wire.run()
    assert call.state is CallState.CONFIRMED and bob_call.state is CallState.CONFIRMED


def test_no_update_in_an_early_dialog_without_reliable_provisionals() -> None:
    wire = Wire()
    call, bob_call = dial(wire)
    wire.bob.ring(bob_call, wire.now)
    wire.run()
    assert call.state is CallState.EARLY
    assert not wire.alice.update(call, wire.now, body=OFFER, content_type=SDP)
    assert not wire.bob.update(bob_call, wire.now, body=OFFER, content_type=SDP)


def established(
    alice: dict[str, Any] | None = None, bob: dict[str, Any] | None = None
) -> tuple[Wire, Call, Call]:
    wire = Wire(alice, bob)
    call, bob_call = dial(wire)
    wire.bob.answer(bob_call, wire.now, body=ANSWER, content_type=SDP)
    wire.run()
    assert call.state is CallState.CONFIRMED
    return wire, call, bob_call


def test_update_in_the_confirmed_dialog_both_ways_and_rejected() -> None:
    wire, call, bob_call = established()
    assert wire.bob.update(bob_call, wire.now, body=b"v=0 hold\r\n", content_type=SDP)
    wire.run()
    (received,) = wire.of("alice", UpdateReceived)
    assert received.request.contacts  # a target refresh request
    wire.alice.answer_update(call, wire.now, body=b"v=0 held\r\n", content_type=SDP)
    wire.run()
    (answered,) = wire.of("bob", UpdateAnswered)
    assert answered.response.body == b"v=0 held\r\n"
    assert wire.alice.update(call, wire.now, body=b"v=0 x\r\n", content_type=SDP)
    wire.run()
    wire.bob.answer_update(bob_call, wire.now, status=488)
    wire.run()
    (failed,) = wire.of("alice", UpdateAnswered)
    assert failed.response.status_code == 488
    assert call.state is CallState.CONFIRMED
    assert not wire.bob.answer_update(bob_call, wire.now)  # nothing left to answer


def test_update_glare_491_and_retry() -> None:
    wire, call, bob_call = established()
    assert wire.alice.update(call, wire.now, body=b"a", content_type=SDP)
    assert wire.bob.update(bob_call, wire.now, body=b"b", content_type=SDP)
    wire.run()
    assert len(responses(wire, 491, "UPDATE")) == 2
    # §14.1 timing: bob (not the Call-ID owner) retries within 2 s, alice after 2.1 s
    bob_at, alice_at = wire.bob.get_timer(), wire.alice.get_timer()
    assert bob_at is not None and alice_at is not None
    assert bob_at < 2.0 and 2.1 <= alice_at <= 4.0
    wire.advance(2.05)
    (received,) = wire.of("alice", UpdateReceived)
    assert received.request.body == b"b"
    assert not wire.of("bob", UpdateReceived)
    wire.alice.answer_update(call, wire.now, body=b"a-answer", content_type=SDP)
    wire.advance(2.0)
    (received_b,) = wire.of("bob", UpdateReceived)
    assert received_b.request.body == b"a"


def test_update_offer_while_ours_unanswered_gets_500_with_retry_after() -> None:
    wire, call, _ = established()
    assert wire.alice.update(call, wire.now, body=b"a", content_type=SDP)
    wire.run()
    assert wire.of("bob", UpdateReceived)
    # bob holds alice's offer unanswered; another offer from alice gets 500 (§5.2)
    offer = call.dialog.create_request(  # type: ignore[union-attr]
        "UPDATE",
        via=wire.alice._via(wire.alice.identity(A_FLOW)),
        body=b"again",
        content_type=SDP,
    )
    wire.alice.layer.send_request(offer, A_FLOW, wire.now)
    wire.run()
    (refused,) = responses(wire, 500, "UPDATE")
    assert 0 <= int(refused.headers.get("retry-after") or "-1") <= 10


def test_422_retry_with_min_se() -> None:
    wire = Wire(
        alice={"session_timer": SessionTimerConfig(session_expires=120)},
        bob={"session_timer": SessionTimerConfig(min_se=300, session_expires=3600)},
    )
    call, bob_call = dial(wire)
    first, second = requests(wire, "INVITE")
    assert first.headers.get("session-expires") == "120"
    (too_small,) = responses(wire, 422, "INVITE")
    assert too_small.headers.get("min-se") == "300"
    assert second.headers.get("session-expires") == "300"
    assert second.headers.get("min-se") == "300"
    assert second.cseq.number == first.cseq.number + 1 and second.call_id == first.call_id
    assert call.invite.cseq.number == second.cseq.number  # the same call object goes on
    wire.bob.answer(bob_call, wire.now, body=ANSWER, content_type=SDP)
    wire.run()
    (refreshed,) = wire.of("alice", SessionRefreshed)
    assert refreshed.interval == 300 and refreshed.refresher == "local"
    (ok,) = responses(wire, 200, "INVITE")
    assert ok.headers.get("session-expires") == "300;refresher=uac"
    assert ok.require == ["timer"]


def test_second_422_ends_the_call() -> None:
    wire = Wire(
        alice={"session_timer": SessionTimerConfig(session_expires=120)},
        bob={"session_timer": SessionTimerConfig(min_se=300, session_expires=3600)},
    )
    wire.drop = ["INVITE"]  # the first INVITE is lost: bob is not used, 422s are injected
    call = wire.alice.invite(
        SipUri(B_ADDR[0], user="bob", port=B_ADDR[1]),
        from_addr=NameAddr(SipUri("example.com", user="alice")),
        flow=A_FLOW,
        now=wire.now,
    )
    wire.run()
    for _ in range(2):
        reply = build_response(call.invite, 422, to_tag="x", headers=[("Min-SE", "600")])
        wire.alice.layer.receive(bytes(reply), A_FLOW, wire.now)
        wire.run()
    (ended,) = wire.of("alice", CallEnded)
    assert ended.status == 422 and ended.reason is EndReason.REJECTED
    assert len(requests(wire, "INVITE")) == 2


def test_refresh_by_update_at_half_the_interval() -> None:
    wire, call, bob_call = established(
        alice={"session_timer": SessionTimerConfig(session_expires=120, refresher="local")}
    )
    assert [e.interval for e in wire.of("alice", SessionRefreshed)] == [120]
    assert [e.refresher for e in wire.of("bob", SessionRefreshed)] == ["remote"]
    wire.advance(59.9)
    assert requests(wire, "UPDATE") == []
    wire.advance(70.2)
    updates = sent(wire, "UPDATE")
    assert [when for when, _ in updates] == [60.0, 120.0]
    first = updates[0][1]
    assert first.body == b"" and first.headers.get("session-expires") == "120;refresher=uac"
    assert len(wire.of("bob", UpdateReceived)) == 2
    assert all(e.answered for e in wire.of("bob", UpdateReceived))
    assert len(wire.of("alice", SessionRefreshed)) == 3
    assert not call.ended and not bob_call.ended


def test_refresh_by_reinvite_when_the_peer_does_not_allow_update() -> None:
    no_update = UasPolicy(allow=tuple(m for m in ALLOW_METHODS if m != "UPDATE"))
    wire, call, bob_call = established(
        alice={"session_timer": SessionTimerConfig(session_expires=120, refresher="local")},
        bob={"policy": no_update},
    )
    wire.advance(60.0)
    assert requests(wire, "UPDATE") == []
    reinvites = requests(wire, "INVITE")[1:]
    assert len(reinvites) == 1 and reinvites[0].body == OFFER  # the last SDP alice sent
    (received,) = wire.of("bob", ReinviteReceived)
    wire.bob.answer_reinvite(bob_call, wire.now, body=ANSWER, content_type=SDP)
    wire.run()
    assert [e.interval for e in wire.of("alice", SessionRefreshed)] == [120, 120]
    assert received.request.headers.get("session-expires") == "120;refresher=uac"
    assert call.timer is not None and call.timer.deadline == 120.0


def test_session_expires_without_refresh_bye_and_end_reason() -> None:
    wire, call, bob_call = established(
        alice={"session_timer": SessionTimerConfig(session_expires=120, refresher="local")}
    )
    wire.drop = ["UPDATE"] * 20  # alice's refreshes are lost
    wire.advance(100.0)
    (bye,) = sent(wire, "BYE")
    assert bye[0] == 120 - 32  # §10: interval - min(32, interval/3)
    (ended,) = wire.of("bob", CallEnded)
    assert ended.reason is EndReason.SESSION_EXPIRED
    (alice_ended,) = wire.of("alice", CallEnded)
    assert alice_ended.reason is EndReason.REMOTE_HANGUP
    assert call.ended and bob_call.ended


def test_uas_refreshes_when_the_uac_has_no_timers() -> None:
    wire, call, bob_call = established(alice={"session_timer": SessionTimerConfig(enabled=False)})
    (invite,) = requests(wire, "INVITE")
    assert "session-expires" not in invite.headers and "timer" not in invite.supported
    (ok,) = responses(wire, 200, "INVITE")
    assert ok.headers.get("session-expires") == "1800;refresher=uas"
    assert "timer" not in ok.require  # §9: not required of a UAC that does not support it
    assert [e.refresher for e in wire.of("bob", SessionRefreshed)] == ["local"]
    wire.advance(900.0)
    (update,) = requests(wire, "UPDATE")
    assert update.from_.tag == bob_call.local_tag
    assert not call.ended


def test_unsupported_require_gets_420() -> None:
    wire = Wire(bob={"reliable_provisionals": False})
    call = wire.alice.invite(
        SipUri(B_ADDR[0], user="bob", port=B_ADDR[1]),
        from_addr=NameAddr(SipUri("example.com", user="alice")),
        flow=A_FLOW,
        now=wire.now,
        headers=[("Require", "100rel")],
    )
    wire.run()
    (rejected,) = responses(wire, 420, "INVITE")
    assert rejected.unsupported == ["100rel"]
    (ended,) = wire.of("alice", CallEnded)
    assert ended.status == 420 and call.ended
    assert not wire.of("bob", IncomingCall)


def test_peer_requiring_100rel_gets_reliable_provisionals() -> None:
    wire = Wire()
    _, bob_call = dial(wire, headers=[("Require", "100rel")])
    wire.bob.ring(bob_call, wire.now)  # reliable=None: the peer's Require decides
    wire.run()
    (ringing,) = responses(wire, 180, "INVITE")
    assert ringing.require == ["100rel"]
    assert len(requests(wire, "PRACK")) == 1


def test_bad_session_expires_in_invite_gets_400() -> None:
    wire = Wire()
    wire.drop = ["INVITE"]
    wire.alice.invite(
        SipUri(B_ADDR[0], user="bob", port=B_ADDR[1]),
        from_addr=NameAddr(SipUri("example.com", user="alice")),
        flow=A_FLOW,
        now=wire.now,
    )
    wire.run()
    # alice's INVITE with a broken Session-Expires, straight into bob's layer
    invite = parse_message(wire.sent[0])
    assert isinstance(invite, Request)
    invite.headers.set("Session-Expires", "soon;refresher=uac")
    wire.bob.layer.receive(bytes(invite), B_FLOW, wire.now)
    wire.run()
    assert [r.status_code for r in responses(wire, 400, "INVITE")] == [400]
    assert not wire.of("bob", IncomingCall)
