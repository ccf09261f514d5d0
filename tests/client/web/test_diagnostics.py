"""client.web.diagnostics and client.web.netcheck against the loopback registrar: runtime
report, microphone and speaker levels from real audio, and the network checks (the TURN
ones are in tests/interop/test_web_diagnostics.py)."""

from __future__ import annotations

import array
import asyncio
import importlib.metadata
import math
import platform
import socket
import sys
import types
import wave
from pathlib import Path
from typing import Any

import pytest
from av import AudioFrame

from client.config import PhoneConfig
from client.web.diagnostics import Diagnostics, level
from media.levels import goertzel, mono
from media.tracks import FrameSink, SilenceTrack
from sipcore.server import EmbeddedServer
from tests.client.helpers import LOOPBACK, USERS, lab


class Collector:
    """The report and key/value callbacks, keeping everything they were given."""

    def __init__(self) -> None:
        self.reports: list[str] = []
        self.pairs: list[tuple[str, str]] = []

    def report(self, text: str) -> None:
        self.reports.append(text)

    async def key_value(self, key: str, value: str) -> None:  # async callbacks work too
        self.pairs.append((key, value))

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]

    def last(self, key: str) -> str:
        (*_, value) = self.values(key)
        return value

    def texts(self) -> list[str]:
        return self.reports + [f"{k} {v}" for k, v in self.pairs]


class Ear(FrameSink):
    """An in-process loopback speaker: keeps the frames it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[AudioFrame] = []
        self.closed = False

    def write_frame(self, frame: AudioFrame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        super().close()
        self.closed = True


def write_wav(path: Path, parts: list[tuple[float, float, float]], rate: int = 16000) -> None:
    """A mono 16-bit WAV of (seconds, frequency, amplitude) parts."""
    samples = array.array("h")
    for seconds, frequency, amplitude in parts:
        for i in range(int(seconds * rate)):
            value = amplitude * math.sin(2 * math.pi * frequency * i / rate)
            samples.append(int(32767 * value))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


async def until(condition: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never met")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_level_is_rms_of_full_scale() -> None:
    assert level(array.array("h")) == 0.0
    assert level(array.array("h", [16384, -16384] * 10)) == 0.5
    assert level(array.array("h", [-32768] * 4)) == 1.0


async def test_runtime_and_configured_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as without the optional package
    out = Collector()
    async with lab(tmp_path) as net:
        config = net.config("alice")
        mic, speaker = tmp_path / "in.wav", tmp_path / "out.wav"
        Diagnostics(config, out.report, out.key_value, mic=mic, speaker=speaker).init()
        await asyncio.sleep(0)
        assert out.last("python") == platform.python_version()
        assert out.last("sipwebrtc") == importlib.metadata.version("sipwebrtc")
        assert out.last("aiortc") == importlib.metadata.version("aiortc")
        assert out.last("aioice") == importlib.metadata.version("aioice")
        assert out.last("mic") == f"file {mic}"
        assert out.last("speaker") == f"file {speaker}"
        (report,) = out.reports
        assert f"diagnostics for {config.aor} via {config.server}" in report
        assert f"aiortc = {out.last('aiortc')}" in report
        # without a configured source or sink: the default devices, here there are none
        out = Collector()
        Diagnostics(config, out.report, out.key_value, mic=SilenceTrack()).init()
        await asyncio.sleep(0)
        assert out.last("mic") == "loopback SilenceTrack"
        assert out.last("speaker") == "none (no audio output device)"
        assert "audio devices: local audio devices need" in out.reports[0]


async def test_device_names_from_sounddevice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("sounddevice")
    module.query_devices = lambda kind: {"name": f"Headset {kind}"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    out = Collector()
    async with lab(tmp_path) as net:
        Diagnostics(net.config("alice"), out.report, out.key_value).init()
    assert (out.last("mic"), out.last("speaker")) == ("Headset input", "Headset output")


async def test_mic_levels_high_then_low_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mic.wav"
    write_wav(path, [(0.6, 1000.0, 0.5), (0.6, 0.0, 0.0)])
    out = Collector()
    async with lab(tmp_path) as net:
        diagnostics = Diagnostics(net.config("alice"), out.report, out.key_value, mic=path)
        diagnostics.start_mic_test()
        await until(lambda: len(out.values("micLevel")) >= 12)
        await diagnostics.stop_mic_test("yes")
    levels = [float(v) for v in out.values("micLevel")]
    assert all(0.33 < x < 0.37 for x in levels[:5]), levels  # RMS of a 0.5 sine: 0.354
    assert all(x < 0.001 for x in levels[7:]), levels
    assert out.last("micTest") == "pass: the user saw the level move (peak level 0.354)"
    assert "micTest: " in out.reports[-1]


async def test_speaker_levels_from_the_tone(tmp_path: Path) -> None:
    ear = Ear()
    out = Collector()
    async with lab(tmp_path) as net:
        diagnostics = Diagnostics(net.config("alice"), out.report, out.key_value, speaker=ear)
        diagnostics.start_speaker_test()
        await until(lambda: len(out.values("speakerLevel")) >= 5)
        await diagnostics.stop_speaker_test(False)
    levels = [float(v) for v in out.values("speakerLevel")]
    assert levels and all(0.205 < x < 0.22 for x in levels), levels  # 0.3 sine: 0.212
    assert out.last("speakerTest").startswith("fail: the user has not heard the tone")
    assert not ear.closed  # the application's sink stays open
    samples = array.array("h")
    for frame in ear.frames:
        samples.extend(mono(frame))
    assert goertzel(samples, 48000, 440.0) > 100 * goertzel(samples, 48000, 1000.0)


async def test_speaker_test_to_a_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "speaker.wav"
    out = Collector()
    async with lab(tmp_path) as net:
        diagnostics = Diagnostics(net.config("alice"), out.report, out.key_value, speaker=path)
        diagnostics.start_speaker_test()
        await until(lambda: len(out.values("speakerLevel")) >= 3)
        await diagnostics.stop_speaker_test("yes")
    with wave.open(str(path), "rb") as wav:
        samples = array.array("h", wav.readframes(wav.getnframes()))
    assert len(samples) >= 0.3 * 48000
    assert 0.2 < level(samples) < 0.22
    assert out.last("speakerTest").startswith("pass: the user heard the tone")


async def test_stop_without_start_fails_the_test(tmp_path: Path) -> None:
    out = Collector()
    async with lab(tmp_path) as net:
        diagnostics = Diagnostics(net.config("alice"), out.report, out.key_value)
        await diagnostics.stop_mic_test("yes")
    assert out.last("micTest") == "fail: the test was not running"


async def test_without_audio_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as without the optional package
    out = Collector()
    async with lab(tmp_path) as net:
        diagnostics = Diagnostics(net.config("alice"), out.report, out.key_value)
        diagnostics.start_mic_test()
        diagnostics.start_speaker_test()
        await until(lambda: out.values("micLevel") and out.values("speakerLevel"))
        await diagnostics.stop_mic_test("yes")
        await diagnostics.stop_speaker_test("yes")
    assert out.values("micLevel") == ["fail: no microphone"]
    assert out.values("speakerLevel") == ["fail: no speaker"]
    assert out.last("micTest") == "fail: no audio was measured (see the log)"
    assert out.last("speakerTest") == "fail: no audio was measured (see the log)"
    assert "cannot open the microphone: local audio devices need" in out.reports[-1]


async def test_network_against_the_loopback_registrar(tmp_path: Path) -> None:
    out = Collector()
    async with lab(tmp_path) as net:
        config = net.config("alice")
        results = await Diagnostics(config, out.report, out.key_value).run_network()
        assert net.server.bindings("alice") == []  # the test binding was removed
    assert results["wss"].startswith(f"pass: WebSocket (sip) connected to {config.server} in ")
    assert results["wss"].endswith("certificate verified")
    assert results["userReg"].startswith(f"pass: registered as {config.aor} in ")
    port = config.server.rsplit(":", 1)[1]
    assert results["tcp"] == f"pass: server wss 127.0.0.1:{port} reachable"
    assert results["udp"] == "skip: no STUN or TURN server reached over UDP is configured"
    assert results["host"].startswith("pass: 127.0.0.1:") and "/udp" in results["host"]
    assert results["srflx"] == "skip: no STUN server is configured"
    assert "relay" not in results and "ws" not in results
    assert set(results) == {"wss", "userReg", "tcp", "udp", "host", "srflx"}
    assert [k for k, _ in out.pairs] == ["wss", "userReg", "tcp", "udp", "host", "srflx"]
    report = out.reports[-1]
    assert "network diagnostics done: all passed" in report
    for key, value in results.items():
        assert f"{key} = {value}" in report
    assert all(USERS["alice"] not in text for text in out.texts())


async def test_bad_password(tmp_path: Path) -> None:
    out = Collector()
    async with lab(tmp_path) as net:
        config = net.config("alice", password="wrong-secret")
        results = await Diagnostics(config, out.report, out.key_value).run_network()
    assert results["wss"].startswith("pass")
    assert results["userReg"] == "fail: the registrar refused us: 401 Unauthorized"
    assert "network diagnostics done: failed: userReg" in out.reports[-1]
    assert all("wrong-secret" not in text for text in out.texts())


async def test_nothing_listening(tmp_path: Path) -> None:
    out = Collector()
    async with lab(tmp_path) as net:
        config = net.config("alice", server=f"wss://127.0.0.1:{free_port()}")
    results = await Diagnostics(config, out.report, out.key_value).run_network()
    assert results["wss"].startswith("fail: ")
    assert results["userReg"] == "fail: not tried, the server cannot be reached"
    assert results["tcp"].startswith("fail: server wss 127.0.0.1:")
    assert "unreachable (ConnectionRefusedError" in results["tcp"]
    assert "failed: wss, userReg, tcp" in out.reports[-1]


async def test_wss_certificate_is_verified(tmp_path: Path) -> None:
    out = Collector()
    async with lab(tmp_path) as net:
        config = net.config("alice", ca_file=None)  # the test CA is not trusted
        results = await Diagnostics(config, out.report, out.key_value).run_network()
    assert results["wss"].startswith("fail: ")
    assert "certificate verify failed" in results["wss"]


async def test_plain_ws_server(tmp_path: Path) -> None:
    out = Collector()
    async with EmbeddedServer(USERS, listen=("ws",)) as server:
        config = PhoneConfig(
            aor="sip:bob@127.0.0.1", server=server.uri("ws"), password="bob-pw", media=LOOPBACK
        )
        results = await Diagnostics(config, out.report, out.key_value).run_network()
    assert results["ws"].startswith("pass: WebSocket (sip) connected to ws://127.0.0.1:")
    assert "certificate" not in results["ws"]
    assert results["userReg"].startswith("pass")
    assert "wss" not in results


async def test_udp_signalling_server_skips_the_websocket_check(tmp_path: Path) -> None:
    out = Collector()
    async with EmbeddedServer(USERS, listen=("udp",)) as server:
        config = PhoneConfig(
            aor="sip:bob@127.0.0.1", server=server.uri("udp"), password="bob-pw", media=LOOPBACK
        )
        results = await Diagnostics(config, out.report, out.key_value).run_network()
    assert results["wss"] == "skip: the server is not a WebSocket server (udp)"
    assert results["userReg"].startswith("pass")
    assert results["tcp"] == "skip: no server reached over TCP"
