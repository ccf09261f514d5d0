"""HTTP Digest authentication for SIP, client side (RFC 3261 §22, RFC 7616, RFC 8760).

Pure functions and small classes; nothing here does I/O or reads a clock.

- :func:`authorization` answers one challenge header value with a credentials header value.
- :func:`select_challenge` picks the challenge to answer among several Digest challenges.
- :class:`DigestClient` keeps the per-realm state a UAC needs: it answers 401/407 at most once per
  nonce, retries silently on ``stale=true`` and authorizes later requests pre-emptively with the
  cached nonce and an increasing nonce count.

The digest computation itself (:func:`request_digest`, :func:`digest_algorithm`) is shared with
the server side, :mod:`sipcore.digest_server` (challenges, verification, stateless nonces). The
Bearer scheme (RFC 8898) is in :mod:`sipcore.bearer`.

Every failure to answer a challenge raises :class:`AuthenticationError`; its messages never
contain a password or a token.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import AuthenticationError, ParseError
from .headers import AuthHeader
from .message import Request, Response
from .uri import quote_string

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "SUPPORTED_QOPS",
    "CredentialLookup",
    "DigestAlgorithm",
    "DigestClient",
    "authorization",
    "digest_algorithm",
    "is_digest",
    "quote_param",
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
_NC_MAX = 0xFFFFFFFF  # nc-value = 8LHEX (RFC 7616 §3.4)


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
class _Challenge:
    """A Digest challenge, checked and normalised (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: DigestAlgorithm
    algorithm_token: str | None
    """``algorithm`` as the server wrote it (echoed verbatim), None when absent."""
    qop: str | None
    """The qop this client will use: "auth", "auth-int" or None (RFC 2069 compatibility)."""
    opaque: str | None
    stale: bool
    userhash: bool
    utf8: bool


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


def _read_challenge(header: AuthHeader) -> _Challenge:
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
    return _Challenge(
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
            rank = _read_challenge(header).algorithm.rank
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


def _credentials(
    challenge: _Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    body: bytes,
    cnonce: str | None,
    nc: int,
) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge``."""
    if not 1 <= nc <= _NC_MAX:
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
    return _credentials(
        _read_challenge(header),
        method=method,
        uri=uri,
        username=username,
        password=password,
        body=body,
        cnonce=cnonce,
        nc=nc,
    )


# -- client state (RFC 3261 §22.2, §22.3) ------------------------------------------------------

CredentialLookup = Callable[[str], tuple[str, str] | None]
"""``realm -> (username, password)``, or None to use the client's default credentials."""

_NO_CHALLENGE_METHODS = frozenset({"ACK", "CANCEL"})
_MAX_ENTRIES = 256


@dataclass(slots=True)
class _Session:
    """What one realm (in one scope) answered last: its challenge and nonce count."""

    challenge: _Challenge
    username: str
    password: str = field(repr=False)
    cnonce: str = ""
    nc: int = 0


_SessionKey = tuple[bool, str, str]  # (proxy, realm, scope)
_IssueKey = tuple[bool, str, str]  # (proxy, realm, response digest)
_NonceKey = tuple[bool, str, str]  # (proxy, realm, nonce)
_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(table: OrderedDict[_K, _V], key: _K, value: _V) -> None:
    """Insert into a bounded table, forgetting the oldest entries."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > _MAX_ENTRIES:
        table.popitem(last=False)


class DigestClient:
    """The Digest state of a UAC: cached challenges, nonce counts and the retry rule.

    ``respond`` turns a 401/407 into the header to add to the retried request (a copy of the
    request with CSeq incremented, RFC 3261 §22.2); ``authorize`` gives the headers for a new
    request from the cached challenges.

    Retry rule (RFC 3261 §22.1: "A UAC MUST NOT re-attempt requests with the credentials that
    have just been rejected (though the request may be retried if the nonce was stale)"): when
    the challenged request carried an answer of ours for the realm, the client retries only if
    the new challenge says ``stale=true`` and has a nonce it never answered; a repeated nonce
    never gets a retry. Credentials sent pre-emptively by ``authorize`` are not an answer to
    this server's challenge, so a challenge to them gets one fresh answer, which then falls
    under the rule above. A wrong password therefore costs at most one retry and never loops.

    Scope of the cache: WWW-Authenticate credentials are reused for requests with the same To
    URI (§22.2); Proxy-Authenticate credentials for requests with the same Call-ID, or for any
    request when the realm is listed in ``proxy_realms`` (the outbound proxy's realm, §22.3).
    ACK and CANCEL are never challenged and get nothing here: the ACK of a 2xx duplicates the
    INVITE's credentials (§22.1).

    The password is kept private: it appears in no repr, str or exception message.
    """

    __slots__ = ("_answered", "_default", "_issued", "_lookup", "_proxy_realms", "_sessions")

    def __init__(
        self,
        username: str,
        password: str,
        *,
        lookup: CredentialLookup | None = None,
        proxy_realms: Iterable[str] = (),
    ) -> None:
        """``lookup`` may supply other credentials per realm; when it returns None (or is
        None), ``username`` / ``password`` are used."""
        self._default = (username, password)
        self._lookup = lookup
        self._proxy_realms = frozenset(proxy_realms)
        self._sessions: OrderedDict[_SessionKey, _Session] = OrderedDict()
        # credentials issued: True when answering a challenge, False when pre-emptive
        self._issued: OrderedDict[_IssueKey, bool] = OrderedDict()
        # nonces answered through respond()
        self._answered: OrderedDict[_NonceKey, bool] = OrderedDict()

    @property
    def username(self) -> str:
        """The default username."""
        return self._default[0]

    def __repr__(self) -> str:
        realms = sorted({realm for _, realm, _ in self._sessions})
        return f"DigestClient(username={self.username!r}, realms={realms!r})"

    def reset(self) -> None:
        """Forget every cached challenge (e.g. after the credentials changed)."""
        self._sessions.clear()
        self._issued.clear()
        self._answered.clear()

    # -- answering challenges ---------------------------------------------------------------
    def respond(self, response: Response, request: Request) -> tuple[str, str] | None:
        """The header to add to the retry of ``request`` after ``response``, or None.

        A 401 is answered with ("Authorization", value) from its WWW-Authenticate challenges, a
        407 with ("Proxy-Authorization", value) from its Proxy-Authenticate challenges. None
        means the request must not be retried: another status, no challenge this client can
        answer, a method that is never challenged, or credentials that were just rejected (see
        the class docstring). With challenges for several realms the first answerable realm
        is answered; :meth:`respond_all` answers them all.
        """
        if response.status_code == 401:
            answers = self._answer_kind(response, request, proxy=False)
        elif response.status_code == 407:
            answers = self._answer_kind(response, request, proxy=True)
        else:
            return None
        return answers[0] if answers else None

    def respond_all(self, response: Response, request: Request) -> list[tuple[str, str]] | None:
        """Like :meth:`respond`, with one header per challenged realm (RFC 3261 §22.3: a forking
        proxy aggregates the challenges of every branch into one 401/407)."""
        if response.status_code not in (401, 407):
            return None
        www = self._answer_kind(response, request, proxy=False)
        proxy = self._answer_kind(response, request, proxy=True)
        if www is None or proxy is None:
            return None
        answers = www + proxy
        return answers or None

    def _answer_kind(
        self, response: Response, request: Request, *, proxy: bool
    ) -> list[tuple[str, str]] | None:
        """Answers to one kind of challenge header; None when a realm rejected our answer."""
        if request.method in _NO_CHALLENGE_METHODS:
            return None
        challenge_name, credentials_name = (
            ("Proxy-Authenticate", "Proxy-Authorization")
            if proxy
            else ("WWW-Authenticate", "Authorization")
        )
        by_realm: dict[str, list[AuthHeader]] = {}
        for header in _parse_lines(response.headers.get_lines(challenge_name)):
            realm = header.params.get("realm")
            if is_digest(header) and realm is not None:
                by_realm.setdefault(realm, []).append(header)
        sent: dict[str, AuthHeader] = {}
        for header in _parse_lines(request.headers.get_lines(credentials_name)):
            realm = header.params.get("realm")
            if is_digest(header) and realm is not None:
                sent.setdefault(realm, header)
        answers: list[tuple[str, str]] = []
        for realm, headers in by_realm.items():
            chosen = select_challenge(headers)
            if chosen is None:
                continue
            challenge = _read_challenge(chosen)
            if not self._may_answer(proxy, challenge, sent.get(realm)):
                return None  # §22.1: never re-attempt with credentials just rejected
            answer = self._answer(proxy, challenge, request)
            if answer is not None:
                answers.append((credentials_name, answer))
        return answers

    def _may_answer(self, proxy: bool, challenge: _Challenge, sent: AuthHeader | None) -> bool:
        if sent is None:
            return True  # the request carried nothing for this realm
        sent_nonce = sent.params.get("nonce", "")
        if sent_nonce == challenge.nonce:
            return False  # the same nonce again: our response was refused
        key = (proxy, challenge.realm, sent.params.get("response", ""))
        if not self._issued.get(key, True):
            return True  # pre-emptive credentials: one fresh answer to the server's challenge
        # after an answer of ours: only a stale nonce, and only a nonce not answered before
        return challenge.stale and (proxy, challenge.realm, challenge.nonce) not in self._answered

    def _answer(self, proxy: bool, challenge: _Challenge, request: Request) -> str | None:
        scope = self._scope(proxy, challenge.realm, request)
        if scope is None:
            return None
        key = (proxy, challenge.realm, scope)
        session = self._sessions.get(key)
        if session is not None and session.challenge.nonce == challenge.nonce:
            # the same nonce for another request: the nonce count goes on (RFC 7616 §3.4)
            session.challenge = challenge
        else:
            username, password = self._credentials_for(challenge.realm)
            session = _Session(challenge, username, password, cnonce=secrets.token_hex(16))
        _remember(self._sessions, key, session)
        value = self._use(key, session, request)
        if value is not None:
            _remember(self._issued, (proxy, challenge.realm, _response_param(value)), True)
            _remember(self._answered, (proxy, challenge.realm, challenge.nonce), True)
        return value

    # -- pre-emptive authorization --------------------------------------------------------------
    def authorize(self, request: Request) -> list[tuple[str, str]]:
        """Headers authorizing ``request`` with the cached challenges, each with its nonce count
        incremented (RFC 7616 §3.4: nc counts the requests sent with one nonce). Empty when
        nothing is cached for the request's scope, and always for ACK and CANCEL."""
        if request.method in _NO_CHALLENGE_METHODS:
            return []
        headers: list[tuple[str, str]] = []
        for key, session in list(self._sessions.items()):
            proxy, realm, scope = key
            if scope != self._scope(proxy, realm, request):
                continue
            value = self._use(key, session, request)
            if value is None:
                continue
            _remember(self._issued, (proxy, realm, _response_param(value)), False)
            headers.append(("Proxy-Authorization" if proxy else "Authorization", value))
        return headers

    # -- helpers --------------------------------------------------------------------------------
    def _use(self, key: _SessionKey, session: _Session, request: Request) -> str | None:
        """Credentials for ``request`` with the session's next nonce count."""
        challenge = session.challenge
        if session.nc >= _NC_MAX:
            # the nonce is used up: forget it and let the server challenge again
            self._sessions.pop(key, None)
            return None
        session.nc += 1
        # the cnonce stays the same for one nonce, so H(A1) of a -sess algorithm (computed from
        # the first cnonce after the challenge, RFC 7616 §3.4.2) matches either reading
        return _credentials(
            challenge,
            method=request.method,
            uri=str(request.uri),
            username=session.username,
            password=session.password,
            body=request.body,
            cnonce=session.cnonce,
            nc=session.nc,
        )

    def _scope(self, proxy: bool, realm: str, request: Request) -> str | None:
        """The cache scope of ``request`` for one realm: To URI (§22.2) or Call-ID (§22.3)."""
        try:
            if not proxy:
                return str(request.to.uri)
            if realm in self._proxy_realms:
                return ""
            return request.call_id
        except ParseError:
            return None

    def _credentials_for(self, realm: str) -> tuple[str, str]:
        if self._lookup is not None:
            found = self._lookup(realm)
            if found is not None:
                return found
        return self._default


def _parse_lines(lines: Iterable[str]) -> list[AuthHeader]:
    """Each header line parsed on its own, skipping malformed ones (receive paths never raise)."""
    headers: list[AuthHeader] = []
    for line in lines:
        try:
            headers.append(AuthHeader.parse(line))
        except ParseError:
            continue
    return headers


def _response_param(credentials: str) -> str:
    """The response digest of credentials this client wrote: it names them uniquely (with or
    without qop, where nc is absent)."""
    return AuthHeader.parse(credentials).params.get("response", "")
