"""The redacted rotating log and its upload window."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from client.voice.logs import VoiceLog, redact


def test_redact_masks_headers_bearer_pairs_and_known_secrets() -> None:
    text = (
        "REGISTER sip:x SIP/2.0\r\nAuthorization: Bearer eyJ.abc-def\r\n"
        'Proxy-Authorization: Digest username="a", response="99"\r\n'
        "sent Bearer tok_2= and password=pw1; token: t-3 credential=c4 s3cr3t"
    )
    out = redact(text, ["s3cr3t"])
    for secret in ("eyJ.abc-def", '"99"', "tok_2", "pw1", "t-3", "c4", "s3cr3t"):
        assert secret not in out
    assert "Authorization: ***" in out and "Proxy-Authorization: ***" in out
    assert "Bearer ***" in out and "REGISTER sip:x SIP/2.0" in out


def test_rotating_file_window_and_on_log(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []
    log = VoiceLog(
        tmp_path,
        max_bytes=400,
        backups=2,
        level="DEBUG",
        secrets=lambda: {"tok-xyz"},
        on_log=lambda *args: seen.append(args),
    )
    log.open()
    logger = logging.getLogger("client.voice.test")
    try:
        start = datetime.now() - timedelta(seconds=1)
        for i in range(20):
            logger.info("line %d with tok-xyz", i)
        end = datetime.now() + timedelta(seconds=1)
        lines = log.lines(start, end)
    finally:
        log.close()
    assert len(log.files()) == 3  # voice.log and two rotated files
    assert all("tok-xyz" not in line and "***" in line for line in lines)
    assert lines[-1].endswith("line 19 with ***")
    assert log.lines(start - timedelta(days=1), start - timedelta(hours=1)) == []
    assert seen[-1] == ("INFO", "client.voice.test", "line 19 with ***")
    logger.info("after close")
    assert seen[-1][2] == "line 19 with ***"  # detached
