"""A CI-sized load test through Kamailio (well under 60 s): registrations per second, calls per
second between two UA cores without media, and a few calls with media between phones; no
failed call, memory flat between rounds (tracemalloc), no leaked tasks or descriptors.

The UAS stack sees every request from Kamailio as coming from one peer: the per-peer limit on
pending server transactions (``Limits.max_transactions_per_peer``) counts only requests not
answered yet, so the peak printed here stays far below it at these rates."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from client.call import EndReason as CallEnd
from sipcore.message import DEFAULT_LIMITS
from sipcore.stack import SipStack
from sipcore.ua import EndReason
from tests.client.helpers import Ear, connect

from .helpers import hear, phones
from .kamailio_peer import Kamailio
from .load import Agent, drained, open_fds, stack_config

CALLS_PER_ROUND = 60
RATE = 30.0  # calls started per second
ROUNDS = 4  # the first one warms up
LEAK_BOUND = 400 * 1024
"""Bytes the traced memory may grow from the first measured round to the last. A leak of one
call's UA state (Call, dialog, messages: over 10 KiB) per call would add several MiB; what
does grow a little is the digest client's cache of challenges (one per 407, bounded at 256
entries per table)."""


async def media_calls(kam: Kamailio, count: int) -> None:
    async with phones(kam, "alice", "bob") as (alice, bob):
        for _ in range(count):
            out, inc = await connect(alice, bob, "bob")
            out_ear, inc_ear = Ear(out), Ear(inc)
            await hear(out_ear, 1000.0, "alice")
            await hear(inc_ear, 440.0, "bob")
            await out.hangup()
            assert await inc.wait_ended(10) is CallEnd.REMOTE_HANGUP


async def settle(baseline: int) -> int:
    """Wait (bounded) for the tasks of closed stacks to finish; the number left."""
    for _ in range(100):
        if len(asyncio.all_tasks()) <= baseline:
            break
        await asyncio.sleep(0.05)
    return len(asyncio.all_tasks())


async def test_registrations_and_calls_per_second(kamailio: Kamailio) -> None:
    loop = asyncio.get_running_loop()
    await media_calls(kamailio, 2)
    print("\nmedia calls: 2 with tones both ways")

    host, port = kamailio.address("tcp")
    target = f"tcp:{host}:{port}"
    base_tasks = len(asyncio.all_tasks())
    base_fds = open_fds()
    tracemalloc.start()
    try:
        async with (
            SipStack(stack_config()) as reg_stack,
            SipStack(stack_config()) as a_stack,
            SipStack(stack_config()) as b_stack,
        ):
            # registrations: ten accounts register and unregister, three times over
            agents = [Agent(reg_stack, kamailio.domain, str(1000 + i), target) for i in range(10)]
            started = loop.time()
            for _ in range(3):
                await asyncio.gather(*(agent.register() for agent in agents))
                await asyncio.gather(*(agent.account.stop() for agent in agents))
            elapsed = loop.time() - started
            print(f"registrations: {60 / elapsed:.0f}/s (60 REGISTER, each challenged once)")

            kamailio.add_user("uac", "uacpw")
            kamailio.add_user("uas", "uaspw")
            caller = Agent(a_stack, kamailio.domain, "uac", target)
            callee = Agent(b_stack, kamailio.domain, "uas", target)
            await caller.register()
            await callee.register()
            memory: list[int] = []
            for round_ in range(ROUNDS):
                started = loop.time()
                for _ in range(CALLS_PER_ROUND):
                    caller.call("uas")
                    await asyncio.sleep(1 / RATE)
                total = CALLS_PER_ROUND * (round_ + 1)
                await caller.wait_ended(total, 30)
                await callee.wait_ended(total, 30)
                rate = CALLS_PER_ROUND / (loop.time() - started)
                await drained(a_stack, b_stack, reg_stack)
                gc.collect()
                memory.append(tracemalloc.get_traced_memory()[0])
                print(
                    f"round {round_}: {rate:.0f} calls/s completed, traced memory "
                    f"{memory[-1] / 1024:.0f} KiB, UAS peak pending {callee.peak_pending}"
                )
            total = CALLS_PER_ROUND * ROUNDS
            assert caller.ended == {EndReason.LOCAL_HANGUP: total}, caller.ended
            assert callee.ended == {EndReason.REMOTE_HANGUP: total}, callee.ended
            assert caller.answered == total
            assert caller.ua.calls == {} and callee.ua.calls == {}
            assert a_stack.dropped == [] and b_stack.dropped == []
            assert callee.peak_pending < DEFAULT_LIMITS.max_transactions_per_peer // 10
            growth = max(memory[1:]) - memory[1]
            bound = LEAK_BOUND // 1024
            print(f"memory growth after warm-up: {growth / 1024:.0f} KiB (bound {bound})")
            assert growth < LEAK_BOUND
            await caller.account.stop()
            await callee.account.stop()
    finally:
        tracemalloc.stop()
    tasks = await settle(base_tasks)
    assert tasks <= base_tasks, list(asyncio.all_tasks())
    assert open_fds() <= base_fds
    print(f"tasks {tasks} (baseline {base_tasks}), descriptors {open_fds()} (baseline {base_fds})")
