from __future__ import annotations

import pytest

from client.__main__ import main


def test_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "stream framer: 1 keep-alive, 2 messages" in out
    assert "unknown SIP version: 505" in out
