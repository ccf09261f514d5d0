"""Call-level audio: WAV playback and recording, the frames iterator, PCM pushed by a bot."""

from __future__ import annotations

import array
import asyncio
import math
import wave
from pathlib import Path

import pytest

from client.call import EndReason
from client.errors import CallFailed
from client.states import CallState
from media.session import MediaSession

from .helpers import TONES, Ear, connect, lab, tone_db


def write_tone(path: Path, frequency: float, seconds: float, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        samples = array.array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * frequency * i / rate))
                for i in range(int(rate * seconds))
            ),
        )
        wav.writeframes(samples.tobytes())


async def test_wav_played_on_one_side_is_recorded_on_the_other(tmp_path: Path) -> None:
    prompt, recording = tmp_path / "prompt.wav", tmp_path / "heard.wav"
    write_tone(prompt, 700.0, 1.0)
    async with lab(tmp_path) as net:
        alice, bob = await net.phone("alice"), await net.phone("bob")
        out, inc = await connect(alice, bob)
        recorder = inc.record(recording, sample_rate=16000)
        track = out.play(prompt)
        await asyncio.wait_for(track.done(), 5)
        await asyncio.sleep(0.3)
        recorder.close()
        await out.hangup()
        assert await inc.wait_ended(10) is EndReason.REMOTE_HANGUP
    with wave.open(str(recording)) as wav:
        assert wav.getframerate() == 16000 and wav.getnchannels() == 1
        samples = array.array("h", wav.readframes(wav.getnframes()))
    assert len(samples) > 16000  # at least the prompt's length
    loud = [i for i in range(0, len(samples) - 320, 320) if max(samples[i : i + 320]) > 3000]
    assert loud, "the prompt was heard"
    heard = samples[loud[0] : loud[-1]]
    assert 0.8 < len(heard) / 16000 < 1.2  # about one second of prompt
    assert tone_db(heard, 16000, 700.0) > 20


async def test_frames_iterator_and_pcm_pushed_by_a_bot(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        alice, bob = await net.phone("alice"), await net.phone("bob")
        out, inc = await connect(alice, bob)
        source = out.pcm_source()
        rate = 8000
        pcm = array.array(
            "h", (int(8000 * math.sin(2 * math.pi * 500 * i / rate)) for i in range(rate))
        ).tobytes()
        await source.write(pcm, sample_rate=rate)
        received: array.array[int] = array.array("h")
        frames = inc.frames()
        async for frame in frames:
            mono = array.array("h", bytes(frame.planes[0]))[:: len(frame.layout.channels)]
            if max(mono, default=0) > 3000:
                received.extend(mono)
            if len(received) >= 48000 * 0.6:
                break
        assert tone_db(received, 48000, 500.0) > 20
        await out.hangup()
        # the iterator ends with the call
        rest = [f async for f in frames]
        assert inc.ended and len(rest) < 250


async def test_plain_rtp_offer_is_refused_with_488(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SRTP is mandatory: an INVITE offering RTP/AVP audio is answered 488 by our UAS, and the
    # caller's call fails with that status
    original = MediaSession.create_offer

    async def plain_rtp(self: MediaSession) -> bytes:
        return (await original(self)).replace(b"UDP/TLS/RTP/SAVPF", b"RTP/AVP")

    monkeypatch.setattr(MediaSession, "create_offer", plain_rtp)
    async with lab(tmp_path) as lb:
        alice, bob = await lb.phone("alice"), await lb.phone("bob")
        incoming = bob.incoming()
        outgoing = await alice.dial("bob")
        inbound = await asyncio.wait_for(anext(incoming), 10)
        await inbound.answer()
        with pytest.raises(CallFailed) as failed:
            await outgoing.wait_established(10)
        assert failed.value.status == 488
        assert inbound.ended
        # the callee refused the offer, not the call: its call ended for media reasons
        assert inbound.end_reason is EndReason.MEDIA_FAILED
        assert inbound.end_status == 488


async def test_callee_hold_refused_leaves_the_call_as_it_was(tmp_path: Path) -> None:
    """The callee's last remote description is the caller's INVITE offer (a=setup:actpass);
    when its hold re-INVITE is refused (488), that offer is applied again as the answer. aiortc
    refuses actpass in an answer, which used to raise ValueError out of hold()."""
    async with lab(tmp_path) as net:
        alice = await net.phone("alice", media_timeout=0)
        bob = await net.phone("bob", media_timeout=0)
        out, inc = await connect(alice, bob)

        async def refuse(request: object) -> None:
            out._sip(lambda ua, c, now: ua.answer_reinvite(c, now, status=488))

        out._answer_reinvite = refuse  # type: ignore[method-assign]
        with pytest.raises(CallFailed) as refused:
            await inc.hold()
        assert refused.value.status == 488
        assert inc.state is CallState.ESTABLISHED and not inc.held
        assert inc.media.direction == "sendrecv"
        ear = Ear(out)
        assert await ear.frames_in(1.0) > 30
        assert ear.tone(TONES["bob"]) > 20
        del out._answer_reinvite  # alice answers again: the next hold goes through
        await inc.hold()
        assert inc.held
        await out.hangup()
