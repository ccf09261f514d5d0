"""The web-client facade against the embedded WSS registrar/proxy, with real media."""

from __future__ import annotations

import array
import asyncio
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from client.events import DtmfReceived, RemoteHoldChanged
from client.web import WebClient
from client.web.call import WebCall
from tests.client.helpers import Ear, Recorder, lab, tone, tone_db
from tests.client.test_call import write_tone

from .helpers import Callbacks, ClientProcess, account_info, wait_status


async def test_register_receive_answer_and_hang_up(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        bob = await net.phone("bob")
        seen = Callbacks()
        client = seen.init(WebClient(), account_info(net, "alice", audioInputs={"t": "tone:440"}))
        assert client.checkClientStatus() == "initial"
        await client.DoRegister()
        # REGISTER, 401 challenge, REGISTER with credentials, 200
        assert seen.register == [("sent_request", "alice")] * 2 + [("registered", "alice")]
        assert client.checkClientStatus() == "registered"
        assert client.getCall() is None

        out = await bob.dial("alice", source=tone("bob"))
        await seen.wait(lambda: "incoming" in seen.call_events())
        call = client.getCall()
        assert isinstance(call, WebCall) and seen.call[0][0] is call
        assert seen.call[0][2] == "alice"
        assert call.callDirection == "incoming" and call.callState == "incoming"
        assert call.remoteDisplayName == "Bob" and call.callId == out.call_id
        assert call.callStartTime is None
        await call.Answer()
        await seen.wait(lambda: "connected" in seen.call_events())
        await out.wait_established(10)
        assert call.callStartTime is not None and call.callState == "established"
        ear = Ear(out)
        await asyncio.sleep(1.0)
        assert ear.tone(440.0) > 20  # bob hears the configured input device

        await call.Hangup()
        await seen.wait(lambda: "callEnded" in seen.call_events())
        assert seen.call_events() == ["incoming", "connected", "callEnded"]
        assert await out.wait_ended(10) is not None
        assert client.getCall() is None

        await client.UnRegister()
        assert seen.register[-1] == ("unregistered", "alice")
        assert client.checkClientStatus() == "unregistered"
        await client.close()
        assert seen.register[-1] == ("terminated", "alice")
        assert client.checkClientStatus() == "unknown"


async def test_outgoing_call_ended_by_the_peer_is_terminated(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        bob = await net.phone("bob")
        seen = Callbacks()
        client = seen.init(WebClient(), account_info(net, "alice"))
        await client.DoRegister()
        incoming = bob.incoming()
        call = await client.dial("bob")
        assert call.callDirection == "outgoing" and client.getCall() is call
        inbound = await asyncio.wait_for(anext(incoming), 10)
        await inbound.answer()
        await seen.wait(lambda: "connected" in seen.call_events())
        await inbound.hangup()
        await seen.wait(lambda: "terminated" in seen.call_events())
        assert seen.call_events() == ["connected", "terminated"]
        await client.close()


async def test_media_lost_and_renewed_is_an_active_session(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        bob = await net.phone("bob", media_timeout=0)
        seen = Callbacks()
        info = account_info(net, "alice", mediaTimeout=1.0, audioInputs={"t": "tone:440"})
        client = seen.init(WebClient(), info)
        await client.DoRegister()
        incoming = bob.incoming()
        call = await client.dial("bob")
        inbound = await asyncio.wait_for(anext(incoming), 10)
        await inbound.answer()
        await seen.wait(lambda: "connected" in seen.call_events())
        await asyncio.sleep(0.5)
        await inbound.media.pc.close()  # bob's media dies without any signalling
        await seen.wait(lambda: "activeSession" in seen.call_events(), timeout=20)
        assert seen.call_events() == ["connected", "activeSession"]
        assert seen.call[-1][0] is call and seen.call[-1][2] == "alice"
        assert call.callState == "established" and client.getCall() is call
        # the renewed session carries our audio again
        ear = Ear(inbound)
        await wait_for(lambda: len(ear.frames) > 30)
        assert ear.tone(440.0) > 20
        call.Hangup()
        await seen.wait(lambda: "callEnded" in seen.call_events())
        await client.close()


async def test_client_status_follows_the_real_states(tmp_path: Path) -> None:
    client = WebClient()
    assert client.checkClientStatus() == "not_initialized"
    async with lab(tmp_path) as net:
        info = account_info(net, "alice")
        bad = WebClient()
        bad.initWebrtc({**info, "audioInputs": {"gone": f"wav:{tmp_path / 'none.wav'}"}})
        got: list[str] = []
        assert bad.checkClientStatus(got.append) == "media_permission_denied"
        await asyncio.sleep(0)
        assert got == ["media_permission_denied"]

        wrong = WebClient()
        seen_wrong = Callbacks()
        seen_wrong.init(wrong, {**info, "secret": "wrong"})
        await wrong.DoRegister()
        assert seen_wrong.register[-1] == ("terminated", "alice")
        assert wrong.checkClientStatus() == "terminated"
        await wrong.close()

        seen = Callbacks()
        seen.init(client, info)
        await client.DoRegister()
        assert client.checkClientStatus() == "registered"
        # the server goes away mid-session: disconnected, then reconnection attempts
        await net.server.close()
        statuses = await wait_status(client, "websocket_connection_failed", timeout=15)
        assert statuses[0] == "disconnected" and "connecting" in statuses
        assert seen.session[0][0] == "websocket_disconnected"
        assert seen.session[0][1] == "alice" and set(seen.session[0][2]) == {"message", "code"}
        await client.close()
        assert client.checkClientStatus() == "unknown"


async def test_nothing_listening_without_auto_reconnect(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        info = account_info(net, "alice", autoReconnect=False)
    seen = Callbacks()
    client = seen.init(WebClient(), info)
    await client.DoRegister()
    assert client.checkClientStatus() == "websocket_connection_failed"
    assert seen.register[-1] == ("terminated", "alice")
    await client.close()


async def test_call_operations_and_device_switching(tmp_path: Path) -> None:
    wav_in = tmp_path / "in.wav"
    write_tone(wav_in, 700.0, 2.0)
    rec_a, rec_b = tmp_path / "a.wav", tmp_path / "b.wav"
    async with lab(tmp_path) as net:
        bob = await net.phone("bob")
        b_events = Recorder(bob)
        seen = Callbacks()
        info = account_info(
            net,
            "alice",
            audioInputs={"tone": "tone:440", "file": f"wav:{wav_in}"},
            audioOutputs={"a": f"wav:{rec_a}", "b": f"wav:{rec_b}"},
        )
        client = seen.init(WebClient(), info)
        await client.DoRegister()
        incoming = bob.incoming()
        call = await client.dial("bob")
        inbound = await asyncio.wait_for(anext(incoming), 10)
        inbound.set_source(tone("bob"))
        await inbound.answer()
        await seen.wait(lambda: "connected" in seen.call_events())
        ear = Ear(inbound)
        await asyncio.sleep(1.0)
        assert ear.tone(440.0) > 20

        # input device switch: the far end hears the WAV file's tone instead
        done: list[str] = []
        first = call.source
        assert first is not None and first is call.call.source
        client.changeAudioInputDevice("file", lambda: done.append("in"), done.append)
        assert first.readyState == "ended" and call.source is call.call.source
        await asyncio.sleep(0.8)
        assert ear.tone(700.0) > 20 and ear.tone(440.0) < 10
        client.changeAudioInputDevice("nope", lambda: done.append("x"), done.append)
        # output device switch: received audio goes to the second file from now on
        client.changeAudioOutputDevice("b", lambda: done.append("out"), done.append)
        await asyncio.sleep(0.8)
        assert done[0] == "in" and "unknown audio input device 'nope'" in done[1]
        assert done[2] == "out" and client.audioOutputDevice == "b"

        assert ear.rms() > 1000
        call.Mute()
        assert call.muted
        # the far end hears silence once what was sent before the mute has played out
        await wait_for(lambda: ear.rms() < 50)
        silent_from = len(ear.frames)
        client.changeAudioInputDevice("tone")  # a new input while muted stays muted
        await wait_for(lambda: len(ear.frames) >= silent_from + 40)
        assert ear.rms(last=len(ear.frames) - silent_from) < 50
        call.MuteToggle()
        assert not call.muted
        await wait_for(lambda: ear.tone(440.0) > 20)
        call.UnMute()
        assert not call.muted

        await call.Hold()
        await call.Hold()  # idempotent
        assert call.held
        await b_events.wait(RemoteHoldChanged, lambda e: e.held)
        await call.UnHold()
        await call.HoldToggle()
        await call.HoldToggle()
        assert not call.held
        assert [e.held for e in b_events.of(RemoteHoldChanged)] == [True, False, True, False]

        assert await call.sendDTMF("5") == "rfc4733"
        await call.sendDTMF("#")
        await b_events.wait(DtmfReceived, lambda e: e.digit == "#")
        assert [e.digit for e in b_events.of(DtmfReceived)] == ["5", "#"]
        for wrong in ("x", "", "1e"):
            with pytest.raises(ValueError, match="DTMF"):
                call.sendDTMF(wrong)

        # the default devices change: the callbacks say so and the client follows
        changes: list[tuple[str, str]] = []
        client.registerAudioDeviceChangeCallback(
            lambda d: changes.append(("in", d)), lambda d: changes.append(("out", d))
        )
        client.setAudioDevices(inputs={"new": "tone:1500", "tone": "tone:440"})
        await asyncio.sleep(0.8)
        assert changes == [("in", "new")] and client.audioInputDevice == "new"
        assert ear.tone(1500.0) > 20
        told: list[tuple[str, str]] = []
        client.registerAudioDeviceChangeCallback(
            lambda d: changes.append(("in", d)),
            lambda d: changes.append(("out", d)),
            lambda kind, d: told.append((kind, d)),
        )
        client.setAudioDevices(outputs={"a": f"wav:{rec_a}"})
        await asyncio.sleep(0)
        assert changes[-1] == ("out", "a") and told == [("output", "a")]
        assert client.audioOutputDevice == "b"  # left to the application

        call.Hangup()
        await seen.wait(lambda: "callEnded" in seen.call_events())
        assert call.source is not None and call.source.readyState == "ended"  # released
        await client.close()
    for path in (rec_a, rec_b):
        with wave.open(str(path)) as wav:
            heard = array.array("h", wav.readframes(wav.getnframes()))
        assert len(heard) > 8000 and tone_db(heard, wav.getframerate(), 1000.0) > 20


async def test_unregister_without_a_registration_reports_nothing(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        seen = Callbacks()
        client = seen.init(WebClient(), account_info(net, "alice"))
        await client.UnRegister()
        assert seen.register == [] and client.checkClientStatus() == "initial"
        await client.DoRegister()
        await client.UnRegister()
        states = [state for state, _ in seen.register if state != "sent_request"]
        assert states == ["registered", "unregistered"]
        await client.UnRegister()  # already gone: said once
        assert [state for state, _ in seen.register].count("unregistered") == 1
        await client.close()


async def test_module_functions_act_on_the_default_client(tmp_path: Path) -> None:
    from client import web

    async with lab(tmp_path) as net:
        seen = Callbacks()
        assert web.checkClientStatus() == "not_initialized"
        web.initWebrtc(account_info(net, "carol"), seen.on_register, seen.on_call)
        await web.DoRegister()
        assert web.checkClientStatus() == "registered"
        assert web.default_client().userName == "carol" and web.getCall() is None
        await web.UnRegister()
        assert seen.register[-1] == ("unregistered", "carol")
        await web.default_client().close()


async def test_session_listener_takeover_registers_the_child(tmp_path: Path) -> None:
    """Two clients of one user: the second is a child; when the parent closes, the child is
    told re-register and registers by itself."""
    async with lab(tmp_path) as net:
        parent_cb, child_cb = Callbacks(), Callbacks()
        parent = parent_cb.init(WebClient(), account_info(net, "alice"))
        child = child_cb.init(WebClient(), account_info(net, "alice"))
        assert await parent.SessionListener(directory=str(tmp_path)) == "parent"
        assert await child.SessionListener(directory=str(tmp_path)) == "child"
        await parent.DoRegister()
        await parent.close()
        await child_cb.wait(lambda: ("registered", "alice") in child_cb.register)
        assert child_cb.session == [("re-register", "alice", None)]
        await child.close()


async def test_parent_call_events_reach_a_child_process_which_then_takes_over(
    tmp_path: Path,
) -> None:
    """A registered parent gets a real call; a child WebClient in another process is told
    incoming, connected and callEnded; when the parent exits the child registers and gets
    the next call itself."""
    async with lab(tmp_path) as net:
        bob = await net.phone("bob")
        seen = Callbacks()
        parent = seen.init(WebClient(), account_info(net, "alice"))
        assert await parent.SessionListener(directory=str(tmp_path)) == "parent"
        await parent.DoRegister()
        child = await ClientProcess.start(tmp_path, account_info(net, "alice"))
        try:
            assert (await child.until(event="role"))["role"] == "child"
            assert parent.session is not None
            await wait_for(lambda: parent.session is not None and parent.session.children == 1)

            out = await bob.dial("alice", source=tone("bob"))
            await seen.wait(lambda: "incoming" in seen.call_events())
            await child.until(event="session", state="incoming")
            call = parent.getCall()
            assert call is not None
            await call.Answer()
            await child.until(event="session", state="connected")
            await out.wait_established(10)
            await out.hangup()
            await child.until(event="session", state="callEnded")
            assert seen.call_events() == ["incoming", "connected", "terminated"]
            detail = {"remoteDisplayName": "Bob"}
            assert [
                (line["state"], line["phone"], line["detail"]) for line in child.seen("session")
            ] == [
                ("incoming", "alice", detail),
                ("connected", "alice", detail),
                ("callEnded", "alice", detail),
            ]
            assert child.seen("call") == [] and child.seen("register") == []

            await parent.close()
            await child.until(event="session", state="re-register")
            await child.until(event="register", state="registered")
            again = await bob.dial("alice", source=tone("bob"))
            line = await child.until(event="call", type="incoming")
            assert (line["phone"], line["remote"], line["direction"]) == (
                "alice",
                "Bob",
                "incoming",
            )
            await child.command("answer")
            await child.until(event="call", type="connected")
            await again.wait_established(10)
            await child.command("hangup")
            await child.until(event="call", type="callEnded")
            assert await again.wait_ended(10) is not None
            assert "incoming" not in seen.call_events()[3:]  # the closed parent heard nothing
            await child.command("close")
            await child.until(event="closed")
        finally:
            await child.stop()


async def wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_diagnostics_through_the_client(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        client = Callbacks().init(WebClient(), account_info(net, "alice"))
        reports: list[str] = []
        pairs: dict[str, str] = {}
        assert client.initDiagnostics(reports.append, pairs.__setitem__)
        assert pairs["python"] and pairs["aiortc"]
        results = await client.startNetworkDiagnostics()
        assert results["wss"].startswith("pass") and results["userReg"].startswith("pass")
        assert pairs["userReg"] == results["userReg"]
        assert "network diagnostics done: all passed" in reports[-1]
