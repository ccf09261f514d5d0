"""Keeping an established call when its media or its signalling flow is lost.

Media (:class:`MediaRecovery`): a watchdog follows inbound RTP while the peer is expected to
send (not on hold either way). After ``media_timeout`` seconds without a packet the call is
``media_disrupted``; it then renews its media with a fresh ICE/DTLS session offered by
re-INVITE (aiortc cannot restart ICE on a live connection), with jittered backoff between
attempts, and is ``established`` again once packets flow; past ``media_renewals`` attempts it
ends with ``media_timeout``. Each step is a :class:`~client.events.MediaRenewal` event.

Signalling (:class:`FlowRecovery`, RFC 5626 §4.5): media is peer to peer, ICE and DTLS do
not go through the proxy, so losing the connection to it need not end a call. When the flow
of an established call closes, the UA core keeps the dialog (``CallFlowLost``) and the call
stays up while the account reconnects with backoff and registers again. The dialog then moves
to the new flow, and its target is refreshed (RFC 3261 §12.2.1.1): an UPDATE without offer
(RFC 3311 §5.1), or a re-INVITE with the current description when the peer does not allow
UPDATE. The peer's requests then reach us over the new connection, which the proxy names in
our Contact (Kamailio's ``alias`` parameter) and which the old Contact no longer reaches. A
refresh that fails (the peer may still be reconnecting itself) is tried again with jittered
backoff.

The call ends with ``connection_lost`` when the media is lost too while the signalling is
down, when no new flow is registered within ``flow_recovery_timeout`` seconds, or when the peer
no longer knows the dialog (481, e.g. it lost its state). Each step is a
:class:`~client.events.SignallingChanged` event.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

from sipcore.flow import Flow

from .errors import CallFailed
from .events import MediaRenewal, SignallingChanged
from .states import UP, CallState, EndReason, Input

if TYPE_CHECKING:
    from .call import Call

__all__ = ["FlowRecovery", "MediaRecovery"]

logger = logging.getLogger("client.recovery")
_BACKOFF_MAX = 4.0  # seconds between two refresh attempts, at most
_RENEWAL_BACKOFF_MAX = 8.0  # seconds between two media renewals, at most


class MediaRecovery:
    """The media recovery of one call (see the module docstring)."""

    def __init__(self, call: Call) -> None:
        self.call = call

    async def watch(self) -> None:
        """The watchdog, from the call's establishment to its end."""
        call = self.call
        config = call.phone.config
        period = min(0.5, config.media_timeout / 4)
        while True:
            await asyncio.sleep(period)
            if call.state is not CallState.ESTABLISHED or call.held or call.remote_held:
                continue
            if call._now() - self._last_activity() < config.media_timeout:
                continue
            logger.info("call %s: no media for %.1f s", call.call_id, config.media_timeout)
            if call._flow_recovery.media_lost():  # no renewal without signalling
                return
            call._move(Input.MEDIA_LOST)
            await self._renew()

    def _last_activity(self) -> float:
        """When inbound RTP (audio or events) last arrived, or when media started to be
        expected, whichever is later."""
        call = self.call
        return max(call._media_since, call.media.last_rtp_at or 0.0)

    async def _renew(self) -> None:
        """Renew the media with backoff; end the call when every attempt fails."""
        call = self.call
        for attempt in range(1, call.phone.config.media_renewals + 1):
            call._move(Input.RENEW)
            self._publish(attempt, "started")
            if await self._renew_once():
                call._move(Input.MEDIA_BACK)
                self._publish(attempt, "succeeded")
                return
            self._publish(attempt, "failed")
            call._move(Input.MEDIA_LOST)
            await _backoff(attempt, 1.0, _RENEWAL_BACKOFF_MAX)
        await call._end_locally(EndReason.MEDIA_TIMEOUT)

    async def _renew_once(self) -> bool:
        """One renewal: a fresh session offered by re-INVITE; True once its packets flow."""
        call = self.call
        async with call._media_lock:
            fresh = call._new_media()
            try:
                offer = await fresh.create_offer()
                response = await call._reinvite_with(offer)
                if not 200 <= response.status_code < 300 or not response.body:
                    await fresh.close()
                    return False
                await fresh.set_answer(response.body)
            except (TimeoutError, CallFailed, ValueError):
                await fresh.close()
                return False
            except asyncio.CancelledError:
                await fresh.close()
                raise
            old, call.media = call.media, fresh
            call._remote_sdp = response.body
            await old.close()
        deadline = call._now() + call.phone.config.media_timeout
        while call._now() < deadline:
            if fresh.frames_received:
                return True
            await asyncio.sleep(0.05)
        return False

    def _publish(self, attempt: int, outcome: str) -> None:
        self.call._publish(MediaRenewal(call=self.call, attempt=attempt, outcome=outcome))


class FlowRecovery:
    """The signalling recovery of one call (see the module docstring)."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.active = False
        """The signalling flow was lost and the dialog is not refreshed yet."""
        self._answer: asyncio.Future[int] | None = None
        self._refreshing = False

    # -- inputs (from the call and the phone) ---------------------------------------------------
    def lost(self, keepable: bool) -> None:
        """The UA core kept the call when its flow closed; ``keepable``: the flow was the
        account's (which reconnects), not one of the phone's own."""
        call = self.call
        if call.ended or self.active:
            return
        if not keepable:
            self._fail("the connection is lost and is not reconnected")
            return
        if not self._media_alive():
            self._fail("the connection is lost and the media with it")
            return
        self.active = True
        logger.info("call %s: signalling flow lost, the call is kept", call.call_id)
        self._publish("lost")
        call._tasks.spawn(self._deadline(call.phone.config.flow_recovery_timeout))

    def flow_ready(self, flow: Flow) -> None:
        """The account is registered again over ``flow``: move the dialog there."""
        call = self.call
        if not self.active or self._refreshing or call.ended:
            return
        self._refreshing = True
        call._sip(lambda ua, c, now: ua.rebind(c, flow))
        call._tasks.spawn(self._refresh())

    def update_answered(self, status: int) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(status)

    def media_lost(self) -> bool:
        """The watchdog found no media: while the signalling is down it cannot be renewed,
        so the call ends; True when that happened."""
        if not self.active:
            return False
        self._fail("the media was lost while the signalling was down")
        return True

    def call_ended(self, status: int | None) -> EndReason | None:
        """The UA core ended the call while it was being recovered (481: the dialog is gone):
        the reason to report, or None when no recovery was under way."""
        if not self.active:
            return None
        self.active = False
        self._publish("failed", reason=f"the dialog could not be continued ({status})")
        return EndReason.CONNECTION_LOST

    # -- internals ------------------------------------------------------------------------------
    def _over(self) -> bool:
        """Restored, failed, or the call ended meanwhile."""
        return not self.active or self.call.ended

    def _media_alive(self) -> bool:
        call = self.call
        return call.state is CallState.ESTABLISHED and call.media.connection_state not in (
            "failed",
            "closed",
        )

    async def _deadline(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if self.active:
            self._fail(f"the signalling was not restored within {timeout:g} s")

    async def _refresh(self) -> None:
        call = self.call
        attempt = 0
        while not self._over():
            attempt += 1
            self._publish("refreshing", attempt=attempt)
            status = await self._refresh_once()
            if 200 <= status < 300:
                self.active = self._refreshing = False
                logger.info("call %s: signalling restored", call.call_id)
                self._publish("restored", attempt=attempt)
                return
            if self._over():
                return
            self._publish("refresh_failed", attempt=attempt, reason=str(status))
            await _backoff(attempt, 0.5, _BACKOFF_MAX)

    async def _refresh_once(self) -> int:
        """One target refresh; the status of its final response (408 when none came)."""
        call = self.call
        timeout = call.phone.config.answer_timeout
        self._answer = asyncio.get_running_loop().create_future()
        if call._sip(lambda ua, c, now: ua.refresh_target(c, now)):
            try:
                return await asyncio.wait_for(self._answer, timeout)
            except TimeoutError:
                return 408
        if call.state not in UP:
            return 500
        try:
            await call._renegotiate(held=call.held)
        except CallFailed as exc:
            return exc.status or 500
        except TimeoutError:
            return 408
        return 200

    def _fail(self, reason: str) -> None:
        self.active = False
        logger.info("call %s: %s", self.call.call_id, reason)
        self._publish("failed", reason=reason)
        self.call._tasks.spawn(self.call._end_locally(EndReason.CONNECTION_LOST))

    def _publish(self, state: str, *, attempt: int = 0, reason: str | None = None) -> None:
        self.call._publish(
            SignallingChanged(call=self.call, state=state, attempt=attempt, reason=reason)
        )


async def _backoff(attempt: int, first: float, most: float) -> None:
    """Wait before attempt ``attempt + 1``: ``first`` seconds doubled per attempt up to
    ``most``, of which a random 50-100 % (RFC 5626 §4.5)."""
    wait = min(most, first * 2 ** (attempt - 1))
    await asyncio.sleep(wait * random.uniform(0.5, 1.0))
