"""Push notifications for SIP (RFC 8599), sans-I/O.

UA side: :class:`PushParams` are the ``pn-provider``, ``pn-prid`` and ``pn-param`` Contact
parameters a REGISTER carries (§4.1) so that the proxy can wake the UA through its platform's
push service.

Proxy side: :class:`PushRegistry` keeps the push parameters of a binding whose flow closed (a
mobile app that went to the background) and the INVITEs waiting for such a UA. The embedded
proxy (:mod:`sipcore.proxy`) sends a push when an INVITE finds no live binding but a push
binding, holds the INVITE, and forwards it once the UA has registered again (§5.6: "the
proxy ... waits for the REGISTER request ... then forwards the request"); a UA that does not
come back within the wait gets the INVITE answered 480. The push service itself is a callback
(:attr:`sipcore.registrar.ProxyConfig.push_handler`) that receives a :class:`PushNotice`.

Not done: the Feature-Caps exchange (the registrar's ``+sip.pns`` in the REGISTER 2xx, §4.1.2,
and ``+sip.pnsreg`` asking for refresh pushes before the binding expires, §5.4), VAPID (RFC
8599 §12) and sending a push for a binding that still has a live flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .uri import NameAddr

__all__ = ["PushNotice", "PushParams", "PushRegistry"]


@dataclass(frozen=True, slots=True)
class PushParams:
    """The RFC 8599 §4.1 Contact parameters of one device."""

    provider: str
    """``pn-provider``: the push service (``apns``, ``fcm``, ``webpush`` or a private one)."""
    prid: str
    """``pn-prid``: the device's push resource id (e.g. its FCM registration token)."""
    param: str | None = None
    """``pn-param``: provider-specific data (an APNs topic, an FCM project id)."""

    def contact_params(self) -> tuple[tuple[str, str | None], ...]:
        """As :attr:`sipcore.registration.RegistrationConfig.contact_params`."""
        params: list[tuple[str, str | None]] = [("pn-provider", self.provider)]
        if self.param is not None:
            params.append(("pn-param", self.param))
        params.append(("pn-prid", self.prid))
        return tuple(params)

    @classmethod
    def from_contact(cls, contact: NameAddr) -> PushParams | None:
        """The push parameters of a Contact: in its header parameters or, as some UAs send
        them, in its URI parameters (§4.1 allows both); None without pn-provider and pn-prid."""
        params: dict[str, Any] = dict(getattr(contact.uri, "params", {}) or {})
        params.update(contact.params)
        provider, prid = params.get("pn-provider"), params.get("pn-prid")
        if not provider or not prid:
            return None
        return cls(provider=str(provider), prid=str(prid), param=params.get("pn-param"))


@dataclass(frozen=True, slots=True, kw_only=True)
class PushNotice:
    """What the proxy asks the push service to deliver to a device."""

    aor: str
    """The user the INVITE is for."""
    params: PushParams
    call_id: str
    caller: str
    """The From URI of the INVITE."""

    def payload(self) -> dict[str, str]:
        """The data of the push message, as a mobile app receives it (string pairs)."""
        payload = {
            "aor": self.aor,
            "call_id": self.call_id,
            "caller": self.caller,
            "pn-provider": self.params.provider,
            "pn-prid": self.params.prid,
        }
        if self.params.param is not None:
            payload["pn-param"] = self.params.param
        return payload


@dataclass(slots=True)
class _Held:
    key: str
    """The server transaction of the INVITE."""
    deadline: float
    context: Any = field(default=None)
    """What the proxy needs to forward it later."""


class PushRegistry:
    """Push bindings without a flow, and the requests waiting for their UA to come back."""

    def __init__(self) -> None:
        self._bindings: dict[str, tuple[PushParams, float]] = {}
        self._held: dict[str, list[_Held]] = {}

    def remember(self, aor: str, params: PushParams, expires_at: float) -> None:
        """A binding with push parameters lost its flow; it can be woken until ``expires_at``."""
        self._bindings[aor] = (params, expires_at)

    def forget(self, aor: str) -> None:
        self._bindings.pop(aor, None)

    def lookup(self, aor: str, now: float) -> PushParams | None:
        entry = self._bindings.get(aor)
        if entry is None:
            return None
        params, expires_at = entry
        if expires_at <= now:
            del self._bindings[aor]
            return None
        return params

    def hold(self, aor: str, key: str, deadline: float, context: Any) -> None:
        """Keep the request of server transaction ``key`` until ``aor`` registers again."""
        self._held.setdefault(aor, []).append(_Held(key, deadline, context))

    def release(self, aor: str) -> list[Any]:
        """The contexts of the requests held for ``aor`` (it has registered), oldest first."""
        return [held.context for held in self._held.pop(aor, [])]

    def drop(self, key: str) -> Any | None:
        """Stop holding the request of ``key`` (it was cancelled); its context, if held."""
        for aor, entries in list(self._held.items()):
            for held in entries:
                if held.key == key:
                    entries.remove(held)
                    if not entries:
                        del self._held[aor]
                    return held.context
        return None

    def expired(self, now: float) -> list[Any]:
        """The contexts whose UA did not come back in time (removed)."""
        out: list[Any] = []
        for aor, entries in list(self._held.items()):
            keep = [held for held in entries if held.deadline > now]
            out.extend(held.context for held in entries if held.deadline <= now)
            if keep:
                self._held[aor] = keep
            else:
                del self._held[aor]
        return out

    def get_timer(self) -> float | None:
        deadlines = [held.deadline for entries in self._held.values() for held in entries]
        return min(deadlines) if deadlines else None

    @property
    def waiting(self) -> int:
        return sum(len(entries) for entries in self._held.values())
