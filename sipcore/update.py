"""UPDATE (RFC 3311): the offer/answer state of a call that decides 491 and 500, and the events.

An UPDATE may carry an offer in an early dialog (once the INVITE's own offer/answer is done,
which needs reliable provisionals) or a confirmed one. §5.2: an UPDATE offer that arrives while
our own offer awaits its answer gets 491 (glare, both sides retry as for re-INVITE, RFC 3261
§14.1); one that arrives while we hold an offer not yet answered gets 500 with Retry-After.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .events import Event
from .message import Request, Response, build_response

if TYPE_CHECKING:
    from .ua import Call


class Negotiation:
    """Offers in flight on one call, besides a re-INVITE (kept by ``Call`` itself)."""

    def __init__(self) -> None:
        self.offer_sent = False  # our INVITE or provisional offer awaits its answer
        self.offer_received = False  # the peer's INVITE or provisional offer awaits ours
        self.update_out: Request | None = None  # our UPDATE in progress
        self.update_in: tuple[str, Request] | None = None  # (server transaction, UPDATE)
        self.retry = GlareRetry()  # §5.2 / RFC 3261 §14.1: our UPDATE again after a 491
        # RFC 3262: UAS: a 2xx held until the PRACK (§3); UAC: the PRACK that must carry the
        # answer to an offer in a reliable provisional (remote tag, RSeq)
        self.held_answer: tuple[bytes, str | None] | None = None
        self.prack_due: tuple[str, int] | None = None

    def our_offer_pending(self) -> bool:
        out = self.update_out
        return self.offer_sent or (out is not None and bool(out.body))

    def their_offer_pending(self) -> bool:
        return self.offer_received or self.update_in is not None


class GlareRetry:
    """RFC 3261 §14.1: after a 491 the offer of a re-INVITE or UPDATE goes again at ``at``,
    2.1-4 s later for the Call-ID owner (who sent the dialog's INVITE), 0-2 s otherwise."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.body: tuple[bytes, str | None] = (b"", None)  # the offer and its Content-Type

    def schedule(self, request: Request, now: float, *, call_id_owner: bool) -> None:
        low, high = (2.1, 4.0) if call_id_owner else (0.0, 2.0)
        self.at = now + low + (high - low) * secrets.randbelow(1000) / 1000
        self.body = (request.body, request.headers.get("content-type"))

    def cancel(self) -> None:
        self.at = None
        self.body = (b"", None)

    def due(self, now: float) -> tuple[bytes, str | None] | None:
        """The offer to send now (the retry is then over), or None when none is due."""
        if self.at is None or self.at > now:
            return None
        body = self.body
        self.cancel()
        return body


def glare_response(call: Call) -> Response:
    """What a retry that could not be sent reports: 491 as if the peer had answered again."""
    return build_response(call.invite, 491)


def retry_after() -> str:
    """§5.2: a random Retry-After of 0 to 10 seconds for the 500."""
    return str(secrets.randbelow(11))


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateReceived(Event):
    """The peer sent an UPDATE. With an offer (``request.body``) answer it with
    ``UserAgent.answer_update``; without one it was already answered with 200 (``answered``)."""

    call: Call
    request: Request
    answered: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateAnswered(Event):
    """Our UPDATE got its final response (a 2xx carries the answer to our offer)."""

    call: Call
    response: Response


__all__ = [
    "GlareRetry",
    "Negotiation",
    "UpdateAnswered",
    "UpdateReceived",
    "glare_response",
    "retry_after",
]
