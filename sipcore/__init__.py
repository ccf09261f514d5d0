"""sipcore: a sans-I/O SIP stack (RFC 3261 and friends).

The message layer: :func:`parse_message` turns bytes into :class:`Request` / :class:`Response`
objects with typed, lazily parsed header accessors; ``bytes(msg)`` gives the wire form;
:class:`StreamFramer` cuts byte streams into messages.
"""

from .errors import (
    AuthenticationError,
    InvalidStateError,
    LocalProtocolError,
    ParseError,
    ProtocolError,
    RemoteProtocolError,
    SipError,
    TransactionError,
    TransactionTimeout,
    TransportError,
    TransportFailure,
)
from .framer import KeepAlive, StreamFramer
from .headers import AuthHeader, CSeq, Headers, MediaType, Via
from .message import (
    DEFAULT_LIMITS,
    MAGIC_COOKIE,
    Limits,
    Message,
    Request,
    Response,
    build_request,
    build_response,
    generate_branch,
    generate_call_id,
    generate_tag,
    parse_message,
    reason_phrase,
)
from .uri import AbsoluteUri, NameAddr, SipUri, TelUri, Uri, parse_name_addr, parse_uri

__all__ = [
    "DEFAULT_LIMITS",
    "MAGIC_COOKIE",
    "AbsoluteUri",
    "AuthHeader",
    "AuthenticationError",
    "CSeq",
    "Headers",
    "InvalidStateError",
    "KeepAlive",
    "Limits",
    "LocalProtocolError",
    "MediaType",
    "Message",
    "NameAddr",
    "ParseError",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "Response",
    "SipError",
    "SipUri",
    "StreamFramer",
    "TelUri",
    "TransactionError",
    "TransactionTimeout",
    "TransportError",
    "TransportFailure",
    "Uri",
    "Via",
    "build_request",
    "build_response",
    "generate_branch",
    "generate_call_id",
    "generate_tag",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "reason_phrase",
]
