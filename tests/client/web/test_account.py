"""sipAccountInfo checks: every key, clear errors naming it, the secret never shown."""

from __future__ import annotations

from typing import Any

import pytest

from client.errors import ConfigError
from client.web.account import parse_account

SECRET = "s3cr3t-pw"
BASE: dict[str, Any] = {
    "userName": "alice",
    "authUser": "alice-auth",
    "displayName": "Alice A",
    "secret": SECRET,
    "sipdomain": "example.com",
    "domain": "sip.example.com:8443",
    "port": "8443",
    "security": "wss",
}


def test_sdk_keys_become_the_phone_config() -> None:
    account = parse_account(BASE)
    phone = account.phone
    assert account.user_name == "alice"
    assert phone.aor == "sip:alice@example.com"
    assert phone.server == "wss://sip.example.com:8443"
    assert phone.auth_user == "alice-auth" and phone.display_name == "Alice A"
    assert phone.password == SECRET and SECRET not in repr(phone)
    assert phone.auto_reconnect and phone.tls_verify
    assert account.inputs == {"default": "silence"} and account.outputs == {"default": "null"}


def test_port_security_path_and_extras() -> None:
    account = parse_account(
        {
            **BASE,
            "domain": "10.0.0.1",
            "port": 8080,
            "security": "WS",
            "path": "/sip",
            "displayName": None,
            "displayname": "lower",
            "autoReconnect": False,
            "tlsVerify": False,
            "iceServers": [
                "stun:stun.example.com",
                {"urls": "turn:t", "username": "u", "credential": "c"},
            ],
            "hostAddresses": ["127.0.0.1"],
            "registerExpires": 120,
            "audioInputs": {"mic": "tone:440", "file": "wav:/tmp/x.wav"},
            "audioOutputs": {"rec": "wav:/tmp/y.wav"},
        }
    )
    phone = account.phone
    assert phone.server == "ws://10.0.0.1:8080/sip"
    assert phone.display_name == "lower"
    assert not phone.auto_reconnect and not phone.tls_verify
    assert phone.register_expires == 120
    assert [s.urls for s in phone.media.ice_servers] == ["stun:stun.example.com", "turn:t"]
    assert phone.media.host_addresses == ("127.0.0.1",)
    assert list(account.inputs) == ["mic", "file"] and account.outputs == {"rec": "wav:/tmp/y.wav"}
    assert parse_account({**BASE, "domain": "h", "port": None}).phone.server == "wss://h:443"
    assert parse_account({**BASE, "domain": "::1", "port": 5}).phone.server == "wss://[::1]:5"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"userName": None}, "userName is missing"),
        ({"secret": ""}, "secret is missing"),
        ({"sipdomain": None}, "sipdomain is missing"),
        ({"domain": None}, "domain is missing"),
        ({"userName": "a@b"}, "userName"),
        ({"userName": 5}, "userName must be a string"),
        ({"domain": "h:notaport"}, "domain must be a port"),
        ({"domain": "h", "port": "x"}, "port must be a port"),
        ({"domain": "h:70000"}, "domain must be a port"),
        ({"domain": "a/b:5"}, "domain must be host"),
        ({"security": "tls"}, "security"),
        ({"path": "sip"}, "path"),
        ({"autoReconnect": "yes"}, "autoReconnect"),
        ({"registerExpires": -1}, "registerExpires"),
        ({"iceServers": "stun:x"}, "iceServers"),
        ({"iceServers": [{}]}, "iceServers"),
        ({"hostAddresses": "127.0.0.1"}, "hostAddresses"),
        ({"audioInputs": {"m": "mic"}}, "audioInputs"),
        ({"audioOutputs": {"s": "tone:4"}}, "audioOutputs"),
        ({"audioInputs": {}}, "audioInputs"),
        ({"sipdomain": "bad domain"}, "aor"),
        ({"displayName": "x\r\n"}, "displayName"),
    ],
)
def test_errors_name_the_key_and_never_show_the_secret(change: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        parse_account({**BASE, **change})
    assert SECRET not in str(caught.value)


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        parse_account(["alice"])  # type: ignore[arg-type]
