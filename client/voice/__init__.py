"""The mobile-voice facade: the mobile voice SDK's API (``initialize``, ``getCallController``,
``dial``, listeners, ``relaySessionData``, ``uploadLogs``, ``postFeedback`` ...) over the
pythonic core API. See the README section "Mobile-voice facade".

The SDK is a singleton: the module functions act on a default :class:`VoiceClient`
(``getInstance()``)."""

from __future__ import annotations

from .call import AudioRoute, CallDetails, CallIssue, CallStatistics, VoiceCall
from .client import CallController, VoiceClient
from .context import TokenProvider, VoiceContext
from .errors import ErrorType, VoiceError
from .listeners import CallListener, VoiceClientEventListener

__all__ = [
    "AudioRoute",
    "CallController",
    "CallDetails",
    "CallIssue",
    "CallListener",
    "CallStatistics",
    "ErrorType",
    "TokenProvider",
    "VoiceCall",
    "VoiceClient",
    "VoiceClientEventListener",
    "VoiceContext",
    "VoiceError",
    "getCallController",
    "getInstance",
    "initialize",
    "isInitialized",
    "relaySessionData",
    "setEventListener",
    "stop",
    "uploadLogs",
]

_default = VoiceClient()


def getInstance() -> VoiceClient:
    return _default


initialize = _default.initialize
stop = _default.stop
isInitialized = _default.isInitialized
getCallController = _default.getCallController
setEventListener = _default.setEventListener
relaySessionData = _default.relaySessionData
uploadLogs = _default.uploadLogs
