"""The SDK's on-disk log: a rotating file in the context's data directory, every line
redacted, and the window of lines ``uploadLogs`` sends.

Redaction (on top of the WebSocket wire filter of :mod:`sipcore.transport.ws`): the values of
Authorization, Proxy-Authorization and Cookie headers, ``Bearer`` credentials anywhere,
``password=``/``token=``/``credential=`` pairs, and every secret the client registered
(the subscriber token, a digest password) are replaced by ``***`` before a line reaches the
file or ``onLog``.

Upload format: ``POST`` of a gzip-compressed JSON document (``Content-Type:
application/json``, ``Content-Encoding: gzip``) with ``account_sid``, ``subscriber``,
``session_id``, ``description``, ``start``, ``end`` (ISO 8601) and ``lines``, the log lines
whose timestamp falls in [start, end].
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

__all__ = ["LOGGERS", "VoiceLog", "redact"]

LOGGERS = ("client", "sipcore", "media")
"""The loggers written to the file."""
LOG_NAME = "voice.log"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

_HEADER = re.compile(r"(?im)^((?:proxy-)?authorization|cookie|set-cookie)(\s*:\s*)[^\r\n]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
_PAIR = re.compile(r"(?i)\b(password|passwd|token|credential|secret)(\s*[=:]\s*)[^\s,;&\"']+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _HEADER.sub(r"\1\2***", text)
    text = _BEARER.sub(r"\1 ***", text)
    return _PAIR.sub(r"\1\2***", text)


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", _TIME_FORMAT
        )
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets())


class _Forward(logging.Handler):
    """Hands each redacted record to ``onLog``."""

    def __init__(
        self, sink: Callable[[str, str, str], None], secrets: Callable[[], Iterable[str]]
    ) -> None:
        super().__init__()
        self._sink = sink
        self._secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = redact(record.getMessage(), self._secrets())
            self._sink(record.levelname, record.name, message)
        except Exception:
            self.handleError(record)


class VoiceLog:
    """The rotating log of one client; ``open()`` attaches it, ``close()`` detaches it."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        backups: int,
        level: str,
        secrets: Callable[[], Iterable[str]],
        on_log: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.path = Path(directory) / LOG_NAME
        self._max_bytes = max_bytes
        self._backups = backups
        self._level = logging.getLevelName(level.upper())
        self._secrets = secrets
        self._formatter = _Redacting(secrets)
        self._on_log = on_log
        self._handlers: list[logging.Handler] = []
        self._levels: dict[str, int] = {}

    def open(self) -> None:
        if self._handlers:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=self._max_bytes, backupCount=self._backups, encoding="utf-8"
        )
        handler.setFormatter(self._formatter)
        handler.setLevel(self._level)
        self._handlers = [handler]
        if self._on_log is not None:
            forward = _Forward(self._on_log, self._secrets)
            forward.setLevel(self._level)
            self._handlers.append(forward)
        for name in LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            if logger.level == logging.NOTSET or logger.level > self._level:
                logger.setLevel(self._level)
            for h in self._handlers:
                logger.addHandler(h)

    def close(self) -> None:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            for h in self._handlers:
                logger.removeHandler(h)
            if name in self._levels:
                logger.setLevel(self._levels.pop(name))
        for h in self._handlers:
            h.close()
        self._handlers = []

    def files(self) -> list[Path]:
        """The log files, oldest first."""
        rotated = [self.path.with_name(f"{LOG_NAME}.{i}") for i in range(self._backups, 0, -1)]
        return [p for p in (*rotated, self.path) if p.exists()]

    def lines(self, start: datetime, end: datetime) -> list[str]:
        """The lines logged in [start, end] (naive local times, as the file writes them);
        continuation lines (tracebacks, SIP messages) go with the line they follow."""
        for h in self._handlers:
            h.flush()
        out: list[str] = []
        keep = False
        for path in self.files():
            for line in path.read_text("utf-8", errors="replace").splitlines():
                stamp = _stamp(line)
                if stamp is not None:
                    keep = start <= stamp <= end
                if keep:
                    out.append(line)
        return out


def _stamp(line: str) -> datetime | None:
    try:
        return datetime.strptime(line[:19], _TIME_FORMAT)
    except ValueError:
        return None
