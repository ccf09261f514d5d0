"""Short smoke tests of the registration client driver on loopback sockets: register, digest,
reconnection with backoff, and connection failures (the registration machine has its own tests)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from sipcore import SipUri
from sipcore.account import Account, Connected, ConnectFailed, Disconnected, Reconnecting
from sipcore.digest_server import make_challenge, verify
from sipcore.events import Event
from sipcore.registration import Registered, RegistrationConfig, RegistrationTerminated
from sipcore.stack import IncomingRequest, SipStack, StackConfig
from sipcore.transport import server_ssl_context
from sipcore.transport.pki import make_cert
from sipcore.uas import UasPolicy
from tests.sipcore.stack_helpers import FAST, until


def _registrar(stack: SipStack, password: str, *, expires: int = 60) -> None:
    """A minimal digest registrar as a request handler of a stack."""

    def handler(incoming: IncomingRequest) -> None:
        request = incoming.request
        creds = request.authorization
        if not creds or not verify(creds[0], method="REGISTER", password=password):
            incoming.respond(401, headers=[("WWW-Authenticate", make_challenge("example.com"))])
            return
        contacts = [
            str(c.replace(params={**c.params, "expires": str(expires)})) for c in request.contacts
        ]
        incoming.respond(200, headers=[("Contact", c) for c in contacts])

    stack.on_request(handler)


def _alice(
    client: SipStack, target: str, password: str = "pw", *, reconnect: bool = True
) -> Account:
    """alice@example.com registering at ``target`` from ``client``."""
    config = RegistrationConfig(aor=SipUri("example.com", user="alice"), password=password)
    return client.account(config, target, reconnect=reconnect)


def registrar_config() -> StackConfig:
    return replace(FAST, policy=UasPolicy(allow=("REGISTER", "OPTIONS")))


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws"])
async def test_account_registers_with_digest(transport: str) -> None:
    async with SipStack(registrar_config()) as server, SipStack(FAST) as client:
        listener = await server.listen(transport.upper())
        _registrar(server, "alicepw")
        host, port = listener.local
        target = f"ws://{host}:{port}" if transport == "ws" else f"{transport}:{host}:{port}"
        account = _alice(client, target, "alicepw")
        outcome = await account.register(timeout=5)
        assert isinstance(outcome, Registered)
        assert outcome.expires == 60
        await account.stop()
        assert account.state.value == "unregistered"


async def test_wrong_password_terminates_without_retry_storm() -> None:
    async with SipStack(registrar_config()) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        _registrar(server, "right")
        account = _alice(client, f"udp:{listener.local[0]}:{listener.local[1]}", "wrong")
        outcome = await account.register(timeout=5)
        assert isinstance(outcome, RegistrationTerminated)
        assert outcome.status == 401
        sent = sum(type(e).__name__ == "RegistrationSent" for e in account.history)
        assert sent == 2  # one challenge answered, then stop
        await asyncio.sleep(0.3)
        assert sum(type(e).__name__ == "RegistrationSent" for e in account.history) == 2
        await account.stop()


async def test_reconnects_with_backoff_and_reregisters() -> None:
    async with SipStack(registrar_config()) as server, SipStack(FAST) as client:
        listener = await server.listen("TCP")
        _registrar(server, "pw")
        host, port = listener.local
        account = _alice(client, f"tcp:{host}:{port}")
        assert isinstance(await account.register(timeout=5), Registered)
        assert account.flow is not None
        # the server drops the connection: the account reconnects and registers again
        server.close_flow(next(iter(listener.flows())))
        await until(lambda: sum(isinstance(e, Registered) for e in account.history) == 2, 2.0)
        kinds = [type(e) for e in account.history]
        assert Disconnected in kinds
        assert Reconnecting in kinds
        assert kinds.count(Connected) == 2
        assert kinds.count(Registered) == 2
        await account.stop()


async def test_connect_failure_backs_off_without_busy_loop() -> None:
    async with SipStack(FAST) as client:
        account = _alice(client, "tcp:127.0.0.1:9")  # nothing listens there
        account.start()
        await asyncio.sleep(0.6)
        attempts = sum(type(e).__name__ == "ConnectFailed" for e in account.history)
        assert 2 <= attempts <= 12
        # RFC 5626 §4.5: 50-100 % of min(max, base * 2^(attempt-1))
        for event in account.history:
            if isinstance(event, Reconnecting):
                wait = min(FAST.reconnect_max, FAST.reconnect_base * 2 ** (event.attempt - 1))
                assert wait / 2 <= event.delay <= wait
        await account.stop()


async def test_without_reconnect_a_failed_connection_terminates() -> None:
    async with SipStack(FAST) as client:
        account = _alice(client, "tcp:127.0.0.1:9", reconnect=False)  # nothing listens there
        outcome = await account.register(timeout=5)
        assert isinstance(outcome, RegistrationTerminated)
        assert outcome.reason.startswith("connection failed")
        kinds = [type(e).__name__ for e in account.history]
        assert kinds == ["Connecting", "ConnectFailed", "RegistrationTerminated"]
        assert not account.running()


async def test_without_reconnect_a_lost_flow_terminates() -> None:
    async with SipStack(registrar_config()) as server, SipStack(FAST) as client:
        listener = await server.listen("TCP")
        _registrar(server, "pw")
        host, port = listener.local
        account = _alice(client, f"tcp:{host}:{port}", reconnect=False)
        assert isinstance(await account.register(timeout=5), Registered)
        server.close_flow(next(iter(listener.flows())))
        await until(lambda: isinstance(account.history[-1], RegistrationTerminated), 2.0)
        last = account.history[-1]
        assert isinstance(last, RegistrationTerminated) and last.reason == "connection lost"
        kinds = [type(e) for e in account.history]
        assert Disconnected in kinds and Reconnecting not in kinds
        assert kinds.count(Connected) == 1 and not account.running()
        # started again, it connects and registers anew
        assert isinstance(await account.register(timeout=5), Registered)
        await account.stop()


async def _failed_attempts(
    client: SipStack, target: str
) -> tuple[list[Event], list[ConnectFailed], float]:
    """An account on ``target``, which cannot be reached, stopped after three failed attempts
    (however slow the machine is): (its history, the failures, the seconds it ran). Each attempt
    fails once, then waits its RFC 5626 §4.5 backoff, at least half the base delay: no busy
    loop, and nothing is sent."""
    account = _alice(client, target)
    started = client.now()
    account.start()
    await until(lambda: sum(isinstance(e, ConnectFailed) for e in account.history) >= 3, 10.0, 0.05)
    await account.stop()
    elapsed = client.now() - started
    history = account.history
    failures = [e for e in history if isinstance(e, ConnectFailed)]
    assert 3 <= len(failures) <= 1 + elapsed / (FAST.reconnect_base / 2)
    kinds = [type(e).__name__ for e in history]
    assert "Connected" not in kinds and "RegistrationSent" not in kinds
    delays = [e.delay for e in history if isinstance(e, Reconnecting)]
    assert all(d >= FAST.reconnect_base / 2 for d in delays)
    return history, failures, elapsed


@pytest.mark.parametrize(
    "target",
    ["udp:sip.example.invalid:5060", "tcp:sip.example.invalid:5060", "wss://sip.example.invalid/"],
)
async def test_dns_failure_is_one_clear_error_per_attempt_with_backoff(target: str) -> None:
    # RFC 6761 §6.4: .invalid never resolves (no network needed); every attempt fails once,
    # saying which name, then waits its RFC 5626 §4.5 backoff: no busy loop
    async with SipStack(FAST) as client:
        history, failures, elapsed = await _failed_attempts(client, target)
        kinds = [type(e).__name__ for e in history]
        assert kinds.count("Connecting") in (len(failures), len(failures) + 1)
        for failure in failures:
            assert "sip.example.invalid" in failure.reason
            assert "resolve" in failure.reason or "Name or service not known" in failure.reason
        delays = [e.delay for e in history if isinstance(e, Reconnecting)]
        assert sum(delays[:-1]) <= elapsed  # the last one may still be running


@pytest.mark.parametrize("scheme", ["wss", "tls"])
async def test_certificate_for_another_host_is_one_clear_error_per_attempt_with_backoff(
    tmp_path: Path, scheme: str
) -> None:
    # the server's certificate is signed by a CA we trust but names another host: every
    # attempt fails once, saying so, then waits its backoff (RFC 5626 §4.5)
    certs = make_cert(tmp_path, hosts=("sip.other.example",))
    config = replace(FAST, ca_file=str(certs.ca))
    async with SipStack(FAST) as server, SipStack(config) as client:
        ssl = server_ssl_context(str(certs.cert), str(certs.key))
        listener = await server.listen("WSS" if scheme == "wss" else "TLS", ssl=ssl)
        port = listener.local[1]
        target = f"wss://127.0.0.1:{port}/" if scheme == "wss" else f"tls:127.0.0.1:{port}"
        _, failures, _ = await _failed_attempts(client, target)
        for failure in failures:
            assert "certificate" in failure.reason.lower(), failure.reason
            assert "127.0.0.1" in failure.reason, failure.reason


async def test_register_503_retry_after_zero_is_retried_with_backoff_then_given_up() -> None:
    # §21.5.4 / RFC 5626 §4.5: a registrar that answers 503 Retry-After: 0 to everything gets
    # max_retries more REGISTERs, spaced by the growing floor on the loop clock, not a loop
    registrar = replace(FAST, policy=UasPolicy(allow=("REGISTER", "OPTIONS")))
    async with SipStack(registrar) as server, SipStack(FAST) as client:
        seen: list[float] = []

        def busy(incoming: IncomingRequest) -> None:
            seen.append(server.now())
            incoming.respond(503, headers=[("Retry-After", "0")])

        server.on_request(busy)
        listener = await server.listen("TCP")
        config = RegistrationConfig(
            aor=SipUri("example.com", user="alice"), password="pw", max_retries=2
        )
        account = client.account(config, f"tcp:127.0.0.1:{listener.local[1]}", reconnect=False)
        outcome = await account.register(timeout=30)
        assert isinstance(outcome, RegistrationTerminated) and outcome.status == 503
        assert len(seen) == 3
        gaps = [seen[1] - seen[0], seen[2] - seen[1]]
        assert gaps[0] >= 1.0 and gaps[1] >= 2.0  # 2^(n-1) s floors
        await account.stop(unregister=False)


async def test_events_go_to_open_readers_only() -> None:
    # the registration churn of the soak run: an account stopped and registered again every
    # ten seconds kept its last 1000 events (whole REGISTERs and answers) for a reader that
    # never came; events are now queued only for an open events() iterator
    async with SipStack(registrar_config()) as server, SipStack(FAST) as client:
        listener = await server.listen("TCP")
        _registrar(server, "alicepw")
        host, port = listener.local
        account = _alice(client, f"tcp:{host}:{port}", "alicepw")
        reader = account.events()
        first = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0)  # the reader is open
        assert isinstance(await account.register(timeout=5), Registered)
        seen = [await first]
        while not isinstance(seen[-1], Registered):
            seen.append(await asyncio.wait_for(anext(reader), 5))
        await reader.aclose()
        assert account._readers == []
        for _ in range(30):  # nobody reads: only the bounded history keeps events
            await account.stop()
            assert isinstance(await account.register(timeout=5), Registered)
        assert account._readers == [] and len(account.history) <= 200
        await account.stop()
