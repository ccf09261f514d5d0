"""The UA core's part of RFC 3262 (PRACK), RFC 3311 (UPDATE) and RFC 4028 (session timers).

:class:`CallExtensions` works for one :class:`~sipcore.ua.UserAgent`: the agent stays the
dispatcher (it routes PRACK and UPDATE here and calls the hooks below at the points of the
INVITE usage where they apply); the per-call state lives in :mod:`sipcore.prack`,
:mod:`sipcore.update` and :mod:`sipcore.session_timer`.

Session refreshes (§10 of RFC 4028) go by UPDATE without a body when the peer's Allow lists
UPDATE, else by re-INVITE carrying ``call.local_body``, the last session description we sent.
A media layer that wants a new description in the refresh (a new SDP version) replaces
``call.local_body`` before the refresh is due, or sends its own re-INVITE, which refreshes the
session as well. A refresh that cannot go out because an offer is in progress is tried again
T2 later.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from . import ua as _ua
from .dialog import Dialog, DialogState, dialog_id_of_request, dialog_id_of_response
from .errors import ParseError, SipError
from .events import RequestReceived
from .message import Request, Response, build_response
from .prack import (
    PrackReceived,
    RAck,
    ReliableProvisionals,
    request_rack,
    response_rseq,
    wants_100rel,
)
from .session_timer import (
    Negotiated,
    SessionRefreshed,
    SessionTimer,
    SessionTimerConfig,
    min_se,
    uac_outcome,
    uas_negotiate,
)
from .uas import UasPolicy
from .update import UpdateAnswered, UpdateReceived, glare_response, retry_after

if TYPE_CHECKING:
    from .ua import Call, UserAgent

logger = logging.getLogger("sipcore.ua")


def with_extensions(policy: UasPolicy, reliable: bool, timer: SessionTimerConfig) -> UasPolicy:
    """The policy with ``100rel`` and ``timer`` in Supported exactly when they are enabled
    (§8.2.2.3: a Require naming a disabled one gets 420)."""
    supported = [tag for tag in policy.supported if tag not in ("100rel", "timer")]
    supported += [tag for tag, on in (("100rel", reliable), ("timer", timer.enabled)) if on]
    return replace(policy, supported=tuple(supported))


class CallExtensions:
    """PRACK, UPDATE and session timers for the calls of one UserAgent."""

    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua
        self.timer_config = ua.session_timer

    # -- set-up hooks ---------------------------------------------------------------------------
    def invite_headers(self) -> list[tuple[str, str]]:
        """§7.1 of RFC 4028: Session-Expires and Min-SE of a new INVITE."""
        return SessionTimer(self.timer_config).request_headers(initial=True)

    def outgoing(self, call: Call) -> None:
        call.timer = SessionTimer(self.timer_config) if self.timer_config.enabled else None
        call.local_body = (call.invite.body, call.invite.headers.get("content-type"))
        call.negotiation.offer_sent = bool(call.invite.body)

    def check_invite(self, call: Call) -> Response | None:
        """A new INVITE: 400 for bad timer headers, 422 below our Min-SE (RFC 4028 §8.1)."""
        request = call.invite
        try:
            call.peer_allow = list(request.allow)
            too_small, _, _ = uas_negotiate(request, self.timer_config)
        except ParseError as exc:
            return build_response(request, 400, str(exc)[:80], to_tag=call.local_tag)
        if too_small is not None:
            return build_response(
                request, 422, to_tag=call.local_tag, headers=[("Min-SE", str(too_small))]
            )
        call.timer = SessionTimer(self.timer_config) if self.timer_config.enabled else None
        call.negotiation.offer_received = bool(request.body)
        return None

    def offer_pending(self, call: Call) -> bool:
        """An offer either way still waits for its answer: a re-INVITE, an UPDATE, or the
        INVITE's own (§14.1 and RFC 3311 §5.1: no new offer until then)."""
        negotiation = call.negotiation
        return (
            call.reinvite_out is not None
            or call.reinvite_in is not None
            or negotiation.our_offer_pending()
            or negotiation.their_offer_pending()
        )

    # -- reliable provisionals, UAS (RFC 3262 §3) ------------------------------------------------
    def ring_reliably(
        self,
        call: Call,
        now: float,
        status: int,
        body: bytes,
        content_type: str | None,
        reliable: bool | None,
    ) -> bool:
        """Send the provisional reliably when the peer requires it, or supports it and
        ``reliable`` asks for it; False leaves it to the plain path."""
        supported, required = wants_100rel(call.invite)
        if (
            not self.ua.reliable_provisionals
            or not supported
            or status <= 100
            or call.transaction is None
        ):
            return False
        if not (required or reliable):
            return False
        if call.reliable is None:
            call.reliable = ReliableProvisionals(self.ua.timers)
        rseq = call.reliable.next_rseq()
        headers = [("Require", "100rel"), ("RSeq", str(rseq))]
        response = self.ua._response(call, status, body, content_type, headers=headers)
        if not call.early:
            try:
                dialog = Dialog.from_uas(call.invite, response)
            except SipError as exc:
                logger.info("no early dialog for %s: %s", call, exc)
            else:
                dialog.state = DialogState.EARLY
                call.early[dialog.id.remote_tag] = dialog
                self.ua._early[dialog.id] = call
        negotiation = call.negotiation
        if body:
            call.local_body = (body, content_type)
            if negotiation.offer_received:
                negotiation.offer_received = False  # our answer, in the provisional
            else:
                negotiation.offer_sent = True  # an offer: the PRACK carries the answer
        sent = call.reliable.send(response, now)
        if sent is not None:
            self.ua.layer.send_response(call.transaction, sent, now)
        return True

    def hold_answer(self, call: Call, body: bytes, content_type: str | None) -> bool:
        """§3: no 2xx while a provisional with a body is not PRACKed: keep it for the PRACK."""
        if call.reliable is None or not call.reliable.unacknowledged_offer:
            return False
        call.negotiation.held_answer = (body, content_type)
        return True

    def take_early(self, call: Call) -> Dialog | None:
        """UAS: the early dialog of our reliable provisionals becomes the call's dialog."""
        for tag, dialog in list(call.early.items()):
            del call.early[tag]
            self.ua._early.pop(dialog.id, None)
            dialog.state = DialogState.CONFIRMED
            return dialog
        return None

    def final_headers(
        self, call: Call, request: Request
    ) -> tuple[list[tuple[str, str]], Negotiated | None]:
        """RFC 4028 §9: Session-Expires (and Require: timer) of our 2xx to ``request``."""
        if call.timer is None:
            return [], None
        try:
            _, outcome, headers = uas_negotiate(request, self.timer_config)
        except ParseError:
            return [], None
        return headers, outcome

    def answered(self, call: Call, outcome: Negotiated | None, now: float) -> None:
        """Our 2xx to the INVITE went out."""
        if call.reliable is not None:
            call.reliable.stop()
        call.negotiation.offer_sent = call.negotiation.offer_received = False
        self._timer_started(call, outcome, now)

    # -- reliable provisionals, UAC (RFC 3262 §4) ------------------------------------------------
    def provisional(self, call: Call, response: Response, now: float) -> bool:
        """A 101-199 to our INVITE: PRACK it when it is reliable; False when it must be
        ignored (malformed RSeq, a retransmission or one out of order, §4)."""
        try:
            rseq = response_rseq(response)
        except ParseError as exc:
            logger.info("provisional response ignored: %s", exc)
            return False
        tag = response.to.tag
        if rseq is None or not self.ua.reliable_provisionals or tag is None:
            return True
        if not call.rseq.accept(tag, rseq):
            return False  # §4: not the next RSeq: no PRACK, no further processing
        dialog = call.early.get(tag)
        if dialog is None:
            try:
                dialog = Dialog.from_uac(call.invite, response)
            except SipError as exc:
                logger.info("reliable provisional without a dialog ignored: %s", exc)
                return False
            call.early[tag] = dialog
        self.ua._early[dialog.id] = call
        negotiation = call.negotiation
        if response.body:
            call.remote_body = response.body
            if negotiation.offer_sent:
                negotiation.offer_sent = False  # the answer to our INVITE's offer
            else:
                # an offer in the provisional: the application answers it in the PRACK
                negotiation.offer_received = True
                negotiation.prack_due = (tag, rseq)
                return True
        self._send_prack(call, dialog, rseq, b"", None, now)
        return True

    def prack(self, call: Call, now: float, body: bytes, content_type: str | None) -> bool:
        """The PRACK that answers an offer made in a reliable provisional."""
        due = call.negotiation.prack_due
        if due is None:
            return False
        tag, rseq = due
        dialog = call.early.get(tag)
        if dialog is None:
            return False
        call.negotiation.prack_due = None
        call.negotiation.offer_received = False
        if body:
            call.local_body = (body, content_type)
        self._send_prack(call, dialog, rseq, body, content_type, now)
        return True

    def _send_prack(
        self,
        call: Call,
        dialog: Dialog,
        rseq: int,
        body: bytes,
        content_type: str | None,
        now: float,
    ) -> None:
        # §7.2: RAck names the RSeq and the CSeq of the INVITE
        rack = RAck(rseq, call.invite.cseq.number, "INVITE")
        request = dialog.create_request(
            "PRACK",
            via=self.ua._via(self.ua.identity(call.flow)),
            headers=[("RAck", str(rack)), *self.ua._common_headers()],
            body=body,
            content_type=content_type,
        )
        key = self.ua.layer.send_request(request, call.flow, now)
        self.ua._client[key] = (call, "PRACK")

    def invite_answered(self, call: Call, response: Response, now: float) -> None:
        """The 2xx to our INVITE confirmed the call."""
        self.forget_early(call)
        try:
            call.peer_allow = list(response.allow)
        except ParseError:
            call.peer_allow = []
        call.negotiation.offer_sent = call.negotiation.offer_received = False
        call.remote_body = response.body or call.remote_body
        if call.timer is not None:
            self._timer_started(call, self._outcome(response), now)

    def forget_early(self, call: Call) -> None:
        for key in [key for key, owner in self.ua._early.items() if owner is call]:
            del self.ua._early[key]

    def retry_422(self, call: Call, response: Response, now: float) -> bool:
        """RFC 4028 §7.3: once, the INVITE again with the Min-SE of the 422."""
        try:
            value = min_se(response)
        except ParseError as exc:
            logger.info("422 with a bad Min-SE: %s", exc)
            return False
        if call.timer is None or value is None or not call.timer.raise_min_se(value):
            return False
        headers = call.timer.request_headers(initial=True)
        self.ua._uac.resend_invite(call, now, headers)
        return True

    # -- PRACK and UPDATE received ----------------------------------------------------------------
    def request(self, event: RequestReceived, now: float) -> bool:
        request, txn, layer = event.request, event.transaction, self.ua.layer
        if request.method not in self.ua.policy.allow:
            layer.respond(txn, 405, now, headers=[("Allow", ", ".join(self.ua.policy.allow))])
            return True
        did = dialog_id_of_request(request)
        call = self.ua._dialogs.get(did) or self.ua._early.get(did)
        dialog = None
        if call is not None:
            current = call.dialog
            dialog = current if current and current.id == did else call.early.get(did.remote_tag)
        if call is None or dialog is None:
            layer.respond(txn, 481, now)  # §12.2.2
            return True
        status = dialog.check_request(request)
        if status is not None:
            layer.respond(txn, status, now)
            return True
        if request.method == "PRACK":
            self._prack_received(call, event, now)
        else:
            self._update_received(call, event, now)
        return True

    def _prack_received(self, call: Call, event: RequestReceived, now: float) -> None:
        request, txn, layer = event.request, event.transaction, self.ua.layer
        try:
            rack = request_rack(request)
        except ParseError as exc:
            layer.respond(txn, 400, now, str(exc)[:80])
            return
        reliable = call.reliable
        matched, following = (
            (False, None) if reliable is None else reliable.prack(rack, call.invite, now)
        )
        if not matched or reliable is None:
            layer.respond(txn, 481, now)  # §3: a PRACK that matches no provisional
            return
        layer.respond(txn, 200, now, headers=self.ua._common_headers())
        negotiation = call.negotiation
        if request.body:
            call.remote_body = request.body
            negotiation.offer_sent = False
        self.ua.events.append(PrackReceived(call=call, request=request))
        if following is not None and call.transaction is not None:
            self.ua.layer.send_response(call.transaction, following, now)
        held = negotiation.held_answer
        if held is not None and not reliable.unacknowledged_offer:
            negotiation.held_answer = None
            self.ua.answer(call, now, body=held[0], content_type=held[1])

    def _update_received(self, call: Call, event: RequestReceived, now: float) -> None:
        request, txn, layer = event.request, event.transaction, self.ua.layer
        try:
            too_small, _, _ = uas_negotiate(request, self.timer_config)
        except ParseError as exc:
            layer.respond(txn, 400, now, str(exc)[:80])
            return
        if too_small is not None:
            layer.respond(txn, 422, now, headers=[("Min-SE", str(too_small))])
            return
        negotiation = call.negotiation
        if request.body:
            # RFC 3311 §5.2: our offer is pending: 491; theirs is unanswered: 500
            if negotiation.our_offer_pending() or call.reinvite_out is not None:
                layer.respond(txn, 491, now)
                return
            if negotiation.their_offer_pending() or call.reinvite_in is not None:
                layer.respond(txn, 500, now, headers=[("Retry-After", retry_after())])
                return
            negotiation.update_in = (txn, request)
            call.remote_body = request.body
            self.ua.events.append(UpdateReceived(call=call, request=request))
            return
        # no offer: answered at once (a session refresh, RFC 4028 §9, or a target refresh)
        self._answer_update(call, txn, request, 200, b"", None, now)
        self.ua.events.append(UpdateReceived(call=call, request=request, answered=True))

    def answer_update(
        self, call: Call, now: float, status: int, body: bytes, content_type: str | None
    ) -> bool:
        pending = call.negotiation.update_in
        if pending is None:
            return False
        call.negotiation.update_in = None
        self._answer_update(call, pending[0], pending[1], status, body, content_type, now)
        return True

    def _answer_update(
        self,
        call: Call,
        txn: str,
        request: Request,
        status: int,
        body: bytes,
        content_type: str | None,
        now: float,
    ) -> None:
        _, outcome = self.ua._answer_in_dialog(call, txn, request, status, body, content_type, now)
        if 200 <= status < 300:
            self._timer_started(call, outcome, now)

    # -- UPDATE sent ------------------------------------------------------------------------------
    def update(self, call: Call, now: float, body: bytes, content_type: str | None) -> bool:
        dialog = self._usable_dialog(call)
        negotiation = call.negotiation
        if dialog is None or negotiation.update_out is not None:
            return False
        if body and self.offer_pending(call):
            return False
        request = self.ua._refresh_request(call, dialog, "UPDATE", body, content_type)
        negotiation.update_out = request
        negotiation.retry.cancel()
        key = self.ua.layer.send_request(request, call.flow, now)
        self.ua._client[key] = (call, "UPDATE")
        return True

    def _usable_dialog(self, call: Call) -> Dialog | None:
        """A confirmed dialog, or an early one made by a reliable provisional (RFC 3311 §5.1)."""
        if call.dialog is not None and call.state in (
            _ua.CallState.ANSWERED,
            _ua.CallState.CONFIRMED,
        ):
            return call.dialog
        if call.state is not _ua.CallState.EARLY:
            return None
        for tag, dialog in call.early.items():
            if call.reliable is not None or call.rseq.seen(tag):
                return dialog
        return None

    def response(self, call: Call, method: str, response: Response, now: float) -> None:
        """A response to our PRACK or UPDATE."""
        status = response.status_code
        if method == "PRACK" or status < 200:
            if status >= 300:
                logger.info("PRACK of %s answered %s", call, status)
            return
        negotiation = call.negotiation
        request, negotiation.update_out = negotiation.update_out, None
        if request is None:
            return
        did = dialog_id_of_response(response)
        dialog = (
            call.dialog if call.dialog and call.dialog.id == did else call.early.get(did.remote_tag)
        )
        if status < 300:
            if dialog is not None:
                dialog.receive_response(request, response)  # target refresh (§12.2.1.2)
            if request.body:
                call.local_body = (request.body, request.headers.get("content-type"))
                call.remote_body = response.body or call.remote_body
            if call.timer is not None:
                self._timer_started(call, self._outcome(response), now)
        elif status == 491:
            # RFC 3311 §5.2: retry as a re-INVITE would (RFC 3261 §14.1)
            owner = call.direction == "outgoing"
            negotiation.retry.schedule(request, now, call_id_owner=owner)
            return
        elif status == 422 and call.timer is not None:
            try:
                value = min_se(response)
            except ParseError:
                value = None
            if value is not None and call.timer.raise_min_se(value):
                body = request.body
                self.update(call, now, body, request.headers.get("content-type"))
                return
        self.ua.events.append(UpdateAnswered(call=call, response=response))
        if status in (408, 481) and call.state is _ua.CallState.CONFIRMED:
            self.ua._end(call, _ua.EndReason.FAILURE, status)  # the dialog is gone

    def timed_out(self, call: Call, method: str, now: float) -> None:
        if method != "UPDATE" or call.negotiation.update_out is None:
            return
        call.negotiation.update_out = None
        if call.state is _ua.CallState.CONFIRMED:
            call.end_reason = _ua.EndReason.TIMEOUT
            self.ua._bye(call, now)

    # -- session timers (RFC 4028 §10) --------------------------------------------------------
    def reinvite_answered(
        self, call: Call, request: Request, response: Response, now: float
    ) -> None:
        """A 2xx to our re-INVITE: it refreshed the session too."""
        call.local_body = (request.body, request.headers.get("content-type"))
        if call.timer is not None:
            self._timer_started(call, self._outcome(response), now)

    def _outcome(self, response: Response) -> Negotiated | None:
        try:
            return uac_outcome(response)
        except ParseError as exc:
            logger.info("bad Session-Expires in %s: %s", response, exc)
            return None

    def _timer_started(self, call: Call, outcome: Negotiated | None, now: float) -> None:
        if call.timer is None:
            return
        call.timer.start(outcome, now)
        if outcome is not None:
            refresher = "local" if outcome.local_refresh else "remote"
            self.ua.events.append(
                SessionRefreshed(call=call, interval=outcome.interval, refresher=refresher)
            )

    def get_timer(self) -> float | None:
        deadlines: list[float] = []
        for call in self.ua.calls.values():
            if call.reliable is not None and (deadline := call.reliable.get_timer()) is not None:
                deadlines.append(deadline)
            if call.negotiation.retry.at is not None:
                deadlines.append(call.negotiation.retry.at)
            if call.timer is not None and call.timer.deadline is not None:
                deadlines.append(call.timer.deadline)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for call in list(self.ua.calls.values()):
            self._reliable_timer(call, now)
            offer = call.negotiation.retry.due(now)
            if offer is not None and not self.update(call, now, *offer):
                self.ua.events.append(UpdateAnswered(call=call, response=glare_response(call)))
            if call.timer is not None and not call.ended:
                due = call.timer.due(now)
                if due == "refresh":
                    self._refresh(call, now)
                elif due == "expire":
                    # §10: no refresh came: end the session
                    call.end_reason = _ua.EndReason.SESSION_EXPIRED
                    self.ua._bye(call, now)

    def _reliable_timer(self, call: Call, now: float) -> None:
        reliable = call.reliable
        if reliable is None or call.transaction is None:
            return
        resend, gave_up = reliable.handle_timer(now)
        if resend is not None:
            self.ua.layer.send_response(call.transaction, resend, now)
        if gave_up and call.state in (_ua.CallState.INCOMING, _ua.CallState.EARLY):
            # §3: no PRACK in 64*T1: reject the INVITE with a 5xx
            self.ua.layer.send_response(call.transaction, self.ua._response(call, 500), now)
            self.ua._end(call, _ua.EndReason.NO_PRACK, 500)

    def _refresh(self, call: Call, now: float) -> None:
        """§10: refresh at half the interval: UPDATE when the peer allows it, else re-INVITE."""
        if call.state is not _ua.CallState.CONFIRMED or call.timer is None:
            return
        if "UPDATE" in (method.upper() for method in call.peer_allow):
            sent = self.update(call, now, b"", None)
        else:
            body, content_type = call.local_body
            sent = self.ua.reinvite(call, now, body=body, content_type=content_type)
        if not sent:
            call.timer.deadline = now + self.ua.timers.t2  # an offer is in progress: later
