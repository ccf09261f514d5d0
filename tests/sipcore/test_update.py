"""The offer/answer bookkeeping behind RFC 3311 §5.2 (491 and 500)."""

from __future__ import annotations

from sipcore.update import GlareRetry, Negotiation, retry_after
from tests.sipcore.helpers import request


def test_pending_offers() -> None:
    negotiation = Negotiation()
    assert not negotiation.our_offer_pending() and not negotiation.their_offer_pending()
    bodyless = request("UPDATE")
    negotiation.update_out = bodyless
    assert not negotiation.our_offer_pending()  # no body: not an offer
    offer = request("UPDATE")
    offer.body = b"v=0\r\n"
    negotiation.update_out = offer
    assert negotiation.our_offer_pending()
    negotiation.update_out = None
    negotiation.offer_sent = True
    assert negotiation.our_offer_pending()
    negotiation.update_in = ("txn", offer)
    assert negotiation.their_offer_pending()


def test_retry_windows() -> None:
    offer = request("UPDATE")
    for owner, low, high in ((True, 2.1, 4.0), (False, 0.0, 2.0)):
        retry = GlareRetry()
        retry.schedule(offer, 10.0, call_id_owner=owner)
        assert retry.at is not None
        assert 10.0 + low <= retry.at <= 10.0 + high
        assert retry.body == (b"", None)
    assert all(0 <= int(retry_after()) <= 10 for _ in range(50))
