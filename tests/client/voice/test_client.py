"""VoiceClient against the embedded platform: tokens, dial, incoming, missed, push, logs."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from client import voice
from client.states import CallState
from client.voice import ErrorType, VoiceClient, VoiceError
from sipcore.push import PushParams
from sipcore.registration import RegistrationSent
from tests.client.voice.helpers import Events, platform, wait_for


async def test_initialize_with_a_valid_token_then_stop(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        alice, events = await lab.client("alice")
        assert alice.isInitialized()
        (binding,) = lab.server.bindings("alice")
        assert events.names() == ["onInitializationSuccess"]
        await alice.stop()
        assert not alice.isInitialized()
        assert events.names()[-1] == "onDeinitialized"
        assert lab.server.bindings("alice") == []  # unregistered
        assert binding.aor == "alice"


@pytest.mark.parametrize(
    ("verdict", "kind"),
    [
        ("invalid", ErrorType.AUTHENTICATION_INVALID_TOKEN),
        ("expired", ErrorType.AUTHENTICATION_EXPIRED_TOKEN),
    ],
)
async def test_refused_token_reports_why(tmp_path: Path, verdict: str, kind: ErrorType) -> None:
    async with platform(tmp_path) as lab:
        lab.tokens["bad-tok"] = ("alice", verdict)  # type: ignore[assignment]
        client, events = VoiceClient(), Events()
        client.setEventListener(events)
        ok = await client.initialize(
            lab.context("alice"), lab.hostname, "alice", "Alice", "AC1", "bad-tok"
        )
        assert ok is False and not client.isInitialized()
        assert events.names() == ["onAuthenticationFailure", "onInitializationFailure"]
        (error,) = events.seen[[n for n, _ in events.seen].index("onAuthenticationFailure")][1]
        assert isinstance(error, VoiceError) and error.getErrorType() is kind
        assert "bad-tok" not in str(error)
        assert lab.server.bindings("alice") == []


async def test_expired_token_is_refreshed_by_the_provider(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        lab.tokens["old"] = ("alice", "expired")
        lab.tokens["new"] = ("alice", "ok")
        asked: list[int] = []
        fresh = ["new", "newer"]

        async def provider() -> str:
            asked.append(len(asked) + 1)
            return fresh[len(asked) - 1]

        alice, events = await lab.client("alice", token="old", token_provider=provider)
        assert asked == [1] and events.names() == ["onInitializationSuccess"]
        assert lab.server.bindings("alice")
        # later the platform expires "new" too: the refresh REGISTER is refused, the client
        # asks again and registers by itself
        lab.tokens["new"] = ("alice", "expired")
        lab.tokens["newer"] = ("alice", "ok")

        assert alice.phone is not None
        assert alice.phone.account.refresh()  # the refresh timer, brought forward
        await wait_for(
            lambda: asked == [1, 2] and alice.phone is not None and alice.phone.registered
        )
        assert "onAuthenticationFailure" not in events.names()


async def test_bad_parameters_fail_initialization(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        client, events = VoiceClient(), Events()
        client.setEventListener(events)
        assert not await client.initialize(lab.context("x"), lab.hostname, "", "X", "AC", "t")
        ((error,),) = [args for name, args in events.seen if name == "onInitializationFailure"]
        assert error.type is ErrorType.INVALID_PARAMETER and "subscriberName" in error.message
        with pytest.raises(VoiceError) as no:
            await client.getCallController().dial("bob")
        assert no.value.type is ErrorType.NOT_INITIALIZED


async def test_dial_carries_the_message_and_both_sides_see_the_call(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        alice, a_events = await lab.client("alice")
        bob, b_events = await lab.client("bob")
        out = await alice.getCallController().dial("bob", "order 4711")
        (incoming,) = await b_events.wait("onIncomingCall")
        assert incoming.call.core.invite.headers.get("X-Dial-Message") == "order 4711"
        assert incoming.remote_id == "alice" and out.remote_id == "bob"
        await b_events.wait("onIncomingCall")
        await a_events.wait("onCallRinging")
        await incoming.answer()
        await a_events.wait("onCallEstablished")
        await b_events.wait("onCallEstablished")
        details = alice.getCallController().getLatestCallDetails()
        assert details is not None and details.getCallState() is CallState.ESTABLISHED
        assert details.getCallId() == out.call.call_id == incoming.call.call_id
        # the session id is the call's (one per call and side), not the client's
        assert details.getSessionId() == out.session_id != incoming.session_id
        assert details.getSessionId() not in (alice.session_id, bob.session_id)
        await out.hangup()
        await b_events.wait("onCallEnded")
        await a_events.wait("onCallEnded")
        ended = alice.getCallController().getLatestCallDetails()
        assert ended is not None and ended.getCallState() is CallState.ENDED
        assert ended.getCallEndReason() is not None and ended.getCallDuration() > 0
        order = [n for n in a_events.names() if n.startswith("onCall")]
        assert order == ["onCallInitiated", "onCallRinging", "onCallEstablished", "onCallEnded"]


async def test_missed_call_when_the_caller_gives_up(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        alice, _ = await lab.client("alice")
        _, b_events = await lab.client("bob")
        out = await alice.getCallController().dial("bob")
        await b_events.wait("onIncomingCall")
        await out.hangup()
        remote, when = await b_events.wait("onMissedCall")
        assert remote == "alice" and abs(when - datetime.now().timestamp()) < 30


async def test_push_wakes_the_app_for_a_call(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        push = PushParams(provider="fcm", prid="bob-device-1", param="proj")
        bob, b_events = await lab.client("bob", push=push)
        (binding,) = lab.server.bindings("bob")
        assert binding.contact.params.get("pn-prid") == "bob-device-1"
        await bob.suspend()
        await wait_for(lambda: not lab.server.bindings("bob"))
        alice, a_events = await lab.client("alice")
        out = await alice.getCallController().dial("bob")
        await wait_for(lambda: bool(lab.pushes))
        (notice,) = lab.pushes
        payload = notice.payload()
        assert payload["pn-prid"] == "bob-device-1" and payload["call_id"] == out.call.call_id
        assert "onIncomingCall" not in b_events.names()
        with pytest.raises(VoiceError):
            await bob.relaySessionData({"pn-prid": "someone-else"})
        assert await bob.relaySessionData(payload)
        (incoming,) = await b_events.wait("onIncomingCall")
        assert incoming.call.call_id == out.call.call_id
        await incoming.answer()
        await a_events.wait("onCallEstablished")
        await incoming.hangup()
        await a_events.wait("onCallEnded")


async def test_log_is_redacted_and_uploaded(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        start = datetime.now() - timedelta(seconds=1)
        alice, events = await lab.client("alice")
        logging.getLogger("client.voice").info("password=hunter2 and Bearer abc.def")
        await alice.getCallController().dial("nobody")
        await asyncio.sleep(0.3)
        log = (tmp_path / "alice" / "voice.log").read_text()
        assert "REGISTER sip:" in log and "Authorization: ***" in log
        assert "alice-tok-1" not in log and "hunter2" not in log and "abc.def" not in log
        assert any(n == "onLog" for n, _ in events.seen)
        assert all("alice-tok-1" not in str(args) for _, args in events.seen)
        await alice.uploadLogs(start, datetime.now() + timedelta(seconds=1), "no audio on call")
        await events.wait("onUploadLogSuccess")
        (posted,) = [p for p in lab.https.posted if p.path == "/logs"]
        assert posted.headers["Content-Encoding"] == "gzip"
        document = posted.json()
        assert document["subscriber"] == "alice" and document["account_sid"] == "AC-test"
        assert document["description"] == "no audio on call"
        text = "\n".join(document["lines"])
        assert "REGISTER sip:" in text and "alice-tok-1" not in text and "hunter2" not in text
        # a window before anything was logged: no lines; a refused upload: the failure
        early = datetime(2000, 1, 1)
        lab.https.status = 500
        await alice.uploadLogs(early, early + timedelta(seconds=1), "x")
        (error,) = await events.wait("onUploadLogFailure")
        assert error.type is ErrorType.UPLOAD_FAILED
        assert lab.https.posted[-1].json()["lines"] == []


async def test_module_functions_act_on_the_default_instance() -> None:
    assert voice.getInstance().isInitialized() is voice.isInitialized()
    assert voice.getCallController() is voice.getInstance().getCallController()


async def test_digest_mode_refreshes_a_stale_password_once(tmp_path: Path) -> None:
    async with platform(tmp_path, users={"alice": "pw-1"}) as lab:
        handed = iter(["pw-2", "bad-3", "bad-4", "bad-5"])
        asked: list[str] = []

        def provider() -> str:
            asked.append(next(handed))
            return asked[-1]

        alice, events = await lab.client(
            "alice", token="pw-1", auth_mode="digest", token_provider=provider
        )
        assert alice.phone is not None and asked == []
        # the platform rotates the secret: the next REGISTER is refused, the provider is asked
        # once and the client registers with the new password by itself
        lab.set_password("alice", "pw-2")
        assert alice.phone.account.refresh()
        await wait_for(lambda: asked == ["pw-2"] and alice.phone is not None)
        await wait_for(lambda: alice.phone is not None and alice.phone.registered)
        assert alice.phone.config.password == "pw-2"
        assert "onAuthenticationFailure" not in events.names()
        # rotated again, and the provider only has bad passwords: one more question, one
        # failure report, and no loop
        lab.set_password("alice", "pw-9")
        assert alice.phone.account.refresh()
        (error,) = await events.wait("onAuthenticationFailure")
        assert error.type is ErrorType.AUTHENTICATION_INVALID_TOKEN
        assert "bad-3" not in str(error) and "pw-9" not in str(error)
        for _ in range(20):  # let any further attempt show itself
            await asyncio.sleep(0.02)
        assert asked == ["pw-2", "bad-3"] and not alice.phone.registered
        assert events.names().count("onAuthenticationFailure") == 1


async def test_digest_mode_initialize_asks_the_provider_for_a_refused_password(
    tmp_path: Path,
) -> None:
    async with platform(tmp_path, users={"alice": "pw-new"}) as lab:
        asked: list[int] = []

        def provider() -> str:
            asked.append(1)
            return "pw-new"

        alice, events = await lab.client(
            "alice", token="pw-old", auth_mode="digest", token_provider=provider
        )
        assert asked == [1] and events.names() == ["onInitializationSuccess"]
        assert alice.phone is not None and alice.phone.config.password == "pw-new"
        assert lab.server.bindings("alice")


async def test_account_sid_travels_in_register_and_invite(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        alice, _ = await lab.client("alice")
        _bob, b_events = await lab.client("bob", account_header=None)
        assert alice.phone is not None and _bob.phone is not None
        sent = [e.request for e in alice.phone.account.history if isinstance(e, RegistrationSent)]
        assert sent and all(r.headers.get("X-Account-Sid") == "AC-test" for r in sent)
        quiet = [e.request for e in _bob.phone.account.history if isinstance(e, RegistrationSent)]
        assert quiet and all(r.headers.get("X-Account-Sid") is None for r in quiet)
        out = await alice.getCallController().dial("bob")
        (incoming,) = await b_events.wait("onIncomingCall")
        assert incoming.call.core.invite.headers.get("X-Account-Sid") == "AC-test"
        assert incoming.call.core.invite.headers.get("X-Dial-Message") is None
        await out.hangup()
        await b_events.wait("onCallEnded")
