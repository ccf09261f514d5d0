"""What a phone and its calls report, as small keyword-only dataclasses under one base."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .call import Call, CallState, EndReason

__all__ = [
    "CallStateChanged",
    "DtmfReceived",
    "IncomingCallReceived",
    "MediaRenewal",
    "MissedCall",
    "PhoneEvent",
    "RegistrationChanged",
    "RemoteHoldChanged",
    "SignallingChanged",
    "TransferRequested",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneEvent:
    """Base of every client event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationChanged(PhoneEvent):
    """``state``: sent_request, registered, unregistered, terminated (failed for good), or
    connecting / disconnected for the flow under it; ``status`` is the SIP status if any."""

    state: str
    status: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCallReceived(PhoneEvent):
    call: Call


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedCall(PhoneEvent):
    """An incoming call that was never answered: busy (another call was up), cancelled by the
    caller, or not answered in time. ``time`` is the wall-clock time it arrived."""

    remote: str
    display_name: str | None
    time: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStateChanged(PhoneEvent):
    call: Call
    state: CallState
    previous: CallState
    reason: EndReason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived(PhoneEvent):
    """A digit from the peer; ``method`` is ``rfc4733`` or ``info``."""

    call: Call
    digit: str
    method: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteHoldChanged(PhoneEvent):
    call: Call
    held: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRenewal(PhoneEvent):
    """A step of media recovery: ``outcome`` is started, succeeded or failed."""

    call: Call
    attempt: int
    outcome: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignallingChanged(PhoneEvent):
    """A step of keeping an established call whose signalling flow was lost (see
    :mod:`client.recovery`): ``state`` is lost, refreshing (``attempt`` n of the target
    refresh on the new flow), refresh_failed (``reason``: the status), restored, or failed
    (``reason``; the call then ends with ``connection_lost``)."""

    call: Call
    state: str
    attempt: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRequested(PhoneEvent):
    """The peer of ``call`` transferred us (REFER) to ``target``; ``new_call`` is the call the
    phone placed there (None when it refused or could not place it)."""

    call: Call
    target: str
    new_call: Call | None
