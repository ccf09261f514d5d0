"""Credentials never reach logs, reprs or exception messages: a registration and a call with
every logger at DEBUG (ours, websockets, aiortc, aioice), scanned for the secrets used."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
from aiortc import RTCIceServer

from client.config import PhoneConfig
from client.errors import RegistrationFailed
from client.phone import Phone
from media.session import MediaConfig
from tests.client.helpers import USERS, connect, lab

TURN_SECRET = "turn-secret-f00d"


def leaks(text: str) -> list[str]:
    return [secret for secret in (*USERS.values(), TURN_SECRET) if secret in text]


async def test_nothing_written_carries_a_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # a TURN server that is configured but does not answer: gathering falls back to host
    turn = RTCIceServer(urls="turn:127.0.0.1:9", username="u", credential=TURN_SECRET)
    media = MediaConfig(host_addresses=("127.0.0.1",), ice_servers=(turn,), gather_timeout=0.5)
    texts: list[str] = []
    async with lab(tmp_path) as net:
        alice = await net.phone("alice", media=media)
        bob = await net.phone("bob", media=media)
        out, inc = await connect(alice, bob)
        await out.send_dtmf("1", method="info")
        await asyncio.sleep(0.3)
        texts += [repr(alice.config), repr(out.media.config), str(out.details())]
        await out.hangup()
        await inc.wait_ended(10)

        wrong = Phone(replace(net.config("carol"), password="not-" + USERS["carol"]))
        async with wrong:
            with pytest.raises(RegistrationFailed) as failed:
                await wrong.register(timeout=10)
        texts += [str(failed.value), repr(failed.value), repr(wrong.config)]
    records = caplog.records
    wire = [r.getMessage() for r in records if r.name == "sipcore.transport.ws.wire"]
    assert any(m.startswith("> TEXT [") for m in wire), "the WebSocket frames were logged"
    assert any(r.name.startswith("sipcore") for r in records)
    texts += [record.getMessage() for record in records]
    texts += [str(record.exc_info[1]) for record in records if record.exc_info]
    found = {secret for text in texts for secret in leaks(text)}
    assert not found, f"secrets written: {found}"
    assert "not-" + USERS["carol"] not in "\n".join(texts)


def test_config_reprs_hide_secrets() -> None:
    config = PhoneConfig(aor="sip:a@example.com", server="wss://example.com", password="pw-123")
    assert "pw-123" not in repr(config) and "pw-123" not in str(config)


async def test_bearer_tokens_are_never_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The subscriber token of the mobile-voice facade (RFC 8898 Bearer) stays out of every
    log record, the on-disk log, listener callbacks and error messages."""
    from tests.client.voice.helpers import platform

    caplog.set_level(logging.DEBUG)
    token = "bearer-secret-7c1e"
    async with platform(tmp_path) as net:
        net.tokens[token] = ("alice", "ok")
        alice, events = await net.client("alice", token=token)
        net.tokens["bearer-expired-9a"] = ("bob", "expired")
        from client.voice import VoiceClient

        bob = VoiceClient()
        bob.setEventListener(events)
        assert not await bob.initialize(
            net.context("bob"), net.hostname, "bob", "Bob", "AC", "bearer-expired-9a"
        )
        await alice.stop()
    texts = [record.getMessage() for record in caplog.records]
    texts += [str(args) for _, args in events.seen]
    texts += [p.read_text() for p in tmp_path.glob("*/voice.log*")]
    assert any("Authorization: ***" in text for text in texts)
    for secret in (token, "bearer-expired-9a"):
        assert not [text for text in texts if secret in text], f"{secret} written"


_DANGEROUS = re.compile(r"\bpickle\b|\beval\(|\bexec\(|\bmarshal\b|\bshelve\b|yaml\.load\(")


def test_no_deserialisation_or_evaluation_of_data_in_the_sources() -> None:
    # nothing under sipcore, media or client may unpickle, unmarshal or evaluate anything: the
    # data they handle comes from the network
    root = Path(__file__).resolve().parent.parent
    hits = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for package in ("sipcore", "media", "client")
        for path in sorted((root / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _DANGEROUS.search(line)
    ]
    assert hits == []
    assert _DANGEROUS.search("x = pickle.loads(data)") and _DANGEROUS.search("eval(s)")
