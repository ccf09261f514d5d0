"""UAS request checks (RFC 3261 §8.2.1-§8.2.3) and the OPTIONS answer (§11.2).

Before a UAS core acts on a new request it inspects the method, the URI scheme, Require and
the body, in that order, then whether an INVITE's answer may carry SDP; the first failing check
names the response to send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParseError
from .message import Request, Response, build_response
from .uri import AbsoluteUri

# Methods of RFC 3261 and its common extensions: known, even where a UA does not implement them
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip


# The methods this UA handles (§20.5 Allow), one per line
ALLOW_METHODS: tuple[str, ...] = (
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "PRACK",
    "REFER",
    "NOTIFY",
)


@dataclass(frozen=True, slots=True)
class UasPolicy:
    """What this UAS accepts; it fills Allow, Supported and Accept of its answers."""

    allow: tuple[str, ...] = ALLOW_METHODS
    """Methods handled (§20.5); without REFER, a REFER in a call gets 405."""
    supported: tuple[str, ...] = ("outbound", "path", "replaces")
    """Option tags understood (§20.37); without "replaces", Replaces is ignored (RFC 3891)."""
    accept: tuple[str, ...] = ("application/sdp",)
    """Body types understood (§20.1)."""
    accept_encoding: tuple[str, ...] = ("identity",)
    accept_language: tuple[str, ...] = ("en",)

    def capability_headers(self) -> list[tuple[str, str]]:
        return [
            ("Allow", ", ".join(self.allow)),
            ("Accept", ", ".join(self.accept)),
            ("Accept-Encoding", ", ".join(self.accept_encoding)),
            ("Accept-Language", ", ".join(self.accept_language)),
            ("Supported", ", ".join(self.supported)),
        ]


DEFAULT_POLICY = UasPolicy()
_Q_ZERO = re.compile(r"q\s*=\s*0(?:\.0{0,3})?")


def check_request(request: Request, policy: UasPolicy, to_tag: str) -> Response | None:
    """The error response §8.2.1-§8.2.3 call for, or None when the request may proceed."""
    method = request.method
    # §8.2.1 method inspection
    if method not in policy.allow:
        status = 405 if method in KNOWN_METHODS else 501
        return build_response(
            request, status, to_tag=to_tag, headers=[("Allow", ", ".join(policy.allow))]
        )
    # §8.2.2.1: a Request-URI scheme we do not understand
    if isinstance(request.uri, AbsoluteUri):
        return build_response(request, 416, to_tag=to_tag)
    # §8.2.2.3: Require with option tags we do not support (never for ACK and CANCEL)
    if method not in ("ACK", "CANCEL"):
        try:
            required = request.require
        except ParseError:
            return build_response(request, 400, "Bad Require", to_tag=to_tag)
        unsupported = [tag for tag in required if tag not in policy.supported]
        if unsupported:
            return build_response(
                request, 420, to_tag=to_tag, headers=[("Unsupported", ", ".join(unsupported))]
            )
    # §8.2.3 content processing
    if request.body:
        try:
            content_type = request.content_type
            encoding = request.headers.get_all("content-encoding")
        except ParseError:
            return build_response(request, 400, "Bad Content-Type", to_tag=to_tag)
        if content_type is None or content_type.mime not in policy.accept:
            return build_response(
                request, 415, to_tag=to_tag, headers=[("Accept", ", ".join(policy.accept))]
            )
        if any(e.lower() not in policy.accept_encoding for e in encoding):
            return build_response(
                request,
                415,
                to_tag=to_tag,
                headers=[("Accept-Encoding", ", ".join(policy.accept_encoding))],
            )
    # §20.1, §21.4.7: a successful answer to an INVITE carries SDP (RFC 3264); an Accept that
    # leaves it out (an empty one accepts nothing) rules that answer out (RFC 4475 §3.3.15)
    if method == "INVITE" and "accept" in request.headers:
        ranges = request.headers.get_all("accept")
        if not any(_accepts(media_range, policy.accept) for media_range in ranges):
            return build_response(request, 406, to_tag=to_tag)
    return None


def _accepts(media_range: str, types: tuple[str, ...]) -> bool:
    """Whether an Accept media-range (§20.1, "*/*", "type/*" or "type/subtype", with q=0
    meaning "not acceptable") covers one of ``types``."""
    mime, *params = (part.strip().lower() for part in media_range.split(";"))
    if any(_Q_ZERO.fullmatch(param) for param in params):
        return False
    kind, _, sub = mime.partition("/")
    for candidate in types:
        ckind, _, csub = candidate.lower().partition("/")
        if kind == "*" or (kind == ckind and sub in ("*", csub)):
            return True
    return False


def options_response(request: Request, policy: UasPolicy, to_tag: str) -> Response:
    """§11.2: 200 listing what this UA can do (Allow, Accept, Accept-Encoding, ...)."""
    return build_response(request, 200, to_tag=to_tag, headers=policy.capability_headers())
