from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipcore import KeepAlive, Limits, ParseError, StreamFramer, parse_message
from tests.fuzz.targets import stream_framer

MSG_A = (
    b"OPTIONS sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
    b"From: <sip:c@d.com>;tag=1\r\nTo: <sip:a@b.com>\r\nCall-ID: one\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n"
)
MSG_B = (
    b"MESSAGE sip:a@b.com SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK2\r\n"
    b"f: <sip:c@d.com>;tag=1\r\nt: <sip:a@b.com>\r\ni: two\r\nCSeq: 2 MESSAGE\r\n"
    b"c: text/plain\r\nl: 11\r\n\r\nhello\r\n\r\nx!"
)


def test_coalesced_and_keepalives() -> None:
    framer = StreamFramer()
    out = framer.feed(b"\r\n\r\n" + MSG_A + MSG_B + b"\r\n")
    assert out == [KeepAlive.PING, MSG_A, MSG_B, KeepAlive.PONG]
    assert framer.buffered == 0
    assert [parse_message(m, stream=True).call_id for m in out if isinstance(m, bytes)] == [
        "one",
        "two",
    ]


def test_split_byte_by_byte() -> None:
    framer = StreamFramer()
    out: list[bytes | KeepAlive] = []
    for i in range(len(MSG_B)):
        out += framer.feed(MSG_B[i : i + 1])
    assert out == [MSG_B]


def test_missing_content_length_fails_the_stream() -> None:
    framer = StreamFramer()
    bad = MSG_A.replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(ParseError):
        framer.feed(bad)
    with pytest.raises(ParseError):
        framer.feed(MSG_A)  # no resynchronisation after a framing error


@pytest.mark.parametrize(
    "data",
    [
        MSG_A.replace(b"Content-Length: 0", b"Content-Length: zero"),
        MSG_A.replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 3"),
        MSG_A.replace(b"Content-Length: 0", b"Content-Length: 99999999999999"),
        b"\rX",
    ],
)
def test_bad_framing(data: bytes) -> None:
    with pytest.raises(ParseError):
        StreamFramer().feed(data)


def test_limits_bound_memory() -> None:
    framer = StreamFramer(Limits(max_message_size=1000))
    with pytest.raises(ParseError) as info:
        for _ in range(100):
            framer.feed(b"X-Endless: " + b"a" * 50 + b"\r\n")
    assert info.value.status_hint == 513
    assert framer.buffered <= 1100
    framer = StreamFramer(Limits(max_message_size=1000))
    with pytest.raises(ParseError):
        framer.feed(MSG_A.replace(b"Content-Length: 0", b"Content-Length: 5000"))


@given(st.lists(st.integers(1, 64), min_size=1, max_size=40), st.integers(1, 4))
def test_random_chunking_yields_same_messages(sizes: list[int], pings: int) -> None:
    stream = b"\r\n\r\n" * pings + MSG_A + MSG_B + MSG_A
    framer = StreamFramer()
    out: list[bytes | KeepAlive] = []
    pos = 0
    i = 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        out += framer.feed(stream[pos : pos + size])
        pos += size
        i += 1
    messages = [m for m in out if isinstance(m, bytes)]
    assert messages == [MSG_A, MSG_B, MSG_A]
    # a ping split across reads may show as two pongs; every CRLF of the pings is reported,
    # before the first message
    assert out[-3:] == messages
    crlfs = [2 if m is KeepAlive.PING else 1 for m in out[:-3]]
    assert sum(crlfs) == 2 * pings


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_parse_error(data: bytes) -> None:
    stream_framer(data)  # only ParseError, and a cut anywhere yields the same messages


def test_messages_before_a_framing_error_are_kept() -> None:
    framer = StreamFramer()
    assert framer.feed(MSG_A + b"\rX") == [MSG_A]
    with pytest.raises(ParseError):
        framer.feed(b"")


def test_failed_head_is_the_header_section_that_could_not_be_framed() -> None:
    # RFC 4475 §3.1.2.3: enough is kept to answer the request before the connection closes
    framer = StreamFramer()
    bad = MSG_A.replace(b"Content-Length: 0", b"Content-Length: -999") + b"body"
    assert framer.feed(MSG_A + bad) == [MSG_A]
    assert isinstance(framer.failed, ParseError)
    assert framer.failed_head == bad.removesuffix(b"body")
    with pytest.raises(ParseError):
        framer.feed(b"")


def test_no_failed_head_without_a_whole_header_section() -> None:
    framer = StreamFramer()
    assert framer.feed(MSG_A) == [MSG_A]
    assert framer.failed is None
    assert framer.failed_head is None
    with pytest.raises(ParseError):
        framer.feed(b"\rX")
    assert framer.failed_head is None
