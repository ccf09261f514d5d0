"""The embedded registrar and proxy on sockets: :class:`EmbeddedServer` drives the sans-I/O
:class:`~sipcore.proxy.Proxy` with a :class:`~sipcore.stack.SipStack`.

This is the embedded default server for demos and tests, not a production server: deployments
use Kamailio (``tests/interop/kamailio/kamailio.cfg`` is the behaviour followed). It listens on
loopback by default, keeps its bindings in memory and resolves no names.

    async with EmbeddedServer(users={"alice": "alicepw", "bob": "bobpw"}) as server:
        account = stack.account(
            RegistrationConfig(aor=SipUri(server.domain, user="alice"), password="alicepw"),
            server.uri("ws"),
        )

From a shell, until Ctrl-C::

    python -m sipcore.server --users alice:alicepw,bob:bobpw --ws 127.0.0.1:8080 \\
        --udp 127.0.0.1:5060 --tcp 127.0.0.1:5060
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import ssl
from collections.abc import Iterable, Mapping, Sequence

from .events import Event, MessageDropped, StrayResponse
from .flow import Flow
from .proxy import Binding, Proxy, ProxyConfig
from .stack import SipStack, StackConfig
from .transport import server_ssl_context

__all__ = ["EmbeddedServer", "main"]

logger = logging.getLogger("sipcore.server")

TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class _ProxyUser:
    """Hands the stack's transaction-layer events to the :class:`Proxy` (a TransactionUser);
    dropped messages and stray responses keep the stack's own logging and counting."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def handle_event(self, event: Event, now: float) -> bool:
        if isinstance(event, MessageDropped | StrayResponse):
            return False
        self.proxy.handle_event(event, now)
        return True

    def flow_closed(self, flow: Flow, now: float) -> None:
        self.proxy.flow_closed(flow, now)

    def get_timer(self) -> float | None:
        return self.proxy.get_timer()

    def handle_timer(self, now: float) -> None:
        self.proxy.handle_timer(now)


class EmbeddedServer:
    """Registrar and record-routing proxy for ``users`` on loopback sockets.

    ``listen`` names the transports (udp, tcp, tls, ws, wss); each gets a free port unless
    ``ports`` fixes one. WSS is added when ``wss_ssl`` (a server SSL context) is given; TLS uses
    ``tls_ssl``, or ``wss_ssl`` when that is None. ``config`` carries the other settings of
    :class:`~sipcore.proxy.ProxyConfig` (Min-Expires, Timer C ...); ``users``, ``domain`` and
    ``invite_auth`` override its fields.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        domain: str = "127.0.0.1",
        listen: Iterable[str] = ("udp", "tcp", "ws"),
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        wss_ssl: ssl.SSLContext | None = None,
        tls_ssl: ssl.SSLContext | None = None,
        invite_auth: bool = True,
        config: ProxyConfig | None = None,
        stack_config: StackConfig | None = None,
    ) -> None:
        names = [name.lower() for name in listen]
        if wss_ssl is not None and "wss" not in names:
            names.append("wss")
        for name in names:
            if name not in TRANSPORTS:
                raise ValueError(f"unknown transport {name!r} (one of {', '.join(TRANSPORTS)})")
        if "wss" in names and wss_ssl is None:
            raise ValueError("WSS needs wss_ssl, a server SSL context")
        if "tls" in names and (tls_ssl or wss_ssl) is None:
            raise ValueError("TLS needs tls_ssl (or wss_ssl), a server SSL context")
        self.host = host
        self.config = dataclasses.replace(
            config or ProxyConfig(),
            users=dict(users),
            domain=domain,
            invite_auth=invite_auth,
        )
        self._listen = list(dict.fromkeys(names))
        self._fixed_ports = dict(ports or {})
        self._ssl = {"wss": wss_ssl, "tls": tls_ssl or wss_ssl}
        self._stack_config = stack_config or StackConfig(user_agent=self.config.server)
        self._stack: SipStack | None = None
        self._proxy: Proxy | None = None
        self.ports: dict[str, int] = {}
        """Port of each transport listened on, by lower-case name."""

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Open every listener; on any failure, close what was opened and raise."""
        if self._stack is not None:
            raise RuntimeError("the server is already started")
        stack = SipStack(self._stack_config)
        await stack.__aenter__()
        proxy = Proxy(stack.layer, self.config, flows=stack)
        stack.users.append(_ProxyUser(proxy))
        self._stack = stack
        self._proxy = proxy
        try:
            for name in self._listen:
                transport = await stack.listen(
                    name.upper(),
                    self.host,
                    self._fixed_ports.get(name, 0),
                    ssl=self._ssl.get(name),
                )
                host, port = transport.local
                self.ports[name] = port
                proxy.add_listener(transport.name, host, port)
        except BaseException:
            await self.close()
            raise
        logger.info("embedded server for %s on %s", self.domain, ", ".join(self.uris()))

    async def close(self) -> None:
        """Close the listeners and every connection (bindings are forgotten)."""
        stack, self._stack = self._stack, None
        self._proxy = None
        if stack is not None:
            await stack.close()

    # -- queries ---------------------------------------------------------------------------
    @property
    def domain(self) -> str:
        """The realm of the challenges and the domain of the AORs."""
        return self.config.domain

    @property
    def stack(self) -> SipStack:
        if self._stack is None:
            raise RuntimeError("the server is not started")
        return self._stack

    @property
    def proxy(self) -> Proxy:
        if self._proxy is None:
            raise RuntimeError("the server is not started")
        return self._proxy

    def uri(self, transport: str = "ws") -> str:
        """The :meth:`SipStack.connect` target of a listener: ``ws://127.0.0.1:PORT``,
        ``wss://...``, ``udp:127.0.0.1:PORT``, ``tcp:...`` or ``tls:...``."""
        name = transport.lower()
        port = self.ports.get(name)
        if port is None:
            raise ValueError(f"not listening on {transport}")
        host = "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host
        host = f"[{host}]" if ":" in host else host
        if name in ("ws", "wss"):
            return f"{name}://{host}:{port}"
        return f"{name}:{host}:{port}"

    def uris(self) -> list[str]:
        return [self.uri(name) for name in self.ports]

    def bindings(self, user: str) -> list[Binding]:
        """The live bindings of ``user`` (the AOR's user part)."""
        return self.proxy.bindings(user, self.stack.now())


# -- command line ---------------------------------------------------------------------------


def _users(text: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not user or not sep:
            raise argparse.ArgumentTypeError(f"expected user:password, got {item!r}")
        users[user] = password
    return users


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sipcore.server",
        description=(
            "Embedded SIP registrar and record-routing proxy for demos and tests "
            "(not a production server)."
        ),
    )
    parser.add_argument(
        "--users", type=_users, required=True, help="accounts: alice:alicepw,bob:bobpw"
    )
    for name in TRANSPORTS:
        parser.add_argument(
            f"--{name}", type=_address, metavar="HOST:PORT", help=f"listen on {name.upper()}"
        )
    parser.add_argument("--domain", help="realm and AOR domain (default: the listening host)")
    parser.add_argument("--cert", help="PEM certificate (chain) for TLS and WSS")
    parser.add_argument("--key", help="PEM private key of --cert (if not in the same file)")
    parser.add_argument(
        "--no-invite-auth",
        action="store_true",
        help="do not challenge requests other than REGISTER",
    )
    parser.add_argument("--min-expires", type=int, default=60, help="423 below this (seconds)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


async def _serve(server: EmbeddedServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        for uri in server.uris():
            print(f"listening: {uri}", flush=True)
        print(f"domain: {server.domain}; users: {', '.join(server.config.users)}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until interrupted."""
    parser = _parser()
    args = parser.parse_args(argv)
    addresses: dict[str, tuple[str, int]] = {
        name: getattr(args, name) for name in TRANSPORTS if getattr(args, name) is not None
    }
    if not addresses:
        addresses = {"udp": ("127.0.0.1", 5060), "tcp": ("127.0.0.1", 5060)}
        addresses["ws"] = ("127.0.0.1", 8080)
    hosts = {host for host, _ in addresses.values()}
    if len(hosts) > 1:
        parser.error("every listener must use the same host")
    (host,) = hosts
    secure = {"tls", "wss"} & addresses.keys()
    context = None
    if secure:
        if args.cert is None:
            parser.error(f"{', '.join(sorted(secure))} needs --cert")
        context = server_ssl_context(args.cert, args.key)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    server = EmbeddedServer(
        args.users,
        domain=args.domain or ("127.0.0.1" if host in _WILDCARD_HOSTS else host),
        listen=list(addresses),
        host=host,
        ports={name: port for name, (_, port) in addresses.items()},
        wss_ssl=context if "wss" in addresses else None,
        tls_ssl=context,
        invite_auth=not args.no_invite_auth,
        config=ProxyConfig(min_expires=args.min_expires),
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(server))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
