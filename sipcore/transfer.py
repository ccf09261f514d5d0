"""Call transfer in the UA core: REFER both ways (RFC 3515) and Replaces (RFC 3891), sans-I/O.

:class:`Transfers` is the part of :class:`~sipcore.ua.UserAgent` that handles REFER, the NOTIFYs
of its implicit subscription and the ``Replaces`` header of incoming INVITEs; the UserAgent
delegates to it and puts its events in the same queue.

- Transferor: ``UserAgent.refer`` sends REFER in a call (``replaces=`` another call for an
  attended transfer) and reports :class:`TransferAccepted`, :class:`TransferProgress`, then
  :class:`TransferCompleted`; or :class:`TransferFailed` (REFER refused or unanswered) or
  :class:`TransferTimedOut` (no NOTIFY in time).
- Transferee: :class:`ReferReceived`; the application accepts (202 and NOTIFY ``100 Trying``) or
  rejects, places the new call itself (``ReceivedRefer.target`` and ``invite_headers()``) and
  reports its outcome with ``UserAgent.notify_refer``.
- Transfer target: an INVITE with ``Replaces`` is matched to our dialogs (481, 486, 603 per
  RFC 3891 §3) and reported as ``IncomingCall(replaces=...)``.

Choices: a REFER outside a dialog is answered 403 (REFER is implemented, but only within a
call). The UA ends the replaced call itself once the new call is confirmed by its ACK: BYE
for a confirmed dialog, CANCEL for an early one we initiated; its CallEnded has
``EndReason.REPLACED``. A call that ends ends its REFER subscriptions without an event.

Not covered: a REFER challenged with 401/407 is reported as failed (no digest retry); a REFER
still waiting for the application when its call ends stays unanswered (the referrer's
transaction times out); a Replaces is honoured from any sender that names the dialog (no
authorization check of RFC 3891 §7 beyond knowing the Call-ID and tags); no SUBSCRIBE refresh
of a REFER subscription, and no REFER outside a dialog (RFC 4538 Target-Dialog is only modelled).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .dialog import DialogId
from .errors import LocalProtocolError, ParseError
from .events import (
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from .message import Request, Response, reason_phrase
from .refer import (
    SIPFRAG,
    SIPFRAG_CONTENT_TYPE,
    EventHeader,
    NotifierInput,
    NotifierState,
    ReferredBy,
    ReferTo,
    Replaces,
    Report,
    Sipfrag,
    SubscriberInput,
    SubscriberState,
    SubscriptionState,
    SubState,
    notifier_step,
    subscriber_step,
)
from .uri import NameAddr, Uri

if TYPE_CHECKING:
    from .ua import Call, UserAgent

logger = logging.getLogger("sipcore.transfer")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferConfig:
    """How the UA core transfers calls."""

    referred_by: NameAddr | None = None
    """Sent as Referred-By (RFC 3892) in our REFERs; None: no Referred-By."""
    expires: int = 120
    """Seconds a REFER subscription we accept lasts (Subscription-State expires); at expiry the
    final NOTIFY says ``terminated;reason=timeout``."""
    notify_timeout: float = 32.0
    """Seconds to wait for the first NOTIFY after our REFER is accepted, and for the final one
    after the subscription's expiry (64*T1, as Timer N of RFC 6665 §4.1.2.4)."""
    remembered_dialogs: int = 64
    """Ended dialogs kept to answer a Replaces for one of them with 603 (RFC 3891 §3)."""


DEFAULT_REFER = ReferConfig()


class Transfer:
    """A REFER we sent, and its implicit subscription (RFC 3515 §2.4.4)."""

    def __init__(self, call: Call, request: Request, refer_to: ReferTo, first: bool) -> None:
        self.call = call
        self.request = request
        self.refer_to = refer_to
        self.id = str(request.cseq.number)  # the Event id parameter (RFC 3515 §2.4.6)
        self.first = first  # the first REFER of the dialog: NOTIFYs without id are its own
        self.state = SubscriberState.WAITING
        self.status: int | None = None  # the last sipfrag status
        self.deadline: float | None = None

    def __repr__(self) -> str:
        return f"<Transfer {self.id} {self.state.value} to {self.refer_to}>"


class ReceivedRefer:
    """A REFER the peer sent us, and the subscription we notify (RFC 3515 §2.4.4)."""

    def __init__(
        self,
        call: Call,
        request: Request,
        transaction: str,
        refer_to: ReferTo,
        referred_by: ReferredBy | None,
        first: bool,
    ) -> None:
        self.call = call
        self.request = request
        self.transaction = transaction
        self.refer_to = refer_to
        self.referred_by = referred_by
        self.id = str(request.cseq.number)
        self.first = first  # the first REFER of the dialog: our NOTIFYs carry no id
        self.state = NotifierState.RECEIVED
        self.status = 100  # the last status notified
        self.expires_at: float | None = None

    def __repr__(self) -> str:
        return f"<ReceivedRefer {self.id} {self.state.value} to {self.refer_to}>"

    @property
    def target(self) -> Uri:
        """Where to send the triggered INVITE (the Refer-To URI without its headers)."""
        return self.refer_to.target

    @property
    def replaces(self) -> Replaces | None:
        return self.refer_to.replaces

    def invite_headers(self) -> list[tuple[str, str]]:
        """Headers for ``UserAgent.invite(..., headers=)``: Replaces with ``Require: replaces``
        (RFC 3891 §5) for an attended transfer, and the Referred-By of the REFER (RFC 3892 §4)."""
        headers: list[tuple[str, str]] = []
        replaces = self.replaces
        if replaces is not None:
            headers += [("Replaces", str(replaces)), ("Require", "replaces")]
        if self.referred_by is not None:
            headers.append(("Referred-By", str(self.referred_by)))
        return headers


# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferReceived(Event):
    """The peer asks us to call ``target``; answer with ``accept_refer`` or ``reject_refer``."""

    refer: ReceivedRefer
    call: Call
    target: Uri
    replaces: Replaces | None
    referred_by: ReferredBy | None
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferAccepted(Event):
    transfer: Transfer
    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferProgress(Event):
    """A NOTIFY reported the status of the transferee's INVITE (``100``, ``180`` ...)."""

    transfer: Transfer
    status: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferCompleted(Event):
    """The subscription ended; ``ok`` when the last status reported was a 2xx."""

    transfer: Transfer
    ok: bool
    status: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferFailed(Event):
    """The REFER was refused (``response``) or got no answer (408 or 503, no response)."""

    transfer: Transfer
    status: int
    response: Response | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferTimedOut(Event):
    """No NOTIFY ended the subscription before its deadline."""

    transfer: Transfer


class Transfers:
    """REFER, its NOTIFYs and Replaces for one UserAgent."""

    def __init__(self, ua: UserAgent, config: ReferConfig = DEFAULT_REFER) -> None:
        self.ua = ua
        self.config = config
        self.sent: dict[str, list[Transfer]] = {}  # by Call.id, in order
        self.received: dict[str, list[ReceivedRefer]] = {}
        self.replacing: dict[str, Call] = {}  # new Call.id -> the call it replaces
        self._client: dict[str, Transfer | ReceivedRefer] = {}  # REFER and NOTIFY transactions
        self._server: set[str] = set()
        self._ended: deque[DialogId] = deque(maxlen=config.remembered_dialogs)

    # -- transferor (RFC 3515 §2.4.1-§2.4.4) ----------------------------------------------------
    def refer(
        self, call: Call, target: Uri | NameAddr, now: float, *, replaces: Call | None = None
    ) -> Transfer:
        """Send REFER in ``call``; ``replaces`` (another call, RFC 3891 §3) makes the transfer
        attended: the target's dialog with us is replaced by one with the transferee."""
        dialog = call.dialog
        if dialog is None or call.ended:
            raise LocalProtocolError("REFER needs an established call")
        header = None
        if replaces is not None:
            other = replaces.dialog
            if other is None or replaces.ended:
                raise LocalProtocolError("the call to replace has no dialog")
            header = Replaces.of_dialog(other.id.call_id, other.id.local_tag, other.id.remote_tag)
        try:
            refer_to = ReferTo.build(target, replaces=header)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        ua = self.ua
        me = ua.identity(call.flow)
        headers = [("Refer-To", str(refer_to))]
        if self.config.referred_by is not None:
            headers.append(("Referred-By", str(self.config.referred_by)))
        request = dialog.create_request(
            "REFER",
            via=ua._via(me),
            contact=NameAddr(me.contact),
            headers=[*headers, *ua._common_headers()],
        )
        sent = self.sent.setdefault(call.id, [])
        transfer = Transfer(call, request, refer_to, first=not sent)
        sent.append(transfer)
        key = ua.layer.send_request(request, call.flow, now)
        self._client[key] = transfer
        return transfer

    def _step(
        self,
        transfer: Transfer,
        event: SubscriberInput,
        *,
        frag: Sipfrag | None = None,
        response: Response | None = None,
        status: int | None = None,
    ) -> None:
        """Apply SUBSCRIBER_TABLE and report; an input it does not take changes nothing (e.g. a
        late failure of a REFER whose NOTIFY already came)."""
        step = subscriber_step(transfer.state, event)
        if step is None:
            return
        report, transfer.state = step
        if transfer.state is SubscriberState.TERMINATED:
            transfer.deadline = None
        if frag is not None:
            transfer.status = frag.status
        events = self.ua.events
        if report is Report.ACCEPTED and response is not None:
            events.append(TransferAccepted(transfer=transfer, response=response))
        elif report is Report.PROGRESS and frag is not None:
            events.append(
                TransferProgress(transfer=transfer, status=frag.status, reason=frag.reason)
            )
        elif report is Report.COMPLETED:
            last = transfer.status
            ok = last is not None and 200 <= last < 300
            events.append(TransferCompleted(transfer=transfer, ok=ok, status=last))
        elif report is Report.FAILED and status is not None:
            events.append(TransferFailed(transfer=transfer, status=status, response=response))
        elif report is Report.TIMED_OUT:
            events.append(TransferTimedOut(transfer=transfer))

    def _refer_response(self, transfer: Transfer, response: Response, now: float) -> None:
        status = response.status_code
        if status < 200:
            return
        if status < 300:
            if transfer.state is SubscriberState.WAITING:
                transfer.deadline = now + self.config.notify_timeout
            self._step(transfer, SubscriberInput.ACCEPTED, response=response)
        else:
            self._step(transfer, SubscriberInput.REJECTED, status=status, response=response)

    def _notify(self, call: Call, event: RequestReceived, now: float) -> None:
        """A NOTIFY of a REFER subscription (RFC 3515 §2.4.5, RFC 6665 §4.1.3)."""
        request, txn = event.request, event.transaction
        try:
            lines = request.headers.get_lines("event")
            if len(lines) != 1:
                raise ParseError("a NOTIFY needs one Event header")
            package = EventHeader.parse(lines[0])
            state_line = request.headers.get("subscription-state")
            if state_line is None:
                raise ParseError("a NOTIFY needs Subscription-State")
            state = SubscriptionState.parse(state_line)
        except ParseError as exc:
            self._refuse(txn, 400, "Bad NOTIFY", now, detail=str(exc))
            return
        if package.package != "refer":
            self._refuse(txn, 489, "Bad Event", now, [("Allow-Events", "refer")])
            return
        transfer = self._match_notify(call, package.id)
        frag = None
        if transfer is not None and request.body:
            try:
                content_type = request.content_type
                if content_type is None or content_type.mime != SIPFRAG:
                    self._refuse(txn, 415, "Unsupported Media Type", now, [("Accept", SIPFRAG)])
                    return
                frag = Sipfrag.parse(request.body)
            except ParseError as exc:
                self._refuse(txn, 400, "Bad message/sipfrag", now, detail=str(exc))
                return
        final = state.state is SubState.TERMINATED
        kind = SubscriberInput.FINAL_NOTIFY if final else SubscriberInput.NOTIFY
        if transfer is None or subscriber_step(transfer.state, kind) is None:
            # RFC 6665 §4.1.3: a NOTIFY for no (or an ended) subscription
            self.ua.layer.respond(txn, 481, now)
            return
        self.ua.layer.respond(txn, 200, now)
        if not final:
            expires = state.expires if state.expires is not None else self.config.expires
            transfer.deadline = now + expires + self.config.notify_timeout
        self._step(transfer, kind, frag=frag)

    def _match_notify(self, call: Call, event_id: str | None) -> Transfer | None:
        """RFC 3515 §2.4.6: the id names the REFER by its CSeq; none means the first REFER."""
        for transfer in self.sent.get(call.id, []):
            if transfer.id == event_id or (event_id is None and transfer.first):
                return transfer
        return None

    # -- transferee (RFC 3515 §2.4.2-§2.4.5) ----------------------------------------------------
    def _refer(self, call: Call, event: RequestReceived, now: float) -> None:
        request, txn = event.request, event.transaction
        policy = self.ua.policy
        if "REFER" not in policy.allow:
            self._refuse(txn, 405, "Method Not Allowed", now, [("Allow", ", ".join(policy.allow))])
            return
        lines = request.headers.get_lines("refer-to")
        if len(lines) != 1:
            # RFC 3515 §2.4.1: exactly one Refer-To
            reason = "Missing Refer-To" if not lines else "More Than One Refer-To"
            self._refuse(txn, 400, reason, now)
            return
        try:
            refer_to = ReferTo.parse(lines[0])
            by = request.headers.get_lines("referred-by")
            referred_by = ReferredBy.parse(by[0]) if len(by) == 1 else None
            if len(by) > 1:
                raise ParseError("more than one Referred-By")
        except ParseError as exc:
            self._refuse(txn, 400, "Bad Refer-To", now, detail=str(exc))
            return
        received = self.received.setdefault(call.id, [])
        refer = ReceivedRefer(call, request, txn, refer_to, referred_by, first=not received)
        received.append(refer)
        self.ua.events.append(
            ReferReceived(
                refer=refer,
                call=call,
                target=refer.target,
                replaces=refer.replaces,
                referred_by=referred_by,
                request=request,
            )
        )

    def accept(self, refer: ReceivedRefer, now: float) -> None:
        """202 Accepted and the first NOTIFY, ``100 Trying`` (RFC 3515 §2.4.2, §2.4.4)."""
        refer.state = notifier_step(refer.state, NotifierInput.ACCEPT)
        ua = self.ua
        contact = str(NameAddr(ua.identity(refer.call.flow).contact))
        ua.layer.respond(refer.transaction, 202, now, headers=[("Contact", contact)])
        refer.expires_at = now + self.config.expires
        state = SubscriptionState(SubState.ACTIVE, expires=self.config.expires)
        self._send_notify(refer, Sipfrag(100, "Trying"), state, now)

    def reject(self, refer: ReceivedRefer, status: int, now: float) -> None:
        """Refuse the REFER with a final non-2xx status (403, 603 ...)."""
        if not 300 <= status < 700:
            raise LocalProtocolError(f"a REFER is rejected with 300-699, not {status}")
        refer.state = notifier_step(refer.state, NotifierInput.REJECT)
        self.ua.layer.respond(refer.transaction, status, now)

    def notify(self, refer: ReceivedRefer, status: int, reason: str, now: float) -> bool:
        """NOTIFY the status of the triggered request; a final one (>= 200) ends the
        subscription (``terminated;reason=noresource``, RFC 3515 §2.4.7). False when the
        NOTIFY could not be sent (the call ended)."""
        if refer.call.ended:
            _gone(refer)
            return False
        final = status >= 200
        step = NotifierInput.FINAL if final else NotifierInput.PROGRESS
        refer.state = notifier_step(refer.state, step)
        refer.status = status
        if final:
            state = SubscriptionState(SubState.TERMINATED, reason="noresource")
            refer.expires_at = None
        else:
            left = max(0, math.ceil((refer.expires_at or now) - now))
            state = SubscriptionState(SubState.ACTIVE, expires=left)
        return self._send_notify(refer, Sipfrag(status, reason), state, now)

    def _send_notify(
        self, refer: ReceivedRefer, frag: Sipfrag, state: SubscriptionState, now: float
    ) -> bool:
        call, ua = refer.call, self.ua
        if call.dialog is None or call.ended:
            _gone(refer)
            return False
        me = ua.identity(call.flow)
        event = EventHeader("refer", None if refer.first else refer.id)
        request = call.dialog.create_request(
            "NOTIFY",
            via=ua._via(me),
            contact=NameAddr(me.contact),
            headers=[("Event", str(event)), ("Subscription-State", str(state))],
            body=bytes(frag),
            content_type=SIPFRAG_CONTENT_TYPE,
        )
        self._client[ua.layer.send_request(request, call.flow, now)] = refer
        return True

    # -- transfer target: Replaces (RFC 3891 §3) ------------------------------------------------
    def match_replaces(self, new: Call) -> int | None:
        """The status to refuse the INVITE of ``new`` with, or None; a match is kept in
        ``replacing``. Without "replaces" in ``policy.supported`` the header is ignored (and
        ``Require: replaces`` has already been refused with 420, RFC 3261 §8.2.2.3)."""
        request = new.invite
        if "replaces" not in self.ua.policy.supported:
            return None
        lines = request.headers.get_lines("replaces")
        if not lines:
            return None
        try:
            if len(lines) > 1:
                raise ParseError("more than one Replaces")
            replaces = Replaces.parse(lines[0])
        except ParseError as exc:
            logger.info("INVITE refused with 400: %s", exc)
            return 400
        key = DialogId(replaces.call_id, replaces.to_tag, replaces.from_tag)
        old = self.ua._dialogs.get(key)
        if old is not None and not old.ended:
            if replaces.early_only:
                return 486  # a confirmed dialog and early-only
            self.replacing[new.id] = old
            return None
        for call in self.ua.calls.values():
            if call.ended or call.dialog is not None:
                continue
            if call.invite.call_id != replaces.call_id or call.local_tag != replaces.to_tag:
                continue
            if call.direction == "outgoing" and replaces.from_tag in call.early:
                self.replacing[new.id] = call  # an early dialog we initiated
                return None
            if call.direction == "incoming" and call.invite.from_.tag == replaces.from_tag:
                return 481  # an early dialog we did not initiate
        return 603 if key in self._ended else 481

    def call_confirmed(self, call: Call) -> Call | None:
        """The call that ``call`` replaces, once ``call`` is confirmed: the UA ends it."""
        old = self.replacing.pop(call.id, None)
        return old if old is not None and not old.ended else None

    # -- hooks of the UserAgent ---------------------------------------------------------------
    def request(self, call: Call, event: RequestReceived, now: float) -> bool:
        """An in-dialog REFER or NOTIFY (after the dialog's CSeq check); False for others."""
        method = event.request.method
        if method == "REFER":
            self._server.add(event.transaction)
            self._refer(call, event, now)
            return True
        if method == "NOTIFY":
            self._server.add(event.transaction)
            self._notify(call, event, now)
            return True
        return False

    def out_of_dialog(self, event: RequestReceived, now: float) -> bool:
        """A REFER outside any dialog is refused with 403 (see the module docstring)."""
        if event.request.method != "REFER":
            return False
        self._server.add(event.transaction)
        self._refuse(event.transaction, 403, "REFER Only Within A Call", now)
        return True

    def call_ended(self, call: Call) -> None:
        if call.dialog is not None:
            self._ended.append(call.dialog.id)
        for tag in call.early:
            self._ended.append(DialogId(call.invite.call_id, call.local_tag or "", tag))
        for transfer in self.sent.pop(call.id, []):
            self._step(transfer, SubscriberInput.ENDED)
        for refer in self.received.pop(call.id, []):
            _gone(refer)
        self.replacing.pop(call.id, None)

    def handle_event(self, event: Event, now: float) -> bool:
        """Responses and timeouts of our REFER and NOTIFY transactions."""
        if isinstance(event, TransactionTerminated):
            mine = self._client.pop(event.transaction, None) is not None
            if event.transaction in self._server:
                self._server.discard(event.transaction)
                return True
            return mine
        if not isinstance(event, ResponseReceived | TransactionTimedOut | TransportFailed):
            return False
        item = self._client.get(event.transaction)
        if item is None:
            return event.transaction in self._server
        if isinstance(event, ResponseReceived):
            status = event.response.status_code
            if isinstance(item, Transfer):
                self._refer_response(item, event.response, now)
            elif status >= 300:
                _gone(item)  # RFC 6665 §4.1.3: the subscriber no longer wants NOTIFYs
            return True
        status = 408 if isinstance(event, TransactionTimedOut) else 503
        if isinstance(item, Transfer):
            self._step(item, SubscriberInput.REJECTED, status=status, response=None)
        else:
            _gone(item)
        return True

    def get_timer(self) -> float | None:
        deadlines = [t.deadline for ts in self.sent.values() for t in ts if t.deadline]
        deadlines += [r.expires_at for rs in self.received.values() for r in rs if r.expires_at]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for transfers in list(self.sent.values()):
            for transfer in transfers:
                if transfer.deadline is not None and transfer.deadline <= now:
                    transfer.deadline = None
                    self._step(transfer, SubscriberInput.EXPIRED)
        for refers in list(self.received.values()):
            for refer in refers:
                if refer.expires_at is not None and refer.expires_at <= now:
                    # RFC 6665 §4.2.2: the subscription ends with a final NOTIFY
                    refer.expires_at = None
                    refer.state = notifier_step(refer.state, NotifierInput.EXPIRED)
                    state = SubscriptionState(SubState.TERMINATED, reason="timeout")
                    self._send_notify(
                        refer, Sipfrag(refer.status, reason_phrase(refer.status)), state, now
                    )

    def _refuse(
        self,
        txn: str,
        status: int,
        reason: str,
        now: float,
        headers: list[tuple[str, str]] | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        """Answer a request we cannot act on; the reason (and what failed to parse) is logged."""
        logger.info("%d %s: %s", status, reason, detail or "-")
        self.ua.layer.respond(txn, status, now, reason, headers=headers or [])


def _gone(refer: ReceivedRefer) -> None:
    """Nothing more can be sent for ``refer`` (call ended, NOTIFY refused or unanswered)."""
    refer.state = notifier_step(refer.state, NotifierInput.GONE)
    refer.expires_at = None


__all__ = [
    "DEFAULT_REFER",
    "ReceivedRefer",
    "ReferConfig",
    "ReferReceived",
    "Transfer",
    "TransferAccepted",
    "TransferCompleted",
    "TransferFailed",
    "TransferProgress",
    "TransferTimedOut",
    "Transfers",
]
