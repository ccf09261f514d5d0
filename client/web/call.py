"""The web-client SDK's call object over a :class:`client.call.Call`.

Operations that need the network (``Answer``, ``Hangup``, ``Hold``, ``UnHold``,
``HoldToggle``, ``sendDTMF``) return an ``asyncio.Task`` (fire and forget, or await it);
their outcome shows in ``CallListenerCallback``. Mute is local and immediate.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiortc.mediastreams import MediaStreamTrack

from client.call import Call
from media.dtmf import DIGITS
from media.tracks import FrameSink

if TYPE_CHECKING:
    from .client import WebClient

__all__ = ["WebCall"]

logger = logging.getLogger("client.web")


class WebCall:
    """One call as the web-client SDK shows it (``getCall()`` returns the current one)."""

    def __init__(self, client: WebClient, call: Call) -> None:
        self.client = client
        self.call = call
        """The core call, for everything the SDK does not name."""
        self.hungUp = False
        """``Hangup()`` was called: the end is reported as ``callEnded`` (ended locally)."""
        self.sink: FrameSink | None = None
        """Where received audio goes (the current output device)."""
        self.source: MediaStreamTrack | None = None
        """The input device track the client opened for this call (stopped when replaced
        or when the call ends)."""

    def __repr__(self) -> str:
        return f"<WebCall {self.callDirection} {self.callState} {self.callId}>"

    # -- what the SDK's callObj carries -----------------------------------------------------
    @property
    def callId(self) -> str:
        """The SIP Call-ID."""
        return self.call.call_id

    @property
    def callState(self) -> str:
        """The core call state (``incoming``, ``connecting``, ``ringing``, ``established``,
        ``ended`` ...; see :class:`client.call.CallState`)."""
        return self.call.state.value

    @property
    def callDirection(self) -> str:
        """``incoming`` or ``outgoing``."""
        return self.call.direction

    @property
    def callStartTime(self) -> float | None:
        """Wall-clock time (epoch seconds) the call was established; None before."""
        return self.call.start_time

    callStartedTime = callStartTime  # the spelling of the SDK's callObj

    @property
    def remoteDisplayName(self) -> str:
        """The peer's display name, or its user part when it sent none."""
        name = self.call.remote_display_name
        if name:
            return name
        remote = self.call.remote_uri
        return remote.split(":", 1)[-1].split("@", 1)[0]

    @property
    def muted(self) -> bool:
        return self.call.muted

    @property
    def held(self) -> bool:
        return self.call.held

    # -- operations ---------------------------------------------------------------------------
    def Answer(self) -> asyncio.Task[None]:
        """Accept the incoming call; ``connected`` follows."""
        return self.client._tasks.spawn(self.call.answer())

    def Hangup(self) -> asyncio.Task[None]:
        """End the call: reject it while it rings (486), cancel it while it is being set
        up, BYE once up. Reported as ``callEnded``."""
        self.hungUp = True
        return self.client._tasks.spawn(self.call.hangup())

    def Mute(self) -> None:
        """Send silence instead of the microphone (no renegotiation; no callback)."""
        self.call.mute()

    def UnMute(self) -> None:
        self.call.unmute()

    def MuteToggle(self) -> None:
        self.call.mute_toggle()

    def Hold(self) -> asyncio.Task[None]:
        """Put the peer on hold (re-INVITE, sendonly). Idempotent, unlike the SDK's toggle:
        holding a held call changes nothing. No callback; ``held`` tells the state."""
        return self.client._tasks.spawn(self.call.hold())

    def UnHold(self) -> asyncio.Task[None]:
        """Resume a held call (idempotent)."""
        return self.client._tasks.spawn(self.call.unhold())

    def HoldToggle(self) -> asyncio.Task[None]:
        return self.client._tasks.spawn(self.call.hold_toggle())

    def sendDTMF(self, digit: str) -> asyncio.Task[str]:
        """Send DTMF (0-9, A-D, * and #; several digits in a row are sent in order) by RFC
        4733, or by SIP INFO when the peer has no telephone-event. ValueError at once for
        anything else."""
        if not isinstance(digit, str) or not digit or any(d not in DIGITS for d in digit.upper()):
            raise ValueError(f"not a DTMF digit: {digit!r} (use 0-9, A-D, * and #)")
        return self.client._tasks.spawn(self.call.send_dtmf(digit))
