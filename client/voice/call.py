"""A call of the mobile voice SDK: :class:`VoiceCall` over :class:`client.call.Call`, with the
SDK's names, its statistics and details objects, audio routing between a speaker and an
earpiece, and post-call feedback."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from av import AudioFrame

from client.call import Call
from client.states import CallState, EndReason
from media.tracks import FrameSink

from . import https
from .errors import ErrorType, VoiceError

if TYPE_CHECKING:
    from .client import VoiceClient

__all__ = ["AudioRoute", "CallDetails", "CallIssue", "CallStatistics", "VoiceCall"]

logger = logging.getLogger("client.voice")


class CallIssue(enum.Enum):
    """What the user says went wrong, for ``postFeedback`` (the SDK's list)."""

    NO_ISSUE = "NO_ISSUE"
    ECHO = "ECHO"
    NO_AUDIO = "NO_AUDIO"
    HIGH_LATENCY = "HIGH_LATENCY"
    CHOPPY_AUDIO = "CHOPPY_AUDIO"
    BACKGROUND_NOISE = "BACKGROUND_NOISE"


class AudioRoute(enum.Enum):
    EARPIECE = "earpiece"
    SPEAKER = "speaker"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDetails:
    """What ``getCallDetails`` and ``getLatestCallDetails`` give."""

    call_id: str
    """The SIP Call-ID."""
    session_id: str
    """The call's media session: a UUID made when the call object is, one per call as in the
    SDK's call details (which log it beside the call id); also sent with the feedback. The
    client's own session (one per ``initialize``, in log uploads) is
    ``VoiceClient.session_id``."""
    remote_id: str
    """The peer's subscriber name (the user part of its URI)."""
    direction: str
    call_state: CallState
    call_end_reason: EndReason | None
    start_time: float | None
    """Wall-clock time the call was established (None if it never was)."""
    duration: float
    """Seconds established (0 when it never was)."""

    def getCallId(self) -> str:
        return self.call_id

    def getSessionId(self) -> str:
        return self.session_id

    def getRemoteId(self) -> str:
        return self.remote_id

    def getCallState(self) -> CallState:
        return self.call_state

    def getCallEndReason(self) -> EndReason | None:
        return self.call_end_reason

    def getCallDuration(self) -> float:
        return self.duration


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStatistics:
    """Audio quality now, from :meth:`client.call.Call.stats` (RFC 3550 counters, E-model
    MOS); loss in percent, times in milliseconds."""

    codec: str | None
    packets_sent: int
    packets_received: int
    packets_lost: int
    fraction_lost: float
    jitter_ms: float
    remote_jitter_ms: float | None
    rtt_ms: float | None
    mos: float | None

    def getCodec(self) -> str | None:
        return self.codec

    def getFractionLost(self) -> float:
        return self.fraction_lost

    def getJitter(self) -> float:
        return self.jitter_ms

    def getRTT(self) -> float | None:
        return self.rtt_ms

    def getMOS(self) -> float | None:
        return self.mos


class VoiceCall:
    """One call; made by ``dial`` or given to ``onIncomingCall``."""

    def __init__(self, client: VoiceClient, call: Call) -> None:
        self._client = client
        self.call = call
        """The core API's call, for what the SDK does not name."""
        self.route = AudioRoute.EARPIECE
        self.session_id = str(uuid.uuid4())
        self._feedback_sent = False
        call.on_audio = self._audio

    def __repr__(self) -> str:
        return f"<VoiceCall {self.call.direction} {self.call.state.value} {self.remote_id}>"

    @property
    def remote_id(self) -> str:
        peer = self.call.remote
        if peer is None:
            return ""
        return getattr(peer.uri, "user", None) or str(peer.uri)

    # -- control ------------------------------------------------------------------------------
    def answer(self) -> asyncio.Task[None]:
        return self._client._tasks.spawn(self.call.answer())

    def hangup(self) -> asyncio.Task[None]:
        return self._client._tasks.spawn(self.call.hangup())

    def mute(self) -> None:
        self.call.mute()

    def unmute(self) -> None:
        self.call.unmute()

    def enableSpeaker(self) -> None:
        """Received audio to the speaker sink from now on."""
        self.route = AudioRoute.SPEAKER

    def disableSpeaker(self) -> None:
        """Received audio back to the earpiece sink."""
        self.route = AudioRoute.EARPIECE

    def sendDtmf(self, digit: str) -> asyncio.Task[str]:
        """Send DTMF (RFC 4733, or SIP INFO when the peer has no telephone-event)."""
        return self._client._tasks.spawn(self.call.send_dtmf(digit))

    # -- information ----------------------------------------------------------------------------
    async def getStatistics(self) -> CallStatistics:
        stats = await self.call.stats()
        return CallStatistics(
            codec=stats.codec,
            packets_sent=stats.packets_sent,
            packets_received=stats.packets_received,
            packets_lost=stats.local_packets_lost,
            fraction_lost=round(stats.local_loss_fraction * 100, 2),
            jitter_ms=stats.local_jitter_ms,
            remote_jitter_ms=stats.remote_jitter_ms,
            rtt_ms=stats.rtt_ms,
            mos=stats.mos,
        )

    def getCallDetails(self) -> CallDetails:
        call = self.call
        return CallDetails(
            call_id=call.call_id,
            session_id=self.session_id,
            remote_id=self.remote_id,
            direction=call.direction,
            call_state=call.state,
            call_end_reason=call.end_reason,
            start_time=call.start_time,
            duration=call.duration or 0.0,
        )

    def postFeedback(self, rating: int, issue: CallIssue | str) -> asyncio.Task[int]:
        """Send the user's rating (1-5) and the issue to the feedback endpoint: a JSON POST
        over verified HTTPS with the call and session ids. A bad rating or issue raises
        :class:`VoiceError` (``INVALID_PARAMETER``) at once; the task gives the HTTP status
        or raises ``VoiceError(FEEDBACK_FAILED)``."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise VoiceError(ErrorType.INVALID_PARAMETER, "rating: an integer from 1 to 5")
        try:
            kind = issue if isinstance(issue, CallIssue) else CallIssue(issue)
        except ValueError:
            names = ", ".join(i.value for i in CallIssue)
            raise VoiceError(ErrorType.INVALID_PARAMETER, f"issue: one of {names}") from None
        url = self._client.context.feedback_url if self._client.context else None
        if url is None:
            raise VoiceError(ErrorType.INVALID_PARAMETER, "no feedback_url in the context")
        details = self.getCallDetails()
        body = {
            "account_sid": self._client.account_sid,
            "subscriber": self._client.subscriber_name,
            "call_id": details.call_id,
            "session_id": details.session_id,
            "remote_id": details.remote_id,
            "duration": details.duration,
            "rating": rating,
            "issue": kind.value,
            "time": time.time(),
        }
        return self._client._tasks.spawn(self._post_feedback(url, body))

    async def _post_feedback(self, url: str, body: dict[str, object]) -> int:
        ctx = self._client.context
        assert ctx is not None
        try:
            status = await https.post(
                url,
                json.dumps(body).encode(),
                {"Content-Type": "application/json"},
                ca_file=ctx.ca_file,
                verify=ctx.tls_verify,
            )
        except (OSError, ValueError) as exc:
            logger.warning("feedback for call %s not sent: %s", body["call_id"], exc)
            raise VoiceError(ErrorType.FEEDBACK_FAILED, str(exc)) from None
        logger.info("feedback for call %s sent (%s)", body["call_id"], status)
        return status

    # -- audio ----------------------------------------------------------------------------------
    def _audio(self, frame: AudioFrame) -> None:
        sink: FrameSink | None = self._client._sink(self.route)
        if sink is not None:
            sink.write_frame(frame)
