"""The SDK's two listener interfaces, as base classes whose methods do nothing: subclass and
override what you need. Any method may be ``async``; its coroutine runs as a task."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from client.stream import TaskSet

if TYPE_CHECKING:
    from .call import VoiceCall
    from .errors import VoiceError

__all__ = ["CallListener", "VoiceClientEventListener", "notify"]

logger = logging.getLogger("client.voice")
_tasks = TaskSet(lambda exc: logger.error("async listener failed: %r", exc), logger)


class VoiceClientEventListener:
    """Life of the client: initialization, authentication and log upload."""

    def onInitializationSuccess(self) -> object:
        return None

    def onInitializationFailure(self, error: VoiceError) -> object:
        return None

    def onDeinitialized(self) -> object:
        return None

    def onAuthenticationFailure(self, error: VoiceError) -> object:
        return None

    def onLog(self, level: str, tag: str, message: str) -> object:
        return None

    def onUploadLogSuccess(self) -> object:
        return None

    def onUploadLogFailure(self, error: VoiceError) -> object:
        return None


class CallListener:
    """Life of the calls."""

    def onIncomingCall(self, call: VoiceCall) -> object:
        return None

    def onCallInitiated(self, call: VoiceCall) -> object:
        return None

    def onCallRinging(self, call: VoiceCall) -> object:
        return None

    def onCallEstablished(self, call: VoiceCall) -> object:
        return None

    def onCallEnded(self, call: VoiceCall) -> object:
        return None

    def onMissedCall(self, remoteId: str, time: float) -> object:
        return None

    def onMediaDisrupted(self, call: VoiceCall) -> object:
        return None

    def onRenewingMedia(self, call: VoiceCall) -> object:
        return None


def notify(listener: object | None, name: str, *args: object) -> None:
    """Call ``listener.name(*args)``; a coroutine it returns runs as a task. A listener that
    raises is logged, never propagated into the stack."""
    method = getattr(listener, name, None) if listener is not None else None
    if method is not None:
        _tasks.call(method, *args, what=f"listener {name}")
