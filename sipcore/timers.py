"""Transaction timers: RFC 3261 §17 Table 4, plus Timers L and M of RFC 6026 §8.4.

The core never reads a clock: machines keep absolute deadlines computed from the ``now`` they are
given, and expose the earliest one. Durations depend on whether the transport is reliable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Timer(enum.Enum):
    """The RFC 3261 / RFC 6026 transaction timers (C belongs to proxies and is not used here)."""

    __hash__ = object.__hash__  # identity, as Enum equality is; faster than hashing the name

    A = "A"  # INVITE request retransmit interval, unreliable transports
    B = "B"  # INVITE transaction timeout
    D = "D"  # wait time for response retransmits
    E = "E"  # non-INVITE request retransmit interval, unreliable transports
    F = "F"  # non-INVITE transaction timeout
    G = "G"  # INVITE response retransmit interval
    H = "H"  # wait time for ACK receipt
    I = "I"  # wait time for ACK retransmits  # noqa: E741
    J = "J"  # wait time for non-INVITE request retransmits
    K = "K"  # wait time for response retransmits
    L = "L"  # RFC 6026: wait time for accepted INVITE request retransmits
    M = "M"  # RFC 6026: wait time for retransmission of 2xx to INVITE


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """Base values of the timers (§17.1.1.1, Table 4). Change them only for good reason."""

    t1: float = 0.5
    """Round-trip time estimate, seconds."""
    t2: float = 4.0
    """Maximum retransmit interval for non-INVITE requests and INVITE responses, seconds."""
    t4: float = 5.0
    """Maximum duration a message remains in the network, seconds."""

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2 or self.t4 <= 0:
            raise ValueError("timer values must satisfy 0 < t1 <= t2 and t4 > 0")

    def initial(self, timer: Timer, reliable: bool) -> float:
        """The first duration of ``timer`` (Table 4; 0 where a reliable transport makes it moot)."""
        t1, t4 = self.t1, self.t4
        if timer in (Timer.A, Timer.E, Timer.G):
            return t1
        if timer in (Timer.B, Timer.F, Timer.H, Timer.L, Timer.M):
            return 64 * t1
        if timer is Timer.D:
            return 0.0 if reliable else max(32.0, 64 * t1)
        if timer is Timer.J:
            return 0.0 if reliable else 64 * t1
        # Timers I and K
        return 0.0 if reliable else t4


DEFAULT_TIMERS = TimerConfig()
