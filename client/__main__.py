"""Command-line entry point: ``python -m client demo`` and ``python -m client phone ...``."""

from __future__ import annotations

import argparse
import sys

from .cli import main as run_phone
from .demo import run as run_demo


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["phone"]:  # the softphone parses its own options
        return run_phone(argv[1:], prog="python -m client phone")
    parser = argparse.ArgumentParser(prog="python -m client")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the demonstration on loopback, without an external server")
    sub.add_parser("phone", help="the CLI softphone (python -m client phone --help)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
