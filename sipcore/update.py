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
from .message import Request, Response

if TYPE_CHECKING:
    from .ua import Call


class Negotiation:
    """Offers in flight on one call, besides a re-INVITE (kept by ``Call`` itself)."""

    def __init__(self) -> None:
        self.offer_sent = False  # our INVITE or provisional offer awaits its answer
        self.offer_received = False  # the peer's INVITE or provisional offer awaits ours
        self.update_out: Request | None = None  # our UPDATE in progress
        self.update_in: tuple[str, Request] | None = None  # (server transaction, UPDATE)
        self.retry_at: float | None = None  # §5.2 / RFC 3261 §14.1: resend after a 491
        self.retry_body: tuple[bytes, str | None] | None = None
        # RFC 3262: UAS: a 2xx held until the PRACK (§3); UAC: the PRACK that must carry the
        # answer to an offer in a reliable provisional (remote tag, RSeq)
        self.held_answer: tuple[bytes, str | None] | None = None
        self.prack_due: tuple[str, int] | None = None

    def our_offer_pending(self) -> bool:
        out = self.update_out
        return self.offer_sent or (out is not None and bool(out.body))

    def their_offer_pending(self) -> bool:
        return self.offer_received or self.update_in is not None

    def schedule_retry(self, request: Request, now: float, *, call_id_owner: bool) -> None:
        """RFC 3261 §14.1 timing, as for a re-INVITE (:func:`glare_retry`)."""
        self.retry_at, self.retry_body = glare_retry(request, now, call_id_owner=call_id_owner)


def glare_retry(
    request: Request, now: float, *, call_id_owner: bool
) -> tuple[float, tuple[bytes, str | None]]:
    """RFC 3261 §14.1: after a 491 the offer of ``request`` goes again at the returned time,
    2.1-4 s later for the Call-ID owner (who sent the dialog's INVITE), 0-2 s otherwise."""
    low, high = (2.1, 4.0) if call_id_owner else (0.0, 2.0)
    at = now + low + (high - low) * secrets.randbelow(1000) / 1000
    return at, (request.body, request.headers.get("content-type"))


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


__all__ = ["Negotiation", "UpdateAnswered", "UpdateReceived", "glare_retry", "retry_after"]
