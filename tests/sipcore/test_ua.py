"""Two UA cores talking over a fake wire (no sockets, a float clock): call set-up, CANCEL, BYE,
lost ACKs and forks."""

from __future__ import annotations

from typing import Any

from sipcore import NameAddr, Response, SipUri, build_response, parse_message
from sipcore.flow import Flow
from sipcore.transaction_layer import TransactionLayer
from sipcore.ua import (
    Call,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallProgress,
    CallState,
    EndReason,
    IncomingCall,
    UserAgent,
)
from tests.sipcore.ua_wire import UaWire, identity

A_ADDR = ("192.0.2.1", 5060)
B_ADDR = ("192.0.2.2", 5060)
A_FLOW = Flow("UDP", B_ADDR, A_ADDR)  # alice's view: the peer is bob
B_FLOW = Flow("UDP", A_ADDR, B_ADDR)


class Wire(UaWire):
    """Alice's and Bob's UA cores (``alice`` and ``bob``: options of each)."""

    def __init__(
        self, alice: dict[str, Any] | None = None, bob: dict[str, Any] | None = None
    ) -> None:
        super().__init__({"alice": A_ADDR, "bob": B_ADDR}, {"alice": alice or {}, "bob": bob or {}})
        self.alice = self.ua["alice"]
        self.bob = self.ua["bob"]

    @property
    def sent(self) -> list[bytes]:
        return [data for _, _, data in self.log]


def call_bob(wire: Wire) -> Call:
    call = wire.alice.invite(
        SipUri(B_ADDR[0], user="bob", port=B_ADDR[1]),
        from_addr=NameAddr(SipUri("example.com", user="alice")),
        flow=A_FLOW,
        now=wire.now,
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    wire.run()
    return call


def test_call_setup_and_bye_from_the_callee() -> None:
    wire = Wire()
    call = call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    bob_call = incoming.call
    assert bob_call.remote_body == b"v=0\r\n"
    wire.bob.ring(bob_call, wire.now)
    wire.run()
    (progress,) = wire.of("alice", CallProgress)
    assert progress.response.status_code == 180
    assert call.state is CallState.EARLY
    wire.bob.answer(bob_call, wire.now, body=b"v=0 answer\r\n", content_type="application/sdp")
    wire.run()
    (answered,) = wire.of("alice", CallAnswered)
    assert answered.response.body == b"v=0 answer\r\n"
    assert wire.of("bob", CallConfirmed)  # the ACK reached bob
    assert bob_call.state is CallState.CONFIRMED
    # the ACK for the 2xx stopped the retransmissions (§13.3.1.4): only the session timer
    # (RFC 4028, at 1800 - 32 s for bob, who does not refresh) is left
    assert bob_call.timer is not None
    assert wire.bob.get_timer() == bob_call.timer.deadline == wire.now + 1800 - 32
    wire.bob.hangup(bob_call, wire.now)
    wire.run()
    (ended,) = wire.of("alice", CallEnded)
    assert ended.reason is EndReason.REMOTE_HANGUP
    (bob_ended,) = wire.of("bob", CallEnded)
    assert bob_ended.reason is EndReason.LOCAL_HANGUP
    assert wire.alice.calls == {} and wire.bob.calls == {}


def test_cancel_before_and_after_the_provisional_response() -> None:
    wire = Wire()
    wire.drop = ["100"]  # no provisional yet: the CANCEL must wait (§9.1)
    call = call_bob(wire)
    wire.alice.cancel(call, wire.now)
    wire.run()
    assert not any(d.startswith(b"CANCEL") for d in wire.sent)
    (incoming,) = wire.of("bob", IncomingCall)
    wire.bob.ring(incoming.call, wire.now)
    wire.run()
    assert any(d.startswith(b"CANCEL") for d in wire.sent)
    (ended,) = wire.of("alice", CallEnded)
    assert ended.reason is EndReason.LOCAL_CANCEL
    assert ended.status == 487
    (bob_ended,) = wire.of("bob", CallEnded)
    assert bob_ended.reason is EndReason.REMOTE_CANCEL


def test_reject_and_hangup_of_a_ringing_call() -> None:
    wire = Wire()
    call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    wire.bob.hangup(incoming.call, wire.now)
    wire.run()
    (ended,) = wire.of("alice", CallEnded)
    assert ended.reason is EndReason.REJECTED
    assert ended.status == 486


def test_lost_ack_means_2xx_retransmission() -> None:
    wire = Wire()
    call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    wire.drop = ["ACK"]
    wire.bob.answer(incoming.call, wire.now)
    wire.run()
    assert not wire.of("bob", CallConfirmed)
    wire.advance(1.0)  # the 2xx comes again at T1; alice acknowledges it again
    assert wire.of("bob", CallConfirmed)
    assert len(wire.of("alice", CallAnswered)) == 1


def test_no_ack_ends_the_call_with_bye() -> None:
    wire = Wire()
    call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    wire.drop = ["ACK"] * 20
    wire.bob.answer(incoming.call, wire.now)
    wire.run()
    wire.advance(40.0)
    (ended,) = wire.of("bob", CallEnded)
    assert ended.reason is EndReason.NO_ACK


def test_timeout_when_nobody_answers() -> None:
    wire = Wire()
    wire.drop = ["INVITE"] * 20
    call_bob(wire)
    wire.advance(40.0)
    (ended,) = wire.of("alice", CallEnded)
    assert ended.reason is EndReason.TIMEOUT
    assert ended.status == 408


def test_second_fork_is_acknowledged_and_ended() -> None:
    wire = Wire()
    call = call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    wire.bob.answer(incoming.call, wire.now)
    wire.run()
    # another fork answers the same INVITE with its own tag
    fork: Response = build_response(
        call.invite,
        200,
        to_tag="fork2",
        headers=[("Contact", "<sip:carol@192.0.2.3>")],
    )
    wire.alice.layer.receive(bytes(fork), A_FLOW, wire.now)
    wire.pump()
    to_fork = [
        m for m in map(parse_message, wire.sent) if getattr(m, "method", "") and m.to.tag == "fork2"
    ]
    assert [getattr(m, "method", None) for m in to_fork] == ["ACK", "BYE"]
    assert len(wire.of("alice", CallAnswered)) == 1


def test_requests_of_unknown_dialogs_get_481() -> None:
    wire = Wire()
    call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    wire.bob.answer(incoming.call, wire.now)
    wire.run()
    (answered,) = wire.of("alice", CallAnswered)
    dialog = answered.call.dialog
    wire.bob.calls.clear()
    wire.bob._dialogs.clear()  # bob forgot the call
    wire.alice.hangup(answered.call, wire.now)
    wire.run()
    responses = [parse_message(d) for d in wire.sent if d.startswith(b"SIP/")]
    assert responses[-1].status_code == 481  # type: ignore[union-attr]
    assert dialog is not None


async def test_call_through_the_embedded_proxy() -> None:
    """alice over WS and bob over TCP register to the embedded server; alice calls bob."""
    import asyncio

    from sipcore.digest_client import DigestClient
    from sipcore.registration import RegistrationConfig
    from sipcore.server import EmbeddedServer
    from sipcore.stack import SipStack

    async def until(check: object, timeout: float = 5.0) -> None:
        for _ in range(int(timeout / 0.02)):
            if check():  # type: ignore[operator]
                return
            await asyncio.sleep(0.02)
        raise AssertionError("condition not reached")

    users = {"alice": "alicepw", "bob": "bobpw"}
    async with EmbeddedServer(users, listen=("ws", "tcp")) as server:
        parties = {}
        for user, transport in (("alice", "ws"), ("bob", "tcp")):
            stack = SipStack()
            await stack.__aenter__()
            account = stack.account(
                RegistrationConfig(aor=SipUri(server.domain, user=user), password=users[user]),
                server.uri(transport),
            )
            await account.register()
            ua = UserAgent(
                stack.layer, account.identity, credentials=DigestClient(user, users[user])
            )
            stack.users.append(ua)
            parties[user] = (stack, account, ua)
        try:
            a_stack, a_account, alice = parties["alice"]
            b_stack, _, bob = parties["bob"]
            assert a_account.flow is not None
            call = alice.invite(
                SipUri(server.domain, user="bob"),
                from_addr=NameAddr(SipUri(server.domain, user="alice")),
                flow=a_account.flow,
                now=a_stack.now(),
                body=b"v=0\r\n",
                content_type="application/sdp",
            )
            a_stack.process()
            await until(lambda: any(isinstance(e, IncomingCall) for e in bob.events))
            incoming = next(e for e in bob.events if isinstance(e, IncomingCall)).call
            bob.ring(incoming, b_stack.now())
            bob.answer(incoming, b_stack.now(), body=b"v=0\r\n", content_type="application/sdp")
            b_stack.process()
            await until(lambda: call.state is CallState.CONFIRMED)
            await until(lambda: incoming.state is CallState.CONFIRMED)
            assert call.dialog is not None and len(call.dialog.route_set) == 2  # double RR
            alice.hangup(call, a_stack.now())
            a_stack.process()
            await until(lambda: incoming.ended)
            assert incoming.end_reason is EndReason.REMOTE_HANGUP
        finally:
            for stack, account, _ in parties.values():
                await account.stop()
                await stack.close()


def established() -> tuple[Wire, Call, Call]:
    wire = Wire()
    call = call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    bob_call = incoming.call
    wire.bob.answer(bob_call, wire.now)
    wire.run()
    return wire, call, bob_call


def test_reinvite_hold_and_unhold() -> None:
    from sipcore.ua import ReinviteAnswered, ReinviteReceived

    wire, call, bob_call = established()
    hold = b"v=0\r\na=sendonly\r\n"
    assert wire.alice.reinvite(call, wire.now, body=hold, content_type="application/sdp")
    assert not wire.alice.reinvite(call, wire.now, body=hold)
    wire.run()
    (received,) = wire.of("bob", ReinviteReceived)
    assert received.request.body == hold
    wire.bob.answer_reinvite(
        bob_call, wire.now, body=b"v=0\r\na=recvonly\r\n", content_type="application/sdp"
    )
    wire.run()
    (answered,) = wire.of("alice", ReinviteAnswered)
    assert answered.response.status_code == 200
    assert answered.response.body == b"v=0\r\na=recvonly\r\n"
    # the ACK of the re-INVITE's 2xx arrived: only the session timer is left
    assert bob_call.timer is not None
    assert wire.bob.get_timer() == bob_call.timer.deadline
    assert call.state is CallState.CONFIRMED
    # a failed re-INVITE leaves the call up (§14.1)
    assert wire.bob.reinvite(bob_call, wire.now, body=b"v=0\r\n", content_type="application/sdp")
    wire.run()
    (again,) = wire.of("alice", ReinviteReceived)
    wire.alice.answer_reinvite(again.call, wire.now, status=488)
    wire.run()
    (failed,) = wire.of("bob", ReinviteAnswered)
    assert failed.response.status_code == 488
    assert bob_call.state is CallState.CONFIRMED


def test_reinvite_glare_491_and_retry() -> None:
    from sipcore.ua import ReinviteReceived

    wire, call, bob_call = established()
    # both send a re-INVITE before seeing the other's: each answers the other with 491
    wire.alice.reinvite(call, wire.now, body=b"a", content_type="application/sdp")
    wire.bob.reinvite(bob_call, wire.now, body=b"b", content_type="application/sdp")
    wire.run()
    statuses = [d.split(b" ", 2)[1] for d in wire.sent if d.startswith(b"SIP/")]
    assert statuses.count(b"491") == 2
    # §14.1: the Call-ID owner (alice) waits 2.1-4 s, bob 0-2 s: bob's retry comes first
    assert wire.bob.get_timer() is not None and wire.alice.get_timer() is not None
    assert wire.bob.get_timer() < wire.alice.get_timer()  # type: ignore[operator]
    wire.advance(2.05)
    (received,) = wire.of("alice", ReinviteReceived)
    assert received.request.body == b"b"


def test_info_both_ways() -> None:
    from sipcore.ua import InfoAnswered, InfoReceived

    wire, call, _ = established()
    body = b"Signal=5\r\nDuration=160\r\n"
    assert wire.alice.send_info(call, wire.now, body=body, content_type="application/dtmf-relay")
    wire.run()
    (info,) = wire.of("bob", InfoReceived)
    assert info.request.body == body
    assert info.request.content_type is not None
    assert info.request.content_type.mime == "application/dtmf-relay"
    (answered,) = wire.of("alice", InfoAnswered)
    assert answered.response.status_code == 200


def test_extension_names_come_from_sipcore_ua_and_the_invite_offers_them() -> None:
    import sipcore.ua

    for name in sipcore.ua.__all__:
        assert hasattr(sipcore.ua, name), name
    wire = Wire()
    call = call_bob(wire)
    assert call.invite.supported == ["outbound", "path", "replaces", "100rel", "timer"]
    assert call.invite.headers.get("session-expires") == "1800"
    assert call.invite.headers.get("min-se") == "90"
    assert "PRACK" in call.invite.allow and "UPDATE" in call.invite.allow
    assert wire.bob.policy.supported == ("outbound", "path", "replaces", "100rel", "timer")
    quiet = UserAgent(
        TransactionLayer(),
        lambda flow: identity(A_ADDR, "alice"),
        reliable_provisionals=False,
        session_timer=sipcore.ua.SessionTimerConfig(enabled=False),
    )
    assert quiet.policy.supported == ("outbound", "path", "replaces")


def test_a_kept_call_survives_its_flow_and_refreshes_its_target_on_a_new_one() -> None:
    from sipcore.ua import CallFlowLost, UpdateAnswered

    wire = Wire(alice={"keep_calls": True})
    wire.alice.identity = lambda flow: identity(flow.local, "alice")
    call = call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    bob_call = incoming.call
    wire.bob.answer(bob_call, wire.now)
    wire.run()
    assert call.state is CallState.CONFIRMED
    old_target = bob_call.dialog.remote_target if bob_call.dialog else None
    assert old_target is not None and old_target.port == A_ADDR[1]

    # alice's flow closes: the confirmed call is kept and reported
    wire.alice.flow_closed(A_FLOW, wire.now)
    wire.run()
    assert [e.call for e in wire.of("alice", CallFlowLost)] == [call]
    assert not wire.of("alice", CallEnded)
    assert call.flow_lost and call.state is CallState.CONFIRMED

    # a new flow from another local port: in-dialog requests go there, with our new Contact
    new_flow = Flow("UDP", B_ADDR, ("192.0.2.1", 5070), connection=0)
    wire.alice.rebind(call, new_flow)
    assert call.flow == new_flow and not call.flow_lost
    assert wire.alice.refresh_target(call, wire.now)
    sent = wire.alice.layer.data_to_send()
    assert [flow for _, flow in sent] == [new_flow]
    update = parse_message(sent[0][0])
    assert update.method == "UPDATE" and not update.body  # type: ignore[union-attr]
    assert update.contacts[0].uri.port == 5070
    wire.bob.layer.receive(sent[0][0], B_FLOW, wire.now)
    wire.run()
    (answered,) = wire.of("alice", UpdateAnswered)
    assert answered.response.status_code == 200
    assert bob_call.dialog is not None and bob_call.dialog.remote_target.port == 5070

    # the peer's BYE now targets the refreshed Contact and ends the call cleanly
    wire.bob.hangup(bob_call, wire.now)
    wire.run()
    bye = next(parse_message(d) for d in wire.sent if d.startswith(b"BYE "))
    assert bye.uri.port == 5070  # type: ignore[union-attr]
    assert [e.reason for e in wire.of("alice", CallEnded)] == [EndReason.REMOTE_HANGUP]


def test_flow_loss_ends_calls_that_are_not_kept() -> None:
    from sipcore.ua import CallFlowLost

    wire = Wire(alice={"keep_calls": True})
    call = call_bob(wire)  # ringing, not confirmed: it cannot be kept
    (incoming,) = wire.of("bob", IncomingCall)
    wire.alice.flow_closed(A_FLOW, wire.now)
    wire.run()
    assert [(e.reason, e.status) for e in wire.of("alice", CallEnded)] == [(EndReason.FAILURE, 503)]
    assert call.ended and not wire.of("alice", CallFlowLost)
    # bob keeps no calls: his ends with the flow, as before
    wire.bob.flow_closed(B_FLOW, wire.now)
    wire.run()
    assert incoming.call.ended


def test_no_update_target_refresh_when_the_peer_does_not_allow_update() -> None:
    wire, call, _ = established()
    call.peer_allow = ["INVITE", "ACK", "BYE"]
    assert not wire.alice.refresh_target(call, wire.now)
    assert wire.alice.layer.data_to_send() == []


def busy(wire: Wire, call: Call, retry_after: str) -> None:
    """Bob answers the INVITE of ``call`` with 503 and Retry-After."""
    assert call.transaction is not None
    response = build_response(
        call.invite, 503, to_tag=call.local_tag, headers=[("Retry-After", retry_after)]
    )
    wire.bob.layer.send_response(call.transaction, response, wire.now)
    wire.run()


def test_503_with_retry_after_sends_the_invite_again_once() -> None:
    wire = Wire()
    call = call_bob(wire)
    (first,) = wire.of("bob", IncomingCall)
    busy(wire, first.call, "5")
    assert not call.ended and not wire.of("alice", CallEnded)
    assert wire.alice.get_timer() == wire.now + 5  # §21.5.4: not before Retry-After
    wire.advance(4.9)
    assert len(wire.of("bob", IncomingCall)) == 1
    wire.advance(0.1)
    incoming = wire.of("bob", IncomingCall)
    assert len(incoming) == 2
    second = incoming[1].call.invite
    assert second.call_id == first.call.invite.call_id and second.cseq.number == 2
    busy(wire, incoming[1].call, "0")  # the retry budget (1) is spent: the call fails
    (ended,) = wire.of("alice", CallEnded)
    assert (ended.reason, ended.status) == (EndReason.REJECTED, 503)
    assert wire.alice.get_timer() is None


def test_503_retry_after_too_long_or_missing_fails_at_once() -> None:
    for value in ("600", "soon"):
        wire = Wire()
        call = call_bob(wire)
        (first,) = wire.of("bob", IncomingCall)
        busy(wire, first.call, value)
        assert call.ended and call.end_status == 503


def test_cancel_while_waiting_to_retry_ends_the_call() -> None:
    wire = Wire()
    call = call_bob(wire)
    (first,) = wire.of("bob", IncomingCall)
    busy(wire, first.call, "5")
    wire.alice.hangup(call, wire.now)
    wire.run()
    (ended,) = wire.of("alice", CallEnded)
    assert ended.reason is EndReason.LOCAL_CANCEL
    wire.advance(10)
    assert len(wire.of("bob", IncomingCall)) == 1  # no INVITE after the CANCEL


def test_a_2xx_retransmitted_after_our_bye_is_still_acknowledged() -> None:
    # §13.2.2.4: every 2xx gets an ACK, even one that arrives after the BYE ended the dialog
    wire = Wire()
    call = call_bob(wire)
    (incoming,) = wire.of("bob", IncomingCall)
    wire.drop = ["ACK"]  # bob keeps retransmitting his 2xx
    wire.bob.answer(incoming.call, wire.now)
    wire.run()
    wire.alice.hangup(call, wire.now)
    wire.run()
    assert call.ended
    acks_before = sum(d.startswith(b"ACK ") for d in wire.sent)
    wire.advance(1.0)  # the 2xx comes again: no error, an ACK goes out
    assert sum(d.startswith(b"ACK ") for d in wire.sent) > acks_before
