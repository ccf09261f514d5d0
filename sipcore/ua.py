"""The UA core of INVITE sessions (RFC 3261 §13, §15, §9; RFC 6026), sans-I/O.

:class:`UserAgent` sits on a :class:`TransactionLayer` as a transaction user: it takes the layer's
events with ``now``, acts on the layer (requests on client transactions, responses on server
transactions, ACKs and 2xx retransmissions without one) and reports what happened to calls as
events. Offers and answers are opaque bodies here: the media layer makes them.

Covered: placing a call (digest challenges of the INVITE answered, §22.2; provisional
responses and early dialogs, 2xx and its ACK, a 2xx from
another fork acknowledged and ended with BYE, failures and timeouts), CANCEL (sent only after a
provisional response, §9.1), receiving a call (ringing, answering with 2xx retransmitted until
the ACK, §13.3.1.4, rejecting), CANCEL received (487), BYE both ways, and 481 for requests of
unknown dialogs, re-INVITE both ways with 491 glare handling and retry (§14), INFO (RFC 6086).
Reliable provisional responses and PRACK (RFC 3262), UPDATE (RFC 3311) and session timers
(RFC 4028) are in :mod:`sipcore.ua_extensions`, with their state in :mod:`sipcore.prack`,
:mod:`sipcore.update` and :mod:`sipcore.session_timer`; REFER and Replaces (RFC 3515,
RFC 3891) are delegated to :mod:`sipcore.transfer`. What comes back for the requests we sent
(responses and timeouts) is handled in :mod:`sipcore.ua_client`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable

from .call import (
    Call,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallFlowLost,
    CallProgress,
    CallState,
    EndReason,
    IncomingCall,
    InfoAnswered,
    InfoReceived,
    LocalIdentity,
    ReinviteAnswered,
    ReinviteReceived,
)
from .dialog import Dialog, DialogId, dialog_id_of_request
from .digest_client import DigestClient
from .events import (
    AckReceived,
    AdditionalSuccess,
    CancelReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from .flow import Flow
from .headers import Via
from .invite import AckTimedOut, SuccessRetransmitter
from .message import (
    Request,
    Response,
    build_request,
    build_response,
    generate_branch,
    generate_call_id,
    generate_tag,
)
from .prack import PrackReceived
from .session_timer import (
    DEFAULT_SESSION_TIMER,
    Negotiated,
    SessionRefreshed,
    SessionTimerConfig,
)
from .timers import DEFAULT_TIMERS, TimerConfig
from .transaction import build_cancel
from .transaction_layer import TransactionLayer
from .transfer import DEFAULT_REFER, ReceivedRefer, ReferConfig, Transfer, Transfers
from .ua_client import UacResponses
from .ua_extensions import CallExtensions, with_extensions
from .uas import DEFAULT_POLICY, UasPolicy, check_request
from .update import UpdateAnswered, UpdateReceived, glare_response
from .uri import NameAddr, Uri


class UserAgent:
    """INVITE sessions over one transaction layer (a TransactionUser of the stack)."""

    def __init__(
        self,
        layer: TransactionLayer,
        identity: Callable[[Flow], LocalIdentity],
        *,
        policy: UasPolicy = DEFAULT_POLICY,
        timers: TimerConfig = DEFAULT_TIMERS,
        user_agent: str | None = None,
        credentials: DigestClient | None = None,
        reliable_provisionals: bool = True,
        session_timer: SessionTimerConfig = DEFAULT_SESSION_TIMER,
        refer: ReferConfig = DEFAULT_REFER,
        keep_calls: bool = False,
        invite_retries: int = 1,
        max_invite_retry_after: float = 10.0,
    ) -> None:
        self.layer = layer
        # keep confirmed calls when their flow closes (CallFlowLost), for ``rebind``
        self.keep_calls = keep_calls
        # §21.5.4: a 503 with Retry-After (at most this long) gets the INVITE again, so often
        self.invite_retries = invite_retries
        self.max_invite_retry_after = max_invite_retry_after
        self.credentials = credentials
        self.identity = identity
        self.timers = timers
        self.reliable_provisionals = reliable_provisionals  # RFC 3262: offer and accept 100rel
        self.session_timer = session_timer
        self.policy = with_extensions(policy, reliable_provisionals, session_timer)
        self.user_agent = user_agent
        self.calls: dict[str, Call] = {}
        self.events: deque[Event] = deque()
        self._dialogs: dict[DialogId, Call] = {}
        self._client: dict[str, tuple[Call, str]] = {}  # transaction -> (call, method)
        self._server: dict[str, Call] = {}  # INVITE server transactions
        self._successes = SuccessRetransmitter(timers)
        self._ids = itertools.count(1)
        self._early: dict[DialogId, Call] = {}  # early dialogs that take PRACK and UPDATE
        self._ext = CallExtensions(self)
        self._uac = UacResponses(self)
        self.transfers = Transfers(self, refer)

    def next_event(self) -> Event | None:
        return self.events.popleft() if self.events else None

    # -- placing calls (UAC) -------------------------------------------------------------------
    def invite(
        self,
        target: Uri,
        *,
        from_addr: NameAddr,
        flow: Flow,
        now: float,
        to_addr: NameAddr | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        routes: list[NameAddr] | None = None,
    ) -> Call:
        """Send an INVITE on ``flow`` (§13.2.1) and return the call."""
        me = self.identity(flow)
        request = build_request(
            "INVITE",
            target,
            from_addr=from_addr.with_tag(generate_tag()),
            to_addr=to_addr or NameAddr(target),
            call_id=generate_call_id(),
            cseq=1,
            via=self._via(me),
            contact=NameAddr(me.contact),
            routes=routes or [],
            headers=[*(headers or []), *self._common_headers(), *self._ext.invite_headers()],
            body=body,
            content_type=content_type,
        )
        call = Call(f"c{next(self._ids)}", "outgoing", request, flow)
        self._ext.outgoing(call)
        call.transaction = self.layer.send_request(request, flow, now)
        self._client[call.transaction] = (call, "INVITE")
        self.calls[call.id] = call
        return call

    def cancel(self, call: Call, now: float) -> None:
        """§9.1: CANCEL the INVITE; sent once a provisional response has arrived."""
        if call.direction != "outgoing" or call.state not in (
            CallState.INITIATING,
            CallState.EARLY,
        ):
            return
        call.end_reason = call.end_reason or EndReason.LOCAL_CANCEL
        if call.retry_invite_at is not None:  # between a 503 and the retry: nothing to CANCEL
            call.retry_invite_at = None
            self._end(call, EndReason.LOCAL_CANCEL, 487)
            return
        if not call.provisional:
            call.cancel_pending = True
            return
        cancel = build_cancel(call.invite)
        key = self.layer.send_request(cancel, call.flow, now)
        self._client[key] = (call, "CANCEL")

    def hangup(self, call: Call, now: float, *, status: int = 486) -> None:
        """End the call in whatever state: CANCEL, reject with ``status``, or BYE."""
        if call.ended:
            return
        if call.direction == "outgoing" and call.state in (CallState.INITIATING, CallState.EARLY):
            self.cancel(call, now)
        elif call.direction == "incoming" and call.state in (CallState.INCOMING, CallState.EARLY):
            self.reject(call, status, now)
        else:
            self._bye(call, now)

    # -- within a call --------------------------------------------------------------------------
    def reinvite(
        self, call: Call, now: float, *, body: bytes = b"", content_type: str | None = None
    ) -> bool:
        """Send a re-INVITE with a new offer (§14.1); False when one is already in progress
        either way (the caller tries again later)."""
        if call.state is not CallState.CONFIRMED or call.dialog is None:
            return False
        if self._ext.offer_pending(call):
            return False
        request = self._refresh_request(call, call.dialog, "INVITE", body, content_type)
        call.reinvite_out = request
        call.reinvite_retry.cancel()
        key = self.layer.send_request(request, call.flow, now)
        self._client[key] = (call, "REINVITE")
        return True

    def answer_reinvite(
        self,
        call: Call,
        now: float,
        *,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        """Answer the peer's re-INVITE: 2xx with our answer (retransmitted until the ACK) or a
        failure that leaves the session as it was (488, 500 ...)."""
        txn, request = call.reinvite_in, call.reinvite_in_request
        if txn is None or request is None:
            return
        call.reinvite_in = call.reinvite_in_request = None
        response, outcome = self._answer_in_dialog(
            call, txn, request, status, body, content_type, now
        )
        if 200 <= status < 300:
            layer_txn = self.layer.transaction(txn)
            self._successes.start(response, layer_txn.flow if layer_txn else call.flow, now)
            self._ext.answered(call, outcome, now)  # it refreshed the session (RFC 4028)

    def send_info(self, call: Call, now: float, *, body: bytes, content_type: str) -> bool:
        """INFO within the call (RFC 6086), e.g. application/dtmf-relay."""
        if call.state is not CallState.CONFIRMED or call.dialog is None:
            return False
        request = call.dialog.create_request(
            "INFO",
            via=self._via(self.identity(call.flow)),
            body=body,
            content_type=content_type,
        )
        key = self.layer.send_request(request, call.flow, now)
        self._client[key] = (call, "INFO")
        return True

    def update(
        self, call: Call, now: float, *, body: bytes = b"", content_type: str | None = None
    ) -> bool:
        """Send an UPDATE (RFC 3311) in the confirmed dialog, or in the early one of a reliable
        provisional; with ``body`` it is an offer. False when it cannot go now (no usable
        dialog, an UPDATE in progress, or an offer pending either way); a 491 is retried
        after the §14.1 delay. The answer comes as ``UpdateAnswered``."""
        return self._ext.update(call, now, body, content_type)

    def answer_update(
        self,
        call: Call,
        now: float,
        *,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> bool:
        """Answer the peer's UPDATE offer (``UpdateReceived``): 2xx with our answer, or a
        failure that leaves the session as it was. False when no offer awaits an answer."""
        return self._ext.answer_update(call, now, status, body, content_type)

    def prack(
        self, call: Call, now: float, *, body: bytes = b"", content_type: str | None = None
    ) -> bool:
        """UAC: the PRACK answering an offer made in a reliable provisional (RFC 3262 §5);
        other reliable provisionals are PRACKed by the core itself."""
        return self._ext.prack(call, now, body, content_type)

    # -- transfer (sipcore.transfer) ------------------------------------------------------------
    def refer(
        self, call: Call, target: Uri | NameAddr, now: float, *, replaces: Call | None = None
    ) -> Transfer:
        """REFER ``call`` to ``target`` (RFC 3515); ``replaces``: attended (RFC 3891)."""
        return self.transfers.refer(call, target, now, replaces=replaces)

    def accept_refer(self, refer: ReceivedRefer, now: float) -> None:
        self.transfers.accept(refer, now)

    def reject_refer(self, refer: ReceivedRefer, status: int, now: float) -> None:
        self.transfers.reject(refer, status, now)

    def notify_refer(self, refer: ReceivedRefer, status: int, reason: str, now: float) -> bool:
        return self.transfers.notify(refer, status, reason, now)

    # -- receiving calls (UAS) -------------------------------------------------------------------
    def ring(
        self,
        call: Call,
        now: float,
        *,
        status: int = 180,
        body: bytes = b"",
        content_type: str | None = None,
        reliable: bool | None = None,
    ) -> None:
        """A provisional response with our tag and Contact: an early dialog (§12.1.1).

        RFC 3262: it is sent reliably (Require: 100rel, RSeq, retransmitted until the PRACK)
        when the INVITE requires 100rel, or supports it and ``reliable`` is true; a second
        one waits until the first is PRACKed."""
        if call.state not in (CallState.INCOMING, CallState.EARLY) or call.transaction is None:
            return
        if self._ext.ring_reliably(call, now, status, body, content_type, reliable):
            call.state = CallState.EARLY
            return
        response = self._response(call, status, body, content_type)
        self.layer.send_response(call.transaction, response, now)
        call.state = CallState.EARLY

    def answer(
        self, call: Call, now: float, *, body: bytes = b"", content_type: str | None = None
    ) -> None:
        """2xx the INVITE; it is retransmitted until the ACK comes (§13.3.1.4). While a
        reliable provisional with a body awaits its PRACK the 2xx waits for it (RFC 3262 §3)."""
        if call.state not in (CallState.INCOMING, CallState.EARLY) or call.transaction is None:
            return
        if self._ext.hold_answer(call, body, content_type):
            return
        txn = self.layer.transaction(call.transaction)
        timer_headers, outcome = self._ext.final_headers(call, call.invite)
        response = self._response(call, 200, body, content_type, headers=timer_headers)
        self.layer.send_response(call.transaction, response, now)
        dialog = self._ext.take_early(call) or Dialog.from_uas(call.invite, response)
        call.dialog = dialog
        self._dialogs[dialog.id] = call
        call.state = CallState.ANSWERED
        self._successes.start(response, txn.flow if txn is not None else call.flow, now)
        if body:
            call.local_body = (body, content_type)
        self._ext.answered(call, outcome, now)

    def reject(self, call: Call, status: int, now: float) -> None:
        """A final non-2xx response to the INVITE (486 Busy Here, 603 Decline ...)."""
        if call.state not in (CallState.INCOMING, CallState.EARLY) or call.transaction is None:
            return
        self.layer.send_response(call.transaction, self._response(call, status), now)
        self._end(call, EndReason.DECLINED, status)

    # -- TransactionUser --------------------------------------------------------------------------
    def handle_event(self, event: Event, now: float) -> bool:
        if self.transfers.handle_event(event, now):
            return True
        if isinstance(event, RequestReceived):
            return self._request(event, now)
        if isinstance(event, AckReceived):
            return self._ack(event.request, now)
        if isinstance(event, CancelReceived):
            call = self._server.get(event.cancelled)
            if call is None:
                return False
            if call.state in (CallState.INCOMING, CallState.EARLY) and call.transaction:
                self.layer.send_response(call.transaction, self._response(call, 487), now)
                self._end(call, EndReason.REMOTE_CANCEL, 487)
            return True
        if isinstance(event, ResponseReceived | AdditionalSuccess):
            entry = self._client.get(event.transaction)
            if entry is None:
                return False
            call, method = entry
            additional = isinstance(event, AdditionalSuccess)
            self._uac.response(call, method, event.response, now, additional=additional)
            return True
        if isinstance(event, TransactionTimedOut | TransportFailed):
            entry = self._client.get(event.transaction)
            if entry is None:
                return event.transaction in self._server
            call, method = entry
            self._uac.failed(call, method, now, timed_out=isinstance(event, TransactionTimedOut))
            return True
        if isinstance(event, TransactionTerminated):
            mine = self._client.pop(event.transaction, None) is not None
            return self._server.pop(event.transaction, None) is not None or mine
        return False

    def flow_closed(self, flow: Flow, now: float) -> None:
        """Calls whose only path was this flow cannot go on, except confirmed ones when
        ``keep_calls`` is set: a dialog outlives the connection it was set up on (RFC 5626
        §4.5), so they are reported as CallFlowLost and wait for ``rebind``."""
        for call in list(self.calls.values()):
            if call.flow != flow or call.ended:
                continue
            if self.keep_calls and call.state is CallState.CONFIRMED and call.dialog is not None:
                call.flow_lost = True
                self.events.append(CallFlowLost(call=call))
            else:
                self._end(call, EndReason.FAILURE, 503)

    def rebind(self, call: Call, flow: Flow) -> None:
        """Send the in-dialog requests of ``call`` on ``flow`` from now on (a new connection
        to the same proxy; the route set is unchanged). The peer still targets our Contact as
        the proxy rewrote it for the old flow: refresh it with ``refresh_target``."""
        call.flow = flow
        call.flow_lost = False

    def refresh_target(self, call: Call, now: float) -> bool:
        """§12.2.1.1: an UPDATE without offer (RFC 3311 §5.1) carrying our Contact, when the
        peer allows UPDATE; its answer comes as UpdateAnswered. False when it cannot go (the
        caller refreshes by re-INVITE instead)."""
        if call.ended or "UPDATE" not in (method.upper() for method in call.peer_allow):
            return False
        return self._ext.update(call, now, b"", None)

    def get_timer(self) -> float | None:
        calls = self.calls.values()
        deadlines = [c.reinvite_retry.at for c in calls if c.reinvite_retry.at is not None]
        deadlines += [c.retry_invite_at for c in calls if c.retry_invite_at is not None]
        others = (
            self._successes.get_timer(),
            self._ext.get_timer(),
            self.transfers.get_timer(),
        )
        deadlines += [d for d in others if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.retry_invite_at is not None and call.retry_invite_at <= now:
                call.retry_invite_at = None
                self._uac.resend_invite(call, now, [])
            offer = call.reinvite_retry.due(now)
            if offer is not None and not self.reinvite(
                call, now, body=offer[0], content_type=offer[1]
            ):
                self.events.append(ReinviteAnswered(call=call, response=glare_response(call)))
        for data, flow in self._successes.handle_timer(now):
            self.layer.send_bytes(data, flow)
        for event in self._successes.events:
            if isinstance(event, AckTimedOut):
                unacked = self._dialogs.get(_uas_dialog_id(event.response))
                if unacked is not None and not unacked.ended:
                    # §13.3.1.4: no ACK in 64*T1: the session ends with a BYE
                    unacked.end_reason = EndReason.NO_ACK
                    self._bye(unacked, now)
        self._successes.events.clear()
        self._ext.handle_timer(now)
        self.transfers.handle_timer(now)

    # -- internals ---------------------------------------------------------------------------------
    def _request(self, event: RequestReceived, now: float) -> bool:
        request = event.request
        method = request.method
        if request.to.tag is None:
            if method != "INVITE":
                return self.transfers.out_of_dialog(event, now)
            new = Call(f"c{next(self._ids)}", "incoming", request, event.flow)
            new.transaction = event.transaction
            error = check_request(request, self.policy, new.local_tag or generate_tag())
            error = error or self._ext.check_invite(new)  # RFC 4028 §8.1
            if error is not None:
                self.layer.send_response(event.transaction, error, now)
                return True
            status = self.transfers.match_replaces(new)
            if status is not None:
                self.layer.respond(event.transaction, status, now, to_tag=new.local_tag)
                return True
            self.calls[new.id] = new
            self._server[event.transaction] = new
            self.events.append(
                IncomingCall(call=new, replaces=self.transfers.replacing.get(new.id))
            )
            return True
        if method in ("PRACK", "UPDATE"):
            return self._ext.request(event, now)
        call = self._dialogs.get(dialog_id_of_request(request))
        if call is None or call.dialog is None:
            if method in ("BYE", "INFO", "INVITE", "REFER", "NOTIFY"):
                # §12.2.2: a request for a dialog we do not know
                self.layer.respond(event.transaction, 481, now)
                return True
            return False
        status = call.dialog.check_request(request)
        if status is not None:
            self.layer.respond(event.transaction, status, now)
            return True
        if method == "BYE":
            self.layer.respond(event.transaction, 200, now)
            self._end(call, EndReason.REMOTE_HANGUP)
            return True
        if method == "INVITE":
            if self._ext.offer_pending(call):
                # §14.2: a re-INVITE while an offer is pending (glare) gets 491
                self.layer.respond(event.transaction, 491, now)
                return True
            call.reinvite_in = event.transaction
            call.reinvite_in_request = request
            call.remote_body = request.body or call.remote_body
            self.events.append(ReinviteReceived(call=call, request=request))
            return True
        if method == "INFO":
            self.layer.respond(event.transaction, 200, now)
            self.events.append(InfoReceived(call=call, request=request))
            return True
        # REFER and NOTIFY; other in-dialog requests go to the application handler
        return self.transfers.request(call, event, now)

    def _ack(self, request: Request, now: float) -> bool:
        acknowledged = self._successes.ack(request)
        call = self._dialogs.get(dialog_id_of_request(request))
        if call is None:
            return acknowledged
        if call.state is CallState.ANSWERED:
            call.state = CallState.CONFIRMED
            self.events.append(CallConfirmed(call=call, ack=request))
            replaced = self.transfers.call_confirmed(call)
            if replaced is not None:
                replaced.end_reason = EndReason.REPLACED
                self.hangup(replaced, now)  # BYE, or CANCEL of our early dialog
        return True

    def _send_bye(self, dialog: Dialog, call: Call, now: float) -> None:
        bye = dialog.create_request("BYE", via=self._via(self.identity(call.flow)))
        key = self.layer.send_request(bye, call.flow, now)
        self._client[key] = (call, "BYE")

    def _bye(self, call: Call, now: float) -> None:
        if call.dialog is None or call.ended:
            return
        call.end_reason = call.end_reason or EndReason.LOCAL_HANGUP
        self._send_bye(call.dialog, call, now)
        call.dialog.terminate()
        self._end(call, call.end_reason)

    def _end(self, call: Call, reason: EndReason, status: int | None = None) -> None:
        if call.ended:
            return
        call.state = CallState.TERMINATED
        call.end_reason = reason
        call.end_status = status
        if call.dialog is not None:
            call.dialog.terminate()
            self._dialogs.pop(call.dialog.id, None)
        self._ext.forget_early(call)
        if call.reliable is not None:
            call.reliable.stop()
        call.timer = None
        self.calls.pop(call.id, None)
        self.transfers.call_ended(call)
        self.events.append(CallEnded(call=call, reason=reason, status=status))

    def _response(
        self,
        call: Call,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        fields: list[tuple[str, str]] = list(self._common_headers())
        if status < 300:
            fields.append(("Contact", str(NameAddr(self.identity(call.flow).contact))))
        fields += headers or []
        return build_response(
            call.invite,
            status,
            to_tag=call.local_tag,
            headers=fields,
            body=body,
            content_type=content_type,
        )

    def _refresh_request(
        self, call: Call, dialog: Dialog, method: str, body: bytes, content_type: str | None
    ) -> Request:
        """A re-INVITE or UPDATE in ``dialog``: our Contact (a target refresh, §12.2.1.1) and
        the current Session-Expires and Min-SE (RFC 4028 §7.4)."""
        me = self.identity(call.flow)
        timer = call.timer.request_headers(initial=False) if call.timer is not None else []
        return dialog.create_request(
            method,
            via=self._via(me),
            contact=NameAddr(me.contact),
            headers=[*self._common_headers(), *timer],
            body=body,
            content_type=content_type,
        )

    def _answer_in_dialog(
        self,
        call: Call,
        txn: str,
        request: Request,
        status: int,
        body: bytes,
        content_type: str | None,
        now: float,
    ) -> tuple[Response, Negotiated | None]:
        """Send our final response to the peer's re-INVITE or UPDATE. A 2xx carries our
        Contact and the Session-Expires of RFC 4028 §9 (its outcome is returned), and its body
        becomes the last description we sent."""
        headers = self._common_headers()
        outcome = None
        if 200 <= status < 300:
            headers.append(("Contact", str(NameAddr(self.identity(call.flow).contact))))
            timer_headers, outcome = self._ext.final_headers(call, request)
            headers += timer_headers
            if body:
                call.local_body = (body, content_type)
        response = build_response(
            request, status, headers=headers, body=body, content_type=content_type
        )
        self.layer.send_response(txn, response, now)
        return response, outcome

    def _common_headers(self) -> list[tuple[str, str]]:
        headers = [("Allow", ", ".join(self.policy.allow))]
        if self.policy.supported:
            headers.append(("Supported", ", ".join(self.policy.supported)))
        if self.user_agent:
            headers.append(("User-Agent", self.user_agent))
        return headers

    @staticmethod
    def _via(me: LocalIdentity) -> Via:
        return Via(me.transport, me.host, me.port, {"branch": generate_branch(), "rport": None})


def _uas_dialog_id(response: Response) -> DialogId:
    """The dialog of a 2xx we sent: our tag is the To tag."""
    return DialogId(response.call_id, response.to.tag or "", response.from_.tag or "")


__all__ = [
    "Call",
    "CallAnswered",
    "CallConfirmed",
    "CallEnded",
    "CallFlowLost",
    "CallProgress",
    "CallState",
    "EndReason",
    "IncomingCall",
    "InfoAnswered",
    "InfoReceived",
    "LocalIdentity",
    "PrackReceived",
    "ReinviteAnswered",
    "ReinviteReceived",
    "SessionRefreshed",
    "SessionTimerConfig",
    "UpdateAnswered",
    "UpdateReceived",
    "UserAgent",
]
