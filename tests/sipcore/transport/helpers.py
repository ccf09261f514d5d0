"""A recording Receiver, SIP message bytes and a test PKI for the transport tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sipcore.flow import Flow
from sipcore.transport.pki import make_cert

WAIT = 2.0  # seconds before a wait for an expected event fails the test


def options(n: int = 1, body: bytes = b"", transport: str = "TCP") -> bytes:
    """An OPTIONS request with Content-Length, as any transport carries it."""
    head = (
        f"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1;branch=z9hG4bK-{n}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:alice@example.com>;tag=a{n}\r\n"
        f"To: <sip:bob@example.com>\r\n"
        f"Call-ID: {n}@test\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Recorder:
    """Receiver that records every call and lets a test wait for a condition."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, Flow]] = []
        self.keepalives: list[Flow] = []
        self.opened: list[Flow] = []
        self.closed: list[tuple[Flow, BaseException | None]] = []
        self._changed = asyncio.Event()

    def message_received(self, data: bytes, flow: Flow) -> None:
        self.messages.append((data, flow))
        self._changed.set()

    def keepalive_received(self, flow: Flow) -> None:
        self.keepalives.append(flow)
        self._changed.set()

    def flow_opened(self, flow: Flow) -> None:
        self.opened.append(flow)
        self._changed.set()

    def flow_closed(self, flow: Flow, error: BaseException | None) -> None:
        self.closed.append((flow, error))
        self._changed.set()

    @property
    def payloads(self) -> list[bytes]:
        return [data for data, _ in self.messages]

    async def until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def other_tasks() -> set[asyncio.Task[object]]:
    """Tasks of the running loop besides the current one."""
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


@dataclass(frozen=True)
class Pki:
    cafile: str
    certfile: str
    keyfile: str


def make_pki(directory: Path) -> Pki:
    """A CA and a server certificate for 127.0.0.1 and localhost (file paths as str)."""
    files = make_cert(directory, hosts=("127.0.0.1", "localhost"), days=1)
    return Pki(cafile=str(files.ca), certfile=str(files.cert), keyfile=str(files.key))
