"""``registerLoggerCallback``: the project's log records, as the web-client SDK's logger
callback ``cb(type, message, args)``.

A handler on the project's loggers (``sipcore``, ``media``, ``client``) passes each record
on with ``type`` ``log`` (DEBUG), ``info``, ``warn`` (WARNING) or ``error`` (ERROR and
CRITICAL), the formatted ``message``, and ``args`` (the record's arguments). Records pass the
project's redacting filters first (e.g. credential headers on the WebSocket wire logger), so
what was masked stays masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["LOGGERS", "registerLoggerCallback"]

LOGGERS = ("sipcore", "media", "client")
"""The loggers the callback hears (and every logger under them)."""

_TYPES = ((logging.ERROR, "error"), (logging.WARNING, "warn"), (logging.INFO, "info"))


def log_type(level: int) -> str:
    for threshold, name in _TYPES:
        if level >= threshold:
            return name
    return "log"


class _CallbackHandler(logging.Handler):
    def __init__(self, callback: Callable[[str, str, tuple[object, ...]], object]) -> None:
        super().__init__(logging.DEBUG)
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        try:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            self.callback(log_type(record.levelno), record.getMessage(), args or ())
        except Exception:
            self.handleError(record)


_installed: list[_CallbackHandler] = []  # the one handler in place, if any
_lowered: dict[str, int] = {}  # logger name -> its own level before we lowered it


def registerLoggerCallback(
    callback: Callable[[str, str, tuple[object, ...]], object] | None,
    level: int = logging.DEBUG,
) -> None:
    """Send the project's log records at ``level`` and above to ``callback`` (one callback
    for the process, as in the SDK: a new one replaces the previous; None removes it). The
    project's loggers are lowered to ``level`` when they would drop such records, and given
    their own levels back when the callback is removed or replaced."""
    for old in _installed:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(old)
    _installed.clear()
    for name, own in _lowered.items():
        logging.getLogger(name).setLevel(own)
    _lowered.clear()
    if callback is None:
        return
    handler = _CallbackHandler(callback)
    handler.setLevel(level)
    _installed.append(handler)
    for name in LOGGERS:
        target = logging.getLogger(name)
        target.addHandler(handler)
        if target.getEffectiveLevel() > level:
            _lowered[name] = target.level
            target.setLevel(level)
