"""The response contexts of the embedded proxy (RFC 3261 §16.7 - §16.10), sans-I/O.

:class:`~sipcore.proxy.Proxy` routes a request and prepares one copy per target (§16.6 steps
1 - 8); :class:`Forker` sends the copies on new client transactions of one response context and
takes it from there: provisional responses go upstream, the first 2xx goes upstream and cancels
the other branches, and once every branch has failed the best final response is chosen (§16.7),
with Timer C (§16.8), 408 / 503 for branches that time out or cannot be sent (§16.9) and CANCEL
(§9.1, §16.10). It reads no clock: ``now`` comes with every input and the deadlines leave as
``get_timer()``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from .errors import InvalidStateError, LocalProtocolError
from .events import (
    AdditionalSuccess,
    Event,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from .flow import Flow
from .headers import pop_first_value
from .message import Request, Response
from .registrar import ProxyConfig, reply
from .transaction import build_cancel
from .transaction_layer import TransactionLayer

__all__ = ["Forker", "send_response"]


@dataclass(slots=True, eq=False)
class _Branch:
    """One forwarded copy of a request: a client transaction of its response context."""

    ctx: _Context
    key: str
    request: Request
    flow: Flow
    provisional: bool = False
    done: bool = False
    cancel_pending: bool = False
    cancel_sent: bool = False
    cancel_reason: str | None = None
    timer_c: float | None = None
    cancel_deadline: float | None = None


@dataclass(slots=True, eq=False)
class _Context:
    """The response context of one server transaction (§16.7)."""

    server: str
    request: Request
    flow: Flow
    branches: list[_Branch] = field(default_factory=list)
    finals: list[Response] = field(default_factory=list)
    final_sent: bool = False
    success: bool = False

    @property
    def invite(self) -> bool:
        return self.request.method == "INVITE"


class Forker:
    """The response contexts of a stateful proxy on one :class:`TransactionLayer`.

    :meth:`fork` starts one for a server transaction with the prepared copies of its request;
    the events of the layer about the client transactions go to :meth:`handle_event`, a CANCEL
    of the server transaction to :meth:`cancel`. The deadlines (Timer C, and the wait for the
    answer to a CANCEL) are ``get_timer()`` / ``handle_timer(now)``.
    """

    def __init__(self, layer: TransactionLayer, config: ProxyConfig) -> None:
        self.layer = layer
        self.config = config
        self._contexts: dict[str, _Context] = {}
        self._branches: dict[str, _Branch] = {}
        self._timed: set[_Branch] = set()  # branches that may have a deadline

    @property
    def context_count(self) -> int:
        """Response contexts alive (one per server transaction being proxied)."""
        return len(self._contexts)

    # -- inputs -------------------------------------------------------------------------------
    def fork(
        self,
        key: str,
        request: Request,
        arrival: Flow,
        copies: list[tuple[Request, Flow]],
        now: float,
    ) -> None:
        """Send ``copies`` (request, flow) of ``request``, which arrived on server transaction
        ``key``, each on a new client transaction (§16.6 steps 10 and 11)."""
        ctx = _Context(key, request, arrival)
        self._contexts[key] = ctx
        for forwarded, out in copies:
            ctx.branches.append(_Branch(ctx, "", forwarded, out))
        for branch in ctx.branches:
            try:
                branch.key = self.layer.send_request(branch.request, branch.flow, now)
            except LocalProtocolError:  # §16.6 step 10, and §16.9 when it cannot be sent
                self._branch_failed(branch, 503, now, finish=False)
                continue
            self._branches[branch.key] = branch
            if ctx.invite:
                branch.timer_c = now + self.config.timer_c  # §16.6 step 11
                self._timed.add(branch)
        self._maybe_finish(ctx, now)

    def handle_event(self, event: Event, now: float) -> None:
        """One event of the transaction layer about a client transaction of a branch, or about
        the end of a server transaction; the others are ignored."""
        if isinstance(event, ResponseReceived):
            self._response(event.transaction, event.response, now)
        elif isinstance(event, AdditionalSuccess):
            self._additional_success(event.transaction, event.response, now)
        elif isinstance(event, TransactionTimedOut):
            branch = self._branches.get(event.transaction)
            if branch is not None:
                self._branch_failed(branch, 408, now)  # §16.8: as if 408 came
        elif isinstance(event, TransportFailed):
            branch = self._branches.get(event.transaction)
            if branch is not None:
                self._branch_failed(branch, 503, now)  # §16.9: as if 503 came
        elif isinstance(event, TransactionTerminated):
            self._terminated(event.transaction, now)

    def cancel(self, invite_key: str, now: float) -> None:
        """A CANCEL matched server transaction ``invite_key`` (the layer has answered it 200):
        its branches are cancelled (§16.10)."""
        ctx = self._contexts.get(invite_key)
        if ctx is None or ctx.final_sent:
            return
        self._cancel_pending(ctx, now)

    def get_timer(self) -> float | None:
        """The earliest Timer C or CANCEL deadline of any branch."""
        deadlines: list[float] = []
        for branch in list(self._timed):
            due = [d for d in (branch.timer_c, branch.cancel_deadline) if d is not None]
            if branch.done or not due:
                self._timed.discard(branch)
            else:
                deadlines.extend(due)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Fire the branch deadlines due at ``now``."""
        for branch in list(self._timed):
            if branch.done:
                continue
            if branch.timer_c is not None and branch.timer_c <= now:
                # §16.8: Timer C: CANCEL a branch that answered provisionally, else 408
                branch.timer_c = None
                if branch.provisional:
                    self._cancel_branch(branch, now)
                else:
                    self._branch_failed(branch, 408, now)
            elif branch.cancel_deadline is not None and branch.cancel_deadline <= now:
                # §9.1: no final response 64*T1 after the CANCEL: the branch is given up
                branch.cancel_deadline = None
                self._branch_failed(branch, 408, now)

    # -- responses (§16.7) ----------------------------------------------------------------------
    def _response(self, key: str, response: Response, now: float) -> None:
        branch = self._branches.get(key)
        if branch is None or branch.done:
            return  # e.g. the answer to a CANCEL we sent
        ctx = branch.ctx
        status = response.status_code
        upstream = _strip_via(response)  # §16.7 step 3
        if status < 200:
            branch.provisional = True
            if branch.cancel_pending:
                self._cancel_branch(branch, now)
            if status == 100:
                return  # §16.7 step 5: 100 Trying is hop-by-hop (the layer sent ours)
            if branch.timer_c is not None:
                branch.timer_c = now + self.config.timer_c  # §16.7 step 2
            if upstream is not None and not ctx.final_sent:
                send_response(self.layer, ctx.server, upstream, now)
            return
        branch.done = True
        branch.timer_c = branch.cancel_deadline = None
        if status < 300:
            # §16.7 step 5 / RFC 6026: every 2xx is forwarded at once
            if upstream is not None and (ctx.success or not ctx.final_sent):
                ctx.final_sent = ctx.success = True
                send_response(self.layer, ctx.server, upstream, now)
            # §16.7 step 10: the other branches are cancelled
            self._cancel_pending(ctx, now, 'SIP;cause=200;text="Call completed elsewhere"')
            return
        if upstream is not None:
            ctx.finals.append(upstream)
        if status >= 600:
            self._cancel_pending(ctx, now)  # §16.7 step 5: 6xx ends the search
        self._maybe_finish(ctx, now)

    def _additional_success(self, key: str, response: Response, now: float) -> None:
        """A further 2xx on a branch (a retransmission, or another fork behind it): forwarded
        while the server transaction accepts 2xx (RFC 6026 §8.4, §8.7)."""
        branch = self._branches.get(key)
        if branch is None:
            return
        upstream = _strip_via(response)
        if upstream is not None and branch.ctx.success:
            send_response(self.layer, branch.ctx.server, upstream, now)

    def _branch_failed(
        self, branch: _Branch, status: int, now: float, *, finish: bool = True
    ) -> None:
        """The branch ended without a response: it counts as ``status`` (408 or 503)."""
        if branch.done:
            return
        branch.done = True
        branch.timer_c = branch.cancel_deadline = None
        ctx = branch.ctx
        ctx.finals.append(reply(self.config, ctx.request, status))
        if finish:
            self._maybe_finish(ctx, now)

    def _maybe_finish(self, ctx: _Context, now: float) -> None:
        """§16.7 step 6: once every branch has ended without a 2xx, send the best response."""
        if ctx.final_sent or any(not b.done for b in ctx.branches):
            return
        ctx.final_sent = True
        send_response(self.layer, ctx.server, self._best(ctx), now)

    def _best(self, ctx: _Context) -> Response:
        finals = ctx.finals
        if not finals:
            return reply(self.config, ctx.request, 408)
        chosen = next((r for r in finals if r.status_code >= 600), None)
        if chosen is None:
            lowest = min(r.status_code // 100 for r in finals)
            candidates = [r for r in finals if r.status_code // 100 == lowest]
            chosen = candidates[0]
            for preferred in (401, 407, 415, 420, 484):  # §16.7 step 6: these help the UAC
                found = next((r for r in candidates if r.status_code == preferred), None)
                if found is not None:
                    chosen = found
                    break
        if chosen.status_code == 503:
            # §16.7 step 6: a 503 from downstream becomes 500 (the service is not ours)
            return reply(self.config, ctx.request, 500)
        if chosen.status_code in (401, 407):
            # §16.7 step 7: the challenges of every branch go up in one response
            chosen = _copy_response(chosen)
            for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                lines = [
                    line
                    for r in finals
                    if r.status_code in (401, 407)
                    for line in r.headers.get_lines(name)
                ]
                chosen.headers.remove(name)
                for line in dict.fromkeys(lines):
                    chosen.headers.add(name, line)
        return chosen

    # -- CANCEL (§9.1, §16.10) ------------------------------------------------------------------
    def _cancel_pending(self, ctx: _Context, now: float, reason: str | None = None) -> None:
        if not ctx.invite:
            return
        for branch in ctx.branches:
            if not branch.done:
                self._cancel_branch(branch, now, reason)

    def _cancel_branch(self, branch: _Branch, now: float, reason: str | None = None) -> None:
        if branch.done or branch.cancel_sent:
            return
        if reason is not None:
            branch.cancel_reason = reason
        if not branch.provisional:
            # §9.1: no CANCEL before a provisional response; it goes when one comes
            branch.cancel_pending = True
            return
        branch.cancel_pending = False
        branch.cancel_sent = True
        branch.timer_c = None
        cancel = build_cancel(branch.request, branch.cancel_reason)
        with contextlib.suppress(LocalProtocolError):
            self.layer.send_request(cancel, branch.flow, now)
        branch.cancel_deadline = now + 64 * self.layer.timers.t1
        self._timed.add(branch)

    def _terminated(self, key: str, now: float) -> None:
        branch = self._branches.pop(key, None)
        if branch is not None:
            self._branch_failed(branch, 408, now)  # ended without a final response
            return
        ctx = self._contexts.pop(key, None)
        if ctx is None:
            return
        # the server transaction is gone: nothing more can go upstream
        self._cancel_pending(ctx, now)
        for branch in ctx.branches:
            if branch.done or branch.cancel_sent:
                self._branches.pop(branch.key, None)


def send_response(layer: TransactionLayer, key: str, response: Response, now: float) -> None:
    """``response`` on server transaction ``key``, unless that can no longer answer."""
    # InvalidStateError: the server transaction has ended or has already answered finally
    with contextlib.suppress(InvalidStateError):
        layer.send_response(key, response, now)


# -- message helpers ------------------------------------------------------------------------------


def _copy_response(response: Response) -> Response:
    return Response(response.status_code, response.reason, response.headers.copy(), response.body)


def _strip_via(response: Response) -> Response | None:
    """§16.7 step 3: the response without our Via; None when no Via would remain (it was
    meant for us)."""
    if len(response.vias) < 2:
        return None
    upstream = _copy_response(response)
    pop_first_value(upstream.headers, "Via")
    return upstream
