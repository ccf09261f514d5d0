"""The transaction layer: matching, ownership of transactions, one merged deadline heap, bytes in
and out (RFC 3261 §17.1.3, §17.2.3, §18).

``receive(data, flow, now)`` never raises: malformed requests are answered statelessly (400, 505,
513) when enough of them can be read, malformed responses are dropped, and both are reported as
:class:`MessageDropped`. The TU pulls events with ``next_event()``; the driver drains
``data_to_send()`` and arms one timer at ``get_timer()``.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable

from .errors import InvalidStateError, LocalProtocolError, ParseError
from .events import (
    AckReceived,
    CancelReceived,
    Event,
    MessageDropped,
    RequestReceived,
    StrayResponse,
    TransactionTerminated,
)
from .flow import Flow
from .headers import canonical_name, split_list
from .message import (
    DEFAULT_LIMITS,
    MAGIC_COOKIE,
    Limits,
    Request,
    Response,
    build_response,
    generate_tag,
    parse_message,
    reason_phrase,
)
from .timers import DEFAULT_TIMERS, TimerConfig
from .transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    State,
    Transaction,
)

_ERROR_COPY = frozenset({"via", "from", "to", "call-id", "cseq"})
_UNANSWERED = (State.TRYING, State.PROCEEDING)  # server states that still owe a final response
RETRY_AFTER = "5"  # seconds, in the 503 answers to an overloaded layer (§21.5.4)


class TransactionLayer:
    """Owns every client and server transaction of one stack."""

    def __init__(
        self,
        *,
        timers: TimerConfig = DEFAULT_TIMERS,
        limits: Limits = DEFAULT_LIMITS,
        max_transactions: int = 20000,
    ) -> None:
        self.timers = timers
        self.limits = limits
        self.max_transactions = max_transactions
        self._client: dict[str, ClientTransaction] = {}
        self._server: dict[str, ServerTransaction] = {}
        self._merge: dict[tuple[str, str, int, str], str] = {}  # §8.2.2.2
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._events: deque[Event] = deque()
        self._outbox: list[tuple[bytes, Flow]] = []
        # pending (not yet finally answered) server transactions by remote IP address
        self._pending: dict[str, set[str]] = {}

    # -- outputs -----------------------------------------------------------------------------
    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[tuple[bytes, Flow]]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline of any transaction, or None."""
        heap = self._heap
        while heap:
            deadline, _, key = heap[0]
            txn = self._client.get(key) or self._server.get(key)
            if txn is not None and txn.get_timer() == deadline:
                return deadline
            heapq.heappop(heap)  # stale: the transaction moved on or ended
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every deadline due at ``now``."""
        while (deadline := self.get_timer()) is not None and deadline <= now:
            _, _, key = heapq.heappop(self._heap)
            txn = self._client.get(key) or self._server.get(key)
            assert txn is not None
            txn.handle_timer(now)
            self._after(txn)

    @property
    def transaction_count(self) -> int:
        return len(self._client) + len(self._server)

    def pending_count(self, host: str) -> int:
        """Server transactions from ``host`` that have no final response yet."""
        return len(self._pending.get(host, ()))

    def transaction(self, key: str) -> Transaction | None:
        return self._client.get(key) or self._server.get(key)

    # -- client side (§17.1) -----------------------------------------------------------------
    def send_request(self, request: Request, flow: Flow, now: float) -> str:
        """Start a client transaction for ``request`` (its top Via carries a new RFC 3261
        branch) and return its id. ACK is not sent this way: see ``send_stateless``."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK has no client transaction; use send_stateless()")
        branch = request.top_via.branch
        if not branch or not branch.startswith(MAGIC_COOKIE) or branch == MAGIC_COOKIE:
            raise LocalProtocolError("a request needs a unique z9hG4bK branch (§8.1.1.7)")
        key = _client_key(branch, request.cseq.method)
        if key in self._client:
            raise LocalProtocolError(f"branch {branch} is already in use")
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        txn = cls(key, request, flow, self.timers)
        self._client[key] = txn
        txn.start(now)
        self._after(txn)
        return key

    def send_stateless(self, message: Request | Response, flow: Flow) -> None:
        """Send without a transaction: ACK for 2xx (§13.2.2.4), 2xx retransmissions by a UAS
        core (§13.3.1.4), stateless answers."""
        self._outbox.append((bytes(message), flow))

    def send_bytes(self, data: bytes, flow: Flow) -> None:
        """Send bytes already serialized (a 2xx retransmission of the UAS core, §13.3.1.4)."""
        self._outbox.append((data, flow))

    # -- server side (§17.2) -----------------------------------------------------------------
    def send_response(self, transaction: str, response: Response, now: float) -> None:
        txn = self._server.get(transaction)
        if txn is None:
            raise InvalidStateError(f"no server transaction {transaction}")
        txn.send_response(response, now)
        self._after(txn)

    def respond(
        self,
        transaction: str,
        status: int,
        now: float,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Response:
        """Build a response to the transaction's request per §8.2.6 and send it."""
        txn = self._server.get(transaction)
        if txn is None:
            raise InvalidStateError(f"no server transaction {transaction}")
        response = build_response(txn.request, status, reason, to_tag=to_tag, headers=headers)
        self.send_response(transaction, response, now)
        return response

    # -- input -------------------------------------------------------------------------------
    def transport_error(self, flow: Flow, now: float) -> None:
        """The transport failed to send on ``flow`` or lost it (§17.1.4, §17.2.4)."""
        for txn in [*self._client.values(), *self._server.values()]:
            if txn.flow == flow:
                txn.transport_error(now)
                self._after(txn)

    def receive(self, data: bytes, flow: Flow, now: float) -> None:
        """Process one message from ``flow``; never raises."""
        try:
            msg = parse_message(data, limits=self.limits)
        except ParseError as exc:
            self._malformed(data, flow, exc)
            return
        try:
            if isinstance(msg, Response):
                self._receive_response(msg, flow, now)
            else:
                self._receive_request(msg, flow, now)
        except ParseError as exc:  # a lazily parsed header the layer needed was malformed
            self._malformed(data, flow, exc)

    def _receive_response(self, response: Response, flow: Flow, now: float) -> None:
        # §17.1.3: match on the top Via branch and the CSeq method
        branch = response.top_via.branch or ""
        txn = self._client.get(_client_key(branch, response.cseq.method))
        if txn is None:
            self._events.append(StrayResponse(response=response, flow=flow))
            return
        txn.receive_response(response, now)
        self._after(txn)

    def _receive_request(self, request: Request, flow: Flow, now: float) -> None:
        _stamp_via(request, flow)
        key = _server_key(request)
        txn = self._server.get(key)
        method = request.method
        if txn is not None:
            if method == "ACK" and not _ack_matches(txn, request):
                self._events.append(AckReceived(request=request, flow=flow))
                return
            txn.receive_request(request, now)  # a retransmission, or the ACK of a non-2xx
            self._after(txn)
            return
        if method == "ACK":
            # §17.2.3: an ACK matching no transaction belongs to a 2xx: it goes to the TU core
            self._events.append(AckReceived(request=request, flow=flow))
            return
        peer = flow.remote[0]
        overload = None
        if self.transaction_count >= self.max_transactions:
            overload = "too many transactions"
        elif len(self._pending.get(peer, ())) >= self.limits.max_transactions_per_peer:
            overload = "too many pending transactions from this peer"
        if overload is not None:
            # §21.5.4: 503 with Retry-After; no transaction is kept for the excess
            self.send_stateless(
                build_response(
                    request, 503, headers=[("Retry-After", RETRY_AFTER)], to_tag=generate_tag()
                ),
                _response_flow(request, flow),
            )
            self._events.append(MessageDropped(reason=overload, flow=flow, status=503))
            return
        cls = InviteServerTransaction if method == "INVITE" else NonInviteServerTransaction
        txn = cls(key, request, _response_flow(request, flow), self.timers)
        self._server[key] = txn
        self._pending.setdefault(peer, set()).add(key)  # txn.flow.remote[0] is peer too

        if method == "CANCEL":
            # §9.2: CANCEL matches the INVITE transaction with the same key but for the method
            invite = self._server.get(_server_key(request, method="INVITE"))
            if invite is None or not isinstance(invite, InviteServerTransaction):
                self.respond(key, 481, now, to_tag=generate_tag())
                return
            self.respond(key, 200, now)
            self._events.append(
                CancelReceived(transaction=key, cancelled=invite.id, request=request)
            )
            return

        to_tag = request.to.tag
        if to_tag is None:
            # §8.2.2.2 merged requests: same From tag, Call-ID and CSeq, another branch
            merge_key = _merge_key(request)
            first = self._merge.get(merge_key)
            if first is not None and first != key:
                self.respond(key, 482, now, to_tag=generate_tag())
                return
            self._merge[merge_key] = key
        if method == "INVITE":
            # §17.2.1: 100 Trying at once; the TU answers after whatever it has to do
            self.respond(key, 100, now)
        self._events.append(RequestReceived(transaction=key, request=request, flow=flow))

    # -- bookkeeping -------------------------------------------------------------------------
    def _after(self, txn: Transaction) -> None:
        """Collect a transaction's output and events, then re-file or forget it."""
        if txn.outbox:
            flow = txn.flow
            self._outbox.extend((data, flow) for data in txn.outbox)
            txn.outbox.clear()
        if txn.events:
            self._events.extend(txn.events)
            txn.events.clear()
        if isinstance(txn, ServerTransaction) and txn.state not in _UNANSWERED:
            self._answered(txn)
        if txn.terminated:
            if isinstance(txn, ClientTransaction):
                self._client.pop(txn.id, None)
            else:
                self._server.pop(txn.id, None)
                if txn.request.to.tag is None:
                    merge_key = _merge_key(txn.request)
                    if self._merge.get(merge_key) == txn.id:
                        del self._merge[merge_key]
            self._events.append(TransactionTerminated(transaction=txn.id))
            return
        deadline = txn.get_timer()
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._seq), txn.id))

    def _answered(self, txn: ServerTransaction) -> None:
        """Take a finally answered (or ended) server transaction off its peer's pending set."""
        peer = txn.flow.remote[0]
        pending = self._pending.get(peer)
        if pending is not None:
            pending.discard(txn.id)
            if not pending:
                del self._pending[peer]

    def _malformed(self, data: bytes, flow: Flow, exc: ParseError) -> None:
        status = exc.status_hint
        answer = None if data[:4].upper() == b"SIP/" else error_response(data, status)
        if answer is not None:
            self._outbox.append((answer, flow))
        self._events.append(
            MessageDropped(
                reason=str(exc), flow=flow, status=status if answer is not None else None
            )
        )


def _client_key(branch: str, method: str) -> str:
    return f"c|{branch}|{method}"


def _server_key(request: Request, method: str | None = None) -> str:
    """§17.2.3: branch, sent-by and method (ACK matches INVITE); RFC 2543 fallback otherwise."""
    via = request.top_via
    method = method or ("INVITE" if request.method == "ACK" else request.method)
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE) and branch != MAGIC_COOKIE:
        return f"s|{branch}|{via.host.lower()}:{via.port}|{method}"
    # RFC 2543: Request-URI, To tag (not for ACK: it carries the tag of our response), From
    # tag, Call-ID, CSeq number and the top Via
    to_tag = "" if request.method in ("ACK", "CANCEL") else (request.to.tag or "")
    return (
        f"s2543|{request.uri}|{to_tag}|{request.from_.tag}|{request.call_id}|"
        f"{request.cseq.number}|{via}|{method}"
    )


def _merge_key(request: Request) -> tuple[str, str, int, str]:
    """§8.2.2.2: From tag, Call-ID, CSeq number and method identify merged requests."""
    return (request.from_.tag or "", request.call_id, request.cseq.number, request.method)


def _ack_matches(txn: ServerTransaction, ack: Request) -> bool:
    """An ACK with an RFC 3261 branch matches by key; an RFC 2543 one also needs the To tag of
    the response the transaction sent (§17.2.3)."""
    if txn.id.startswith("s|") or txn.last_response is None:
        return True
    sent = parse_message(txn.last_response)
    return sent.to.tag == ack.to.tag


def _stamp_via(request: Request, flow: Flow) -> None:
    """§18.2.1 and RFC 3581 §4: note the source address in the top Via."""
    via = request.top_via
    host = via.host.strip("[]")
    source_host, source_port = flow.remote
    params = via.params
    changed = False
    if host != source_host:
        params["received"] = source_host
        changed = True
    if "rport" in params and params["rport"] is None:
        params["rport"] = str(source_port)
        changed = True
    if changed:
        vias = request.vias
        first = split_list(request.headers.get_lines("via")[0])
        first[0] = str(via)
        request.headers.replace_line("Via", 0, ", ".join(first))
        request.headers._typed["via"] = vias  # the objects already reflect the change


def _response_flow(request: Request, flow: Flow) -> Flow:
    """§18.2.2: reliable flows answer on the connection; UDP answers to the source address, on
    the source port when rport asked for it (RFC 3581), else on the Via port."""
    if flow.reliable:
        return flow
    via = request.top_via
    if "rport" in via.params:
        return flow
    return Flow(flow.transport, (flow.remote[0], via.port or 5060), flow.local, flow.connection)


def error_response(data: bytes, status: int) -> bytes | None:
    """A stateless answer to a request that failed to parse or to frame (§8.2.6), or None when
    it has no Via line to route an answer by (§18.2.2).

    The Via, From, To, Call-ID and CSeq lines are echoed as they came; those missing stay out
    of the answer (RFC 4475 §3.3.1: a request without To, From and Call-ID should still get
    400, and the client matches it by the Via branch and the CSeq, §17.1.3).
    """
    head = data[:8192]
    for sep in (b"\r\n\r\n", b"\n\n"):
        head = head.split(sep, 1)[0]
    copied: dict[str, list[str]] = {}
    for raw in head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")[1:]:
        name, colon, value = raw.partition(":")
        if not colon:
            continue
        key = canonical_name(name.strip())
        if key in _ERROR_COPY:
            copied.setdefault(key, []).append(value.strip())
    if "via" not in copied:
        return None
    if any("\r" in v or "\x00" in v for values in copied.values() for v in values):
        return None  # a lone CR or a NUL would be echoed into the answer
    lines = [f"SIP/2.0 {status} {reason_phrase(status)}"]
    lines += [f"Via: {v}" for v in copied["via"]]
    if "from" in copied:
        lines.append(f"From: {copied['from'][0]}")
    if "to" in copied:
        to = copied["to"][0]
        lines.append(f"To: {to}" if "tag=" in to else f"To: {to};tag={generate_tag()}")
    for key, name in (("call-id", "Call-ID"), ("cseq", "CSeq")):
        if key in copied:
            lines.append(f"{name}: {copied[key][0]}")
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8", "replace")
