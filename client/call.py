"""One call as an application sees it: SIP signalling from the UA core and WebRTC media from a
:class:`~media.session.MediaSession`, tied together with the call states the mobile voice SDKs
name, end reasons, hold, mute, DTMF and media recovery.

The state machine is the table ``TRANSITIONS``; a local operation the state does not allow
raises :class:`~client.errors.CallStateError`, a network input it does not allow is logged and
ignored (nothing raises out of a receive path).

A call that loses its media or its signalling flow recovers as :mod:`client.recovery` says. A
peer that renews its media (new ICE credentials in a re-INVITE offer) gets a fresh session in
the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from media.dtmf import DIGITS, info_body, parse_info
from media.engine import DtmfUnavailable
from media.mute import MuteGate
from media.offer_answer import holds, ice_ufrag
from media.session import MediaSession
from media.stats import CallStats
from media.tracks import PcmSourceTrack, ToneTrack, WavFileTrack, WavRecorder
from sipcore import transfer as xfer
from sipcore import ua as core
from sipcore import update
from sipcore.message import Request, Response
from sipcore.uri import NameAddr, Uri

from .errors import CallFailed, CallStateError
from .events import (
    CallStateChanged,
    DtmfReceived,
    PhoneEvent,
    RemoteHoldChanged,
)
from .recovery import FlowRecovery, MediaRecovery
from .states import TRANSITIONS, UP, CallState, EndReason, Input, end_reason
from .stream import EventHub, TaskSet

if TYPE_CHECKING:
    from .phone import Phone

__all__ = ["Call", "CallState", "EndReason", "end_reason"]

logger = logging.getLogger("client.call")
SDP = "application/sdp"
T = TypeVar("T")


class Call:
    """A call of a :class:`~client.phone.Phone` (made by ``dial`` or delivered by
    ``incoming``)."""

    def __init__(
        self, phone: Phone, direction: str, source: MediaStreamTrack | None = None
    ) -> None:
        self.phone = phone
        self.direction = direction
        self.state = CallState.NONE
        self.end_reason: EndReason | None = None
        self.end_status: int | None = None
        self.core: core.Call | None = None
        self.created_at = time.time()
        self.start_time: float | None = None  # wall clock, when established
        self.end_time: float | None = None
        self.held = False  # we put the peer on hold
        self.remote_held = False  # the peer put us on hold
        self._source = source or ToneTrack(0.0)
        self._muted = False
        self._ending: EndReason | None = None  # why we are ending the call ourselves
        self.media = self._new_media()
        self._remote_sdp = b""  # the last remote description applied
        self._answer_applied = False
        self._events = EventHub[PhoneEvent]()
        self._ended = asyncio.Event()
        self._established = asyncio.Event()
        self._media_lock = asyncio.Lock()
        self._reinvite: asyncio.Future[Response] | None = None
        self._info: asyncio.Future[Response] | None = None
        self._transfer: asyncio.Future[bool] | None = None
        self._tasks = TaskSet(lambda exc: logger.error("call %s: %r", self.call_id, exc))
        self._media_since = 0.0  # media is judged from here on (answer, hold, renewal)
        self._audio = EventHub[AudioFrame](maxsize=250)  # 5 s of 20 ms frames
        self._recorders: list[WavRecorder] = []
        self.on_audio: Callable[[AudioFrame], None] | None = None
        """Called with every audio frame received (decoded PCM), whatever media session
        carries the call at the time."""
        self._flow_recovery = FlowRecovery(self)
        self._media_recovery = MediaRecovery(self)

    def __repr__(self) -> str:
        return f"<Call {self.direction} {self.state.value} {self.remote_uri}>"

    # -- what it is ---------------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.core.invite.call_id if self.core is not None else ""

    @property
    def remote(self) -> NameAddr | None:
        """The peer as the INVITE names it (From of an incoming call, To of an outgoing one)."""
        if self.core is None:
            return None
        return self.core.invite.from_ if self.direction == "incoming" else self.core.invite.to

    @property
    def remote_uri(self) -> str:
        remote = self.remote
        return str(remote.uri) if remote is not None else ""

    @property
    def remote_display_name(self) -> str | None:
        remote = self.remote
        return remote.display_name if remote is not None else None

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def duration(self) -> float | None:
        """Seconds established so far (until the end once ended), to the millisecond; None if
        the call never was."""
        if self.start_time is None:
            return None
        return round((self.end_time or time.time()) - self.start_time, 3)

    def details(self) -> dict[str, object]:
        """What is known about the call, for logs and user interfaces."""
        return {
            "call_id": self.call_id,
            "direction": self.direction,
            "state": self.state.value,
            "remote_uri": self.remote_uri,
            "remote_display_name": self.remote_display_name,
            "created_at": self.created_at,
            "start_time": self.start_time,
            "duration": self.duration,
            "held": self.held,
            "remote_held": self.remote_held,
            "muted": self.muted,
            "end_reason": self.end_reason.value if self.end_reason else None,
            "end_status": self.end_status,
        }

    def events(self) -> AsyncIterator[PhoneEvent]:
        """This call's events, from now on, until it ends."""
        return self._events.subscribe(until=self._ended)

    def on_event(self, callback: Callable[[PhoneEvent], object]) -> None:
        """Call ``callback`` (plain or async) with each of this call's events."""
        self._events.listeners.append(callback)

    async def wait_established(self, timeout: float | None = None) -> None:
        """Wait until the call is up; CallFailed if it ends first."""
        ended = asyncio.ensure_future(self._ended.wait())
        up = asyncio.ensure_future(self._established.wait())
        try:
            await asyncio.wait({ended, up}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            up.cancel()
        if self._established.is_set():
            return
        if self._ended.is_set():
            reason = self.end_reason
            raise CallFailed(
                f"call ended: {reason.value if reason else '?'}",
                reason=reason,
                status=self.end_status,
            )
        raise TimeoutError("call not established in time")

    async def wait_ended(self, timeout: float | None = None) -> EndReason | None:
        await asyncio.wait_for(self._ended.wait(), timeout)
        return self.end_reason

    # -- control ------------------------------------------------------------------------------
    async def answer(self) -> None:
        """Answer an incoming call with our media (idempotent once answering)."""
        if self.direction != "incoming":
            raise CallStateError("only an incoming call can be answered")
        if self.state in (CallState.ANSWERING, *UP):
            return
        self._require(CallState.INCOMING)
        self._move(Input.ANSWER)
        assert self.core is not None
        try:
            async with self._media_lock:
                offer = self.core.remote_body
                if offer:
                    body = await self.media.create_answer(offer)
                    self._remote_sdp = offer
                else:  # offer in our 2xx, answer in the ACK (§13.2.1)
                    body = await self.media.create_offer()
        except Exception as exc:
            logger.warning("no answer could be made for %s: %s", self.call_id, exc)
            self._ending = EndReason.MEDIA_FAILED  # the UA core reports a rejection (declined)
            self._sip(lambda ua, c, now: ua.reject(c, 488, now))
            self._finish(EndReason.MEDIA_FAILED, 488)
            return
        if not self.ended:
            self._sip(lambda ua, c, now: ua.answer(c, now, body=body, content_type=SDP))

    async def reject(self, status: int = 486) -> None:
        """Refuse an incoming call that is not answered yet (486 Busy Here, 603 Decline ...)."""
        if self.state is not CallState.INCOMING:
            raise CallStateError(f"cannot reject a call that is {self.state.value}")
        self._move(Input.HANGUP)
        self._sip(lambda ua, c, now: ua.reject(c, status, now))

    async def hangup(self) -> None:
        """End the call however far it got: CANCEL, reject (486) or BYE. Idempotent."""
        if self.state in (CallState.ENDING, CallState.ENDED):
            return
        self._move(Input.HANGUP)
        if self.core is None:  # the INVITE never left
            self._finish(EndReason.CANCELLED)
            return
        self._sip(lambda ua, c, now: ua.hangup(c, now))

    async def hold(self) -> None:
        """Put the peer on hold by re-INVITE (sendonly; inactive when the peer holds us too).
        Idempotent: a held call stays held."""
        self._require(*UP)
        if not self.held:
            await self._renegotiate(held=True)

    async def unhold(self) -> None:
        """Resume a held call (idempotent)."""
        self._require(*UP)
        if self.held:
            await self._renegotiate(held=False)

    async def hold_toggle(self) -> None:
        await (self.unhold() if self.held else self.hold())

    def mute(self) -> None:
        """Send silence instead of our audio, without renegotiation (idempotent)."""
        self._set_muted(True)

    def unmute(self) -> None:
        self._set_muted(False)

    def mute_toggle(self) -> None:
        self._set_muted(not self._muted)

    def _set_muted(self, muted: bool) -> None:
        self._muted = muted
        if isinstance(self.media.source, MuteGate):
            self.media.source.muted = muted

    async def send_dtmf(
        self, digits: str, *, method: str = "rfc4733", duration_ms: int = 100
    ) -> str:
        """Send DTMF ``digits`` (0-9, A-D, *, #): by RFC 4733 telephone-events in the audio
        stream, or by SIP INFO (``application/dtmf-relay``) when ``method="info"`` or when the
        peer did not negotiate telephone-event. Every digit is checked before anything is
        sent; returns the method used."""
        digits = digits.upper()
        if not digits or any(d not in DIGITS for d in digits):
            raise ValueError(f"not DTMF digits: {digits!r} (use 0-9, A-D, * and #)")
        if method not in ("rfc4733", "info"):
            raise ValueError(f"unknown DTMF method {method!r}")
        self._require(*UP)
        if method == "rfc4733":
            try:
                await self.media.send_dtmf(digits, duration_ms=duration_ms)
                return method
            except DtmfUnavailable as exc:
                logger.info("call %s: RFC 4733 unavailable (%s), DTMF by INFO", self.call_id, exc)
        for digit in digits:
            content_type, body = info_body(digit, duration_ms)
            self._info = asyncio.get_running_loop().create_future()
            if not self._send_info(body, content_type):
                raise CallStateError("the call cannot carry INFO now")
            response = await asyncio.wait_for(self._info, self.phone.config.answer_timeout)
            if response.status_code >= 300:
                status = response.status_code
                raise CallFailed(f"INFO refused: {status}", reason=None, status=status)
        return "info"

    async def stats(self) -> CallStats:
        """Statistics of the call's audio now (codec, packets, loss, jitter, RTT, MOS ...)."""
        return await self.media.stats()

    async def transfer(
        self, target: str | Uri | None = None, *, replaces: Call | None = None, hangup: bool = True
    ) -> bool:
        """Transfer the peer by REFER (RFC 3515): blind to ``target``, or attended with
        ``replaces``, another established call of ours whose peer takes our place (RFC 3891;
        the target defaults to that call's peer). Waits for the outcome of the peer's new
        call; on success this call is ended with BYE unless ``hangup`` is False (RFC 5589
        §6). False when the peer refused, failed to reach the target or never reported."""
        self._require(*UP)
        if replaces is not None:
            replaces._require(*UP)
        if target is None:
            if replaces is None:
                raise ValueError("a transfer needs a target or a call to replace")
            target = replaces.remote_uri
        uri = self.phone._target(target)
        other = replaces.core if replaces is not None else None
        self._transfer = asyncio.get_running_loop().create_future()
        self._sip(lambda ua, c, now: ua.refer(c, uri, now, replaces=other))
        try:
            ok = await asyncio.wait_for(self._transfer, self.phone.config.answer_timeout * 4)
        except TimeoutError:
            ok = False
        if ok and hangup:
            await self.hangup()
        return ok

    def _send_info(self, body: bytes, kind: str) -> bool:
        return self._sip(lambda ua, c, now: ua.send_info(c, now, body=body, content_type=kind))

    # -- audio in and out ----------------------------------------------------------------------
    def frames(self) -> AsyncIterator[AudioFrame]:
        """Received audio frames (decoded PCM) from now on, until the call ends; a reader that
        falls more than 5 s behind loses the oldest."""
        return self._audio.subscribe(until=self._ended)

    def play(self, path: str | Path, *, loop: bool = False) -> WavFileTrack:
        """Send a WAV file instead of the current source; ``await track.done()`` waits for
        its end (silence follows unless ``loop``)."""
        track = WavFileTrack(path, loop=loop)
        self.set_source(track)
        return track

    def pcm_source(self, *, max_queued: float = 1.0) -> PcmSourceTrack:
        """Send PCM pushed by the application (``await track.write(pcm, rate)``)."""
        track = PcmSourceTrack(max_queued=max_queued)
        self.set_source(track)
        return track

    def record(self, path: str | Path, *, sample_rate: int = 48000) -> WavRecorder:
        """Write what the peer sends to a WAV file until ``recorder.close()`` or the end of
        the call."""
        recorder = WavRecorder(path, sample_rate=sample_rate)
        self._recorders.append(recorder)
        self._audio.listeners.append(partial(_record, recorder))
        return recorder

    @property
    def source(self) -> MediaStreamTrack:
        """The track our audio comes from (muted or not)."""
        return self._source

    def set_source(self, track: MediaStreamTrack) -> None:
        """Send audio from ``track`` from now on (no renegotiation), muted if the call is; the
        old track is not stopped (it may be stopped right away)."""
        self._source = track
        if isinstance(self.media.source, MuteGate):
            self.media.source.source = track

    # -- internals: state ---------------------------------------------------------------------
    def _require(self, *states: CallState) -> None:
        if self.state not in states:
            raise CallStateError(f"not allowed while the call is {self.state.value}")

    def _move(self, what: Input, reason: EndReason | None = None) -> bool:
        """Apply ``what`` per the table; False (and nothing changes) when it does not apply."""
        previous = self.state
        state = TRANSITIONS.get((previous, what))
        if state is None:
            logger.debug("call %s: %s ignored while %s", self.call_id, what.name, previous.value)
            return False
        if state is previous:
            return True
        self.state = state
        if state is CallState.ESTABLISHED and not self._established.is_set():
            self.start_time = time.time()
            self._established.set()
            self._media_since = self._now()
            if self.phone.config.media_timeout > 0:
                self._tasks.spawn(self._media_recovery.watch())
        self._publish(CallStateChanged(call=self, state=state, previous=previous, reason=reason))
        return True

    def _finish(self, reason: EndReason, status: int | None = None) -> None:
        if self.state is CallState.ENDED:
            return
        self.end_reason, self.end_status = reason, status
        self.end_time = time.time()
        self._move(Input.ENDED, reason)
        self._ended.set()
        self._tasks.cancel()
        for future in (self._reinvite, self._info, self._transfer):
            if future is not None and not future.done():
                future.cancel()
        for recorder in self._recorders:
            recorder.close()
        self.phone._call_ended(self)
        self.phone.stack.spawn(self.media.close())

    def _sip(self, action: Callable[[core.UserAgent, core.Call, float], T]) -> T:
        """Act on the UA core for this call, then let the stack send what that produced."""
        assert self.core is not None
        call = self.core
        return self.phone._act(lambda ua, now: action(ua, call, now))

    def _publish(self, event: PhoneEvent) -> None:
        self._events.publish(event)
        self.phone._publish(event)

    # -- internals: media ---------------------------------------------------------------------
    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _new_media(self) -> MediaSession:
        """A media session sending our source through a fresh mute gate (closing a session
        stops its tracks)."""
        gate = MuteGate(self._source)
        gate.muted = self._muted
        media = MediaSession(self.phone.config.media, gate)
        media.on_frame = self._frame
        media.wants_frames = self._wants_frames
        media.on_dtmf = self._rtp_digit
        return media

    def _rtp_digit(self, digit: str) -> None:
        self._publish(DtmfReceived(call=self, digit=digit, method="rfc4733"))

    def _wants_frames(self) -> bool:
        return self.on_audio is not None or self._audio.active

    def _frame(self, frame: AudioFrame) -> None:
        if self.on_audio is not None:
            self.on_audio(frame)
        self._audio.publish(frame)

    async def _renegotiate(self, *, held: bool) -> None:
        """Offer by re-INVITE with the direction for ``held`` and apply the answer."""
        async with self._media_lock:
            direction = "sendrecv" if not held else "inactive" if self.remote_held else "sendonly"
            previous = self.media.transceiver.direction
            offer = await self.media.reoffer(direction)
            response = await self._reinvite_with(offer)
            if 200 <= response.status_code < 300 and response.body:
                await self.media.set_answer(response.body)
                self._remote_sdp = response.body
                self.held = held
                self._media_since = self._now()
            else:
                await self.media.withdraw_offer(self._remote_sdp, previous)  # as it was
                raise CallFailed(
                    f"re-INVITE refused: {response.status_code}",
                    reason=None,
                    status=response.status_code,
                )

    async def _reinvite_with(self, offer: bytes) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.phone.config.answer_timeout
        while True:
            self._reinvite = loop.create_future()
            if self._sip(lambda ua, c, now: ua.reinvite(c, now, body=offer, content_type=SDP)):
                break
            if loop.time() > deadline:  # the peer's own re-INVITE never finished
                raise TimeoutError("a re-INVITE stayed in progress")
            await asyncio.sleep(0.1)
        return await asyncio.wait_for(self._reinvite, max(0.1, deadline - loop.time()))

    async def _answer_reinvite(self, request: Request) -> None:
        await self._answer_offer(request, _reply_reinvite)

    async def _answer_offer(self, request: Request, reply: _Reply) -> None:
        """Answer the peer's re-INVITE or UPDATE: a fresh media session when it renews
        ICE/DTLS, else the current one; a hold shows as sendonly or inactive (RFC 3264 §8.4)."""
        offer = request.body
        async with self._media_lock:
            try:
                if not offer:  # offerless re-INVITE: our current description (§14.2)
                    local = self.media.pc.localDescription
                    body = local.sdp.encode() if local is not None else b""
                elif ice_ufrag(offer) not in (None, ice_ufrag(self._remote_sdp)):
                    body = await self._renew_answer(offer)
                else:
                    body = await self.media.create_answer(offer)
            except Exception as exc:
                logger.warning("%s of %s not acceptable: %s", request.method, self.call_id, exc)
                self._sip(lambda ua, c, now: reply(ua, c, now, 488, b""))
                return
            self._sip(lambda ua, c, now: reply(ua, c, now, 200, body))
            if offer:
                self._remote_sdp = offer
                held = holds(offer)
                if held != self.remote_held:
                    self.remote_held = held
                    self._publish(RemoteHoldChanged(call=self, held=held))
                self._media_since = self._now()

    async def _renew_answer(self, offer: bytes) -> bytes:
        old, self.media = self.media, self._new_media()
        await old.close()
        self._media_since = self._now()
        self._move(Input.MEDIA_BACK)
        return await self.media.create_answer(offer)

    async def _end_locally(self, reason: EndReason) -> None:
        if self.state in (CallState.ENDING, CallState.ENDED):
            return
        self._move(Input.HANGUP)
        self._ending = reason
        self._sip(lambda ua, c, now: ua.hangup(c, now))
        self._finish(reason)

    # -- internals: UA core events --------------------------------------------------------------
    def _handle(self, event: Any) -> None:
        """One UA core event for this call (called by the phone, synchronously)."""
        if isinstance(event, core.CallProgress):
            status, body = event.response.status_code, event.response.body
            if body and not self._answer_applied:
                self._answer_applied = True
                self._remote_sdp = body
                self._move(Input.EARLY_MEDIA)
                self._tasks.spawn(self._apply_answer(body, established=False))
            elif 180 <= status < 200:
                self._move(Input.RINGING)
        elif isinstance(event, core.CallAnswered):
            body = event.response.body
            if self._answer_applied or not body:
                self._move(Input.ESTABLISHED)
            else:
                self._answer_applied = True
                self._remote_sdp = body
                self._tasks.spawn(self._apply_answer(body, established=True))
        elif isinstance(event, core.CallConfirmed):
            if not self._remote_sdp and event.ack is not None and event.ack.body:
                self._remote_sdp = event.ack.body  # our 2xx made the offer (§13.2.1)
                self._tasks.spawn(self._apply_answer(event.ack.body, established=True))
            else:
                self._move(Input.ESTABLISHED)
        elif isinstance(event, core.CallEnded):
            recovering = self._flow_recovery.call_ended(event.status)
            reason = self._ending or recovering or end_reason(event.reason, event.status)
            self._finish(reason, event.status)
        elif isinstance(event, core.ReinviteReceived):
            self._tasks.spawn(self._answer_reinvite(event.request))
        elif isinstance(event, core.ReinviteAnswered):
            if self._reinvite is not None and not self._reinvite.done():
                self._reinvite.set_result(event.response)
        elif isinstance(event, core.InfoReceived):
            request = event.request
            content = request.content_type.mime if request.content_type else ""
            digit = parse_info(content, request.body)
            if digit is not None:
                self._publish(DtmfReceived(call=self, digit=digit, method="info"))
        elif isinstance(event, core.InfoAnswered) and self._info and not self._info.done():
            self._info.set_result(event.response)
        elif isinstance(event, core.CallFlowLost):
            self._flow_recovery.lost(self.phone._keeps(event.call))
        elif isinstance(event, update.UpdateAnswered):
            self._flow_recovery.update_answered(event.response.status_code)
        elif isinstance(event, update.UpdateReceived) and not event.answered:
            self._tasks.spawn(self._answer_offer(event.request, _reply_update))
        elif isinstance(event, _TRANSFER_OUTCOMES):
            ok = isinstance(event, xfer.TransferCompleted) and event.ok
            if self._transfer is not None and not self._transfer.done():
                self._transfer.set_result(ok)

    async def _apply_answer(self, body: bytes, *, established: bool) -> None:
        async with self._media_lock:
            try:
                await self.media.set_answer(body)
            except Exception as exc:
                logger.warning("answer of %s not usable: %s", self.call_id, exc)
                await self._end_locally(EndReason.MEDIA_FAILED)
                return
        if established or (self.core is not None and self.core.state is core.CallState.CONFIRMED):
            self._move(Input.ESTABLISHED)


_TRANSFER_OUTCOMES = (xfer.TransferCompleted, xfer.TransferFailed, xfer.TransferTimedOut)
_Reply = Callable[[core.UserAgent, core.Call, float, int, bytes], object]


def _reply_reinvite(
    ua: core.UserAgent, call: core.Call, now: float, status: int, body: bytes
) -> None:
    ua.answer_reinvite(call, now, status=status, body=body, content_type=SDP if body else None)


def _reply_update(
    ua: core.UserAgent, call: core.Call, now: float, status: int, body: bytes
) -> None:
    ua.answer_update(call, now, status=status, body=body, content_type=SDP if body else None)


def _record(recorder: WavRecorder, frame: AudioFrame) -> None:
    with contextlib.suppress(ValueError):  # closed by the application
        recorder.write_frame(frame)
