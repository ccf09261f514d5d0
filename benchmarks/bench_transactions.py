#!/usr/bin/env python3
"""Transactions per second through the sans-I/O layer, in memory (no sockets, no clock).

Two TransactionLayer objects talk over a list: a UAC layer starts a transaction, the UAS layer
receives it and answers, the UAC layer takes the answer. Measured per full exchange:

* non-INVITE: OPTIONS -> 200 (NICT + NIST), over UDP and over TCP;
* INVITE: INVITE -> 100 -> 200, then ACK (ICT + IST; the ACK travels outside the transaction).

Every byte crosses parse_message and serialisation, as it would on a socket. Transactions end by
their timers: the clock is advanced past Timer K / J / M / L in batches, so memory stays flat.

    .venv/bin/python benchmarks/bench_transactions.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sipcore import (
    NameAddr,
    Request,
    SipUri,
    Via,
    build_request,
    build_response,
    generate_branch,
)
from sipcore.events import RequestReceived, ResponseReceived
from sipcore.flow import Flow
from sipcore.transaction_layer import TransactionLayer

UAC = ("127.0.0.1", 5070)
UAS = ("127.0.0.1", 5080)


def make_request(method: str, transport: str, n: int) -> Request:
    return build_request(
        method,
        SipUri(UAS[0], user="bob", port=UAS[1]),
        from_addr=NameAddr(SipUri("example.com", user="alice"), None, {"tag": f"f{n}"}),
        to_addr=NameAddr(SipUri("example.com", user="bob")),
        call_id=f"call-{n}",
        cseq=1,
        via=Via(transport, UAC[0], UAC[1], {"branch": generate_branch(), "rport": None}),
        contact=NameAddr(SipUri(UAC[0], user="alice", port=UAC[1])),
    )


def exchange(method: str, transport: str, count: int) -> float:
    """Run ``count`` full exchanges; returns the seconds they took."""
    uac, uas = TransactionLayer(), TransactionLayer()
    to_uas = Flow(transport, UAC, UAS, connection=1 if transport != "UDP" else 0)
    to_uac = Flow(transport, UAS, UAC, connection=1 if transport != "UDP" else 0)
    now = 0.0
    started = time.perf_counter()
    for n in range(count):
        request = make_request(method, transport, n)
        uac.send_request(request, to_uas, now)
        for data, _ in uac.data_to_send():
            uas.receive(data, to_uac, now)
        while (event := uas.next_event()) is not None:
            if isinstance(event, RequestReceived):
                ok = build_response(event.request, 200, to_tag=f"t{n}")
                uas.send_response(event.transaction, ok, now)
        for data, _ in uas.data_to_send():
            uac.receive(data, to_uas, now)
        final = None
        while (event := uac.next_event()) is not None:
            if isinstance(event, ResponseReceived) and event.response.status_code >= 200:
                final = event.response
        assert final is not None and final.status_code == 200
        if method == "INVITE":
            ack = build_request(
                "ACK",
                request.uri,
                from_addr=request.from_,
                to_addr=final.to,
                call_id=request.call_id,
                cseq=1,
                via=Via(transport, UAC[0], UAC[1], {"branch": generate_branch()}),
            )
            uas.receive(bytes(ack), to_uac, now)
            while uas.next_event() is not None:
                pass
        if n % 500 == 499:  # let Timer J/K/L/M end the finished transactions
            now += 40.0
            uac.handle_timer(now)
            uas.handle_timer(now)
            while uac.next_event() is not None or uas.next_event() is not None:
                pass
    elapsed = time.perf_counter() - started
    return elapsed


def rows(quick: bool = False) -> list[tuple[str, str, float, float]]:
    """The results as data: (exchange, transport, median transactions/s, median µs each)."""
    count, rounds = (1000, 3) if quick else (5000, 7)
    out = []
    for method, transport in (("OPTIONS", "UDP"), ("OPTIONS", "TCP"), ("INVITE", "UDP")):
        times = [exchange(method, transport, count) for _ in range(rounds)]
        median = statistics.median(times)
        label = "INVITE/100/200 + ACK" if method == "INVITE" else "OPTIONS/200"
        out.append((label, transport, count / median, median / count * 1e6))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    print("| exchange | transport | median transactions/s | median µs per exchange |")
    print("|---|---|---:|---:|")
    for label, transport, rate, us in rows(args.quick):
        print(f"| {label} | {transport} | {rate:,.0f} | {us:.1f} |")
    print("\n(one exchange = one client and one server transaction, both ends parsing and")
    print(" serialising every message; CPU: one core of the machine the table was made on)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
