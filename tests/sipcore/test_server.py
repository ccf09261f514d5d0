"""The embedded server on loopback sockets: accounts register over UDP, TCP, WS and WSS, and two
stacks call each other through the proxy at the signalling level."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sipcore import NameAddr, Request, Response, SipUri, Via, build_request, generate_branch
from sipcore.digest_client import DigestClient
from sipcore.events import CancelReceived, Event
from sipcore.flow import Flow
from sipcore.message import generate_call_id, generate_tag
from sipcore.proxy import ProxyConfig
from sipcore.registration import (
    Registered,
    RegistrationConfig,
    RegistrationSent,
    RegistrationTerminated,
    Unregistered,
)
from sipcore.server import EmbeddedServer
from sipcore.stack import IncomingRequest, SipStack, StackConfig
from sipcore.transport import server_ssl_context
from sipcore.uri import parse_uri
from tests.sipcore.transport.helpers import Pki, make_pki

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}
WAIT = 5.0


def account_config(server: EmbeddedServer, user: str, **changes: object) -> RegistrationConfig:
    return RegistrationConfig(
        aor=SipUri(server.domain, user=user),
        password=changes.pop("password", USERS[user]),  # type: ignore[arg-type]
        **changes,  # type: ignore[arg-type]
    )


async def until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(USERS) as running:
        yield running


# -- registration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws", "wss"])
async def test_register_and_unregister_with_digest(pki: Pki, transport: str) -> None:
    wss = server_ssl_context(pki.certfile, pki.keyfile) if transport == "wss" else None
    async with (
        EmbeddedServer(USERS, listen=(transport,), wss_ssl=wss) as server,
        SipStack(StackConfig(ca_file=pki.cafile)) as stack,
    ):
        account = stack.account(account_config(server, "alice"), server.uri(transport))
        outcome = await account.register(timeout=WAIT)
        assert isinstance(outcome, Registered), outcome
        assert outcome.expires == 600
        (binding,) = server.bindings("alice")
        assert binding.flow.transport == transport.upper()
        if transport in ("ws", "wss"):  # RFC 7118 §5: reachable only over its connection
            assert binding.uri.host.endswith(".invalid")
        sent = [e.request for e in account.history if isinstance(e, RegistrationSent)]
        assert len(sent) == 2  # the 401 challenge, then the answer
        # MD5 is on top, but our client ranks the challenges by strength
        assert sent[1].authorization[0].params["algorithm"] == "SHA-256"
        await account.stop()
        assert isinstance(account.history[-1], Unregistered)
        assert server.bindings("alice") == []


async def test_wrong_password_terminates(server: EmbeddedServer) -> None:
    async with SipStack() as stack:
        account = stack.account(
            account_config(server, "alice", password="wrong"), server.uri("tcp")
        )
        outcome = await account.register(timeout=WAIT)
        assert isinstance(outcome, RegistrationTerminated)
        assert outcome.status == 401
        assert sum(isinstance(e, RegistrationSent) for e in account.history) == 2
        assert server.bindings("alice") == []
        await account.stop(unregister=False)


async def test_interval_too_brief_is_retried_with_min_expires() -> None:
    config = ProxyConfig(min_expires=120)
    async with EmbeddedServer(USERS, config=config) as server, SipStack() as stack:
        account = stack.account(account_config(server, "bob", expires=60), server.uri("udp"))
        outcome = await account.register(timeout=WAIT)
        assert isinstance(outcome, Registered), outcome
        assert outcome.expires == 120
        sent = [e.request.expires for e in account.history if isinstance(e, RegistrationSent)]
        assert sent == [60, 60, 120]  # 401, then 423 with Min-Expires: 120 (§10.2.8)
        await account.stop()


async def test_closed_connection_drops_its_binding(server: EmbeddedServer) -> None:
    async with SipStack() as stack:
        account = stack.account(account_config(server, "carol"), server.uri("ws"))
        assert isinstance(await account.register(timeout=WAIT), Registered)
        assert len(server.bindings("carol")) == 1
    await until(lambda: server.bindings("carol") == [])


async def test_options_to_the_server(server: EmbeddedServer) -> None:
    async with SipStack() as stack:
        flow = await stack.connect(server.uri("udp"))
        request = build_request(
            "OPTIONS",
            SipUri("127.0.0.1", port=server.ports["udp"]),
            from_addr=NameAddr(SipUri(server.domain, user="x"), None, {"tag": generate_tag()}),
            to_addr=NameAddr(SipUri(server.domain)),
            call_id=generate_call_id(),
            cseq=1,
            via=_via(flow),
        )
        response = await asyncio.wait_for(stack.request(request, flow), WAIT)
        assert response.status_code == 200
        assert "REGISTER" in response.allow


# -- calls through the proxy ----------------------------------------------------------------------


def _via(flow: Flow) -> Via:
    if flow.transport in ("WS", "WSS"):
        return Via(flow.transport, "uac.invalid", None, {"branch": generate_branch()})
    return Via(flow.transport, flow.local[0], flow.local[1], {"branch": generate_branch()})


@dataclass
class Phone:
    """A registered stack and what it received (requests, ACKs, CANCELs)."""

    user: str
    stack: SipStack
    flow: Flow
    contact: SipUri
    incoming: list[IncomingRequest] = field(default_factory=list)
    acks: list[Request] = field(default_factory=list)
    cancels: list[Request] = field(default_factory=list)


async def phone(server: EmbeddedServer, stack: SipStack, user: str, transport: str) -> Phone:
    account = stack.account(account_config(server, user), server.uri(transport))
    outcome = await account.register(timeout=WAIT)
    assert isinstance(outcome, Registered), outcome
    assert account.flow is not None
    (contact,) = outcome.contacts
    assert isinstance(contact.uri, SipUri)
    found = Phone(user, stack, account.flow, contact.uri)
    successes = stack._successes
    plain_ack = successes.ack

    def record_ack(ack: Request) -> bool:
        found.acks.append(ack)
        return plain_ack(ack)

    successes.ack = record_ack  # type: ignore[method-assign]
    plain_dispatch = stack._dispatch

    def record_cancel(event: Event) -> None:
        if isinstance(event, CancelReceived):
            found.cancels.append(event.request)
        plain_dispatch(event)

    stack._dispatch = record_cancel  # type: ignore[method-assign]
    return found


class Dialog:
    """The UAC side of alice's calls, built by hand (§12.1.2, §12.2.1.1)."""

    def __init__(self, server: EmbeddedServer, caller: Phone, callee: str) -> None:
        self.server = server
        self.caller = caller
        self.target = SipUri(server.domain, user=callee)
        self.from_addr = NameAddr(SipUri(server.domain, user=caller.user), None, {"tag": "a1"})
        self.to_addr = NameAddr(self.target)
        self.call_id = generate_call_id()
        self.cseq = 0
        self.digest = DigestClient(caller.user, USERS[caller.user])
        self.invite: Request | None = None
        self.route_set: list[NameAddr] = []
        self.remote_target: SipUri | None = None

    def new_invite(self, *, max_forwards: int = 70, target: SipUri | None = None) -> Request:
        self.cseq += 1
        request = build_request(
            "INVITE",
            target or self.target,
            from_addr=self.from_addr,
            to_addr=self.to_addr,
            call_id=self.call_id,
            cseq=self.cseq,
            via=_via(self.caller.flow),
            max_forwards=max_forwards,
            contact=NameAddr(self.caller.contact),
        )
        return request

    async def invite_through_auth(
        self, *, on_provisional: Callable[[Response], None] | None = None, **kw: object
    ) -> Response:
        """INVITE; a 407 is answered once with Proxy-Authorization (§22.3)."""
        first = self.new_invite(**kw)  # type: ignore[arg-type]
        response = await asyncio.wait_for(self.caller.stack.request(first, self.caller.flow), WAIT)
        if response.status_code != 407:
            return response
        header = self.digest.respond(response, first)
        assert header is not None
        retry = self.new_invite(**kw)  # type: ignore[arg-type]
        retry.headers.add(*header)
        self.invite = retry
        handle = self.caller.stack.send_request(retry, self.caller.flow)
        handle.on_provisional = on_provisional
        final = await asyncio.wait_for(handle.final, WAIT)
        if 200 <= final.status_code < 300:
            # §12.1.2: the route set is the Record-Route reversed; the target is the Contact
            self.route_set = list(reversed(final.record_routes))
            (contact,) = final.contacts
            assert isinstance(contact.uri, SipUri)
            self.remote_target = contact.uri
            self.to_addr = final.to
        return final

    def in_dialog(self, method: str, *, cseq: int | None = None) -> Request:
        assert self.remote_target is not None
        if cseq is None:
            self.cseq += 1
        return build_request(
            method,
            self.remote_target,
            from_addr=self.from_addr,
            to_addr=self.to_addr,
            call_id=self.call_id,
            cseq=self.cseq if cseq is None else cseq,
            via=_via(self.caller.flow),
            routes=self.route_set,
        )


@pytest.fixture
async def pair(server: EmbeddedServer) -> AsyncIterator[tuple[Phone, Phone]]:
    """alice over WS, bob over TCP, both registered."""
    async with SipStack() as alice_stack, SipStack() as bob_stack:
        alice = await phone(server, alice_stack, "alice", "ws")
        bob = await phone(server, bob_stack, "bob", "tcp")
        yield alice, bob


@pytest.mark.parametrize("direction", ["ws-to-tcp", "tcp-to-ws"])
async def test_call_ack_and_bye_through_the_proxy(
    server: EmbeddedServer, pair: tuple[Phone, Phone], direction: str
) -> None:
    alice, bob = pair
    caller, callee = (alice, bob) if direction == "ws-to-tcp" else (bob, alice)

    async def answer(incoming: IncomingRequest) -> None:
        callee.incoming.append(incoming)
        if incoming.request.method == "INVITE":
            incoming.respond(180)
            await asyncio.sleep(0.05)
            incoming.respond(200, headers=[("Contact", f"<{callee.contact}>")])
        else:
            incoming.respond(200)

    callee.stack.on_request(answer)
    dialog = Dialog(server, caller, callee.user)
    provisional: list[Response] = []
    final = await dialog.invite_through_auth(on_provisional=provisional.append)
    assert final.status_code == 200
    assert [r.status_code for r in provisional if r.status_code > 100] == [180]
    # WS on one side, TCP on the other: one Record-Route entry per side (double RR), the
    # callee's side on top
    record_route = [r.uri for r in final.record_routes]
    transports = [u.transport for u in record_route if isinstance(u, SipUri)]
    assert transports == [callee.flow.transport.lower(), caller.flow.transport.lower()]
    assert all(isinstance(u, SipUri) and u.lr for u in record_route)
    (invite,) = [i for i in callee.incoming if i.request.method == "INVITE"]
    assert str(invite.request.uri) == str(callee.contact)  # retargeted to the binding
    assert invite.request.max_forwards == 69
    assert "Proxy-Authorization" not in invite.request.headers  # consumed by the proxy

    # ACK of the 2xx along the route set, to the callee's Contact: it reaches its UAS core
    ack = dialog.in_dialog("ACK", cseq=dialog.cseq)
    caller.stack.send_stateless(ack, caller.flow)
    await until(lambda: len(callee.acks) == 1)
    assert callee.acks[0].routes == []
    assert len(callee.stack._successes) == 0  # the 2xx is no longer retransmitted

    bye = dialog.in_dialog("BYE")
    response = await asyncio.wait_for(caller.stack.request(bye, caller.flow), WAIT)
    assert response.status_code == 200
    assert [i.request.method for i in callee.incoming] == ["INVITE", "BYE"]
    assert str(callee.incoming[1].request.uri) == str(callee.contact)


async def test_bye_from_the_callee_reaches_the_websocket_caller(
    server: EmbeddedServer, pair: tuple[Phone, Phone]
) -> None:
    alice, bob = pair
    got: list[IncomingRequest] = []

    def bob_answers(incoming: IncomingRequest) -> None:
        got.append(incoming)
        incoming.respond(200, headers=[("Contact", f"<{bob.contact}>")])

    def alice_answers(incoming: IncomingRequest) -> None:
        alice.incoming.append(incoming)
        incoming.respond(200)

    bob.stack.on_request(bob_answers)
    alice.stack.on_request(alice_answers)
    dialog = Dialog(server, alice, "bob")
    assert (await dialog.invite_through_auth()).status_code == 200
    alice.stack.send_stateless(dialog.in_dialog("ACK", cseq=dialog.cseq), alice.flow)
    # bob's route set is the Record-Route as received; his target is alice's *.invalid Contact
    invite = got[0].request
    bye = build_request(
        "BYE",
        alice.contact,
        from_addr=invite.to.with_tag(got[0].to_tag),
        to_addr=invite.from_,
        call_id=invite.call_id,
        cseq=1,
        via=_via(bob.flow),
        routes=invite.record_routes,
    )
    response = await asyncio.wait_for(bob.stack.request(bye, bob.flow), WAIT)
    assert response.status_code == 200
    assert [i.request.method for i in alice.incoming] == ["BYE"]


async def test_cancel_while_ringing(server: EmbeddedServer, pair: tuple[Phone, Phone]) -> None:
    alice, bob = pair
    ringing = asyncio.Event()

    def ring(incoming: IncomingRequest) -> None:
        bob.incoming.append(incoming)
        incoming.respond(180)
        ringing.set()

    bob.stack.on_request(ring)
    dialog = Dialog(server, alice, "bob")
    rang: list[Response] = []
    call = asyncio.ensure_future(
        dialog.invite_through_auth(on_provisional=lambda r: r.status_code > 100 and rang.append(r))
    )
    await asyncio.wait_for(ringing.wait(), WAIT)
    await until(lambda: bool(rang))
    invite = dialog.invite
    assert invite is not None
    cancel = Request("CANCEL", invite.uri, invite.headers.copy())
    cancel.headers.set("CSeq", f"{invite.cseq.number} CANCEL")
    cancel.headers.remove("Proxy-Authorization")
    cancel.headers.remove("Contact")
    answered = await asyncio.wait_for(alice.stack.request(cancel, alice.flow), WAIT)
    assert answered.status_code == 200
    final = await call
    assert final.status_code == 487
    assert len(bob.incoming) == 1
    (cancelled,) = bob.cancels  # the CANCEL reached bob (§16.10)
    assert cancelled.top_via.branch == bob.incoming[0].request.top_via.branch  # §9.1


async def test_unknown_user_and_max_forwards(
    server: EmbeddedServer, pair: tuple[Phone, Phone]
) -> None:
    alice, bob = pair
    nobody = Dialog(server, alice, "nobody")
    assert (await nobody.invite_through_auth()).status_code == 404
    hops = Dialog(server, alice, "bob")
    # Max-Forwards is checked before anything else, credentials included
    assert (await hops.invite_through_auth(max_forwards=0)).status_code == 483
    assert bob.incoming == []


async def test_calls_without_invite_auth() -> None:
    async with (
        EmbeddedServer(USERS, invite_auth=False) as server,
        SipStack() as alice_stack,
        SipStack() as bob_stack,
    ):
        alice = await phone(server, alice_stack, "alice", "udp")
        bob = await phone(server, bob_stack, "bob", "udp")
        bob.stack.on_request(lambda incoming: incoming.respond(486))
        dialog = Dialog(server, alice, "bob")
        request = dialog.new_invite()
        response = await asyncio.wait_for(alice.stack.request(request, alice.flow), WAIT)
        assert response.status_code == 486  # no 407 first


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="WSS needs"):
        EmbeddedServer(USERS, listen=("wss",))
    with pytest.raises(ValueError, match="unknown transport"):
        EmbeddedServer(USERS, listen=("sctp",))
    with pytest.raises(ValueError, match="TLS needs"):
        EmbeddedServer(USERS, listen=("tls",))
    server = EmbeddedServer(USERS, domain="example.com", invite_auth=False)
    assert server.config.domain == "example.com" and not server.config.invite_auth
    with pytest.raises(RuntimeError):
        server.bindings("alice")  # not started
    with pytest.raises(ValueError, match="not listening"):
        server.uri("ws")


async def test_tls_listener_and_fixed_ports(pki: Pki) -> None:
    context = server_ssl_context(pki.certfile, pki.keyfile)
    async with (
        EmbeddedServer(USERS, listen=("tls", "udp"), tls_ssl=context) as server,
        SipStack(StackConfig(ca_file=pki.cafile)) as stack,
    ):
        assert server.uri("tls").startswith("tls:127.0.0.1:")
        account = stack.account(account_config(server, "alice"), server.uri("tls"))
        assert isinstance(await account.register(timeout=WAIT), Registered)
        assert server.bindings("alice")[0].flow.transport == "TLS"
        await account.stop()


# -- command line ---------------------------------------------------------------------------------


def test_command_line_entry_point(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sipcore.server",
            "--users",
            "alice:alicepw,bob:bobpw",
            "--udp",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("listening: udp:127.0.0.1:"), lines
        assert lines[1].startswith("listening: ws://127.0.0.1:"), lines
        assert "users: alice, bob" in lines[2]
        target = parse_uri("sip:" + lines[0].split("udp:", 1)[1].strip())
        assert isinstance(target, SipUri) and target.port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
