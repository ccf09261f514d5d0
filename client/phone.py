"""The pythonic core API: one :class:`Phone` per SIP account.

::

    async with Phone(PhoneConfig(aor="sip:alice@example.com", server="wss://example.com",
                                 password=...)) as phone:
        await phone.register()
        call = await phone.dial("bob")
        await call.wait_established()
        ...
        async for call in phone.incoming():
            await call.answer()

The phone owns a :class:`~sipcore.stack.SipStack`, an :class:`~sipcore.account.Account` (the
registration, kept alive and re-established after connection loss) and the UA core
(:class:`~sipcore.ua.UserAgent`); it turns the UA core's events into :class:`~client.call.Call`
state and :mod:`client.events`. Call policy: one call at a time unless ``multi_call`` is set;
a second incoming call is answered 486 Busy Here and reported as a :class:`MissedCall`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TypeVar

from aiortc.mediastreams import MediaStreamTrack

from sipcore import account as driver
from sipcore.account import Account, local_identity
from sipcore.call import LocalIdentity
from sipcore.digest_client import DigestClient
from sipcore.errors import ParseError
from sipcore.events import Event
from sipcore.flow import Flow
from sipcore.registration import (
    AuthenticationFailed,
    Registered,
    RegistrationConfig,
    RegistrationSent,
    RegistrationTerminated,
    RegState,
    Unregistered,
)
from sipcore.stack import SipStack, StackConfig
from sipcore.transfer import ReferReceived
from sipcore.transport import Transport
from sipcore.ua import Call as CoreCall
from sipcore.ua import CallEnded, IncomingCall, UserAgent
from sipcore.uri import NameAddr, SipUri, Uri, parse_uri

from .call import SDP, Call, CallState, EndReason
from .config import PhoneConfig, parse_listen
from .errors import CallStateError, ConfigError, RegistrationFailed
from .events import (
    CallStateChanged,
    IncomingCallReceived,
    MissedCall,
    PhoneEvent,
    RegistrationChanged,
    TransferRequested,
)
from .states import Input
from .stream import EventHub, Subscription

__all__ = ["Phone"]

logger = logging.getLogger("client.phone")
T = TypeVar("T")

_FLOW_EVENTS: dict[type[Event], str] = {
    driver.Connecting: "connecting",
    driver.Connected: "connected",
    driver.ConnectFailed: "disconnected",
    driver.Disconnected: "disconnected",
    driver.Reconnecting: "reconnecting",
}
_MISSED = {EndReason.REMOTE_CANCELLED: "cancelled", EndReason.TIMEOUT: "timeout"}
"""Why an incoming call that ended before it was answered counts as missed."""


class Phone:
    """A SIP account with calls: ``async with Phone(config) as phone``."""

    def __init__(
        self,
        config: PhoneConfig,
        *,
        stack_config: StackConfig | None = None,
        token: Callable[[], str | None] | None = None,
        contact_params: tuple[tuple[str, str | None], ...] = (),
        register_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """``token`` gives the Bearer token each REGISTER carries (RFC 8898) instead of digest;
        ``contact_params`` are extra Contact parameters (e.g. RFC 8599 push parameters) and
        ``register_headers`` extra headers of every REGISTER."""
        self.config = config
        self.stack = SipStack(
            stack_config
            or StackConfig(
                ca_file=config.ca_file, tls_verify=config.tls_verify, user_agent=config.user_agent
            )
        )
        self.account: Account | None = None
        """The registration through ``config.server``; None for a phone without a server."""
        if config.server is not None:
            self.account = self.stack.account(
                RegistrationConfig(
                    aor=config.uri,
                    username=config.auth_user,
                    password=config.password,
                    display_name=config.display_name,
                    expires=config.register_expires,
                    user_agent=config.user_agent,
                    contact_params=contact_params,
                    headers=register_headers,
                ),
                config.server,
                reconnect=config.auto_reconnect,
                token=token,
            )
            self.account.listeners.append(self._account_event)
        self.ua = UserAgent(
            self.stack.layer,
            self.account.identity if self.account is not None else self._identity,
            credentials=_digest(config),
            user_agent=config.user_agent,
            keep_calls=config.auto_reconnect and config.flow_recovery_timeout > 0,
        )
        # the stack answers OPTIONS (§11.2) and checks requests with what the UA core supports
        self.stack.config = replace(self.stack.config, policy=self.ua.policy)
        self.listeners: list[Transport] = []
        """The transports listening for ``config.listen``, once the phone is entered."""
        self.stack.users.append(_PhoneUser(self))
        self.calls: list[Call] = []
        """Calls not ended yet."""
        self._by_core: dict[str, Call] = {}
        self._events = EventHub[PhoneEvent]()
        self._incoming = EventHub[Call](maxsize=100)
        self._dispatching = False
        self._flow: Flow | None = None  # a flow of our own when dialing unregistered

    # -- lifecycle ----------------------------------------------------------------------------
    async def __aenter__(self) -> Phone:
        await self.stack.__aenter__()
        try:
            for spec in self.config.listen:
                transport, host, port = parse_listen(spec)
                self.listeners.append(await self.stack.listen(transport, host, port))
        except BaseException:
            await self.stack.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, *, unregister: bool = True) -> None:
        """Hang up every call, unregister when registered (unless ``unregister`` is False: the
        binding is left to expire), close the stack."""
        for call in list(self.calls):
            await call.hangup()
        if self.calls:
            await asyncio.sleep(0.05)  # let the BYEs and CANCELs leave
        if self.account is not None:
            await self.account.stop(unregister=unregister and self.account.flow is not None)
        await self.stack.close()

    # -- registration ---------------------------------------------------------------------------
    @property
    def registration(self) -> Account:
        """The account registering through ``config.server``; ConfigError without a server."""
        if self.account is None:
            raise ConfigError("the phone has no server to register with")
        return self.account

    async def register(self, timeout: float = 35.0) -> None:
        """Register (and keep the binding alive); RegistrationFailed if the registrar refuses."""
        outcome = await self.registration.register(timeout)
        if not isinstance(outcome, Registered):
            status = getattr(outcome, "status", None)
            raise RegistrationFailed(f"registration failed: {outcome}", status=status)

    async def unregister(self) -> None:
        if self.account is not None:
            await self.account.stop(unregister=True)

    def set_password(self, password: str) -> None:
        """Use a new digest password (a rotated secret) for REGISTERs and calls from now on;
        ``account.refresh()`` registers with it at once."""
        self.config = dataclasses.replace(self.config, password=password)
        if self.account is not None:
            self.account.registration.set_password(password)
        self.ua.credentials = _digest(self.config)

    @property
    def registered(self) -> bool:
        return self.account is not None and self.account.state is RegState.REGISTERED

    # -- calls ------------------------------------------------------------------------------------
    async def dial(
        self,
        target: str | Uri,
        *,
        headers: list[tuple[str, str]] | None = None,
        source: MediaStreamTrack | None = None,
    ) -> Call:
        """Place a call to ``target`` (a user name in our domain, or a SIP URI) and return it
        once the INVITE is sent; ``await call.wait_established()`` waits for the answer."""
        uri = self._target(target)
        if not self.config.multi_call and self.calls:
            raise CallStateError("a call is already in progress (multi_call is off)")
        return await self._place(uri, headers, source)

    async def _place(
        self, uri: Uri, headers: list[tuple[str, str]] | None, source: MediaStreamTrack | None
    ) -> Call:
        call = Call(self, "outgoing", source)
        call._move(Input.DIAL)
        self.calls.append(call)
        try:
            flow = await self._dial_flow(uri)
            offer = await call.media.create_offer()
        except Exception:
            call._finish(EndReason.FAILURE)
            raise
        if call.ended:  # hung up while the offer was being made
            return call
        me = NameAddr(self.config.uri, self.config.display_name)
        core = self._act(
            lambda ua, now: ua.invite(
                uri,
                from_addr=me,
                flow=flow,
                now=now,
                body=offer,
                content_type=SDP,
                headers=headers,
            )
        )
        call.core = core
        self._by_core[core.id] = call
        call._move(Input.INVITE_SENT)
        return call

    def incoming(self) -> Subscription[Call]:
        """Incoming calls from now on (each is ringing; ``answer()`` or ``reject()`` it)."""
        return self._incoming.subscribe()

    def events(self) -> AsyncIterator[PhoneEvent]:
        """Every event of the phone and its calls, from now on."""
        return self._events.subscribe()

    def on_event(self, callback: Callable[[PhoneEvent], object]) -> None:
        """Call ``callback`` (plain or async) with every event."""
        self._events.listeners.append(callback)

    # -- internals ------------------------------------------------------------------------------
    def _target(self, target: str | Uri) -> Uri:
        if not isinstance(target, str):
            return target
        if ":" not in target or target.split(":", 1)[0].isdigit():
            home = self.config.uri
            return SipUri(home.host, user=target, port=home.port)
        try:
            return parse_uri(target)
        except ParseError as exc:
            raise ConfigError(f"not a SIP URI: {target!r} ({exc})") from None

    async def _dial_flow(self, uri: Uri) -> Flow:
        """The registration's flow, else one of our own to the server; without a server, a
        flow straight to the SIP URI's host, port and transport (RFC 3263 §4.1-4.2 with an
        IP address: the port defaults to 5060, the transport to UDP)."""
        if self.account is not None and self.account.flow is not None:
            return self.account.flow
        if self.config.server is None:
            return await self.stack.connect(_direct_target(uri))
        if self._flow is None:
            flow = await self.stack.connect(self.config.server)
            self._flow = flow
            self.stack.watch_flow(flow, lambda _error: setattr(self, "_flow", None))
        return self._flow

    def _identity(self, flow: Flow) -> LocalIdentity:
        """How a phone without a server appears on ``flow``: on a connection it opened, the
        Contact names the listener of that transport (where requests reach it), if any."""
        same = [t for t in self.listeners if t.name == flow.transport]
        if flow.transport != "UDP" and same and not any(t.carries(flow) for t in same):
            flow = Flow(flow.transport, flow.remote, same[0].local)
        return local_identity(flow, self.config.uri)

    def _act(self, action: Callable[[UserAgent, float], T]) -> T:
        """Act on the UA core; outside event dispatch, send what it produced right away."""
        result = action(self.ua, self.stack.now())
        if not self._dispatching:
            self.stack.process()
            self._drain()
        return result

    def _drain(self) -> None:
        while (event := self.ua.next_event()) is not None:
            try:
                self._dispatch(event)
            except Exception:  # an application callback must not break the receive path
                logger.exception("error while handling %s", type(event).__name__)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, IncomingCall):
            self._incoming_call(event.call, event.replaces)
            return
        if isinstance(event, ReferReceived):
            self._refer_received(event)
            return
        transfer = getattr(event, "transfer", None)
        core: CoreCall | None = getattr(transfer or event, "call", None)
        call = self._by_core.get(core.id) if core is not None else None
        if call is not None:
            call._handle(event)
        elif isinstance(event, CallEnded):
            pass  # a call refused by policy
        else:
            logger.debug("event for an unknown call: %s", type(event).__name__)

    def _incoming_call(self, core: CoreCall, replaces: CoreCall | None = None) -> None:
        """A new call rings (and is reported), or gets 486 when busy. One that replaces a call
        of ours (RFC 3891, attended transfer) is answered at once without ringing: the user
        accepted the call it replaces; the UA core ends that one when this one is confirmed."""
        caller = core.invite.from_
        replaced = self._by_core.get(replaces.id) if replaces is not None else None
        if replaced is None and not self.config.multi_call and self.calls:
            self._act(lambda ua, now: ua.reject(core, 486, now))
            self._missed(caller, time.time(), "busy")
            return
        call = Call(self, "incoming")
        call.core = core
        self._by_core[core.id] = call
        self.calls.append(call)
        call._move(Input.RECEIVED)
        if replaced is not None:
            call.set_source(replaced._source)
            self.stack.spawn(call.answer())
        elif self.config.auto_ring:
            self._act(lambda ua, now: ua.ring(core, now))
        self._publish(IncomingCallReceived(call=call))
        self._incoming.publish(call)

    def _refer_received(self, event: ReferReceived) -> None:
        """RFC 3515 as transferee: accept, call the target (with Replaces and Referred-By when
        the REFER carried them) and report its progress by NOTIFY (RFC 5589 §6)."""
        call = self._by_core.get(event.call.id)
        refer = event.refer
        if call is None or not self.config.follow_transfers:
            self._act(lambda ua, now: ua.reject_refer(refer, 603, now))
            if call is not None:
                self._publish(TransferRequested(call=call, target=str(event.target), new_call=None))
            return
        self._act(lambda ua, now: ua.accept_refer(refer, now))
        self.stack.spawn(self._follow_transfer(call, event))

    async def _follow_transfer(self, original: Call, event: ReferReceived) -> None:
        refer = event.refer

        def notify(status: int, reason: str) -> None:
            self._act(lambda ua, now: ua.notify_refer(refer, status, reason, now))

        try:
            new = await self._place(event.target, refer.invite_headers(), original._source)
        except Exception as exc:
            logger.warning("transfer to %s failed: %s", event.target, exc)
            notify(503, "Service Unavailable")
            return
        self._publish(TransferRequested(call=original, target=str(event.target), new_call=new))
        ringing = False
        async for changed in new.events():
            if not isinstance(changed, CallStateChanged):
                continue
            if changed.state in (CallState.RINGING, CallState.EARLY_MEDIA) and not ringing:
                ringing = True
                notify(180, "Ringing")
            elif changed.state is CallState.ESTABLISHED:
                notify(200, "OK")
                return
            elif changed.state is CallState.ENDED:
                status = new.end_status or 487
                status = status if status >= 300 else 487
                notify(status, "Call Failed")
                return

    def _keeps(self, core: CoreCall) -> bool:
        """A call whose flow closed can wait for a new one: it ran over the account's flow,
        which the account reconnects (not over a flow of our own for unregistered dialing)."""
        account = self.account
        return (
            account is not None
            and account.running()
            and account.reconnect
            and core.flow != self._flow
        )

    def _call_ended(self, call: Call) -> None:
        if call in self.calls:
            self.calls.remove(call)
        if call.core is not None:
            self._by_core.pop(call.core.id, None)
        missed = _MISSED.get(call.end_reason) if call.end_reason is not None else None
        if call.direction == "incoming" and call.start_time is None and missed is not None:
            assert call.core is not None
            self._missed(call.core.invite.from_, call.created_at, missed)

    def _missed(self, caller: NameAddr, at: float, reason: str) -> None:
        self._publish(
            MissedCall(
                remote=str(caller.uri), display_name=caller.display_name, time=at, reason=reason
            )
        )

    def _publish(self, event: PhoneEvent) -> None:
        self._events.publish(event)

    def _account_event(self, event: Event) -> None:
        if isinstance(event, RegistrationSent):
            changed = RegistrationChanged(state="sent_request")
        elif isinstance(event, Registered):
            changed = RegistrationChanged(state="registered", status=event.response.status_code)
            flow = self.registration.flow
            if flow is not None:  # calls kept across a lost flow move to this one
                for call in list(self.calls):
                    call._flow_recovery.flow_ready(flow)
        elif isinstance(event, Unregistered):
            changed = RegistrationChanged(state="unregistered")
        elif isinstance(event, RegistrationTerminated):
            changed = RegistrationChanged(
                state="terminated", status=event.status, reason=event.reason
            )
        elif isinstance(event, AuthenticationFailed):
            changed = RegistrationChanged(state="auth_failed", reason=event.kind)
        elif type(event) in _FLOW_EVENTS:
            changed = RegistrationChanged(
                state=_FLOW_EVENTS[type(event)], reason=getattr(event, "reason", None)
            )
        else:
            return
        self._publish(changed)


def _digest(config: PhoneConfig) -> DigestClient | None:
    """The digest credentials of calls (the AOR user unless ``auth_user`` is set)."""
    if config.password is None:
        return None
    return DigestClient(config.auth_user or config.uri.user or "", config.password)


def _direct_target(uri: Uri) -> str:
    """The ``SipStack.connect`` target for dialing ``uri`` without a server."""
    if not isinstance(uri, SipUri):
        raise ConfigError(f"without a server only SIP URIs can be dialed, not {uri}")
    transport = (uri.params.get("transport") or "udp").lower()
    host = uri.host.strip("[]")
    if transport in ("ws", "wss"):
        path = "/"
        host = f"[{host}]" if ":" in host else host
        return f"{transport}://{host}:{uri.port or (443 if transport == 'wss' else 80)}{path}"
    if transport not in ("udp", "tcp", "tls"):
        raise ConfigError(f"unsupported transport {transport!r} in {uri}")
    default = 5061 if transport == "tls" or uri.scheme == "sips" else 5060
    return f"{transport}:{host}:{uri.port or default}"


class _PhoneUser:
    """The UA core as the stack's transaction user, with the phone draining its events."""

    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    def _run(self, action: Callable[[], T]) -> T:
        phone = self.phone
        phone._dispatching = True
        try:
            result = action()
            phone._drain()
        finally:
            phone._dispatching = False
        return result

    def handle_event(self, event: Event, now: float) -> bool:
        return self._run(lambda: self.phone.ua.handle_event(event, now))

    def flow_closed(self, flow: Flow, now: float) -> None:
        self._run(lambda: self.phone.ua.flow_closed(flow, now))

    def get_timer(self) -> float | None:
        return self.phone.ua.get_timer()

    def handle_timer(self, now: float) -> None:
        self._run(lambda: self.phone.ua.handle_timer(now))
