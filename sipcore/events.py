"""Events the sans-I/O core emits, as keyword-only dataclasses under one base class."""

from __future__ import annotations

from dataclasses import dataclass

from .flow import Flow
from .message import Request, Response
from .timers import Timer


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event of the core."""


# -- transaction layer (§17) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived(Event):
    """A new request created a server transaction; answer it with ``send_response``."""

    transaction: str
    request: Request
    flow: Flow


@dataclass(frozen=True, slots=True, kw_only=True)
class AckReceived(Event):
    """An ACK for a 2xx (§13.3.1.4), outside any transaction, or passed up in the Accepted state
    of an INVITE server transaction (RFC 6026 §8.7)."""

    request: Request
    flow: Flow


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReceived(Event):
    """A CANCEL matched the INVITE server transaction ``cancelled`` (§9.2). The CANCEL has its own
    server transaction ``transaction`` that the layer has already answered with 200."""

    transaction: str
    cancelled: str
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived(Event):
    """A response for a client transaction: every provisional and the first final one."""

    transaction: str
    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class AdditionalSuccess(Event):
    """A further 2xx to an INVITE in the Accepted state (RFC 6026 §8.4): a retransmission, or the
    answer of another fork. The TU acknowledges it (§13.2.2.4)."""

    transaction: str
    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class StrayResponse(Event):
    """A response no client transaction matches (§18.1.2). A 2xx to INVITE may still belong to a
    dialog whose transaction has ended; anything else is only reported."""

    response: Response
    flow: Flow


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimedOut(Event):
    """Timer B, F or H fired: no final response (a 408, §8.1.3.1) or no ACK came."""

    transaction: str
    timer: Timer


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailed(Event):
    """The transport could not deliver a message of the transaction (a 503, §8.1.3.1)."""

    transaction: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTerminated(Event):
    """The transaction reached the Terminated state and was forgotten."""

    transaction: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped(Event):
    """Bytes from the network that were not processed, and why (with the answer sent, if any)."""

    reason: str
    flow: Flow
    status: int | None = None
