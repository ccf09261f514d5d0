from __future__ import annotations

import pytest

from client.__main__ import main


def test_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count("account: Registered") == 2
    assert "alice  call: CallProgress (180 Ringing)" in out
    assert "alice  call: CallAnswered (200 OK)" in out
    assert "bob    call: CallConfirmed" in out
    assert "call ended: remote hangup" in out
    assert out.count("account: Unregistered") == 2
