"""The demonstration behind ``scripts/demo``: a call with media between two user agents on
loopback.

An embedded registrar/proxy listens on WSS with a certificate from a private CA made for the
run (clients verify it, as they would a real server's). Alice and Bob register over WSS with
digest authentication; Alice calls Bob through the proxy with a WebRTC offer (407 challenge,
180 Ringing, 200 OK with the answer, ACK); ICE, DTLS-SRTP and Opus carry a 440 Hz tone from
Alice and a 1 kHz tone from Bob; each side measures what it hears; Alice sends DTMF by SIP INFO,
puts Bob on hold and resumes by re-INVITE (Alice stops hearing Bob, then hears him again); Bob
hangs up.
"""

from __future__ import annotations

import array
import asyncio
import math
import tempfile
import time
from pathlib import Path

from av import AudioFrame

from media.dtmf import info_body, parse_info
from media.offer_answer import remote_hold
from media.sdp import parse
from media.session import MediaConfig, MediaSession, ToneTrack
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
    InfoAnswered,
    InfoReceived,
    ReinviteAnswered,
    ReinviteReceived,
    UserAgent,
)
from sipcore.uri import NameAddr

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
TONES = {"alice": 440.0, "bob": 1000.0}
LOOPBACK_MEDIA = MediaConfig(host_addresses=("127.0.0.1",))

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
        self.media = MediaSession(LOOPBACK_MEDIA, ToneTrack(TONES[name]))
        self.heard: list[AudioFrame] = []
        self.media.on_frame = self.heard.append

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

    def loudest(self) -> str:
        """Which of the two tones dominates the last half second heard."""
        samples = array.array("h")
        for frame in self.heard[-25:]:
            pcm = array.array("h", bytes(frame.planes[0]))
            samples.extend(pcm[:: len(frame.layout.channels)])
        rate = self.heard[-1].sample_rate if self.heard else 48000
        power = {f: _goertzel(samples, rate, f) for f in TONES.values()}
        best = max(power, key=lambda f: power[f])
        ratio = power[best] / max(1e-9, min(power.values()))
        return f"{best:.0f} Hz ({10 * math.log10(ratio):.0f} dB above the other tone)"

    async def close(self) -> None:
        await self.media.close()
        if self.account is not None:
            await self.account.stop()
        await self.stack.close()


def _goertzel(samples: array.array[int], rate: int, frequency: float) -> float:
    k = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / max(1, len(samples))


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


async def _dtmf_by_info(alice: Party, bob: Party, call: Call, digits: str) -> None:
    """DTMF as SIP INFO (application/dtmf-relay), one request per digit."""
    assert alice.ua is not None
    for digit in digits:
        content_type, body = info_body(digit, 160)
        alice.ua.send_info(call, alice.stack.now(), body=body, content_type=content_type)
        alice.stack.process()
        received = await asyncio.wait_for(_wait_for(bob, InfoReceived), 10)
        assert isinstance(received, InfoReceived)
        request = received.request
        content = request.content_type.mime if request.content_type else ""
        say("bob", f"DTMF digit {parse_info(content, request.body)!r} received by INFO")
        await asyncio.wait_for(_wait_for(alice, InfoAnswered), 10)


async def _renegotiate(alice: Party, bob: Party, call: Call, direction: str) -> None:
    """Alice re-INVITEs with our audio ``direction``; Bob answers from his media session."""
    assert alice.ua is not None and bob.ua is not None
    offer = await alice.media.reoffer(direction)
    alice.ua.reinvite(call, alice.stack.now(), body=offer, content_type="application/sdp")
    alice.stack.process()
    received = await asyncio.wait_for(_wait_for(bob, ReinviteReceived), 10)
    assert isinstance(received, ReinviteReceived)
    held = remote_hold(parse(received.request.body).media[0])
    say("bob", "the peer put us on hold" if held else "the peer resumed the call")
    answer = await bob.media.create_answer(received.request.body)
    bob.ua.answer_reinvite(
        received.call, bob.stack.now(), body=answer, content_type="application/sdp"
    )
    bob.stack.process()
    answered = await asyncio.wait_for(_wait_for(alice, ReinviteAnswered), 10)
    assert isinstance(answered, ReinviteAnswered)
    await alice.media.set_answer(answered.response.body)


async def _hold_and_resume(alice: Party, bob: Party, call: Call) -> None:
    """Hold by re-INVITE (sendonly): Alice stops hearing Bob; then resume (sendrecv)."""
    for direction in ("sendonly", "sendrecv"):
        await _renegotiate(alice, bob, call, direction)
        await asyncio.sleep(0.3)  # frames already on the way
        heard = len(alice.heard), len(bob.heard)
        await asyncio.sleep(1.0)
        say(
            "demo",
            f"{'on hold' if direction == 'sendonly' else 'resumed'}: in one second alice "
            f"received {len(alice.heard) - heard[0]} frames, bob {len(bob.heard) - heard[1]}",
        )


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
                offer = await alice.media.create_offer()
                call: Call = alice.ua.invite(
                    SipUri(server.domain, user="bob"),
                    from_addr=NameAddr(SipUri(server.domain, user="alice"), "Alice"),
                    flow=alice.account.flow,
                    now=alice.stack.now(),
                    body=offer,
                    content_type="application/sdp",
                )
                alice.stack.process()
                say("alice", f"INVITE sip:bob@{server.domain}")
                incoming = await asyncio.wait_for(_wait_for(bob, IncomingCall), 10)
                bob_call = incoming.call  # type: ignore[attr-defined]
                bob.ua.ring(bob_call, bob.stack.now())
                bob.stack.process()
                await asyncio.wait_for(_wait_for(alice, CallProgress), 10)
                answer = await bob.media.create_answer(bob_call.remote_body)
                await asyncio.sleep(0.3)  # let it ring
                bob.ua.answer(
                    bob_call, bob.stack.now(), body=answer, content_type="application/sdp"
                )
                bob.stack.process()
                answered = await asyncio.wait_for(_wait_for(alice, CallAnswered), 10)
                assert isinstance(answered, CallAnswered)
                await alice.media.set_answer(answered.response.body)
                await asyncio.wait_for(_wait_for(bob, CallConfirmed), 10)
                assert call.dialog is not None
                routes = ", ".join(str(r.uri) for r in call.dialog.route_set)
                say("alice", f"dialog confirmed, route set: {routes}")
                await asyncio.sleep(2.0)  # two seconds of audio
                for party in (alice, bob):
                    say(
                        party.name,
                        f"media {party.media.connection_state}: {len(party.heard)} frames "
                        f"received, loudest {party.loudest()}",
                    )
                await _dtmf_by_info(alice, bob, call, "12#")
                await _hold_and_resume(alice, bob, call)
                bob.ua.hangup(bob_call, bob.stack.now())
                bob.stack.process()
                ended = await asyncio.wait_for(_wait_for(alice, CallEnded), 10)
                await asyncio.wait_for(_wait_for(bob, CallEnded), 10)
                assert isinstance(ended, CallEnded)
                say("demo", f"call ended: {ended.reason.value}")
            finally:
                await alice.close()
                await bob.close()
    return 0


def run() -> int:
    return asyncio.run(demo())
