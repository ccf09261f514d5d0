"""The test messages of the SIP parse / serialize benchmark (benchmarks/bench_sip.py), and
the checks every contender's result must pass before it is timed.

Two messages: a WebRTC INVITE as a browser (JsSIP / SIP.js) sends it over a secure WebSocket and
a proxy forwards it, with its SDP offer, and a 200 OK to REGISTER (with the REGISTER it answers).
:func:`check_fields` compares a contender's typed fields with the message's :class:`Expected`
values; :func:`check_wire` compares serialized output with the message, up to what RFC 3261
§7.3.1 leaves free.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

CRLF = "\r\n"

# --------------------------------------------------------------------------- test messages


@dataclass(frozen=True)
class Expected:
    """Field values every typed contender must extract (order = the typed-access tuple)."""

    top_branch: str
    from_tag: str
    to_tag: str | None
    to_uri: str
    cseq: int
    call_id: str
    contact_uri: str
    contact_expires: int | None


@dataclass(frozen=True)
class TestMessage:
    key: str
    title: str
    data: bytes
    head_size: int
    body: bytes
    expected: Expected

    @property
    def start_line(self) -> bytes:
        return self.data.split(b"\r\n", 1)[0]


def _assemble(lines: list[str], body: bytes) -> tuple[bytes, int]:
    head = CRLF.join([*lines, f"Content-Length: {len(body)}"]) + CRLF + CRLF
    raw_head = head.encode("ascii")
    return raw_head + body, len(raw_head)


def webrtc_invite() -> TestMessage:
    """An INVITE from a browser UA over WSS, as forwarded by a loopback proxy over UDP."""
    sdp = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "m=audio 51796 UDP/TLS/RTP/SAVPF 111 9 0 8 126 101",
        "c=IN IP4 198.51.100.23",
        "a=candidate:0 1 udp 2122260223 192.168.1.23 51796 typ host",
        "a=candidate:1 1 udp 1686052607 198.51.100.23 51796 typ srflx"
        " raddr 192.168.1.23 rport 51796",
        "a=ice-ufrag:Hq7T",
        "a=ice-pwd:mRNu1vF2k8QeZ0bLx3sJd9Wy",
        "a=fingerprint:sha-256 4F:A2:19:7C:E0:5B:93:D1:6E:28:BA:0F:C7:41:8D:F3"
        ":52:9E:06:AB:37:C4:E8:71:1D:B5:60:2A:F9:83:DC:4E",
        "a=setup:actpass",
        "a=mid:0",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:126 telephone-event/48000",
        "a=fmtp:126 0-16",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
    ]
    body = (CRLF.join(sdp) + CRLF).encode("ascii")
    headers = [
        "INVITE sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK8d2e.5c0a7f31b6e94d28.0",
        "Via: SIP/2.0/WSS kx9q.invalid;rport=51234;received=127.0.0.1;branch=z9hG4bK7262817",
        "Max-Forwards: 69",
        "Record-Route: <sip:127.0.0.1:5060;r2=on;lr>",
        "Record-Route: <sip:127.0.0.1:8443;transport=ws;r2=on;lr>",
        "To: <sip:bob@example.com>",
        'From: "Alice" <sip:alice@example.com>;tag=vk7r1j9q2c',
        "Call-ID: 3c26700a8ke5s0kt2dhq",
        "CSeq: 7104 INVITE",
        "Contact: <sip:k2t0o0@kx9q.invalid;transport=ws;ob>",
        "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY",
        "Supported: ice,replaces,outbound",
        "User-Agent: JsSIP 3.10.1",
        "Content-Type: application/sdp",
    ]
    data, head_size = _assemble(headers, body)
    return TestMessage(
        key="invite",
        title="WebRTC INVITE with SDP offer (WSS UA via UDP proxy)",
        data=data,
        head_size=head_size,
        body=body,
        expected=Expected(
            top_branch="z9hG4bK8d2e.5c0a7f31b6e94d28.0",
            from_tag="vk7r1j9q2c",
            to_tag=None,
            to_uri="sip:bob@example.com",
            cseq=7104,
            call_id="3c26700a8ke5s0kt2dhq",
            contact_uri="sip:k2t0o0@kx9q.invalid;transport=ws;ob",
            contact_expires=None,
        ),
    )


REGISTER_VIA = "SIP/2.0/WSS kx9q.invalid;rport=51234;received=127.0.0.1;branch=z9hG4bK9150342"
REGISTER_CONTACT = (
    "<sip:k2t0o0@kx9q.invalid;transport=ws>;expires=600"
    ';+sip.instance="<urn:uuid:8f1c2d3e-4b5a-4697-8c7d-0e1f2a3b4c5d>"'
)
REGISTER_TO_TAG = "a6c85cf"


def register_request() -> bytes:
    """The REGISTER answered by :func:`register_ok`, its Via already stamped with
    ``received``/``rport`` as the registrar's transport does on receipt (§18.2.1)."""
    headers = [
        "REGISTER sip:example.com SIP/2.0",
        f"Via: {REGISTER_VIA}",
        "Max-Forwards: 69",
        "To: <sip:alice@example.com>",
        "From: <sip:alice@example.com>;tag=4m0p9x1k",
        "Call-ID: 9vtg2sh8fv0eq4bm",
        "CSeq: 2 REGISTER",
        f"Contact: {REGISTER_CONTACT}",
        "Expires: 600",
    ]
    return _assemble(headers, b"")[0]


def register_ok() -> TestMessage:
    """A registrar's 200 OK to a browser UA's REGISTER."""
    headers = [
        "SIP/2.0 200 OK",
        f"Via: {REGISTER_VIA}",
        "From: <sip:alice@example.com>;tag=4m0p9x1k",
        f"To: <sip:alice@example.com>;tag={REGISTER_TO_TAG}",
        "Call-ID: 9vtg2sh8fv0eq4bm",
        "CSeq: 2 REGISTER",
        f"Contact: {REGISTER_CONTACT}",
    ]
    data, head_size = _assemble(headers, b"")
    return TestMessage(
        key="register-200",
        title="200 OK to REGISTER",
        data=data,
        head_size=head_size,
        body=b"",
        expected=Expected(
            top_branch="z9hG4bK9150342",
            from_tag="4m0p9x1k",
            to_tag=REGISTER_TO_TAG,
            to_uri="sip:alice@example.com",
            cseq=2,
            call_id="9vtg2sh8fv0eq4bm",
            contact_uri="sip:k2t0o0@kx9q.invalid;transport=ws",
            contact_expires=600,
        ),
    )


# --------------------------------------------------------------------------- verification


class VerificationError(Exception):
    """A contender returned something other than the message's known content."""


def check(what: str, got: object, want: object) -> None:
    """:class:`VerificationError` naming ``what`` unless ``got == want``."""
    if got != want:
        raise VerificationError(f"{what}: got {got!r}, expected {want!r}")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def check_fields(fields: Any, expected: Expected) -> None:
    """Check the typed-access tuple (same order as :class:`Expected`)."""
    branch, from_tag, to_tag, to_uri, cseq, call_id, contact_uri, expires = fields
    got = Expected(
        top_branch=str(branch),
        from_tag=str(from_tag),
        to_tag=_opt_str(to_tag),
        to_uri=str(to_uri),
        cseq=int(cseq),
        call_id=str(call_id),
        contact_uri=str(contact_uri),
        contact_expires=_opt_int(expires),
    )
    for f in dataclasses.fields(Expected):
        check(f.name, getattr(got, f.name), getattr(expected, f.name))


def dissect(data: bytes) -> tuple[bytes, dict[bytes, list[bytes]], bytes]:
    """Start line, values per lower-case header name (in order), body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    check("end of head", sep, b"\r\n\r\n")
    lines = head.split(b"\r\n")
    values: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        values.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], values, body


def check_wire(out: object, msg: TestMessage) -> None:
    """Check that serialized output is the test message up to header grouping and name case.

    Same start line and body, and for every header name the same values in the same order
    (RFC 3261 §7.3.1 makes only the order among fields of one name significant).
    """
    if not isinstance(out, bytes):
        raise VerificationError(f"serializer returned {type(out).__name__}, not bytes")
    got_start, got_values, got_body = dissect(out)
    want_start, want_values, want_body = dissect(msg.data)
    check("start line", got_start, want_start)
    check("body", got_body, want_body)
    for name in sorted(set(got_values) | set(want_values)):
        check(f"{name.decode()} values", got_values.get(name), want_values.get(name))
