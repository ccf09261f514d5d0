"""HTTP Digest authentication for SIP, client side (RFC 3261 §22, RFC 7616, RFC 8760).

Pure functions and small classes; nothing here does I/O or reads a clock.

- :func:`authorization` answers one challenge header value with a credentials header value.
- :func:`select_challenge` picks the challenge to answer among several Digest challenges.
- :func:`read_challenge` and :func:`answer_challenge` are the two steps of :func:`authorization`,
  for callers that keep the checked :class:`DigestChallenge`.

The per-realm state a UAC keeps between requests (RFC 3261 §22.2, §22.3: nonce counts, the retry
rule, pre-emptive credentials) is :class:`sipcore.digest_client.DigestClient`. The digest
computation itself (:func:`request_digest`, :func:`digest_algorithm`) is shared with the server
side, :mod:`sipcore.digest_server` (challenges, verification, stateless nonces). The Bearer scheme
(RFC 8898) is in :mod:`sipcore.bearer`.

Every failure to answer a challenge raises :class:`AuthenticationError`; its messages never
contain a password or a token.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import AuthenticationError, ParseError
from .headers import AuthHeader
from .uri import quote_string

__all__ = [
    "NC_MAX",
    "SUPPORTED_ALGORITHMS",
    "SUPPORTED_QOPS",
    "DigestAlgorithm",
    "DigestChallenge",
    "answer_challenge",
    "authorization",
    "digest_algorithm",
    "is_digest",
    "quote_param",
    "read_challenge",
    "request_digest",
    "select_challenge",
    "userhash",
]


# -- algorithms (RFC 7616 §3.3 and the §6.1 registry; RFC 8760 §2.1) ---------------------------


@dataclass(frozen=True, slots=True)
class DigestAlgorithm:
    """A Digest ``algorithm``: its name, its hash function and how strong it is."""

    name: str
    """The canonical token, as written in the IANA registry."""
    hash_name: str
    """The hashlib name of the hash function."""
    rank: int
    """Strength used by :func:`select_challenge`; ``-sess`` variants rank with their base."""
    sess: bool
    """A ``-sess`` variant: H(A1) also covers nonce and cnonce (RFC 7616 §3.4.2)."""

    def hash(self, data: str | bytes) -> str:
        """H(data): the lower-case hex digest (RFC 7616 §3.2, RFC 8760 §2.2)."""
        if isinstance(data, str):
            # values parsed from the wire keep undecodable octets as surrogates; restore them
            data = data.encode("utf-8", "surrogateescape")
        return hashlib.new(self.hash_name, data, usedforsecurity=False).hexdigest()


def _hash_available(name: str) -> bool:
    try:
        hashlib.new(name, usedforsecurity=False)
    except ValueError:
        return False
    return True


_ALL_ALGORITHMS = (
    DigestAlgorithm("MD5", "md5", 1, False),
    DigestAlgorithm("MD5-sess", "md5", 1, True),
    DigestAlgorithm("SHA-256", "sha256", 2, False),
    DigestAlgorithm("SHA-256-sess", "sha256", 2, True),
    # SHA-512/256 (FIPS 180-4 §5.3.6, RFC 8760 §2.1) is OpenSSL's "sha512_256"; hashlib has no
    # named constructor for it, only hashlib.new(). Without it the two names are unsupported.
    DigestAlgorithm("SHA-512-256", "sha512_256", 3, False),
    DigestAlgorithm("SHA-512-256-sess", "sha512_256", 3, True),
)
_ALGORITHMS = {alg.name.upper(): alg for alg in _ALL_ALGORITHMS if _hash_available(alg.hash_name)}

SUPPORTED_ALGORITHMS: tuple[str, ...] = tuple(alg.name for alg in _ALGORITHMS.values())
"""The Digest ``algorithm`` values this module can answer and verify, weakest first."""

_MD5 = _ALGORITHMS["MD5"]
SUPPORTED_QOPS = ("auth", "auth-int")
"""The qop values this module can answer and verify (RFC 7616 §3.3)."""
NC_MAX = 0xFFFFFFFF
"""The largest nonce count: nc-value = 8LHEX (RFC 7616 §3.4)."""


def digest_algorithm(token: str | None) -> DigestAlgorithm:
    """The algorithm named by an ``algorithm`` parameter (any case), MD5 when absent.

    Raises :class:`AuthenticationError` for an unsupported algorithm.
    """
    # RFC 7616 §3.3: "If the algorithm parameter is not present, it is assumed to be MD5"
    if token is None:
        return _MD5
    alg = _ALGORITHMS.get(token.upper())
    if alg is None:
        raise AuthenticationError(f"unsupported digest algorithm: {token[:40]!r}")
    return alg


# -- challenges -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """A Digest challenge, checked and normalised (RFC 7616 §3.3)."""

    realm: str
    """The protection space the credentials are for."""
    nonce: str
    """The server's nonce, answered as written."""
    algorithm: DigestAlgorithm
    """The algorithm to answer with (MD5 when the challenge names none)."""
    algorithm_token: str | None
    """``algorithm`` as the server wrote it (echoed verbatim), None when absent."""
    qop: str | None
    """The qop this client will use: "auth", "auth-int" or None (RFC 2069 compatibility)."""
    opaque: str | None
    """The ``opaque`` value to echo unchanged, None when absent."""
    stale: bool
    """``stale=true``: the previous credentials were refused only for their old nonce."""
    userhash: bool
    """``userhash=true``: the username is sent hashed (RFC 7616 §3.4.4)."""
    utf8: bool
    """``charset=UTF-8``: username and password are prepared as in RFC 7616 §4."""


def is_digest(header: AuthHeader) -> bool:
    """Whether a challenge or credentials header uses the Digest scheme (any case)."""
    return header.scheme.lower() == "digest"


def _choose_qop(offered: str | None) -> str | None:
    """The qop to answer with (RFC 7616 §3.3, RFC 3261 §22.4).

    ``auth`` is preferred whenever offered: ``auth-int`` is used only when the challenge offers
    nothing else. It protects the body alone, not the headers, and fails as soon as anything on
    the path rewrites the body (SDP rewriting for NAT traversal is common). No qop parameter
    means the RFC 2069 form.
    """
    if offered is None:
        return None
    values = [v.strip().lower() for v in offered.split(",") if v.strip()]
    if not values:
        return None  # qop="" from a broken server: the same as no qop
    for qop in SUPPORTED_QOPS:
        if qop in values:
            return qop
    raise AuthenticationError(f"no supported qop in {offered[:40]!r}")


def read_challenge(header: AuthHeader) -> DigestChallenge:
    """One parsed challenge header, checked and normalised.

    Raises :class:`AuthenticationError` when it cannot be answered: not Digest, no realm or
    nonce, an unknown algorithm, no usable qop, or a ``-sess`` algorithm without a qop.
    """
    if not is_digest(header):
        raise AuthenticationError(f"unsupported authentication scheme: {header.scheme[:40]!r}")
    params = header.params
    realm = params.get("realm")
    nonce = params.get("nonce")
    if realm is None or nonce is None:
        # RFC 7616 §3.3: realm and nonce are required in a challenge
        raise AuthenticationError("digest challenge without realm or nonce")
    token = params.get("algorithm")
    algorithm = digest_algorithm(token)
    qop = _choose_qop(params.get("qop"))
    if algorithm.sess and qop is None:
        # RFC 3261 §22.4 item 8: algorithms that depend on the cnonce need a qop, since no
        # cnonce is sent without one (RFC 2617 §3.2.2)
        raise AuthenticationError(f"{algorithm.name} challenge without qop")
    charset = params.get("charset")
    return DigestChallenge(
        realm=realm,
        nonce=nonce,
        algorithm=algorithm,
        algorithm_token=token,
        qop=qop,
        opaque=params.get("opaque"),
        # RFC 7616 §3.3: stale and userhash are case-insensitive "true" / "false"
        stale=params.get("stale", "").lower() == "true",
        userhash=params.get("userhash", "").lower() == "true",
        # RFC 7616 §3.3: "The only allowed value is 'UTF-8'"; anything else is ignored
        utf8=charset is not None and charset.upper() == "UTF-8",
    )


def select_challenge(challenges: Sequence[AuthHeader]) -> AuthHeader | None:
    """The challenge to answer among ``challenges``, or None when none can be answered.

    Challenges of other schemes, and Digest challenges with an unknown algorithm, without realm
    or nonce, or offering only unknown qop values, are ignored. Among the rest the strongest
    algorithm wins (SHA-512-256 > SHA-256 > MD5, each ``-sess`` variant ranked with its base);
    ties go to the earlier challenge.

    RFC 8760 §2.4 has a UAC use "the topmost header field that it supports unless a local policy
    dictates otherwise". Ranking by strength is that local policy: challenges carry no integrity
    protection, so an on-path attacker could put MD5 on top (the downgrade RFC 8760 §3 warns of),
    while the server's own order still decides between equally strong challenges.
    """
    best: AuthHeader | None = None
    best_rank = 0
    for header in challenges:
        try:
            rank = read_challenge(header).algorithm.rank
        except AuthenticationError:
            continue
        if rank > best_rank:
            best, best_rank = header, rank
    return best


# -- the digest computation (RFC 7616 §3.4.1 - §3.4.4, RFC 2617 §3.2.2) ------------------------


def _prepare(text: str, utf8: bool) -> str:
    """Username and password as hashed when the server sent ``charset=UTF-8`` (RFC 7616 §4).

    RFC 7613's UsernameCasePreserved and OpaqueString profiles are reduced to the steps that
    change usual input: non-ASCII spaces become U+0020 and the string is NFC-normalised. The
    octets are UTF-8 in every case (SIP is UTF-8 throughout, RFC 3261 §7.3.1).
    """
    if not utf8:
        return text
    if not text.isascii():
        text = "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)
    return unicodedata.normalize("NFC", text)


def request_digest(
    algorithm: DigestAlgorithm,
    *,
    username: str,
    realm: str,
    password: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    nc: str,
    cnonce: str,
    body: bytes,
) -> str:
    """The request-digest (the ``response`` parameter) computed from its inputs as written."""
    # RFC 7616 §3.4.2: A1 = unq(username) ":" unq(realm) ":" passwd; for -sess,
    # A1 = H(unq(username) ":" unq(realm) ":" passwd) ":" unq(nonce) ":" unq(cnonce)
    ha1 = algorithm.hash(f"{username}:{realm}:{password}")
    if algorithm.sess:
        ha1 = algorithm.hash(f"{ha1}:{nonce}:{cnonce}")
    # RFC 7616 §3.4.3: A2 = Method ":" request-uri, plus ":" H(entity-body) for auth-int
    # (RFC 3261 §22.4 item 7: the hash of an empty body is H(""))
    if qop is not None and qop.lower() == "auth-int":
        ha2 = algorithm.hash(f"{method}:{uri}:{algorithm.hash(body)}")
    else:
        ha2 = algorithm.hash(f"{method}:{uri}")
    if qop is None:
        # RFC 2617 §3.2.2.1 (RFC 2069 compatibility): KD(H(A1), unq(nonce) ":" H(A2))
        return algorithm.hash(f"{ha1}:{nonce}:{ha2}")
    # RFC 7616 §3.4.1: KD(H(A1), unq(nonce) ":" nc ":" unq(cnonce) ":" unq(qop) ":" H(A2))
    return algorithm.hash(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def userhash(username: str, realm: str, algorithm: str = "SHA-256") -> str:
    """The hashed username of RFC 7616 §3.4.4: H(unq(username) ":" unq(realm)).

    A server that offers ``userhash=true`` keeps this value to find the account. Raises
    :class:`AuthenticationError` for an unsupported algorithm.
    """
    return digest_algorithm(algorithm).hash(f"{username}:{realm}")


def quote_param(value: str) -> str:
    """A quoted-string (RFC 3261 §25.1) that cannot break the header line: raises
    :class:`AuthenticationError` for CR, LF or NUL."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise AuthenticationError("a credential value contains a line break or NUL")
    return quote_string(value)


def answer_challenge(
    challenge: DigestChallenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    body: bytes,
    cnonce: str | None,
    nc: int,
) -> str:
    """The Authorization / Proxy-Authorization value answering a checked ``challenge``.

    :func:`authorization` without the parsing; ``cnonce`` is random when None and a qop is
    used. Raises :class:`AuthenticationError` for ``nc`` outside 1..:data:`NC_MAX` or a
    credential value containing CR, LF or NUL.
    """
    if not 1 <= nc <= NC_MAX:
        raise AuthenticationError(f"nonce count out of range: {nc}")
    qop = challenge.qop
    if qop is None:
        cnonce = None  # RFC 2617 §3.2.2: no cnonce and no nc without a qop
    elif cnonce is None:
        cnonce = secrets.token_hex(16)
    nc_value = f"{nc:08x}"  # RFC 7616 §3.4: exactly 8 hex digits
    utf8 = challenge.utf8
    user = _prepare(username, utf8)
    response = request_digest(
        challenge.algorithm,
        username=user,
        realm=challenge.realm,
        password=_prepare(password, utf8),
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc_value,
        cnonce=cnonce or "",
        body=body,
    )
    if challenge.userhash:
        # RFC 7616 §3.4.4: the username is hashed after every other hash calculation (A1 above
        # used the plain username)
        user = challenge.algorithm.hash(f"{user}:{challenge.realm}")
    # RFC 7616 §3.4: username, realm, nonce, uri, response, cnonce and opaque are quoted
    # strings; algorithm, qop, nc and userhash are tokens
    parts = [
        f"username={quote_param(user)}",
        f"realm={quote_param(challenge.realm)}",
        f"nonce={quote_param(challenge.nonce)}",
        f"uri={quote_param(uri)}",
        f"response={quote_param(response)}",
    ]
    if challenge.algorithm_token is not None:
        parts.append(f"algorithm={challenge.algorithm_token}")
    if qop is not None and cnonce is not None:
        parts += [f"cnonce={quote_param(cnonce)}", f"qop={qop}", f"nc={nc_value}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={quote_param(challenge.opaque)}")  # RFC 7616 §3.4: echoed unchanged
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def authorization(
    challenge: str,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    body: bytes = b"",
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """The credentials answering one Digest challenge (RFC 3261 §22.4, RFC 7616, RFC 8760).

    ``challenge`` is a WWW-Authenticate or Proxy-Authenticate header value; the result is the
    matching Authorization or Proxy-Authorization header value. ``uri`` is the Request-URI as
    sent, ``body`` the message body (hashed for ``qop=auth-int``), ``nc`` the nonce count of
    this use of the nonce and ``cnonce`` the client nonce (random when None and a qop is used).

    Algorithms: MD5 (the default when absent), SHA-256, SHA-512-256 and their ``-sess``
    variants. ``qop=auth`` is used when offered, ``auth-int`` only when it is the only choice;
    without a qop the RFC 2069 form is sent (no cnonce, no nc). ``userhash=true`` and
    ``charset=UTF-8`` are honoured (RFC 7616 §3.4.4, §4). A server that sends a qop gets one
    back (RFC 3261 §22.4 item 8).

    Raises :class:`AuthenticationError` when the challenge cannot be answered: not Digest,
    malformed, an unknown algorithm, no usable qop, or ``nc`` outside 1..2**32-1.
    """
    try:
        header = AuthHeader.parse(challenge)
    except ParseError as exc:
        raise AuthenticationError(f"malformed challenge: {exc}") from exc
    return answer_challenge(
        read_challenge(header),
        method=method,
        uri=uri,
        username=username,
        password=password,
        body=body,
        cnonce=cnonce,
        nc=nc,
    )
