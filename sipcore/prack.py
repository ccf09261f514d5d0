"""Reliable provisional responses (RFC 3262): RSeq and RAck, and the state each side keeps.

The UAS sends a reliable provisional with ``Require: 100rel`` and an ``RSeq`` that starts at a
random value and grows by one (§3); it retransmits it at T1, 2*T1, 4*T1 ... until the PRACK
that names it arrives, and gives up after 64*T1. Only one reliable provisional is outstanding
at a time: later ones wait in a queue. The UAC acknowledges each reliable provisional in RSeq
order with a PRACK carrying ``RAck: <rseq> <cseq> INVITE`` (§4, §7.2).

Pure state: the UA core (``sipcore.ua``) sends what these objects tell it to.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ParseError
from .events import Event
from .message import Request, Response
from .timers import DEFAULT_TIMERS, TimerConfig

if TYPE_CHECKING:
    from .ua import Call

RSEQ_MAX = 2**31 - 1


def parse_rseq(value: str) -> int:
    """§7.1: ``RSeq = 1*DIGIT`` in 1 .. 2**31-1."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise ParseError(f"bad RSeq: {value!r}")
    number = int(text)
    if not 1 <= number <= RSEQ_MAX:
        raise ParseError(f"RSeq out of range: {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class RAck:
    """§7.2: the response a PRACK acknowledges: its RSeq, and the CSeq of the request."""

    rseq: int
    cseq: int
    method: str

    @classmethod
    def parse(cls, value: str) -> RAck:
        parts = value.split()
        if len(parts) != 3:
            raise ParseError(f"bad RAck: {value!r}")
        rseq = parse_rseq(parts[0])
        cseq = parts[1]
        if not cseq.isascii() or not cseq.isdigit() or len(cseq) > 10 or int(cseq) >= 2**31:
            raise ParseError(f"bad RAck CSeq: {value!r}")
        method = parts[2]
        if not method.isascii() or not method.isalpha():
            raise ParseError(f"bad RAck method: {value!r}")
        return cls(rseq, int(cseq), method)

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


def response_rseq(response: Response) -> int | None:
    """The RSeq of a reliable provisional (``Require: 100rel`` and RSeq), None for one sent
    unreliably; ParseError when the header fields are malformed."""
    if not 100 < response.status_code < 200 or "100rel" not in response.require:
        return None
    value = response.headers.get("rseq")
    if value is None:
        raise ParseError("a reliable provisional response without RSeq")
    return parse_rseq(value)


def request_rack(request: Request) -> RAck:
    value = request.headers.get("rack")
    if value is None:
        raise ParseError("PRACK without RAck")
    return RAck.parse(value)


def wants_100rel(request: Request) -> tuple[bool, bool]:
    """(supported, required): what the INVITE says of 100rel (malformed lists count as no)."""
    try:
        required = "100rel" in request.require
        supported = required or "100rel" in request.supported
    except ParseError:
        return False, False
    return supported, required


@dataclass(frozen=True, slots=True, kw_only=True)
class PrackReceived(Event):
    """The PRACK for our reliable provisional arrived and was answered with 200; its body
    (``request.body``) is the answer when the provisional carried an offer."""

    call: Call
    request: Request


@dataclass(slots=True)
class _Outstanding:
    response: Response
    rseq: int
    interval: float
    next_at: float
    give_up_at: float


class ReliableProvisionals:
    """UAS: the reliable provisionals of one INVITE (§3)."""

    def __init__(self, timers: TimerConfig = DEFAULT_TIMERS, start: int | None = None) -> None:
        self.timers = timers
        # §3: the first RSeq is random in 1 .. 2**31-1, leaving room to count up
        self._next = start if start is not None else 1 + secrets.randbelow(2**30)
        self.outstanding: _Outstanding | None = None
        self.queue: deque[Response] = deque()
        self.acknowledged = 0
        self.late: set[int] = set()  # RSeqs left unacknowledged by a final response

    def next_rseq(self) -> int:
        rseq = self._next
        self._next += 1
        return rseq

    @property
    def unacknowledged_offer(self) -> bool:
        """§3: a provisional with a body (offer or answer) not yet PRACKed holds back the 2xx."""
        if self.outstanding is not None and self.outstanding.response.body:
            return True
        return any(response.body for response in self.queue)

    def send(self, response: Response, now: float) -> Response | None:
        """Take a reliable provisional; returns it when it goes out now, None when queued."""
        if self.outstanding is not None:
            self.queue.append(response)
            return None
        self._start(response, now)
        return response

    def _start(self, response: Response, now: float) -> None:
        rseq = parse_rseq(response.headers.get("rseq") or "")
        t1 = self.timers.t1
        self.outstanding = _Outstanding(response, rseq, t1, now + t1, now + 64 * t1)

    def prack(self, rack: RAck, invite: Request, now: float) -> tuple[bool, Response | None]:
        """A PRACK arrived: (matched, next queued provisional to send now)."""
        pending = self.outstanding
        if rack.cseq != invite.cseq.number or rack.method != invite.method:
            return False, None
        if rack.rseq in self.late:
            # §3: after the final response a PRACK for an outstanding provisional is still fine
            self.late.discard(rack.rseq)
            return True, None
        if pending is None or rack.rseq != pending.rseq:
            return False, None
        self.outstanding = None
        self.acknowledged += 1
        if self.queue:
            following = self.queue.popleft()
            self._start(following, now)
            return True, following
        return True, None

    def stop(self) -> None:
        """A final response went out: no more retransmissions (§3)."""
        if self.outstanding is not None:
            self.late.add(self.outstanding.rseq)
        self.outstanding = None
        self.queue.clear()

    def get_timer(self) -> float | None:
        pending = self.outstanding
        return None if pending is None else min(pending.next_at, pending.give_up_at)

    def handle_timer(self, now: float) -> tuple[Response | None, bool]:
        """(provisional to retransmit, gave up): §3, every T1*2^n until 64*T1."""
        pending = self.outstanding
        if pending is None:
            return None, False
        if pending.give_up_at <= now:
            self.stop()
            return None, True
        if pending.next_at <= now:
            pending.interval *= 2
            pending.next_at = now + pending.interval
            return pending.response, False
        return None, False


class RseqOrder:
    """UAC: §4, per early dialog (remote tag): the first RSeq is taken as it comes, then only
    the next one is processed; retransmissions and responses out of order are ignored."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def accept(self, tag: str, rseq: int) -> bool:
        last = self._last.get(tag)
        if last is not None and rseq != last + 1:
            return False
        self._last[tag] = rseq
        return True

    def seen(self, tag: str) -> bool:
        return tag in self._last


__all__ = [
    "RSEQ_MAX",
    "PrackReceived",
    "RAck",
    "ReliableProvisionals",
    "RseqOrder",
    "parse_rseq",
    "request_rack",
    "response_rseq",
    "wants_100rel",
]
