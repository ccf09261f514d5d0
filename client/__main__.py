"""Command-line entry point: ``python -m client demo``, ``python -m client phone ...`` and
``python -m client server ...``."""

from __future__ import annotations

import argparse
import sys

from .cli import main as run_phone
from .demo import run as run_demo
from .server_cli import main as run_server


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["phone"]:  # the softphone parses its own options
        return run_phone(argv[1:], prog="python -m client phone")
    if argv[:1] == ["server"]:
        return run_server(argv[1:], prog="python -m client server")
    parser = argparse.ArgumentParser(prog="python -m client")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the demonstration on loopback, without an external server")
    sub.add_parser("phone", help="the CLI softphone (python -m client phone --help)")
    sub.add_parser("server", help="a registrar/proxy on loopback (python -m client server --help)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
