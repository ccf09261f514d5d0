"""The parts of :class:`client.web.client.WebClient` that reach beyond one phone's calls:
``SessionListener`` (this user's other processes, :mod:`client.web.multi`) and the
diagnostics calls (:mod:`client.web.diagnostics`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from client.errors import CallStateError
from client.stream import TaskSet

from .account import WebAccount
from .diagnostics import AudioInput, AudioOutput, Diagnostics
from .multi import REREGISTER, SessionCoordinator

__all__ = ["ClientExtras"]


class ClientExtras:
    """Mixed into WebClient, which provides the attributes and methods declared here."""

    session: SessionCoordinator | None
    """The coordination with this user's other processes (after ``SessionListener``)."""
    diagnostics: Diagnostics | None
    """The diagnostics (after ``initDiagnostics``)."""
    _auto_takeover: bool
    _closed: bool
    _tasks: TaskSet

    if TYPE_CHECKING:  # WebClient's, declared for the type checker only

        def _account(self) -> WebAccount: ...

        def _emit_session(self, state: str, detail: dict[str, Any] | None = None) -> None: ...

        def DoRegister(self) -> asyncio.Task[None]: ...

    # -- several processes of one user (client.web.multi) ---------------------------------------
    def SessionListener(
        self, autoTakeover: bool = True, *, directory: str | None = None
    ) -> asyncio.Task[str]:
        """Join this user's other processes on this host: the task gives ``parent`` (this
        process owns the registration and calls, and tells the others of its calls) or
        ``child`` (``SessionCallback(callState, phone, {"remoteDisplayName": ...})`` gets
        ``incoming``, ``connected`` and ``callEnded`` of the parent's calls; ``phone`` is this
        account's user name, as in every callback). When the parent goes, one child gets
        ``re-register`` and, with ``autoTakeover``, registers."""
        account = self._account()
        if self.session is not None:
            raise CallStateError("SessionListener was already called on this client")
        self._auto_takeover = autoTakeover
        self.session = SessionCoordinator(
            account.phone.aor, account.server, self._session_state, directory=directory
        )
        return self._tasks.spawn(self._listen(self.session))

    async def _listen(self, session: SessionCoordinator) -> str:
        return str(await session.start())

    def _session_state(self, state: str, remote: str | None) -> None:
        """A state from the coordinator: ``remote`` is the other party of the parent's call."""
        detail = {"remoteDisplayName": remote or ""} if state != REREGISTER else None
        self._emit_session(state, detail)
        if state == REREGISTER and self._auto_takeover and not self._closed:
            self.DoRegister()

    # -- diagnostics (client.web.diagnostics) -----------------------------------------------------
    def initDiagnostics(
        self,
        reportCallback: Callable[[str], object],
        keyValueCallback: Callable[[str, str], object],
        *,
        mic: AudioInput = None,
        speaker: AudioOutput = None,
    ) -> bool:
        """Report the runtime and the audio devices; later tests report through the same
        callbacks. ``mic`` / ``speaker``: a WAV file or an in-process track / sink instead of
        the default devices."""
        account = self._account()
        self.diagnostics = Diagnostics(
            account.phone, reportCallback, keyValueCallback, mic=mic, speaker=speaker
        )
        self.diagnostics.init()
        return True

    def startSpeakerDiagnosticsTest(self) -> None:
        self._diagnostics().start_speaker_test()

    def stopSpeakerDiagnosticsTest(self, answer: bool | str) -> asyncio.Task[None]:
        return self._tasks.spawn(self._diagnostics().stop_speaker_test(answer))

    def startMicDiagnosticsTest(self) -> None:
        self._diagnostics().start_mic_test()

    def stopMicDiagnosticsTest(self, answer: bool | str) -> asyncio.Task[None]:
        return self._tasks.spawn(self._diagnostics().stop_mic_test(answer))

    def startNetworkDiagnostics(self) -> asyncio.Task[dict[str, str]]:
        """wss/ws, userReg, tcp, udp, host, srflx and relay; the task gives the results."""
        return self._tasks.spawn(self._diagnostics().run_network())

    def _diagnostics(self) -> Diagnostics:
        if self.diagnostics is None:
            raise CallStateError("call initDiagnostics first")
        return self.diagnostics
