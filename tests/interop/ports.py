"""Free ports on loopback for the peers, so that parallel runs do not collide.

:func:`free_ports` draws ports below the kernel's ephemeral range (:func:`ephemeral_low`)
and checks that they can be bound for UDP, TCP or both on 127.0.0.1.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Literal, TypeAlias

from .processes import PeerError

LOOPBACK = "127.0.0.1"

PortKind: TypeAlias = Literal["udp", "tcp", "both"]


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 if it cannot be read)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bind(port: int, kind: PortKind, host: str) -> list[socket.socket] | None:
    types = {
        "udp": [socket.SOCK_DGRAM],
        "tcp": [socket.SOCK_STREAM],
        "both": [socket.SOCK_DGRAM, socket.SOCK_STREAM],
    }[kind]
    held: list[socket.socket] = []
    try:
        for sock_type in types:
            sock = socket.socket(socket.AF_INET, sock_type)
            held.append(sock)
            sock.bind((host, port))
    except OSError:
        for sock in held:
            sock.close()
        return None
    return held


def free_ports(n: int, kind: PortKind = "both", *, host: str = LOOPBACK) -> list[int]:
    """``n`` distinct ports free on ``host`` for UDP, TCP or both.

    They are drawn at random below the kernel's ephemeral range, so that the outgoing
    connections of the peers (which get ephemeral ports) cannot take them between this
    call and the bind of the process that uses them.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    high = min(ephemeral_low(), 65536) - 1
    low = 20000 if high > 25000 else 1025
    rng = random.SystemRandom()
    ports: list[int] = []
    held: list[socket.socket] = []
    try:
        for _ in range(20 * n + 200):
            if len(ports) == n:
                break
            port = rng.randint(low, high)
            if port in ports:
                continue
            socks = _bind(port, kind, host)
            if socks is not None:
                held.extend(socks)
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    if len(ports) < n:
        raise PeerError(f"found only {len(ports)} of {n} free {kind} ports on {host}")
    return ports
