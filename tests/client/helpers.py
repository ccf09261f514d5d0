"""Phones on an embedded WSS registrar/proxy with a test CA, and audio measurement."""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import math
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from av import AudioFrame

from client.call import Call
from client.config import PhoneConfig
from client.events import PhoneEvent
from client.phone import Phone
from media.levels import goertzel
from media.session import MediaConfig, ToneTrack
from sipcore.server import EmbeddedServer
from sipcore.transport import server_ssl_context
from sipcore.transport.pki import make_cert

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
TONES = {"alice": 440.0, "bob": 1000.0, "carol": 1500.0}
LOOPBACK = MediaConfig(host_addresses=("127.0.0.1",))
ROOT = Path(__file__).resolve().parents[2]


NOISE_HZ = 2345.0
"""A frequency nobody sends: the noise reference of :func:`tone_db`."""


def tone_db(samples: array.array[int], rate: int, frequency: float) -> float:
    """Power at ``frequency`` in dB above the power at :data:`NOISE_HZ`."""
    signal = goertzel(samples, rate, frequency)
    noise = goertzel(samples, rate, NOISE_HZ)
    return 10 * math.log10(max(signal, 1e-9) / max(noise, 1e-9))


class Ear:
    """Counts the frames a call receives and measures tones in the recent ones."""

    def __init__(self, call: Call) -> None:
        self.frames: list[AudioFrame] = []
        call.on_audio = self.frames.append

    def tone(self, frequency: float, last: int = 25) -> float:
        """Power at ``frequency`` over the ``last`` frames, in dB above the power at a
        frequency nobody sends (a noise reference)."""
        samples: array.array[int] = array.array("h")
        for frame in self.frames[-last:]:
            pcm = array.array("h", bytes(frame.planes[0]))
            samples.extend(pcm[:: len(frame.layout.channels)])
        rate = self.frames[-1].sample_rate if self.frames else 48000
        return tone_db(samples, rate, frequency)

    def rms(self, last: int = 25) -> float:
        samples: array.array[int] = array.array("h")
        for frame in self.frames[-last:]:
            samples.extend(array.array("h", bytes(frame.planes[0])))
        return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))

    async def frames_in(self, seconds: float) -> int:
        before = len(self.frames)
        await asyncio.sleep(seconds)
        return len(self.frames) - before


class Recorder:
    """Every event of a phone, with a way to wait for one."""

    def __init__(self, phone: Phone) -> None:
        self.events: list[PhoneEvent] = []
        self._changed = asyncio.Event()
        phone.on_event(self._add)

    def _add(self, event: PhoneEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(
        self, kind: type[Any], where: Callable[[Any], bool] = lambda e: True, timeout: float = 10
    ) -> Any:
        async def find() -> Any:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if isinstance(event, kind) and where(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class Lab:
    """An embedded registrar/proxy on WSS and the phones registered to it."""

    def __init__(self, server: EmbeddedServer, ca: Path, stack: AsyncExitStack) -> None:
        self.server = server
        self.ca = ca
        self._stack = stack

    def config(self, name: str, **changes: Any) -> PhoneConfig:
        settings: dict[str, Any] = {
            "aor": f"sip:{name}@{self.server.domain}",
            "server": self.server.uri("wss"),
            "password": USERS[name],
            "ca_file": str(self.ca),
            "media": LOOPBACK,
            "display_name": name.title(),
        }
        settings.update(changes)
        return PhoneConfig(**settings)

    async def phone(self, name: str, *, register: bool = True, **changes: Any) -> Phone:
        phone = Phone(self.config(name, **changes))
        await self._stack.enter_async_context(phone)
        if register:
            await phone.register()
        return phone


async def connect(caller: Phone, callee: Phone, name: str = "bob") -> tuple[Call, Call]:
    """``caller`` dials ``name`` (sending alice's tone); ``callee`` answers (bob's tone)."""
    incoming = callee.incoming()
    outgoing = await caller.dial(name, source=tone("alice"))
    inbound = await asyncio.wait_for(anext(incoming), 10)
    inbound.set_source(tone("bob"))
    await inbound.answer()
    await outgoing.wait_established(10)
    await inbound.wait_established(10)
    return outgoing, inbound


def tone(name: str) -> ToneTrack:
    return ToneTrack(TONES[name])


@asynccontextmanager
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    certs = make_cert(tmp_path)
    ssl = server_ssl_context(str(certs.cert), str(certs.key))
    async with (
        EmbeddedServer(USERS, listen=(), wss_ssl=ssl) as server,
        AsyncExitStack() as stack,
    ):
        yield Lab(server, certs.ca, stack)


class CliProcess:
    """The CLI softphone (``python -m client phone``) as a subprocess with ``--json``: its
    stdout lines parsed as they come, stderr kept for failure messages."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        assert proc.stdout is not None
        self._reader = asyncio.ensure_future(self._read(proc.stdout))

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> CliProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client", "phone", "--json", *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        return cls(proc)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.lines.append(json.loads(line))
            self._changed.set()

    def of(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == event]

    async def wait(
        self,
        event: str,
        where: Callable[[dict[str, Any]], bool] = lambda e: True,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                for line in self.of(event):
                    if where(line):
                        return line
                if self._reader.done():
                    raise AssertionError(f"no {event} line before exit: {await self.stderr()}")
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def port(self, transport: str) -> int:
        line = await self.wait("listening", lambda e: e["transport"] == transport.upper())
        return int(line["port"])

    async def exit_code(self, timeout: float = 30.0) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader
        return code

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        with contextlib.suppress(TimeoutError):
            return (await asyncio.wait_for(self.proc.stderr.read(), 5)).decode()
        return ""

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
