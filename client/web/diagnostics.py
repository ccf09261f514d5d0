"""Troubleshooting for the web-client facade: runtime and devices, speaker and microphone
tests with live levels, and network checks (the web-client SDK's ``initDiagnostics``,
``start/stopSpeakerDiagnosticsTest``, ``start/stopMicDiagnosticsTest`` and
``startNetworkDiagnostics``).

Results go out through two callbacks (plain or async): ``key_value(key, value)`` for each
result as it comes, and ``report(text)`` with the troubleshooting log so far (every step and
result, one line each) when an operation ends. Values are strings; checks read
``pass: ...``, ``fail: ...`` or ``skip: ...``. Every text is passed through the redaction of
the account's password and the TURN credentials before it leaves.

Keys:

- runtime (:meth:`Diagnostics.init`): ``python``, ``platform``, ``sipwebrtc``, ``aiortc``,
  ``aioice``, ``mic``, ``speaker`` (device names, or the configured file/loopback source and
  sink);
- audio tests: ``speakerLevel`` and ``micLevel`` (RMS level of the last
  ``level_interval``, 0 to 1 of full scale, three decimals) while a test runs, then
  ``speakerTest`` / ``micTest`` with the user's answer;
- network (:meth:`Diagnostics.run_network`): ``wss`` (``ws`` for a plain WebSocket
  server), ``userReg``, ``tcp``, ``udp``, ``host``, ``srflx`` and, when a TURN server is
  configured, ``relay`` (:mod:`client.web.netcheck` says what each one checks).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import importlib.metadata
import logging
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from client.config import PhoneConfig
from client.errors import ConfigError, RegistrationFailed
from client.phone import Phone
from client.stream import TaskSet
from client.web import netcheck
from client.web.netcheck import Check
from media.devices import AudioDeviceError, MicrophoneTrack, SpeakerSink, default_device_names
from media.levels import mono
from media.tracks import FrameSink, ToneTrack, WavFileTrack, WavRecorder, audio_frames
from sipcore.stack import SipStack, StackConfig, parse_target

__all__ = ["AudioInput", "AudioOutput", "Diagnostics", "level"]

logger = logging.getLogger("client.web.diagnostics")

AudioInput = str | Path | MediaStreamTrack | None
"""Microphone for the tests: a WAV file, a track (in-process loopback), or None for the
default input device."""
AudioOutput = str | Path | FrameSink | None
"""Speaker for the tests: a WAV file to write, a sink (in-process loopback), or None for the
default output device."""

_REDACTED = "***"


def level(samples: array.array[int]) -> float:
    """RMS of signed 16-bit ``samples`` as a fraction of full scale (0 to 1)."""
    if not samples:
        return 0.0
    return min(1.0, math.sqrt(sum(x * x for x in samples) / len(samples)) / 32768)


class Diagnostics:
    """The diagnostics of one account (``config``), reporting through ``report`` and
    ``key_value``."""

    def __init__(
        self,
        config: PhoneConfig,
        report: Callable[[str], object],
        key_value: Callable[[str, str], object],
        *,
        mic: AudioInput = None,
        speaker: AudioOutput = None,
        tone: float = 440.0,
        level_interval: float = 0.1,
        register_timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if config.server is None:
            raise ConfigError("diagnostics need the account's server")
        self.config = config
        self.server: str = config.server
        self.report = report
        self.key_value = key_value
        self.mic = mic
        self.speaker = speaker
        self.tone = tone
        """Frequency of the speaker test tone (Hz)."""
        self.level_interval = level_interval
        """Seconds of audio per reported level."""
        self.register_timeout = register_timeout
        self.connect_timeout = connect_timeout
        self.log: list[str] = []
        """The troubleshooting log so far, redacted."""
        self.results: dict[str, str] = {}
        """The latest value of every key, redacted."""
        self._secrets = [s for s in self._secret_values() if s]
        self._started = time.monotonic()
        self._speaker_task: asyncio.Task[None] | None = None
        self._mic_task: asyncio.Task[None] | None = None
        self._levels: dict[str, list[float]] = {"speakerLevel": [], "micLevel": []}
        self._tasks = TaskSet(
            lambda exc: logger.error("async diagnostics callback failed: %r", exc), logger
        )

    # -- runtime --------------------------------------------------------------------------------
    def init(self) -> None:
        """Report the runtime, the account (without secrets) and the audio devices."""
        self._note(f"diagnostics for {self.config.aor} via {self.config.server}")
        self._set("python", platform.python_version())
        self._set("platform", platform.platform())
        for package in ("sipwebrtc", "aiortc", "aioice"):
            self._set(package, _version(package))
        servers = ", ".join(str(s) for s in netcheck.ice_servers(self.config.media)) or "none"
        self._note(f"ICE servers: {servers}; policy {self.config.media.ice_transport_policy}")
        mic, speaker = self._device_names()
        self._set("mic", mic)
        self._set("speaker", speaker)
        self._send_report()

    def _device_names(self) -> tuple[str, str]:
        devices: tuple[str, str] | None = None
        if self.mic is None or self.speaker is None:
            try:
                devices = default_device_names()
            except AudioDeviceError as exc:
                self._note(f"audio devices: {exc}")
        mic = _source_name(self.mic) if self.mic is not None else None
        speaker = _sink_name(self.speaker) if self.speaker is not None else None
        return (
            mic or (devices[0] if devices else "none (no audio input device)"),
            speaker or (devices[1] if devices else "none (no audio output device)"),
        )

    # -- speaker and microphone tests ------------------------------------------------------------
    def start_speaker_test(self) -> None:
        """Play the test tone to the speaker and report its level until stopped."""
        if self._speaker_task is not None:
            return
        self._levels["speakerLevel"] = []
        self._note(f"speaker test: playing a {self.tone:g} Hz tone to {_sink_name(self.speaker)}")
        self._speaker_task = asyncio.ensure_future(self._play_tone())

    async def stop_speaker_test(self, answer: bool | str) -> None:
        """Stop the tone; ``answer`` says whether the user heard it (yes/no)."""
        task, self._speaker_task = self._speaker_task, None
        await self._stop_test(task, "speakerTest", "speakerLevel", answer, "heard the tone")

    def start_mic_test(self) -> None:
        """Measure the microphone and report its level until stopped."""
        if self._mic_task is not None:
            return
        self._levels["micLevel"] = []
        self._note(f"microphone test: measuring {_source_name(self.mic)}")
        self._mic_task = asyncio.ensure_future(self._measure_mic())

    async def stop_mic_test(self, answer: bool | str) -> None:
        """Stop measuring; ``answer`` says whether the user saw the level follow their voice."""
        task, self._mic_task = self._mic_task, None
        await self._stop_test(task, "micTest", "micLevel", answer, "saw the level move")

    async def _stop_test(
        self, task: asyncio.Task[None] | None, key: str, levels: str, answer: bool | str, what: str
    ) -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        yes = _yes(answer)
        measured = self._levels[levels]
        peak = max(measured, default=0.0)
        self._note(
            f"{key}: {len(measured)} levels measured, peak {peak:.3f}; "
            f"the user {'' if yes else 'has not '}{what}"
        )
        if task is None:
            self._set(key, "fail: the test was not running")
        elif not measured:
            self._set(key, "fail: no audio was measured (see the log)")
        elif yes:
            self._set(key, f"pass: the user {what} (peak level {peak:.3f})")
        else:
            self._set(key, f"fail: the user has not {what} (peak level {peak:.3f})")
        self._send_report()

    async def _play_tone(self) -> None:
        source = ToneTrack(self.tone)
        try:
            sink = self._open_speaker()
        except (AudioDeviceError, OSError, ValueError) as exc:
            self._note(f"speaker test: cannot open the speaker: {exc}")
            self._set("speakerLevel", "fail: no speaker")
            return
        try:
            await self._measure(source, "speakerLevel", sink.write_frame)
        finally:
            source.stop()
            if not isinstance(self.speaker, FrameSink):
                sink.close()  # ours; a sink given by the application stays open

    async def _measure_mic(self) -> None:
        try:
            source = self._open_mic()
        except (AudioDeviceError, OSError, ValueError) as exc:
            self._note(f"microphone test: cannot open the microphone: {exc}")
            self._set("micLevel", "fail: no microphone")
            return
        try:
            await self._measure(source, "micLevel", None)
        finally:
            if not isinstance(self.mic, MediaStreamTrack):
                source.stop()  # ours; a track given by the application is left running

    async def _measure(
        self,
        source: MediaStreamTrack,
        key: str,
        forward: Callable[[AudioFrame], None] | None,
    ) -> None:
        """Report the level of every ``level_interval`` of ``source``'s audio."""
        samples: array.array[int] = array.array("h")
        covered = 0.0
        async for frame in audio_frames(source):
            if forward is not None:
                forward(frame)
            samples.extend(mono(frame))
            covered += frame.samples / frame.sample_rate
            if covered >= self.level_interval - 1e-9:
                value = level(samples)
                self._levels[key].append(value)
                self._set(key, f"{value:.3f}", log=False)
                samples = array.array("h")
                covered = 0.0

    def _open_speaker(self) -> FrameSink:
        if isinstance(self.speaker, FrameSink):
            return self.speaker
        if self.speaker is not None:
            return WavRecorder(self.speaker)
        return SpeakerSink()

    def _open_mic(self) -> MediaStreamTrack:
        if isinstance(self.mic, MediaStreamTrack):
            return self.mic
        if self.mic is not None:
            return WavFileTrack(self.mic)
        return MicrophoneTrack()

    # -- network ---------------------------------------------------------------------------------
    async def run_network(self) -> dict[str, str]:
        """Every network check, reported as it finishes; returns the results by key."""
        config = self.config
        media = config.media
        self._note(f"network diagnostics: server {config.server}, account {config.aor}")
        scheme = parse_target(self.server)[0]
        reachable = await self._signalling(scheme)
        if reachable is False:
            self._set("userReg", "fail: not tried, the server cannot be reached")
        else:
            self._set("userReg", str(await self._register()))
        tcp, udp, candidates = await asyncio.gather(
            netcheck.tcp(self.server, media, self.connect_timeout),
            netcheck.udp(media),
            netcheck.gather(media),
        )
        self._set("tcp", str(tcp))
        self._set("udp", str(udp))
        for kind, check in candidates.items():
            self._set(kind, str(check))
        keys = ("wss", "ws", "userReg", "tcp", "udp", "host", "srflx", "relay")
        results = {k: self.results[k] for k in keys if k in self.results}
        failed = [k for k, v in results.items() if v.startswith("fail")]
        verdict = f"failed: {', '.join(failed)}" if failed else "all passed"
        self._note(f"network diagnostics done: {verdict}")
        self._send_report()
        return results

    async def _signalling(self, scheme: str) -> bool | None:
        """A real connection to a WebSocket server (TLS verified for wss) under the ``wss`` or
        ``ws`` key; None (not checked here) for the other transports."""
        if scheme not in ("ws", "wss"):
            self._set("wss", f"skip: the server is not a WebSocket server ({scheme})")
            return None
        stack = SipStack(
            StackConfig(
                ca_file=self.config.ca_file,
                tls_verify=self.config.tls_verify,
                connect_timeout=self.connect_timeout,
                keepalive_interval=0,
            )
        )
        started = time.monotonic()
        try:
            async with stack:
                await stack.connect(self.server)
        except Exception as exc:  # TransportFailure, ssl.SSLError, OSError, a handshake error
            self._set(scheme, f"fail: {netcheck.describe(exc)}")
            return False
        elapsed = (time.monotonic() - started) * 1000
        verified = ", certificate verified" if scheme == "wss" and self.config.tls_verify else ""
        unverified = " (certificate NOT verified)" if scheme == "wss" and not verified else ""
        self._set(
            scheme,
            f"pass: WebSocket (sip) connected to {self.config.server} in {elapsed:.0f} ms"
            f"{verified}{unverified}",
        )
        return True

    async def _register(self) -> Check:
        """A REGISTER with the account's credentials; the binding is removed again."""
        started = time.monotonic()
        phone = Phone(self.config)
        try:
            async with phone:
                try:
                    await phone.register(self.register_timeout)
                except RegistrationFailed:
                    # the reason of the outcome, e.g. "401 Unauthorized"
                    outcome = phone.registration.history[-1]
                    reason = getattr(outcome, "reason", None) or type(outcome).__name__
                    return Check("fail", f"the registrar refused us: {reason}")
                expires = phone.registration.registration.granted
        except TimeoutError:
            return Check("fail", f"no answer to REGISTER in {self.register_timeout:g} s")
        except Exception as exc:
            return Check("fail", netcheck.describe(exc))
        elapsed = (time.monotonic() - started) * 1000
        return Check(
            "pass", f"registered as {self.config.aor} in {elapsed:.0f} ms (expires {expires})"
        )

    # -- output ----------------------------------------------------------------------------------
    def _secret_values(self) -> list[str]:
        values = [self.config.password or ""]
        values += [str(s.credential or "") for s in self.config.media.ice_servers]
        return values

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def _note(self, text: str) -> None:
        line = f"[{time.monotonic() - self._started:8.3f}] {self._redact(text)}"
        self.log.append(line)
        logger.info("%s", line)

    def _set(self, key: str, value: str, *, log: bool = True) -> None:
        value = self._redact(value)
        self.results[key] = value
        if log:
            self._note(f"{key} = {value}")
        self._call(self.key_value, key, value)

    def _send_report(self) -> None:
        self._call(self.report, "\n".join(self.log))

    def _call(self, callback: Callable[..., object], *args: str) -> None:
        self._tasks.call(callback, *args, what="diagnostics callback")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _source_name(source: AudioInput) -> str:
    if source is None:
        return "the default input device"
    if isinstance(source, MediaStreamTrack):
        return f"loopback {type(source).__name__}"
    return f"file {source}"


def _sink_name(sink: AudioOutput) -> str:
    if sink is None:
        return "the default output device"
    if isinstance(sink, FrameSink):
        return f"loopback {type(sink).__name__}"
    return f"file {sink}"


def _yes(answer: bool | str) -> bool:
    if isinstance(answer, bool):
        return answer
    return answer.strip().lower() in ("yes", "y", "true", "1")
