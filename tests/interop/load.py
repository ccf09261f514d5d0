"""Load through Kamailio without media: UA cores on stacks that register and place or answer
calls as fast as asked, with the figures a load test and the soak script print."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

from sipcore.account import Account
from sipcore.digest_client import DigestClient
from sipcore.events import Event
from sipcore.flow import Flow
from sipcore.registration import Registered, RegistrationConfig
from sipcore.stack import SipStack, StackConfig
from sipcore.timers import TimerConfig
from sipcore.ua import CallAnswered, CallEnded, EndReason, IncomingCall, UserAgent
from sipcore.uri import NameAddr, SipUri

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
# short RFC 6026 Timers L and M (64*T1) so that rounds drain quickly; TCP retransmits nothing
LOAD_TIMERS = TimerConfig(t1=0.08, t2=0.4, t4=0.5)


def stack_config(**changes: Any) -> StackConfig:
    return StackConfig(timers=LOAD_TIMERS, keepalive_interval=0, **changes)


class Agent:
    """A UA core with one registered account on a stack: answers every incoming call at once
    (no media) and hangs up every call of its own as soon as it is answered."""

    def __init__(self, stack: SipStack, domain: str, user: str, target: str) -> None:
        self.stack = stack
        self.user = user
        config = RegistrationConfig(
            aor=SipUri(domain, user=user), password=f"{user}pw", expires=300
        )
        self.account: Account = stack.account(config, target)
        self.ua = UserAgent(
            stack.layer,
            self.account.identity,
            credentials=DigestClient(user, f"{user}pw"),
            timers=LOAD_TIMERS,
        )
        stack.users.append(self)
        self.ended: Counter[EndReason] = Counter()
        # calls that ended otherwise than by a hangup, by (reason, status)
        self.refused: Counter[tuple[str, int | None]] = Counter()
        self.answered = 0
        self.peak_pending = 0
        self._changed = asyncio.Event()

    async def register(self) -> None:
        outcome = await self.account.register(15)
        assert isinstance(outcome, Registered), outcome

    def call(self, callee: str) -> None:
        flow = self.account.flow
        assert flow is not None
        aor = self.account.registration.config.aor
        me = NameAddr(aor)
        target = SipUri(aor.host, user=callee, port=aor.port)
        now = self.stack.now()
        self.ua.invite(
            target, from_addr=me, flow=flow, now=now, body=SDP, content_type="application/sdp"
        )
        self.stack.process()

    async def wait_ended(self, count: int, timeout: float) -> None:
        async def reached() -> None:
            while sum(self.ended.values()) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(reached(), timeout)

    # -- TransactionUser ---------------------------------------------------------------------
    def handle_event(self, event: Event, now: float) -> bool:
        consumed = self.ua.handle_event(event, now)
        self._drain(now)
        return consumed

    def flow_closed(self, flow: Flow, now: float) -> None:
        self.ua.flow_closed(flow, now)
        self._drain(now)

    def get_timer(self) -> float | None:
        return self.ua.get_timer()

    def handle_timer(self, now: float) -> None:
        self.ua.handle_timer(now)
        self._drain(now)

    def _drain(self, now: float) -> None:
        pending = self.stack.layer.pending_count("127.0.0.1")  # Kamailio, the only peer
        self.peak_pending = max(self.peak_pending, pending)
        while (event := self.ua.next_event()) is not None:
            if isinstance(event, IncomingCall):
                self.ua.answer(event.call, now, body=SDP, content_type="application/sdp")
            elif isinstance(event, CallAnswered):
                self.answered += 1
                self.ua.hangup(event.call, now)
            elif isinstance(event, CallEnded):
                self.ended[event.reason] += 1
                if event.reason not in (EndReason.LOCAL_HANGUP, EndReason.REMOTE_HANGUP):
                    self.refused[event.reason.value, event.status] += 1
                self._changed.set()


async def drained(*stacks: SipStack, timeout: float = 30.0) -> None:
    """Wait until no transaction is left on any of ``stacks``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while any(stack.layer.transaction_count for stack in stacks):
        if loop.time() > end:
            counts = [stack.layer.transaction_count for stack in stacks]
            raise AssertionError(f"transactions left: {counts}")
        await asyncio.sleep(0.1)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
