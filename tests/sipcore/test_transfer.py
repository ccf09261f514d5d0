"""Call transfer between three UA cores over a fake wire (sipcore.transfer through the
UserAgent): blind and attended transfer, Replaces matching, malformed REFER and NOTIFY."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore import NameAddr, Request, Response, SipUri, parse_message
from sipcore.errors import InvalidStateError, LocalProtocolError
from sipcore.flow import Flow
from sipcore.refer import (
    NotifierState,
    ReferTo,
    Replaces,
    Sipfrag,
    SubscriberState,
)
from sipcore.transfer import (
    ReceivedRefer,
    ReferConfig,
    ReferReceived,
    Transfer,
    TransferAccepted,
    TransferCompleted,
    TransferFailed,
    TransferProgress,
    TransferTimedOut,
)
from sipcore.ua import (
    Call,
    CallAnswered,
    CallEnded,
    CallState,
    EndReason,
    IncomingCall,
)
from sipcore.uas import UasPolicy
from tests.sipcore.ua_wire import UaWire

# -- three UA cores over a fake wire ------------------------------------------------------------

ADDRS = {"alice": ("192.0.2.1", 5060), "bob": ("192.0.2.2", 5060), "carol": ("192.0.2.3", 5060)}


def uri(name: str) -> SipUri:
    host, port = ADDRS[name]
    return SipUri(host, user=name, port=port)


def flow(me: str, peer: str) -> Flow:
    return Flow("UDP", ADDRS[peer], ADDRS[me])


class Wire(UaWire):
    """Alice's, Bob's and Carol's UA cores (keyword arguments: options of each)."""

    def __init__(self, **options: dict[str, Any]) -> None:
        super().__init__(ADDRS, options)

    def call(
        self,
        caller: str,
        callee: str,
        *,
        answer: bool = True,
        headers: list[tuple[str, str]] | None = None,
    ) -> tuple[Call, Call | None]:
        """``caller`` calls ``callee`` (who answers): both Call objects."""
        seen = len(self.of(callee, IncomingCall))
        call = self.ua[caller].invite(
            uri(callee),
            from_addr=NameAddr(uri(caller)),
            flow=flow(caller, callee),
            now=self.now,
            body=b"v=0\r\n",
            content_type="application/sdp",
            headers=headers or [],
        )
        self.run()
        incoming = self.of(callee, IncomingCall)[seen:]
        if not incoming:
            return call, None
        if answer:
            self.ua[callee].answer(incoming[0].call, self.now)
            self.run()
        return call, incoming[0].call

    def messages(self, sender: str, start: str) -> list[Request | Response]:
        return [
            parse_message(d) for _, s, d in self.log if s == sender and d.startswith(start.encode())
        ]


def notifies(wire: Wire, sender: str = "bob") -> list[Request]:
    found = [m for m in wire.messages(sender, "NOTIFY") if isinstance(m, Request)]
    return found


def statuses(wire: Wire, sender: str, method: str) -> list[int]:
    return [
        m.status_code
        for m in wire.messages(sender, "SIP/2.0")
        if isinstance(m, Response) and m.cseq.method == method
    ]


def test_blind_transfer() -> None:
    wire = Wire()
    a_call, b_call = wire.call("alice", "bob")
    assert b_call is not None and a_call.state is CallState.CONFIRMED
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    refer = next(m for m in wire.messages("alice", "REFER") if isinstance(m, Request))
    assert refer.headers.get("refer-to") == "<sip:carol@192.0.2.3:5060>"
    assert "referred-by" not in refer.headers
    (received,) = wire.of("bob", ReferReceived)
    assert received.call is b_call
    assert str(received.target) == "sip:carol@192.0.2.3:5060"
    assert received.replaces is None and received.referred_by is None
    assert received.refer.invite_headers() == []

    wire.ua["bob"].accept_refer(received.refer, wire.now)
    wire.run()
    assert statuses(wire, "bob", "REFER") == [202]
    (first,) = notifies(wire)
    assert first.headers.get("event") == "refer"  # the first REFER of the dialog: no id
    assert first.headers.get("subscription-state") == "active;expires=120"
    assert first.content_type is not None and first.content_type.mime == "message/sipfrag"
    assert first.body == b"SIP/2.0 100 Trying\r\n"
    (accepted,) = wire.of("alice", TransferAccepted)
    assert accepted.transfer is transfer and accepted.response.status_code == 202
    assert [(p.status, p.reason) for p in wire.of("alice", TransferProgress)] == [(100, "Trying")]
    assert transfer.state is SubscriberState.ACTIVE
    assert wire.ua["alice"].get_timer() == pytest.approx(wire.now + 120 + 32)

    # bob places the call to carol himself and reports how it went
    b_to_c, c_call = wire.call("bob", "carol", headers=received.refer.invite_headers())
    assert c_call is not None and b_to_c.state is CallState.CONFIRMED
    (c_incoming,) = wire.of("carol", IncomingCall)
    assert c_incoming.replaces is None
    assert wire.ua["bob"].notify_refer(received.refer, 200, "OK", wire.now)
    wire.run()
    last = notifies(wire)[-1]
    assert last.headers.get("subscription-state") == "terminated;reason=noresource"
    assert last.body == b"SIP/2.0 200 OK\r\n"
    assert statuses(wire, "alice", "NOTIFY") == [200, 200]
    (completed,) = wire.of("alice", TransferCompleted)
    assert completed.transfer is transfer and completed.ok and completed.status == 200
    assert transfer.state is SubscriberState.TERMINATED
    assert received.refer.state is NotifierState.TERMINATED
    assert wire.ua["alice"].transfers.get_timer() is None
    assert wire.ua["bob"].transfers.get_timer() is None
    with pytest.raises(InvalidStateError):
        wire.ua["bob"].notify_refer(received.refer, 200, "OK", wire.now)
    # the transferor hangs up; the other calls go on
    wire.ua["alice"].hangup(a_call, wire.now)
    wire.run()
    assert b_call.ended and not b_to_c.ended
    assert not wire.of("alice", TransferFailed) and not wire.of("alice", TransferTimedOut)


def test_failed_transfer_is_reported_as_completed_not_ok() -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    wire.ua["bob"].accept_refer(received.refer, wire.now)
    wire.ua["bob"].notify_refer(received.refer, 180, "Ringing", wire.now + 1)
    wire.ua["bob"].notify_refer(received.refer, 486, "Busy Here", wire.now + 2)
    wire.run()
    assert [p.status for p in wire.of("alice", TransferProgress)] == [100, 180]
    (completed,) = wire.of("alice", TransferCompleted)
    assert completed.transfer is transfer and not completed.ok and completed.status == 486


def test_referred_by_is_sent_when_configured() -> None:
    me = NameAddr(SipUri("example.com", user="alice"))
    wire = Wire(alice={"refer": ReferConfig(referred_by=me)})
    a_call, _ = wire.call("alice", "bob")
    wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    assert received.referred_by is not None and received.referred_by.address == me
    assert received.refer.invite_headers() == [("Referred-By", "<sip:alice@example.com>")]


@pytest.mark.parametrize("status", [403, 603])
def test_refer_rejected(status: int) -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    with pytest.raises(LocalProtocolError):
        wire.ua["bob"].reject_refer(received.refer, 202, wire.now)
    wire.ua["bob"].reject_refer(received.refer, status, wire.now)
    wire.run()
    (failed,) = wire.of("alice", TransferFailed)
    assert failed.transfer is transfer and failed.status == status
    assert failed.response is not None and failed.response.status_code == status
    assert transfer.state is SubscriberState.TERMINATED
    assert not notifies(wire) and not wire.of("alice", TransferAccepted)
    with pytest.raises(InvalidStateError):
        wire.ua["bob"].accept_refer(received.refer, wire.now)


def test_refer_not_allowed_gets_405() -> None:
    policy = UasPolicy(allow=("INVITE", "ACK", "CANCEL", "BYE"))
    wire = Wire(bob={"policy": policy})
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (failed,) = wire.of("alice", TransferFailed)
    assert failed.transfer is transfer and failed.status == 405
    assert failed.response is not None and failed.response.allow == list(policy.allow)
    assert not wire.of("bob", ReferReceived)


def test_unanswered_refer_fails_with_408() -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    assert wire.of("bob", ReferReceived)  # bob's application never answers
    wire.advance(40.0)
    (failed,) = wire.of("alice", TransferFailed)
    assert failed.transfer is transfer and failed.status == 408 and failed.response is None


def test_no_notify_after_202_times_out() -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    wire.drop = ["NOTIFY"] * 20  # every NOTIFY and its retransmissions are lost
    accepted_at = wire.now
    wire.ua["bob"].accept_refer(received.refer, wire.now)
    wire.run()
    assert wire.of("alice", TransferAccepted)
    assert wire.ua["alice"].transfers.get_timer() == accepted_at + 32.0
    wire.advance(31.9)
    assert not wire.of("alice", TransferTimedOut)
    wire.advance(0.2)
    (timed_out,) = wire.of("alice", TransferTimedOut)
    assert timed_out.transfer is transfer and transfer.state is SubscriberState.TERMINATED
    assert not wire.of("alice", TransferCompleted)
    # bob's NOTIFY transaction timed out: his subscription is gone too
    wire.advance(10.0)
    assert received.refer.state is NotifierState.TERMINATED
    assert wire.ua["bob"].transfers.get_timer() is None  # no expiry NOTIFY for a subscription gone
    wire.advance(200.0)
    assert not wire.of("alice", TransferCompleted)
    with pytest.raises(InvalidStateError):
        wire.ua["bob"].notify_refer(received.refer, 200, "OK", wire.now)


def test_subscription_expiry_sends_a_final_notify() -> None:
    wire = Wire(bob={"refer": ReferConfig(expires=30)})
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    wire.ua["bob"].accept_refer(received.refer, wire.now)
    wire.run()
    wire.advance(31.0)
    final = notifies(wire)[-1]
    assert final.headers.get("subscription-state") == "terminated;reason=timeout"
    assert final.body == b"SIP/2.0 100 Trying\r\n"
    (completed,) = wire.of("alice", TransferCompleted)
    assert completed.transfer is transfer and not completed.ok and completed.status == 100
    assert not wire.of("alice", TransferTimedOut)


def test_two_refers_in_one_dialog_use_id_parameters() -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "bob")
    first = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    second = wire.ua["alice"].refer(a_call, SipUri("example.com", user="dave"), wire.now)
    assert first.id != second.id
    wire.run()
    r1, r2 = (e.refer for e in wire.of("bob", ReferReceived))
    assert (r1.id, r2.id) == (first.id, second.id)
    wire.ua["bob"].accept_refer(r2, wire.now)
    wire.ua["bob"].accept_refer(r1, wire.now)
    wire.run()
    events = [n.headers.get("event") for n in notifies(wire)]
    assert events == [f"refer;id={second.id}", "refer"]
    wire.ua["bob"].notify_refer(r2, 200, "OK", wire.now)
    wire.run()
    assert notifies(wire)[-1].headers.get("event") == f"refer;id={second.id}"
    (completed,) = wire.of("alice", TransferCompleted)
    assert completed.transfer is second
    assert first.state is SubscriberState.ACTIVE and second.state is SubscriberState.TERMINATED
    assert sorted((e.transfer.id, e.status) for e in wire.of("alice", TransferProgress)) == sorted(
        [(first.id, 100), (second.id, 100)]
    )
    wire.ua["bob"].notify_refer(r1, 503, "Service Unavailable", wire.now)
    wire.run()
    last = wire.of("alice", TransferCompleted)[-1]
    assert last.transfer is first and not last.ok and last.status == 503


def send_in_dialog(
    wire: Wire, sender: str, call: Call, method: str, headers: list[tuple[str, str]], **kw: object
) -> None:
    ua = wire.ua[sender]
    assert call.dialog is not None
    request = call.dialog.create_request(
        method,
        via=ua._via(ua.identity(call.flow)),
        contact=NameAddr(uri(sender)),
        headers=headers,
        **kw,  # type: ignore[arg-type]
    )
    ua.layer.send_request(request, call.flow, wire.now)
    wire.run()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([], "Missing Refer-To"),
        ([("Refer-To", "<sip:c@h>"), ("Refer-To", "<sip:d@h>")], "More Than One Refer-To"),
        ([("Refer-To", "<sip:c@h?Replaces=nonsense>")], "Bad Refer-To"),
        ([("Refer-To", "not a uri at all")], "Bad Refer-To"),
        ([("Refer-To", "<sip:c@h>"), ("Referred-By", "<<>>")], "Bad Refer-To"),
    ],
)
def test_bad_refer_gets_400(headers: list[tuple[str, str]], reason: str) -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "bob")
    send_in_dialog(wire, "alice", a_call, "REFER", headers)
    (response,) = [m for m in wire.messages("bob", "SIP/2.0") if m.cseq.method == "REFER"]
    assert isinstance(response, Response)
    assert (response.status_code, response.reason) == (400, reason)
    assert not wire.of("bob", ReferReceived)
    assert not a_call.ended


def test_refer_outside_a_dialog_gets_403() -> None:
    wire = Wire()
    request = parse_message(
        b"REFER sip:bob@192.0.2.2 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKout1\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.2>\r\n"
        b"Call-ID: ood1\r\nCSeq: 1 REFER\r\nContact: <sip:alice@192.0.2.1>\r\n"
        b"Refer-To: <sip:carol@192.0.2.3>\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(request, Request)
    wire.ua["alice"].layer.send_request(request, flow("alice", "bob"), wire.now)
    wire.run()
    assert statuses(wire, "bob", "REFER") == [403]
    assert not wire.of("bob", ReferReceived)


def refer_accepted(wire: Wire) -> tuple[Call, Transfer, ReceivedRefer]:
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    wire.ua["bob"].accept_refer(received.refer, wire.now)
    wire.run()
    return a_call, transfer, received.refer


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ([("Event", "refer"), ("Subscription-State", "active")], b"garbage\r\n", 400),
        ([("Event", "refer"), ("Subscription-State", "active")], b"\xff\xfe", 400),
        ([("Subscription-State", "active")], b"SIP/2.0 200 OK\r\n", 400),
        ([("Event", "refer")], b"SIP/2.0 200 OK\r\n", 400),
        ([("Event", "refer"), ("Subscription-State", "active;expires=x")], b"", 400),
        ([("Event", "presence"), ("Subscription-State", "active")], b"", 489),
        ([("Event", "refer;id=999"), ("Subscription-State", "active")], b"", 481),
    ],
)
def test_bad_notify_is_refused_and_changes_nothing(
    headers: list[tuple[str, str]], body: bytes, status: int
) -> None:
    wire = Wire()
    _, transfer, refer = refer_accepted(wire)
    progress = len(wire.of("alice", TransferProgress))
    kw: dict[str, object] = {"body": body, "content_type": "message/sipfrag"} if body else {}
    send_in_dialog(wire, "bob", refer.call, "NOTIFY", headers, **kw)
    assert statuses(wire, "alice", "NOTIFY")[-1] == status
    assert transfer.state is SubscriberState.ACTIVE
    assert len(wire.of("alice", TransferProgress)) == progress
    assert not wire.of("alice", TransferCompleted)


def test_notify_with_another_body_type_gets_415() -> None:
    wire = Wire()
    _, transfer, refer = refer_accepted(wire)
    headers = [("Event", "refer"), ("Subscription-State", "terminated")]
    send_in_dialog(wire, "bob", refer.call, "NOTIFY", headers, body=b"x", content_type="text/plain")
    assert statuses(wire, "alice", "NOTIFY")[-1] == 415
    assert transfer.state is SubscriberState.ACTIVE


def test_notify_after_the_final_one_gets_481() -> None:
    wire = Wire()
    _, transfer, refer = refer_accepted(wire)
    wire.ua["bob"].notify_refer(refer, 200, "OK", wire.now)
    wire.run()
    assert transfer.state is SubscriberState.TERMINATED
    headers = [("Event", "refer"), ("Subscription-State", "active")]
    send_in_dialog(wire, "bob", refer.call, "NOTIFY", headers)
    assert statuses(wire, "alice", "NOTIFY") == [200, 200, 481]
    assert len(wire.of("alice", TransferCompleted)) == 1


# -- attended transfer and Replaces (RFC 3891) ------------------------------------------------


def test_attended_transfer_replaces_the_call_with_carol() -> None:
    wire = Wire()
    a_to_b, b_call = wire.call("alice", "bob")
    a_to_c, c_call = wire.call("alice", "carol")
    assert b_call is not None and c_call is not None
    assert a_to_c.dialog is not None and c_call.dialog is not None
    transfer = wire.ua["alice"].refer(a_to_b, uri("carol"), wire.now, replaces=a_to_c)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    expected = Replaces(
        a_to_c.invite.call_id, a_to_c.dialog.id.remote_tag, a_to_c.dialog.id.local_tag
    )
    assert received.replaces == expected
    assert str(received.target) == "sip:carol@192.0.2.3:5060"  # the URI headers are removed
    wire.ua["bob"].accept_refer(received.refer, wire.now)
    wire.run()

    headers = received.refer.invite_headers()
    assert headers == [("Replaces", str(expected)), ("Require", "replaces")]
    b_to_c, new = wire.call("bob", "carol", answer=False, headers=headers)
    assert new is not None
    (_, incoming) = wire.of("carol", IncomingCall)
    assert incoming.replaces is c_call  # carol's dialog with alice: her local tag is to-tag
    assert c_call.dialog.id == type(c_call.dialog.id)(
        expected.call_id, expected.to_tag, expected.from_tag
    )
    assert not c_call.ended  # not before the new call is confirmed
    wire.ua["carol"].answer(new, wire.now)
    wire.run()
    assert b_to_c.state is CallState.CONFIRMED and new.state is CallState.CONFIRMED
    carol_ended = wire.of("carol", CallEnded)
    assert [(e.call, e.reason) for e in carol_ended] == [(c_call, EndReason.REPLACED)]
    (alice_ended,) = wire.of("alice", CallEnded)
    assert alice_ended.call is a_to_c and alice_ended.reason is EndReason.REMOTE_HANGUP
    wire.ua["bob"].notify_refer(received.refer, 200, "OK", wire.now)
    wire.run()
    (completed,) = wire.of("alice", TransferCompleted)
    assert completed.transfer is transfer and completed.ok
    # Supported: replaces on our INVITEs and their 2xx
    invite = next(m for m in wire.messages("bob", "INVITE") if m.call_id == b_to_c.invite.call_id)
    assert "replaces" in invite.supported


def test_replaces_of_an_early_dialog_we_initiated_cancels_it() -> None:
    """Call pick-up: alice's outgoing call rings at carol; bob's INVITE to alice replaces it."""
    wire = Wire()
    a_to_c, c_call = wire.call("alice", "carol", answer=False)
    assert c_call is not None
    wire.ua["carol"].ring(c_call, wire.now)
    wire.run()
    (early_tag,) = a_to_c.early
    replaces = Replaces(a_to_c.invite.call_id, a_to_c.local_tag or "", early_tag)
    b_to_a, a_new = wire.call("bob", "alice", headers=[("Replaces", str(replaces))])
    assert a_new is not None
    incoming = wire.of("alice", IncomingCall)[-1]
    assert incoming.replaces is a_to_c
    assert b_to_a.state is CallState.CONFIRMED
    (ended,) = wire.of("alice", CallEnded)
    assert ended.call is a_to_c and ended.reason is EndReason.REPLACED and ended.status == 487
    assert wire.of("carol", CallEnded)[0].reason is EndReason.REMOTE_CANCEL
    early_only = Replaces(a_to_c.invite.call_id, "x", "y", early_only=True)
    assert "early-only" in str(early_only)


def rejected_with(wire: Wire, replaces: str, *, require: bool = False) -> tuple[int | None, Call]:
    headers = [("Replaces", replaces)] + ([("Require", "replaces")] if require else [])
    call, _ = wire.call("bob", "carol", headers=headers)
    ended = [e for e in wire.of("bob", CallEnded) if e.call is call]
    return (ended[0].status if ended else None), call


def test_replaces_without_a_match_gets_481() -> None:
    wire = Wire()
    _, c_call = wire.call("alice", "carol")
    assert c_call is not None and c_call.dialog is not None
    status, _ = rejected_with(wire, "nosuchcall@x;to-tag=a;from-tag=b")
    assert status == 481
    ids = c_call.dialog.id
    # the tags swapped (as seen from alice, not carol) match nothing either
    status, _ = rejected_with(
        wire, f"{ids.call_id};to-tag={ids.remote_tag};from-tag={ids.local_tag}"
    )
    assert status == 481
    assert not c_call.ended
    assert all(e.replaces is None for e in wire.of("carol", IncomingCall))


def test_replaces_with_early_only_of_a_confirmed_dialog_gets_486() -> None:
    wire = Wire()
    _, c_call = wire.call("alice", "carol")
    assert c_call is not None and c_call.dialog is not None
    ids = c_call.dialog.id
    text = f"{ids.call_id};to-tag={ids.local_tag};from-tag={ids.remote_tag};early-only"
    assert rejected_with(wire, text)[0] == 486
    assert not c_call.ended


def test_replaces_of_an_ended_dialog_gets_603() -> None:
    wire = Wire()
    a_call, c_call = wire.call("alice", "carol")
    assert c_call is not None and c_call.dialog is not None
    ids = c_call.dialog.id
    wire.ua["alice"].hangup(a_call, wire.now)
    wire.run()
    assert c_call.ended
    text = f"{ids.call_id};to-tag={ids.local_tag};from-tag={ids.remote_tag}"
    assert rejected_with(wire, text)[0] == 603


def test_replaces_of_an_early_dialog_we_did_not_initiate_gets_481() -> None:
    wire = Wire()
    a_call, c_call = wire.call("alice", "carol", answer=False)
    assert c_call is not None
    wire.ua["carol"].ring(c_call, wire.now)
    wire.run()
    text = f"{a_call.invite.call_id};to-tag={c_call.local_tag};from-tag={a_call.local_tag}"
    assert rejected_with(wire, text)[0] == 481
    assert c_call.state is CallState.EARLY


def test_malformed_replaces_gets_400() -> None:
    wire = Wire()
    assert rejected_with(wire, "abc;to-tag=1")[0] == 400
    status, _ = rejected_with(wire, "a@b;to-tag=1;from-tag=2, c@d;to-tag=3;from-tag=4")
    assert status == 400


def test_require_replaces_when_disabled_gets_420() -> None:
    wire = Wire(carol={"policy": UasPolicy(supported=("outbound", "path"))})
    _, c_call = wire.call("alice", "carol")
    assert c_call is not None and c_call.dialog is not None
    ids = c_call.dialog.id
    text = f"{ids.call_id};to-tag={ids.local_tag};from-tag={ids.remote_tag}"
    status, call = rejected_with(wire, text, require=True)
    assert status == 420
    (response,) = [
        m
        for m in wire.messages("carol", "SIP/2.0 420")
        if isinstance(m, Response) and m.call_id == call.invite.call_id
    ]
    assert response.unsupported == ["replaces"]
    # without Require, the header is ignored: an ordinary call
    status, call = rejected_with(wire, text)
    assert status is None and call.state is CallState.CONFIRMED
    assert wire.of("carol", IncomingCall)[-1].replaces is None and not c_call.ended
    invite = wire.messages("alice", "INVITE")[0]
    assert "replaces" in invite.supported
    answer = next(m for m in wire.messages("carol", "SIP/2.0 200") if m.cseq.method == "INVITE")
    assert "replaces" not in answer.supported


def test_refer_needs_an_established_call() -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "carol", answer=False)
    with pytest.raises(LocalProtocolError):
        wire.ua["alice"].refer(a_call, uri("bob"), wire.now)
    a_to_b, _ = wire.call("alice", "bob")
    with pytest.raises(LocalProtocolError):
        wire.ua["alice"].refer(a_to_b, uri("carol"), wire.now, replaces=a_call)
    with pytest.raises(LocalProtocolError):
        wire.ua["alice"].refer(a_to_b, ReferTo.parse("<tel:+1555>").uri, wire.now, replaces=a_to_b)
    assert [e.call for e in wire.of("alice", CallAnswered)] == [a_to_b]


_LINE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=60
)


@settings(max_examples=40, deadline=None)
@given(_LINE, st.binary(max_size=40))
def test_random_refer_to_and_sipfrag_are_answered_never_raised(refer_to: str, body: bytes) -> None:
    wire = Wire()
    a_call, transfer, refer = refer_accepted(wire)
    send_in_dialog(wire, "alice", a_call, "REFER", [("Refer-To", refer_to)])
    (status,) = [s for s in statuses(wire, "bob", "REFER") if s != 202] or [None]
    received = wire.of("bob", ReferReceived)
    assert (status, len(received)) in ((400, 1), (None, 2))
    headers = [("Event", "refer"), ("Subscription-State", "active;expires=60")]
    send_in_dialog(
        wire, "bob", refer.call, "NOTIFY", headers, body=body, content_type="message/sipfrag"
    )
    last = statuses(wire, "alice", "NOTIFY")[-1]
    progress = wire.of("alice", TransferProgress)
    if last == 200 and body:
        assert progress[-1].status == Sipfrag.parse(body).status
    elif last != 200:
        assert last == 400 and len(progress) == 1 and transfer.state is SubscriberState.ACTIVE


def test_notify_overtaking_the_202() -> None:
    wire = Wire()
    a_call, _ = wire.call("alice", "bob")
    transfer = wire.ua["alice"].refer(a_call, uri("carol"), wire.now)
    wire.run()
    (received,) = wire.of("bob", ReferReceived)
    wire.drop = ["202"]
    wire.ua["bob"].accept_refer(received.refer, wire.now)
    wire.run()
    assert not wire.of("alice", TransferAccepted)
    assert [p.status for p in wire.of("alice", TransferProgress)] == [100]
    assert transfer.state is SubscriberState.ACTIVE
    wire.advance(1.0)  # the REFER is sent again and the 202 with it
    (accepted,) = wire.of("alice", TransferAccepted)
    assert accepted.response.status_code == 202 and transfer.state is SubscriberState.ACTIVE


def test_hanging_up_ends_the_subscriptions_without_events() -> None:
    wire = Wire()
    a_call, transfer, refer = refer_accepted(wire)
    wire.ua["alice"].hangup(a_call, wire.now)
    wire.run()
    assert transfer.state is SubscriberState.TERMINATED and refer.call.ended
    assert not wire.ua["bob"].notify_refer(refer, 200, "OK", wire.now)
    assert refer.state is NotifierState.TERMINATED
    assert wire.ua["alice"].transfers.get_timer() is None
    assert wire.ua["bob"].transfers.get_timer() is None
    wire.advance(300.0)
    kinds = (TransferCompleted, TransferFailed, TransferTimedOut)
    assert not [e for e in wire.events["alice"] if isinstance(e, kinds)]
