"""Command-line entry point: ``python -m client demo``."""

from __future__ import annotations

import argparse
import sys

from .demo import run as run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the demonstration on loopback, without an external server")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
