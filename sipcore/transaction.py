"""The four transaction state machines of RFC 3261 §17, with the Accepted state of RFC 6026.

Each machine is a transition table: ``(state, input) -> (actions, next state)``. Inputs are the
messages a transaction sees (a response, a retransmitted request, an ACK), what its TU sends, its
timers and transport errors. A wire input missing from a table is absorbed (§17.1.1.2 and
§17.2.1 list the absorbed ones); a TU input missing from a table is an InvalidStateError.

Machines take ``now`` with every input, keep absolute deadlines and expose the earliest through
``get_timer()``; ``handle_timer(now)`` fires the due ones. Bytes to send collect in ``outbox``
and events for the TU in ``events``; the transaction layer drains both.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from .errors import InvalidStateError
from .events import (
    AckReceived,
    AdditionalSuccess,
    Event,
    ResponseReceived,
    TransactionTimedOut,
    TransportFailed,
)
from .flow import Flow
from .headers import Headers, split_list
from .message import Request, Response
from .timers import Timer, TimerConfig


class State(enum.Enum):
    """States named as in RFC 3261 Figures 5-8 and RFC 6026 Figures 5 and 7."""

    __hash__ = object.__hash__  # identity, as Enum equality is; faster than by name

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Input(enum.Enum):
    __hash__ = object.__hash__

    # from the network
    PROVISIONAL = "1xx received"
    SUCCESS = "2xx received"
    FAILURE = "300-699 received"
    REQUEST = "request retransmission"
    ACK = "ACK received"
    # from the TU
    SEND_PROVISIONAL = "TU sends 1xx"
    SEND_SUCCESS = "TU sends 2xx"
    SEND_FAILURE = "TU sends 300-699"
    # timers and the transport
    TIMER_A = Timer.A
    TIMER_B = Timer.B
    TIMER_D = Timer.D
    TIMER_E = Timer.E
    TIMER_F = Timer.F
    TIMER_G = Timer.G
    TIMER_H = Timer.H
    TIMER_I = Timer.I
    TIMER_J = Timer.J
    TIMER_K = Timer.K
    TIMER_L = Timer.L
    TIMER_M = Timer.M
    TRANSPORT_ERROR = "transport error"


_TIMER_INPUT = {Timer(i.value): i for i in Input if isinstance(i.value, Timer)}
_NETWORK = frozenset({Input.PROVISIONAL, Input.SUCCESS, Input.FAILURE, Input.REQUEST, Input.ACK})
_TU = frozenset({Input.SEND_PROVISIONAL, Input.SEND_SUCCESS, Input.SEND_FAILURE})


class Action(enum.Enum):
    __hash__ = object.__hash__

    SEND_REQUEST = "send the request"
    SEND_ACK = "send ACK for the non-2xx final response"  # §17.1.1.3
    PASS_UP = "pass the response to the TU"
    PASS_UP_SUCCESS = "pass a further 2xx to the TU"  # RFC 6026 §8.4
    PASS_UP_ACK = "pass the ACK to the TU"  # RFC 6026 §8.7
    SEND_RESPONSE = "send the TU's response"
    RESEND_RESPONSE = "resend the last response"
    TIMEOUT = "report a timeout to the TU"
    TRANSPORT_FAILED = "report a transport failure to the TU"
    START_A = Timer.A
    START_B = Timer.B
    START_D = Timer.D
    START_E = Timer.E
    START_F = Timer.F
    START_G = Timer.G
    START_H = Timer.H
    START_I = Timer.I
    START_J = Timer.J
    START_K = Timer.K
    START_L = Timer.L
    START_M = Timer.M
    BACKOFF = "restart the firing retransmission timer with a doubled interval"
    BACKOFF_CAPPED = "restart it with min(2 x interval, T2)"  # §17.1.2.2, §17.2.1
    RESTART_T2 = "restart it with T2"  # §17.1.2.2 Proceeding


Transition = tuple[tuple[Action, ...], State]
Table = Mapping[tuple[State, Input], Transition]

S, In, A = State, Input, Action

# §17.1.1.2, Figure 5, with RFC 6026 §8.4 (Accepted, Timer M)
ICT_TABLE: Table = {
    (S.CALLING, In.TIMER_A): ((A.SEND_REQUEST, A.BACKOFF), S.CALLING),
    (S.CALLING, In.TIMER_B): ((A.TIMEOUT,), S.TERMINATED),
    (S.CALLING, In.PROVISIONAL): ((A.PASS_UP,), S.PROCEEDING),
    (S.CALLING, In.SUCCESS): ((A.PASS_UP, A.START_M), S.ACCEPTED),
    (S.CALLING, In.FAILURE): ((A.SEND_ACK, A.PASS_UP, A.START_D), S.COMPLETED),
    (S.CALLING, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
    (S.PROCEEDING, In.PROVISIONAL): ((A.PASS_UP,), S.PROCEEDING),
    (S.PROCEEDING, In.SUCCESS): ((A.PASS_UP, A.START_M), S.ACCEPTED),
    (S.PROCEEDING, In.FAILURE): ((A.SEND_ACK, A.PASS_UP, A.START_D), S.COMPLETED),
    (S.COMPLETED, In.FAILURE): ((A.SEND_ACK,), S.COMPLETED),
    (S.COMPLETED, In.TIMER_D): ((), S.TERMINATED),
    (S.COMPLETED, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
    (S.ACCEPTED, In.SUCCESS): ((A.PASS_UP_SUCCESS,), S.ACCEPTED),
    (S.ACCEPTED, In.TIMER_M): ((), S.TERMINATED),
}

# §17.1.2.2, Figure 6
NICT_TABLE: Table = {
    (S.TRYING, In.TIMER_E): ((A.SEND_REQUEST, A.BACKOFF_CAPPED), S.TRYING),
    (S.TRYING, In.TIMER_F): ((A.TIMEOUT,), S.TERMINATED),
    (S.TRYING, In.PROVISIONAL): ((A.PASS_UP,), S.PROCEEDING),
    (S.TRYING, In.SUCCESS): ((A.PASS_UP, A.START_K), S.COMPLETED),
    (S.TRYING, In.FAILURE): ((A.PASS_UP, A.START_K), S.COMPLETED),
    (S.TRYING, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
    (S.PROCEEDING, In.TIMER_E): ((A.SEND_REQUEST, A.RESTART_T2), S.PROCEEDING),
    (S.PROCEEDING, In.TIMER_F): ((A.TIMEOUT,), S.TERMINATED),
    (S.PROCEEDING, In.PROVISIONAL): ((A.PASS_UP,), S.PROCEEDING),
    (S.PROCEEDING, In.SUCCESS): ((A.PASS_UP, A.START_K), S.COMPLETED),
    (S.PROCEEDING, In.FAILURE): ((A.PASS_UP, A.START_K), S.COMPLETED),
    (S.PROCEEDING, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
    (S.COMPLETED, In.TIMER_K): ((), S.TERMINATED),
}

# §17.2.1, Figure 7, with RFC 6026 §8.7 (Accepted, Timer L)
IST_TABLE: Table = {
    (S.PROCEEDING, In.REQUEST): ((A.RESEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.SEND_PROVISIONAL): ((A.SEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.SEND_SUCCESS): ((A.SEND_RESPONSE, A.START_L), S.ACCEPTED),
    (S.PROCEEDING, In.SEND_FAILURE): ((A.SEND_RESPONSE, A.START_G, A.START_H), S.COMPLETED),
    (S.PROCEEDING, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
    (S.COMPLETED, In.REQUEST): ((A.RESEND_RESPONSE,), S.COMPLETED),
    (S.COMPLETED, In.TIMER_G): ((A.RESEND_RESPONSE, A.BACKOFF_CAPPED), S.COMPLETED),
    (S.COMPLETED, In.TIMER_H): ((A.TIMEOUT,), S.TERMINATED),
    (S.COMPLETED, In.ACK): ((A.START_I,), S.CONFIRMED),
    (S.COMPLETED, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
    (S.CONFIRMED, In.TIMER_I): ((), S.TERMINATED),
    (S.ACCEPTED, In.SEND_SUCCESS): ((A.SEND_RESPONSE,), S.ACCEPTED),
    (S.ACCEPTED, In.ACK): ((A.PASS_UP_ACK,), S.ACCEPTED),
    (S.ACCEPTED, In.TIMER_L): ((), S.TERMINATED),
    # RFC 6026 §8.7: a transport error in Accepted is reported; the TU keeps retransmitting
    (S.ACCEPTED, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.ACCEPTED),
}

# §17.2.2, Figure 8
NIST_TABLE: Table = {
    (S.TRYING, In.SEND_PROVISIONAL): ((A.SEND_RESPONSE,), S.PROCEEDING),
    (S.TRYING, In.SEND_SUCCESS): ((A.SEND_RESPONSE, A.START_J), S.COMPLETED),
    (S.TRYING, In.SEND_FAILURE): ((A.SEND_RESPONSE, A.START_J), S.COMPLETED),
    (S.PROCEEDING, In.REQUEST): ((A.RESEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.SEND_PROVISIONAL): ((A.SEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.SEND_SUCCESS): ((A.SEND_RESPONSE, A.START_J), S.COMPLETED),
    (S.PROCEEDING, In.SEND_FAILURE): ((A.SEND_RESPONSE, A.START_J), S.COMPLETED),
    (S.PROCEEDING, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
    (S.COMPLETED, In.REQUEST): ((A.RESEND_RESPONSE,), S.COMPLETED),
    (S.COMPLETED, In.TIMER_J): ((), S.TERMINATED),
    (S.COMPLETED, In.TRANSPORT_ERROR): ((A.TRANSPORT_FAILED,), S.TERMINATED),
}

del S, In, A


def response_input(status: int) -> Input:
    if status < 200:
        return Input.PROVISIONAL
    return Input.SUCCESS if status < 300 else Input.FAILURE


class Transaction:
    """What the four machines share: the table walk, deadlines, outbox and events."""

    table: Table
    initial_state: State

    def __init__(self, key: str, request: Request, flow: Flow, timers: TimerConfig) -> None:
        self.id = key
        self.request = request
        self.flow = flow
        self.state = self.initial_state
        self.timers = timers
        self.reliable = flow.reliable
        self.deadlines: dict[Timer, float] = {}
        self.intervals: dict[Timer, float] = {}
        self.outbox: list[bytes] = []
        self.events: list[Event] = []
        self._request_bytes: bytes | None = None
        self._firing: Timer | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.state.value}>"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def get_timer(self) -> float | None:
        """The earliest deadline, or None (always None once Terminated)."""
        return min(self.deadlines.values()) if self.deadlines else None

    def handle_timer(self, now: float) -> None:
        """Fire every deadline that is due at ``now``, earliest first."""
        while self.deadlines:
            timer, deadline = min(self.deadlines.items(), key=lambda item: item[1])
            if deadline > now:
                break
            del self.deadlines[timer]
            self._firing = timer
            try:
                self._input(_TIMER_INPUT[timer], now)
            finally:
                self._firing = None

    def transport_error(self, now: float) -> None:
        self._input(Input.TRANSPORT_ERROR, now)

    # -- the table walk -----------------------------------------------------------------
    def _input(self, event: Input, now: float, message: Request | Response | None = None) -> bool:
        """Apply one input; returns False when the table has no entry (absorbed)."""
        transition = self.table.get((self.state, event))
        if transition is None:
            if event in _TU:
                raise InvalidStateError(f"{self!r} cannot take: {event.value}")
            return False  # absorbed (§17.1.1.2, §17.2.1) or a timer of a left state
        actions, next_state = transition
        for action in actions:
            self._do(action, now, message)
        self._enter(next_state, now)
        return True

    def _enter(self, state: State, now: float) -> None:
        if state is not self.state:
            # a state change stops the timers the table does not restart in the new state
            kept = _TIMERS_KEPT.get((type(self), state), frozenset())
            for timer in [t for t in self.deadlines if t not in kept]:
                del self.deadlines[timer]
            self.state = state
        if state is State.TERMINATED:
            self.deadlines.clear()
            return
        # timers of duration 0 (reliable transports) fire at once (§17.1.1.2, §17.2.1)
        due = [t for t, d in self.deadlines.items() if d <= now and self.intervals.get(t) == 0.0]
        if due:
            self.handle_timer(now)

    def _do(self, action: Action, now: float, message: Request | Response | None) -> None:
        if isinstance(action.value, Timer):
            timer = action.value
            if timer in (Timer.A, Timer.E, Timer.G) and self.reliable:
                return  # retransmission timers run on unreliable transports only
            duration = self.timers.initial(timer, self.reliable)
            self.intervals[timer] = duration
            self.deadlines[timer] = now + duration
        elif action is Action.BACKOFF or action is Action.BACKOFF_CAPPED:
            firing = self._firing
            assert firing is not None
            interval = 2 * self.intervals[firing]
            if action is Action.BACKOFF_CAPPED:
                interval = min(interval, self.timers.t2)
            self.intervals[firing] = interval
            self.deadlines[firing] = now + interval
        elif action is Action.RESTART_T2:
            assert self._firing is not None
            self.intervals[self._firing] = self.timers.t2
            self.deadlines[self._firing] = now + self.timers.t2
        else:
            self._act(action, message)

    def _act(self, action: Action, message: Request | Response | None) -> None:
        """The actions both sides share; subclasses handle their own first."""
        if action is Action.TIMEOUT:
            assert self._firing is not None
            self.events.append(TransactionTimedOut(transaction=self.id, timer=self._firing))
        elif action is Action.TRANSPORT_FAILED:
            self.events.append(TransportFailed(transaction=self.id))
        else:  # pragma: no cover - tables only hold known actions
            raise AssertionError(action)


# Timers that survive a change into a state (everything else is stopped on the way in).
_TIMERS_KEPT: dict[tuple[type[Transaction], State], frozenset[Timer]] = {}


class ClientTransaction(Transaction):
    """ICT and NICT: send the request, retransmit it, match responses (§17.1)."""

    def start(self, now: float) -> None:
        """Send the request and arm the first timers."""
        self._request_bytes = bytes(self.request)
        self.outbox.append(self._request_bytes)
        for action in self.start_actions:
            self._do(action, now, None)

    start_actions: tuple[Action, ...] = ()

    def receive_response(self, response: Response, now: float) -> None:
        self._input(response_input(response.status_code), now, response)

    def _act(self, action: Action, message: Request | Response | None) -> None:
        if action is Action.SEND_REQUEST:
            assert self._request_bytes is not None
            self.outbox.append(self._request_bytes)
        elif action is Action.PASS_UP:
            assert isinstance(message, Response)
            self.events.append(ResponseReceived(transaction=self.id, response=message))
        elif action is Action.PASS_UP_SUCCESS:
            assert isinstance(message, Response)
            self.events.append(AdditionalSuccess(transaction=self.id, response=message))
        elif action is Action.SEND_ACK:
            assert isinstance(message, Response)
            self.outbox.append(bytes(build_ack(self.request, message)))
        else:
            super()._act(action, message)


class InviteClientTransaction(ClientTransaction):
    table = ICT_TABLE
    initial_state = State.CALLING
    start_actions = (Action.START_A, Action.START_B)


class NonInviteClientTransaction(ClientTransaction):
    table = NICT_TABLE
    initial_state = State.TRYING
    start_actions = (Action.START_E, Action.START_F)


class ServerTransaction(Transaction):
    """IST and NIST: absorb retransmissions, send and retransmit the TU's responses (§17.2)."""

    last_response: bytes | None = None

    def receive_request(self, request: Request, now: float) -> None:
        """A retransmission of the request (or the ACK, for an IST)."""
        self._input(Input.ACK if request.method == "ACK" else Input.REQUEST, now, request)

    def send_response(self, response: Response, now: float) -> None:
        status = response.status_code
        event = (
            Input.SEND_PROVISIONAL
            if status < 200
            else Input.SEND_SUCCESS
            if status < 300
            else Input.SEND_FAILURE
        )
        self._input(event, now, response)

    def _act(self, action: Action, message: Request | Response | None) -> None:
        if action is Action.SEND_RESPONSE:
            assert isinstance(message, Response)
            self.last_response = bytes(message)
            self.outbox.append(self.last_response)
        elif action is Action.RESEND_RESPONSE:
            if self.last_response is not None:
                self.outbox.append(self.last_response)
        elif action is Action.PASS_UP_ACK:
            assert isinstance(message, Request)
            self.events.append(AckReceived(request=message, flow=self.flow))
        else:
            super()._act(action, message)


class InviteServerTransaction(ServerTransaction):
    table = IST_TABLE
    initial_state = State.PROCEEDING


class NonInviteServerTransaction(ServerTransaction):
    table = NIST_TABLE
    initial_state = State.TRYING


# Timers that keep running across a state change: Timer B is only armed in Calling and F runs
# through Trying and Proceeding (§17.1.2.2); G and H are armed on entering Completed (IST).
_TIMERS_KEPT.update(
    {
        (NonInviteClientTransaction, State.PROCEEDING): frozenset({Timer.E, Timer.F}),
        (InviteServerTransaction, State.COMPLETED): frozenset({Timer.G, Timer.H}),
        (InviteClientTransaction, State.ACCEPTED): frozenset({Timer.M}),
        (InviteClientTransaction, State.COMPLETED): frozenset({Timer.D}),
        (NonInviteClientTransaction, State.COMPLETED): frozenset({Timer.K}),
        (InviteServerTransaction, State.ACCEPTED): frozenset({Timer.L}),
        (InviteServerTransaction, State.CONFIRMED): frozenset({Timer.I}),
        (NonInviteServerTransaction, State.COMPLETED): frozenset({Timer.J}),
    }
)


def _same_hop(
    request: Request, method: str, to: str, extra: list[tuple[str, str]] | None = None
) -> Request:
    """A request that travels the path of ``request``: its Request-URI, Call-ID, From, CSeq
    number, single top Via and Route headers, with ``method`` and the To value ``to``."""
    src = request.headers
    fields: list[tuple[str, str]] = [("Via", split_list(src.get_lines("via")[0])[0])]
    fields.append(("Max-Forwards", "70"))
    fields.extend(("Route", value) for value in src.get_lines("route"))
    fields += [
        ("From", src.get("from") or ""),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.number} {method}"),
        *(extra or []),
        ("Content-Length", "0"),
    ]
    return Request(method, request.uri, Headers(fields))


def build_ack(request: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response, built by the client transaction (§17.1.1.3): the
    request's path, with the To of the response (it carries the tag)."""
    return _same_hop(request, "ACK", response.headers.get("to") or "")


def build_cancel(request: Request, reason: str | None = None) -> Request:
    """§9.1: the CANCEL of ``request`` (its path and To), with an RFC 3326 Reason if given."""
    extra = [("Reason", reason)] if reason is not None else None
    return _same_hop(request, "CANCEL", request.headers.get("to") or "", extra)
