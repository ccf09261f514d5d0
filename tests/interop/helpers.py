"""Shared by the interop tests and the soak run: phones registered through Kamailio, a SIPp
REGISTER through Kamailio, and waits for a condition and for a tone in a call's audio. The waits
poll instead of sleeping a fixed time, so that a loaded machine only makes them slower, not
fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from client.config import PhoneConfig
from client.phone import Phone
from sipcore.stack import StackConfig
from tests.client.helpers import LOOPBACK, Ear

from .kamailio_peer import Kamailio
from .sipp_peer import Sipp, SippResult


@asynccontextmanager
async def phones(kam: Kamailio, *names: str) -> AsyncIterator[list[Phone]]:
    """Phones registered through ``kam``, one per ``user`` or ``user/transport`` (``ws`` or
    ``wss``, the default); they reconnect after 0.2 to 1 s, for the tests that cut flows."""
    assert kam.tls is not None
    async with AsyncExitStack() as stack:
        result = []
        for item in names:
            name, _, transport = item.partition("/")
            config = PhoneConfig(
                aor=f"sip:{name}@{kam.domain}",
                server=kam.uri(transport or "wss"),  # type: ignore[arg-type]
                password=f"{name}pw",
                display_name=name.title(),
                ca_file=str(kam.tls.ca),
                media=LOOPBACK,
            )
            stack_config = StackConfig(
                ca_file=str(kam.tls.ca), reconnect_base=0.2, reconnect_max=1.0
            )
            phone = await stack.enter_async_context(Phone(config, stack_config=stack_config))
            await phone.register()
            result.append(phone)
        yield result


async def until(
    condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.01
) -> None:
    """Return once ``condition()`` is true, checking every ``interval`` seconds;
    AssertionError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"condition not reached in {timeout} s")
        await asyncio.sleep(interval)


async def hear(ear: Ear, frequency: float, who: str, timeout: float = 10.0) -> None:
    """Wait until the frames ``ear`` receives from now on hold ``frequency`` more than
    20 dB over the noise (:meth:`Ear.tone`, over 25 frames that all arrived after this
    call); AssertionError with the last level after ``timeout`` seconds. The level is
    measured every 0.1 s: a measurement costs a few milliseconds of Python."""
    start = len(ear.frames)
    heard = float("-inf")

    def loud() -> bool:
        nonlocal heard
        if len(ear.frames) - start < 25:
            return False
        heard = ear.tone(frequency)
        return heard > 20

    try:
        await until(loud, timeout, 0.1)
    except AssertionError:
        new = len(ear.frames) - start
        raise AssertionError(
            f"{who} hears {heard:.0f} dB at {frequency:.0f} Hz ({new} new frames)"
        ) from None


def register(
    sipp: Sipp, kam: Kamailio, user: str, password: str, port: int, **variables: str | int
) -> SippResult:
    """REGISTER user (contact 127.0.0.1:port) with reg_auth.xml, over UDP."""
    return sipp.run(
        "reg_auth.xml",
        "-m",
        1,
        "-p",
        port,
        "-au",
        user,
        "-ap",
        password,
        "-default_behaviors",
        "all,-bye",
        remote=kam.hostport("udp"),
        variables={"user": user, "domain": kam.domain, **variables},
        timeout=15,
    )
