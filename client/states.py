"""Call states of the mobile voice SDKs, the transition table between them, and the reasons a
call ends (mapped from the UA core's reasons and SIP statuses)."""

from __future__ import annotations

import enum

from sipcore import ua as core

__all__ = ["TRANSITIONS", "UP", "CallState", "EndReason", "Input", "end_reason"]


class CallState(enum.Enum):
    """The call states of the mobile voice SDKs."""

    NONE = "none"
    OUTGOING_INITIATED = "outgoing_initiated"
    CONNECTING = "connecting"
    EARLY_MEDIA = "early_media"
    RINGING = "ringing"
    INCOMING = "incoming"
    ANSWERING = "answering"
    ESTABLISHED = "established"
    MEDIA_DISRUPTED = "media_disrupted"
    RENEWING_MEDIA = "renewing_media"
    ENDING = "ending"
    ENDED = "ended"

    __hash__ = object.__hash__


class EndReason(enum.Enum):
    LOCAL_HANGUP = "local_hangup"
    REMOTE_HANGUP = "remote_hangup"
    CANCELLED = "cancelled"  # we gave up an outgoing call before the answer
    REMOTE_CANCELLED = "remote_cancelled"  # the caller gave up before we answered
    BUSY = "busy"  # 486 / 600
    DECLINED = "declined"  # 603, or we rejected the call
    NOT_FOUND = "not_found"  # 404 / 604 / 484
    UNAVAILABLE = "unavailable"  # 480
    TIMEOUT = "timeout"  # no answer (408, Timer B) or no ACK
    FAILURE = "failure"  # any other failure response or a transport failure
    MEDIA_TIMEOUT = "media_timeout"  # media could not be renewed
    MEDIA_FAILED = "media_failed"  # no session description could be agreed
    REPLACED = "replaced"  # an attended transfer replaced the call (RFC 3891)
    SESSION_EXPIRED = "session_expired"  # no session refresh in time (RFC 4028)
    CONNECTION_LOST = "connection_lost"  # the signalling flow was lost and not restored

    __hash__ = object.__hash__


class Input(enum.Enum):
    DIAL = enum.auto()
    INVITE_SENT = enum.auto()
    RINGING = enum.auto()
    EARLY_MEDIA = enum.auto()
    RECEIVED = enum.auto()
    ANSWER = enum.auto()
    ESTABLISHED = enum.auto()
    MEDIA_LOST = enum.auto()
    RENEW = enum.auto()
    MEDIA_BACK = enum.auto()
    HANGUP = enum.auto()
    ENDED = enum.auto()


S = CallState
CALLING = (S.CONNECTING, S.RINGING, S.EARLY_MEDIA)
UP = (S.ESTABLISHED, S.MEDIA_DISRUPTED, S.RENEWING_MEDIA)
TRANSITIONS: dict[tuple[CallState, Input], CallState] = {
    (S.NONE, Input.DIAL): S.OUTGOING_INITIATED,
    (S.NONE, Input.RECEIVED): S.INCOMING,
    (S.OUTGOING_INITIATED, Input.INVITE_SENT): S.CONNECTING,
    (S.CONNECTING, Input.RINGING): S.RINGING,
    (S.CONNECTING, Input.EARLY_MEDIA): S.EARLY_MEDIA,
    (S.RINGING, Input.RINGING): S.RINGING,
    (S.RINGING, Input.EARLY_MEDIA): S.EARLY_MEDIA,
    (S.EARLY_MEDIA, Input.RINGING): S.EARLY_MEDIA,  # early media keeps playing
    (S.EARLY_MEDIA, Input.EARLY_MEDIA): S.EARLY_MEDIA,
    **{(state, Input.ESTABLISHED): S.ESTABLISHED for state in CALLING},
    (S.INCOMING, Input.ANSWER): S.ANSWERING,
    (S.ANSWERING, Input.ESTABLISHED): S.ESTABLISHED,
    (S.ESTABLISHED, Input.MEDIA_LOST): S.MEDIA_DISRUPTED,
    (S.MEDIA_DISRUPTED, Input.RENEW): S.RENEWING_MEDIA,
    (S.MEDIA_DISRUPTED, Input.MEDIA_BACK): S.ESTABLISHED,
    (S.RENEWING_MEDIA, Input.MEDIA_BACK): S.ESTABLISHED,
    (S.RENEWING_MEDIA, Input.MEDIA_LOST): S.MEDIA_DISRUPTED,
    **{(state, Input.HANGUP): S.ENDING for state in S if state not in (S.ENDING, S.ENDED)},
    **{(state, Input.ENDED): S.ENDED for state in S if state is not S.ENDED},
}

FAILURES = {
    486: EndReason.BUSY,
    600: EndReason.BUSY,
    603: EndReason.DECLINED,
    404: EndReason.NOT_FOUND,
    484: EndReason.NOT_FOUND,
    604: EndReason.NOT_FOUND,
    480: EndReason.UNAVAILABLE,
    408: EndReason.TIMEOUT,
    487: EndReason.CANCELLED,
}


def end_reason(reason: core.EndReason, status: int | None) -> EndReason:
    """The application-level reason for the UA core's ``reason`` and SIP ``status``."""
    if reason is core.EndReason.REJECTED:
        return FAILURES.get(status or 0, EndReason.FAILURE)
    return {
        core.EndReason.LOCAL_HANGUP: EndReason.LOCAL_HANGUP,
        core.EndReason.REMOTE_HANGUP: EndReason.REMOTE_HANGUP,
        core.EndReason.LOCAL_CANCEL: EndReason.CANCELLED,
        core.EndReason.REMOTE_CANCEL: EndReason.REMOTE_CANCELLED,
        core.EndReason.DECLINED: EndReason.DECLINED,
        core.EndReason.TIMEOUT: EndReason.TIMEOUT,
        core.EndReason.NO_ACK: EndReason.TIMEOUT,
        core.EndReason.NO_PRACK: EndReason.TIMEOUT,
        core.EndReason.REPLACED: EndReason.REPLACED,
        core.EndReason.SESSION_EXPIRED: EndReason.SESSION_EXPIRED,
    }.get(reason, EndReason.FAILURE)
