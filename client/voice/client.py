"""The mobile voice SDK's client: :class:`VoiceClient` and its :class:`CallController`, a thin
mapping onto :class:`client.phone.Phone`. Protocol pieces live in ``sipcore`` (Bearer tokens
in :mod:`sipcore.bearer` / :mod:`sipcore.registration`, push parameters in :mod:`sipcore.push`).

Operations that start network work return an ``asyncio.Task``: fire and forget as on Android,
or ``await`` it. Outcomes are also reported to the listeners, which may be plain or async.

Token lifecycle, the same in both authentication modes: the subscriber token authenticates
every REGISTER (RFC 8898 Bearer, or as the digest password with ``auth_mode="digest"``). When
the platform refuses it as stale (a Bearer ``invalid_token`` saying it expired; in digest mode
any rejected password, since digest cannot tell expired from wrong), the client asks the
context's ``token_provider`` once for a fresh token and registers again with it by itself.
Without a provider, when it gives nothing new, or when the fresh token is refused too,
``onAuthenticationFailure`` reports it (``AUTHENTICATION_EXPIRED_TOKEN`` or
``AUTHENTICATION_INVALID_TOKEN``) and the client does not try again: no loop with a provider
that keeps handing out bad tokens.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime

from client.call import Call
from client.config import PhoneConfig
from client.errors import ConfigError
from client.events import CallStateChanged, IncomingCallReceived, MissedCall, PhoneEvent
from client.phone import Phone
from client.states import CallState
from client.stream import TaskSet
from media.devices import SpeakerSink
from media.tracks import FrameSink
from sipcore.errors import LocalProtocolError
from sipcore.events import Event
from sipcore.registration import AuthenticationFailed, Registered, RegistrationSent
from sipcore.stack import parse_target

from . import https
from .call import AudioRoute, CallDetails, VoiceCall
from .context import VoiceContext
from .errors import ErrorType, VoiceError
from .listeners import CallListener, VoiceClientEventListener, notify
from .logs import VoiceLog, redact

__all__ = ["CallController", "VoiceClient"]

logger = logging.getLogger("client.voice")


_STATE_CALLBACKS = {
    CallState.CONNECTING: "onCallInitiated",
    CallState.RINGING: "onCallRinging",
    CallState.EARLY_MEDIA: "onCallRinging",
    CallState.ESTABLISHED: "onCallEstablished",
    CallState.MEDIA_DISRUPTED: "onMediaDisrupted",
    CallState.RENEWING_MEDIA: "onRenewingMedia",
    CallState.ENDED: "onCallEnded",
}
_AUTH_ERRORS = {
    "expired": ErrorType.AUTHENTICATION_EXPIRED_TOKEN,
    "invalid": ErrorType.AUTHENTICATION_INVALID_TOKEN,
    "credentials": ErrorType.AUTHENTICATION_INVALID_TOKEN,
}


class CallController:
    """Calls of a client: ``dial``, the call listener and the latest call's details."""

    def __init__(self, client: VoiceClient) -> None:
        self._client = client
        self.listener: CallListener | None = None

    def setCallListener(self, listener: CallListener) -> None:
        self.listener = listener

    def removeCallListener(self) -> None:
        self.listener = None

    def dial(self, remoteId: str, message: str = "") -> asyncio.Task[VoiceCall]:
        """Call the subscriber ``remoteId``; ``message`` travels to the platform in the
        context's ``dial_header`` (``X-Dial-Message``) for its dial-whom lookup."""
        return self._client._tasks.spawn(self._client._dial(remoteId, message))

    def getLatestCallDetails(self) -> CallDetails | None:
        latest = self._client._latest
        return latest.getCallDetails() if latest is not None else None

    def getCalls(self) -> list[VoiceCall]:
        return [c for c in self._client._calls.values() if not c.call.ended]


class VoiceClient:
    """One subscriber of the platform. The module functions of :mod:`client.voice` act on a
    default instance, as the SDK is a singleton; several instances are fine in Python."""

    def __init__(self) -> None:
        self.context: VoiceContext | None = None
        self.subscriber_name = ""
        self.display_name = ""
        self.account_sid = ""
        self.session_id = ""
        self.phone: Phone | None = None
        self.listener: VoiceClientEventListener | None = None
        self.controller = CallController(self)
        self._token = ""
        self._secrets: set[str] = set()
        self._log: VoiceLog | None = None
        self._initialized = False
        self._initializing = False
        self._calls: dict[Call, VoiceCall] = {}
        self._latest: VoiceCall | None = None
        # a failure is logged so that fire-and-forget callers get a log line
        self._tasks = TaskSet(lambda exc: logger.info("%s", exc))
        self._sinks: dict[AudioRoute, FrameSink | None] = {}
        self._refreshing = False
        self._auth_failures: list[str] = []
        self._tenant: tuple[tuple[str, str], ...] = ()

    # -- the SDK's API ----------------------------------------------------------------------------
    def setEventListener(self, listener: VoiceClientEventListener) -> None:
        self.listener = listener

    def isInitialized(self) -> bool:
        return self._initialized

    def getCallController(self) -> CallController:
        return self.controller

    def initialize(
        self,
        context: VoiceContext,
        hostname: str,
        subscriberName: str,
        displayName: str,
        accountSid: str,
        subscriberToken: str,
    ) -> asyncio.Task[bool]:
        """Connect to ``hostname`` (``host[:port]`` for WSS, or a full target such as
        ``wss://...`` / ``tls:host:port``) and register ``subscriberName`` with its token.
        Ends in ``onInitializationSuccess`` or ``onInitializationFailure``; the task gives
        True on success. Initializing again replaces the previous session."""
        return self._tasks.spawn(
            self._initialize(
                context, hostname, subscriberName, displayName, accountSid, subscriberToken
            )
        )

    def stop(self) -> asyncio.Task[None]:
        """Hang up, unregister, close the log; then ``onDeinitialized``."""
        return self._tasks.spawn(self._stop())

    def relaySessionData(self, payload: Mapping[str, str]) -> asyncio.Task[bool]:
        """Hand over a push message's data (RFC 8599): the client connects and registers
        again, and the platform then delivers the waiting call (``onIncomingCall``)."""
        return self._tasks.spawn(self._relay(payload))

    def uploadLogs(
        self, startDate: datetime, endDate: datetime, description: str
    ) -> asyncio.Task[None]:
        """Post the log lines of [startDate, endDate] to the context's ``log_upload_url``;
        then ``onUploadLogSuccess`` or ``onUploadLogFailure``."""
        return self._tasks.spawn(self._upload(startDate, endDate, description))

    # -- lifecycle ----------------------------------------------------------------------------
    async def _initialize(
        self,
        context: VoiceContext,
        hostname: str,
        name: str,
        display: str,
        sid: str,
        token: str,
    ) -> bool:
        if self.phone is not None:
            await self._teardown(unregister=True)
        self._initializing = True
        try:
            return await self._setup(context, hostname, name, display, sid, token)
        finally:
            self._initializing = False

    async def _setup(
        self, context: VoiceContext, hostname: str, name: str, display: str, sid: str, token: str
    ) -> bool:
        self.context = context
        self._remember_token(token)
        self._open_log(context)
        given = (("hostname", hostname), ("subscriberName", name), ("subscriberToken", token))
        missing = [key for key, value in given if not value]
        if missing:
            return self._init_failed(
                VoiceError(ErrorType.INVALID_PARAMETER, f"missing {', '.join(missing)}")
            )
        self.subscriber_name, self.display_name, self.account_sid = name, display, sid
        self.session_id = str(uuid.uuid4())
        try:
            phone = self._make_phone(context, hostname)
        except (ConfigError, LocalProtocolError, ValueError) as exc:
            return self._init_failed(VoiceError(ErrorType.INVALID_PARAMETER, str(exc)))
        self.phone = phone
        await phone.__aenter__()
        logger.info("initializing %s on %s (session %s)", name, hostname, self.session_id)
        failure: VoiceError | None = None
        for attempt in range(2):
            failure = await self._register()
            if failure is None:
                self._initialized = True
                logger.info("initialized %s", name)
                notify(self.listener, "onInitializationSuccess")
                return True
            stale = self._stale()
            if stale and attempt == 0 and await self._fresh_token():
                continue
            break
        assert failure is not None
        if failure.type in _AUTH_ERRORS.values():
            notify(self.listener, "onAuthenticationFailure", failure)
        await self._teardown(unregister=False)
        return self._init_failed(failure)

    def _make_phone(self, context: VoiceContext, hostname: str) -> Phone:
        target = (
            hostname
            if "://" in hostname or hostname.split(":", maxsplit=1)[0] in ("udp", "tcp", "tls")
            else f"wss://{hostname}"
        )
        _, host, _, _ = parse_target(target)
        domain = context.sip_domain or host
        bearer = context.auth_mode == "bearer"
        tenant: tuple[tuple[str, str], ...] = ()
        if context.account_header and self.account_sid:
            tenant = ((context.account_header, self.account_sid),)
        config = PhoneConfig(
            aor=f"sip:{self.subscriber_name}@{domain}",
            server=target,
            password=None if bearer else self._token,
            display_name=self.display_name or None,
            ca_file=context.ca_file,
            tls_verify=context.tls_verify,
            media=context.media,
            user_agent="sipwebrtc-voice",
            media_timeout=context.media_timeout,
            media_renewals=context.media_renewals,
        )
        phone = Phone(
            config,
            token=(lambda: self._token) if bearer else None,
            contact_params=context.push.contact_params() if context.push else (),
            register_headers=tenant,
        )
        self._tenant = tenant
        phone.on_event(self._phone_event)
        phone.registration.listeners.append(self._account_event)
        return phone

    async def _register(self) -> VoiceError | None:
        """Register once: None when registered, else why not."""
        assert self.phone is not None and self.context is not None
        self._auth_failures.clear()
        try:
            outcome = await self.phone.registration.register(self.context.register_timeout)
        except TimeoutError:
            return VoiceError(ErrorType.NETWORK_ERROR, "the server did not answer in time")
        if isinstance(outcome, Registered):
            return None
        if self._auth_failures:
            kind = self._auth_failures[-1]
            return VoiceError(
                _AUTH_ERRORS.get(kind, ErrorType.REGISTRATION_FAILED), f"token {kind}"
            )
        reason = getattr(outcome, "reason", None) or type(outcome).__name__
        return VoiceError(ErrorType.REGISTRATION_FAILED, str(reason))

    async def _fresh_token(self) -> bool:
        """Ask the token provider for a new token; True when it gave a different one."""
        provider = self.context.token_provider if self.context else None
        if provider is None:
            return False
        try:
            result = provider()
            token = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            logger.warning("token provider failed: %s", type(exc).__name__)
            return False
        if not token or token == self._token:
            return False
        self._remember_token(str(token))
        if self.phone is not None and self._digest():
            self.phone.set_password(self._token)  # bearer mode reads self._token itself
        logger.info("subscriber token refreshed")
        return True

    def _digest(self) -> bool:
        return self.context is not None and self.context.auth_mode == "digest"

    def _stale(self) -> bool:
        """Whether the last refusal may be cured by a fresh token: an expired Bearer token,
        or in digest mode any rejected password."""
        if not self._auth_failures:
            return False
        kind = self._auth_failures[-1]
        return kind == "expired" or (kind == "credentials" and self._digest())

    async def _refresh_after_expiry(self) -> None:
        """The platform refused a refresh REGISTER as stale: re-register once with a fresh
        token, or report the failure. Events of that one attempt do not start another."""
        if self._refreshing:
            return
        self._refreshing = True
        try:
            if await self._fresh_token():
                failure = await self._register()
                if failure is None:
                    return
            else:
                failure = VoiceError(ErrorType.AUTHENTICATION_EXPIRED_TOKEN, "token expired")
            notify(self.listener, "onAuthenticationFailure", failure)
        finally:
            self._refreshing = False

    def _init_failed(self, error: VoiceError) -> bool:
        logger.warning("initialization failed: %s", error)
        notify(self.listener, "onInitializationFailure", error)
        return False

    async def _stop(self) -> None:
        was = self.phone is not None
        await self._teardown(unregister=True)
        if was:
            notify(self.listener, "onDeinitialized")

    async def _teardown(self, *, unregister: bool) -> None:
        phone, self.phone = self.phone, None
        self._initialized = False
        if phone is not None:
            await phone.close(unregister=unregister)
        logger.info("deinitialized %s", self.subscriber_name)
        if self._log is not None:
            self._log.close()
            self._log = None
        # sinks we opened are closed; the context's own are the application's
        ctx = self.context
        given = (ctx.speaker_sink, ctx.earpiece_sink) if ctx is not None else ()
        for sink in self._sinks.values():
            if sink is not None and sink not in given:
                sink.close()
        self._sinks.clear()

    async def suspend(self) -> None:
        """What the OS does to a backgrounded app: the connection drops without an
        unregistration, so the platform reaches the app by push (``relaySessionData``)."""
        phone = self._require()
        flow = phone.registration.flow
        await phone.registration.stop(unregister=False)
        if flow is not None:
            phone.stack.close_flow(flow)
        logger.info("suspended: the connection is closed, calls arrive by push")

    async def _relay(self, payload: Mapping[str, str]) -> bool:
        phone = self._require()
        push = self.context.push if self.context else None
        if not isinstance(payload, Mapping) or (
            push is not None and payload.get("pn-prid") not in (None, push.prid)
        ):
            raise VoiceError(ErrorType.INVALID_PARAMETER, "not a push payload for this device")
        logger.info("push for call %s from %s", payload.get("call_id"), payload.get("caller"))
        if phone.registration.running() and phone.registered:
            return True
        failure = await self._register()
        if failure is not None:
            logger.warning("could not wake for the pushed call: %s", failure)
            raise failure
        return True

    # -- calls --------------------------------------------------------------------------------
    async def _dial(self, remote_id: str, message: str) -> VoiceCall:
        phone = self._require()
        if not remote_id:
            raise VoiceError(ErrorType.INVALID_PARAMETER, "remoteId is empty")
        assert self.context is not None
        headers = list(self._tenant)
        if message:
            headers.append((self.context.dial_header, message))
        call = await phone.dial(remote_id, headers=headers or None)
        return self._voice(call)

    def _voice(self, call: Call) -> VoiceCall:
        voice = self._calls.get(call)
        if voice is None:
            voice = self._calls[call] = VoiceCall(self, call)
            self._latest = voice
        return voice

    def _phone_event(self, event: PhoneEvent) -> None:
        listener = self.controller.listener
        if isinstance(event, IncomingCallReceived):
            notify(listener, "onIncomingCall", self._voice(event.call))
        elif isinstance(event, CallStateChanged):
            name = _STATE_CALLBACKS.get(event.state)
            voice = self._voice(event.call)
            if event.state is CallState.ENDED:
                self._calls.pop(event.call, None)
            if name is not None and not (
                name == "onCallInitiated" and event.call.direction == "incoming"
            ):
                notify(listener, name, voice)
        elif isinstance(event, MissedCall):
            remote = event.remote.split(":", 1)[-1].split("@", 1)[0]
            notify(listener, "onMissedCall", remote, event.time)

    def _account_event(self, event: Event) -> None:
        if isinstance(event, RegistrationSent):
            text = bytes(event.request).decode("utf-8", "replace")
            logger.debug("sent:\n%s", redact(text, self._secrets))
        elif isinstance(event, AuthenticationFailed):
            self._auth_failures.append(event.kind)
            logger.warning("authentication failed: %s", event.kind)
            if not self._initializing and self._initialized and not self._refreshing:
                if self._stale():
                    self._tasks.spawn(self._refresh_after_expiry())
                else:
                    error = VoiceError(
                        _AUTH_ERRORS.get(event.kind, ErrorType.REGISTRATION_FAILED), event.reason
                    )
                    notify(self.listener, "onAuthenticationFailure", error)

    # -- logs ---------------------------------------------------------------------------------
    def _open_log(self, context: VoiceContext) -> None:
        if self._log is not None:
            self._log.close()
        self._log = VoiceLog(
            context.data_dir,
            max_bytes=context.log_max_bytes,
            backups=context.log_backups,
            level=context.log_level,
            secrets=lambda: self._secrets,
            on_log=lambda level, tag, text: notify(self.listener, "onLog", level, tag, text),
        )
        self._log.open()

    async def _upload(self, start: datetime, end: datetime, description: str) -> None:
        try:
            ctx = self.context
            if ctx is None or self._log is None:
                raise VoiceError(ErrorType.NOT_INITIALIZED, "initialize first")
            if ctx.log_upload_url is None:
                raise VoiceError(ErrorType.INVALID_PARAMETER, "no log_upload_url in the context")
            if end < start:
                raise VoiceError(ErrorType.INVALID_PARAMETER, "endDate is before startDate")
            document = {
                "account_sid": self.account_sid,
                "subscriber": self.subscriber_name,
                "session_id": self.session_id,
                "description": description,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "lines": self._log.lines(start, end),
            }
            body = gzip.compress(json.dumps(document).encode())
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            try:
                await https.post(
                    ctx.log_upload_url, body, headers, ca_file=ctx.ca_file, verify=ctx.tls_verify
                )
            except (OSError, ValueError) as exc:
                raise VoiceError(ErrorType.UPLOAD_FAILED, str(exc)) from None
        except VoiceError as error:
            logger.warning("log upload failed: %s", error)
            notify(self.listener, "onUploadLogFailure", error)
            return
        logger.info("logs uploaded for %s", self.subscriber_name)
        notify(self.listener, "onUploadLogSuccess")

    # -- helpers ------------------------------------------------------------------------------
    def _remember_token(self, token: str) -> None:
        self._token = token
        if token:
            self._secrets.add(token)

    def _require(self) -> Phone:
        if self.phone is None or not self._initialized:
            raise VoiceError(ErrorType.NOT_INITIALIZED, "initialize first")
        return self.phone

    def _sink(self, route: AudioRoute) -> FrameSink | None:
        if route in self._sinks:
            return self._sinks[route]
        ctx = self.context
        configured = None
        if ctx is not None:
            configured = ctx.speaker_sink if route is AudioRoute.SPEAKER else ctx.earpiece_sink
        if configured is None and ctx is not None:
            device = ctx.speaker_device if route is AudioRoute.SPEAKER else ctx.earpiece_device
            try:
                configured = SpeakerSink(device)
            except Exception as exc:
                logger.info("no %s output (%s): received audio is not played", route.value, exc)
        self._sinks[route] = configured
        return configured
