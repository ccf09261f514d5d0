"""The CLI softphone run as a real subprocess (``python -m client phone --json``) against our
own phones: listening without a server, registered to the embedded WSS server, each exit code."""

from __future__ import annotations

import array
import asyncio
import math
import signal
import socket
import subprocess
import sys
import wave
from pathlib import Path

from client.call import CallState, EndReason
from client.cli import ExitCode
from client.config import PhoneConfig
from client.events import DtmfReceived, RemoteHoldChanged
from client.phone import Phone
from media.session import MediaSession
from media.tracks import ToneTrack
from sipcore.stack import IncomingRequest, SipStack

from .helpers import LOOPBACK, ROOT, CliProcess, Ear, Recorder, lab, tone, tone_db


def direct(name: str, *listen: str) -> Phone:
    return Phone(PhoneConfig(aor=f"sip:{name}@127.0.0.1", listen=listen, media=LOOPBACK))


def wav_tone_db(path: Path, frequency: float) -> float:
    """Power at ``frequency`` over the last second of a WAV file, in dB above a noise bin."""
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = array.array("h", wav.readframes(wav.getnframes()))[::channels]
    assert len(samples) > rate // 2, f"{path} holds {len(samples)} samples"
    return tone_db(samples[-rate:], rate, frequency)


def write_tone_wav(path: Path, frequency: float, seconds: float = 3.0) -> None:
    rate = 48000
    pcm = array.array(
        "h",
        (
            int(9000 * math.sin(2 * math.pi * frequency * i / rate))
            for i in range(int(rate * seconds))
        ),
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())


async def test_listening_cli_answers_calls_over_udp_and_tcp_and_records_them(
    tmp_path: Path,
) -> None:
    cli = await CliProcess.start(
        "--aor", "sip:bob@127.0.0.1",
        "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0",
        "--auto-answer", "--max-calls", "2", "--duration", "2", "--tone", "1000",
        "--record", str(tmp_path / "call-{n}.wav"), "--expect-audio", "--stats-interval", "0.5",
    )  # fmt: skip
    try:
        udp, tcp = await cli.port("udp"), await cli.port("tcp")
        async with direct("alice", "udp:127.0.0.1:0") as alice:
            for transport, port in (("udp", udp), ("tcp", tcp)):
                call = await alice.dial(
                    f"sip:bob@127.0.0.1:{port};transport={transport}", source=tone("alice")
                )
                ear = Ear(call)
                await call.wait_established(15)
                await asyncio.sleep(1.2)
                assert ear.tone(1000.0) > 20, "alice hears the CLI's tone"
                # the CLI hangs up after --duration
                assert await call.wait_ended(10) is EndReason.REMOTE_HANGUP
        assert await cli.exit_code() == ExitCode.OK
    finally:
        await cli.close()
    states = [(e["call"], e["state"]) for e in cli.of("state")]
    for n in (1, 2):
        assert [s for c, s in states if c == n] == [
            "incoming",
            "answering",
            "established",
            "ending",
            "ended",
        ]
    ends = cli.of("call_end")
    assert [(e["call"], e["reason"], e["result"]) for e in ends] == [
        (1, "local_hangup", "ok"),
        (2, "local_hangup", "ok"),
    ]
    assert all(e["frames_received"] > 50 for e in ends)
    stats = cli.of("stats")
    assert {s["call"] for s in stats} == {1, 2}
    assert all(s["packets_sent"] > 0 for s in stats)
    for n in (1, 2):
        assert wav_tone_db(tmp_path / f"call-{n}.wav", 440.0) > 20, "the CLI records alice"
    assert cli.of("exit") == [
        {"t": cli.of("exit")[0]["t"], "event": "exit", "code": 0, "meaning": "ok"}
    ]


async def test_cli_plays_a_wav_file_to_a_listening_phone(tmp_path: Path) -> None:
    write_tone_wav(tmp_path / "tone.wav", 700.0)
    async with direct("bob", "udp:127.0.0.1:0") as bob:
        port = bob.listeners[0].local[1]
        incoming = bob.incoming()
        cli = await CliProcess.start(
            "--aor", "sip:alice@127.0.0.1", "--listen", "udp:127.0.0.1:0",
            "--dial", f"sip:bob@127.0.0.1:{port}", "--play", str(tmp_path / "tone.wav"),
            "--duration", "2.5", "--expect-audio",
        )  # fmt: skip
        try:
            call = await asyncio.wait_for(anext(incoming), 20)
            call.record(tmp_path / "heard.wav")
            await call.answer()
            assert await call.wait_ended(15) is EndReason.REMOTE_HANGUP
            assert await cli.exit_code() == ExitCode.OK
        finally:
            await cli.close()
    assert wav_tone_db(tmp_path / "heard.wav", 700.0) > 20, "bob records the WAV's tone"


async def test_registered_cli_dials_with_dtmf_and_hold(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        bob = await net.phone("bob")
        events = Recorder(bob)
        incoming = bob.incoming()
        cli = await CliProcess.start(
            "--server", net.server.uri("wss"), "--ca-file", str(net.ca),
            "--aor", f"sip:alice@{net.server.domain}", "--password-env", "CLI_TEST_PW",
            "--dial", "bob", "--duration", "4", "--dtmf", "12#", "--dtmf-delay", "0.5",
            "--hold-after", "1.5", "--hold-for", "1", "--stats-interval", "1",
            env={"CLI_TEST_PW": "alice-pw"},
        )  # fmt: skip
        try:
            call = await asyncio.wait_for(anext(incoming), 20)
            call.set_source(tone("bob"))
            await call.answer()
            await events.wait(DtmfReceived, lambda e: e.digit == "#")
            await events.wait(RemoteHoldChanged, lambda e: not e.held)
            assert await call.wait_ended(15) is EndReason.REMOTE_HANGUP
            assert await cli.exit_code() == ExitCode.OK
        finally:
            await cli.close()
    assert [e.digit for e in events.of(DtmfReceived)] == ["1", "2", "#"]
    assert [e.held for e in events.of(RemoteHoldChanged)] == [True, False]
    registered = next(e["t"] for e in cli.of("registration") if e["state"] == "registered")
    unregistered = next(e["t"] for e in cli.of("registration") if e["state"] == "unregistered")
    assert registered < cli.of("state")[0]["t"] <= cli.of("call_end")[0]["t"] <= unregistered
    assert cli.of("dtmf_sent")[0]["digits"] == "12#"
    assert [e["held"] for e in cli.of("hold")] == [True, False]
    (end,) = cli.of("call_end")
    assert end["result"] == "ok" and end["reason"] == "local_hangup"
    assert "alice-pw" not in str(cli.lines)


async def test_exit_code_for_a_rejected_call_carries_the_status() -> None:
    async with direct("bob", "udp:127.0.0.1:0") as bob:
        port = bob.listeners[0].local[1]
        incoming = bob.incoming()
        cli = await CliProcess.start(
            "--aor", "sip:alice@127.0.0.1", "--listen", "udp:127.0.0.1:0",
            "--dial", f"sip:bob@127.0.0.1:{port}",
        )  # fmt: skip
        try:
            call = await asyncio.wait_for(anext(incoming), 20)
            await call.reject(486)
            assert await cli.exit_code() == ExitCode.CALL_FAILED
        finally:
            await cli.close()
    (end,) = cli.of("call_end")
    assert (end["status"], end["reason"], end["result"]) == (486, "busy", "call_failed")
    assert cli.of("call_failed")[0]["status"] == 486


async def test_exit_code_for_a_call_without_audio() -> None:
    """The far side answers with a real session description, then never sends media."""
    async with SipStack() as stack:
        listener = await stack.listen("UDP", "127.0.0.1", 0)
        port = listener.local[1]
        byes: list[str] = []

        async def uas(incoming: IncomingRequest) -> None:
            request = incoming.request
            if request.method == "INVITE":
                media = MediaSession(LOOPBACK, ToneTrack(0.0))
                answer = await media.create_answer(request.body)
                await media.close()
                incoming.respond(
                    200,
                    headers=[("Contact", f"<sip:bob@127.0.0.1:{port}>")],
                    body=answer,
                    content_type="application/sdp",
                )
            elif request.method == "BYE":
                byes.append(request.call_id)
                incoming.respond(200)

        stack.on_request(uas)
        cli = await CliProcess.start(
            "--aor", "sip:alice@127.0.0.1", "--listen", "udp:127.0.0.1:0",
            "--dial", f"sip:bob@127.0.0.1:{port}", "--duration", "1.5", "--expect-audio",
        )  # fmt: skip
        try:
            assert await cli.exit_code() == ExitCode.MEDIA_FAILED
        finally:
            await cli.close()
    (end,) = cli.of("call_end")
    assert (end["frames_received"], end["result"]) == (0, "media_failed")
    assert len(byes) == 1, "the call was up and ended by BYE"


async def test_exit_code_for_a_registration_failure(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        cli = await CliProcess.start(
            "--server", net.server.uri("wss"), "--ca-file", str(net.ca),
            "--aor", f"sip:alice@{net.server.domain}", "--password-env", "CLI_TEST_PW",
            "--dial", "bob", env={"CLI_TEST_PW": "wrong"},
        )  # fmt: skip
        try:
            assert await cli.exit_code() == ExitCode.REGISTRATION_FAILED
        finally:
            await cli.close()
    assert cli.of("error")[0]["what"] == "registration"
    assert cli.of("state") == [], "no call was attempted"


async def test_sigterm_hangs_up_and_the_far_side_sees_bye() -> None:
    cli = await CliProcess.start(
        "--aor", "sip:bob@127.0.0.1", "--listen", "udp:127.0.0.1:0", "--auto-answer",
    )  # fmt: skip
    try:
        port = await cli.port("udp")
        async with direct("alice", "udp:127.0.0.1:0") as alice:
            call = await alice.dial(f"sip:bob@127.0.0.1:{port}")
            await call.wait_established(15)
            cli.proc.send_signal(signal.SIGTERM)
            assert await call.wait_ended(10) is EndReason.REMOTE_HANGUP
            assert call.state is CallState.ENDED
        assert await cli.exit_code() == ExitCode.TERMINATED
    finally:
        await cli.close()
    assert cli.of("interrupted")[0]["signal"] == "SIGTERM"
    (end,) = cli.of("exit")
    assert (end["code"], end["meaning"]) == (143, "terminated")  # 128 + SIGTERM, as shells say


async def test_sigint_gives_130() -> None:
    cli = await CliProcess.start("--aor", "sip:bob@127.0.0.1", "--listen", "udp:127.0.0.1:0")
    try:
        await cli.port("udp")
        cli.proc.send_signal(signal.SIGINT)
        assert await cli.exit_code() == ExitCode.INTERRUPTED == 130
    finally:
        await cli.close()
    assert cli.of("interrupted")[0]["signal"] == "SIGINT"
    (end,) = cli.of("exit")
    assert (end["code"], end["meaning"]) == (130, "interrupted")


async def test_exit_code_for_a_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        cli = await CliProcess.start(
            "--aor", "sip:bob@127.0.0.1", "--listen", f"udp:127.0.0.1:{port}", "--auto-answer"
        )
        try:
            assert await cli.exit_code() == ExitCode.ERROR
        finally:
            await cli.close()
    assert cli.of("error")[0]["what"] == "system"


def test_exit_code_for_bad_usage() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "client", "phone", *args],
            check=False, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    no_server = run("--aor", "sip:bob@127.0.0.1", "--dial", "sip:x@127.0.0.1")
    assert no_server.returncode == ExitCode.USAGE
    assert "--server or --listen" in no_server.stderr
    unset = run("--aor", "sip:a@b", "--server", "tcp:127.0.0.1:5060", "--password-env", "NO_SUCH_X")
    assert unset.returncode == ExitCode.USAGE and "NO_SUCH_X" in unset.stderr
    bad_listen = run("--aor", "sip:bob@127.0.0.1", "--listen", "sctp:127.0.0.1:1")
    assert bad_listen.returncode == ExitCode.USAGE and "listen" in bad_listen.stderr
    # no way to give a password on the command line
    assert run("--aor", "sip:a@b", "--listen", "udp:127.0.0.1:0", "--password", "x").returncode == 2
