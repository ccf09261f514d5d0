"""SIPp calls the CLI softphone listening on UDP with auto-answer, as test automation would.

SIPp's stock UAC offers plain RTP/AVP, which a WebRTC endpoint refuses (488); the scenario here
sends the INVITE without SDP, so the softphone offers in its 200 and takes the answer from the
ACK (RFC 3264 §5, RFC 3261 §13.2.1). No ICE agent answers on SIPp's side: the calls are
signalling only, ended by SIPp's BYE after a second.
"""

from __future__ import annotations

import asyncio

from client.cli import ExitCode
from tests.client.helpers import CliProcess

from .ports import free_ports
from .sipp_peer import Sipp

CALLS = 3


async def test_sipp_calls_the_listening_cli_and_every_call_completes(sipp: Sipp) -> None:
    cli = await CliProcess.start(
        "--aor", "sip:bob@127.0.0.1", "--listen", "udp:127.0.0.1:0", "--auto-answer",
        "--max-calls", str(CALLS), "--stats-interval", "0",
    )  # fmt: skip
    try:
        port = await cli.port("udp")
        (sipp_port,) = free_ports(1, "udp")
        process = sipp.start(
            "uac_late_offer.xml",
            "-s", "bob", "-m", CALLS, "-l", 1, "-d", 1000, "-p", sipp_port,
            "-recv_timeout", 10000,
            remote=f"127.0.0.1:{port}",
        )  # fmt: skip
        result = await asyncio.to_thread(process.wait, 60.0)
        assert result.ok, result.describe()
        assert result.successful_calls == CALLS
        assert await cli.exit_code() == ExitCode.OK
    finally:
        await cli.close()
    ends = cli.of("call_end")
    assert [(e["call"], e["reason"], e["result"]) for e in ends] == [
        (n, "remote_hangup", "ok") for n in range(1, CALLS + 1)
    ]
    established = cli.of("state")
    assert sum(e["state"] == "established" for e in established) == CALLS
