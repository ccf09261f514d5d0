"""Flows: where a message came from or goes to (RFC 5626 §3.3 uses the same notion).

The core never opens sockets; transports name each flow with a :class:`Flow` and the core hands
outbound bytes back with the flow to send them on.
"""

from __future__ import annotations

from dataclasses import dataclass

# Transports whose flows are reliable (§18: TCP, TLS; RFC 7118: WebSocket)
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "WS", "WSS", "SCTP", "TLS-SCTP"})
STREAM_TRANSPORTS = frozenset({"TCP", "TLS"})


@dataclass(frozen=True, slots=True)
class Flow:
    """One transport flow: a UDP peer address, or one connection (TCP, TLS, WS, WSS)."""

    transport: str
    """Upper-case transport name as it appears in Via: UDP, TCP, TLS, WS, WSS."""
    remote: tuple[str, int]
    """Peer address (host, port); a host never carries IPv6 brackets here."""
    local: tuple[str, int] = ("", 0)
    """Our address of the flow, as far as the transport knows it."""
    connection: int = 0
    """Identifies a connection of a connection-oriented transport; 0 for UDP."""

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS

    def __str__(self) -> str:
        host, port = self.remote
        host = f"[{host}]" if ":" in host else host
        suffix = f"#{self.connection}" if self.connection else ""
        return f"{self.transport.lower()}:{host}:{port}{suffix}"
