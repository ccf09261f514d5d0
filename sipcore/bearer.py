"""Bearer tokens in SIP (RFC 8898, RFC 6750 §3), both sides, sans-I/O.

Client side: :func:`bearer` builds the credential that carries an access token and
:func:`bearer_error` reads why a registrar refused one.

Registrar side: read the token out of a REGISTER, hand it to a validator the deployment supplies,
and challenge with the RFC 6750 §3 error parameters so that the client can tell an expired token
(fetch a fresh one) from an invalid one (give up).

The validator is a plain callable ``(user, token) -> "ok" | "invalid" | "expired"``: real
platforms check a signed token (JWT) against their keys; the embedded server's tests pass a
table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from .errors import AuthenticationError, ParseError
from .headers import AuthHeader
from .message import Request
from .uri import quote_string

__all__ = [
    "EXPIRED_DESCRIPTION",
    "INVALID_DESCRIPTION",
    "BearerAuthenticator",
    "TokenValidator",
    "TokenVerdict",
    "bearer",
    "bearer_challenge",
    "bearer_error",
    "bearer_token",
]

TokenVerdict = Literal["ok", "invalid", "expired"]
TokenValidator = Callable[[str, str], TokenVerdict]
"""``(user, token) -> verdict``: may ``token`` register the AOR of ``user``?"""

EXPIRED_DESCRIPTION = "The access token expired"
"""error_description of an expired token (RFC 6750 §3.1 leaves the text to the server; the
client looks for the word "expired", :func:`bearer_error`)."""
INVALID_DESCRIPTION = "The access token is invalid"


# -- registrar side (RFC 8898 §2.3, RFC 6750 §3) ---------------------------------------------


def bearer_challenge(realm: str, verdict: TokenVerdict | None = None) -> str:
    """A WWW-Authenticate value for the Bearer scheme (RFC 8898 §2.3, RFC 6750 §3).

    Without ``verdict`` (no token was sent) it carries no error (RFC 6750 §3.1: "SHOULD NOT
    include an error code"); an invalid or expired token gets ``error="invalid_token"`` and a
    description naming which of the two it was.
    """
    value = f"Bearer realm={quote_string(realm)}"
    if verdict == "expired":
        value += f', error="invalid_token", error_description="{EXPIRED_DESCRIPTION}"'
    elif verdict == "invalid":
        value += f', error="invalid_token", error_description="{INVALID_DESCRIPTION}"'
    return value


def bearer_token(request: Request) -> str | None:
    """The token of the first ``Authorization: Bearer`` credential (RFC 8898 §2.2), if any."""
    try:
        credentials = request.authorization
    except ParseError:
        return None
    for header in credentials:
        if header.scheme.lower() == "bearer" and header.token68:
            return header.token68
    return None


class BearerAuthenticator:
    """Checks the Bearer credential of a request with ``validator`` for one realm."""

    def __init__(self, realm: str, validator: TokenValidator) -> None:
        self.realm = realm
        self.validator = validator

    def authenticate(self, request: Request, user: str) -> TokenVerdict | None:
        """The validator's verdict on the request's token for ``user``; None when the request
        carries no Bearer credential."""
        token = bearer_token(request)
        if token is None:
            return None
        return self.validator(user, token)

    def challenge(self, verdict: TokenVerdict | None = None) -> tuple[str, str]:
        """The WWW-Authenticate header of a 401 (RFC 8898 §2.3)."""
        return ("WWW-Authenticate", bearer_challenge(self.realm, verdict))


# -- client side (RFC 8898 §2, RFC 6750 §2.1, §3) ---------------------------------------------


def _is_token68(token: str) -> bool:
    # RFC 7235 §2.1: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    body = token.rstrip("=")
    return bool(body) and body.isascii() and all(c.isalnum() or c in "-._~+/" for c in body)


def bearer(token: str) -> str:
    """The Authorization value carrying an access token (RFC 8898 §2, RFC 6750 §2.1).

    Raises :class:`AuthenticationError` when ``token`` is not a token68 (the message does not
    repeat the token).
    """
    if not _is_token68(token):
        raise AuthenticationError("the bearer token is not a token68 (RFC 7235 §2.1)")
    return f"Bearer {token}"


def bearer_error(challenge: AuthHeader) -> str | None:
    """Why a Bearer challenge refused the token (RFC 6750 §3, RFC 8898 §2).

    "expired" when ``error_description`` says the token expired, "invalid" for
    ``error="invalid_token"`` otherwise, any other error code as sent (``invalid_request``,
    ``insufficient_scope`` ...), and None for a challenge without an error (no token was sent,
    RFC 6750 §3.1) or one that is not Bearer.
    """
    if challenge.scheme.lower() != "bearer":
        return None
    error = challenge.params.get("error")
    description = challenge.params.get("error_description", "")
    if "expired" in description.lower():
        return "expired"
    if error is None:
        return None
    if error == "invalid_token":
        return "invalid"
    return error
