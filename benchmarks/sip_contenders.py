"""The contenders of the SIP parse / serialize benchmark (benchmarks/bench_sip.py).

- :class:`Libraries` loads the libraries compared: ``sipcore`` (from this checkout) and the
  peers sipmessage and sippy; one that cannot be imported is kept with the reason, and its
  contenders are reported as not run (:class:`Unavailable`);
- the adapters, one per contender, each ``(message, libraries) -> runner``: the naive floor,
  sipmessage, sippy and ours (sipcore), for parsing and for serialization. Each checks its
  result against the message (:mod:`benchmarks.sip_messages`) before returning the runner
  that is timed;
- :data:`PARSE` and :data:`SERIALIZE`, the groups of contenders reported side by side.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.sip_messages import (
    REGISTER_CONTACT,
    REGISTER_TO_TAG,
    TestMessage,
    check,
    check_fields,
    check_wire,
    dissect,
    register_request,
)

ROOT = Path(__file__).resolve().parent.parent

Runner = Callable[[], object]


# --------------------------------------------------------------------------- libraries


class Unavailable(Exception):
    """The library behind a contender cannot be used in this run."""


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


# --------------------------------------------------------------------------- contenders


def naive_split(data: bytes) -> tuple[list[tuple[bytes, bytes, bytes]], bytes]:
    head, body = data.split(b"\r\n\r\n", 1)
    return [line.partition(b":") for line in head.split(b"\r\n")], body


def naive_parse(msg: TestMessage, _libs: Libraries) -> Runner:
    run = functools.partial(naive_split, msg.data)
    parts, body = run()
    call_ids = [v.strip() for n, _, v in parts if n.lower() == b"call-id"]
    check("Call-ID", call_ids, [msg.expected.call_id.encode()])
    check("body", body, msg.body)
    return run


def naive_join(msg: TestMessage, _libs: Libraries) -> Runner:
    parts, body = naive_split(msg.data)

    def run() -> object:
        return b"\r\n".join([b"".join(p) for p in parts]) + b"\r\n\r\n" + body

    check("round trip", run(), msg.data)
    return run


def sipmessage_parse(msg: TestMessage, libs: Libraries) -> Runner:
    parse = _need(libs.sipmessage)["sipmessage"].Message.parse
    data = msg.data

    def run() -> object:
        return parse(data)

    m: Any = run()
    check("Call-ID", m.headers["Call-ID"], msg.expected.call_id)
    check("body", m.body, msg.body)
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
    check("Call-ID", str(m.getHFBody("call-id")), msg.expected.call_id)
    check("body", b"" if m.body is None else str(m.body).encode(), msg.body)
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
    check("Call-ID", m.call_id, msg.expected.call_id)
    check("body", m.body, msg.body)
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
    start, values, body = dissect(msg.data)
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
