"""The exception tree of the SIP stack.

Every exception raised by ``sipcore`` derives from :class:`SipError`::

    SipError
    ├── ParseError                 not a valid SIP message (status_hint: 400, 505, 513 ...)
    ├── ProtocolError
    │   ├── LocalProtocolError     the caller misused the API (raised synchronously)
    │   └── RemoteProtocolError    the peer broke the rules
    ├── InvalidStateError          an operation that the current state does not allow
    ├── TransactionError           a transaction ended without a final response (§8.1.3.1)
    │   ├── TransactionTimeout     status 408
    │   └── TransportFailure       status 503
    ├── TransportError             a transport could not connect, or lost or refused a flow
    └── AuthenticationError        credentials rejected or a challenge that cannot be answered

Receive paths never raise: bad requests are answered (400 ...) and bad responses are dropped with an
event. Timeouts are events in the core; they become exceptions only on futures awaited by drivers.
"""

from __future__ import annotations


class SipError(Exception):
    """Root of every exception raised by the stack."""


class ParseError(SipError):
    """The input is not a valid SIP message or header value.

    ``status_hint`` is the response a UAS should send for a request that fails this way
    (in the manner of h11's ``error_status_hint``).
    """

    def __init__(self, message: str, *, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class ProtocolError(SipError):
    """A rule of the protocol was broken; see the two subclasses."""


class LocalProtocolError(ProtocolError):
    """This side misused the API, e.g. built a message that cannot be sent."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""


class InvalidStateError(SipError):
    """The operation is not allowed in the current state."""


class TransactionError(SipError):
    """A transaction ended without a final response; ``status`` is the §8.1.3.1 equivalent."""

    status: int = 500


class TransactionTimeout(TransactionError):
    """Timer B or F fired (RFC 3261 §17.1.1.2, §17.1.2.2): treated as a 408."""

    status = 408


class TransportFailure(TransactionError):
    """The transport reported a fatal error (§8.1.3.1, §18.4): treated as a 503."""

    status = 503


class TransportError(SipError):
    """A transport could not connect, or a flow is closed or refused the data (§18.4)."""


class AuthenticationError(SipError):
    """Credentials were rejected or a challenge could not be answered."""
