"""Message factories, a driver loop and digest helpers for the sans-I/O tests (no clock, no
sockets)."""

from __future__ import annotations

import hashlib

from sipcore import AuthHeader, NameAddr, Request, SipUri, Via, build_request, generate_branch
from sipcore.events import Event
from sipcore.flow import Flow
from sipcore.transaction_layer import TransactionLayer

UDP = Flow("UDP", ("192.0.2.10", 5060), ("192.0.2.1", 5060))
TCP = Flow("TCP", ("192.0.2.10", 5060), ("192.0.2.1", 40000), connection=7)


def request(
    method: str = "OPTIONS",
    *,
    branch: str | None = None,
    transport: str = "UDP",
    to_tag: str | None = None,
    cseq: int = 1,
    call_id: str = "call-1",
    from_tag: str = "ft1",
    host: str = "192.0.2.10",
    rport: bool = False,
) -> Request:
    params: dict[str, str | None] = {"branch": branch or generate_branch()}
    if rport:
        params["rport"] = None
    to_params = {"tag": to_tag} if to_tag else {}
    return build_request(
        method,
        SipUri("192.0.2.1", user="bob"),
        from_addr=NameAddr(SipUri("example.com", user="alice"), None, {"tag": from_tag}),
        to_addr=NameAddr(SipUri("example.com", user="bob"), None, to_params),
        call_id=call_id,
        cseq=cseq,
        via=Via(transport, host, 5060, params),
    )


def drain(layer: TransactionLayer) -> list[Event]:
    events = []
    while (event := layer.next_event()) is not None:
        events.append(event)
    return events


def advance(layer: TransactionLayer, until: float) -> list[tuple[float, bytes]]:
    """Fire every deadline up to ``until`` as a driver would; returns (time, bytes) sent."""
    sent: list[tuple[float, bytes]] = []
    while (deadline := layer.get_timer()) is not None and deadline <= until:
        layer.handle_timer(deadline)
        sent += [(deadline, data) for data, _ in layer.data_to_send()]
    return sent


# -- digest authentication --------------------------------------------------------------------

HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def H(algorithm: str, data: str | bytes) -> str:
    """An independent H(): hashlib on the UTF-8 octets, lower-case hex."""
    if isinstance(data, str):
        data = data.encode()
    return hashlib.new(HASHES[algorithm.removesuffix("-sess")], data).hexdigest()


def params(value: str) -> dict[str, str]:
    """The parameters of an authentication header value."""
    return AuthHeader.parse(value).params
