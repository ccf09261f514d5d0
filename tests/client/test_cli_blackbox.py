"""Black-box UAS robustness: the CLI softphone, listening on UDP and TCP with auto-answer, gets
every torture request of ``tests/data/torture``, crafted requests for each error status,
responses that belong to nothing and seeded mutations; each gets the answer its verdict calls
for, and after each one the softphone still answers OPTIONS with 200.

The expected answer of a torture message is derived from the verdict column of the corpus
README: the statuses it names (with 400 for an invalid request), silence for a response, and
"processed" (any final answer but 400) for a valid request, or where the verdict leaves room to
a liberal element or speaks of another role (proxy, registrar). Over UDP the top Via gets
``rport`` (RFC 3581) so that answers come back to the test's socket rather than to the port the
message names, and branches get a per-transport suffix so the UDP pass is not taken for
retransmissions of the TCP pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sipcore.errors import ParseError
from sipcore.framer import StreamFramer
from sipcore.message import Response, parse_message
from tests.fuzz.targets import TORTURE, mutate, seeds

from .helpers import CliProcess

PROCESSED = 0  # any final answer but 400


@dataclass(frozen=True)
class Answer:
    """A response as the test reads it: status, Call-ID and header text (an answer to a
    malformed request echoes its lines, so it need not parse)."""

    status_code: int
    call_id: str
    text: str

    @classmethod
    def read(cls, data: bytes) -> Answer | None:
        m = re.match(rb"SIP/2\.0 (\d{3}) ", data)
        if m is None:
            return None
        cid = re.search(rb"\r\n(?:Call-ID|i)\s*:\s*([^\r\n]*)", data, re.IGNORECASE)
        text = data.split(b"\r\n\r\n")[0].decode("utf-8", "replace")
        return cls(int(m.group(1)), cid.group(1).decode("utf-8", "replace") if cid else "", text)

    def header(self, name: str) -> str | None:
        m = re.search(rf"\r\n{name}\s*:\s*([^\r\n]*)", self.text, re.IGNORECASE)
        return m.group(1) if m else None


OPTIONS_WAIT = 32.0  # Timer F (64*T1): the OPTIONS must be answered within it
MUTATIONS = 600


def verdicts() -> dict[str, str]:
    rows = (TORTURE / "README.md").read_text().splitlines()
    table = [r.split("|") for r in rows if r.startswith("| ") and ".sip" in r]
    return {cells[1].strip().removesuffix(".sip"): cells[4].strip() for cells in table}


def expected(data: bytes, verdict: str) -> set[int] | None:
    """The acceptable final statuses (PROCESSED: any but 400), or None for silence."""
    if data[:4].upper() == b"SIP/":
        return None
    codes = {int(c) for c in re.findall(r"\b([1-6]\d\d)\b", verdict) if int(c) >= 400}
    if verdict.startswith("invalid") or "respond with an error" in verdict:
        codes.add(400)
    if not codes or re.search(r"liberal|robust|ignore|proxy|registrar|accept|fall back", verdict):
        codes.add(PROCESSED)
    return codes


def on_stream(data: bytes, codes: set[int] | None) -> set[int] | None:
    """What a stream makes of a message with verdict ``codes``: one still incomplete when the
    sender stops (no end of headers: baddn; a body shorter than Content-Length: clerr) is never
    read, so it gets no answer; a framing error in a whole header section (a negative, missing
    or conflicting Content-Length: ncl, inv2543, mcl01) gets its error answer and the
    connection closes (§18.3); a message that frames keeps its verdict."""
    try:
        items = StreamFramer().feed(data)
    except ParseError as exc:
        return {exc.status_hint}
    return codes if items else None


def accepts(codes: set[int] | None, statuses: list[int]) -> bool:
    finals = [s for s in statuses if s >= 200]
    if codes is None:
        return statuses == []
    if len(finals) != 1:
        return False
    return finals[0] in codes or (PROCESSED in codes and finals[0] != 400)


def fresh(data: bytes, tag: str) -> bytes:
    """Branches of this message's own: the corpus reuses ``z9hG4bKkdjuw`` with the same sent-by
    and method (cparam01/cparam02, novelsc/unkscm), which §17.2.3 rightly takes for one
    transaction while its Timer J runs. A bare magic cookie (badbranch) is left as it is."""
    return re.sub(rb"z9hG4bK(?=[^;,\s])", b"z9hG4bK" + tag.encode(), data)


def with_rport(data: bytes) -> bytes:
    """rport (RFC 3581) at the end of the first value of the top Via, so that answers come back
    to the sending socket: the header may be compact, folded over several lines or hold several
    values, so the field is located with its continuation lines and the parameter goes before
    the first comma."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    via = re.compile(rb"(?i)(via|v)[ \t]*:")
    start = next((i for i, line in enumerate(lines) if via.match(line)), None)
    if start is None:
        return data
    end = start + 1
    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
        end += 1
    field = b"\r\n".join(lines[start:end])
    colon = field.index(b":")
    comma = field.find(b",", colon)
    cut = len(field) if comma < 0 else comma
    field = field[:cut].rstrip() + b";rport" + field[cut:]
    lines[start:end] = field.split(b"\r\n")
    return b"\r\n".join(lines) + sep + body


def request(method: str, port: int, transport: str, tag: str, extra: str = "", **kw: str) -> bytes:
    body = kw.get("body", "")
    return (
        f"{kw.get('start', f'{method} sip:bob@127.0.0.1:{port} SIP/2.0')}\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:9;rport;branch=z9hG4bK{tag}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=f{tag}\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: {tag}\r\nCSeq: 1 {kw.get('cseq', method)}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def crafted(port: int, transport: str) -> list[tuple[str, bytes, set[int] | None, str]]:
    """(name, message, acceptable statuses, a header the answer must carry)."""
    t = transport
    return [
        ("require", request("OPTIONS", port, t, "c1", "Require: foo, 100rel\r\n"), {420},
         "Unsupported"),
        ("content-type", request("MESSAGE", port, t, "c2") , {405}, "Allow"),
        ("content-type", request("INFO", port, t, "c3", "Content-Type: text/x-nope\r\n",
                                 body="hi"), {415}, "Accept"),
        ("encoding", request("INFO", port, t, "c4", "Content-Type: application/sdp\r\n"
                             "Content-Encoding: gzip\r\n", body="v=0"), {415}, "Accept-Encoding"),
        ("scheme", request("OPTIONS", port, t, "c5", start="OPTIONS im:bob@127.0.0.1 SIP/2.0"),
         {416}, ""),
        ("method", request("FROB", port, t, "c6"), {501}, "Allow"),
        ("version", request("OPTIONS", port, t, "c7",
                            start=f"OPTIONS sip:bob@127.0.0.1:{port} SIP/3.0"), {505}, ""),
        ("garbage", request("OPTIONS", port, t, "c8", start="OPTIONS sip:bob@127.0.0.1 SIPX"),
         {400}, ""),
        ("unreadable", b"\x00\x01garbage\r\n\r\n", None, ""),
        ("stray 200", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnone\r\n"
         b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: stray\r\n"
         b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", None, ""),
        ("stray 180", b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKx\r\n"
         b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: stray2\r\n"
         b"CSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n", None, ""),
    ]  # fmt: skip


class Peer:
    """The test's end: sends one message, collects the answers, ends calls, checks OPTIONS."""

    def __init__(self, transport: str, port: int) -> None:
        self.transport = transport
        self.port = port
        self.answers: asyncio.Queue[Answer] = asyncio.Queue()
        self.udp: asyncio.DatagramTransport | None = None
        self.shared: tuple[asyncio.Future[None], asyncio.StreamWriter] | None = None
        self.counter = 0
        self.spent: list[asyncio.StreamWriter] = []
        self.readers: set[asyncio.Future[None]] = set()

    async def open(self) -> None:
        if self.transport == "UDP":
            loop = asyncio.get_running_loop()
            answers = self.answers

            class Proto(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: object) -> None:
                    answer = Answer.read(data)
                    if answer is not None:
                        answers.put_nowait(answer)

            self.udp, _ = await loop.create_datagram_endpoint(
                Proto, remote_addr=("127.0.0.1", self.port)
            )

    async def _connection(self, shared: bool) -> asyncio.StreamWriter:
        if shared and self.shared is not None:
            reading, writer = self.shared
            if not reading.done() and not writer.is_closing():
                return writer
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        task = asyncio.ensure_future(self._read(reader))
        self.readers.add(task)
        if shared:
            self.shared = (task, writer)
        return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        with contextlib.suppress(ParseError, ConnectionError):
            while data := await reader.read(65536):
                for item in framer.feed(data):
                    if isinstance(item, bytes):
                        answer = Answer.read(item)
                        if answer is not None:
                            self.answers.put_nowait(answer)

    async def send(self, data: bytes, *, shared: bool = False) -> asyncio.StreamWriter | None:
        if self.udp is not None:
            self.udp.sendto(data)
            return None
        writer = await self._connection(shared)
        writer.write(data)
        if shared and not frames_cleanly(data):
            # the stream after it cannot be read as the next message: the next one starts a
            # fresh connection, this one is closed once the answers are in
            self.spent.append(writer)
            self.shared = None
        return writer

    async def exchange(self, data: bytes, *, shared: bool = False) -> list[Answer]:
        """Send ``data``, then OPTIONS; the answers before OPTIONS's 200 are ``data``'s (an
        INVITE's final answer is awaited, and the call it set up is ended)."""
        self.counter += 1
        try:
            return await self._exchange(data, shared)
        except TimeoutError:
            raise AssertionError(
                f"no 200 for OPTIONS (shared={shared}) after {data[:2000]!r}"
            ) from None

    async def _exchange(self, data: bytes, shared: bool) -> list[Answer]:
        writer = await self.send(data, shared=shared)
        got: list[Answer] = []
        try:
            call_id = parse_message(data).call_id if data[:4] != b"SIP/" else None
        except ParseError:
            call_id = None
        invite = data.startswith(b"INVITE ")
        if invite and call_id is not None:  # wait for its final answer
            deadline = time.monotonic() + 15
            while not any(r.status_code >= 200 and r.call_id == call_id for r in got):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    got.append(await asyncio.wait_for(self.answers.get(), left))
                except TimeoutError:
                    break
            await self._end_call([r for r in got if r.call_id == call_id], data, shared)
        tag = f"ping{self.counter}{self.transport}"
        ping = request("OPTIONS", self.port, self.transport, tag)
        pinger = await self.send(ping, shared=shared)
        deadline = time.monotonic() + OPTIONS_WAIT
        while True:
            answer = await asyncio.wait_for(self.answers.get(), deadline - time.monotonic())
            if answer.call_id == tag and answer.status_code >= 200:
                assert answer.status_code == 200, answer
                break
            got.append(answer)
        for stream in (writer, pinger):
            if stream is not None and not shared:
                stream.close()
        while self.spent:
            self.spent.pop().close()
        # a request that does not parse is answered with its own Call-ID line, if any: answers
        # to the test's ACK, BYE or CANCEL of earlier calls that arrive late are not its own
        return [
            r
            for r in got
            if r.call_id == call_id or (call_id is None and r.call_id.encode("utf-8") in data)
        ]

    async def _end_call(self, answers: list[Answer], invite: bytes, shared: bool) -> None:
        """ACK the final answer; BYE after a 2xx, CANCEL when none came."""
        finals = [r for r in answers if r.status_code >= 200]
        msg = parse_message(invite)
        if not finals:
            cancel = invite.split(b"\r\n\r\n")[0].replace(b"INVITE", b"CANCEL")
            await self.send(re.sub(rb"Content-Length: *\d+", b"Content-Length: 0", cancel)
                            + b"\r\n\r\n", shared=shared)  # fmt: skip
            return
        final = finals[0]
        to = final.header("To") or final.header("t") or ""
        via = msg.headers.get_all("Via")[0] if final.status_code >= 300 else None
        branch = f"z9hG4bKack{self.counter}"
        for method in ("ACK", "BYE") if final.status_code < 300 else ("ACK",):
            top = via or f"SIP/2.0/{self.transport} 127.0.0.1:9;rport;branch={branch}{method}"
            await self.send(
                (
                    f"{method} {msg.uri} SIP/2.0\r\nVia: {top}\r\nMax-Forwards: 70\r\n"
                    f"From: {msg.headers.get('From')}\r\nTo: {to}\r\n"
                    f"Call-ID: {msg.call_id}\r\nCSeq: {msg.cseq.number + (method == 'BYE')} "
                    f"{method}\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                shared=shared,
            )

    async def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.shared is not None:
            self.shared[1].close()


def frames_cleanly(data: bytes) -> bool:
    """``data`` is one whole message on a stream (Content-Length matches, nothing after)."""
    framer = StreamFramer()
    try:
        return framer.feed(data) == [data] and framer.buffered == 0
    except ParseError:
        return False


def owed(data: bytes, *, stream: bool) -> list[int] | None:
    """The error answers ``data`` may get, each at most once: the status hint of every request
    in it that fails to parse (a datagram is one message; a stream frames as many as it holds,
    and a framing error in a whole header section is answered too), none for a response. None
    when a request in it parses: its answer is the application's and is not checked here."""
    framer = StreamFramer()
    parts: list[bytes] = [data]
    if stream:
        try:
            parts = [item for item in framer.feed(data) if isinstance(item, bytes)]
        except ParseError:
            parts = []
    allowed = []
    for part in parts:
        try:
            message = parse_message(part, stream=stream)
        except ParseError as exc:
            if part[:4].upper() != b"SIP/":
                allowed.append(exc.status_hint)
            continue
        if not isinstance(message, Response):
            return None
    head = framer.failed_head
    if framer.failed is not None and head is not None and head[:4].upper() != b"SIP/":
        allowed.append(framer.failed.status_hint)
    return allowed


def status_list(answers: list[Answer]) -> list[int]:
    return [r.status_code for r in answers if r.status_code >= 200]


async def test_cli_softphone_answers_every_bad_input_and_keeps_answering_options(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    cli = await CliProcess.start(
        "--aor", "sip:bob@127.0.0.1", "--listen", "udp:127.0.0.1:0",
        "--listen", "tcp:127.0.0.1:0", "--auto-answer", "--stats-interval", "0",
    )  # fmt: skip
    wrong: list[str] = []
    counts: dict[str, int] = {}
    seen: Counter[int] = Counter()
    try:
        ports = {"UDP": await cli.port("udp"), "TCP": await cli.port("tcp")}
        torture = verdicts()
        for transport in ("TCP", "UDP"):
            peer = Peer(transport, ports[transport])
            await peer.open()
            port = ports[transport]
            for name, verdict in sorted(torture.items()):
                data = fresh((TORTURE / f"{name}.sip").read_bytes(), f"{name}{transport}")
                codes = expected(data, verdict)
                if transport == "UDP":
                    data = with_rport(data)
                else:
                    codes = on_stream(data, codes)
                statuses = status_list(await peer.exchange(data))
                if name == "dblreq":  # two requests in one datagram or stream
                    statuses = statuses[:1]
                if not accepts(codes, statuses):
                    wrong.append(f"{transport} {name}: {statuses}, expected {codes}")
                counts["torture"] = counts.get("torture", 0) + 1
                seen.update(statuses)
            for name, data, codes, header in crafted(port, transport):
                answers = await peer.exchange(data)
                statuses = status_list(answers)
                if not accepts(codes, statuses):
                    wrong.append(f"{transport} crafted {name}: {statuses}, expected {codes}")
                elif header and answers[-1].header(header) is None:
                    wrong.append(f"{transport} crafted {name}: no {header} header")
                counts["crafted"] = counts.get("crafted", 0) + 1
                seen.update(statuses)
            rng = random.Random(f"blackbox-{transport}")
            corpus = seeds()
            for i in range(MUTATIONS // 2):
                data = fresh(mutate(rng, corpus), f"m{i}{transport}")
                data = with_rport(data) if transport == "UDP" else data
                answers = await peer.exchange(data, shared=transport == "TCP" and i % 2 == 1)
                allowed = owed(data, stream=transport == "TCP")
                finals = status_list(answers)
                if allowed is not None and any(finals.count(s) > allowed.count(s) for s in finals):
                    wrong.append(f"{transport} mutation {i}: {finals}, at most {allowed}")
                counts["mutated"] = counts.get("mutated", 0) + 1
                seen.update(finals)
            await peer.close()
        assert cli.proc.returncode is None, "the softphone is still running"
    finally:
        await cli.close()
    elapsed = time.monotonic() - started
    print(f"black-box run: {counts} messages in {elapsed:.1f} s, answers {sorted(seen.items())}")
    assert wrong == [], "\n".join(wrong)
    assert elapsed < 60
