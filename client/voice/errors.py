"""The error object the mobile voice SDK hands to its listeners, and its types."""

from __future__ import annotations

import enum

from sipcore.errors import SipError

__all__ = ["ErrorType", "VoiceError"]


class ErrorType(enum.Enum):
    INVALID_PARAMETER = "invalid_parameter"
    NOT_INITIALIZED = "not_initialized"
    NETWORK_ERROR = "network_error"
    REGISTRATION_FAILED = "registration_failed"
    AUTHENTICATION_INVALID_TOKEN = "authentication_invalid_token"
    AUTHENTICATION_EXPIRED_TOKEN = "authentication_expired_token"
    CALL_FAILED = "call_failed"
    UPLOAD_FAILED = "upload_failed"
    FEEDBACK_FAILED = "feedback_failed"
    INTERNAL_ERROR = "internal_error"


class VoiceError(SipError):
    """An error of the facade: ``type`` and a message that never carries a credential."""

    def __init__(self, type: ErrorType, message: str) -> None:
        super().__init__(f"{type.value}: {message}")
        self.type = type
        self.message = message

    def getErrorType(self) -> ErrorType:
        return self.type

    def getErrorMessage(self) -> str:
        return self.message
