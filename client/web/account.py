"""The web-client SDK's ``sipAccountInfo`` mapping, checked and turned into a
:class:`~client.config.PhoneConfig`.

The SDK's keys:

========== ======== ===========================================================
key        required meaning
========== ======== ===========================================================
userName   yes      the SIP user; also names the phone in every callback
authUser   no       digest user name (default: ``userName``)
displayName no      display name of our From (``displayname`` is accepted too)
secret     yes      digest password (never shown in an error or a log)
sipdomain  yes      domain of the address of record: ``sip:userName@sipdomain``
domain     yes      the WebSocket server, ``host`` or ``host:port``
port       no       the server port when ``domain`` has none (default 443 / 80)
security   no       ``wss`` (default) or ``ws``
========== ======== ===========================================================

Extras for a real deployment and for tests (all optional): ``path`` (the WebSocket resource,
e.g. ``/ws``), ``caFile`` (extra CA certificates), ``tlsVerify`` (default True),
``iceServers`` (a list of ``{"urls": ..., "username": ..., "credential": ...}`` or URL
strings), ``hostAddresses`` (addresses for ICE host candidates, e.g. ``["127.0.0.1"]``),
``autoReconnect`` (default True), ``registerExpires`` (seconds), ``mediaTimeout`` (seconds
without inbound audio before media is renewed; 0 switches the watchdog off), and
``audioInputs`` / ``audioOutputs`` (device id -> spec, see :mod:`client.web.devices`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCIceServer

from client.config import PhoneConfig
from client.errors import ConfigError
from media.session import MediaConfig

from .devices import DEFAULT_INPUTS, DEFAULT_OUTPUTS, check_input_spec, check_output_spec

__all__ = ["WebAccount", "parse_account"]

_DEFAULT_PORTS = {"wss": 443, "ws": 80}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebAccount:
    """A checked ``sipAccountInfo``: the phone's settings and the audio devices."""

    user_name: str
    """The ``userName``: names the phone in callbacks."""
    server: str
    """The WebSocket server the phone registers through (``phone.server``)."""
    phone: PhoneConfig
    """Settings of the phone (the secret is kept out of its repr)."""
    inputs: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_INPUTS))
    """Audio input devices, id -> spec; the first is the default."""
    outputs: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_OUTPUTS))
    """Audio output devices, id -> spec; the first is the default."""


def _text(info: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = info.get(key)
    if value is None or value == "":
        if required:
            raise ConfigError(f"sipAccountInfo: {key} is missing")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"sipAccountInfo: {key} must be a string")
    if key != "secret" and (value != value.strip() or any(c in value for c in "\r\n\0")):
        raise ConfigError(f"sipAccountInfo: {key} has surrounding blanks or control characters")
    return value


def _flag(info: Mapping[str, Any], key: str, default: bool) -> bool:
    value = info.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"sipAccountInfo: {key} must be true or false")
    return value


def _number(info: Mapping[str, Any], key: str, default: float) -> float:
    value = info.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"sipAccountInfo: {key} must be a number >= 0")
    return float(value)


def _port(value: object, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.isdigit():
        port = int(value)
    else:
        raise ConfigError(f"sipAccountInfo: {key} must be a port number")
    if not 0 < port < 65536:
        raise ConfigError(f"sipAccountInfo: {key} must be a port number (1-65535)")
    return port


def _server(info: Mapping[str, Any]) -> str:
    security = (_text(info, "security") or "wss").lower()
    if security not in _DEFAULT_PORTS:
        raise ConfigError("sipAccountInfo: security must be 'wss' or 'ws'")
    domain = _text(info, "domain", required=True)
    assert domain is not None
    host, sep, port_text = domain.rpartition(":")
    if not sep or host.endswith(":") or (host.startswith("[") != host.endswith("]")):
        host, port_text = domain, ""  # no port, or a bare IPv6 address
    if not host or any(c in host for c in "/@ "):
        raise ConfigError(f"sipAccountInfo: domain must be host or host:port, got {domain!r}")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if port_text:
        port = _port(port_text, "domain")
    elif info.get("port") not in (None, ""):
        port = _port(info["port"], "port")
    else:
        port = _DEFAULT_PORTS[security]
    path = _text(info, "path") or ""
    if path and not path.startswith("/"):
        raise ConfigError("sipAccountInfo: path must start with '/'")
    return f"{security}://{host}:{port}{path}"


def _ice_servers(value: object) -> tuple[RTCIceServer, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ConfigError("sipAccountInfo: iceServers must be a list")
    servers = []
    for item in value:
        if isinstance(item, str):
            servers.append(RTCIceServer(urls=item))
        elif isinstance(item, Mapping) and isinstance(item.get("urls"), str | list):
            servers.append(
                RTCIceServer(
                    urls=item["urls"],
                    username=item.get("username"),
                    credential=item.get("credential"),
                )
            )
        else:
            raise ConfigError("sipAccountInfo: iceServers entries need urls")
    return tuple(servers)


def _devices(value: object, key: str, default: Mapping[str, str], output: bool) -> dict[str, str]:
    if value is None:
        return dict(default)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"sipAccountInfo: {key} must map device ids to specs")
    devices: dict[str, str] = {}
    for device_id, spec in value.items():
        if not isinstance(device_id, str) or not isinstance(spec, str):
            raise ConfigError(f"sipAccountInfo: {key} must map device ids to specs")
        try:
            (check_output_spec if output else check_input_spec)(spec)
        except ValueError as exc:
            raise ConfigError(f"sipAccountInfo: {key}[{device_id!r}]: {exc}") from None
        devices[device_id] = spec
    return devices


def parse_account(info: Mapping[str, Any]) -> WebAccount:
    """Check ``info`` (the SDK's ``sipAccountInfo``); ConfigError names the faulty key."""
    if not isinstance(info, Mapping):
        raise ConfigError("sipAccountInfo must be a mapping (a dict)")
    user = _text(info, "userName", required=True)
    assert user is not None
    if any(c in user for c in "@: "):
        raise ConfigError(f"sipAccountInfo: userName must be a bare user name, got {user!r}")
    secret = _text(info, "secret", required=True)
    sipdomain = _text(info, "sipdomain", required=True)
    display = _text(info, "displayName") or _text(info, "displayname")
    server = _server(info)
    hosts = info.get("hostAddresses")
    if hosts is not None and (
        not isinstance(hosts, list | tuple) or not all(isinstance(h, str) for h in hosts)
    ):
        raise ConfigError("sipAccountInfo: hostAddresses must be a list of addresses")
    media = MediaConfig(
        ice_servers=_ice_servers(info.get("iceServers")),
        host_addresses=tuple(hosts) if hosts is not None else None,
    )
    ca_file = _text(info, "caFile")
    try:
        phone = PhoneConfig(
            aor=f"sip:{user}@{sipdomain}",
            server=server,
            password=secret,
            auth_user=_text(info, "authUser") or user,
            display_name=display,
            ca_file=ca_file,
            tls_verify=_flag(info, "tlsVerify", True),
            register_expires=int(_number(info, "registerExpires", 600)),
            auto_reconnect=_flag(info, "autoReconnect", True),
            media=media,
            media_timeout=_number(info, "mediaTimeout", 10.0),
        )
    except ConfigError as exc:
        raise ConfigError(f"sipAccountInfo: {exc}") from None
    return WebAccount(
        user_name=user,
        server=server,
        phone=phone,
        inputs=_devices(info.get("audioInputs"), "audioInputs", DEFAULT_INPUTS, False),
        outputs=_devices(info.get("audioOutputs"), "audioOutputs", DEFAULT_OUTPUTS, True),
    )
