"""One process of a user: runs a SessionCoordinator, takes commands on stdin and prints what
happens on stdout, one JSON object a line.

Usage: ``python -m tests.client.web.session_peer DIRECTORY USER SERVER``. Commands:
``publish STATE [PHONE]``, ``status``, ``close``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from client.web.multi import SessionCoordinator


def out(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def main(directory: str, user: str, server: str) -> None:
    coordinator: SessionCoordinator

    def on_state(state: str, phone: str | None) -> None:
        out(event="state", state=state, phone=phone, role=coordinator.role)

    coordinator = SessionCoordinator(user, server, on_state, directory=directory)
    role = await coordinator.start()
    out(event="role", role=role, pid=os.getpid())
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command, *args = line.decode().split()
        if command == "publish":
            coordinator.publish(args[0], args[1] if len(args) > 1 else None)
            out(event="published", state=args[0])
        elif command == "status":
            out(
                event="status",
                role=coordinator.role,
                children=coordinator.children,
                dropped=coordinator.dropped,
            )
        elif command == "close":
            break
    await coordinator.close()
    out(event="closed")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
