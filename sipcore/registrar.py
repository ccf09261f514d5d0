"""The embedded registrar (RFC 3261 §10.3, RFC 5626 §6), sans-I/O: the location table, digest
authentication with stateless nonces, and REGISTER processing.

This is the embedded default server for demos and tests, not a production server: deployments
put Kamailio in front of the clients, and ``tests/interop/kamailio/kamailio.cfg`` is the
behaviour followed here. :mod:`sipcore.proxy` routes requests to the bindings kept here and
:mod:`sipcore.server` runs both on sockets.

- :class:`LocationTable`: bindings per address of record, each with its expiry (absolute, on the
  caller's clock) and the flow its REGISTER came from.
- :class:`DigestAuthenticator`: Digest challenges (MD5 and SHA-256, RFC 8760) with stateless
  nonces (:func:`~sipcore.digest_server.make_nonce`) and their verification.
- :class:`Registrar`: REGISTER in, response out (§10.3): bindings keyed by Contact URI, or by
  +sip.instance / reg-id, with Min-Expires (423), ``*`` removal and out-of-order detection.

The AOR is the user part alone (Kamailio's ``use_domain`` off): ``sip:bob@anything`` is bob.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .bearer import BearerAuthenticator, TokenValidator
from .digest_server import check_nonce, make_challenge, make_nonce, verify
from .errors import ParseError
from .flow import Flow
from .headers import AuthHeader
from .message import (
    Request,
    Response,
    build_response,
    generate_tag,
)
from .push import PushNotice
from .uri import NameAddr, SipUri, Uri

__all__ = [
    "AuthResult",
    "Binding",
    "DigestAuthenticator",
    "LocationTable",
    "ProxyConfig",
    "Registrar",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyConfig:
    """Settings of the embedded registrar and proxy."""

    domain: str = "127.0.0.1"
    """Realm of every challenge (§22.1) and the domain the registrar serves."""
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    """User name -> password; the user name is also the AOR's user part."""
    invite_auth: bool = True
    """Challenge initial requests other than REGISTER with 407 (§22.3)."""
    algorithms: tuple[str, ...] = ("MD5", "SHA-256")
    """Digest algorithms offered, one challenge each, in this order (RFC 8760 §2.4). MD5 comes
    first because SIP.js, JsSIP and SIPp answer only the topmost challenge, and only MD5;
    clients that rank by strength (:func:`sipcore.auth.select_challenge`) pick SHA-256."""
    nonce_max_age: float = 300.0
    """Seconds a nonce stays fresh; older ones get a challenge with ``stale=true``."""
    min_expires: int = 60
    """Shorter registrations get 423 with Min-Expires (§10.3 step 7)."""
    max_expires: int = 3600
    """Longer registrations are cut down to this."""
    default_expires: int = 3600
    """Lifetime of a binding whose REGISTER names none (§10.3 step 7)."""
    timer_c: float = 180.0
    """Timer C of a forwarded INVITE (§16.6 step 11: more than 3 minutes in the RFC)."""
    record_route: bool = True
    """Stay on the path of the dialogs set up through us (§16.6 step 4)."""
    advertise: str | None = None
    """Host written in Via and Record-Route when a listener is bound to a wildcard address."""
    server: str = "sipwebrtc-embedded"
    """Server header of the responses made here."""
    token_validator: TokenValidator | None = field(default=None, repr=False)
    """Accept ``Authorization: Bearer`` tokens on REGISTER (RFC 8898): ``(user, token) ->
    "ok" | "invalid" | "expired"``. A refused token gets 401 with a Bearer challenge saying
    why (RFC 6750 §3.1); digest credentials keep working beside it."""
    push_handler: Callable[[PushNotice], None] | None = field(default=None, repr=False)
    """Called with a :class:`~sipcore.push.PushNotice` when an INVITE is for a user whose
    only binding is a push binding without a live flow (RFC 8599 §5.6); the INVITE waits
    for the UA to re-register, at most ``push_wait`` seconds."""
    push_wait: float = 30.0
    """Seconds an INVITE waits for a pushed UA to re-register before 480."""


# -- location -----------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Binding:
    """One Contact bound to an AOR (§10.3), with the flow its REGISTER came from."""

    aor: str
    contact: NameAddr
    """The Contact as registered, without its ``expires`` parameter."""
    flow: Flow
    """Where the REGISTER came from: requests for the binding go there (RFC 5626 §5.3)."""
    expires_at: float
    call_id: str
    cseq: int
    instance: str | None = None
    """RFC 5626 +sip.instance, without quotes and angle brackets."""
    reg_id: int | None = None

    @property
    def uri(self) -> SipUri:
        uri = self.contact.uri
        assert isinstance(uri, SipUri)
        return uri

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies the binding among those of its AOR: the instance and reg-id (RFC
        5626 §6), the instance alone, or the Contact URI (§10.3 step 7)."""
        if self.instance is not None:
            if self.reg_id is not None:
                return ("outbound", self.instance, str(self.reg_id))
            return ("instance", self.instance)
        return ("uri", *_uri_key(self.uri))

    def remaining(self, now: float) -> int:
        """Whole seconds left, rounded up; rounded to the microsecond first, so that the float
        error of ``(now + 600) - now`` does not report 601."""
        return max(0, math.ceil(round(self.expires_at - now, 6)))

    def reported(self, now: float) -> NameAddr:
        """The Contact as a 200 to REGISTER lists it, with the time left (§10.3 step 8)."""
        return self.contact.replace(
            params={**self.contact.params, "expires": str(self.remaining(now))}
        )


def _uri_key(uri: SipUri) -> tuple[str, str, str, str, str]:
    return (
        uri.scheme,
        uri.user or "",
        uri.host.lower(),
        str(uri.port or ""),
        uri.transport or "",
    )


def _same_target(a: SipUri, b: SipUri) -> bool:
    """Contact matching for routing: scheme, user, host and port (parameters aside)."""
    return (
        a.scheme == b.scheme
        and a.user == b.user
        and a.host.lower() == b.host.lower()
        and a.port == b.port
    )


class LocationTable:
    """Bindings per AOR. Expired bindings are purged whenever the AOR is read."""

    def __init__(self) -> None:
        self._aors: dict[str, list[Binding]] = {}

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """The live bindings of ``aor``, highest q first (ties in registration order)."""
        bindings = self._aors.get(aor)
        if not bindings:
            return []
        live = [b for b in bindings if b.expires_at > now]
        if len(live) != len(bindings):
            if live:
                self._aors[aor] = live
            else:
                del self._aors[aor]
        return sorted(live, key=lambda b: -(b.contact.q if b.contact.q is not None else 1.0))

    def get(self, aor: str, key: tuple[str, ...], now: float) -> Binding | None:
        return next((b for b in self.lookup(aor, now) if b.key == key), None)

    def save(self, binding: Binding) -> None:
        """Add ``binding``, replacing the one with the same key."""
        bindings = self._aors.setdefault(binding.aor, [])
        for i, existing in enumerate(bindings):
            if existing.key == binding.key:
                bindings[i] = binding
                return
        bindings.append(binding)

    def remove(self, aor: str, key: tuple[str, ...]) -> None:
        bindings = [b for b in self._aors.get(aor, []) if b.key != key]
        if bindings:
            self._aors[aor] = bindings
        else:
            self._aors.pop(aor, None)

    def clear(self, aor: str) -> None:
        self._aors.pop(aor, None)

    def find_contact(self, uri: Uri, now: float) -> Binding | None:
        """The live binding whose Contact is ``uri`` (a Request-URI of an in-dialog request)."""
        if not isinstance(uri, SipUri):
            return None
        for aor in list(self._aors):
            for binding in self.lookup(aor, now):
                if _same_target(binding.uri, uri):
                    return binding
        return None

    def flow_closed(self, flow: Flow) -> list[Binding]:
        """Forget the bindings registered over a connection that closed: it was the only way
        to reach them (RFC 5626 §5.3, RFC 7118 §5). UDP has no connections to lose."""
        if not flow.reliable:
            return []
        removed: list[Binding] = []
        for aor in list(self._aors):
            keep: list[Binding] = []
            for binding in self._aors[aor]:
                (removed if binding.flow == flow else keep).append(binding)
            if keep:
                self._aors[aor] = keep
            else:
                del self._aors[aor]
        return removed

    def aors(self, now: float) -> list[str]:
        return [aor for aor in list(self._aors) if self.lookup(aor, now)]

    def __len__(self) -> int:
        return sum(len(bindings) for bindings in self._aors.values())


# -- authentication -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome of checking a request's credentials."""

    user: str | None
    """The authenticated user name, or None: challenge the request."""
    stale: bool = False
    """Right credentials with an expired nonce: challenge with ``stale=true`` (RFC 7616 §3.3)."""


class DigestAuthenticator:
    """Digest challenges and their verification for one realm (§22, RFC 7616, RFC 8760)."""

    def __init__(
        self,
        realm: str,
        users: Mapping[str, str],
        *,
        algorithms: Iterable[str] = ("MD5", "SHA-256"),
        max_age: float = 300.0,
        secret: bytes | None = None,
    ) -> None:
        self.realm = realm
        self.users = users
        self.algorithms = tuple(algorithms)
        self.max_age = max_age
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def challenges(self, now: float, *, proxy: bool, stale: bool = False) -> list[tuple[str, str]]:
        """WWW-Authenticate (401) or Proxy-Authenticate (407) headers: one per algorithm, all
        with one fresh nonce (§22.1, RFC 8760 §2.4)."""
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        nonce = make_nonce(self._secret, now)
        return [
            (name, make_challenge(self.realm, algorithm=alg, nonce=nonce, stale=stale))
            for alg in self.algorithms
        ]

    def authenticate(self, request: Request, now: float, *, proxy: bool) -> AuthResult:
        """Check the Authorization (or Proxy-Authorization) credentials for our realm."""
        try:
            credentials = request.proxy_authorization if proxy else request.authorization
        except ParseError:
            return AuthResult(None)
        stale = False
        for header in credentials:
            params = header.params
            if header.scheme.lower() != "digest" or params.get("realm") != self.realm:
                continue
            password = self.users.get(params.get("username", ""))
            if password is None:
                continue
            freshness = check_nonce(self._secret, params.get("nonce", ""), now, self.max_age)
            if freshness == "invalid":
                continue
            if not verify(
                header,
                method=request.method,
                password=password,
                body=request.body,
                expected_realm=self.realm,
            ):
                continue
            if freshness == "stale":
                stale = True
                continue
            return AuthResult(params["username"])
        return AuthResult(None, stale)

    def consume(self, request: Request) -> None:
        """Remove our realm's Proxy-Authorization before forwarding (§22.3: credentials are
        for the proxy that asked for them; Kamailio's consume_credentials)."""
        lines = request.headers.get_lines("Proxy-Authorization")
        if not lines:
            return
        keep = []
        for line in lines:
            try:
                ours = AuthHeader.parse(line).params.get("realm") == self.realm
            except ParseError:
                ours = False
            if not ours:
                keep.append(line)
        request.headers.remove("Proxy-Authorization")
        for line in keep:
            request.headers.add("Proxy-Authorization", line)


# -- registrar ------------------------------------------------------------------------------------


class Registrar:
    """The REGISTER processing of §10.3 over a :class:`LocationTable`."""

    def __init__(
        self,
        config: ProxyConfig,
        location: LocationTable | None = None,
        auth: DigestAuthenticator | None = None,
    ) -> None:
        self.config = config
        self.location = location if location is not None else LocationTable()
        self.auth = auth or DigestAuthenticator(
            config.domain,
            config.users,
            algorithms=config.algorithms,
            max_age=config.nonce_max_age,
        )
        self.bearer = (
            BearerAuthenticator(config.domain, config.token_validator)
            if config.token_validator is not None
            else None
        )

    def register(self, request: Request, flow: Flow, now: float) -> Response:
        """The final response to ``request`` (a REGISTER that came from ``flow``); malformed
        headers (a bad Contact, expires or q) get 400 and change nothing."""
        try:
            return self._register(request, flow, now)
        except ParseError as exc:
            return reply(self.config, request, 400, bad_request_reason(exc))

    def _register(self, request: Request, flow: Flow, now: float) -> Response:
        cfg = self.config
        # §10.3 step 5: the AOR is the To URI
        to_uri = request.to.uri
        aor = to_uri.user if isinstance(to_uri, SipUri) else None
        # §10.3 step 3 (authorization; steps 1-2 accept any domain): every registration is
        # authenticated, by a Bearer token (RFC 8898 §2.3) or by digest
        verdict = None
        if self.bearer is not None and aor is not None:
            verdict = self.bearer.authenticate(request, aor)
            if verdict is not None and verdict != "ok":
                return reply(self.config, request, 401, headers=[self.bearer.challenge(verdict)])
        user = aor if verdict == "ok" else None
        if user is None:
            result = self.auth.authenticate(request, now, proxy=False)
            user = result.user
            if user is None:
                challenges = self.auth.challenges(now, proxy=False, stale=result.stale)
                if self.bearer is not None:
                    challenges.append(self.bearer.challenge())
                return reply(self.config, request, 401, headers=challenges)
        if aor is None:
            return reply(self.config, request, 404, "Unknown AOR")
        # step 3: the authenticated user may change the AOR's bindings
        if aor != user:
            return reply(self.config, request, 403, "Forbidden auth ID")

        # §10.3 step 6: "*" removes every binding, and only with Expires: 0
        if request.contact_star:
            if request.expires != 0:
                return reply(self.config, request, 400, "Invalid wildcard Contact")
            self.location.clear(aor)
            return self._ok(request, aor, now, outbound=False)

        # §10.3 step 7: the lifetime of each binding, checked before anything changes
        header_expires = request.expires
        updates: list[tuple[NameAddr, int]] = []
        for contact in request.contacts:
            if not isinstance(contact.uri, SipUri):
                return reply(self.config, request, 400, "Contact must be a SIP URI")
            contact.q  # noqa: B018 - parsed now, so that a bad q is refused here (400)
            expires = contact.expires
            if expires is None:
                expires = header_expires if header_expires is not None else cfg.default_expires
            if 0 < expires < cfg.min_expires:
                return reply(
                    self.config, request, 423, headers=[("Min-Expires", str(cfg.min_expires))]
                )
            updates.append((contact, min(expires, cfg.max_expires)))

        outbound = "outbound" in _supported(request)
        bindings = [
            self._binding(aor, contact, expires, request, flow, now, outbound=outbound)
            for contact, expires in updates
        ]
        # §10.3 step 7: an update from the same Call-ID must have a higher CSeq
        for binding in bindings:
            existing = self.location.get(aor, binding.key, now)
            if (
                existing is not None
                and existing.call_id == binding.call_id
                and existing.cseq >= binding.cseq
            ):
                return reply(self.config, request, 500, "Out of order REGISTER")
        for binding, (_, expires) in zip(bindings, updates, strict=True):
            if expires == 0:
                self.location.remove(aor, binding.key)
            else:
                self.location.save(binding)
        return self._ok(request, aor, now, outbound=any(b.reg_id is not None for b in bindings))

    def _binding(
        self,
        aor: str,
        contact: NameAddr,
        expires: int,
        request: Request,
        flow: Flow,
        now: float,
        *,
        outbound: bool,
    ) -> Binding:
        params = {k: v for k, v in contact.params.items() if k != "expires"}
        instance = params.get("+sip.instance")
        if instance is not None:
            instance = instance.strip('"').strip("<>") or None
        reg_id: int | None = None
        # RFC 5626 §6: reg-id counts only with +sip.instance and "outbound" in Supported
        reg_text = params.get("reg-id")
        if outbound and instance is not None and reg_text is not None and reg_text.isdigit():
            reg_id = int(reg_text)
        return Binding(
            aor=aor,
            contact=contact.replace(params=params),
            flow=flow,
            expires_at=now + expires,
            call_id=request.call_id,
            cseq=request.cseq.number,
            instance=instance,
            reg_id=reg_id,
        )

    def _ok(self, request: Request, aor: str, now: float, *, outbound: bool) -> Response:
        # §10.3 step 8: 200 with every current binding and its remaining lifetime
        headers = [("Contact", str(b.reported(now))) for b in self.location.lookup(aor, now)]
        if outbound:
            headers.append(("Require", "outbound"))  # RFC 5626 §6
        return reply(self.config, request, 200, headers=headers)


def reply(
    config: ProxyConfig,
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """A response the embedded server makes itself (§8.2.6), with its Server header."""
    fields = [*(headers or []), ("Server", config.server)]
    return build_response(request, status, reason, to_tag=generate_tag(), headers=fields)


def _supported(request: Request) -> list[str]:
    try:
        return request.supported
    except ParseError:
        return []


def bad_request_reason(exc: ParseError) -> str:
    """A reason phrase from a parse error: one line, printable, short."""
    text = "".join(c if c.isprintable() else " " for c in str(exc))
    return f"Bad Request: {text}"[:100]
