"""Our user agent as one party of the browser interop scenarios.

:class:`OurPhone` glues the pieces the way ``client/demo.py`` does (``SipStack``, an
``Account`` registered over WSS, the ``UserAgent`` core, one ``MediaSession`` per call with a
``ToneTrack``) behind the few verbs the scenarios need, so that the scenarios do not change
when this glue gives way to a higher-level call API.

Audio checks are real: every received frame is counted, and :meth:`OurPhone.measure` gives the
share of the received power at the tone the browser sends (Goertzel, per 20 ms frame).
DTMF: digits received by SIP INFO are collected in :attr:`OurPhone.dtmf_info`; RFC 4733
digits in :attr:`OurPhone.dtmf_rtp` once ``MediaSession`` reports them through ``on_dtmf``,
and :meth:`OurPhone.send_rtp_dtmf` uses ``MediaSession.send_dtmf`` once it exists.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import inspect
import math
import time
from collections.abc import Callable
from typing import Any

from av import AudioFrame

from media.dtmf import info_body, parse_info
from media.offer_answer import remote_hold
from media.sdp import parse
from media.session import MediaConfig, MediaSession, ToneTrack
from sipcore import SipUri
from sipcore.auth import DigestClient
from sipcore.events import Event
from sipcore.registration import Registered, RegistrationConfig
from sipcore.stack import Account, SipStack, StackConfig
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

LOOPBACK_MEDIA = MediaConfig(host_addresses=("127.0.0.1",))


class PhoneError(RuntimeError):
    """A step of our side failed or timed out."""


def goertzel_share(samples: array.array[int], rate: int, frequency: float) -> tuple[float, float]:
    """(power at ``frequency``, mean square) of ``samples``: their ratio is near 1 for a pure
    tone at that frequency and near 0 when it is absent."""
    k = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    energy = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
        energy += x * x
    n = max(1, len(samples))
    return 2 * (s1 * s1 + s2 * s2 - k * s1 * s2) / (n * n), energy / n


def mono(frame: AudioFrame) -> array.array[int]:
    """The first channel of a packed s16 frame (the plane's buffer may be longer than the
    samples it holds)."""
    channels = len(frame.layout.channels)
    pcm = array.array("h", bytes(frame.planes[0])[: frame.samples * channels * 2])
    return pcm[::channels]


class OurPhone:
    """One registered account of ours with at most one call at a time."""

    def __init__(
        self,
        user: str,
        password: str,
        *,
        domain: str,
        server: str,
        ca_file: str,
        tone_hz: float = 440.0,
        expect_hz: float = 700.0,
        log: Callable[[str], None] = print,
    ) -> None:
        self.user = user
        self.password = password
        self.domain = domain
        self.server = server
        self.tone_hz = tone_hz
        self.expect_hz = expect_hz
        self._log = log
        self.stack = SipStack(StackConfig(ca_file=ca_file, user_agent="sipwebrtc-interop"))
        self.account: Account | None = None
        self.ua: UserAgent | None = None
        self.call: Call | None = None
        self.media: MediaSession | None = None
        self.history: list[Event] = []
        self._cursor: dict[type, int] = {}
        self._changed = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self.dtmf_info: list[str] = []
        self.dtmf_rtp: list[str] = []
        self.frames = 0
        self._window: list[AudioFrame] | None = None

    def log(self, text: str) -> None:
        self._log(f"ours {text}")

    # -- registration ----------------------------------------------------------------------
    async def register(self) -> None:
        await self.stack.__aenter__()
        account = self.stack.account(
            RegistrationConfig(aor=SipUri(self.domain, user=self.user), password=self.password),
            self.server,
        )
        outcome = await account.register(timeout=10)
        if not isinstance(outcome, Registered):
            raise PhoneError(f"{self.user} did not register: {outcome}")
        ua = UserAgent(
            self.stack.layer,
            account.identity,
            credentials=DigestClient(self.user, self.password),
            user_agent="sipwebrtc-interop",
        )
        self.stack.users.append(ua)
        self.account, self.ua = account, ua
        self._pump = asyncio.ensure_future(self._pump_events())
        self.log(f"registered {self.user} over {self.server}")

    async def _pump_events(self) -> None:
        assert self.ua is not None
        while True:
            event = self.ua.next_event()
            if event is None:
                await asyncio.sleep(0.005)
                continue
            self.log(f"event {_describe(event)}")
            if isinstance(event, InfoReceived):
                request = event.request
                content = request.content_type.mime if request.content_type else ""
                digit = parse_info(content, request.body)
                if digit is not None:
                    self.dtmf_info.append(digit)
            self.history.append(event)
            self._changed.set()

    async def wait_for(self, kind: type, timeout: float = 10.0) -> Any:
        """The next event of ``kind`` not handed out yet."""
        deadline = time.monotonic() + timeout
        while True:
            start = self._cursor.get(kind, 0)
            for index in range(start, len(self.history)):
                if isinstance(self.history[index], kind):
                    self._cursor[kind] = index + 1
                    return self.history[index]
            self._cursor[kind] = len(self.history)
            left = deadline - time.monotonic()
            if left <= 0:
                seen = ", ".join(_describe(e) for e in self.history[-10:])
                raise PhoneError(f"no {kind.__name__} within {timeout} s (last: {seen})")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def _flush(self) -> None:
        self.stack.process()

    def _ua(self) -> UserAgent:
        if self.ua is None:
            raise PhoneError("not registered")
        return self.ua

    def _call(self) -> Call:
        if self.call is None:
            raise PhoneError("no call")
        return self.call

    def _media(self) -> MediaSession:
        if self.media is None:
            raise PhoneError("no media session")
        return self.media

    def _new_media(self) -> MediaSession:
        media = MediaSession(LOOPBACK_MEDIA, ToneTrack(self.tone_hz))
        media.on_frame = self._on_frame
        if hasattr(media, "on_dtmf"):  # RFC 4733 reception, once MediaSession has it
            media.on_dtmf = self.dtmf_rtp.append
        self.media = media
        return media

    # -- calls ---------------------------------------------------------------------------------
    async def place_call(self, user: str) -> None:
        """INVITE ``user`` with an offer; returns once the 2xx came and the answer is applied."""
        ua = self._ua()
        assert self.account is not None and self.account.flow is not None
        media = self._new_media()
        offer = await media.create_offer()
        self.call = ua.invite(
            SipUri(self.domain, user=user),
            from_addr=NameAddr(SipUri(self.domain, user=self.user)),
            flow=self.account.flow,
            now=self.stack.now(),
            body=offer,
            content_type="application/sdp",
        )
        self._flush()
        answered = await self.wait_for(CallAnswered, 15)
        await media.set_answer(answered.response.body)

    async def wait_incoming(self, timeout: float = 10.0) -> Call:
        incoming = await self.wait_for(IncomingCall, timeout)
        self.call = incoming.call
        return self.call

    def ring(self) -> None:
        self._ua().ring(self._call(), self.stack.now())
        self._flush()

    async def answer(self) -> None:
        """200 OK with our answer; returns once the ACK came."""
        call = self._call()
        media = self._new_media()
        answer = await media.create_answer(call.remote_body)
        self._ua().answer(call, self.stack.now(), body=answer, content_type="application/sdp")
        self._flush()
        await self.wait_for(CallConfirmed, 10)

    async def reoffer(self, direction: str) -> str:
        """Re-INVITE with our audio ``direction`` (sendonly holds the peer, sendrecv resumes);
        returns the direction of the peer's answer."""
        call, media = self._call(), self._media()
        offer = await media.reoffer(direction)
        sent = self._ua().reinvite(
            call, self.stack.now(), body=offer, content_type="application/sdp"
        )
        if not sent:
            raise PhoneError("a re-INVITE is already in progress")
        self._flush()
        answered = await self.wait_for(ReinviteAnswered, 10)
        if answered.response.status_code >= 300:
            raise PhoneError(f"re-INVITE answered {answered.response.status_code}")
        await media.set_answer(answered.response.body)
        return _direction(answered.response.body)

    async def accept_reinvite(self, timeout: float = 10.0) -> dict[str, Any]:
        """Answer the peer's next re-INVITE from our media session; reports whether its offer
        puts us on hold (RFC 3264 §8.4) and the direction we answered with."""
        received = await self.wait_for(ReinviteReceived, timeout)
        offer = parse(received.request.body)
        held = remote_hold(offer.media[0], offer)
        answer = await self._media().create_answer(received.request.body)
        self._ua().answer_reinvite(
            received.call, self.stack.now(), body=answer, content_type="application/sdp"
        )
        self._flush()
        return {
            "held": held,
            "offered": offer.direction_of(offer.media[0]),
            "answered": _direction(answer),
        }

    async def send_info_dtmf(self, digits: str) -> list[int]:
        """One INFO (application/dtmf-relay) per digit, each waited for; the final statuses."""
        statuses = []
        for digit in digits:
            content_type, body = info_body(digit, 100)
            if not self._ua().send_info(
                self._call(), self.stack.now(), body=body, content_type=content_type
            ):
                raise PhoneError("INFO not sent: no confirmed call")
            self._flush()
            answered = await self.wait_for(InfoAnswered, 10)
            statuses.append(answered.response.status_code)
        return statuses

    async def send_rtp_dtmf(self, digits: str) -> bool:
        """RFC 4733 through ``MediaSession.send_dtmf`` when it exists; False otherwise."""
        send = getattr(self._media(), "send_dtmf", None)
        if send is None:
            return False
        result = send(digits)
        if inspect.isawaitable(result):
            await result
        return True

    def rtp_dtmf_support(self) -> dict[str, bool]:
        """Which RFC 4733 hooks the current media session has."""
        media = self._media()
        return {
            "send_dtmf": hasattr(media, "send_dtmf"),
            "on_dtmf": hasattr(media, "on_dtmf"),
        }

    def hangup(self) -> None:
        self._ua().hangup(self._call(), self.stack.now())
        self._flush()

    async def wait_ended(self, timeout: float = 10.0) -> CallEnded:
        ended: CallEnded = await self.wait_for(CallEnded, timeout)
        await self.end_media()
        return ended

    async def end_media(self) -> None:
        if self.media is not None:
            await self.media.close()
            self.media = None

    # -- audio ---------------------------------------------------------------------------------
    def _on_frame(self, frame: AudioFrame) -> None:
        self.frames += 1
        if self._window is not None:
            self._window.append(frame)

    async def measure(self, seconds: float) -> dict[str, Any]:
        """Frames received during ``seconds`` and the share of their power at the expected
        tone (mean over 20 ms frames), with the RMS level (full scale = 32768)."""
        self._window = []
        await asyncio.sleep(seconds)
        window, self._window = self._window, None
        tone = total = 0.0
        for frame in window:
            power, mean_square = goertzel_share(mono(frame), frame.sample_rate, self.expect_hz)
            tone += power
            total += mean_square
        return {
            "frames": len(window),
            "rms": math.sqrt(total / len(window)) / 32768 if window else 0.0,
            "tone_share": tone / total if total > 0 else 0.0,
        }

    async def close(self) -> None:
        await self.end_media()
        if self._pump is not None:
            self._pump.cancel()
        if self.account is not None:
            await self.account.stop(timeout=2.0)
        await self.stack.close()


def _direction(body: bytes) -> str:
    description = parse(body)
    return description.direction_of(description.media[0])


def _describe(event: Event) -> str:
    if isinstance(event, CallProgress | CallAnswered | ReinviteAnswered | InfoAnswered):
        return f"{type(event).__name__} {event.response.status_code}"
    if isinstance(event, CallEnded):
        return f"CallEnded {event.reason.value} {event.status or ''}".rstrip()
    return type(event).__name__
