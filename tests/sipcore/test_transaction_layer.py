"""Matching, stateless answers and the merged deadline heap of the transaction layer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore import LocalProtocolError, Response, build_response, parse_message
from sipcore.events import (
    AckReceived,
    CancelReceived,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
)
from sipcore.flow import Flow
from sipcore.message import Limits
from sipcore.transaction_layer import TransactionLayer
from tests.sipcore.helpers import TCP, UDP, advance, drain, request

TORTURE = Path(__file__).resolve().parent.parent / "data" / "torture"


def sent(layer: TransactionLayer) -> list[bytes]:
    return [data for data, _ in layer.data_to_send()]


class TestServerSide:
    def test_request_creates_transaction_and_retransmission_is_absorbed(self) -> None:
        layer = TransactionLayer()
        req = request("OPTIONS")
        layer.receive(bytes(req), UDP, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        layer.receive(bytes(req), UDP, 0.1)
        assert drain(layer) == []
        layer.respond(event.transaction, 200, 0.2, to_tag="x")
        (ok,) = sent(layer)
        layer.receive(bytes(req), UDP, 0.3)
        assert sent(layer) == [ok]  # §17.2.2: the final response again

    def test_invite_gets_100_trying_at_once(self) -> None:
        layer = TransactionLayer()
        layer.receive(bytes(request("INVITE")), UDP, 0.0)
        (trying,) = sent(layer)
        msg = parse_message(trying)
        assert isinstance(msg, Response)
        assert msg.status_code == 100
        assert msg.to.tag is None

    def test_via_received_and_rport(self) -> None:
        # §18.2.1 / RFC 3581: the source goes into the top Via, the answer goes to the source
        layer = TransactionLayer()
        flow = Flow("UDP", ("198.51.100.7", 40123))
        layer.receive(bytes(request("OPTIONS", rport=True)), flow, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        via = event.request.top_via
        assert via.received == "198.51.100.7"
        assert via.rport == 40123
        layer.respond(event.transaction, 200, 0.1, to_tag="x")
        ((data, out_flow),) = layer.data_to_send()
        assert out_flow == flow
        assert b"received=198.51.100.7" in data
        assert b"rport=40123" in data

    def test_udp_without_rport_answers_to_via_port(self) -> None:
        layer = TransactionLayer()
        flow = Flow("UDP", ("198.51.100.7", 40123))
        layer.receive(bytes(request("OPTIONS")), flow, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        layer.respond(event.transaction, 200, 0.1, to_tag="x")
        ((_, out_flow),) = layer.data_to_send()
        assert out_flow.remote == ("198.51.100.7", 5060)

    def test_ack_for_non_2xx_matches_and_for_2xx_goes_up(self) -> None:
        layer = TransactionLayer()
        invite = request("INVITE")
        layer.receive(bytes(invite), UDP, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        layer.respond(event.transaction, 486, 0.1, to_tag="x")
        branch = invite.top_via.branch
        layer.receive(bytes(request("ACK", branch=branch, to_tag="x")), UDP, 0.2)
        assert drain(layer) == []  # absorbed by the transaction (Completed -> Confirmed)
        layer.receive(bytes(request("ACK", to_tag="y")), UDP, 0.3)
        (ack,) = drain(layer)
        assert isinstance(ack, AckReceived)

    def test_cancel(self) -> None:
        layer = TransactionLayer()
        invite = request("INVITE")
        layer.receive(bytes(invite), UDP, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        sent(layer)
        cancel = request("CANCEL", branch=invite.top_via.branch)
        layer.receive(bytes(cancel), UDP, 0.1)
        (cancelled,) = drain(layer)
        assert isinstance(cancelled, CancelReceived)
        assert cancelled.cancelled == event.transaction
        (ok,) = sent(layer)
        assert parse_message(ok).cseq.method == "CANCEL"
        # §9.2: a CANCEL matching nothing gets 481
        layer.receive(bytes(request("CANCEL")), UDP, 0.2)
        (no_match,) = sent(layer)
        assert parse_message(no_match).status_code == 481  # type: ignore[union-attr]

    def test_merged_request_gets_482(self) -> None:
        # §8.2.2.2: same From tag, Call-ID and CSeq over another branch (a forking loop)
        layer = TransactionLayer()
        layer.receive(bytes(request("INVITE", call_id="m")), UDP, 0.0)
        drain(layer)
        sent(layer)
        layer.receive(bytes(request("INVITE", call_id="m")), UDP, 0.1)
        (loop,) = sent(layer)
        assert parse_message(loop).status_code == 482  # type: ignore[union-attr]
        assert drain(layer) == []

    def test_rfc2543_matching(self) -> None:
        layer = TransactionLayer()
        old = request("INVITE", branch="1")  # no magic cookie
        layer.receive(bytes(old), UDP, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        layer.receive(bytes(old), UDP, 0.1)
        assert drain(layer) == []
        layer.respond(event.transaction, 404, 0.2, to_tag="t1")
        layer.receive(bytes(request("ACK", branch="1", to_tag="t1")), UDP, 0.3)
        assert drain(layer) == []
        layer.receive(bytes(request("ACK", branch="1", to_tag="other")), UDP, 0.4)
        assert isinstance(drain(layer)[0], AckReceived)

    @pytest.mark.parametrize(
        ("mutate", "status"),
        [
            (lambda b: b.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
            (lambda b: b.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"), 400),
            (lambda b: b.replace(b"From: <", b'From: "x <'), 400),
        ],
    )
    def test_malformed_request_answered_statelessly(self, mutate: object, status: int) -> None:
        layer = TransactionLayer()
        layer.receive(mutate(bytes(request("OPTIONS"))), UDP, 0.0)  # type: ignore[operator]
        (answer,) = sent(layer)
        # the peer's own (possibly broken) From/To/Call-ID/CSeq/Via lines are echoed (§8.2.6)
        assert answer.startswith(f"SIP/2.0 {status} ".encode())
        assert b"\r\nTo: <sip:bob@example.com>;tag=" in answer
        (event,) = drain(layer)
        assert isinstance(event, MessageDropped)
        assert event.status == status

    @pytest.mark.parametrize("bad", [b"\x00", b"\r"])
    def test_no_answer_echoes_a_lone_cr_or_nul(self, bad: bytes) -> None:
        # the request fails to parse; its Call-ID line cannot be copied into a clean answer
        data = bytes(request("OPTIONS")).replace(b"Call-ID: ", b"Call-ID: x" + bad, 1)
        layer = TransactionLayer()
        layer.receive(data, UDP, 0.0)
        assert sent(layer) == []
        (event,) = drain(layer)
        assert isinstance(event, MessageDropped)

    def test_request_without_from_to_call_id_gets_400_by_its_via(self) -> None:
        # RFC 4475 §3.3.1 (insuf): "Ideally, it will respond with a 400"; the Via routes it
        data = (TORTURE / "insuf.sip").read_bytes()
        layer = TransactionLayer()
        layer.receive(data, UDP, 0.0)
        (answer,) = sent(layer)
        assert answer == (
            b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\n"
            b"CSeq: 193942 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        (event,) = drain(layer)
        assert isinstance(event, MessageDropped)
        assert event.status == 400

    def test_request_without_via_gets_no_answer(self) -> None:
        data = bytes(request("OPTIONS")).replace(b"Via:", b"X-Via:", 1)
        layer = TransactionLayer()
        layer.receive(data, UDP, 0.0)
        assert sent(layer) == []
        (event,) = drain(layer)
        assert isinstance(event, MessageDropped)
        assert event.status is None

    def test_garbage_and_bad_responses_are_dropped(self) -> None:
        layer = TransactionLayer()
        layer.receive(b"\x00\xffgarbage", UDP, 0.0)
        layer.receive(b"SIP/2.0 200 OK\r\nVia: broken\r\n\r\n", UDP, 0.0)
        assert sent(layer) == []
        assert [type(e) for e in drain(layer)] == [MessageDropped, MessageDropped]

    def test_transaction_limit(self) -> None:
        layer = TransactionLayer(max_transactions=2)
        for i in range(3):
            layer.receive(bytes(request("OPTIONS", call_id=f"c{i}")), UDP, 0.0)
        assert [type(e) for e in drain(layer)] == [RequestReceived, RequestReceived, MessageDropped]
        (busy,) = sent(layer)
        assert parse_message(busy).status_code == 503  # type: ignore[union-attr]

    def test_pending_transactions_per_peer(self) -> None:
        # INVITEs from one peer that are never answered: the excess gets 503 with Retry-After
        # (§21.5.4) and no transaction, while another peer is still served
        layer = TransactionLayer(limits=Limits(max_transactions_per_peer=3))
        flooder = Flow("UDP", ("198.51.100.9", 5060), ("192.0.2.1", 5060))
        for i in range(5):
            layer.receive(bytes(request("INVITE", call_id=f"f{i}", rport=True)), flooder, 0.0)
        events = drain(layer)
        assert [type(e) for e in events] == [RequestReceived] * 3 + [MessageDropped] * 2
        assert layer.pending_count("198.51.100.9") == 3
        assert layer.transaction_count == 3
        answers = [parse_message(data) for data in sent(layer)]
        busy = [m for m in answers if isinstance(m, Response) and m.status_code == 503]
        assert [m.headers.get("Retry-After") for m in busy] == ["5", "5"]
        dropped = [e for e in events if isinstance(e, MessageDropped)]
        assert {e.reason for e in dropped} == {"too many pending transactions from this peer"}
        # another peer is not limited by the flooder's count
        layer.receive(bytes(request("OPTIONS", call_id="other")), UDP, 0.0)
        assert [type(e) for e in drain(layer)] == [RequestReceived]
        # a final answer frees the peer's slot at once (the transaction itself lives on in
        # Completed for its ACK); so does the end of an unanswered transaction
        first = events[0]
        assert isinstance(first, RequestReceived)
        layer.respond(first.transaction, 486, 0.1, to_tag="x")
        assert layer.pending_count("198.51.100.9") == 2
        layer.receive(bytes(request("INVITE", call_id="f9", rport=True)), flooder, 0.2)
        assert [type(e) for e in drain(layer)] == [RequestReceived]
        assert layer.pending_count("198.51.100.9") == 3
        layer.transport_error(flooder, 0.3)
        drain(layer)
        assert layer.pending_count("198.51.100.9") == 0


class TestClientSide:
    def test_response_matching_and_stray(self) -> None:
        layer = TransactionLayer()
        req = request("OPTIONS")
        key = layer.send_request(req, UDP, 0.0)
        assert len(sent(layer)) == 1
        ok = build_response(req, 200, to_tag="t")
        layer.receive(bytes(ok), UDP, 0.1)
        (event,) = drain(layer)
        assert isinstance(event, ResponseReceived)
        assert event.transaction == key
        layer.receive(bytes(build_response(request("OPTIONS"), 200, to_tag="t")), UDP, 0.2)
        assert isinstance(drain(layer)[0], StrayResponse)

    def test_same_branch_other_method_does_not_match(self) -> None:
        # §17.1.3: the CSeq method is part of the match (CANCEL shares the INVITE's branch)
        layer = TransactionLayer()
        invite = request("INVITE")
        layer.send_request(invite, UDP, 0.0)
        cancel = request("CANCEL", branch=invite.top_via.branch)
        cancel_key = layer.send_request(cancel, UDP, 0.1)
        layer.receive(bytes(build_response(cancel, 200, to_tag="t")), UDP, 0.2)
        (event,) = drain(layer)
        assert isinstance(event, ResponseReceived)
        assert event.transaction == cancel_key

    def test_misuse(self) -> None:
        layer = TransactionLayer()
        with pytest.raises(LocalProtocolError):
            layer.send_request(request("ACK"), UDP, 0.0)
        with pytest.raises(LocalProtocolError):
            layer.send_request(request("OPTIONS", branch="nocookie"), UDP, 0.0)
        req = request("OPTIONS")
        layer.send_request(req, UDP, 0.0)
        with pytest.raises(LocalProtocolError):
            layer.send_request(req, UDP, 0.0)

    def test_timer_heap_over_many_transactions(self) -> None:
        layer = TransactionLayer()
        layer.send_request(request("INVITE"), UDP, 0.0)
        layer.send_request(request("OPTIONS"), UDP, 0.25)
        layer.send_request(request("OPTIONS", transport="TCP"), TCP, 0.0)
        sent(layer)
        times = [t for t, _ in advance(layer, 100.0)]
        assert times[:4] == [0.5, 0.75, 1.5, 1.75]
        events = drain(layer)
        timeouts = [e for e in events if isinstance(e, TransactionTimedOut)]
        assert sorted(e.timer.value for e in timeouts) == ["B", "F", "F"]
        assert sum(isinstance(e, TransactionTerminated) for e in events) == 3
        assert layer.get_timer() is None
        assert layer.transaction_count == 0

    def test_transport_error(self) -> None:
        layer = TransactionLayer()
        layer.send_request(request("OPTIONS", transport="TCP"), TCP, 0.0)
        layer.transport_error(TCP, 0.1)
        kinds = [type(e).__name__ for e in drain(layer)]
        assert kinds == ["TransportFailed", "TransactionTerminated"]


@given(st.lists(st.binary(max_size=200) | st.sampled_from([bytes(request("INVITE"))]), max_size=8))
@settings(max_examples=200)
def test_receive_never_raises(chunks: list[bytes]) -> None:
    layer = TransactionLayer()
    for i, data in enumerate(chunks):
        layer.receive(data, UDP, float(i))
        drain(layer)
        layer.data_to_send()
    advance(layer, 1000.0)
    assert layer.get_timer() is None
