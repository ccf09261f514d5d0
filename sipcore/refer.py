"""REFER and Replaces value models (RFC 3515, RFC 3891, RFC 3892, RFC 4538, RFC 6665), sans-I/O.

Header values with parse and format: ``Refer-To`` (RFC 3515 §2.1), ``Referred-By``
(RFC 3892 §3), ``Replaces`` (RFC 3891 §6.1), ``Target-Dialog`` (RFC 4538 §7), ``Event``
(RFC 6665 §8.2.1, ``refer;id=<cseq>`` for REFER, RFC 3515 §2.4.6) and ``Subscription-State``
(RFC 6665 §8.2.3); the ``message/sipfrag`` status line of REFER NOTIFYs (RFC 3420,
RFC 3515 §2.4.5); and the two halves of the implicit REFER subscription (RFC 3515 §2.4.4) as
transition tables. Every ``parse`` raises only :class:`ParseError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from . import _grammar as g
from .errors import InvalidStateError, ParseError
from .uri import NameAddr, Params, SipUri, Uri, format_params, parse_delta_seconds
from .uri import parse_generic_params as _generic_params

SIPFRAG = "message/sipfrag"
SIPFRAG_CONTENT_TYPE = "message/sipfrag;version=2.0"
# RFC 3261 §19.1.1 hvalue: unreserved and hnv-unreserved stay, everything else is escaped
_HVALUE_SAFE = "!~*'()[]/?:+$"


def _split_value(text: str, where: str) -> tuple[str, Params]:
    """``head *( SEMI generic-param )`` with ``head`` free of ';' (a Call-ID, a token)."""
    text = text.strip(" \t")
    head, _, _ = text.partition(";")
    ptext = text[len(head) :]
    return head.rstrip(" \t"), _generic_params(ptext, where)


def _token_param(params: Params, name: str, where: str) -> str:
    value = params.get(name)
    if value is None or not g.TOKEN_RE.fullmatch(value):
        raise ParseError(f"{where} needs a token {name} parameter")
    return value


def _call_id(text: str, where: str) -> str:
    if not g.CALL_ID_RE.fullmatch(text):
        raise ParseError(f"bad Call-ID in {where}: {text[:80]!r}")
    return text


def _name_addr(text: str, where: str) -> NameAddr:
    return NameAddr.parse(text.strip(" \t"), where=where)


# -- Replaces (RFC 3891 §6.1) and Target-Dialog (RFC 4538 §7) ---------------------------------


@dataclass(frozen=True, slots=True)
class Replaces:
    """``Replaces: callid;to-tag=..;from-tag=..[;early-only]``.

    Tags are seen from the receiver of the header: ``to_tag`` is its local tag and ``from_tag``
    its remote tag (RFC 3891 §3).
    """

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    @classmethod
    def parse(cls, text: str) -> Replaces:
        head, params = _split_value(text, "Replaces")
        call_id = _call_id(head, "Replaces")
        to_tag = _token_param(params, "to-tag", "Replaces")
        from_tag = _token_param(params, "from-tag", "Replaces")
        return cls(call_id, to_tag, from_tag, "early-only" in params)

    @classmethod
    def of_dialog(cls, call_id: str, local_tag: str, remote_tag: str) -> Replaces:
        """The header that replaces *our* dialog at the peer: its local tag is our remote one."""
        return cls(call_id, to_tag=remote_tag, from_tag=local_tag)

    def __str__(self) -> str:
        text = f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}"
        return text + (";early-only" if self.early_only else "")


@dataclass(frozen=True, slots=True)
class TargetDialog:
    """``Target-Dialog: callid;local-tag=..;remote-tag=..`` (RFC 4538 §7), tags as seen by the
    sender of the request."""

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def parse(cls, text: str) -> TargetDialog:
        head, params = _split_value(text, "Target-Dialog")
        return cls(
            _call_id(head, "Target-Dialog"),
            _token_param(params, "local-tag", "Target-Dialog"),
            _token_param(params, "remote-tag", "Target-Dialog"),
        )

    def __str__(self) -> str:
        return f"{self.call_id};local-tag={self.local_tag};remote-tag={self.remote_tag}"


# -- Refer-To (RFC 3515 §2.1) and Referred-By (RFC 3892 §3) -----------------------------------


@dataclass(frozen=True, slots=True)
class ReferTo:
    """``Refer-To: name-addr *( SEMI generic-param )``; URI headers of a SIP target (such as
    ``Replaces``) become headers of the request the referee sends (RFC 3261 §19.1.5)."""

    address: NameAddr

    @classmethod
    def parse(cls, text: str) -> ReferTo:
        refer_to = cls(_name_addr(text, "Refer-To"))
        refer_to.replaces  # noqa: B018 - an escaped Replaces that does not parse is a bad Refer-To
        return refer_to

    @classmethod
    def build(cls, target: Uri | NameAddr, *, replaces: Replaces | None = None) -> ReferTo:
        """A Refer-To for ``target``, with ``replaces`` escaped into its URI headers."""
        address = target if isinstance(target, NameAddr) else NameAddr(target)
        if replaces is not None:
            uri = address.uri
            if not isinstance(uri, SipUri):
                raise ValueError("only a SIP or SIPS target can carry Replaces")
            headers = {k: v for k, v in uri.headers.items() if k.lower() != "replaces"}
            headers["Replaces"] = quote(str(replaces), safe=_HVALUE_SAFE)
            address = address.replace(uri=uri.replace(headers=headers))
        return cls(address)

    @property
    def uri(self) -> Uri:
        return self.address.uri

    @property
    def target(self) -> Uri:
        """The Request-URI of the triggered request: the URI without its headers and
        ``method`` parameter (RFC 3261 §19.1.5)."""
        uri = self.address.uri
        if isinstance(uri, SipUri) and (uri.headers or "method" in uri.params):
            params = {k: v for k, v in uri.params.items() if k != "method"}
            return uri.replace(headers={}, params=params)
        return uri

    @property
    def replaces(self) -> Replaces | None:
        """The unescaped ``Replaces`` URI header (RFC 3891 §3), or None."""
        uri = self.address.uri
        if not isinstance(uri, SipUri):
            return None
        values = [v for k, v in uri.headers.items() if k.lower() == "replaces"]
        return Replaces.parse(unquote(values[0])) if values else None

    def __str__(self) -> str:
        return str(self.address)


@dataclass(frozen=True, slots=True)
class ReferredBy:
    """``Referred-By: referrer-uri *( SEMI generic-param )`` (RFC 3892 §3)."""

    address: NameAddr

    @classmethod
    def parse(cls, text: str) -> ReferredBy:
        return cls(_name_addr(text, "Referred-By"))

    def __str__(self) -> str:
        return str(self.address)


# -- Event and Subscription-State (RFC 6665 §8.2.1, §8.2.3) ------------------------------------


@dataclass(frozen=True, slots=True)
class EventHeader:
    """``Event: package *( SEMI event-param )``; REFER's is ``refer;id=<cseq>``."""

    package: str
    id: str | None = None
    params: Params = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> EventHeader:
        package, params = _split_value(text, "Event")
        if not g.TOKEN_RE.fullmatch(package):
            raise ParseError(f"bad Event package: {package[:80]!r}")
        has_id = "id" in params
        event_id = params.pop("id", None)
        if has_id and (event_id is None or not g.TOKEN_RE.fullmatch(event_id)):
            raise ParseError(f"bad Event id: {event_id!r:.80}")
        return cls(package.lower(), event_id, params)

    def __str__(self) -> str:
        params = dict(self.params)
        if self.id is not None:
            params = {"id": self.id, **params}
        return self.package + format_params(params)


class SubState(enum.Enum):
    ACTIVE = "active"
    PENDING = "pending"
    TERMINATED = "terminated"

    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """``Subscription-State: substate *( SEMI subexp-params )``; an unknown substate counts as
    pending (RFC 6665 §8.2.3 extension-substate)."""

    state: SubState
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None

    @classmethod
    def parse(cls, text: str) -> SubscriptionState:
        value, params = _split_value(text, "Subscription-State")
        if not g.TOKEN_RE.fullmatch(value):
            raise ParseError(f"bad Subscription-State: {value[:80]!r}")
        state = {s.value: s for s in SubState}.get(value.lower(), SubState.PENDING)
        expires = params.get("expires")
        retry = params.get("retry-after")
        reason = params.get("reason")
        if reason is not None and not g.TOKEN_RE.fullmatch(reason):
            raise ParseError(f"bad Subscription-State reason: {reason[:80]!r}")
        return cls(
            state,
            None if expires is None else parse_delta_seconds(expires, "expires"),
            reason.lower() if reason else None,
            None if retry is None else parse_delta_seconds(retry, "retry-after"),
        )

    def __str__(self) -> str:
        params: Params = {}
        if self.reason is not None:
            params["reason"] = self.reason
        if self.expires is not None:
            params["expires"] = str(self.expires)
        if self.retry_after is not None:
            params["retry-after"] = str(self.retry_after)
        return self.state.value + format_params(params)


# -- message/sipfrag (RFC 3420; RFC 3515 §2.4.5) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sipfrag:
    """The status line a REFER NOTIFY carries (headers after it are allowed and ignored)."""

    status: int
    reason: str

    @classmethod
    def parse(cls, body: bytes) -> Sipfrag:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("message/sipfrag is not UTF-8") from None
        line = text.split("\n", 1)[0].rstrip("\r")
        m = g.STATUS_LINE_RE.fullmatch(line)
        if m is None or m.group(1).upper() != g.SIP_VERSION:
            raise ParseError(f"bad message/sipfrag status line: {line[:80]!r}")
        status = int(m.group(2))
        if status < 100:
            raise ParseError(f"bad status in message/sipfrag: {status}")
        return cls(status, m.group(3) or "")

    def __bytes__(self) -> bytes:
        return f"{g.SIP_VERSION} {self.status} {self.reason}\r\n".encode()


# -- the implicit subscription (RFC 3515 §2.4.4), both halves as tables ------------------------


class SubscriberState(enum.Enum):
    """The referrer's view (we sent the REFER)."""

    WAITING = "waiting"  # REFER sent, no final response and no NOTIFY yet
    ACCEPTED = "accepted"  # 2xx received, no NOTIFY yet
    ACTIVE = "active"  # a NOTIFY with an active or pending state arrived
    TERMINATED = "terminated"

    __hash__ = object.__hash__


class SubscriberInput(enum.Enum):
    ACCEPTED = "2xx to REFER"
    REJECTED = "non-2xx final response or no response to REFER"
    NOTIFY = "NOTIFY, subscription active or pending"
    FINAL_NOTIFY = "NOTIFY, subscription terminated"
    EXPIRED = "no NOTIFY before the deadline"
    ENDED = "the dialog ended"

    __hash__ = object.__hash__


class Report(enum.Enum):
    """What a transition tells the application."""

    NONE = "none"
    ACCEPTED = "accepted"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed out"

    __hash__ = object.__hash__


_S, _SI, _R = SubscriberState, SubscriberInput, Report
# A NOTIFY may overtake the 2xx to the REFER (RFC 3515 §2.4.4 ties the subscription to the
# REFER, not to its response), so WAITING takes NOTIFYs and ACTIVE/TERMINATED take a late 2xx.
SUBSCRIBER_TABLE: dict[tuple[SubscriberState, SubscriberInput], tuple[Report, SubscriberState]] = {
    (_S.WAITING, _SI.ACCEPTED): (_R.ACCEPTED, _S.ACCEPTED),
    (_S.WAITING, _SI.REJECTED): (_R.FAILED, _S.TERMINATED),
    (_S.WAITING, _SI.NOTIFY): (_R.PROGRESS, _S.ACTIVE),
    (_S.WAITING, _SI.FINAL_NOTIFY): (_R.COMPLETED, _S.TERMINATED),
    (_S.WAITING, _SI.EXPIRED): (_R.TIMED_OUT, _S.TERMINATED),
    (_S.WAITING, _SI.ENDED): (_R.NONE, _S.TERMINATED),
    (_S.ACCEPTED, _SI.NOTIFY): (_R.PROGRESS, _S.ACTIVE),
    (_S.ACCEPTED, _SI.FINAL_NOTIFY): (_R.COMPLETED, _S.TERMINATED),
    (_S.ACCEPTED, _SI.EXPIRED): (_R.TIMED_OUT, _S.TERMINATED),
    (_S.ACCEPTED, _SI.ENDED): (_R.NONE, _S.TERMINATED),
    (_S.ACTIVE, _SI.ACCEPTED): (_R.ACCEPTED, _S.ACTIVE),
    (_S.ACTIVE, _SI.NOTIFY): (_R.PROGRESS, _S.ACTIVE),
    (_S.ACTIVE, _SI.FINAL_NOTIFY): (_R.COMPLETED, _S.TERMINATED),
    (_S.ACTIVE, _SI.EXPIRED): (_R.TIMED_OUT, _S.TERMINATED),
    (_S.ACTIVE, _SI.ENDED): (_R.NONE, _S.TERMINATED),
    (_S.TERMINATED, _SI.ACCEPTED): (_R.NONE, _S.TERMINATED),
    (_S.TERMINATED, _SI.ENDED): (_R.NONE, _S.TERMINATED),
}


class NotifierState(enum.Enum):
    """The referee's view (we received the REFER)."""

    RECEIVED = "received"  # waiting for the application to accept or reject
    ACTIVE = "active"  # 202 sent; NOTIFYs report the triggered request
    TERMINATED = "terminated"

    __hash__ = object.__hash__


class NotifierInput(enum.Enum):
    ACCEPT = "accept"  # 202 and NOTIFY 100 Trying
    REJECT = "reject"  # a non-2xx final response
    PROGRESS = "provisional status"  # NOTIFY, still active
    FINAL = "final status"  # NOTIFY terminated;reason=noresource
    EXPIRED = "subscription expired"  # NOTIFY terminated;reason=timeout
    GONE = "dialog ended or NOTIFY refused"  # nothing more can be sent

    __hash__ = object.__hash__


_N, _NI = NotifierState, NotifierInput
NOTIFIER_TABLE: dict[tuple[NotifierState, NotifierInput], NotifierState] = {
    (_N.RECEIVED, _NI.ACCEPT): _N.ACTIVE,
    (_N.RECEIVED, _NI.REJECT): _N.TERMINATED,
    (_N.RECEIVED, _NI.GONE): _N.TERMINATED,
    (_N.ACTIVE, _NI.PROGRESS): _N.ACTIVE,
    (_N.ACTIVE, _NI.FINAL): _N.TERMINATED,
    (_N.ACTIVE, _NI.EXPIRED): _N.TERMINATED,
    (_N.ACTIVE, _NI.GONE): _N.TERMINATED,
    (_N.TERMINATED, _NI.GONE): _N.TERMINATED,
}


def subscriber_step(
    state: SubscriberState, event: SubscriberInput
) -> tuple[Report, SubscriberState] | None:
    """The transition for a network or timer input; None when the table has none (the input
    is refused, e.g. a NOTIFY for a terminated subscription gets 481)."""
    return SUBSCRIBER_TABLE.get((state, event))


def notifier_step(state: NotifierState, event: NotifierInput) -> NotifierState:
    """The transition for an application or network input; raises InvalidStateError when the
    table has none (e.g. notifying after the final NOTIFY)."""
    try:
        return NOTIFIER_TABLE[(state, event)]
    except KeyError:
        raise InvalidStateError(f"refer subscription {state.value}: cannot {event.value}") from None


__all__ = [
    "NOTIFIER_TABLE",
    "SIPFRAG",
    "SIPFRAG_CONTENT_TYPE",
    "SUBSCRIBER_TABLE",
    "EventHeader",
    "NotifierInput",
    "NotifierState",
    "ReferTo",
    "ReferredBy",
    "Replaces",
    "Report",
    "Sipfrag",
    "SubState",
    "SubscriberInput",
    "SubscriberState",
    "SubscriptionState",
    "TargetDialog",
    "notifier_step",
    "subscriber_step",
]
