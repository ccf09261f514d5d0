"""Our user agent as one party of the browser interop scenarios: a thin wrapper over the
high-level API (:class:`client.phone.Phone`, :class:`client.call.Call`).

:class:`OurPhone` owns one registered :class:`~client.phone.Phone` and keeps every
:mod:`client.events` event it reports, so that the scenarios can wait for one
(:meth:`OurPhone.wait_for`) and judge what arrived. Calls are the phone's own
(:meth:`OurPhone.dial`, :meth:`OurPhone.wait_incoming`); the scenarios drive them through the
:class:`~client.call.Call` API directly (``answer``, ``hold``, ``send_dtmf``, ``hangup`` ...).

Audio checks are real: every frame a call hands to ``Call.on_audio`` is counted, and
:meth:`OurPhone.measure` gives the share of the received power at the tone the browser sends
(Goertzel, per 20 ms frame).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

from av import AudioFrame

from client.call import Call
from client.config import PhoneConfig
from client.events import DtmfReceived, PhoneEvent
from client.phone import Phone
from client.stream import Subscription
from media.levels import goertzel, mono
from media.sdp import parse
from media.session import MediaConfig, ToneTrack

LOOPBACK_MEDIA = MediaConfig(host_addresses=("127.0.0.1",))


class PhoneError(RuntimeError):
    """A step of our side failed or timed out."""


def goertzel_share(samples: array.array[int], rate: int, frequency: float) -> tuple[float, float]:
    """(power at ``frequency``, mean square) of ``samples``: their ratio is near 1 for a pure
    tone at that frequency and near 0 when it is absent."""
    n = max(1, len(samples))
    return 2 * goertzel(samples, rate, frequency) / n, sum(x * x for x in samples) / n


class OurPhone:
    """One registered :class:`Phone` of ours, with at most one call at a time."""

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
        self.tone_hz = tone_hz
        self.expect_hz = expect_hz
        self._log = log
        self.config = PhoneConfig(
            aor=f"sip:{user}@{domain}",
            server=server,
            password=password,
            ca_file=ca_file,
            display_name=user.title(),
            user_agent="sipwebrtc-interop",
            media=LOOPBACK_MEDIA,
        )
        self.phone = Phone(self.config)
        self.phone.on_event(self._record)
        self.call: Call | None = None
        self.events: list[PhoneEvent] = []
        self._cursor: dict[type, int] = {}
        self._changed = asyncio.Event()
        self._incoming: Subscription[Call] | None = None
        self._entered = False
        self.frames = 0
        self._window: list[AudioFrame] | None = None

    def log(self, text: str) -> None:
        self._log(f"ours {text}")

    def _record(self, event: PhoneEvent) -> None:
        self.log(f"event {describe(event)}")
        self.events.append(event)
        self._changed.set()

    # -- registration ----------------------------------------------------------------------
    async def register(self) -> None:
        await self.phone.__aenter__()
        self._entered = True
        self._incoming = self.phone.incoming()
        await self.phone.register(timeout=10)
        self.log(f"registered {self.user} over {self.config.server}")

    # -- events ----------------------------------------------------------------------------
    async def wait_for(
        self, kind: type, where: Callable[[Any], bool] = lambda e: True, timeout: float = 10.0
    ) -> Any:
        """The next event of ``kind`` (matching ``where``) not handed out yet."""
        deadline = time.monotonic() + timeout
        while True:
            start = self._cursor.get(kind, 0)
            for index in range(start, len(self.events)):
                event = self.events[index]
                if isinstance(event, kind) and where(event):
                    self._cursor[kind] = index + 1
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                seen = ", ".join(describe(e) for e in self.events[-10:])
                raise PhoneError(f"no {kind.__name__} within {timeout} s (last: {seen})")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def of(self, kind: type, call: Call | None = None) -> list[Any]:
        """Every event of ``kind`` so far (of ``call`` when given)."""
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (call is None or getattr(e, "call", None) is call)
        ]

    def digits(self, method: str, since: int = 0) -> str:
        """The digits of the current call received by ``method`` (``info`` or ``rfc4733``),
        from its ``since``-th on."""
        got = [e.digit for e in self.of(DtmfReceived, self.call) if e.method == method]
        return "".join(got[since:])

    async def wait_digits(self, method: str, count: int, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while len(self.digits(method)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.digits(method)

    # -- calls -----------------------------------------------------------------------------
    def _hear(self, call: Call) -> Call:
        self.call = call
        call.on_audio = self._on_frame
        return call

    async def dial(self, user: str) -> Call:
        """``Phone.dial`` with our tone as the source; returns once the INVITE left."""
        return self._hear(await self.phone.dial(user, source=ToneTrack(self.tone_hz)))

    async def wait_incoming(self, timeout: float = 10.0) -> Call:
        """The next call from ``Phone.incoming()`` (ringing already: ``auto_ring``), set to
        send our tone."""
        if self._incoming is None:
            raise PhoneError("not registered")
        call = await asyncio.wait_for(anext(self._incoming), timeout)
        call.set_source(ToneTrack(self.tone_hz))
        return self._hear(call)

    def current(self) -> Call:
        if self.call is None:
            raise PhoneError("no call")
        return self.call

    async def stats(self) -> dict[str, Any]:
        """``Call.stats()`` as a JSON-ready dict."""
        return dataclasses.asdict(await self.current().stats())

    async def abandon(self) -> None:
        """After a failed scenario: end the call if one is left."""
        call = self.call
        if call is not None and not call.ended:
            await call.hangup()
            try:
                await call.wait_ended(3)
            except TimeoutError:
                self.log("abandoned call did not end")

    # -- audio -----------------------------------------------------------------------------
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
        if self._incoming is not None:
            self._incoming.close()
        if self._entered:
            await self.phone.close()


def directions(call: Call) -> dict[str, str]:
    """The audio direction of the local and remote descriptions of ``call`` (negotiated)."""
    pc = call.media.pc
    found = {}
    for name, description in (("local", pc.localDescription), ("remote", pc.remoteDescription)):
        sdp = parse(description.sdp)
        found[name] = sdp.direction_of(sdp.media[0])
    return found


def describe(event: PhoneEvent) -> str:
    fields = {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if f.name not in ("call", "new_call")
    }
    shown = " ".join(f"{k}={getattr(v, 'name', v)}" for k, v in fields.items())
    return f"{type(event).__name__} {shown}".rstrip()
