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
    assert "alice  media connected" in out and "bob    media connected" in out
    assert "loudest 1000 Hz" in out.split("alice  media connected")[1].splitlines()[0]
    assert "loudest 440 Hz" in out.split("bob    media connected")[1].splitlines()[0]
    for digit in "12#":
        assert f"DTMF digit {digit!r} received by INFO" in out
    assert "the peer put us on hold" in out and "the peer resumed the call" in out
    assert "on hold: in one second alice received 0 frames" in out
    resumed = out.split("resumed: in one second alice received ")[1].split()[0]
    assert int(resumed) > 20
    assert "call ended: remote hangup" in out
    assert out.count("account: Unregistered") == 2
