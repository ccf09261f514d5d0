from __future__ import annotations

import re

import pytest

from client.__main__ import main


def test_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count("registration: registered") == 2
    assert "alice  call: ringing" in out and "bob    call: established" in out
    assert "alice  call: established" in out
    assert "alice  media connected" in out and "bob    media connected" in out
    assert "loudest 1000 Hz" in out.split("alice  media connected")[1].splitlines()[0]
    assert "loudest 440 Hz" in out.split("bob    media connected")[1].splitlines()[0]
    for digit in "12#":
        assert f"bob    DTMF digit {digit!r} received by rfc4733" in out
    for digit in "4*":
        assert f"alice  DTMF digit {digit!r} received by info" in out
    assert "on hold: in one second alice received 0 frames" in out
    resumed = out.split("resumed: in one second alice received ")[1].split()[0]
    assert int(resumed) > 20
    for who in ("alice", "bob"):
        stats = re.search(
            rf"{who} +stats: opus/48000, sent (\d+) packets, received (\d+), "
            r"lost 0 \(0\.0%\).*MOS (\d\.\d\d)",
            out,
        )
        assert stats is not None, out
        assert int(stats[1]) > 100 and int(stats[2]) > 100 and float(stats[3]) > 4.0
    assert "call ended: remote_hangup" in out
    assert out.count("registration: unregistered") == 2
