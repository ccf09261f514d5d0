"""INVITE handling of the UAS core that lives outside transactions (RFC 3261 §13.3.1.4).

With RFC 6026 the INVITE server transaction leaves 2xx retransmission to the TU: the UAS core
resends the 2xx at T1, doubling up to T2, until the ACK comes, and gives up after 64*T1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import Event
from .flow import Flow
from .message import Request, Response
from .timers import DEFAULT_TIMERS, TimerConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class AckTimedOut(Event):
    """No ACK came for a 2xx within 64*T1 (§13.3.1.4): the UAS should end the dialog."""

    response: Response


@dataclass(slots=True)
class _Pending:
    data: bytes
    flow: Flow
    response: Response
    interval: float
    next_at: float
    give_up_at: float


def _ack_key(call_id: str, cseq: int, to_tag: str | None) -> tuple[str, int, str]:
    return (call_id, cseq, to_tag or "")


class SuccessRetransmitter:
    """Retransmits 2xx responses to INVITE until their ACK arrives (§13.3.1.4)."""

    def __init__(self, timers: TimerConfig = DEFAULT_TIMERS) -> None:
        self.timers = timers
        self._pending: dict[tuple[str, int, str], _Pending] = {}
        self.events: list[AckTimedOut] = []

    def __len__(self) -> int:
        return len(self._pending)

    def start(self, response: Response, flow: Flow, now: float) -> None:
        """Track a 2xx to INVITE that was just sent on ``flow``."""
        key = _ack_key(response.call_id, response.cseq.number, response.to.tag)
        t1 = self.timers.t1
        self._pending[key] = _Pending(bytes(response), flow, response, t1, now + t1, now + 64 * t1)

    def ack(self, request: Request) -> bool:
        """An ACK arrived; True when it acknowledged a tracked 2xx."""
        key = _ack_key(request.call_id, request.cseq.number, request.to.tag)
        return self._pending.pop(key, None) is not None

    def get_timer(self) -> float | None:
        if not self._pending:
            return None
        return min(min(p.next_at, p.give_up_at) for p in self._pending.values())

    def handle_timer(self, now: float) -> list[tuple[bytes, Flow]]:
        """Due retransmissions; expired ones become AckTimedOut events."""
        out: list[tuple[bytes, Flow]] = []
        for key, pending in list(self._pending.items()):
            if pending.give_up_at <= now:
                del self._pending[key]
                self.events.append(AckTimedOut(response=pending.response))
            elif pending.next_at <= now:
                out.append((pending.data, pending.flow))
                pending.interval = min(2 * pending.interval, self.timers.t2)
                pending.next_at = now + pending.interval
        return out
