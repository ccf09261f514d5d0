"""One process of a user running a :class:`client.web.WebClient` with ``SessionListener``:
prints its callbacks on stdout, one JSON object a line, and takes commands on stdin.

Usage: ``python -m tests.client.web.client_peer DIRECTORY SIP_ACCOUNT_INFO_JSON``. Printed:
``{"event": "role", "role": ...}``, then ``session`` (state, phone, detail), ``register``
(state, phone) and ``call`` (type, phone, remote, direction) as the callbacks run. Commands:
``answer``, ``hangup``, ``close``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from client.web import WebClient


def out(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def main(directory: str, info: str) -> None:
    client = WebClient()

    def on_register(state: str, phone: str) -> None:
        out(event="register", state=state, phone=phone)

    def on_call(call: Any, event: str, phone: str) -> None:
        out(
            event="call",
            type=event,
            phone=phone,
            remote=call.remoteDisplayName,
            direction=call.callDirection,
        )

    def on_session(state: str, phone: str, detail: Any = None) -> None:
        out(event="session", state=state, phone=phone, detail=detail)

    client.initWebrtc(json.loads(info), on_register, on_call, on_session)
    out(event="role", role=await client.SessionListener(directory=directory))
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command = line.decode().strip()
        call = client.getCall()
        if command == "answer" and call is not None:
            await call.Answer()
        elif command == "hangup" and call is not None:
            await call.Hangup()
        elif command == "close":
            break
    await client.close()
    out(event="closed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
