"""Errors of the client API, in the stack's one exception tree (:mod:`sipcore.errors`)::

SipError
├── InvalidStateError
│   └── CallStateError        a call operation its state does not allow (local misuse)
├── ConfigError               a missing or malformed setting (raised by the constructors)
├── CallFailed                the peer or the network ended a call we were setting up
└── RegistrationFailed        the registrar refused us or could not be reached
"""

from __future__ import annotations

from sipcore.errors import InvalidStateError, SipError

__all__ = ["CallFailed", "CallStateError", "ConfigError", "RegistrationFailed"]


class CallStateError(InvalidStateError):
    """The call's state does not allow the operation (e.g. ``answer()`` on an outgoing call)."""


class ConfigError(SipError, ValueError):
    """A setting is missing or malformed; the message names it."""


class CallFailed(SipError):
    """A call ended before it was established: ``reason`` and the SIP ``status`` if any."""

    def __init__(self, message: str, *, reason: object, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class RegistrationFailed(SipError):
    """Registration did not succeed; ``status`` is the registrar's final response, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
