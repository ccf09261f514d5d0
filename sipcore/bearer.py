"""Bearer tokens at the registrar (RFC 8898 §2.3, RFC 6750 §3), sans-I/O.

The client side (:func:`sipcore.auth.bearer`, :func:`sipcore.auth.bearer_error`) lives in
:mod:`sipcore.auth`; this is the server's half: read the token out of a REGISTER, hand it to a
validator the deployment supplies, and challenge with the RFC 6750 §3 error parameters so that
the client can tell an expired token (fetch a fresh one) from an invalid one (give up).

The validator is a plain callable ``(user, token) -> "ok" | "invalid" | "expired"``: real
platforms check a signed token (JWT) against their keys; the embedded server's tests pass a
table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from .errors import ParseError
from .message import Request
from .uri import quote_string

__all__ = [
    "EXPIRED_DESCRIPTION",
    "INVALID_DESCRIPTION",
    "BearerAuthenticator",
    "TokenValidator",
    "TokenVerdict",
    "bearer_challenge",
    "bearer_token",
]

TokenVerdict = Literal["ok", "invalid", "expired"]
TokenValidator = Callable[[str, str], TokenVerdict]
"""``(user, token) -> verdict``: may ``token`` register the AOR of ``user``?"""

EXPIRED_DESCRIPTION = "The access token expired"
"""error_description of an expired token (RFC 6750 §3.1 leaves the text to the server; the
client looks for the word "expired", :func:`sipcore.auth.bearer_error`)."""
INVALID_DESCRIPTION = "The access token is invalid"


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
