"""The REGISTER machine of one binding (RFC 3261 §10.2, RFC 5626 §4.2, RFC 8898 tokens).

Sans-I/O like the rest of the core: it builds requests for the driver to send through a client
transaction, takes their final responses (or the transaction's failure) with ``now``, and keeps
one deadline: the refresh, or a retry that a 503 Retry-After asked for.

    UNREGISTERED --register--> REGISTERING --2xx--> REGISTERED --refresh--> REGISTERING ...
    REGISTERED --unregister--> UNREGISTERING --2xx--> UNREGISTERED
    any --401/407 unanswerable, 403, 404, 423 loop, timeout...--> TERMINATED (with a reason)

Events, as the web SDK names them: ``RegistrationSent`` (sent_request), ``Registered``,
``Unregistered`` and ``RegistrationTerminated`` (terminated, with the reason); an expired or
invalid token is ``AuthenticationFailed`` first, so that a token provider can be asked again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from .bearer import bearer
from .digest_client import DigestClient
from .events import Event
from .headers import AuthHeader, Via
from .message import (
    Request,
    Response,
    build_request,
    generate_branch,
    generate_call_id,
    generate_tag,
)
from .uri import NameAddr, Params, SipUri


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationConfig:
    """What one binding registers. Only ``aor`` is required."""

    aor: SipUri
    """Address of record: To and From of every REGISTER (§10.2)."""
    registrar: SipUri | None = None
    """Request-URI; defaults to the domain of the AOR (§10.2: user and '@' dropped)."""
    username: str | None = None
    """Digest user name; defaults to the AOR user."""
    password: str | None = field(default=None, repr=False)
    """Digest password (never logged: the field stays out of repr)."""
    display_name: str | None = None
    expires: int = 600
    """Requested binding lifetime, seconds."""
    refresh_fraction: float = 0.8
    """Refresh after this fraction of the granted lifetime (with at least 5 s to spare)."""
    instance_id: str | None = None
    """RFC 5626 +sip.instance: ``urn:uuid:...``, stable per installation."""
    reg_id: int | None = 1
    """RFC 5626 reg-id; used only with an instance_id."""
    contact_params: tuple[tuple[str, str | None], ...] = ()
    """Extra Contact header parameters (e.g. RFC 8599 push parameters)."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers of every REGISTER (e.g. the tenant of a multi-tenant platform)."""
    user_agent: str | None = None
    max_retry_after: float = 300.0
    """Longest 503 Retry-After honoured before giving up (seconds)."""
    max_retries: int = 5
    """Retry-After answers honoured in a row before giving up; the n-th retry waits at least
    2^(n-1) s whatever the server asks, so that ``Retry-After: 0`` is no busy loop."""

    def __post_init__(self) -> None:
        if self.expires < 0 or not 0.1 <= self.refresh_fraction <= 0.95:
            raise ValueError("expires must be >= 0 and refresh_fraction within [0.1, 0.95]")


class RegState(enum.Enum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    UNREGISTERING = "unregistering"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationSent(Event):
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered(Event):
    expires: int
    """Lifetime the registrar granted, seconds."""
    contacts: tuple[NameAddr, ...]
    """Every binding of the AOR the registrar reported (§10.2.4)."""
    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class Unregistered(Event):
    response: Response | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationTerminated(Event):
    """Registration failed and will not be retried by the machine itself."""

    reason: str
    status: int | None = None
    response: Response | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed(Event):
    """The registrar refused our credentials. ``kind``: "credentials" (digest), "invalid" or
    "expired" (a Bearer token, RFC 8898 / RFC 6750 §3.1)."""

    kind: str
    reason: str


# Status codes a REGISTER does not recover from by itself (the rest end the attempt too).
_RETRY_AFTER_STATUSES = frozenset({480, 500, 503, 600})


class Registration:
    """The REGISTER client of one binding."""

    def __init__(
        self,
        config: RegistrationConfig,
        *,
        token: Callable[[], str | None] | None = None,
    ) -> None:
        self.config = config
        self.state = RegState.UNREGISTERED
        self.call_id = generate_call_id()  # §10.2.4: one Call-ID per boot cycle
        self.cseq = 0
        self.expires = config.expires
        self.granted: int | None = None
        self._token = token
        self._digest = (
            DigestClient(config.username or config.aor.user or "", config.password or "")
            if config.password is not None
            else None
        )
        self._deadline: float | None = None
        self._pending: Request | None = None
        self._unregister_all = False
        self._last_min_expires: int | None = None
        self._retries = 0  # Retry-After answers in a row (§21.5.4)
        self._transport = "UDP"
        self._via_host = "invalid.invalid"
        self._via_port: int | None = None
        self._contact_uri = config.aor
        self.events: list[Event] = []

    # -- where we are ---------------------------------------------------------------------
    def set_flow(
        self, transport: str, via_host: str, via_port: int | None, contact: SipUri
    ) -> None:
        """The transport, Via sent-by and Contact URI of the flow REGISTERs go out on."""
        self._transport = transport
        self._via_host = via_host
        self._via_port = via_port
        self._contact_uri = contact

    def set_password(self, password: str) -> None:
        """Answer digest challenges with ``password`` from now on (a rotated secret); the
        cached challenges go, so the next REGISTER is challenged afresh (§22.1)."""
        user = self.config.username or self.config.aor.user or ""
        self._digest = DigestClient(user, password)

    # -- requests ------------------------------------------------------------------------
    def register(self, now: float) -> Request:
        """A REGISTER that adds (or refreshes) our binding."""
        if self.state is RegState.UNREGISTERING:
            raise ValueError("unregister in progress")
        self.state = RegState.REGISTERING
        self._deadline = None
        self._last_min_expires = None
        self._retries = 0
        return self._send(self._build(self.expires))

    def unregister(self, now: float, *, all_bindings: bool = False) -> Request | None:
        """A REGISTER removing our binding (or every binding of the AOR, with ``*``, §10.2.2);
        None when nothing is registered and nothing is on the way."""
        self._deadline = None
        if self.state in (RegState.UNREGISTERED, RegState.TERMINATED) and not all_bindings:
            self.state = RegState.UNREGISTERED
            return None
        self.state = RegState.UNREGISTERING
        self._unregister_all = all_bindings
        return self._send(self._build(0, star=all_bindings))

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> Request | None:
        """The refresh (or Retry-After) deadline: a new REGISTER to send, if it is due."""
        if self._deadline is None or self._deadline > now:
            return None
        self._deadline = None
        if self.state in (RegState.REGISTERED, RegState.REGISTERING):
            self.state = RegState.REGISTERING
            return self._send(self._build(self.expires))
        return None

    # -- outcomes -------------------------------------------------------------------------
    def response(self, response: Response, now: float) -> Request | None:
        """The final response to the last REGISTER; returns a new request to send, if any."""
        request = self._pending
        if request is None or response.cseq.number != request.cseq.number:
            return None  # a late answer to a request we have moved on from
        status = response.status_code
        if status < 200:
            return None
        self._pending = None
        if 200 <= status < 300:
            return self._success(response, now)
        if status in (401, 407):
            return self._challenged(response, request)
        if status == 423 and self.state is RegState.REGISTERING:
            # §10.2.8: retry with at least Min-Expires, once per value
            minimum = response.min_expires
            if minimum is not None and minimum > self.expires and minimum != self._last_min_expires:
                self._last_min_expires = minimum
                self.expires = minimum
                return self._send(self._build(self.expires))
            self._terminate(f"{status} {response.reason}: no usable Min-Expires", response)
            return None
        if status in _RETRY_AFTER_STATUSES:
            # §21.5.4, RFC 5626 §4.5: wait as asked (with a growing floor), a bounded number of
            # times in a row
            retry = retry_after_delay(response)
            self._retries += 1
            if (
                retry is not None
                and retry <= self.config.max_retry_after
                and self._retries <= self.config.max_retries
            ):
                self._deadline = now + max(retry, 2.0 ** (self._retries - 1))
                self.state = RegState.REGISTERING
                return None
        self._terminate(f"{status} {response.reason}", response)
        return None

    def failed(self, reason: str, status: int | None = None) -> None:
        """The transaction of the last REGISTER timed out (408) or the transport failed (503)."""
        self._pending = None
        self._end(reason, status, None)

    def flow_lost(self) -> None:
        """The flow is gone: the binding is no longer reachable; the driver reconnects and
        calls ``register()`` again (RFC 5626 §4.4.1)."""
        self._pending = None
        self._deadline = None
        if self.state in (RegState.REGISTERED, RegState.REGISTERING):
            self.state = RegState.UNREGISTERED

    # -- internals ------------------------------------------------------------------------
    def _success(self, response: Response, now: float) -> Request | None:
        self._retries = 0
        if self.state is RegState.UNREGISTERING:
            self.state = RegState.UNREGISTERED
            self.granted = None
            self.events.append(Unregistered(response=response))
            return None
        granted = self._granted_expires(response)
        if granted is None or granted == 0:
            self._terminate("the registrar did not keep our binding", response)
            return None
        self.state = RegState.REGISTERED
        self.granted = granted
        lead = max(granted * (1 - self.config.refresh_fraction), min(5.0, granted / 2))
        self._deadline = now + granted - lead
        self.events.append(
            Registered(expires=granted, contacts=tuple(response.contacts), response=response)
        )
        return None

    def _granted_expires(self, response: Response) -> int | None:
        """Our binding's expiry from the 200 (§10.2.4): its Contact's expires parameter, else the
        Expires header, else what we asked for."""
        ours = self._contact_uri
        instance = self.config.instance_id
        for contact in response.contacts:
            mine = False
            if instance is not None:
                value = contact.params.get("+sip.instance")
                mine = value is not None and value.strip('"').strip("<>") == instance
            if not mine and isinstance(contact.uri, SipUri):
                mine = contact.uri.equivalent(ours) or (
                    contact.uri.user == ours.user and contact.uri.host == ours.host
                )
            if mine:
                expires = contact.expires
                return expires if expires is not None else (response.expires or self.expires)
        if response.contacts:
            return None  # bindings listed, ours not among them
        return response.expires if response.expires is not None else self.expires

    def _challenged(self, response: Response, request: Request) -> Request | None:
        challenges = response.www_authenticate or response.proxy_authenticate
        bearer = next((c for c in challenges if c.scheme.lower() == "bearer"), None)
        if bearer is not None and self._token is not None:
            sent = any(
                line.lstrip().lower().startswith("bearer ")
                for line in request.headers.get_lines("Authorization")
            )
            if not sent and "error" not in bearer.params:
                # RFC 8898 §2.3: a challenge to a REGISTER sent without a token (the provider
                # had none then): answer it once with the token the provider gives now
                unregistering = self.state is RegState.UNREGISTERING
                retry = self._build(0 if unregistering else self.expires, authorize=False)
                if retry.headers.get_lines("Authorization"):
                    return self._send(retry)
            kind = _bearer_kind(bearer)
            self.events.append(AuthenticationFailed(kind=kind, reason=_bearer_reason(bearer)))
            self._terminate(f"{response.status_code} token {kind}", response)
            return None
        if self._digest is None:
            self.events.append(AuthenticationFailed(kind="credentials", reason="no credentials"))
            self._terminate(f"{response.status_code} {response.reason}: no credentials", response)
            return None
        header = self._digest.respond(response, request)
        if header is None:
            # §22.2: the same challenge again means the credentials are wrong; never loop
            self.events.append(
                AuthenticationFailed(kind="credentials", reason="credentials rejected")
            )
            self._terminate(f"{response.status_code} {response.reason}", response)
            return None
        unregistering = self.state is RegState.UNREGISTERING
        retry = self._build(
            0 if unregistering else self.expires,
            star=unregistering and self._unregister_all,
            authorize=False,
        )
        retry.headers.add(*header)
        return self._send(retry)

    def _terminate(self, reason: str, response: Response) -> None:
        self._end(reason, response.status_code, response)

    def _end(self, reason: str, status: int | None, response: Response | None) -> None:
        """No more REGISTERs: an unregistration is done, a registration terminated."""
        self._deadline = None
        if self.state is RegState.UNREGISTERING:
            self.state = RegState.UNREGISTERED
            self.events.append(Unregistered(response=response))
            return
        self.state = RegState.TERMINATED
        self.events.append(RegistrationTerminated(reason=reason, status=status, response=response))

    def _send(self, request: Request) -> Request:
        self._pending = request
        self.events.append(RegistrationSent(request=request))
        return request

    def _build(self, expires: int, *, star: bool = False, authorize: bool = True) -> Request:
        cfg = self.config
        self.cseq += 1
        registrar = cfg.registrar or SipUri(cfg.aor.host, scheme=cfg.aor.scheme, port=cfg.aor.port)
        via_params: Params = {"branch": generate_branch(), "rport": None}
        via = Via(self._transport, self._via_host, self._via_port, via_params)
        aor = NameAddr(cfg.aor, cfg.display_name)
        headers: list[tuple[str, str]] = []
        if star:
            headers.append(("Contact", "*"))
        else:
            params: Params = {}
            if cfg.instance_id is not None:
                params["+sip.instance"] = f'"<{cfg.instance_id}>"'
                if cfg.reg_id is not None:
                    params["reg-id"] = str(cfg.reg_id)
            params.update(cfg.contact_params)
            params["expires"] = str(expires)
            headers.append(("Contact", str(NameAddr(self._contact_uri, None, params))))
        headers.append(("Expires", str(expires)))
        if cfg.instance_id is not None:
            headers.append(("Supported", "path, outbound, gruu"))
        if cfg.user_agent:
            headers.append(("User-Agent", cfg.user_agent))
        headers.extend(cfg.headers)
        request = build_request(
            "REGISTER",
            registrar,
            from_addr=aor.with_tag(generate_tag()),
            to_addr=aor,
            call_id=self.call_id,
            cseq=self.cseq,
            via=via,
            headers=headers,
        )
        if self._token is not None:
            token = self._token()
            if token:
                request.headers.add("Authorization", bearer(token))
        elif self._digest is not None and authorize:
            for name, value in self._digest.authorize(request):
                request.headers.add(name, value)
        return request


def retry_after_delay(response: Response) -> float | None:
    """Retry-After = delta-seconds [ comment ] *( SEMI retry-param ) (§20.33)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    digits = value.split("(", 1)[0].split(";", 1)[0].strip()
    return float(digits) if digits.isdigit() and len(digits) < 8 else None


def _bearer_kind(challenge: AuthHeader) -> str:
    """RFC 6750 §3.1: error="invalid_token" with a description that says whether it expired."""
    description = challenge.params.get("error_description", "").lower()
    return "expired" if "expired" in description else "invalid"


def _bearer_reason(challenge: AuthHeader) -> str:
    error = challenge.params.get("error", "")
    description = challenge.params.get("error_description", "")
    return f"{error}: {description}".strip(": ") or "token rejected"
