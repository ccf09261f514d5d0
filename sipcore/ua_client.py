"""The client side of the UA core: what comes back for the requests a
:class:`~sipcore.ua.UserAgent` sent (RFC 3261 §8.1.3, §13.2.2, §14.1).

Responses to the INVITE (provisional ones and early dialogs, the 2xx of every fork
acknowledged, a challenge answered with credentials, §22.2, a 503 retried after its
Retry-After, §21.5.4, a failure ending the call), to a re-INVITE, INFO and BYE, and their
timeouts. Responses to PRACK and UPDATE go on to :mod:`sipcore.ua_extensions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .call import (
    Call,
    CallAnswered,
    CallProgress,
    CallState,
    EndReason,
    InfoAnswered,
    ReinviteAnswered,
)
from .dialog import Dialog
from .message import Request, Response
from .registration import retry_after_delay

if TYPE_CHECKING:
    from .ua import UserAgent


class UacResponses:
    """The responses to, and the timeouts of, the client transactions of one UserAgent."""

    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua

    def response(
        self, call: Call, method: str, response: Response, now: float, *, additional: bool
    ) -> None:
        """A response to our ``method`` (REINVITE: a re-INVITE); ``additional``: a 2xx
        from another fork after the INVITE transaction completed (RFC 6026)."""
        if method == "INVITE":
            self._invite_response(call, response, now, additional)
        elif method == "REINVITE":
            self._reinvite_response(call, response, now)
        elif method in ("PRACK", "UPDATE"):
            self.ua._ext.response(call, method, response, now)
        elif method == "INFO" and response.status_code >= 200:
            self.ua.events.append(InfoAnswered(call=call, response=response))
        elif method == "BYE" and response.status_code >= 200:
            self.ua._end(call, call.end_reason or EndReason.LOCAL_HANGUP)

    def failed(self, call: Call, method: str, now: float, *, timed_out: bool) -> None:
        """No response to our ``method``: it timed out, or else the transport failed."""
        if method == "INVITE" and not call.ended and call.state is not CallState.CONFIRMED:
            status = 408 if timed_out else 503
            reason = EndReason.TIMEOUT if status == 408 else EndReason.FAILURE
            self.ua._end(call, reason, status)
        elif method == "BYE":
            self.ua._end(call, call.end_reason or EndReason.LOCAL_HANGUP)
        elif method == "REINVITE" and call.reinvite_out is not None:
            # §14.1: a re-INVITE without answer ends the session with BYE
            call.reinvite_out = None
            call.end_reason = EndReason.TIMEOUT
            self.ua._bye(call, now)
        else:
            self.ua._ext.timed_out(call, method, now)

    def _invite_response(
        self, call: Call, response: Response, now: float, additional: bool
    ) -> None:
        status = response.status_code
        tag = response.to.tag
        if status < 200:
            if status > 100 and not self.ua._ext.provisional(call, response, now):
                return  # RFC 3262 §4: malformed, repeated or out of order
            if status > 100:
                call.provisional = True
                if tag is not None and tag not in call.early and response.contacts:
                    call.early[tag] = Dialog.from_uac(call.invite, response)
                if call.state is CallState.INITIATING:
                    call.state = CallState.EARLY
                reliable = tag is not None and call.rseq.seen(tag)
                self.ua.events.append(CallProgress(call=call, response=response, reliable=reliable))
                if call.cancel_pending:
                    call.cancel_pending = False
                    self.ua.cancel(call, now)
            return
        if status in (401, 407) and self._authenticate(call, response, now):
            return
        if status == 422 and self.ua._ext.retry_422(call, response, now):
            return
        if status == 503 and self._retry_later(call, response, now):
            return
        if status >= 300:
            reason = EndReason.REJECTED
            if call.end_reason in (EndReason.LOCAL_CANCEL, EndReason.REPLACED) and status == 487:
                reason = call.end_reason
            self.ua._end(call, reason, status)
            return
        # 2xx: acknowledge every one (§13.2.2.4); the first confirms the call, another fork's
        # is acknowledged and ended at once
        if tag is None or not response.contacts:
            return  # a 2xx that cannot make a dialog (§12.1.2): ignored
        dialog = call.early.pop(tag, None)
        if dialog is None:
            dialog = Dialog.from_uac(call.invite, response)
        else:
            dialog.confirm(response)
        current = call.dialog
        if current is not None and current.id != dialog.id:
            self._send_ack(dialog, call, call.invite)
            self.ua._send_bye(dialog, call, now)
            return
        if current is None:
            call.dialog = dialog
            self.ua._dialogs[dialog.id] = call
        self._send_ack(call.dialog or dialog, call, call.invite)
        if additional or call.state is CallState.CONFIRMED:
            return
        call.state = CallState.CONFIRMED
        self.ua.events.append(CallAnswered(call=call, response=response))
        self.ua._ext.invite_answered(call, response, now)
        if call.cancel_pending or call.end_reason in (EndReason.LOCAL_CANCEL, EndReason.REPLACED):
            self.ua._bye(call, now)  # answered although we cancelled: end it

    def _retry_later(self, call: Call, response: Response, now: float) -> bool:
        """§21.5.4: after a 503 with Retry-After the INVITE goes again that much later (a new
        transaction, as for a challenge), ``invite_retries`` times at most."""
        delay = retry_after_delay(response)
        if (
            delay is None
            or delay > self.ua.max_invite_retry_after
            or call.invite_retries >= self.ua.invite_retries
            or call.end_reason is not None
            or call.cancel_pending
        ):
            return False
        call.invite_retries += 1
        call.retry_invite_at = now + delay
        return True

    def _authenticate(self, call: Call, response: Response, now: float) -> bool:
        """§22.2: resend the INVITE with credentials for the challenge (same Call-ID and From
        tag, next CSeq, new branch); False when there is nothing (more) to answer with."""
        if self.ua.credentials is None or call.end_reason is EndReason.LOCAL_CANCEL:
            return False
        header = self.ua.credentials.respond(response, call.invite)
        if header is None:
            return False
        self.resend_invite(call, now, [header], remove=("Authorization", "Proxy-Authorization"))
        return True

    def resend_invite(
        self,
        call: Call,
        now: float,
        fields: list[tuple[str, str]],
        *,
        remove: tuple[str, ...] = (),
    ) -> None:
        """The INVITE again (same Call-ID and From tag, next CSeq, new branch) with ``fields``
        replacing the fields of those names and ``remove`` dropped (§22.2, RFC 4028 §7.3)."""
        old = call.invite
        headers = old.headers.copy()
        headers.set("Via", str(self.ua._via(self.ua.identity(call.flow))))
        headers.set("CSeq", f"{old.cseq.number + 1} INVITE")
        for name in (*remove, *(name for name, _ in fields)):
            headers.remove(name)
        for field in fields:
            headers.add(*field)
        call.invite = Request("INVITE", old.uri, headers, old.body)
        call.provisional = False
        call.transaction = self.ua.layer.send_request(call.invite, call.flow, now)
        self.ua._client[call.transaction] = (call, "INVITE")

    def _reinvite_response(self, call: Call, response: Response, now: float) -> None:
        request = call.reinvite_out
        status = response.status_code
        if request is None or status < 200:
            return
        call.reinvite_out = None
        dialog = call.dialog
        if dialog is None:
            return
        if status < 300:
            dialog.receive_response(request, response)  # target refresh (§12.2.1.2)
            self._send_ack(dialog, call, request)
            self.ua._ext.reinvite_answered(call, request, response, now)
        elif status == 491:
            # §14.1: the same offer goes again a little later
            owner = call.direction == "outgoing"
            call.reinvite_retry.schedule(request, now, call_id_owner=owner)
            return
        elif status in (408, 481):
            # §14.1: the dialog is gone
            self.ua.events.append(ReinviteAnswered(call=call, response=response))
            self.ua._end(call, EndReason.FAILURE, status)
            return
        self.ua.events.append(ReinviteAnswered(call=call, response=response))

    def _send_ack(self, dialog: Dialog, call: Call, invite: Request) -> None:
        """§13.2.2.4: the ACK of a 2xx to ``invite`` (the INVITE or a re-INVITE of ``call``)."""
        ua = self.ua
        ack = dialog.create_ack(invite.cseq.number, via=ua._via(ua.identity(call.flow)))
        ua.layer.send_stateless(ack, call.flow)
