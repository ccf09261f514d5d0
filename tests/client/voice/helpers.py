"""A voice platform on loopback: the embedded server on WSS with token validation and push,
an HTTPS endpoint that records what it receives, and listeners that record their calls."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from client.voice import CallListener, VoiceClient, VoiceClientEventListener, VoiceContext
from sipcore.bearer import TokenVerdict
from sipcore.push import PushNotice
from sipcore.registrar import ProxyConfig
from sipcore.server import EmbeddedServer
from sipcore.transport import server_ssl_context
from sipcore.transport.pki import make_cert
from tests.client.helpers import LOOPBACK


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        data = self.body
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return json.loads(data)


class HttpsSink:
    """A local HTTPS server; ``status`` is what it answers, ``posted`` what it got."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.posted: list[Posted] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                sink.posted.append(Posted(self.path, dict(self.headers.items()), body))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Events(VoiceClientEventListener, CallListener):
    """Records every callback as (name, args); ``wait`` for one."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = asyncio.Event()

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on") and name[2:3].isupper():

            def record(*args: Any) -> None:
                self.seen.append((name, args))
                self._changed.set()

            return record
        return super().__getattribute__(name)

    def names(self) -> list[str]:
        return [name for name, _ in self.seen if name != "onLog"]

    async def wait(self, name: str, timeout: float = 10) -> tuple[Any, ...]:
        async def find() -> tuple[Any, ...]:
            while True:
                for seen, args in self.seen:
                    if seen == name:
                        return args
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)


@dataclass
class Platform:
    server: EmbeddedServer
    ca: Path
    https: HttpsSink
    tmp: Path
    tokens: dict[str, tuple[str, TokenVerdict]] = field(default_factory=dict)
    """token -> (user, verdict)."""
    pushes: list[PushNotice] = field(default_factory=list)
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    def validate(self, user: str, token: str) -> TokenVerdict:
        owner, verdict = self.tokens.get(token, ("", "invalid"))
        return verdict if owner == user else "invalid"

    def set_password(self, user: str, password: str) -> None:
        """Change a digest user's password while the server runs (a rotated secret)."""
        users = self.server.config.users
        assert isinstance(users, dict)
        users[user] = password

    def context(self, name: str, **changes: Any) -> VoiceContext:
        settings: dict[str, Any] = {
            "data_dir": self.tmp / name,
            "ca_file": str(self.ca),
            "media": LOOPBACK,
            "log_upload_url": self.https.url("/logs"),
            "feedback_url": self.https.url("/feedback"),
        }
        settings.update(changes)
        return VoiceContext(**settings)

    @property
    def hostname(self) -> str:
        return self.server.uri("wss").removeprefix("wss://")

    async def client(
        self, name: str, *, token: str | None = None, **changes: Any
    ) -> tuple[VoiceClient, Events]:
        """An initialized client of ``name`` (with a valid token unless given one)."""
        if token is None:
            token = f"{name}-tok-1"
            self.tokens[token] = (name, "ok")
        client = VoiceClient()
        events = Events()
        client.setEventListener(events)
        client.getCallController().setCallListener(events)
        self.stack.push_async_callback(client.stop)
        ok = await client.initialize(
            self.context(name, **changes), self.hostname, name, name.title(), "AC-test", token
        )
        assert ok, events.seen
        return client, events


@asynccontextmanager
async def platform(tmp_path: Path, users: dict[str, str] | None = None) -> AsyncIterator[Platform]:
    """The platform; ``users`` (name -> digest password, see ``Platform.set_password``) for
    clients with ``auth_mode="digest"``."""
    certs = make_cert(tmp_path)
    ssl_context = server_ssl_context(str(certs.cert), str(certs.key))
    sink = HttpsSink(certs.cert, certs.key)
    holder: list[Platform] = []
    pushes: list[PushNotice] = []

    def validate(user: str, token: str) -> TokenVerdict:
        return holder[0].validate(user, token)

    config = ProxyConfig(token_validator=validate, push_handler=pushes.append, push_wait=10.0)
    try:
        async with EmbeddedServer(
            users or {}, listen=(), wss_ssl=ssl_context, invite_auth=False, config=config
        ) as server:
            lab = Platform(server, certs.ca, sink, tmp_path, pushes=pushes)
            holder.append(lab)
            async with lab.stack:
                yield lab
    finally:
        sink.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> Any:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    return asyncio.wait_for(poll(), timeout)
