"""Session-Expires and Min-SE (RFC 4028 §4, §5), negotiation (§7-§9) and deadlines (§10)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipcore import ParseError, Request, Response, build_response
from sipcore.session_timer import (
    Negotiated,
    SessionExpires,
    SessionTimer,
    SessionTimerConfig,
    min_se,
    session_expires,
    uac_outcome,
    uas_negotiate,
)
from tests.sipcore.helpers import request


@given(st.text(max_size=40))
def test_parsing_never_raises_anything_but_parse_error(text: str) -> None:
    message = request("INVITE")
    message.headers.add("Session-Expires", text.replace("\r", "").replace("\n", ""))
    message.headers.add("Min-SE", text.replace("\r", "").replace("\n", ""))
    for parse in (session_expires, min_se):
        with contextlib.suppress(ParseError):
            parse(message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1800", SessionExpires(1800)),
        ("90;refresher=UAS", SessionExpires(90, "uas")),
        ("4000 ; x=y ; refresher=uac", SessionExpires(4000, "uac")),
    ],
)
def test_session_expires(text: str, expected: SessionExpires) -> None:
    assert SessionExpires.parse(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "-5", "90;refresher=both", "90;re fresher=uac"])
def test_bad_session_expires(text: str) -> None:
    with pytest.raises(ParseError):
        SessionExpires.parse(text)


def test_compact_form_and_min_se() -> None:
    message = request("INVITE")
    message.headers.add("x", "300;refresher=uac")
    message.headers.add("Min-SE", "120;foo")
    assert session_expires(message) == SessionExpires(300, "uac")
    assert min_se(message) == 120


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        SessionTimerConfig(min_se=60)
    with pytest.raises(ValueError):
        SessionTimerConfig(session_expires=100, min_se=200)
    with pytest.raises(ValueError):
        SessionTimerConfig(refresher="peer")


def invite(*headers: tuple[str, str]) -> Request:
    message = request("INVITE")
    for header in headers:
        message.headers.add(*header)
    return message


@pytest.mark.parametrize(
    ("headers", "config", "expected"),
    [
        # §8.1: below our Min-SE: 422 naming it
        (
            [("Supported", "timer"), ("Session-Expires", "100")],
            SessionTimerConfig(min_se=200),
            (200, None, []),
        ),
        # the UAC asked to refresh
        (
            [("Supported", "timer"), ("Session-Expires", "600;refresher=uac")],
            SessionTimerConfig(),
            (
                None,
                Negotiated(600, False),
                [("Session-Expires", "600;refresher=uac"), ("Require", "timer")],
            ),
        ),
        # lowered to our session_expires, not below the request's Min-SE
        (
            [("Supported", "timer"), ("Session-Expires", "7200"), ("Min-SE", "2000")],
            SessionTimerConfig(session_expires=1800, refresher="local"),
            (
                None,
                Negotiated(2000, True),
                [("Session-Expires", "2000;refresher=uas"), ("Require", "timer")],
            ),
        ),
        # §9: a UAC without timers: we refresh and do not Require it
        (
            [],
            SessionTimerConfig(),
            (None, Negotiated(1800, True), [("Session-Expires", "1800;refresher=uas")]),
        ),
        ([("Session-Expires", "600")], SessionTimerConfig(enabled=False), (None, None, [])),
    ],
)
def test_uas_negotiation(
    headers: list[tuple[str, str]], config: SessionTimerConfig, expected: object
) -> None:
    assert uas_negotiate(invite(*headers), config) == expected


def test_uac_outcome() -> None:
    def answer(value: str | None) -> Response:
        extra = [] if value is None else [("Session-Expires", value)]
        return build_response(request("INVITE"), 200, to_tag="t", headers=extra)

    assert uac_outcome(answer(None)) is None
    assert uac_outcome(answer("300;refresher=uac")) == Negotiated(300, True)
    assert uac_outcome(answer("300;refresher=uas")) == Negotiated(300, False)
    with pytest.raises(ParseError):
        uac_outcome(answer("x"))


def test_timer_headers_and_deadlines() -> None:
    timer = SessionTimer(SessionTimerConfig(session_expires=600, refresher="local"))
    assert timer.request_headers(initial=True) == [
        ("Session-Expires", "600;refresher=uac"),
        ("Min-SE", "90"),
    ]
    assert timer.raise_min_se(900) and not timer.raise_min_se(1200)  # §7.3: one retry
    assert timer.request_headers(initial=True)[0] == ("Session-Expires", "900;refresher=uac")
    timer.start(Negotiated(900, True), 10.0)
    assert timer.deadline == 10.0 + 450  # §10: the refresher at half the interval
    assert timer.due(400.0) is None and timer.due(460.0) == "refresh"
    assert timer.request_headers(initial=False) == [
        ("Session-Expires", "900;refresher=uac"),
        ("Min-SE", "900"),
    ]
    timer.start(Negotiated(90, False), 0.0)
    assert timer.deadline == 60.0  # 90 - min(32, 90/3)
    assert timer.request_headers(initial=False)[0] == ("Session-Expires", "90;refresher=uas")
    assert timer.due(60.0) == "expire" and timer.deadline is None
    timer.start(Negotiated(1800, False), 0.0)
    assert timer.deadline == 1800 - 32
    timer.start(None, 0.0)
    assert timer.deadline is None and timer.interval is None
    assert SessionTimer(SessionTimerConfig(enabled=False)).request_headers(initial=True) == []
