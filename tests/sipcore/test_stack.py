"""Short smoke tests of the asyncio driver on loopback sockets (the core has its own tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sipcore import NameAddr, Request, Response, SipUri, Via, build_request, generate_branch
from sipcore.digest_server import make_challenge, verify
from sipcore.events import Event
from sipcore.flow import Flow
from sipcore.message import Limits
from sipcore.registration import Registered, RegistrationConfig, RegistrationTerminated
from sipcore.stack import (
    Connected,
    Disconnected,
    IncomingRequest,
    Reconnecting,
    SipStack,
    StackConfig,
    parse_target,
)
from sipcore.timers import TimerConfig
from sipcore.transport import server_ssl_context
from sipcore.transport.pki import make_cert
from sipcore.uas import UasPolicy

FAST = StackConfig(
    timers=TimerConfig(t1=0.05, t2=0.4, t4=0.5),
    reconnect_base=0.05,
    reconnect_max=0.2,
    keepalive_interval=0.2,
    keepalive_timeout=0.3,
)


def request(flow: Flow, method: str = "OPTIONS") -> Request:
    """A request to the far end of ``flow``, with a new Call-ID and branch."""
    return build_request(
        method,
        SipUri(flow.remote[0], port=flow.remote[1]),
        from_addr=NameAddr(SipUri("example.com", user="a"), None, {"tag": "x"}),
        to_addr=NameAddr(SipUri("example.com", user="b")),
        call_id=generate_branch(),
        cseq=1,
        via=Via(flow.transport, "127.0.0.1", flow.local[1] or None, {"branch": generate_branch()}),
    )


async def ask(client: SipStack, flow: Flow, method: str = "OPTIONS") -> Response:
    return await asyncio.wait_for(client.request(request(flow, method), flow), 5)


async def until(condition: Callable[[], bool], timeout: float, step: float = 0.02) -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes; the caller asserts the outcome."""
    for _ in range(round(timeout / step)):
        if condition():
            return
        await asyncio.sleep(step)


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws"])
async def test_uas_basics_over_each_transport(transport: str) -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen(transport.upper())
        host, port = listener.local
        target = f"ws://{host}:{port}" if transport == "ws" else f"{transport}:{host}:{port}"
        flow = await client.connect(target)
        ok = await ask(client, flow)
        assert ok.status_code == 200
        assert "INVITE" in ok.allow
        assert (await ask(client, flow, "FOOBAR")).status_code == 501
        assert (await ask(client, flow, "SUBSCRIBE")).status_code == 405


async def test_malformed_and_wrong_version_over_udp() -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        flow = await client.connect(f"udp:{listener.local[0]}:{listener.local[1]}")
        answers: list[bytes] = []
        loop = asyncio.get_running_loop()

        class Probe(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                answers.append(data)

        sock, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
        good = bytes(request(flow))
        sock.sendto(good.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), listener.local)
        sock.sendto(good.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"), listener.local)
        sock.sendto(b"SIP/2.0 200 OK\r\n\r\n", listener.local)  # a bad response: silence
        await until(lambda: len(answers) >= 2, 1.0)
        sock.close()
        assert sorted(a.split(b" ", 2)[1] for a in answers) == [b"400", b"505"]
        assert len(server.dropped) == 3


async def test_handler_gets_requests_and_2xx_is_retransmitted_until_ack() -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        seen: list[IncomingRequest] = []

        def handler(incoming: IncomingRequest) -> None:
            seen.append(incoming)
            incoming.respond(200)

        server.on_request(handler)
        flow = await client.connect(f"udp:{listener.local[0]}:{listener.local[1]}")
        response = await ask(client, flow, "INVITE")
        assert response.status_code == 200
        assert seen[0].request.method == "INVITE"
        await asyncio.sleep(0.2)  # no ACK: the 2xx is retransmitted (§13.3.1.4)
        assert len(server._successes) == 1


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


def registrar_config() -> StackConfig:
    return replace(FAST, policy=UasPolicy(allow=("REGISTER", "OPTIONS")))


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws"])
async def test_account_registers_with_digest(transport: str) -> None:
    async with SipStack(registrar_config()) as server, SipStack(FAST) as client:
        listener = await server.listen(transport.upper())
        _registrar(server, "alicepw")
        host, port = listener.local
        target = f"ws://{host}:{port}" if transport == "ws" else f"{transport}:{host}:{port}"
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="alicepw"),
            target,
        )
        outcome = await account.register(timeout=5)
        assert isinstance(outcome, Registered)
        assert outcome.expires == 60
        await account.stop()
        assert account.state.value == "unregistered"


async def test_wrong_password_terminates_without_retry_storm() -> None:
    async with SipStack(registrar_config()) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        _registrar(server, "right")
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="wrong"),
            f"udp:{listener.local[0]}:{listener.local[1]}",
        )
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
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="pw"),
            f"tcp:{host}:{port}",
        )
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
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="pw"),
            "tcp:127.0.0.1:9",  # nothing listens there
        )
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
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="pw"),
            "tcp:127.0.0.1:9",  # nothing listens there
            reconnect=False,
        )
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
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="pw"),
            f"tcp:{host}:{port}",
            reconnect=False,
        )
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


def _failures(history: list[Event]) -> int:
    return sum(type(e).__name__ == "ConnectFailed" for e in history)


def test_parse_target() -> None:
    assert parse_target("wss://example.com") == ("wss", "example.com", 443, "wss://example.com")
    assert parse_target("udp:[::1]:5060")[1:3] == ("::1", 5060)
    with pytest.raises(Exception, match="unsupported"):
        parse_target("http://example.com")


async def test_cancel_gets_487_with_the_tag_of_the_ringing() -> None:
    async with SipStack(FAST) as server, SipStack(FAST) as client:
        listener = await server.listen("UDP")
        ringing_tags: list[str] = []

        def handler(incoming: IncomingRequest) -> None:
            ringing_tags.append(incoming.respond(180).to.tag or "")

        server.on_request(handler)
        flow = await client.connect(f"udp:{listener.local[0]}:{listener.local[1]}")
        invite = build_request(
            "INVITE",
            SipUri("127.0.0.1", user="bob", port=listener.local[1]),
            from_addr=NameAddr(SipUri("example.com", user="a"), None, {"tag": "x"}),
            to_addr=NameAddr(SipUri("example.com", user="b")),
            call_id=generate_branch(),
            cseq=1,
            via=Via("UDP", "127.0.0.1", flow.local[1], {"branch": generate_branch()}),
        )
        handle = client.send_request(invite, flow)
        while not handle.provisional or handle.provisional[-1].status_code != 180:
            await asyncio.sleep(0.01)
        cancel = build_request(
            "CANCEL",
            invite.uri,
            from_addr=invite.from_,
            to_addr=invite.to,
            call_id=invite.call_id,
            cseq=1,
            via=invite.top_via,
        )
        assert (await client.request(cancel, flow)).status_code == 200
        final = await asyncio.wait_for(handle.final, 5)
        assert final.status_code == 487
        assert final.to.tag == ringing_tags[0]


async def test_listeners_apply_the_configured_limits() -> None:
    # every listener, WS included, enforces StackConfig.limits (here: the message size)
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import ConnectionClosedError
    from websockets.typing import Subprotocol

    config = StackConfig(limits=Limits(max_message_size=1000))
    async with SipStack(config) as server:
        listener = await server.listen("WS")
        host, port = listener.local
        async with ws_connect(f"ws://{host}:{port}/", subprotocols=[Subprotocol("sip")]) as ws:
            await ws.send("OPTIONS " + "x" * 1500)
            with pytest.raises(ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # too big


@pytest.mark.parametrize(
    "target",
    ["udp:sip.example.invalid:5060", "tcp:sip.example.invalid:5060", "wss://sip.example.invalid/"],
)
async def test_dns_failure_is_one_clear_error_per_attempt_with_backoff(target: str) -> None:
    # RFC 6761 §6.4: .invalid never resolves (no network needed); every attempt fails once,
    # saying which name, then waits its RFC 5626 §4.5 backoff: no busy loop
    async with SipStack(FAST) as client:
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="pw"), target
        )
        started = client.now()
        account.start()
        # resolving may be slow on a loaded machine: wait for 3 attempts
        await until(lambda: _failures(account.history) >= 3, 10.0, 0.05)
        await account.stop()
        elapsed = client.now() - started
        kinds = [type(e).__name__ for e in account.history]
        failures = [e for e in account.history if type(e).__name__ == "ConnectFailed"]
        # each retry waits at least half the base delay: no more attempts than that allows
        assert 3 <= len(failures) <= 1 + elapsed / (FAST.reconnect_base / 2)
        assert kinds.count("Connecting") in (len(failures), len(failures) + 1)
        assert "Connected" not in kinds and "RegistrationSent" not in kinds
        for failure in failures:
            assert "sip.example.invalid" in failure.reason
            assert "resolve" in failure.reason or "Name or service not known" in failure.reason
        delays = [e.delay for e in account.history if isinstance(e, Reconnecting)]
        assert sum(delays[:-1]) <= elapsed  # the last one may still be running
        assert all(d >= FAST.reconnect_base / 2 for d in delays)


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
        account = client.account(
            RegistrationConfig(aor=SipUri("example.com", user="alice"), password="pw"), target
        )
        started = client.now()
        account.start()
        # wait for three attempts, however slow the machine is
        await until(lambda: _failures(account.history) >= 3, 10.0, 0.05)
        await account.stop()
        elapsed = client.now() - started
        failures = [e for e in account.history if type(e).__name__ == "ConnectFailed"]
        assert 3 <= len(failures) <= 1 + elapsed / (FAST.reconnect_base / 2)
        for failure in failures:
            assert "certificate" in failure.reason.lower(), failure.reason
            assert "127.0.0.1" in failure.reason, failure.reason
        kinds = [type(e).__name__ for e in account.history]
        assert "Connected" not in kinds and "RegistrationSent" not in kinds
        delays = [e.delay for e in account.history if isinstance(e, Reconnecting)]
        assert all(d >= FAST.reconnect_base / 2 for d in delays)


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
