#!/usr/bin/env python3
"""Parse and serialize throughput of ``sipcore`` against other pure-Python SIP libraries.

Run from the project root::

    .venv/bin/python benchmarks/bench_sip.py                 # full run, Markdown on stdout
    .venv/bin/python benchmarks/bench_sip.py --quick         # fewer and shorter rounds
    .venv/bin/python benchmarks/bench_sip.py --markdown benchmarks/results/sip.md

Two messages are built below: a WebRTC INVITE as a browser (JsSIP / SIP.js) sends it over a
secure WebSocket and a proxy forwards it, with its SDP offer, and a 200 OK to REGISTER.

Parsing contenders, per message:

* ``sipcore.parse_message`` alone, and followed by typed access to the top Via branch, the
  From and To tags, the To URI, the CSeq number, the Call-ID, the first Contact URI and its
  ``expires`` parameter;
* sipmessage ``Message.parse`` (header values kept as strings; the Request-URI is typed), and
  the same followed by the same fields through its typed classes (Via, Address, CSeq);
* sippy ``SipRequest`` / ``SipResponse`` built from the decoded text, as its transaction
  manager does, alone and followed by the same fields through ``getHFBody`` (sippy parses a
  header body on first access);
* a naive floor: split head from body, split the head into lines, ``partition(b":")`` each.

Serialization contenders: ``bytes(msg)`` of a message parsed by sipcore, the same message
built from scratch with sipcore's ``build_request`` / ``build_response`` and then
``bytes()``, ``bytes(msg)`` for sipmessage, ``str(msg).encode()`` for sippy (what
``localStr()`` yields without a local address), and a naive floor that joins the partitioned
lines of the naive parse.

Every contender's result is checked against the known content before it is timed. Each
contender is timed in rounds of N calls (N sized for a target duration per round) with the
garbage collector enabled; a round is cut into batches interleaved with the other contenders'
so that drift of a shared CPU spreads evenly, and the median per-call time over the rounds is
reported.

If ``sipcore`` cannot be imported the peers are still measured and its rows say why.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import hashlib
import importlib
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CRLF = "\r\n"

Runner = Callable[[], object]


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


# --------------------------------------------------------------------------- libraries


class Unavailable(Exception):
    """The library behind a contender cannot be used in this run."""


class VerificationError(Exception):
    """A contender returned something other than the message's known content."""


@dataclass
class Library:
    name: str
    module: Any = None
    status: str = ""


def _source_digest(package: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(package.rglob("*.py"))
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{len(files)} source files, sha256 {digest.hexdigest()[:12]}"


def load_sipcore() -> Library:
    lib = Library("sipcore")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        module = importlib.import_module("sipcore")
    except Exception as exc:
        lib.status = f"not importable ({type(exc).__name__}: {exc})"
        return lib
    lib.module = module
    origin = Path(getattr(module, "__file__", None) or ROOT / "sipcore").resolve().parent
    where = origin.relative_to(ROOT) if origin.is_relative_to(ROOT) else origin
    lib.status = f"present: {where}/ ({_source_digest(origin)})"
    return lib


def load_peer(name: str, modules: tuple[str, ...]) -> Library:
    lib = Library(name)
    try:
        loaded = {mod: importlib.import_module(mod) for mod in modules}
    except Exception as exc:
        lib.status = f"not importable ({type(exc).__name__}: {exc})"
        return lib
    lib.module = loaded
    try:
        lib.status = metadata.version(name)
    except metadata.PackageNotFoundError:
        lib.status = "unknown version"
    return lib


@dataclass
class Libraries:
    sipcore: Library
    sipmessage: Library
    sippy: Library

    @classmethod
    def load(cls) -> Libraries:
        return cls(
            sipcore=load_sipcore(),
            sipmessage=load_peer("sipmessage", ("sipmessage",)),
            sippy=load_peer("sippy", ("sippy.SipRequest", "sippy.SipResponse")),
        )


def _need(lib: Library) -> Any:
    if lib.module is None:
        raise Unavailable(f"{lib.name} {lib.status}")
    return lib.module


# --------------------------------------------------------------------------- verification


def _check(what: str, got: object, want: object) -> None:
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
        _check(f.name, getattr(got, f.name), getattr(expected, f.name))


def _dissect(data: bytes) -> tuple[bytes, dict[bytes, list[bytes]], bytes]:
    """Start line, values per lower-case header name (in order), body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    _check("end of head", sep, b"\r\n\r\n")
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
    got_start, got_values, got_body = _dissect(out)
    want_start, want_values, want_body = _dissect(msg.data)
    _check("start line", got_start, want_start)
    _check("body", got_body, want_body)
    for name in sorted(set(got_values) | set(want_values)):
        _check(f"{name.decode()} values", got_values.get(name), want_values.get(name))


# --------------------------------------------------------------------------- contenders


def naive_split(data: bytes) -> tuple[list[tuple[bytes, bytes, bytes]], bytes]:
    head, body = data.split(b"\r\n\r\n", 1)
    return [line.partition(b":") for line in head.split(b"\r\n")], body


def naive_parse(msg: TestMessage, _libs: Libraries) -> Runner:
    run = functools.partial(naive_split, msg.data)
    parts, body = run()
    call_ids = [v.strip() for n, _, v in parts if n.lower() == b"call-id"]
    _check("Call-ID", call_ids, [msg.expected.call_id.encode()])
    _check("body", body, msg.body)
    return run


def naive_join(msg: TestMessage, _libs: Libraries) -> Runner:
    parts, body = naive_split(msg.data)

    def run() -> object:
        return b"\r\n".join([b"".join(p) for p in parts]) + b"\r\n\r\n" + body

    _check("round trip", run(), msg.data)
    return run


def sipmessage_parse(msg: TestMessage, libs: Libraries) -> Runner:
    parse = _need(libs.sipmessage)["sipmessage"].Message.parse
    data = msg.data

    def run() -> object:
        return parse(data)

    m: Any = run()
    _check("Call-ID", m.headers["Call-ID"], msg.expected.call_id)
    _check("body", m.body, msg.body)
    return run


def sipmessage_typed(msg: TestMessage, libs: Libraries) -> Runner:
    parse = _need(libs.sipmessage)["sipmessage"].Message.parse
    data = msg.data

    def run() -> object:
        m = parse(data)
        to = m.to_address
        contact = m.contact[0]
        return (
            m.via[0].parameters["branch"],
            m.from_address.parameters["tag"],
            to.parameters.get("tag"),
            to.uri,
            m.cseq.sequence,
            m.call_id,
            contact.uri,
            contact.parameters.get("expires"),
        )

    check_fields(run(), msg.expected)
    return run


def sipmessage_bytes(msg: TestMessage, libs: Libraries) -> Runner:
    m = _need(libs.sipmessage)["sipmessage"].Message.parse(msg.data)

    def run() -> object:
        return bytes(m)

    check_wire(run(), msg)
    return run


def _sippy_classes(libs: Libraries) -> tuple[Any, Any]:
    mods = _need(libs.sippy)
    return mods["sippy.SipRequest"].SipRequest, mods["sippy.SipResponse"].SipResponse


def sippy_parse(msg: TestMessage, libs: Libraries) -> Runner:
    request, response = _sippy_classes(libs)
    data = msg.data

    def run() -> object:
        text = data.decode()
        return response(text) if text.startswith("SIP/2.0 ") else request(text)

    m: Any = run()
    _check("Call-ID", str(m.getHFBody("call-id")), msg.expected.call_id)
    _check("body", b"" if m.body is None else str(m.body).encode(), msg.body)
    return run


def sippy_typed(msg: TestMessage, libs: Libraries) -> Runner:
    request, response = _sippy_classes(libs)
    data = msg.data

    def run() -> object:
        text = data.decode()
        m = response(text) if text.startswith("SIP/2.0 ") else request(text)
        to = m.getHFBody("to")
        contact = m.getHFBody("contact")
        return (
            m.getHFBody("via").getBranch(),
            m.getHFBody("from").getTag(),
            to.getTag(),
            to.getUrl(),
            m.getHFBody("cseq").getCSeqNum(),
            str(m.getHFBody("call-id")),
            contact.getUrl(),
            contact.address.getParam("expires"),
        )

    check_fields(run(), msg.expected)
    return run


def sippy_str(msg: TestMessage, libs: Libraries) -> Runner:
    request, response = _sippy_classes(libs)
    text = msg.data.decode()
    m = response(text) if text.startswith("SIP/2.0 ") else request(text)

    def run() -> object:
        return str(m).encode()

    check_wire(run(), msg)
    return run


def ours_parse(msg: TestMessage, libs: Libraries) -> Runner:
    parse = _need(libs.sipcore).parse_message
    data = msg.data

    def run() -> object:
        return parse(data)

    m: Any = run()
    _check("Call-ID", m.call_id, msg.expected.call_id)
    _check("body", m.body, msg.body)
    return run


def ours_typed(msg: TestMessage, libs: Libraries) -> Runner:
    parse = _need(libs.sipcore).parse_message
    data = msg.data

    def run() -> object:
        m = parse(data)
        to = m.to
        contact = m.contacts[0]
        return (
            m.vias[0].branch,
            m.from_.tag,
            to.tag,
            to.uri,
            m.cseq.number,
            m.call_id,
            contact.uri,
            contact.expires,
        )

    check_fields(run(), msg.expected)
    return run


def ours_bytes(msg: TestMessage, libs: Libraries) -> Runner:
    m = _need(libs.sipcore).parse_message(msg.data)

    def run() -> object:
        return bytes(m)

    check_wire(run(), msg)
    return run


def _ours_build_invite(sipcore: Any, msg: TestMessage) -> Runner:
    """``build_request`` from typed URI/From/To/Contact/Via, the other fields passed through."""
    build_request = sipcore.build_request
    start, values, body = _dissect(msg.data)
    text = {name.decode(): [v.decode() for v in vals] for name, vals in values.items()}
    uri = sipcore.parse_uri(start.split(b" ")[1].decode())
    parse_name_addr = sipcore.parse_name_addr
    from_addr = parse_name_addr(text["from"][0])
    to_addr = parse_name_addr(text["to"][0])
    contact = parse_name_addr(text["contact"][0])
    top_via = sipcore.Via.parse(text["via"][0])
    cseq = msg.expected.cseq
    call_id = msg.expected.call_id
    max_forwards = int(text["max-forwards"][0])
    content_type = text["content-type"][0]
    extra = [
        ("Via", text["via"][1]),
        *(("Record-Route", value) for value in text["record-route"]),
        ("Allow", text["allow"][0]),
        ("Supported", text["supported"][0]),
        ("User-Agent", text["user-agent"][0]),
    ]

    def run() -> object:
        return bytes(
            build_request(
                "INVITE",
                uri,
                from_addr=from_addr,
                to_addr=to_addr,
                call_id=call_id,
                cseq=cseq,
                via=top_via,
                max_forwards=max_forwards,
                contact=contact,
                headers=extra,
                body=body,
                content_type=content_type,
            )
        )

    return run


def _ours_build_register_ok(sipcore: Any, _msg: TestMessage) -> Runner:
    """``build_response`` to the parsed REGISTER (§8.2.6 copying) plus the bound Contact."""
    build_response = sipcore.build_response
    request = sipcore.parse_message(register_request())
    extra = [("Contact", REGISTER_CONTACT)]

    def run() -> object:
        return bytes(build_response(request, 200, "OK", to_tag=REGISTER_TO_TAG, headers=extra))

    return run


def ours_build(msg: TestMessage, libs: Libraries) -> Runner:
    sipcore = _need(libs.sipcore)
    builder = {"invite": _ours_build_invite, "register-200": _ours_build_register_ok}[msg.key]
    run = builder(sipcore, msg)
    check_wire(run(), msg)
    return run


@dataclass(frozen=True)
class Contender:
    name: str
    timed: str
    build: Callable[[TestMessage, Libraries], Runner]


@dataclass(frozen=True)
class Group:
    title: str
    contenders: tuple[Contender, ...]
    peer_ref: str  # contender name the "÷ peer" column divides by
    floor_ref: str  # contender name the "÷ floor" column divides by
    notes: tuple[str, ...] = ()
    serializes: bool = False  # output is wire bytes: report whether they equal the input


TYPED = "typed fields¹"

PARSE = Group(
    title="Parsing",
    contenders=(
        Contender(
            "naive floor", "`split(CRLFCRLF)`, `split(CRLF)`, `partition(b':')`", naive_parse
        ),
        Contender("sipmessage (raw)", "`Message.parse(data)`", sipmessage_parse),
        Contender(
            "sipmessage + typed",
            f"`Message.parse` + `.via` `.from_address` "
            f"`.to_address` `.cseq` `.call_id` `.contact`: {TYPED}",
            sipmessage_typed,
        ),
        Contender(
            "sippy (parse only)",
            "`data.decode()` + `SipRequest(text)` / `SipResponse(text)`",
            sippy_parse,
        ),
        Contender(
            "sippy + getHFBody", f"the above + `getHFBody(...)` getters: {TYPED}", sippy_typed
        ),
        Contender("ours (parse only)", "`sipcore.parse_message(data)`", ours_parse),
        Contender(
            "ours + typed access",
            f"`parse_message` + `.vias` `.from_` `.to` `.cseq` `.call_id` `.contacts`: {TYPED}",
            ours_typed,
        ),
    ),
    peer_ref="sipmessage (raw)",
    floor_ref="naive floor",
    notes=(
        "¹ typed fields: top Via branch, From tag, To tag and URI, CSeq number, Call-ID, first "
        "Contact URI and its `expires`; each library's own objects are returned, the check "
        "compares them as strings/ints.",
        "sipmessage `Message.parse` keeps header values as str but parses the Request-URI; "
        "`.via` / `.contact` parse every value of the header. sippy builds a header object per "
        "field and parses its body on first `getBody()` (so only the touched headers, only the "
        "top Via); its input is `data.decode()` and the request/response dispatch of its "
        "transaction manager. sipcore's `parse_message` validates Via, From, To, Call-ID, "
        "CSeq, Max-Forwards, Contact and Expires up front; whatever it leaves to first use "
        "(and the accessor calls themselves) is the gap between its two rows.",
    ),
)

SERIALIZE = Group(
    title="Serialization",
    contenders=(
        Contender("naive floor", "`b'\\r\\n'.join` of the partitioned lines + body", naive_join),
        Contender("sipmessage", "`bytes(msg)` of a parsed message", sipmessage_bytes),
        Contender(
            "sippy",
            "`str(msg).encode()` of a parsed message (= `localStr()` without a local address)",
            sippy_str,
        ),
        Contender("ours", "`bytes(msg)` of a parsed message", ours_bytes),
        Contender(
            "ours, built",
            "INVITE: `build_request(...)` from typed URI/From/To/Contact/"
            "top Via + the other fields as strings; 200 OK: `build_response(register, "
            "200, to_tag=..., headers=[Contact])`; then `bytes()`",
            ours_build,
        ),
    ),
    peer_ref="sipmessage",
    floor_ref="naive floor",
    notes=(
        "Every output is checked to carry the same start line, body and, per header name, the "
        "same values in the same order as the test message; *same bytes* says whether it is "
        "byte-identical to it, so a *no* can only come from the order of fields of different "
        "names, header-name case or spacing (the built INVITE: `build_request` writes its own "
        "headers first, then the "
        "passed-through second Via, Record-Routes, Allow, Supported and User-Agent). The typed "
        "inputs of the built rows and the parsed REGISTER are made once, outside the timed loop.",
    ),
    serializes=True,
)

GROUPS = (PARSE, SERIALIZE)


# --------------------------------------------------------------------------- timing


@dataclass
class Run:
    contender: Contender
    runner: Runner | None = None
    number: int = 0
    samples: list[float] = field(default_factory=list)  # seconds per call, one per round
    problem: str = ""
    output: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def iqr(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4)
        return q3 - q1


def _timer(runner: Runner) -> timeit.Timer:
    # timeit switches the collector off while timing; the setup switches it back on.
    return timeit.Timer(runner, setup=gc.enable)


def calibrate(runner: Runner, seconds: float) -> int:
    """Calls per round so that one round lasts about ``seconds``."""
    timer = _timer(runner)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min(0.02, seconds / 2):
            break
        number *= 10 if elapsed < 0.002 else 2
    return max(1, round(number * seconds / elapsed))


@dataclass(frozen=True)
class Settings:
    repeats: int  # rounds per contender
    seconds: float  # target duration of one contender's round
    slices: int  # batches a round is cut into, interleaved across contenders


def measure(group: Group, msg: TestMessage, libs: Libraries, settings: Settings) -> list[Run]:
    """Build and check every contender, then time ``settings.repeats`` rounds of each.

    A round is cut into ``settings.slices`` equal batches and the batches of all contenders
    are interleaved, in an order that rotates, so that the slow and fast phases of a shared or
    frequency-scaling CPU fall on every contender alike.
    """
    slices = settings.slices
    runs = [Run(c) for c in group.contenders]
    for run in runs:
        try:
            run.runner = run.contender.build(msg, libs)
        except Unavailable as exc:
            run.problem = f"not run: {exc}"
        except Exception as exc:
            run.problem = f"failed verification: {type(exc).__name__}: {exc}"
        else:
            run.output = run.runner()
            run.number = max(1, round(calibrate(run.runner, settings.seconds) / slices))
    active = [(run, _timer(run.runner)) for run in runs if run.runner is not None]
    for round_no in range(settings.repeats):
        totals = [0.0] * len(active)
        for slice_no in range(slices):
            shift = (round_no * slices + slice_no) % len(active) if active else 0
            for i in [*range(shift, len(active)), *range(shift)]:
                run, timer = active[i]
                totals[i] += timer.timeit(run.number)
        for (run, _), total in zip(active, totals, strict=True):
            run.samples.append(total / (run.number * slices))
        print(
            f"  {msg.key} / {group.title}: round {round_no + 1}/{settings.repeats}",
            file=sys.stderr,
        )
    return runs


# --------------------------------------------------------------------------- report


def _us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:.3f}" if us < 1 else f"{us:.2f}" if us < 100 else f"{us:.1f}"


def _ratio(run: Run, ref: Run | None) -> str:
    if ref is None or not ref.samples or not run.samples:
        return "—"
    return f"{run.median / ref.median:.2f}×"


def render_group(group: Group, runs: list[Run], msg: TestMessage) -> list[str]:
    by_name = {run.contender.name: run for run in runs}
    peer, floor = by_name.get(group.peer_ref), by_name.get(group.floor_ref)
    extra_head, extra_rule = (" same bytes |", ":---:|") if group.serializes else ("", "")
    lines = [
        f"**{group.title}**",
        "",
        f"| Contender | Timed | median µs/op | IQR µs | best µs | ops/s (median) "
        f"| ÷ {group.peer_ref} | ÷ {group.floor_ref} |{extra_head}",
        f"|---|---|---:|---:|---:|---:|---:|---:|{extra_rule}",
    ]
    problems: list[str] = []
    for run in runs:
        c = run.contender
        if run.samples:
            same = ""
            if group.serializes:
                same = " yes |" if run.output == msg.data else " no |"
            lines.append(
                f"| {c.name} | {c.timed} | {_us(run.median)} | {_us(run.iqr)} | {_us(run.best)} "
                f"| {1 / run.median:,.0f} | {_ratio(run, peer)} | {_ratio(run, floor)} |{same}"
            )
        else:
            blanks = " |" * (6 if group.serializes else 5)
            lines.append(f"| {c.name} | {c.timed} | n/a |{blanks}")
            problems.append(f"- **{c.name}**: {run.problem}")
    lines.append("")
    if problems:
        lines += [*problems, ""]
    return lines


def environment(libs: Libraries, settings: Settings) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.partition(":")[2].strip()
                    break
    except OSError:
        pass
    return [
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {cpu}",
        f"- sipcore: {libs.sipcore.status}",
        f"- sipmessage: {libs.sipmessage.status}; sippy: {libs.sippy.status}",
        f"- {settings.repeats} rounds per contender of about {settings.seconds * 1000:.0f} ms of "
        f"calls each, every round cut into {settings.slices} batches interleaved with the other "
        "contenders'; GC enabled",
        "- median µs/op, IQR and best are the median, interquartile range and minimum of the "
        "per-call time over the rounds; ops/s = 1 / median",
        "- ratios are median time ÷ the reference's median time (below 1 = faster than it)",
    ]


def report(
    messages: list[TestMessage],
    results: dict[str, list[list[Run]]],
    libs: Libraries,
    settings: Settings,
) -> str:
    out = ["# SIP message parse / serialize benchmark", ""]
    out += environment(libs, settings)
    out.append("")
    out.append(
        "Message sizes: "
        + ", ".join(
            f"{m.title}: {len(m.data)} bytes ({m.head_size} head + {len(m.body)} body)"
            for m in messages
        )
    )
    out.append("")
    for msg in messages:
        out.append(f"## {msg.title}: {len(msg.data)} bytes")
        out.append("")
        for group, runs in zip(GROUPS, results[msg.key], strict=True):
            out += render_group(group, runs, msg)
    out += ["## Notes", ""]
    if libs.sipcore.module is None:
        out += [f'- **The sipcore rows ("ours") were not run: sipcore {libs.sipcore.status}.**']
    out += [f"- {group.title}: {note}" for group in GROUPS for note in group.notes]
    return "\n".join(out).rstrip() + "\n"


def rows(quick: bool = False) -> list[tuple[str, str, float | None, float | None]]:
    """The results as data: (message / group, contender, median µs per op, that median ÷ the
    group's peer median); None where a contender could not run."""
    settings = Settings(repeats=5 if quick else 15, seconds=0.05 if quick else 0.2, slices=5)
    libs = Libraries.load()
    out: list[tuple[str, str, float | None, float | None]] = []
    for msg in (webrtc_invite(), register_ok()):
        for group in GROUPS:
            runs = measure(group, msg, libs, settings)
            peer = next((r for r in runs if r.contender.name == group.peer_ref), None)
            for run in runs:
                median = run.median * 1e6 if run.samples else None
                ratio = None
                if median is not None and peer is not None and peer.samples:
                    ratio = run.median / peer.median
                out.append((f"{msg.title} / {group.title}", run.contender.name, median, ratio))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="5 rounds of ~50 ms instead of 15 rounds of ~200 ms"
    )
    parser.add_argument("--markdown", metavar="PATH", type=Path, help="also write the report here")
    parser.add_argument("--repeats", type=int, help="rounds per contender (overrides the default)")
    parser.add_argument("--seconds", type=float, help="target duration of one round in seconds")
    parser.add_argument("--slices", type=int, help="interleaved batches per round (default 10)")
    args = parser.parse_args(argv)

    settings = Settings(
        repeats=args.repeats or (5 if args.quick else 15),
        seconds=args.seconds or (0.05 if args.quick else 0.2),
        slices=args.slices or (5 if args.quick else 10),
    )
    libs = Libraries.load()
    messages = [webrtc_invite(), register_ok()]
    for msg in messages:
        print(f"{msg.title}: {len(msg.data)} bytes", file=sys.stderr)
    print(f"sipcore: {libs.sipcore.status}", file=sys.stderr)

    results = {
        msg.key: [measure(group, msg, libs, settings) for group in GROUPS] for msg in messages
    }
    text = report(messages, results, libs, settings)
    sys.stdout.write(text)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
