"""Bearer tokens (RFC 8898, RFC 6750 §3): the client's credential and the registrar's check."""

from __future__ import annotations

import pytest

from sipcore import AuthenticationError
from sipcore.bearer import (
    EXPIRED_DESCRIPTION,
    BearerAuthenticator,
    TokenVerdict,
    bearer,
    bearer_challenge,
    bearer_error,
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


class TestBearer:
    @pytest.mark.parametrize("token", ["abc", "eyJhbGciOi.J9.x-y_z~+/", "abc==", "A1"])
    def test_bearer(self, token: str) -> None:
        assert bearer(token) == f"Bearer {token}"
        assert AuthHeader.parse(bearer(token)).token68 == token

    @pytest.mark.parametrize("token", ["", "a b", "abc\r\n", "=abc", "a=b", "t\u00f6ken", '"x"'])
    def test_invalid_token(self, token: str) -> None:
        with pytest.raises(AuthenticationError) as info:
            bearer(token)
        if token:
            assert token not in str(info.value)

    @pytest.mark.parametrize(
        ("challenge", "verdict"),
        [
            (
                'Bearer realm="r", error="invalid_token", error_description="The token expired"',
                "expired",
            ),
            ('Bearer error="invalid_token", error_description="Token EXPIRED at 12:00"', "expired"),
            ('Bearer realm="r", error="invalid_token"', "invalid"),
            ('Bearer error="invalid_token", error_description="bad signature"', "invalid"),
            ('Bearer realm="r", error="insufficient_scope", scope="sip"', "insufficient_scope"),
            ('Bearer error="invalid_request"', "invalid_request"),
            ('Bearer realm="r"', None),
            ('bearer realm="r", error="invalid_token"', "invalid"),
            ('Digest realm="r", nonce="n", error="invalid_token"', None),
            ("Bearer abcdef", None),
        ],
    )
    def test_bearer_error(self, challenge: str, verdict: str | None) -> None:
        assert bearer_error(AuthHeader.parse(challenge)) == verdict
