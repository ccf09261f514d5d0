"""A registrar/proxy on loopback to try the clients with: ``python -m client server ...``.

It runs the embedded :class:`~sipcore.server.EmbeddedServer` on WSS with a certificate from a
private CA made at start-up, writes that CA to ``--ca-file`` for the clients to verify the
server with, prints one ``ready`` line and serves until SIGINT or SIGTERM. It is the server of
the README's examples, not a production server.

Examples::

    # alice and bob on wss://127.0.0.1:8443, CA written to ca.pem
    python -m client server --user alice:secret --user bob:secret --ca-file ca.pem
    # passwords from the environment or a file; a Bearer token for the voice facade; UDP too
    ALICE_PW=... python -m client server --user-env alice:ALICE_PW --users-file users.txt \\
        --token alice:alice-token --no-invite-auth --udp 5060 --ca-file ca.pem
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sipcore.bearer import TokenVerdict
from sipcore.errors import TransportError
from sipcore.proxy import ProxyConfig
from sipcore.server import EmbeddedServer
from sipcore.transport import server_ssl_context
from sipcore.transport.pki import make_cert

__all__ = ["DEFAULT_WSS_PORT", "build_parser", "main", "token_validator"]

logger = logging.getLogger("client.server")

DEFAULT_WSS_PORT = 8443
"""Port of the WSS listener unless ``--wss`` says otherwise."""
_PLAIN = ("ws", "udp", "tcp")
_WILDCARD = ("", "0.0.0.0", "::")


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not name or not sep or any(c in name for c in "@ "):
        raise argparse.ArgumentTypeError(f"expected USER:VALUE, got {text!r}")
    return name, value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return int(text)


def build_parser(prog: str = "python -m client server") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        allow_abbrev=False,
        description="A SIP registrar and proxy on loopback (WSS with a private CA) to try the "
        "clients with; not a production server.",
    )
    users = parser.add_argument_group("accounts")
    users.add_argument(
        "--user",
        type=_pair,
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="an account with its digest password (repeatable)",
    )
    users.add_argument(
        "--user-env",
        type=_pair,
        action="append",
        default=[],
        metavar="USER:VAR",
        help="an account whose password is in $VAR (repeatable)",
    )
    users.add_argument(
        "--users-file", metavar="FILE", help="accounts, one USER:PASSWORD a line ('#' comments)"
    )
    users.add_argument(
        "--token",
        type=_pair,
        action="append",
        default=[],
        metavar="USER:TOKEN",
        help="accept this Bearer token (RFC 8898) for USER's REGISTER (repeatable)",
    )
    users.add_argument(
        "--expired-token",
        type=_pair,
        action="append",
        default=[],
        metavar="USER:TOKEN",
        help="refuse this token as expired, so that clients fetch a fresh one (repeatable)",
    )
    users.add_argument(
        "--no-invite-auth",
        action="store_true",
        help="do not challenge INVITE and other requests (needed by Bearer-only clients)",
    )
    net = parser.add_argument_group("listeners")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    net.add_argument(
        "--wss",
        type=_port,
        default=DEFAULT_WSS_PORT,
        metavar="PORT",
        help=f"WSS port (default {DEFAULT_WSS_PORT}; 0: a free one)",
    )
    for name in _PLAIN:
        net.add_argument(
            f"--{name}", type=_port, metavar="PORT", help=f"listen on {name.upper()} too"
        )
    net.add_argument("--domain", help="realm and AOR domain (default: the --host address)")
    net.add_argument(
        "--ca-file",
        default="ca.pem",
        help="where to write the CA certificate clients verify the server with (ca.pem)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="logs on stderr")
    return parser


def accounts(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, str]:
    """User name -> password from ``--users-file``, ``--user-env`` and ``--user`` (in that
    order: a later source overrides an earlier one)."""
    users: dict[str, str] = {}
    if args.users_file:
        try:
            lines = Path(args.users_file).read_text().splitlines()
        except OSError as exc:
            parser.error(f"--users-file: {exc}")
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                name, password = _pair(line.strip())
            except argparse.ArgumentTypeError as exc:
                parser.error(f"--users-file line {number}: {exc}")
            users[name] = password
    for name, var in args.user_env:
        value = os.environ.get(var)
        if value is None:
            parser.error(f"--user-env: ${var} is not set")
        users[name] = value
    users.update(args.user)
    if not users and not args.token:
        parser.error("no accounts: give --user, --user-env, --users-file or --token")
    return users


def token_validator(
    valid: Mapping[str, set[str]], expired: Mapping[str, set[str]]
) -> Callable[[str, str], TokenVerdict]:
    """The registrar's check of a Bearer token: ``ok`` for a token given for that user,
    ``expired`` for one listed as expired, ``invalid`` otherwise."""

    def validate(user: str, token: str) -> TokenVerdict:
        if token in valid.get(user, ()):
            return "ok"
        if token in expired.get(user, ()):
            return "expired"
        return "invalid"

    return validate


def _tokens(pairs: list[tuple[str, str]]) -> dict[str, set[str]]:
    table: dict[str, set[str]] = {}
    for name, token in pairs:
        table.setdefault(name, set()).add(token)
    return table


async def serve(server: EmbeddedServer, ca_file: str) -> None:
    """Run ``server`` until SIGINT or SIGTERM, after one ``ready`` line on stdout."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with server:
            users = ", ".join(server.config.users) or "-"
            print(
                f"ready: {' '.join(server.uris())} domain={server.domain} users={users} "
                f"ca={ca_file}",
                flush=True,
            )
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m client server") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    users = accounts(args, parser)
    validator = None
    if args.token or args.expired_token:
        validator = token_validator(_tokens(args.token), _tokens(args.expired_token))
    ports = {"wss": args.wss}
    ports.update((n, getattr(args, n)) for n in _PLAIN if getattr(args, n) is not None)
    host = args.host.strip("[]")
    with tempfile.TemporaryDirectory(prefix="sipwebrtc-server-") as tmp:
        hosts = dict.fromkeys((host, "127.0.0.1", "::1", "localhost"))
        certs = make_cert(Path(tmp), hosts=hosts)
        try:
            shutil.copyfile(certs.ca, args.ca_file)
        except OSError as exc:
            parser.error(f"--ca-file: {exc}")
        context = server_ssl_context(str(certs.cert), str(certs.key))
        server = EmbeddedServer(
            users,
            domain=args.domain or ("127.0.0.1" if host in _WILDCARD else host),
            listen=list(ports),
            host=host,
            ports=ports,
            wss_ssl=context,
            invite_auth=not args.no_invite_auth,
            config=ProxyConfig(token_validator=validator),
        )
        try:
            asyncio.run(serve(server, args.ca_file))
        except KeyboardInterrupt:
            pass
        except (OSError, TransportError) as exc:  # a port in use
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
