"""The web-client SDK's client object, :class:`WebClient`, over :class:`client.phone.Phone`.

One ``WebClient`` is one phone (one account); several phones are several instances. Methods
keep the SDK's names. Those that start network work (``DoRegister``, ``UnRegister``,
``dial``, ``close``) must be called with a running event loop and return an
``asyncio.Task``: call them and forget, as in the SDK, or ``await`` them; outcomes arrive
through the callbacks given to :meth:`WebClient.initWebrtc`. Callbacks may be plain
functions or coroutine functions.

``CallListenerCallback(callObj, eventType, phone)`` event types:

- ``incoming``: a call rings (``getCall()`` returns it);
- ``connected``: the call is established (answered, ours or theirs);
- ``activeSession``: the established call's session continues after an interruption: its
  media was lost and is flowing again (renewed by re-INVITE);
- ``callEnded``: the call ended locally (``Hangup()``, a cancelled outgoing call, media that
  could not be renewed);
- ``terminated``: the call ended remotely (BYE, CANCEL, busy, declined, unreachable ...).

``RegisterEventCallBack(state, phone)`` states: ``sent_request`` (REGISTER sent),
``registered``, ``unregistered``, ``terminated`` (refused for good, connection given up with
``autoReconnect`` off, or the client closed). With ``autoReconnect`` on (the default) a lost
connection is re-established with jittered backoff and the phone registers again by itself.

``SessionCallback(callState, phone, detail)``: as in the SDK's other callbacks, ``phone`` is
the user name of the phone (account) the notification is about, this client's own; ``detail``
is None or a dict. States: ``websocket_disconnected`` (``detail = {"message": ..., "code":
""}``) when the WebSocket is lost; ``media_permission_denied`` (same ``detail`` shape) when a
call's audio input cannot be opened (the call then sends silence); after
:meth:`WebClient.SessionListener`, in a child, ``incoming``, ``connected`` and ``callEnded``
of the parent's calls (``detail = {"remoteDisplayName": ...}``, the other party of that call)
and ``re-register`` (``detail`` None) in the child that takes over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from client.call import Call
from client.errors import CallStateError, RegistrationFailed
from client.events import (
    CallStateChanged,
    IncomingCallReceived,
    PhoneEvent,
    RegistrationChanged,
)
from client.phone import Phone
from client.states import CallState, EndReason
from client.stream import TaskSet
from media.tracks import FrameSink
from sipcore import account as driver
from sipcore.events import Event
from sipcore.registration import RegState

from .account import WebAccount, parse_account
from .call import WebCall
from .devices import (
    check_input_spec,
    check_output_spec,
    frame_writer,
    open_input,
    open_output,
)
from .diagnostics import Diagnostics
from .extras import ClientExtras
from .logs import registerLoggerCallback
from .multi import SessionCoordinator

__all__ = ["STATUSES", "WebClient"]

logger = logging.getLogger("client.web")

REGISTER_STATES = ("sent_request", "registered", "unregistered", "terminated")
STATUSES = (
    "media_permission_denied",
    "not_initialized",
    "websocket_connection_failed",
    "unregistered",
    "terminated",
    "initial",
    "registered",
    "unknown",
    "disconnected",
    "connecting",
)
"""Every value :meth:`WebClient.checkClientStatus` reports."""

_LOCAL_ENDS = (
    EndReason.LOCAL_HANGUP,
    EndReason.CANCELLED,
    EndReason.MEDIA_TIMEOUT,
    EndReason.MEDIA_FAILED,
)
"""Ends decided on our side: reported as ``callEnded``; every other end is ``terminated``."""

# The WebSocket as checkClientStatus sees it: (link, driver event) -> link. "idle": no
# connection wanted (before DoRegister, after UnRegister).
_LINK: dict[tuple[str, type[Event]], str] = {
    **{(s, driver.Connecting): "connecting" for s in ("idle", "failed", "lost", "connecting")},
    **{(s, driver.Connected): "up" for s in ("idle", "connecting", "failed", "lost")},
    **{(s, driver.ConnectFailed): "failed" for s in ("idle", "connecting", "lost")},
    (("up", driver.Disconnected)): "lost",
}
_LINK_STATUS = {
    "failed": "websocket_connection_failed",
    "lost": "disconnected",
    "connecting": "connecting",
}


_SHARED_STATES = {
    "incoming": "incoming",
    "connected": "connected",
    "callEnded": "callEnded",
    "terminated": "callEnded",
}
"""Call events a parent process tells its children (client.web.multi), by SDK event."""


class WebClient(ClientExtras):
    """One phone with the web-client SDK's calls and callbacks."""

    def __init__(self) -> None:
        self.account: WebAccount | None = None
        self.phone: Phone | None = None
        """The core phone (after ``initWebrtc``), for everything the SDK does not name."""
        self.RegisterEventCallBack: Callable[..., object] | None = None
        self.CallListenerCallback: Callable[..., object] | None = None
        self.SessionCallback: Callable[..., object] | None = None
        self._calls: dict[Call, WebCall] = {}
        self._current: WebCall | None = None
        self._link = "idle"
        self._registration = "initial"
        self._started = False
        self._closed = False
        self._tasks = TaskSet(lambda exc: logger.warning("%s: %r", self.userName, exc), logger)
        self._input_id = ""
        self._output_id = ""
        self._device_callbacks: tuple[Callable[..., object] | None, ...] = (None, None, None)
        self.session: SessionCoordinator | None = None
        self.diagnostics: Diagnostics | None = None
        self._auto_takeover = True

    def __repr__(self) -> str:
        name = self.account.user_name if self.account else "-"
        return f"<WebClient {name} {self._registration}>"

    # -- initialisation ------------------------------------------------------------------------
    def initWebrtc(
        self,
        sipAccountInfo: Mapping[str, Any],
        RegisterEventCallBack: Callable[..., object] | None = None,
        CallListenerCallback: Callable[..., object] | None = None,
        SessionCallback: Callable[..., object] | None = None,
    ) -> bool:
        """Check ``sipAccountInfo`` (ConfigError names a missing or malformed key; the
        secret never appears) and keep the callbacks. Nothing goes on the network yet."""
        if self.phone is not None:
            raise CallStateError("initWebrtc was already called on this client")
        account = parse_account(sipAccountInfo)
        self.account = account
        self.RegisterEventCallBack = RegisterEventCallBack
        self.CallListenerCallback = CallListenerCallback
        self.SessionCallback = SessionCallback
        self._input_id = next(iter(account.inputs))
        self._output_id = next(iter(account.outputs))
        self.phone = Phone(account.phone)
        self.phone.on_event(self._phone_event)
        self.phone.registration.listeners.append(self._driver_event)
        return True

    @property
    def userName(self) -> str:
        return self.account.user_name if self.account else ""

    # -- registration -----------------------------------------------------------------------------
    def DoRegister(self) -> asyncio.Task[None]:
        """Connect and register; ``RegisterEventCallBack`` reports ``sent_request``, then
        ``registered`` or ``terminated``."""
        phone = self._phone()
        return self._tasks.spawn(self._register(phone))

    async def _register(self, phone: Phone) -> None:
        await self._start(phone)
        try:
            await phone.register()
        except (RegistrationFailed, TimeoutError) as exc:
            logger.info("%s: registration did not succeed: %s", self.userName, exc)

    def UnRegister(self) -> asyncio.Task[None]:
        """Remove the binding and stop reconnecting; ``unregistered`` follows when there was
        a binding (registered, or a REGISTER under way). Without one nothing is sent and no
        callback runs: there is no registration state to leave."""
        phone = self._phone()
        return self._tasks.spawn(self._unregister(phone))

    async def _unregister(self, phone: Phone) -> None:
        bound = self._registration == "registered" or phone.registration.state in (
            RegState.REGISTERING,
            RegState.REGISTERED,
        )
        if self._started:
            await phone.unregister()
        self._link = "idle"
        if bound and self._registration != "unregistered":
            # the binding is gone here even when the server did not confirm its removal
            self._registration = "unregistered"
            self._emit_register("unregistered")

    # -- calls ----------------------------------------------------------------------------------
    def getCall(self) -> WebCall | None:
        """The current call (ringing, being set up or up), or None."""
        current = self._current
        return current if current is not None and not current.call.ended else None

    def dial(self, target: str) -> asyncio.Task[WebCall]:
        """Call ``target`` (a user of our domain or a SIP URI) with the current audio
        devices; ``connected`` follows when it is answered."""
        phone = self._phone()
        return self._tasks.spawn(self._dial(phone, target))

    async def _dial(self, phone: Phone, target: str) -> WebCall:
        await self._start(phone)
        source = self._open_source()
        call = await phone.dial(target, source=source)
        web = self._wrap(call)
        web.source = source
        self._attach_output(web)
        return web

    # -- status ---------------------------------------------------------------------------------
    def checkClientStatus(self, callback: Callable[[str], object] | None = None) -> str:
        """Whether the client can take calls, as one of :data:`STATUSES`; also passed to
        ``callback``. Checked in order: initialised, audio input opens, WebSocket, then
        registration:

        ``not_initialized`` (no ``initWebrtc``), ``media_permission_denied`` (the current
        audio input cannot be opened), ``websocket_connection_failed`` (the last connection
        attempt failed), ``disconnected`` (the connection was lost), ``connecting`` (a
        connection attempt is under way), then ``initial`` (not registered yet, or a REGISTER
        awaits its answer), ``registered``, ``unregistered``, ``terminated`` (refused for
        good), and ``unknown`` once the client is closed."""
        status = self._status()
        if callback is not None:
            self._call(callback, status)
        return status

    def _status(self) -> str:
        if self.account is None:
            return "not_initialized"
        if self._closed:
            return "unknown"
        try:
            track = open_input(self.account.inputs[self._input_id])
        except Exception as exc:  # AudioDeviceError, OSError, ValueError ...
            logger.info(
                "%s: audio input %r cannot be opened: %s", self.userName, self._input_id, exc
            )
            return "media_permission_denied"
        track.stop()
        if self._link in _LINK_STATUS:
            return _LINK_STATUS[self._link]
        assert self.phone is not None
        if self.phone.registration.state is RegState.REGISTERING:
            return "initial"
        return self._registration

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> asyncio.Task[None]:
        """Hang up, unregister and stop the stack; ``terminated`` follows."""
        phone = self._phone()
        return self._tasks.spawn(self._close(phone))

    async def _close(self, phone: Phone) -> None:
        if self._closed:
            return
        self._closed = True
        if self.session is not None:
            await self.session.close()  # another process takes over
        await phone.close()
        self._registration = "terminated"
        self._emit_register("terminated")

    # -- audio devices ----------------------------------------------------------------------------
    def registerAudioDeviceChangeCallback(
        self,
        audioInputDeviceChangeCallback: Callable[[str], object] | None,
        audioOutputDeviceCallback: Callable[[str], object] | None,
        onDeviceChangeCallback: Callable[[str, str], object] | None = None,
    ) -> None:
        """Be told when the default input or output device changes (see
        :meth:`setAudioDevices`): the first two get the new default's id. Without
        ``onDeviceChangeCallback`` the client switches to the new default itself; with it,
        it only calls ``onDeviceChangeCallback(kind, deviceId)`` (kind ``input`` or
        ``output``) and leaves the choice to the application."""
        self._device_callbacks = (
            audioInputDeviceChangeCallback,
            audioOutputDeviceCallback,
            onDeviceChangeCallback,
        )

    def audioDevices(self) -> dict[str, dict[str, str]]:
        """The devices, ``{"input": {id: spec}, "output": {id: spec}}``; the first of each is
        the default."""
        account = self._account()
        return {"input": dict(account.inputs), "output": dict(account.outputs)}

    @property
    def audioInputDevice(self) -> str:
        return self._input_id

    @property
    def audioOutputDevice(self) -> str:
        return self._output_id

    def setAudioDevices(
        self, inputs: Mapping[str, str] | None = None, outputs: Mapping[str, str] | None = None
    ) -> None:
        """Replace the device lists (a browser's ``devicechange``): when the default (first)
        device changes, the device change callbacks run."""
        account = self._account()
        new_inputs = dict(inputs if inputs is not None else account.inputs)
        new_outputs = dict(outputs if outputs is not None else account.outputs)
        for spec in new_inputs.values():
            check_input_spec(spec)
        for spec in new_outputs.values():
            check_output_spec(spec)
        if not new_inputs or not new_outputs:
            raise ValueError("at least one input and one output device are needed")
        old_in, old_out = next(iter(account.inputs)), next(iter(account.outputs))
        account.inputs.clear()
        account.inputs.update(new_inputs)
        account.outputs.clear()
        account.outputs.update(new_outputs)
        in_cb, out_cb, change_cb = self._device_callbacks
        for kind, old, devices, callback in (
            ("input", old_in, new_inputs, in_cb),
            ("output", old_out, new_outputs, out_cb),
        ):
            default = next(iter(devices))
            current = self._input_id if kind == "input" else self._output_id
            if default == old and current in devices:
                continue
            if callback is not None:
                self._call(callback, default)
            if change_cb is not None:
                self._call(change_cb, kind, default)
            else:
                self._change_device(kind, default, None, None)

    def changeAudioInputDevice(
        self,
        deviceId: str,
        onSuccess: Callable[[], object] | None = None,
        onError: Callable[[str], object] | None = None,
        forceDeviceChange: bool = False,
    ) -> None:
        """Use ``deviceId`` for the microphone from now on, in the current call too (no
        renegotiation). ``onError(message)`` when it is unknown or cannot be opened."""
        self._change_device("input", deviceId, onSuccess, onError)

    def changeAudioOutputDevice(
        self,
        deviceId: str,
        onSuccess: Callable[[], object] | None = None,
        onError: Callable[[str], object] | None = None,
        forceDeviceChange: bool = False,
    ) -> None:
        """Play received audio on ``deviceId`` from now on, in the current call too."""
        self._change_device("output", deviceId, onSuccess, onError)

    def _change_device(
        self,
        kind: str,
        deviceId: str,
        onSuccess: Callable[[], object] | None,
        onError: Callable[[str], object] | None,
    ) -> None:
        account = self._account()
        spec = (account.inputs if kind == "input" else account.outputs).get(deviceId)
        if spec is None:
            self._fail(onError, f"unknown audio {kind} device {deviceId!r}")
            return
        call = self.getCall()
        if call is not None:
            try:
                device = open_input(spec) if kind == "input" else open_output(spec)
            except Exception as exc:
                self._fail(onError, f"audio {kind} {deviceId!r} cannot be opened: {exc}")
                return
            if isinstance(device, FrameSink):
                self._use_sink(call, device)
            else:
                self._use_source(call, device)
        if kind == "input":
            self._input_id = deviceId
        else:
            self._output_id = deviceId
        if onSuccess is not None:
            self._call(onSuccess)

    registerLoggerCallback = staticmethod(registerLoggerCallback)

    # -- internals ------------------------------------------------------------------------------
    def _account(self) -> WebAccount:
        if self.account is None:
            raise CallStateError("initWebrtc must be called first")
        return self.account

    def _phone(self) -> Phone:
        if self.phone is None:
            raise CallStateError("initWebrtc must be called first")
        return self.phone

    async def _start(self, phone: Phone) -> None:
        if self._closed:
            raise CallStateError("the client is closed")
        if not self._started:
            self._started = True
            await phone.__aenter__()

    def _call(self, callback: Callable[..., object], *args: Any) -> None:
        """Run an application callback (plain or coroutine function); errors are logged."""
        self._tasks.call(callback, *args, what=f"{self.userName}: callback")

    def _fail(self, onError: Callable[[str], object] | None, message: str) -> None:
        logger.info("%s: %s", self.userName, message)
        if onError is not None:
            self._call(onError, message)

    def _emit_register(self, state: str) -> None:
        if self.RegisterEventCallBack is not None:
            self._call(self.RegisterEventCallBack, state, self.userName)

    def _emit_call(self, web: WebCall, event: str) -> None:
        if self.CallListenerCallback is not None:
            self._call(self.CallListenerCallback, web, event, self.userName)
        shared = _SHARED_STATES.get(event)
        if shared is not None and self.session is not None and self.session.role == "parent":
            self.session.publish(shared, web.remoteDisplayName)

    def _emit_session(self, state: str, detail: dict[str, Any] | None = None) -> None:
        if self.SessionCallback is not None:
            self._call(self.SessionCallback, state, self.userName, detail)

    def _driver_event(self, event: Event) -> None:
        link = _LINK.get((self._link, type(event)))
        if link is not None:
            self._link = link
        if isinstance(event, driver.Disconnected):
            self._emit_session("websocket_disconnected", {"message": event.reason, "code": ""})

    def _phone_event(self, event: PhoneEvent) -> None:
        if isinstance(event, RegistrationChanged):
            if event.state in REGISTER_STATES:
                if event.state != "sent_request":
                    self._registration = event.state
                self._emit_register(event.state)
        elif isinstance(event, IncomingCallReceived):
            web = self._wrap(event.call)
            self._use_source(web, self._open_source())
            self._attach_output(web)
            self._emit_call(web, "incoming")
        elif isinstance(event, CallStateChanged):
            known = self._calls.get(event.call)
            if known is not None:
                self._call_changed(known, event)

    def _call_changed(self, web: WebCall, event: CallStateChanged) -> None:
        if event.state is CallState.ESTABLISHED:
            renewed = event.previous in (CallState.MEDIA_DISRUPTED, CallState.RENEWING_MEDIA)
            self._emit_call(web, "activeSession" if renewed else "connected")
        elif event.state is CallState.ENDED:
            self._calls.pop(event.call, None)
            local = web.hungUp or event.reason in _LOCAL_ENDS
            self._emit_call(web, "callEnded" if local else "terminated")

    def _wrap(self, call: Call) -> WebCall:
        web = self._calls.get(call)
        if web is None:
            web = WebCall(self, call)
            self._calls[call] = web
            call.on_event(partial(_release_devices_at_end, web))
        self._current = web
        return web

    def _open_source(self) -> MediaStreamTrack:
        """The current input opened; silence (and ``media_permission_denied`` through the
        session callback) when it cannot be opened."""
        account = self._account()
        try:
            return open_input(account.inputs[self._input_id])
        except Exception as exc:
            logger.warning("%s: audio input %r: %s", self.userName, self._input_id, exc)
            self._emit_session("media_permission_denied", {"message": str(exc), "code": ""})
            return open_input("silence")

    @staticmethod
    def _use_source(web: WebCall, track: MediaStreamTrack) -> None:
        """Send ``track`` in ``web``'s call; the input track we opened before is stopped
        (a device is released), a track the application set on the core call is left alone."""
        old, web.source = web.source, track
        web.call.set_source(track)
        if old is not None:
            old.stop()

    def _attach_output(self, web: WebCall) -> None:
        """Play ``web``'s received audio on the current output."""
        self._use_sink(web, open_output(self._account().outputs[self._output_id]))

    @staticmethod
    def _use_sink(web: WebCall, sink: FrameSink) -> None:
        """Play ``web``'s received audio on ``sink``; the sink it had before is closed."""
        old, web.sink = web.sink, sink
        web.call.on_audio = frame_writer(sink)
        if old is not None:
            old.close()


def _release_devices_at_end(web: WebCall, event: PhoneEvent) -> None:
    if not (isinstance(event, CallStateChanged) and event.state is CallState.ENDED):
        return
    if web.sink is not None:
        web.sink.close()
    if web.source is not None:
        web.source.stop()
