"""Our accounts against a real Kamailio registrar on loopback: UDP, TCP, WS and WSS."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from sipcore import SipUri
from sipcore.account import Connected, Disconnected, Reconnecting
from sipcore.registration import (
    AuthenticationFailed,
    Registered,
    RegistrationConfig,
    RegistrationSent,
    RegistrationTerminated,
    Unregistered,
)
from sipcore.stack import SipStack, StackConfig

from .helpers import until
from .kamailio_peer import Kamailio, KamailioFactory

TRANSPORTS = ["udp", "tcp", "ws", "wss"]


def target(kam: Kamailio, transport: str) -> str:
    if transport in ("ws", "wss"):
        return kam.uri(transport)  # type: ignore[arg-type]
    host, port = kam.address(transport)  # type: ignore[arg-type]
    return f"{transport}:{host}:{port}"


def stack_config(kam: Kamailio, **changes: object) -> StackConfig:
    assert kam.tls is not None
    base = StackConfig(ca_file=str(kam.tls.ca), reconnect_base=0.2, reconnect_max=1.0)
    return replace(base, **changes)  # type: ignore[arg-type]


def account_config(kam: Kamailio, user: str, **changes: object) -> RegistrationConfig:
    config = RegistrationConfig(
        aor=SipUri(kam.domain, user=user),
        password=f"{user}pw",
        instance_id=f"urn:uuid:00000000-0000-4000-8000-{int(user):012d}",
        expires=60,
    )
    return replace(config, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_register_and_unregister(kamailio: Kamailio, transport: str) -> None:
    user = str(1000 + TRANSPORTS.index(transport))
    async with SipStack(stack_config(kamailio)) as stack:
        account = stack.account(account_config(kamailio, user), target(kamailio, transport))
        outcome = await account.register()
        assert isinstance(outcome, Registered), outcome
        assert outcome.expires == 60
        (binding,) = kamailio.location(user)
        assert binding.expires is None or binding.expires <= 60
        kinds = [type(e) for e in account.history]
        assert kinds.count(RegistrationSent) == 2  # 401 challenge, then the answer
        await account.stop()
        assert isinstance(account.history[-1], Unregistered)
        assert kamailio.location(user) == []


async def test_refresh_before_expiry_over_wss(kamailio: Kamailio) -> None:
    async with SipStack(stack_config(kamailio)) as stack:
        config = account_config(kamailio, "1004", expires=10, refresh_fraction=0.5)
        account = stack.account(config, kamailio.wss_url)
        assert isinstance(await account.register(), Registered)
        await until(lambda: sum(isinstance(e, Registered) for e in account.history) >= 2, 12)
        sent = [e.request for e in account.history if isinstance(e, RegistrationSent)]
        # the refresh reuses the cached challenge, so no new 401 round trip
        assert len(sent) == 3
        assert sent[2].call_id == sent[0].call_id
        assert sent[2].authorization[0].params["nonce"] == sent[1].authorization[0].params["nonce"]
        assert len(kamailio.location("1004")) == 1
        await account.stop()


async def test_wrong_password_terminates_without_retry_storm(kamailio: Kamailio) -> None:
    async with SipStack(stack_config(kamailio)) as stack:
        config = account_config(kamailio, "1005", password="wrong")
        account = stack.account(config, target(kamailio, "udp"))
        outcome = await account.register()
        assert isinstance(outcome, RegistrationTerminated)
        assert outcome.status == 401
        assert any(isinstance(e, AuthenticationFailed) for e in account.history)
        await asyncio.sleep(1.0)
        assert sum(isinstance(e, RegistrationSent) for e in account.history) == 2
        assert kamailio.location("1005") == []
        await account.stop(unregister=False)


async def test_interval_too_brief(kamailio_factory: KamailioFactory) -> None:
    kam = kamailio_factory({"MIN_EXPIRES": 120})
    async with SipStack(stack_config(kam)) as stack:
        account = stack.account(account_config(kam, "1006", expires=60), target(kam, "tcp"))
        outcome = await account.register()
        assert isinstance(outcome, Registered), outcome
        assert outcome.expires >= 120
        await account.stop()


async def test_wss_refuses_an_unknown_certificate(kamailio: Kamailio) -> None:
    async with SipStack(replace(stack_config(kamailio), ca_file=None)) as stack:
        account = stack.account(account_config(kamailio, "1007"), kamailio.wss_url)
        account.start()
        await until(lambda: any(type(e).__name__ == "ConnectFailed" for e in account.history))
        failure = next(e for e in account.history if type(e).__name__ == "ConnectFailed")
        assert "certificate verify failed" in failure.reason  # type: ignore[attr-defined]
        await account.stop(unregister=False)


@pytest.mark.parametrize("transport", ["ws", "tcp"])
async def test_kamailio_restart_reconnects_and_reregisters(
    kamailio_factory: KamailioFactory, transport: str
) -> None:
    kam = kamailio_factory()
    user = "1008" if transport == "ws" else "1009"
    async with SipStack(stack_config(kam)) as stack:
        account = stack.account(account_config(kam, user), target(kam, transport))
        assert isinstance(await account.register(), Registered)
        kam.kill()  # SIGKILL: connections drop, the in-memory location is gone
        await until(lambda: any(isinstance(e, Disconnected) for e in account.history))
        await asyncio.sleep(0.5)  # a few refused reconnects while the server is away
        kam.start()
        await until(lambda: sum(isinstance(e, Registered) for e in account.history) >= 2, 15)
        assert len(kam.location(user)) == 1
        kinds = [type(e) for e in account.history]
        assert Reconnecting in kinds
        assert kinds.count(Connected) >= 2
        delays = [e.delay for e in account.history if isinstance(e, Reconnecting)]
        assert all(0 < d <= 1.0 for d in delays)  # jittered, capped at reconnect_max
        assert len(delays) < 30  # backoff, not a busy loop
        await account.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws"])
async def test_keepalives_keep_the_flow(kamailio: Kamailio, transport: str) -> None:
    # RFC 5626 §4.4: CRLF ping / pong on stream and WebSocket flows, OPTIONS on UDP; a flow
    # whose pongs come back stays up
    user = {"udp": "carol", "tcp": "dave", "ws": "alice"}[transport]
    config = stack_config(kamailio, keepalive_interval=0.3, keepalive_timeout=1.0)
    async with SipStack(config) as stack:
        account = stack.account(
            replace(account_config(kamailio, "1000"), aor=SipUri(kamailio.domain, user=user),
                    password=f"{user}pw", instance_id=None),
            target(kamailio, transport),
        )  # fmt: skip
        assert isinstance(await account.register(), Registered)
        await asyncio.sleep(2.0)  # several keep-alive rounds
        kinds = [type(e) for e in account.history]
        assert Disconnected not in kinds, account.history
        assert kinds.count(Connected) == 1
        await account.stop()


async def test_several_accounts_on_one_stack(kamailio: Kamailio) -> None:
    async with SipStack(stack_config(kamailio)) as stack:
        accounts = [
            stack.account(account_config(kamailio, user), kamailio.wss_url)
            for user in ("1000", "1001", "1002")
        ]
        outcomes = await asyncio.gather(*(a.register() for a in accounts))
        assert all(isinstance(o, Registered) for o in outcomes)
        for user in ("1000", "1001", "1002"):
            assert len(kamailio.location(user)) == 1
        await asyncio.gather(*(a.stop() for a in accounts))
        assert all(kamailio.location(u) == [] for u in ("1000", "1001", "1002"))
