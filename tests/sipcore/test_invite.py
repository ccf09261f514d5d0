from __future__ import annotations

from sipcore import build_response
from sipcore.invite import AckTimedOut, SuccessRetransmitter
from tests.sipcore.helpers import UDP, request


def test_2xx_retransmitted_until_ack() -> None:
    # §13.3.1.4: T1, doubling up to T2
    rt = SuccessRetransmitter()
    invite = request("INVITE")
    ok = build_response(invite, 200, to_tag="tt")
    rt.start(ok, UDP, 0.0)
    times = []
    now = 0.0
    while (deadline := rt.get_timer()) is not None and deadline < 10:
        now = deadline
        times += [now] * len(rt.handle_timer(now))
    assert times == [0.5, 1.5, 3.5, 7.5]
    ack = request("ACK", to_tag="tt", call_id=invite.call_id, cseq=invite.cseq.number)
    assert rt.ack(ack)
    assert rt.get_timer() is None
    assert not rt.ack(ack)


def test_gives_up_after_64_t1() -> None:
    rt = SuccessRetransmitter()
    rt.start(build_response(request("INVITE"), 200, to_tag="tt"), UDP, 0.0)
    sent = 0
    while (deadline := rt.get_timer()) is not None:
        sent += len(rt.handle_timer(deadline))
    assert sent == 10  # 0.5 1.5 3.5 7.5 11.5 ... 31.5
    assert isinstance(rt.events[0], AckTimedOut)
    assert len(rt) == 0
