"""registerLoggerCallback: types by level, one callback at a time, redaction kept."""

from __future__ import annotations

import logging

from client import web
from client.web.logs import log_type, registerLoggerCallback
from sipcore.transport.ws import wire_logger


def test_levels_map_to_the_sdk_types() -> None:
    assert [log_type(level) for level in (5, 10, 20, 30, 40, 50)] == [
        "log",
        "log",
        "info",
        "warn",
        "error",
        "error",
    ]


def test_records_reach_the_callback_redacted_and_it_can_be_replaced() -> None:
    got: list[tuple[str, str, tuple[object, ...]]] = []
    other: list[str] = []
    registerLoggerCallback(lambda kind, message, args: got.append((kind, message, args)))
    try:
        logging.getLogger("client.web").info("phone %s ready", "alice")
        logging.getLogger("media.session").warning("no audio")
        logging.getLogger("unrelated").error("not ours")
        # the wire logger masks credential headers before any handler sees the record
        wire_logger.debug("> %s: %s", "Authorization", 'Digest username="alice", response="abc"')
        assert got[0] == ("info", "phone alice ready", ("alice",))
        assert got[1] == ("warn", "no audio", ())
        assert got[2] == ("log", "> Authorization: ***", ("Authorization", "***"))
        assert len(got) == 3
        assert "response" not in repr(got)

        web.WebClient.registerLoggerCallback(lambda kind, message, args: other.append(message))
        logging.getLogger("sipcore").error("boom")
        assert other == ["boom"] and len(got) == 3
    finally:
        registerLoggerCallback(None)
    logging.getLogger("sipcore").error("after")
    assert other == ["boom"]


def test_levels_are_given_back_when_the_callback_goes() -> None:
    loggers = [logging.getLogger(name) for name in ("sipcore", "media", "client")]
    before = [logger.level for logger in loggers]
    logging.getLogger("media").setLevel(logging.ERROR)
    try:
        registerLoggerCallback(lambda kind, message, args: None, logging.INFO)
        assert [logger.getEffectiveLevel() <= logging.INFO for logger in loggers] == [True] * 3
        assert logging.getLogger("media").level == logging.INFO
        # replaced by a callback at a lower level: lowered from the original levels again
        registerLoggerCallback(lambda kind, message, args: None, logging.DEBUG)
        assert logging.getLogger("media").level == logging.DEBUG
        registerLoggerCallback(None)
        assert logging.getLogger("media").level == logging.ERROR
        assert [logger.level for logger in loggers[::2]] == before[::2]
        # a logger already verbose enough is left alone and kept as it was
        logging.getLogger("media").setLevel(logging.DEBUG)
        registerLoggerCallback(lambda kind, message, args: None, logging.WARNING)
        registerLoggerCallback(None)
        assert logging.getLogger("media").level == logging.DEBUG
    finally:
        registerLoggerCallback(None)
        for logger, level in zip(loggers, before, strict=True):
            logger.setLevel(level)
