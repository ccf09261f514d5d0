"""VoiceCall: controls, statistics, details, speaker routing and feedback."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from av import AudioFrame

from client.states import CallState
from client.voice import CallIssue, ErrorType, VoiceError
from client.voice.call import AudioRoute
from media.session import ToneTrack
from media.tracks import FrameSink
from tests.client.voice.helpers import platform, wait_for


class Counting(FrameSink):
    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def write_frame(self, frame: AudioFrame) -> None:
        self.frames += 1


async def test_call_controls_statistics_routing_and_feedback(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        speaker, earpiece = Counting(), Counting()
        alice, a_events = await lab.client("alice")
        _bob, b_events = await lab.client("bob", speaker_sink=speaker, earpiece_sink=earpiece)
        out = await alice.getCallController().dial("bob")
        out.call.set_source(ToneTrack(440.0))
        (incoming,) = await b_events.wait("onIncomingCall")
        await incoming.answer()
        await a_events.wait("onCallEstablished")
        # received audio goes to the earpiece by default, and to the speaker once enabled
        await wait_for(lambda: earpiece.frames > 10)
        assert incoming.route is AudioRoute.EARPIECE and speaker.frames == 0
        incoming.enableSpeaker()
        before = earpiece.frames
        await wait_for(lambda: speaker.frames > 10)
        assert earpiece.frames - before <= 1  # at most a frame in flight when switching
        incoming.disableSpeaker()
        heard = speaker.frames
        await wait_for(lambda: earpiece.frames > before + 10)
        assert speaker.frames - heard <= 1

        out.mute()
        assert out.call.muted
        out.unmute()
        assert not out.call.muted
        assert await out.sendDtmf("5") in ("rfc4733", "info")
        stats = await incoming.getStatistics()
        assert stats.getCodec() is not None and stats.packets_received > 0
        assert stats.getFractionLost() >= 0 and stats.getJitter() >= 0
        assert stats.getMOS() is None or 1.0 <= stats.getMOS() <= 4.5
        details = incoming.getCallDetails()
        assert details.getRemoteId() == "alice" and details.direction == "incoming"

        await out.hangup()
        await b_events.wait("onCallEnded")
        with pytest.raises(VoiceError) as bad:
            out.postFeedback(6, CallIssue.ECHO)
        assert bad.value.type is ErrorType.INVALID_PARAMETER
        with pytest.raises(VoiceError):
            out.postFeedback(3, "LOUD_CAT")
        with pytest.raises(VoiceError):
            out.postFeedback(True, CallIssue.ECHO)  # type: ignore[arg-type]
        assert lab.https.posted == []
        assert await out.postFeedback(2, "CHOPPY_AUDIO") == 200
        (posted,) = lab.https.posted
        body = posted.json()
        assert posted.path == "/feedback" and posted.headers["Content-Type"] == "application/json"
        assert body["rating"] == 2 and body["issue"] == "CHOPPY_AUDIO"
        assert body["call_id"] == out.call.call_id and body["session_id"] == out.session_id
        assert body["account_sid"] == "AC-test" and body["remote_id"] == "bob"
        lab.https.status = 503
        with pytest.raises(VoiceError) as failed:
            await out.postFeedback(5, CallIssue.NO_ISSUE)
        assert failed.value.type is ErrorType.FEEDBACK_FAILED


async def test_feedback_is_refused_by_an_untrusted_https_server(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        alice, _ = await lab.client("alice")
        _bob, b_events = await lab.client("bob")
        out = await alice.getCallController().dial("bob")
        await b_events.wait("onIncomingCall")
        await out.hangup()
        # the same endpoint, but without the test CA: TLS verification fails
        assert alice.context is not None
        alice.context = dataclasses.replace(alice.context, ca_file=None)
        with pytest.raises(VoiceError) as failed:
            await out.postFeedback(4, CallIssue.ECHO)
        assert failed.value.type is ErrorType.FEEDBACK_FAILED
        assert lab.https.posted == []
        await asyncio.sleep(0)


async def test_media_disrupted_and_renewed_through_the_facade(tmp_path: Path) -> None:
    async with platform(tmp_path) as lab:
        alice, a_events = await lab.client("alice", media_timeout=1.0)
        _bob, b_events = await lab.client("bob", media_timeout=0)
        out = await alice.getCallController().dial("bob")
        (incoming,) = await b_events.wait("onIncomingCall")
        await incoming.answer()
        await a_events.wait("onCallEstablished")
        await asyncio.sleep(0.3)
        assert incoming.call.media is not None
        await incoming.call.media.pc.close()  # bob's media dies without any signalling
        (disrupted,) = await a_events.wait("onMediaDisrupted")
        assert disrupted is out
        (renewing,) = await a_events.wait("onRenewingMedia", timeout=15)
        assert renewing is out

        def established_again() -> bool:
            names = [n for n in a_events.names() if n.startswith(("onCall", "onMedia", "onRen"))]
            return names[-3:] == ["onMediaDisrupted", "onRenewingMedia", "onCallEstablished"]

        await wait_for(established_again, timeout=15)
        details = alice.getCallController().getLatestCallDetails()
        assert details is not None and details.getCallState() is CallState.ESTABLISHED
        assert details.getCallId() == out.call.call_id
        assert details.getSessionId() == out.session_id
        await out.hangup()
        await b_events.wait("onCallEnded")
        ended = alice.getCallController().getLatestCallDetails()
        assert ended is not None and ended.getCallState() is CallState.ENDED
