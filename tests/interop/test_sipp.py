"""Our stack against SIPp: a UAS under 10 % packet loss, and a UAC facing a digest registrar."""

from __future__ import annotations

import asyncio

import pytest

from sipcore import SipUri
from sipcore.registration import Registered, RegistrationConfig
from sipcore.stack import IncomingRequest, SipStack, StackConfig

from .ports import free_ports
from .sipp_peer import Sipp


def answering(stack: SipStack, port: int) -> None:
    """Answer INVITE with 200 (and a Contact to send the ACK and BYE to) and BYE with 200."""

    def handler(incoming: IncomingRequest) -> None:
        method = incoming.request.method
        if method == "INVITE":
            incoming.respond(200, headers=[("Contact", f"<sip:bob@127.0.0.1:{port}>")])
        elif method == "BYE":
            incoming.respond(200)

    stack.on_request(handler)


@pytest.mark.parametrize("loss", [10, 30])
async def test_uas_completes_every_transaction_under_loss(sipp: Sipp, loss: int) -> None:
    async with SipStack() as stack:
        listener = await stack.listen("UDP", "127.0.0.1", 0)
        port = listener.local[1]
        answering(stack, port)
        (sipp_port,) = free_ports(1, "udp")
        process = sipp.start(
            "uac_loss.xml",
            "-s", "bob", "-m", 30, "-r", 10, "-l", 10, "-lost", loss,
            "-recv_timeout", 20000, "-p", sipp_port,
            remote=f"127.0.0.1:{port}",
        )  # fmt: skip
        result = await asyncio.to_thread(process.wait, 90.0)
        # every call completes by retransmission, or fails by its RFC timer (SIPp counts it)
        assert result.successful_calls + result.failed_calls == 30, result.describe()
        assert result.successful_calls >= (30 if loss <= 10 else 25), result.describe()
        assert result.retransmissions > 0, "the loss made SIPp retransmit"
        # our side retransmitted too: the 2xx until the ACK, final responses on request
        # retransmissions; every server transaction and 2xx retransmission is gone after
        assert stack.dropped == []


async def test_uac_registers_against_a_digest_registrar(sipp: Sipp) -> None:
    (port,) = free_ports(1, "udp")
    process = sipp.start(
        "uas_digest_register.xml",
        "-m", 1, "-p", port,
        variables={"user": "alice", "password": "s3cret", "realm": "sipp.test"},
    )  # fmt: skip
    await asyncio.sleep(0.3)  # SIPp binds its socket
    async with SipStack(StackConfig(keepalive_interval=0)) as stack:
        account = stack.account(
            RegistrationConfig(
                aor=SipUri("sipp.test", user="alice"), password="s3cret", expires=300
            ),
            f"udp:127.0.0.1:{port}",
        )
        outcome = await account.register(timeout=15)
        assert isinstance(outcome, Registered), account.history
        await account.stop(unregister=False)
    result = await asyncio.to_thread(process.wait, 15.0)
    assert result.ok, result.describe()
