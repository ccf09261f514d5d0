"""The demonstration behind ``scripts/demo``: a call between two user agents on loopback.

An embedded registrar/proxy listens on WSS with a certificate from a private CA made for the
run (clients verify it, as they would a real server's). Alice and Bob register over WSS with
digest authentication, Alice calls Bob through the proxy (407 challenge, 180 Ringing, 200 OK,
ACK), and Bob hangs up. The call is signalling only for now: media comes with the media layer.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from sipcore import SipUri
from sipcore.auth import DigestClient
from sipcore.events import Event
from sipcore.registration import Registered, RegistrationConfig
from sipcore.server import EmbeddedServer
from sipcore.stack import Account, SipStack, StackConfig
from sipcore.transport import server_ssl_context
from sipcore.transport.pki import make_cert
from sipcore.ua import (
    Call,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallProgress,
    IncomingCall,
    UserAgent,
)
from sipcore.uri import NameAddr

USERS = {"alice": "alice-secret", "bob": "bob-secret"}

_started = time.monotonic()


def say(who: str, text: str) -> None:
    print(f"{time.monotonic() - _started:6.3f}s  {who:<6} {text}", flush=True)


class Party:
    """One user agent: a stack, a registered account and the UA core on it."""

    def __init__(self, name: str, server: EmbeddedServer, ca: Path) -> None:
        self.name = name
        self.stack = SipStack(StackConfig(ca_file=str(ca), user_agent=f"demo-{name}"))
        self.server = server
        self.account: Account | None = None
        self.ua: UserAgent | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    async def register(self) -> None:
        await self.stack.__aenter__()
        account = self.stack.account(
            RegistrationConfig(
                aor=SipUri(self.server.domain, user=self.name), password=USERS[self.name]
            ),
            self.server.uri("wss"),
        )
        account.listeners.append(lambda e: say(self.name, f"account: {type(e).__name__}"))
        outcome = await account.register()
        if not isinstance(outcome, Registered):
            raise RuntimeError(f"{self.name} did not register: {outcome}")
        ua = UserAgent(
            self.stack.layer,
            account.identity,
            credentials=DigestClient(self.name, USERS[self.name]),
            user_agent=f"demo-{self.name}",
        )
        self.stack.users.append(ua)
        self.account, self.ua = account, ua

    async def next_call_event(self) -> Event:
        assert self.ua is not None
        while True:
            event = self.ua.next_event()
            if event is not None:
                say(self.name, f"call: {_describe(event)}")
                return event
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        if self.account is not None:
            await self.account.stop()
        await self.stack.close()


def _describe(event: Event) -> str:
    if isinstance(event, CallProgress | CallAnswered):
        return f"{type(event).__name__} ({event.response.status_code} {event.response.reason})"
    if isinstance(event, CallEnded):
        status = f", {event.status}" if event.status else ""
        return f"CallEnded ({event.reason.value}{status})"
    return type(event).__name__


async def _wait_for(party: Party, kind: type) -> Event:
    while True:
        event = await party.next_call_event()
        if isinstance(event, kind):
            return event


async def demo() -> int:
    with tempfile.TemporaryDirectory(prefix="sipwebrtc-demo-") as tmp:
        certs = make_cert(Path(tmp))
        wss = server_ssl_context(str(certs.cert), str(certs.key))
        async with EmbeddedServer(USERS, listen=(), wss_ssl=wss) as server:
            say("server", f"registrar/proxy on {server.uri('wss')} (certificate from a test CA)")
            alice, bob = Party("alice", server, certs.ca), Party("bob", server, certs.ca)
            try:
                await asyncio.wait_for(asyncio.gather(alice.register(), bob.register()), 15)
                assert alice.ua and bob.ua and alice.account and alice.account.flow
                call: Call = alice.ua.invite(
                    SipUri(server.domain, user="bob"),
                    from_addr=NameAddr(SipUri(server.domain, user="alice"), "Alice"),
                    flow=alice.account.flow,
                    now=alice.stack.now(),
                )
                alice.stack.process()
                say("alice", f"INVITE sip:bob@{server.domain}")
                incoming = await asyncio.wait_for(_wait_for(bob, IncomingCall), 10)
                bob_call = incoming.call  # type: ignore[attr-defined]
                bob.ua.ring(bob_call, bob.stack.now())
                bob.stack.process()
                await asyncio.wait_for(_wait_for(alice, CallProgress), 10)
                await asyncio.sleep(0.3)  # let it ring
                bob.ua.answer(bob_call, bob.stack.now())
                bob.stack.process()
                await asyncio.wait_for(_wait_for(alice, CallAnswered), 10)
                await asyncio.wait_for(_wait_for(bob, CallConfirmed), 10)
                assert call.dialog is not None
                routes = ", ".join(str(r.uri) for r in call.dialog.route_set)
                say("alice", f"dialog confirmed, route set: {routes}")
                await asyncio.sleep(0.5)
                bob.ua.hangup(bob_call, bob.stack.now())
                bob.stack.process()
                ended = await asyncio.wait_for(_wait_for(alice, CallEnded), 10)
                await asyncio.wait_for(_wait_for(bob, CallEnded), 10)
                assert isinstance(ended, CallEnded)
                say("demo", f"call ended: {ended.reason.value}; signalling only, media is next")
            finally:
                await alice.close()
                await bob.close()
    return 0


def run() -> int:
    return asyncio.run(demo())
