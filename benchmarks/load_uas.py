#!/usr/bin/env python3
"""An auto-answering UAS for signalling load: registers USER to a registrar over UDP, answers
INVITE with 200 (no media) and BYE with 200, until SIGTERM; then prints its CPU seconds.

    .venv/bin/python benchmarks/load_uas.py --registrar 127.0.0.1:5060 --user bob --password bobpw

Prints ``READY <port>`` once registered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import sys

from sipcore import SipUri
from sipcore.registration import Registered, RegistrationConfig
from sipcore.stack import IncomingRequest, SipStack, StackConfig


async def serve(args: argparse.Namespace) -> int:
    config = StackConfig(keepalive_interval=0, max_transactions=200_000)
    async with SipStack(config) as stack:
        listener = await stack.listen("UDP", "127.0.0.1", 0)
        port = listener.local[1]
        contact = f"<sip:{args.user}@127.0.0.1:{port}>"
        answered = 0

        def handler(incoming: IncomingRequest) -> None:
            nonlocal answered
            method = incoming.request.method
            if method == "INVITE":
                incoming.respond(200, headers=[("Contact", contact)])
                answered += 1
            elif method == "BYE":
                incoming.respond(200)

        stack.on_request(handler)
        host = args.registrar.rpartition(":")[0]
        account = stack.account(
            RegistrationConfig(
                aor=SipUri(args.domain or host, user=args.user),
                password=args.password,
                expires=3600,
            ),
            f"udp:{args.registrar}",
        )
        outcome = await account.register(timeout=10)
        if not isinstance(outcome, Registered):
            print(f"FAILED {outcome}", flush=True)
            return 1
        print(f"READY {port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(
            json.dumps(
                {
                    "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                    "answered": answered,
                    "dropped": len(stack.dropped),
                }
            ),
            flush=True,
        )
        await account.stop(unregister=False)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrar", required=True, help="host:port of the registrar (UDP)")
    parser.add_argument("--domain", help="domain of the AOR (default: the registrar host)")
    parser.add_argument("--user", default="bob")
    parser.add_argument("--password", default="bobpw")
    return asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
