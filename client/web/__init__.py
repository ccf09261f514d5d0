"""The web-client facade: the web-client SDK's calls and callbacks, in Python.

``WebClient`` is one phone; the module-level functions act on a default instance, so code
written for the SDK's singleton works as is::

    from client import web

    web.initWebrtc(sipAccountInfo, on_register, on_call, on_session)
    web.DoRegister()  # with a running event loop; returns a Task

See :mod:`client.web.client` for the callbacks and their values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from client.web.account import WebAccount, parse_account
from client.web.call import WebCall
from client.web.client import STATUSES, WebClient
from client.web.logs import registerLoggerCallback

__all__ = [
    "STATUSES",
    "DoRegister",
    "SessionListener",
    "UnRegister",
    "WebAccount",
    "WebCall",
    "WebClient",
    "changeAudioInputDevice",
    "changeAudioOutputDevice",
    "checkClientStatus",
    "default_client",
    "dial",
    "getCall",
    "initDiagnostics",
    "initWebrtc",
    "parse_account",
    "registerAudioDeviceChangeCallback",
    "registerLoggerCallback",
    "startMicDiagnosticsTest",
    "startNetworkDiagnostics",
    "startSpeakerDiagnosticsTest",
    "stopMicDiagnosticsTest",
    "stopSpeakerDiagnosticsTest",
]

_default = WebClient()


def default_client() -> WebClient:
    """The instance the module-level functions act on."""
    return _default


def initWebrtc(
    sipAccountInfo: Mapping[str, Any],
    RegisterEventCallBack: Callable[..., object] | None = None,
    CallListenerCallback: Callable[..., object] | None = None,
    SessionCallback: Callable[..., object] | None = None,
) -> bool:
    return _default.initWebrtc(
        sipAccountInfo, RegisterEventCallBack, CallListenerCallback, SessionCallback
    )


DoRegister = _default.DoRegister
UnRegister = _default.UnRegister
getCall = _default.getCall
dial = _default.dial
checkClientStatus = _default.checkClientStatus
registerAudioDeviceChangeCallback = _default.registerAudioDeviceChangeCallback
changeAudioInputDevice = _default.changeAudioInputDevice
changeAudioOutputDevice = _default.changeAudioOutputDevice
SessionListener = _default.SessionListener
initDiagnostics = _default.initDiagnostics
startSpeakerDiagnosticsTest = _default.startSpeakerDiagnosticsTest
stopSpeakerDiagnosticsTest = _default.stopSpeakerDiagnosticsTest
startMicDiagnosticsTest = _default.startMicDiagnosticsTest
stopMicDiagnosticsTest = _default.stopMicDiagnosticsTest
startNetworkDiagnostics = _default.startNetworkDiagnostics
