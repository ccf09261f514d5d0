"""The demonstration behind ``scripts/demo``: a call with media between two phones on loopback.

An embedded registrar/proxy listens on WSS with a certificate from a private CA made for the
run (the phones verify it, as they would a real server's). Alice and Bob register over WSS with
digest authentication; Alice calls Bob through the proxy (407 challenge, 180 Ringing, 200 OK
with the WebRTC answer, ACK); ICE, DTLS-SRTP and Opus carry a 440 Hz tone from Alice and a
1 kHz tone from Bob, and each side measures what it hears; they exchange DTMF by RFC 4733 and
by SIP INFO; Alice puts Bob on hold and resumes by re-INVITE (she stops hearing him, then hears
him again); both print their call statistics; Bob hangs up.
"""

from __future__ import annotations

import array
import asyncio
import math
import tempfile
import time
from pathlib import Path

from av import AudioFrame

from media.levels import goertzel
from media.session import MediaConfig, ToneTrack
from sipcore.server import EmbeddedServer
from sipcore.transport import server_ssl_context
from sipcore.transport.pki import make_cert

from .call import Call
from .config import PhoneConfig
from .events import CallStateChanged, DtmfReceived, PhoneEvent, RegistrationChanged
from .phone import Phone

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
TONES = {"alice": 440.0, "bob": 1000.0}
LOOPBACK_MEDIA = MediaConfig(host_addresses=("127.0.0.1",))

_started = time.monotonic()


def say(who: str, text: str) -> None:
    print(f"{time.monotonic() - _started:6.3f}s  {who:<6} {text}", flush=True)


class Party:
    """A phone and what its call hears."""

    def __init__(self, name: str, server: EmbeddedServer, ca: Path) -> None:
        self.name = name
        self.phone = Phone(
            PhoneConfig(
                aor=f"sip:{name}@{server.domain}",
                server=server.uri("wss"),
                password=USERS[name],
                display_name=name.title(),
                ca_file=str(ca),
                media=LOOPBACK_MEDIA,
                user_agent=f"demo-{name}",
            )
        )
        self.phone.on_event(self._event)
        self.heard: list[AudioFrame] = []
        self.digits: list[str] = []
        self.got_digit = asyncio.Event()

    def _event(self, event: PhoneEvent) -> None:
        if isinstance(event, RegistrationChanged):
            say(self.name, f"registration: {event.state}")
        elif isinstance(event, CallStateChanged):
            reason = f" ({event.reason.value})" if event.reason else ""
            say(self.name, f"call: {event.state.value}{reason}")
        elif isinstance(event, DtmfReceived):
            say(self.name, f"DTMF digit {event.digit!r} received by {event.method}")
            self.digits.append(event.digit)
            self.got_digit.set()

    def listen(self, call: Call) -> None:
        call.on_audio = self.heard.append

    def loudest(self) -> str:
        """Which of the two tones dominates the last half second heard."""
        samples: array.array[int] = array.array("h")
        for frame in self.heard[-25:]:
            pcm = array.array("h", bytes(frame.planes[0]))
            samples.extend(pcm[:: len(frame.layout.channels)])
        rate = self.heard[-1].sample_rate if self.heard else 48000
        power = {f: goertzel(samples, rate, f) for f in TONES.values()}
        best = max(power, key=lambda f: power[f])
        ratio = power[best] / max(1e-9, min(power.values()))
        return f"{best:.0f} Hz ({10 * math.log10(ratio):.0f} dB above the other tone)"

    async def wait_digits(self, count: int) -> None:
        while len(self.digits) < count:
            self.got_digit.clear()
            await asyncio.wait_for(self.got_digit.wait(), 10)


async def _stats(party: Party, call: Call) -> None:
    s = await call.stats()
    rtt = f"{s.rtt_ms:.1f} ms" if s.rtt_ms is not None else "n/a"
    mos = f"{s.mos:.2f}" if s.mos is not None else "n/a"
    say(
        party.name,
        f"stats: {s.codec}/{s.clock_rate}, sent {s.packets_sent} packets, received "
        f"{s.packets_received}, lost {s.local_packets_lost} ({s.local_loss_fraction:.1%}), "
        f"jitter {s.local_jitter_ms:.1f} ms, RTT {rtt}, MOS {mos}",
    )


async def _hold_and_resume(alice: Party, bob: Party, call: Call) -> None:
    """Hold by re-INVITE (sendonly): Alice stops hearing Bob; then resume (sendrecv)."""
    for hold in (True, False):
        await (call.hold() if hold else call.unhold())
        await asyncio.sleep(0.3)  # frames already on the way
        heard = len(alice.heard), len(bob.heard)
        await asyncio.sleep(1.0)
        say(
            "demo",
            f"{'on hold' if hold else 'resumed'}: in one second alice received "
            f"{len(alice.heard) - heard[0]} frames, bob {len(bob.heard) - heard[1]}",
        )


async def demo() -> int:
    with tempfile.TemporaryDirectory(prefix="sipwebrtc-demo-") as tmp:
        certs = make_cert(Path(tmp))
        wss = server_ssl_context(str(certs.cert), str(certs.key))
        async with EmbeddedServer(USERS, listen=(), wss_ssl=wss) as server:
            say("server", f"registrar/proxy on {server.uri('wss')} (certificate from a test CA)")
            alice, bob = Party("alice", server, certs.ca), Party("bob", server, certs.ca)
            async with alice.phone, bob.phone:
                await asyncio.wait_for(
                    asyncio.gather(alice.phone.register(), bob.phone.register()), 15
                )
                incoming = bob.phone.incoming()
                say("alice", f"calling sip:bob@{server.domain}")
                call = await alice.phone.dial("bob", source=ToneTrack(TONES["alice"]))
                alice.listen(call)
                bob_call = await asyncio.wait_for(anext(incoming), 10)
                say("bob", f"incoming call from {bob_call.remote_display_name}")
                await asyncio.sleep(0.3)  # let it ring
                bob_call.set_source(ToneTrack(TONES["bob"]))
                bob.listen(bob_call)
                await bob_call.answer()
                await call.wait_established(10)
                assert call.core is not None and call.core.dialog is not None
                routes = ", ".join(str(r.uri) for r in call.core.dialog.route_set)
                say("alice", f"dialog confirmed, route set: {routes}")
                await asyncio.sleep(2.0)  # two seconds of audio
                for party, party_call in ((alice, call), (bob, bob_call)):
                    say(
                        party.name,
                        f"media {party_call.media.connection_state}: {len(party.heard)} frames "
                        f"received, loudest {party.loudest()}",
                    )
                await call.send_dtmf("12#")  # RFC 4733 in the audio stream
                await bob.wait_digits(3)
                await bob_call.send_dtmf("4*", method="info")
                await alice.wait_digits(2)
                await _hold_and_resume(alice, bob, call)
                await _stats(alice, call)
                await _stats(bob, bob_call)
                await bob_call.hangup()
                reason = await call.wait_ended(10)
                say("demo", f"call ended: {reason.value if reason else '?'}")
    return 0


def run() -> int:
    return asyncio.run(demo())
