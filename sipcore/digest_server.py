"""HTTP Digest authentication for SIP, server side (RFC 3261 §22, RFC 7616, RFC 8760).

For a loopback registrar or proxy; pure functions, no I/O, no clock (time comes in as ``now``).
The digest computation is shared with the client side in :mod:`sipcore.auth`.

- :func:`make_challenge` builds a WWW-Authenticate / Proxy-Authenticate value.
- :func:`verify` checks Digest credentials in constant time.
- :func:`make_nonce` / :func:`check_nonce` form a stateless nonce scheme: a timestamp and a random
  salt, authenticated with an HMAC under a server secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from typing import Literal

from .auth import SUPPORTED_QOPS, digest_algorithm, is_digest, quote_param, request_digest
from .errors import AuthenticationError
from .headers import AuthHeader

__all__ = ["check_nonce", "make_challenge", "make_nonce", "verify"]


def make_challenge(
    realm: str,
    *,
    algorithm: str = "SHA-256",
    qop: str = "auth",
    stale: bool = False,
    opaque: str | None = None,
    nonce: str | None = None,
    userhash: bool = False,
) -> str:
    """A WWW-Authenticate / Proxy-Authenticate value (RFC 7616 §3.3, RFC 8760 §2.3).

    ``qop`` is "auth", "auth-int", "auth,auth-int" or "" (no qop: the RFC 2069 form, which a
    ``-sess`` algorithm cannot use). ``nonce`` defaults to a random one; see :func:`make_nonce`
    for nonces a stateless server can check. Raises :class:`AuthenticationError` for an
    unsupported algorithm or qop.
    """
    alg = digest_algorithm(algorithm)
    qops = [q.strip() for q in qop.split(",") if q.strip()]
    for value in qops:
        if value not in SUPPORTED_QOPS:
            raise AuthenticationError(f"unsupported qop: {value[:40]!r}")
    if alg.sess and not qops:
        raise AuthenticationError(f"{alg.name} needs a qop")
    if nonce is None:
        nonce = secrets.token_urlsafe(24)
    # RFC 7616 §3.3: realm, nonce, opaque and qop are quoted strings; algorithm, stale and
    # userhash are tokens
    parts = [
        f"realm={quote_param(realm)}",
        f"nonce={quote_param(nonce)}",
        f"algorithm={alg.name}",
    ]
    if qops:
        parts.append(f"qop={quote_param(','.join(qops))}")
    if opaque is not None:
        parts.append(f"opaque={quote_param(opaque)}")
    if stale:
        parts.append("stale=true")
    if userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def verify(
    credentials: AuthHeader,
    *,
    method: str,
    password: str,
    body: bytes = b"",
    expected_realm: str | None = None,
    username: str | None = None,
    uri: str | None = None,
) -> bool:
    """Whether Digest ``credentials`` are right for ``password`` (RFC 7616 §3.4, §3.5).

    ``method`` and ``body`` are the request's. ``expected_realm``, when given, must equal the
    credentials' realm; ``uri``, when given, must equal their ``uri`` (off by default: in SIP a
    proxy may have retargeted the Request-URI, so RFC 3261 §22.4 item 6 makes a mismatch "not
    necessarily a failure"). ``username`` is the account name: required when the credentials use
    ``userhash=true`` (it is then checked against the hash, RFC 7616 §3.4.4), and compared with
    the ``username`` parameter otherwise.

    The nonce is not checked here: use :func:`check_nonce` for nonces from :func:`make_nonce`,
    and answer a stale nonce with correct credentials by a new challenge with ``stale=true``
    (RFC 7616 §3.3). Malformed credentials give False, never an exception; the digests are
    compared in constant time.
    """
    if not is_digest(credentials):
        return False
    params = credentials.params
    sent_username = params.get("username")
    realm = params.get("realm")
    nonce = params.get("nonce")
    digest_uri = params.get("uri")
    response = params.get("response")
    if (
        sent_username is None
        or realm is None
        or nonce is None
        or digest_uri is None
        or response is None
    ):
        return False
    if expected_realm is not None and realm != expected_realm:
        return False
    if uri is not None and digest_uri != uri:
        return False
    try:
        alg = digest_algorithm(params.get("algorithm"))
    except AuthenticationError:
        return False
    qop = params.get("qop")  # hashed as sent; its value is case-insensitive
    cnonce = params.get("cnonce", "")
    nc = params.get("nc", "")
    if qop is not None:
        if qop.lower() not in SUPPORTED_QOPS or not cnonce or _parse_nc(nc) == 0:
            return False
    elif alg.sess:
        return False
    if params.get("userhash", "").lower() == "true":
        if username is None:
            return False
        if not _equal(alg.hash(f"{username}:{realm}"), sent_username):
            return False
        account = username
    else:
        if username is not None and username != sent_username:
            return False
        account = sent_username
    expected = request_digest(
        alg,
        username=account,
        realm=realm,
        password=password,
        nonce=nonce,
        method=method,
        uri=digest_uri,
        qop=qop,
        nc=nc,
        cnonce=cnonce,
        body=body,
    )
    return _equal(expected, response)


def _equal(expected_hex: str, given: str) -> bool:
    """Constant-time comparison of a hex digest with a received value (any case)."""
    return hmac.compare_digest(
        expected_hex.encode("ascii"), given.lower().encode("utf-8", "surrogateescape")
    )


def _parse_nc(value: str | None) -> int:
    if value is None or len(value) != 8:
        return 0
    try:
        return int(value, 16)
    except ValueError:
        return 0


# -- stateless nonces -------------------------------------------------------------------------
# nonce = base64url(timestamp_ms (8 octets, big-endian) || salt (8) || HMAC-SHA256(secret,
# timestamp_ms || salt)[:16]). RFC 7616 §3.3 suggests a time stamp and a hash of it with private
# data, so that a server can check a nonce without keeping state and limit its age (§5.4); the
# ETag of its example does not apply to SIP (RFC 3261 §22.4 item 4).

_NONCE_TIME = struct.Struct(">Q")
_NONCE_SALT = 8
_NONCE_MAC = 16
_NONCE_RAW = _NONCE_TIME.size + _NONCE_SALT + _NONCE_MAC
_NONCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _nonce_mac(secret: bytes, signed: bytes) -> bytes:
    return hmac.new(secret, signed, hashlib.sha256).digest()[:_NONCE_MAC]


def make_nonce(secret: bytes, now: float) -> str:
    """A nonce that :func:`check_nonce` can check with ``secret`` alone.

    ``now`` is the caller's clock in seconds (kept to the millisecond; it must not be negative).
    The nonce is made of token characters, so it needs no escaping.
    """
    if now < 0:
        raise ValueError("now must not be negative")
    signed = _NONCE_TIME.pack(int(now * 1000)) + secrets.token_bytes(_NONCE_SALT)
    raw = signed + _nonce_mac(secret, signed)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def check_nonce(
    secret: bytes, nonce: str, now: float, max_age: float
) -> Literal["ok", "stale", "invalid"]:
    """Whether ``nonce`` came from :func:`make_nonce` with ``secret`` and is still fresh.

    "invalid": not one of ours (malformed or a wrong HMAC) - answer with a new challenge.
    "stale": ours, but older than ``max_age`` seconds, or dated after ``now`` (the clock the
    nonce was made with was not this one) - challenge again with ``stale=true`` when the
    credentials were otherwise right (RFC 7616 §3.3).
    "ok": ours and fresh. Replays within ``max_age`` are not detected here; a server that needs
    that keeps the nonce counts it has seen.
    """
    if not 0 < len(nonce) <= 64 or not _NONCE_CHARS.issuperset(nonce):
        return "invalid"
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except ValueError:
        return "invalid"
    if len(raw) != _NONCE_RAW:
        return "invalid"
    signed, mac = raw[:-_NONCE_MAC], raw[-_NONCE_MAC:]
    if not hmac.compare_digest(mac, _nonce_mac(secret, signed)):
        return "invalid"
    (millis,) = _NONCE_TIME.unpack_from(signed)
    age = now - millis / 1000
    if age > max_age or age < -0.001:
        return "stale"
    return "ok"
