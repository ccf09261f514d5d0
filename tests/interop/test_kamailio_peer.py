"""Kamailio as the interop tests run it, against the real binary: the project's configuration
(registrar, proxy, WS/WSS) and the Kamailio class of kamailio_peer.py (addresses, kamcmd,
location table, restarts, several instances)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import uuid

import pytest
from websockets.typing import Subprotocol

from sipcore.transport.pki import make_cert

from .helpers import register
from .kamailio_peer import Kamailio, KamailioFactory
from .ports import free_ports
from .sipp_peer import Sipp

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- raw protocol helpers -----------------------------------------------------------------


def options_request(kam: Kamailio, transport: str, local: tuple[str, int]) -> bytes:
    branch = "z9hG4bK" + uuid.uuid4().hex
    host, port = local
    target = kam.hostport("udp")
    return (
        f"OPTIONS sip:{target} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} {host}:{port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{kam.domain}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:{target}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}@{host}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


def status_line(response: bytes) -> tuple[int, str]:
    first = response.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    version, code, reason = first.split(" ", 2)
    assert version in ("SIP/2.0", "HTTP/1.1"), first
    return int(code), reason


def header(response: bytes, name: str) -> str | None:
    head = response.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def read_head(sock: socket.socket) -> bytes:
    """Read from a stream until the end of a header block (no body expected)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def options_udp(kam: Kamailio) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(options_request(kam, "udp", sock.getsockname()), kam.address("udp"))
        data, _ = sock.recvfrom(65535)
        return data


def options_tcp(kam: Kamailio) -> bytes:
    with socket.create_connection(kam.address("tcp"), timeout=2.0) as sock:
        sock.sendall(options_request(kam, "tcp", sock.getsockname()))
        return read_head(sock)


def ws_handshake(
    sock: socket.socket, host: str, *, protocol: str | None, path: str = "/"
) -> tuple[bytes, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if protocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return read_head(sock), key


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


# -- Kamailio -----------------------------------------------------------------------------


def test_kamailio_answers_options_over_udp(kamailio: Kamailio) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.bind(("127.0.0.1", 0))
        local_port = sock.getsockname()[1]
        sock.sendto(options_request(kamailio, "udp", sock.getsockname()), kamailio.address("udp"))
        reply, source = sock.recvfrom(65535)
    assert source == kamailio.address("udp")
    assert status_line(reply) == (200, "OK")
    assert header(reply, "Server") == "sipwebrtc-interop"
    assert f";rport={local_port}" in (header(reply, "Via") or "")
    assert ";tag=" in (header(reply, "To") or "")


def test_kamailio_answers_options_over_tcp(kamailio: Kamailio) -> None:
    reply = options_tcp(kamailio)
    assert status_line(reply) == (200, "OK")
    assert "REGISTER" in (header(reply, "Allow") or "")


def test_kamailio_uris(kamailio: Kamailio) -> None:
    assert kamailio.uri("udp") == f"sip:127.0.0.1:{kamailio.sip_port};transport=udp"
    assert kamailio.uri("tcp") == f"sip:127.0.0.1:{kamailio.sip_port};transport=tcp"
    assert kamailio.ws_url == f"ws://127.0.0.1:{kamailio.ws_port}"
    assert kamailio.wss_url == f"wss://127.0.0.1:{kamailio.wss_port}"
    assert len({kamailio.sip_port, kamailio.ws_port, kamailio.wss_port}) == 3
    assert "uptime" in kamailio.kamcmd("core.uptime")


def test_sipp_registers_alice(kamailio: Kamailio, sipp: Sipp) -> None:
    (port,) = free_ports(1, "udp")
    result = register(sipp, kamailio, "alice", "alicepw", port)
    assert result.ok, result.describe()
    assert result.message("401", "recv")[0].count == 1
    contacts = kamailio.location("alice")
    assert len(contacts) == 1
    assert contacts[0].address == f"sip:alice@127.0.0.1:{port};transport=UDP"
    assert contacts[0].expires is not None and 3500 < contacts[0].expires <= 3600
    assert contacts[0].user_agent == "SIPp reg_auth"
    assert [c.address for c in kamailio.locations()["alice"]] == [contacts[0].address]


def test_wrong_password_is_not_registered(kamailio: Kamailio, sipp: Sipp) -> None:
    (port,) = free_ports(1, "udp")
    result = register(sipp, kamailio, "carol", "not-carolpw", port)
    assert result.returncode == 1, result.describe()
    assert (result.successful_calls, result.failed_calls) == (0, 1)
    assert result.counter("FailedUnexpectedMessage") == 1  # a second 401 instead of 200
    assert kamailio.location("carol") == []


def test_user_added_at_run_time_registers(kamailio: Kamailio, sipp: Sipp) -> None:
    (port,) = free_ports(1, "udp")
    assert not register(sipp, kamailio, "eve", "evepw", port).ok
    kamailio.add_user("eve", "evepw")
    result = register(sipp, kamailio, "eve", "evepw", port)
    assert result.ok, result.describe()
    assert len(kamailio.location("eve")) == 1
    assert kamailio.location("1000") == []  # a numeric user is looked up as a string


def test_ws_handshake_requires_sip_subprotocol(kamailio: Kamailio) -> None:
    host = kamailio.hostport("ws")
    with socket.create_connection(kamailio.address("ws"), timeout=2.0) as sock:
        reply, _ = ws_handshake(sock, host, protocol=None)
    assert status_line(reply)[0] == 400
    with socket.create_connection(kamailio.address("ws"), timeout=2.0) as sock:
        reply, key = ws_handshake(sock, host, protocol="sip")
    assert status_line(reply)[0] == 101
    assert header(reply, "Sec-WebSocket-Protocol") == "sip"
    assert header(reply, "Sec-WebSocket-Accept") == ws_accept(key)


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_sip_over_websocket(kamailio: Kamailio, transport: str) -> None:
    """A WebSocket client (RFC 7118) gets answers: OPTIONS 200, REGISTER 401."""
    from websockets.sync.client import connect

    assert kamailio.tls is not None
    context = ssl.create_default_context(cafile=str(kamailio.tls.ca))
    url = kamailio.wss_url if transport == "wss" else kamailio.ws_url
    with connect(
        url,
        subprotocols=[Subprotocol("sip")],
        ssl=context if transport == "wss" else None,
        proxy=None,
        open_timeout=2.0,
        compression=None,
    ) as ws:
        assert ws.subprotocol == "sip"
        for method, expected in (("OPTIONS", 200), ("REGISTER", 401)):
            call_id = uuid.uuid4().hex
            user = "alice" if method == "REGISTER" else "probe"
            request = (
                f"{method} sip:{kamailio.domain} SIP/2.0\r\n"
                f"Via: SIP/2.0/{transport.upper()} client.invalid;branch=z9hG4bK{call_id}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{user}@{kamailio.domain}>;tag=ws{call_id[:6]}\r\n"
                f"To: <sip:{user}@{kamailio.domain}>\r\n"
                f"Call-ID: {call_id}\r\n"
                f"CSeq: 1 {method}\r\n"
                f"Contact: <sip:{user}@client.invalid;transport=ws>\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            ws.send(request)
            reply = ws.recv(timeout=2.0)
            data = reply.encode() if isinstance(reply, str) else reply
            assert status_line(data)[0] == expected, data
            assert header(data, "Call-ID") == call_id
        challenge = header(data, "WWW-Authenticate") or ""
        assert challenge.startswith("Digest ") and f'realm="{kamailio.domain}"' in challenge


def test_ws_handshake_for_a_foreign_host_is_forbidden(kamailio: Kamailio) -> None:
    with socket.create_connection(kamailio.address("ws"), timeout=2.0) as sock:
        reply, _ = ws_handshake(sock, "example.com:80", protocol="sip")
    assert status_line(reply)[0] == 403


def test_wss_certificate_verifies_against_the_generated_ca(kamailio: Kamailio) -> None:
    assert kamailio.tls is not None
    context = ssl.create_default_context(cafile=str(kamailio.tls.ca))
    for name in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(kamailio.address("wss"), timeout=2.0) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            cert = tls.getpeercert()
            assert cert is not None
            assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
            reply, key = ws_handshake(tls, f"{name}:{kamailio.wss_port}", protocol="sip")
            assert status_line(reply)[0] == 101
            assert header(reply, "Sec-WebSocket-Accept") == ws_accept(key)
    # and it is a real verification: another CA does not vouch for it
    other = make_cert(kamailio.workdir / "other-ca")
    strict = ssl.create_default_context(cafile=str(other.ca))
    with (
        socket.create_connection(kamailio.address("wss"), timeout=2.0) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        strict.wrap_socket(raw, server_hostname="127.0.0.1")


def test_restart_gives_a_new_process_and_an_empty_location_table(
    kamailio_factory: KamailioFactory, sipp: Sipp
) -> None:
    kam = kamailio_factory()
    (port,) = free_ports(1, "udp")
    assert register(sipp, kam, "dave", "davepw", port).ok
    assert len(kam.location("dave")) == 1
    old_pid, old_ports = kam.pid, kam.ports
    kam.restart()
    assert kam.running and kam.pid != old_pid
    assert kam.ports == old_ports
    assert kam.location("dave") == []
    assert status_line(options_udp(kam)) == (200, "OK")
    kam.kill()
    assert not kam.running


def test_two_instances_side_by_side(kamailio_factory: KamailioFactory, sipp: Sipp) -> None:
    first = kamailio_factory()
    second = kamailio_factory({"NO_INVITE_AUTH": True})
    assert first.pid != second.pid
    assert {first.sip_port, first.ws_port, first.wss_port}.isdisjoint(
        {second.sip_port, second.ws_port, second.wss_port}
    )
    for kam in (first, second):
        assert status_line(options_udp(kam)) == (200, "OK")
        assert status_line(options_tcp(kam)) == (200, "OK")
    (port,) = free_ports(1, "udp")
    assert register(sipp, first, "1001", "1001pw", port).ok
    assert len(first.location("1001")) == 1
    assert second.location("1001") == []
    assert first.log_path != second.log_path


def test_min_expires_define_gives_423(kamailio_factory: KamailioFactory, sipp: Sipp) -> None:
    kam = kamailio_factory({"MIN_EXPIRES": 60})
    (port,) = free_ports(1, "udp")
    result = register(sipp, kam, "bob", "bobpw", port, expires=30)
    assert result.failed_calls == 1, result.describe()
    trace = result.files["messages"].read_text()
    assert "SIP/2.0 423 " in trace and "Min-Expires: 60" in trace
    assert kam.location("bob") == []
    result = register(sipp, kam, "bob", "bobpw", port, expires=60)
    assert result.ok, result.describe()
    assert kam.location("bob")[0].expires in (59, 60)
