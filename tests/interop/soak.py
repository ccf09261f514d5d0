"""The soak run (``scripts/soak [MINUTES]``, not part of the test suite): mixed traffic through
a Kamailio of its own for MINUTES (default 60), with figures every interval and at the end.

- calls without media between two UA cores at a steady rate (tests.interop.load.Agent);
- registration churn: ten accounts unregister and register again, over and over;
- calls with media between phones over WS and WSS: tones measured both ways, RFC 4733 DTMF,
  hold and resume, a blind transfer every fourth call, and every third call the caller's
  WebSocket is closed mid-call and the call must come back (client.recovery).

The figures: completed and failed calls of each kind, registrations, traced memory
(tracemalloc), resident memory, asyncio tasks and open descriptors. The exit status is 1 when
anything failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from client.call import Call, EndReason
from client.events import DtmfReceived, PhoneEvent, SignallingChanged
from client.phone import Phone
from sipcore.stack import SipStack
from sipcore.transport.pki import make_cert
from sipcore.ua import EndReason as CoreEnd
from tests.client.helpers import Ear, tone

from .helpers import hear, phones, until
from .kamailio_peer import Kamailio
from .load import Agent, open_fds, stack_config
from .processes import tail

CALL_RATE = 5.0  # calls without media per second
# SOAK_TRACE=A,B: tracemalloc snapshots after media calls A and B, the largest growths printed
TRACE_AT = tuple(int(n) for n in os.environ.get("SOAK_TRACE", "").split(",") if n)[:2]
CHURN_PERIOD = 10.0  # seconds between two registration rounds


class Soak:
    def __init__(self, minutes: float) -> None:
        self.minutes = minutes
        self.deadline = time.monotonic() + minutes * 60
        self.started = time.monotonic()
        self.first_refused: float | None = None  # seconds into the run
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.snapshots: list[tracemalloc.Snapshot] = []
        self.stopping = asyncio.Event()

    def fail(self, what: str) -> None:
        self.counts[f"{what.split(':', maxsplit=1)[0]} failed"] += 1
        if len(self.failures) < 50:
            self.failures.append(f"{self.elapsed():7.1f}s {what}")

    def running(self) -> bool:
        return not self.stopping.is_set() and time.monotonic() < self.deadline

    async def pause(self, seconds: float) -> None:
        """Sleep for ``seconds``, or until the run is stopped early."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    # -- calls without media --------------------------------------------------------------
    async def plain_calls(self, caller: Agent, callee: Agent) -> None:
        placed = 0
        while self.running():
            caller.call("uas")
            placed += 1
            self.count_plain(caller)
            await asyncio.sleep(1 / CALL_RATE)
        with contextlib.suppress(TimeoutError):
            await caller.wait_ended(placed, 30)
        self.count_plain(caller)
        if caller.refused or caller.ended.total() != placed:
            since = (
                f", the first at {self.first_refused:.0f} s"
                if self.first_refused is not None
                else ""
            )
            refused = ", ".join(
                f"{reason} {status}: {n}" for (reason, status), n in caller.refused.items()
            )
            self.fail(
                f"plain calls: {placed} placed, {caller.ended.total()} ended;"
                f" refused: {refused or 'none'}{since}"
            )

    def count_plain(self, caller: Agent) -> None:
        self.counts["plain calls"] = caller.ended[CoreEnd.LOCAL_HANGUP]
        if not caller.refused:
            return
        if self.first_refused is None:
            self.first_refused = self.elapsed()
            refused = dict(caller.refused)
            print(f"[{self.first_refused:7.1f}s] plain calls refused: {refused}", flush=True)
        self.counts["plain calls refused"] = caller.refused.total()

    async def churn(self, agents: list[Agent]) -> None:
        while self.running():
            for agent in agents:
                try:
                    await agent.account.stop()
                    await agent.register()
                    self.counts["registrations"] += 1
                except (AssertionError, TimeoutError) as exc:
                    self.fail(f"registration: {agent.user}: {exc!r}")
            await self.pause(CHURN_PERIOD)

    # -- calls with media ------------------------------------------------------------------
    async def media_calls(self, alice: Phone, bob: Phone, carol: Phone) -> None:
        # one subscription each for the whole run: one left unread would keep every later call
        self.bob_in, self.carol_in = bob.incoming(), carol.incoming()
        number = 0
        while self.running():
            number += 1
            try:
                await asyncio.wait_for(self.media_call(number, alice, bob, carol), 90)
                self.counts["media calls"] += 1
                if self.counts["media calls"] in TRACE_AT:
                    gc.collect()
                    self.snapshots.append(tracemalloc.take_snapshot())
                    if len(self.snapshots) == 2:
                        diff = self.snapshots[1].compare_to(self.snapshots[0], "traceback")
                        for stat in diff[:12]:
                            print(stat.size_diff, stat.count_diff, flush=True)
                            for line in stat.traceback.format()[-16:]:
                                print("   ", line, flush=True)
            except Exception as exc:  # report and go on with the next call
                self.fail(f"media call: #{number}: {exc!r}; {await media_state(alice, bob)}")
                await hang_up_all(alice, bob, carol)
                await asyncio.sleep(1.0)

    async def media_call(self, number: int, alice: Phone, bob: Phone, carol: Phone) -> None:
        # the listeners go in every case: one left behind (a failed call) would keep every
        # later event, and with them every later call and its media
        events: list[PhoneEvent] = []
        alice.on_event(events.append)
        bob_events: list[PhoneEvent] = []
        bob.on_event(bob_events.append)
        try:
            await self.media_call_steps(number, alice, bob, carol, events, bob_events)
        finally:
            alice._events.listeners.remove(events.append)
            bob._events.listeners.remove(bob_events.append)

    async def media_call_steps(
        self,
        number: int,
        alice: Phone,
        bob: Phone,
        carol: Phone,
        events: list[PhoneEvent],
        bob_events: list[PhoneEvent],
    ) -> None:
        out = await alice.dial("bob", source=tone("alice"))
        inc = await asyncio.wait_for(anext(self.bob_in), 15)
        inc.set_source(tone("bob"))
        await inc.answer()
        await out.wait_established(15)
        await inc.wait_established(15)
        a_ear, b_ear = Ear(out), Ear(inc)
        await hear(a_ear, 1000.0, "alice")
        await hear(b_ear, 440.0, "bob")
        await out.send_dtmf("5")
        await until(lambda: any(isinstance(e, DtmfReceived) for e in bob_events), 10)
        await inc.hold()
        await inc.unhold()
        await hear(b_ear, 440.0, "bob after hold")
        if number % 3 == 0:
            assert alice.account.flow is not None
            alice.stack.close_flow(alice.account.flow)
            await until(lambda: restored(events, out), 30)
            await hear(a_ear, 1000.0, "alice after the reconnect")
            self.counts["flows dropped and restored"] += 1
        if number % 4 == 0:
            transferring = asyncio.ensure_future(inc.transfer("carol"))
            new = await asyncio.wait_for(anext(self.carol_in), 15)
            new.set_source(tone("carol"))
            await new.answer()
            assert await transferring, "the transfer failed"
            await new.wait_established(15)
            await new.hangup()
            self.counts["transfers"] += 1
        else:
            await out.hangup()
            assert await inc.wait_ended(10) is EndReason.REMOTE_HANGUP
        await until(lambda: not alice.calls and not bob.calls and not carol.calls, 15)

    # -- figures ---------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def report(self, final: bool = False) -> None:
        elapsed = self.elapsed()
        traced = tracemalloc.get_traced_memory()[0] / 2**20
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        label = "end" if final else "now"
        tasks = Counter(task_name(task) for task in asyncio.all_tasks())
        kinds = ", ".join(f"{name} {n}" for name, n in tasks.most_common(6))
        print(
            f"[{elapsed:7.1f}s {label}] {counts}; traced {traced:.1f} MiB, rss {rss_mib():.1f} MiB,"
            f" tasks {tasks.total()} ({kinds}), fds {open_fds()}",
            flush=True,
        )

    async def reporter(self, interval: float) -> None:
        while self.running():
            await self.pause(min(interval, max(0.1, self.deadline - time.monotonic())))
            self.report()


async def hang_up_all(*phones: Phone) -> None:
    """Hang up what a failed media call left (in a function of its own: a loop variable of
    ``media_calls`` would keep the last call alive until the next failure)."""
    for made in phones:
        for call in list(made.calls):
            await call.hangup()


async def media_state(*phones: Phone) -> str:
    """What the media of the phones' calls did, for a failure report."""
    parts = []
    for made in phones:
        for call in made.calls:
            st = await call.stats()
            parts.append(
                f"{made.config.aor}: {st.codec} sent {st.packets_sent} received"
                f" {st.packets_received} lost {st.local_packets_lost} concealed"
                f" {st.concealed_frames} buffered {st.jitter_buffer_delay_ms} ms,"
                f" no packet for {st.no_packet_time} s"
            )
    return "; ".join(parts) or "no calls left"


def restored(events: list[PhoneEvent], call: Call) -> bool:
    return any(
        isinstance(e, SignallingChanged) and e.call is call and e.state == "restored"
        for e in events
    )


def task_name(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run(minutes: float) -> int:
    tracemalloc.start(20 if TRACE_AT else 1)
    run = Soak(minutes)
    main = asyncio.current_task()
    assert main is not None

    def stop(signum: int) -> None:
        # the first SIGINT/SIGTERM ends the run early with its figures, a second one at once;
        # either way Kamailio is stopped
        if run.running():
            print(f"soak: {signal.Signals(signum).name}, stopping after the calls under way")
            run.stopping.set()
        else:
            main.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        kam = Kamailio(Path(workdir), tls=make_cert(Path(workdir) / "tls"), shm_mb=128)
        kam.start()
        try:
            status = await soak(kam, run)
            if status:
                print(f"soak: the end of the Kamailio log:\n{tail(kam.log_path)}")
            return status
        finally:
            kam.stop()


async def soak(kam: Kamailio, run: Soak) -> int:
    kam.add_user("uac", "uacpw")
    kam.add_user("uas", "uaspw")
    host, port = kam.address("tcp")
    target = f"tcp:{host}:{port}"
    async with (
        SipStack(stack_config()) as reg_stack,
        SipStack(stack_config()) as a_stack,
        SipStack(stack_config()) as b_stack,
    ):
        agents = [Agent(reg_stack, kam.domain, str(1000 + i), target) for i in range(10)]
        caller = Agent(a_stack, kam.domain, "uac", target)
        callee = Agent(b_stack, kam.domain, "uas", target)
        for agent in (caller, callee, *agents):
            await agent.register()
        async with phones(kam, "alice/ws", "bob/wss", "carol/ws") as (alice, bob, carol):
            interval = min(60.0, max(10.0, run.minutes * 60 / 6))
            print(
                f"soak: {run.minutes:g} min through Kamailio {target}, figures every {interval:g} s"
            )
            await asyncio.gather(
                run.plain_calls(caller, callee),
                run.churn(agents),
                run.media_calls(alice, bob, carol),
                run.reporter(interval),
            )
    run.report(final=True)
    for failure in run.failures:
        print("FAILED", failure)
    early = f" (stopped early, at {run.elapsed() / 60:.1f} min)" if run.stopping.is_set() else ""
    print("soak: " + ("FAILED" if run.failures else "passed") + early)
    return 1 if run.failures else 0


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    sys.exit(asyncio.run(run(minutes), debug=False))


if __name__ == "__main__":
    main()
