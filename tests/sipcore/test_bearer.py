"""Bearer tokens at the registrar (RFC 8898 §2.3, RFC 6750 §3)."""

from __future__ import annotations

from sipcore.auth import bearer_error
from sipcore.bearer import (
    EXPIRED_DESCRIPTION,
    BearerAuthenticator,
    TokenVerdict,
    bearer_challenge,
    bearer_token,
)
from sipcore.headers import AuthHeader
from tests.sipcore.proxy_helpers import DOMAIN, request


def test_challenges_say_why_and_round_trip_through_the_client_reader() -> None:
    plain = AuthHeader.parse(bearer_challenge(DOMAIN))
    assert plain.scheme == "Bearer" and plain.params == {"realm": DOMAIN}
    assert bearer_error(plain) is None  # RFC 6750 §3.1: no error when no token was sent
    expired = AuthHeader.parse(bearer_challenge(DOMAIN, "expired"))
    assert expired.params["error"] == "invalid_token"
    assert expired.params["error_description"] == EXPIRED_DESCRIPTION
    assert bearer_error(expired) == "expired"
    assert bearer_error(AuthHeader.parse(bearer_challenge(DOMAIN, "invalid"))) == "invalid"


def test_token_read_from_authorization_and_validated_per_user() -> None:
    seen: list[tuple[str, str]] = []

    def validator(user: str, token: str) -> TokenVerdict:
        seen.append((user, token))
        return "ok" if token == "good.tok-1" else "expired"

    auth = BearerAuthenticator(DOMAIN, validator)
    signed = request("REGISTER", headers=[("Authorization", "Bearer good.tok-1")])
    assert bearer_token(signed) == "good.tok-1"
    assert auth.authenticate(signed, "bob") == "ok"
    old = request("REGISTER", headers=[("Authorization", "Bearer old~tok")])
    assert auth.authenticate(old, "bob") == "expired"
    assert seen == [("bob", "good.tok-1"), ("bob", "old~tok")]
    # digest credentials or none at all: no verdict, the validator is not asked
    digest = request("REGISTER", headers=[("Authorization", 'Digest username="bob"')])
    assert bearer_token(digest) is None and auth.authenticate(digest, "bob") is None
    assert bearer_token(request("REGISTER", headers=[("Authorization", "Bearer")])) is None
    assert len(seen) == 2
    name, value = auth.challenge("invalid")
    assert name == "WWW-Authenticate" and 'error="invalid_token"' in value
