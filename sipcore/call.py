"""The signalling state of one call as the UA core keeps it, and the events the UA core
reports about calls (:mod:`sipcore.ua` acts on them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .dialog import Dialog
from .events import Event
from .flow import Flow
from .message import Request, Response, generate_tag
from .prack import ReliableProvisionals, RseqOrder
from .session_timer import SessionTimer
from .update import GlareRetry, Negotiation
from .uri import SipUri


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """How we appear on a flow: Via transport and sent-by, and our Contact URI."""

    transport: str
    host: str
    port: int | None
    contact: SipUri


class CallState(enum.Enum):
    INITIATING = "initiating"  # UAC: INVITE sent, nothing back yet
    EARLY = "early"  # a provisional response (UAC) or our ringing (UAS)
    INCOMING = "incoming"  # UAS: INVITE received, not answered yet
    ANSWERED = "answered"  # 2xx sent or received, ACK not yet seen (UAS)
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"

    __hash__ = object.__hash__


class EndReason(enum.Enum):
    LOCAL_HANGUP = "local hangup"
    REMOTE_HANGUP = "remote hangup"
    LOCAL_CANCEL = "cancelled"
    REMOTE_CANCEL = "cancelled by the caller"
    REJECTED = "rejected"  # a final non-2xx response to our INVITE
    DECLINED = "declined"  # we answered the INVITE with a non-2xx response
    TIMEOUT = "timeout"
    FAILURE = "failure"
    NO_ACK = "no ACK"
    NO_PRACK = "no PRACK"  # RFC 3262 §3: our reliable provisional was never acknowledged
    SESSION_EXPIRED = "session expired"  # RFC 4028 §10: no session refresh in time
    REPLACED = "replaced"  # an INVITE with Replaces took its place (RFC 3891 §3)

    __hash__ = object.__hash__


class Call:
    """The signalling state of one call, as the UA core keeps it."""

    def __init__(self, call_id: str, direction: str, invite: Request, flow: Flow) -> None:
        self.id = call_id
        self.direction = direction
        self.invite = invite
        self.flow = flow
        self.state = CallState.INITIATING if direction == "outgoing" else CallState.INCOMING
        self.dialog: Dialog | None = None
        self.early: dict[str, Dialog] = {}  # UAC: early dialogs by remote tag (forking)
        self.transaction: str | None = None  # the INVITE transaction
        self.local_tag = invite.from_.tag if direction == "outgoing" else generate_tag()
        self.provisional = False  # UAC: a provisional response arrived (§9.1)
        self.cancel_pending = False
        self.end_reason: EndReason | None = None
        self.end_status: int | None = None
        self.remote_body: bytes = invite.body if direction == "incoming" else b""
        self.reinvite_out: Request | None = None  # our re-INVITE in progress
        self.reinvite_in: str | None = None  # the server transaction of the peer's re-INVITE
        self.reinvite_in_request: Request | None = None
        self.reinvite_retry = GlareRetry()  # §14.1: our re-INVITE again after a 491
        self.retry_invite_at: float | None = None  # §21.5.4: the INVITE again after a 503
        self.invite_retries = 0
        # RFC 3262, RFC 3311, RFC 4028 (sipcore.prack, sipcore.update, sipcore.session_timer)
        self.reliable: ReliableProvisionals | None = None  # UAS: our reliable provisionals
        self.rseq = RseqOrder()  # UAC: the RSeq order of each early dialog
        self.negotiation = Negotiation()  # offers in flight besides a re-INVITE
        self.timer: SessionTimer | None = None
        self.peer_allow: list[str] = []  # the methods the peer allows (§20.5)
        self.local_body: tuple[bytes, str | None] = (b"", None)  # the last SDP we sent
        self.flow_lost = False  # kept after its flow closed, until rebound (UserAgent.rebind)

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.direction} {self.state.value}>"

    @property
    def ended(self) -> bool:
        return self.state is CallState.TERMINATED


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCall(Event):
    call: Call
    replaces: Call | None = None  # RFC 3891: ended by the UA once ``call`` is confirmed


@dataclass(frozen=True, slots=True, kw_only=True)
class CallProgress(Event):
    """A provisional response to our INVITE (180 ringing, 183 with early media ...).

    ``response.body`` is the early answer (also in ``call.remote_body``); a reliable one
    (RFC 3262) made the early dialog ``call.early[response.to.tag]`` and was PRACKed, unless
    it carried an offer, which the application answers with ``UserAgent.prack``."""

    call: Call
    response: Response
    reliable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(Event):
    """Our INVITE got a 2xx (and we sent the ACK)."""

    call: Call
    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class CallConfirmed(Event):
    """The ACK for our 2xx arrived (its body is the answer when our 2xx made the offer)."""

    call: Call
    ack: Request | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(Event):
    call: Call
    reason: EndReason
    status: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFlowLost(Event):
    """The flow of a confirmed call closed and the call was kept (``keep_calls``): its dialog
    goes on over another flow once ``UserAgent.rebind`` moves it there."""

    call: Call


@dataclass(frozen=True, slots=True, kw_only=True)
class ReinviteReceived(Event):
    """The peer sent a re-INVITE (§14.2): answer it with ``answer_reinvite`` (its offer is
    ``request.body``; a hold shows as sendonly or inactive)."""

    call: Call
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class ReinviteAnswered(Event):
    """Our re-INVITE got its final response (a 2xx carries the answer; the call goes on
    after a failure, §14.1)."""

    call: Call
    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoReceived(Event):
    """An INFO within the call (RFC 6086), already answered with 200."""

    call: Call
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoAnswered(Event):
    call: Call
    response: Response
