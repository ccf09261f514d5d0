"""Session timers (RFC 4028): negotiation of the interval and refresher, and the deadlines.

Every INVITE, re-INVITE and UPDATE is a session refresh request. Its UAC proposes an interval
in ``Session-Expires`` (with ``Min-SE``, §7.1); the UAS may lower it down to Min-SE, answers
422 below its own Min-SE (§8.1) and names the refresher in the 2xx (§9): ``uac`` or ``uas`` of
that request. The refresher refreshes at half the interval; the other side ends the session
(BYE) when no refresh arrived by ``interval - min(32, interval/3)`` (§10).

Pure: headers in, headers and deadlines out; the UA core (``sipcore.ua``) sends the requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _grammar as g
from .errors import ParseError
from .events import Event
from .message import Message, Request
from .uri import parse_delta_seconds

if TYPE_CHECKING:
    from .ua import Call

MIN_SE_FLOOR = 90
"""§4: no Session-Expires or Min-SE may be below 90 seconds."""


@dataclass(frozen=True, slots=True)
class SessionTimerConfig:
    """How this UA uses session timers."""

    enabled: bool = True
    """Offer (``Supported: timer``, Session-Expires, Min-SE) and accept session timers."""
    session_expires: int = 1800
    """The interval proposed in requests and the highest accepted as UAS, seconds (§7.1)."""
    min_se: int = MIN_SE_FLOOR
    """The smallest interval accepted; lower ones get 422 (§8.1), seconds."""
    refresher: str | None = None
    """Who should refresh: ``"local"`` (us), ``"remote"`` (the peer) or None (no preference:
    a UAC leaves it to the UAS, a UAS hands it to a UAC that supports timers)."""

    def __post_init__(self) -> None:
        if self.min_se < MIN_SE_FLOOR or self.session_expires < self.min_se:
            raise ValueError("session timers need 90 <= min_se <= session_expires")
        if self.refresher not in (None, "local", "remote"):
            raise ValueError("refresher must be 'local', 'remote' or None")


DEFAULT_SESSION_TIMER = SessionTimerConfig()


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """§4: ``Session-Expires = delta-seconds *(SEMI se-params)``, se-params being
    ``refresher=uac|uas`` or generic parameters."""

    interval: int
    refresher: str | None = None

    @classmethod
    def parse(cls, value: str) -> SessionExpires:
        head, *params = value.split(";")
        interval = parse_delta_seconds(head.strip(), "Session-Expires")
        refresher = None
        for param in params:
            name, _, arg = param.partition("=")
            name, arg = name.strip().lower(), arg.strip()
            if not g.TOKEN_RE.fullmatch(name) or (arg and not g.TOKEN_RE.fullmatch(arg)):
                raise ParseError(f"bad Session-Expires parameter: {param!r}")
            if name == "refresher":
                if arg.lower() not in ("uac", "uas"):
                    raise ParseError(f"bad refresher: {arg!r}")
                refresher = arg.lower()
        return cls(interval, refresher)

    def __str__(self) -> str:
        suffix = f";refresher={self.refresher}" if self.refresher else ""
        return f"{self.interval}{suffix}"


def session_expires(message: Message) -> SessionExpires | None:
    """The Session-Expires of a message (compact form ``x``); ParseError when malformed."""
    value = message.headers.get("session-expires")
    return None if value is None else SessionExpires.parse(value)


def min_se(message: Message) -> int | None:
    """§5: ``Min-SE = delta-seconds *(SEMI generic-param)``; ParseError when malformed."""
    value = message.headers.get("min-se")
    return None if value is None else parse_delta_seconds(value.split(";", 1)[0].strip(), "Min-SE")


def supports_timer(message: Message) -> bool:
    try:
        return "timer" in message.supported or "timer" in message.require
    except ParseError:
        return False


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The outcome of one refresh request: its interval and whether we refresh."""

    interval: int
    local_refresh: bool


def uas_negotiate(
    request: Request, config: SessionTimerConfig
) -> tuple[int | None, Negotiated | None, list[tuple[str, str]]]:
    """§8.1, §9: for a session refresh request we answer, (Min-SE for a 422 or None, the
    outcome for our 2xx or None, header fields for that 2xx). ParseError on bad headers."""
    if not config.enabled:
        return None, None, []
    proposed = session_expires(request)
    floor = max(min_se(request) or MIN_SE_FLOOR, config.min_se)
    if proposed is not None and proposed.interval < config.min_se:
        return config.min_se, None, []  # §8.1: 422 Session Interval Too Small
    peer = supports_timer(request)
    interval = min(
        proposed.interval if proposed else config.session_expires, config.session_expires
    )
    interval = max(interval, floor)
    if not peer:
        refresher = "uas"  # §9: a UAC without timers cannot refresh
    elif proposed is not None and proposed.refresher is not None:
        refresher = proposed.refresher
    else:
        refresher = "uas" if config.refresher == "local" else "uac"
    headers = [("Session-Expires", str(SessionExpires(interval, refresher)))]
    if peer:
        headers.append(("Require", "timer"))
    return None, Negotiated(interval, refresher == "uas"), headers


def uac_outcome(response: Message) -> Negotiated | None:
    """§7.2: from the 2xx to our refresh request; None (no session timer) when it has no
    Session-Expires. A missing refresher leaves the refresh to us. ParseError when bad."""
    negotiated = session_expires(response)
    if negotiated is None:
        return None
    return Negotiated(negotiated.interval, negotiated.refresher != "uas")


class SessionTimer:
    """The session timer of one call: the request headers we send, and one deadline."""

    def __init__(self, config: SessionTimerConfig) -> None:
        self.config = config
        self.min_se = config.min_se  # raised by a 422 (§7.3)
        self.interval: int | None = None  # None until a 2xx negotiated one
        self.local_refresh = False
        self.deadline: float | None = None
        self.retried_422 = False

    def request_headers(self, *, initial: bool) -> list[tuple[str, str]]:
        """§7.1, §7.4: Session-Expires and Min-SE of a session refresh request we send."""
        if not self.config.enabled:
            return []
        if initial or self.interval is None:
            interval = max(self.config.session_expires, self.min_se)
            preference = self.config.refresher
            refresher = {"local": "uac", "remote": "uas"}.get(preference or "")
        else:
            interval = self.interval  # §7.4: the current interval, the current refresher
            refresher = "uac" if self.local_refresh else "uas"
        return [
            ("Session-Expires", str(SessionExpires(interval, refresher))),
            ("Min-SE", str(self.min_se)),
        ]

    def raise_min_se(self, value: int) -> bool:
        """§7.3: a 422 named a higher Min-SE; False when the retry was already made."""
        if self.retried_422 or value <= 0:
            return False
        self.retried_422 = True
        self.min_se = max(self.min_se, value)
        return True

    def start(self, outcome: Negotiated | None, now: float) -> None:
        """Arm the timer after a 2xx to a session refresh request (§10); None stops it."""
        if outcome is None:
            self.interval, self.deadline = None, None
            return
        self.interval, self.local_refresh = outcome.interval, outcome.local_refresh
        if outcome.local_refresh:
            self.deadline = now + outcome.interval / 2
        else:
            self.deadline = now + outcome.interval - min(32.0, outcome.interval / 3)

    def due(self, now: float) -> str | None:
        """``"refresh"`` or ``"expire"`` when the deadline has come, else None."""
        if self.deadline is None or self.deadline > now:
            return None
        self.deadline = None
        return "refresh" if self.local_refresh else "expire"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRefreshed(Event):
    """A session refresh request (INVITE, re-INVITE or UPDATE) succeeded: the session now
    lasts ``interval`` seconds and ``refresher`` (``"local"`` or ``"remote"``) refreshes it."""

    call: Call
    interval: int
    refresher: str


__all__ = [
    "DEFAULT_SESSION_TIMER",
    "MIN_SE_FLOOR",
    "Negotiated",
    "SessionExpires",
    "SessionRefreshed",
    "SessionTimer",
    "SessionTimerConfig",
    "min_se",
    "session_expires",
    "supports_timer",
    "uac_outcome",
    "uas_negotiate",
]
