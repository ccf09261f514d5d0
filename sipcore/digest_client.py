"""The Digest state of a SIP client between requests (RFC 3261 §22.2, §22.3, RFC 7616 §3.4).

:class:`DigestClient` keeps the per-realm state a UAC needs: it answers 401/407 at most once per
nonce, retries silently on ``stale=true`` and authorizes later requests pre-emptively with the
cached nonce and an increasing nonce count. Reading challenges and computing the credentials is
:mod:`sipcore.auth`. Pure: nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from .auth import (
    NC_MAX,
    DigestChallenge,
    answer_challenge,
    is_digest,
    read_challenge,
    select_challenge,
)
from .errors import ParseError
from .headers import AuthHeader
from .message import Request, Response

__all__ = ["CredentialLookup", "DigestClient"]

CredentialLookup = Callable[[str], tuple[str, str] | None]
"""``realm -> (username, password)``, or None to use the client's default credentials."""

_NO_CHALLENGE_METHODS = frozenset({"ACK", "CANCEL"})
_MAX_ENTRIES = 256


@dataclass(slots=True)
class _Session:
    """What one realm (in one scope) answered last: its challenge and nonce count."""

    challenge: DigestChallenge
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
            challenge = read_challenge(chosen)
            if not self._may_answer(proxy, challenge, sent.get(realm)):
                return None  # §22.1: never re-attempt with credentials just rejected
            answer = self._answer(proxy, challenge, request)
            if answer is not None:
                answers.append((credentials_name, answer))
        return answers

    def _may_answer(self, proxy: bool, challenge: DigestChallenge, sent: AuthHeader | None) -> bool:
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

    def _answer(self, proxy: bool, challenge: DigestChallenge, request: Request) -> str | None:
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
        if session.nc >= NC_MAX:
            # the nonce is used up: forget it and let the server challenge again
            self._sessions.pop(key, None)
            return None
        session.nc += 1
        # the cnonce stays the same for one nonce, so H(A1) of a -sess algorithm (computed from
        # the first cnonce after the challenge, RFC 7616 §3.4.2) matches either reading
        return answer_challenge(
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
