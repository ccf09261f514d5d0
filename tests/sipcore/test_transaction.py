"""The four §17 machines on a fake clock: schedules, tables and invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore import InvalidStateError, Response, build_response, parse_message
from sipcore.events import (
    AckReceived,
    AdditionalSuccess,
    ResponseReceived,
    TransactionTimedOut,
    TransportFailed,
)
from sipcore.timers import Timer, TimerConfig
from sipcore.transaction import (
    ICT_TABLE,
    IST_TABLE,
    NICT_TABLE,
    NIST_TABLE,
    Input,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    State,
    Transaction,
    build_ack,
)
from tests.sipcore.helpers import TCP, UDP, request

TIMERS = TimerConfig()


def run_timers(txn: Transaction, until: float) -> list[float]:
    """Step the clock from deadline to deadline; returns when something was sent."""
    sent: list[float] = []
    while (deadline := txn.get_timer()) is not None and deadline <= until:
        txn.handle_timer(deadline)
        sent += [deadline] * len(txn.outbox)
        txn.outbox.clear()
    return sent


def answer(req_status: int, txn: Transaction, to_tag: str = "tt") -> Response:
    return build_response(txn.request, req_status, to_tag=to_tag)


class TestInviteClient:
    def test_udp_schedule_and_timer_b(self) -> None:
        # §17.1.1.2: retransmit at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; Timer B at 32 s
        txn = InviteClientTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.start(0.0)
        assert len(txn.outbox) == 1
        txn.outbox.clear()
        assert run_timers(txn, 100.0) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
        assert txn.state is State.TERMINATED
        assert txn.events == [TransactionTimedOut(transaction="k", timer=Timer.B)]
        assert txn.get_timer() is None

    def test_reliable_no_retransmission(self) -> None:
        txn = InviteClientTransaction("k", request("INVITE", transport="TCP"), TCP, TIMERS)
        txn.start(0.0)
        txn.outbox.clear()
        assert txn.deadlines == {Timer.B: 32.0}
        assert run_timers(txn, 40.0) == []
        assert txn.terminated

    def test_provisional_stops_retransmission_and_timer_b(self) -> None:
        txn = InviteClientTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.start(0.0)
        txn.receive_response(answer(180, txn), 0.2)
        assert txn.state is State.PROCEEDING
        assert txn.get_timer() is None
        assert isinstance(txn.events[0], ResponseReceived)

    def test_non_2xx_acked_and_retransmission_reacked(self) -> None:
        txn = InviteClientTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.start(0.0)
        txn.outbox.clear()
        busy = answer(486, txn)
        txn.receive_response(busy, 0.1)
        assert txn.state is State.COMPLETED
        (ack_bytes,) = txn.outbox
        ack = parse_message(ack_bytes)
        assert ack.method == "ACK"  # type: ignore[union-attr]
        assert ack.cseq.method == "ACK"
        assert ack.to.tag == "tt"
        assert ack.top_via.branch == txn.request.top_via.branch
        txn.outbox.clear()
        txn.receive_response(busy, 0.2)
        assert len(txn.outbox) == 1  # the ACK again (§17.1.1.2)
        assert [e for e in txn.events if isinstance(e, ResponseReceived)][-1].response is busy
        assert len([e for e in txn.events if isinstance(e, ResponseReceived)]) == 1
        assert txn.get_timer() == pytest.approx(32.1)  # Timer D
        run_timers(txn, 40.0)
        assert txn.terminated

    def test_non_2xx_on_tcp_terminates_at_once(self) -> None:
        txn = InviteClientTransaction("k", request("INVITE", transport="TCP"), TCP, TIMERS)
        txn.start(0.0)
        txn.receive_response(answer(404, txn), 0.1)
        assert txn.terminated

    def test_2xx_accepted_rfc6026(self) -> None:
        txn = InviteClientTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.start(0.0)
        ok = answer(200, txn)
        txn.receive_response(ok, 0.1)
        assert txn.state is State.ACCEPTED
        txn.receive_response(ok, 0.6)  # retransmitted 2xx
        txn.receive_response(answer(200, txn, to_tag="fork2"), 0.7)
        kinds = [type(e) for e in txn.events]
        assert kinds == [ResponseReceived, AdditionalSuccess, AdditionalSuccess]
        assert txn.get_timer() == pytest.approx(32.1)  # Timer M
        run_timers(txn, 40)
        assert txn.terminated

    def test_transport_error(self) -> None:
        txn = InviteClientTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.start(0.0)
        txn.transport_error(0.1)
        assert txn.terminated
        assert txn.events == [TransportFailed(transaction="k")]


class TestNonInviteClient:
    def test_udp_schedule_caps_at_t2(self) -> None:
        # §17.1.2.2: E doubles up to T2; F at 64*T1
        txn = NonInviteClientTransaction("k", request(), UDP, TIMERS)
        txn.start(0.0)
        txn.outbox.clear()
        sent = run_timers(txn, 40.0)
        assert sent == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        assert txn.events == [TransactionTimedOut(transaction="k", timer=Timer.F)]

    def test_proceeding_retransmits_every_t2(self) -> None:
        txn = NonInviteClientTransaction("k", request(), UDP, TIMERS)
        txn.start(0.0)
        txn.outbox.clear()
        txn.receive_response(answer(100, txn), 0.1)
        assert txn.state is State.PROCEEDING
        assert run_timers(txn, 9.0) == [0.5, 4.5, 8.5]

    def test_final_then_timer_k(self) -> None:
        txn = NonInviteClientTransaction("k", request(), UDP, TIMERS)
        txn.start(0.0)
        ok = answer(200, txn)
        txn.receive_response(ok, 0.1)
        txn.receive_response(ok, 0.2)  # absorbed
        assert len([e for e in txn.events if isinstance(e, ResponseReceived)]) == 1
        assert txn.get_timer() == pytest.approx(5.1)  # Timer K = T4
        run_timers(txn, 6)
        assert txn.terminated

    def test_tcp_final_terminates_at_once(self) -> None:
        txn = NonInviteClientTransaction("k", request(transport="TCP"), TCP, TIMERS)
        txn.start(0.0)
        assert txn.deadlines == {Timer.F: 32.0}
        txn.receive_response(answer(200, txn), 0.1)
        assert txn.terminated


class TestInviteServer:
    def test_failure_retransmitted_until_ack(self) -> None:
        txn = InviteServerTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.send_response(answer(100, txn), 0.0)
        txn.receive_request(txn.request, 0.1)  # retransmitted INVITE: resend the 100
        assert len(txn.outbox) == 2
        txn.outbox.clear()
        txn.send_response(answer(486, txn), 1.0)
        txn.outbox.clear()
        # Timer G: 0.5, 1, 2, 4, 4 ... capped at T2, until H (32 s)
        assert run_timers(txn, 10.0) == [1.5, 2.5, 4.5, 8.5]
        txn.receive_request(request("ACK", branch=txn.request.top_via.branch), 10.0)
        assert txn.state is State.CONFIRMED
        assert txn.get_timer() == pytest.approx(15.0)  # Timer I = T4
        run_timers(txn, 20)
        assert txn.terminated

    def test_timer_h_without_ack(self) -> None:
        txn = InviteServerTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.send_response(answer(500, txn), 0.0)
        run_timers(txn, 100)
        assert txn.events == [TransactionTimedOut(transaction="k", timer=Timer.H)]

    def test_accepted_absorbs_and_passes_ack(self) -> None:
        txn = InviteServerTransaction("k", request("INVITE"), UDP, TIMERS)
        txn.send_response(answer(200, txn), 0.0)
        assert txn.state is State.ACCEPTED
        txn.outbox.clear()
        txn.receive_request(txn.request, 0.5)
        assert txn.outbox == []  # the TU core retransmits 2xx, not the transaction
        txn.send_response(answer(200, txn), 0.5)
        assert len(txn.outbox) == 1
        txn.receive_request(request("ACK"), 0.6)
        assert isinstance(txn.events[-1], AckReceived)
        run_timers(txn, 40)
        assert txn.terminated

    def test_tu_misuse(self) -> None:
        txn = NonInviteServerTransaction("k", request(), UDP, TIMERS)
        txn.send_response(answer(200, txn), 0.0)
        with pytest.raises(InvalidStateError):
            txn.send_response(answer(200, txn), 0.1)


class TestNonInviteServer:
    def test_retransmissions_and_timer_j(self) -> None:
        txn = NonInviteServerTransaction("k", request(), UDP, TIMERS)
        txn.receive_request(txn.request, 0.1)
        assert txn.outbox == []  # Trying absorbs
        txn.send_response(answer(200, txn), 0.2)
        txn.receive_request(txn.request, 0.3)
        assert len(txn.outbox) == 2
        assert txn.get_timer() == pytest.approx(32.2)
        run_timers(txn, 40)
        assert txn.terminated

    def test_tcp_terminates_after_final(self) -> None:
        txn = NonInviteServerTransaction("k", request(transport="TCP"), TCP, TIMERS)
        txn.send_response(answer(200, txn), 0.2)
        assert txn.terminated


def test_build_ack_copies_route_and_single_via() -> None:
    invite = request("INVITE")
    invite.headers.add("Route", "<sip:proxy.example.com;lr>")
    invite.headers.add("Via", "SIP/2.0/UDP second.example.com")
    ack = build_ack(invite, build_response(invite, 404, to_tag="x"))
    assert ack.headers.get_lines("via") == [invite.headers.get_lines("via")[0]]
    assert ack.headers.get_lines("route") == ["<sip:proxy.example.com;lr>"]
    assert ack.uri == invite.uri
    assert ack.to.tag == "x"


def test_tables_only_hold_known_states() -> None:
    for table in (ICT_TABLE, NICT_TABLE, IST_TABLE, NIST_TABLE):
        for (state, _), (_, nxt) in table.items():
            assert state is not State.TERMINATED
            assert isinstance(nxt, State)


# -- invariants over random interleavings (as h2 tests its state machines) ----------------------

_CLIENT_INPUTS = st.sampled_from(["1xx", "2xx", "4xx", "timer", "error"])
_SERVER_INPUTS = st.sampled_from(["req", "ack", "send1xx", "send2xx", "send4xx", "timer", "error"])


@given(
    st.booleans(),
    st.booleans(),
    st.lists(st.tuples(_CLIENT_INPUTS, st.floats(0, 5)), max_size=30),
)
@settings(max_examples=300)
def test_client_invariants(invite: bool, reliable: bool, steps: list[tuple[str, float]]) -> None:
    flow = TCP if reliable else UDP
    cls = InviteClientTransaction if invite else NonInviteClientTransaction
    req = request("INVITE" if invite else "OPTIONS", transport=flow.transport)
    txn = cls("k", req, flow, TIMERS)
    now = 0.0
    txn.start(now)
    finals = 0
    for kind, delay in steps:
        now += delay
        txn.handle_timer(now)  # as a driver does: due deadlines fire before the next input
        was_terminated = txn.terminated
        if kind == "timer":
            deadline = txn.get_timer()
            if deadline is not None:
                now = max(now, deadline)
                txn.handle_timer(now)
        elif kind == "error":
            txn.transport_error(now)
        else:
            status = {"1xx": 180, "2xx": 200, "4xx": 486}[kind]
            txn.receive_response(build_response(req, status, to_tag="t"), now)
        finals += sum(
            1
            for e in txn.events
            if isinstance(e, ResponseReceived) and e.response.status_code >= 200
        )
        txn.events.clear()
        assert finals <= 1  # at most one final response goes up
        if was_terminated:
            assert txn.terminated  # Terminated is absorbing
        if txn.terminated:
            assert txn.get_timer() is None  # nothing is scheduled after Terminated
        deadline = txn.get_timer()
        assert deadline is None or deadline > now


@given(
    st.booleans(),
    st.booleans(),
    st.lists(st.tuples(_SERVER_INPUTS, st.floats(0, 5)), max_size=30),
)
@settings(max_examples=300)
def test_server_invariants(invite: bool, reliable: bool, steps: list[tuple[str, float]]) -> None:
    flow = TCP if reliable else UDP
    cls = InviteServerTransaction if invite else NonInviteServerTransaction
    req = request("INVITE" if invite else "OPTIONS", transport=flow.transport)
    txn = cls("k", req, flow, TIMERS)
    now = 0.0
    finals_sent = 0
    for kind, delay in steps:
        now += delay
        txn.handle_timer(now)
        was_terminated = txn.terminated
        state = txn.state
        if kind == "timer":
            deadline = txn.get_timer()
            if deadline is not None:
                now = max(now, deadline)
                txn.handle_timer(now)
        elif kind == "error":
            txn.transport_error(now)
        elif kind in ("req", "ack"):
            txn.receive_request(request("ACK") if kind == "ack" else req, now)
        else:
            status, tu_input = {
                "send1xx": (180, Input.SEND_PROVISIONAL),
                "send2xx": (200, Input.SEND_SUCCESS),
                "send4xx": (486, Input.SEND_FAILURE),
            }[kind]
            try:
                txn.send_response(build_response(req, status, to_tag="t"), now)
            except InvalidStateError:
                assert (state, tu_input) not in txn.table  # refused only where the table says
                assert txn.state is state
                continue
            if status >= 300 or (status >= 200 and not invite):
                finals_sent += 1
        assert finals_sent <= 1  # no second non-2xx final can be sent
        if was_terminated:
            assert txn.terminated
        if txn.terminated:
            assert txn.get_timer() is None
