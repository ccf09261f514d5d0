"""The demonstration behind ``scripts/demo``.

What the stack can show today is its message layer: a WebRTC INVITE is built, sent through a
byte stream in awkward chunks, framed, parsed with typed access, answered per RFC 3261 §8.2.6,
and hostile variants are rejected with the status a UAS would send.
"""

from __future__ import annotations

import random

from sipcore import (
    NameAddr,
    ParseError,
    Request,
    SipUri,
    StreamFramer,
    Via,
    build_request,
    build_response,
    generate_branch,
    generate_call_id,
    generate_tag,
    parse_message,
)

_SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    b"m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\nc=IN IP4 0.0.0.0\r\n"
    b"a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:126 telephone-event/8000\r\na=setup:actpass\r\na=rtcp-mux\r\n"
)


def run() -> int:
    invite = build_request(
        "INVITE",
        SipUri("127.0.0.1", user="bob"),
        from_addr=NameAddr(SipUri("127.0.0.1", user="alice"), "Alice", {"tag": generate_tag()}),
        to_addr=NameAddr(SipUri("127.0.0.1", user="bob"), "Bob"),
        call_id=generate_call_id(),
        cseq=1,
        via=Via("WSS", "df7jal23ls0d.invalid", None, {"branch": generate_branch(), "rport": None}),
        contact=NameAddr(SipUri("df7jal23ls0d.invalid", user="k3l4", params={"transport": "ws"})),
        headers=[("Supported", "outbound, timer"), ("Allow", "INVITE, ACK, CANCEL, BYE")],
        body=_SDP,
        content_type="application/sdp",
    )
    wire = bytes(invite)
    print(f"built an INVITE of {len(wire)} octets:\n")
    print(wire.decode().replace("\r\n", "\n  ").rstrip())

    # a stream transport delivers it with a keep-alive ping, cut into random pieces
    stream = b"\r\n\r\n" + wire + wire
    framer = StreamFramer()
    items = []
    rng = random.Random(7)
    pos = 0
    while pos < len(stream):
        size = rng.randint(1, 97)
        items += framer.feed(stream[pos : pos + size])
        pos += size
    messages = [m for m in items if isinstance(m, bytes)]
    print(f"\nstream framer: {len(items) - len(messages)} keep-alive, {len(messages)} messages")

    msg = parse_message(messages[0], stream=True)
    assert isinstance(msg, Request)
    via = msg.top_via
    print(f"parsed: {msg.method} {msg.uri}")
    print(f"  Via {via.transport} {via.sent_by} branch={via.branch} rport={via.rport}")
    print(f"  From {msg.from_.display_name!r} {msg.from_.uri} tag={msg.from_.tag}")
    print(f"  To {msg.to.display_name!r} {msg.to.uri}; Call-ID {msg.call_id}; CSeq {msg.cseq}")
    print(f"  Contact {msg.contacts[0].uri}; Supported {msg.supported}")
    print(f"  {msg.content_type} body of {len(msg.body)} octets")

    ok = build_response(msg, 200, to_tag=generate_tag())
    print(f"\nanswer (§8.2.6): {ok.start_line()}, To tag {ok.to.tag}, CSeq {ok.cseq}")

    print("\nhostile variants:")
    variants = {
        "unknown SIP version": wire.replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1),
        "CSeq method mismatch": wire.replace(b"1 INVITE", b"1 BYE"),
        "Content-Length too large": wire.replace(b"Content-Length: ", b"Content-Length: 9"),
        "unterminated display name": wire.replace(b'"Alice"', b'"Alice'),
        "random bytes": bytes(rng.randrange(256) for _ in range(200)),
    }
    for name, data in variants.items():
        try:
            parse_message(data)
        except ParseError as exc:
            print(f"  {name}: {exc.status_hint} ({exc})")
        else:
            print(f"  {name}: accepted (unexpected)")
            return 1
    return 0
