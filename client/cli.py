"""The CLI softphone: ``python -m client phone ...`` (console script ``sipwebrtc-phone``).

A thin command over :class:`~client.phone.Phone` and :class:`~client.call.Call`: it registers
to a server or listens for requests sent to it directly, dials or auto-answers, plays and
records audio, sends DTMF, holds, and reports every call state change and periodic statistics
(``--json``: one JSON object per line on stdout; logs go to stderr). The exit status tells a
script how the run went (:class:`ExitCode`); SIGINT and SIGTERM hang up and unregister.

Examples::

    # take calls on UDP and TCP without a server, answer each, hang up after 5 s
    python -m client phone --aor sip:bob@127.0.0.1 --listen udp:127.0.0.1:5070 \\
        --listen tcp:127.0.0.1:5070 --auto-answer --duration 5 --max-calls 3 --json
    # register over WSS and dial, playing a file and recording the peer
    SIP_PASSWORD=... python -m client phone --server wss://sip.example.com \\
        --aor sip:alice@example.com --password-env SIP_PASSWORD --dial bob \\
        --play hello.wav --record 'bob-{n}.wav' --duration 10 --expect-audio
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import getpass
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from media.session import MediaConfig
from media.tracks import ToneTrack, WavFileTrack
from sipcore.errors import SipError, TransportError
from sipcore.stack import is_loopback, parse_target

from .call import Call
from .config import PhoneConfig, parse_listen
from .errors import CallFailed, ConfigError, RegistrationFailed
from .events import (
    CallStateChanged,
    DtmfReceived,
    MediaRenewal,
    MissedCall,
    PhoneEvent,
    RegistrationChanged,
    RemoteHoldChanged,
)
from .phone import Phone
from .states import CallState, EndReason

__all__ = ["ExitCode", "build_parser", "main"]

logger = logging.getLogger("client.cli")


class ExitCode(enum.IntEnum):
    """The exit status of a run (the first failure wins when several calls are made)."""

    OK = 0
    """Every call was set up and ended as asked (by us after ``--duration``, or by the peer)."""
    ERROR = 1
    """An unexpected error (a bug, or a file that cannot be read or written)."""
    USAGE = 2
    """Bad command line or settings."""
    REGISTRATION_FAILED = 3
    """The registrar refused us or could not be reached."""
    CALL_FAILED = 4
    """A call was rejected or failed (the ``call_end`` line gives the SIP status), or an
    action in it (DTMF, hold) failed."""
    MEDIA_FAILED = 5
    """A call was up but its media failed: no audio received with ``--expect-audio``, or the
    call ended for lost media."""
    INTERRUPTED = 130
    """SIGINT (128 + 2, as shells report it): the calls were hung up and the account
    unregistered."""
    TERMINATED = 143
    """SIGTERM (128 + 15): the calls were hung up and the account unregistered."""


_MEDIA_ENDS = (EndReason.MEDIA_TIMEOUT, EndReason.MEDIA_FAILED)
_GOOD_ENDS = (EndReason.LOCAL_HANGUP, EndReason.REMOTE_HANGUP)


# -- command line ------------------------------------------------------------------------------
def build_parser(prog: str = "sipwebrtc-phone") -> argparse.ArgumentParser:
    codes = "; ".join(f"{c.value} {c.name.lower()}" for c in ExitCode)
    parser = argparse.ArgumentParser(
        prog=prog,
        allow_abbrev=False,
        description="A SIP/WebRTC softphone for the command line and test automation.",
        epilog=f"Exit status: {codes}.",
    )
    account = parser.add_argument_group("account")
    account.add_argument("--aor", required=True, help="our SIP address, e.g. sip:alice@example.com")
    account.add_argument("--server", help="registrar/proxy: wss://host:port, tcp:host:port ...")
    account.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="TRANSPORT:HOST:PORT",
        help="take requests sent to us directly (udp, tcp or ws; repeatable)",
    )
    secret = account.add_mutually_exclusive_group()
    secret.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    secret.add_argument("--password-file", metavar="FILE", help="read it from FILE's first line")
    secret.add_argument("--password-prompt", action="store_true", help="ask for it")
    account.add_argument("--auth-user", help="digest user name when it is not the AOR user")
    account.add_argument("--display-name")
    account.add_argument("--ca-file", help="CA certificates for the server's TLS certificate")
    account.add_argument(
        "--insecure", action="store_true", help="do not verify the server's certificate"
    )
    calls = parser.add_argument_group("calls")
    calls.add_argument("--dial", metavar="TARGET", help="call TARGET (a user or a SIP URI)")
    calls.add_argument("--auto-answer", action="store_true", help="answer incoming calls")
    calls.add_argument("--answer-delay", type=_seconds, default=0.0, metavar="S")
    calls.add_argument(
        "--max-calls",
        type=int,
        default=None,
        metavar="N",
        help="calls to make or take before exiting (default: 1 when dialing, else no limit)",
    )
    calls.add_argument("--duration", type=_seconds, metavar="S", help="hang up S s after answer")
    calls.add_argument(
        "--setup-timeout", type=_seconds, default=30.0, metavar="S", help="longest call set-up"
    )
    media = parser.add_argument_group("media")
    source = media.add_mutually_exclusive_group()
    source.add_argument("--play", metavar="WAV", help="send this WAV file (then silence)")
    source.add_argument("--tone", type=float, metavar="HZ", help="send a sine tone")
    media.add_argument(
        "--record",
        metavar="PATTERN",
        help="record what the peer sends to a WAV file per call; {n} is the call number, "
        "{call_id} its Call-ID (without {n}, calls after the first get -N before the suffix)",
    )
    media.add_argument("--dtmf", metavar="DIGITS", help="send DTMF digits once the call is up")
    media.add_argument("--dtmf-method", choices=("rfc4733", "info"), default="rfc4733")
    media.add_argument("--dtmf-delay", type=_seconds, default=1.0, metavar="S")
    media.add_argument("--hold-after", type=_seconds, metavar="S", help="hold S s after answer")
    media.add_argument("--hold-for", type=_seconds, default=2.0, metavar="S")
    media.add_argument("--expect-audio", action="store_true", help="no audio is a failure")
    media.add_argument(
        "--media-address",
        action="append",
        default=[],
        metavar="ADDR",
        help="address for ICE host candidates (default: loopback when every address given "
        "is loopback, else every interface but loopback)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--stats-interval", type=_seconds, default=5.0, metavar="S", help="0: off")
    out.add_argument("--json", action="store_true", help="JSON lines on stdout")
    out.add_argument("-v", "--verbose", action="count", default=0, help="logs on stderr")
    return parser


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text}")
    return value


def _password(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            parser.error(f"--password-env: ${args.password_env} is not set")
        return value
    if args.password_file:
        try:
            return Path(args.password_file).read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            parser.error(f"--password-file: {exc or 'empty file'}")
    if args.password_prompt:
        return getpass.getpass("SIP password: ")
    return None


def _loopback_only(args: argparse.Namespace) -> bool:
    hosts = [parse_listen(spec)[1] for spec in args.listen]
    if args.server:
        hosts.append(parse_target(args.server)[1])
    return bool(hosts) and all(is_loopback(h) for h in hosts)


def config_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> PhoneConfig:
    """The phone's settings from the command line (exits with a usage error if unusable)."""
    if not args.server and not args.listen:
        parser.error("give --server or --listen (or both)")
    if args.max_calls is not None and args.max_calls < 0:
        parser.error("--max-calls must be >= 0")
    if args.play and not Path(args.play).is_file():
        parser.error(f"--play: no such file: {args.play}")
    try:
        addresses = tuple(args.media_address)
        if not addresses and _loopback_only(args):
            addresses = ("127.0.0.1",)
        return PhoneConfig(
            aor=args.aor,
            server=args.server,
            listen=tuple(args.listen),
            password=_password(args, parser),
            auth_user=args.auth_user,
            display_name=args.display_name,
            ca_file=args.ca_file,
            tls_verify=not args.insecure,
            media=MediaConfig(host_addresses=addresses or None),
            user_agent="sipwebrtc-phone",
        )
    except (ConfigError, SipError, ValueError) as exc:
        parser.error(str(exc))


# -- output ------------------------------------------------------------------------------------
class Reporter:
    """One line per event on ``out``: ``key=value`` text, or JSON objects with ``--json``."""

    def __init__(self, *, as_json: bool, out: Any = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.started = time.monotonic()
        self.numbers: dict[Call, int] = {}

    def number(self, call: Call) -> int:
        return self.numbers.setdefault(call, len(self.numbers) + 1)

    def emit(self, kind: str, **fields: Any) -> None:
        t = round(time.monotonic() - self.started, 3)
        values = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in fields.items()}
        if self.as_json:
            line = json.dumps({"t": t, "event": kind, **values})
        else:
            text = " ".join(f"{k}={v}" for k, v in values.items() if v is not None)
            line = f"{t:8.3f} {kind:<12} {text}"
        print(line, file=self.out, flush=True)

    def phone_event(self, event: PhoneEvent) -> None:
        if isinstance(event, CallStateChanged):
            self.emit(
                "state",
                call=self.number(event.call),
                state=event.state,
                previous=event.previous,
                reason=event.reason,
                status=event.call.end_status if event.state is CallState.ENDED else None,
                remote=event.call.remote_uri or None,
            )
        elif isinstance(event, RegistrationChanged):
            self.emit("registration", state=event.state, status=event.status, reason=event.reason)
        elif isinstance(event, DtmfReceived):
            self.emit(
                "dtmf_received",
                call=self.number(event.call),
                digit=event.digit,
                method=event.method,
            )
        elif isinstance(event, RemoteHoldChanged):
            self.emit("remote_hold", call=self.number(event.call), held=event.held)
        elif isinstance(event, MediaRenewal):
            self.emit(
                "media_renewal",
                call=self.number(event.call),
                attempt=event.attempt,
                outcome=event.outcome,
            )
        elif isinstance(event, MissedCall):
            self.emit("missed_call", remote=event.remote, reason=event.reason)


# -- the run -----------------------------------------------------------------------------------
class PhoneRun:
    """What one invocation does with its phone: make or take calls, one at a time."""

    def __init__(self, args: argparse.Namespace, phone: Phone, reporter: Reporter) -> None:
        self.args = args
        self.phone = phone
        self.report = reporter
        self.code = ExitCode.OK

    def _fail(self, code: ExitCode) -> None:
        if self.code is ExitCode.OK:
            self.code = code

    async def run(self) -> ExitCode:
        args = self.args
        if self.phone.account is not None:
            try:
                await self.phone.register()
            except (RegistrationFailed, TimeoutError, SipError) as exc:
                self.report.emit("error", what="registration", message=str(exc))
                return ExitCode.REGISTRATION_FAILED
        for listener in self.phone.listeners:
            host, port = listener.local[:2]
            self.report.emit("listening", transport=listener.name, host=host, port=port)
        limit = args.max_calls if args.max_calls is not None else (1 if args.dial else 0)
        if args.dial:
            for _ in range(limit or 1):
                try:
                    call = await self.phone.dial(args.dial, source=self._source())
                except (SipError, OSError) as exc:
                    self.report.emit("error", what="dial", message=str(exc))
                    self._fail(ExitCode.CALL_FAILED)
                    continue
                await self._call(call)
            return self.code
        incoming = self.phone.incoming()
        taken = 0
        while limit == 0 or taken < limit:
            call = await anext(incoming)
            taken += 1
            await self._call(call)
        return self.code

    def _source(self) -> MediaStreamTrack:
        if self.args.play:
            return WavFileTrack(self.args.play)
        return ToneTrack(self.args.tone or 0.0)

    def _record_path(self, n: int, call: Call) -> str:
        pattern: str = self.args.record
        if "{n}" in pattern or "{call_id}" in pattern:
            return pattern.replace("{n}", str(n)).replace("{call_id}", call.call_id)
        if n == 1:
            return pattern
        path = Path(pattern)
        return str(path.with_name(f"{path.stem}-{n}{path.suffix}"))

    async def _call(self, call: Call) -> None:
        """One call from ringing or dialing to its end; records how it went."""
        args = self.args
        n = self.report.number(call)
        frames = 0

        def heard(_frame: object) -> None:
            nonlocal frames
            frames += 1

        call.on_audio = heard
        if args.record:
            path = self._record_path(n, call)
            call.record(path)
            self.report.emit("recording", call=n, path=path)
        code = ExitCode.OK
        try:
            if call.direction == "incoming":
                if not args.auto_answer:
                    await call.wait_ended()
                    raise CallFailed("not answered", reason=call.end_reason)
                call.set_source(self._source())
                if args.answer_delay:
                    with contextlib.suppress(TimeoutError):
                        await call.wait_ended(args.answer_delay)
                if not call.ended:
                    await call.answer()
            await call.wait_established(args.setup_timeout)
        except (CallFailed, TimeoutError) as exc:
            if not call.ended:
                await call.hangup()
            status = call.end_status if call.end_status else None
            self.report.emit("call_failed", call=n, message=str(exc) or "timeout", status=status)
            code = ExitCode.CALL_FAILED
        else:
            code = await self._while_up(call, n)
        if code is ExitCode.OK and call.end_reason in _MEDIA_ENDS:
            code = ExitCode.MEDIA_FAILED
        elif code is ExitCode.OK and call.end_reason not in _GOOD_ENDS:
            code = ExitCode.CALL_FAILED
        if code is ExitCode.OK and args.expect_audio and frames == 0:
            code = ExitCode.MEDIA_FAILED
        self.report.emit(
            "call_end",
            call=n,
            reason=call.end_reason,
            status=call.end_status,
            duration=call.duration,
            frames_received=frames,
            result=code.name.lower(),
        )
        self._fail(code)

    async def _while_up(self, call: Call, n: int) -> ExitCode:
        """Run the actions asked for while the call is up; hang up after ``--duration``."""
        args = self.args
        failures: list[ExitCode] = []
        actions = []
        if args.dtmf:
            actions.append(self._dtmf(call, n, failures))
        if args.hold_after is not None:
            actions.append(self._hold(call, n, failures))
        if args.stats_interval > 0:
            actions.append(self._stats(call, n))
        tasks = [asyncio.ensure_future(a) for a in actions]
        try:
            try:
                await call.wait_ended(args.duration)
            except TimeoutError:
                await self._stats_once(call, n)
                await call.hangup()
                with contextlib.suppress(TimeoutError):
                    await call.wait_ended(10)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return failures[0] if failures else ExitCode.OK

    async def _dtmf(self, call: Call, n: int, failures: list[ExitCode]) -> None:
        await asyncio.sleep(self.args.dtmf_delay)
        try:
            used = await call.send_dtmf(self.args.dtmf, method=self.args.dtmf_method)
        except (SipError, TimeoutError, ValueError) as exc:
            self.report.emit("error", call=n, what="dtmf", message=str(exc))
            failures.append(ExitCode.CALL_FAILED)
            return
        self.report.emit("dtmf_sent", call=n, digits=self.args.dtmf, method=used)

    async def _hold(self, call: Call, n: int, failures: list[ExitCode]) -> None:
        await asyncio.sleep(self.args.hold_after)
        try:
            await call.hold()
            self.report.emit("hold", call=n, held=True)
            await asyncio.sleep(self.args.hold_for)
            await call.unhold()
            self.report.emit("hold", call=n, held=False)
        except (SipError, TimeoutError) as exc:
            self.report.emit("error", call=n, what="hold", message=str(exc))
            failures.append(ExitCode.CALL_FAILED)

    async def _stats(self, call: Call, n: int) -> None:
        while True:
            await asyncio.sleep(self.args.stats_interval)
            await self._stats_once(call, n)

    async def _stats_once(self, call: Call, n: int) -> None:
        if call.ended:
            return
        try:
            s = await call.stats()
        except Exception as exc:  # statistics are best effort
            logger.debug("no statistics for call %d: %s", n, exc)
            return
        self.report.emit(
            "stats",
            call=n,
            codec=s.codec,
            packets_sent=s.packets_sent,
            packets_received=s.packets_received,
            packets_lost=s.local_packets_lost,
            jitter_ms=round(s.local_jitter_ms, 1),
            rtt_ms=None if s.rtt_ms is None else round(s.rtt_ms, 1),
            mos=None if s.mos is None else round(s.mos, 2),
        )


async def run(args: argparse.Namespace, config: PhoneConfig, reporter: Reporter) -> ExitCode:
    """Run the phone until its calls are done or a signal stops it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught: list[str] = []

    def interrupt(sig: signal.Signals) -> None:
        caught.append(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig)
    try:
        async with Phone(config) as phone:
            phone.on_event(reporter.phone_event)
            work = asyncio.ensure_future(PhoneRun(args, phone, reporter).run())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if work.done():
                return work.result()
            reporter.emit("interrupted", signal=caught[0])
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            await _hang_up_all(phone)
            return ExitCode.TERMINATED if caught[0] == "SIGTERM" else ExitCode.INTERRUPTED
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _hang_up_all(phone: Phone) -> None:
    """Hang up every call and wait (briefly) for each to end, so the BYEs are answered."""
    calls = list(phone.calls)
    for call in calls:
        await call.hangup()
    for call in calls:
        with contextlib.suppress(TimeoutError):
            await call.wait_ended(3)


def main(argv: Sequence[str] | None = None, *, prog: str = "sipwebrtc-phone") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    config = config_from(args, parser)
    reporter = Reporter(as_json=args.json)
    try:
        code = asyncio.run(run(args, config, reporter))
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    except (OSError, TransportError) as exc:  # a port in use, a file that cannot be read
        reporter.emit("error", what="system", message=str(exc))
        code = ExitCode.ERROR
    except Exception as exc:
        logger.exception("unexpected error")
        reporter.emit("error", what="internal", message=repr(exc))
        code = ExitCode.ERROR
    reporter.emit("exit", code=int(code), meaning=code.name.lower())
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
