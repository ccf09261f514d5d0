"""Our phone (``client.Phone`` / ``client.Call``) against JsSIP and SIP.js in headless
Chromium, through Kamailio over WSS.

One run of ``tests/interop/browser/run.py`` (in a network namespace with only ``lo``, see
there) plays every scenario in sequence; the tests below judge what both sides observed.
Tones: we send 440 Hz, the page sends 700 Hz from a WebAudio oscillator; each side measures
the share of its received power at the other's tone, and counts packets or frames.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .browser.run import BUNDLE
from .processes import missing_binaries

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "tests" / "interop" / "web"
RUN_TIMEOUT = 55.0
#: 0.8 s windows of 20 ms packets carry 40 of them; a flowing stream must show most
FLOWING = 25
TONE = 0.8  # share of the received power at the expected tone when it is heard
SILENT_RMS = 0.01  # full scale 1.0; the tones are sent at 0.3 amplitude


class Run:
    def __init__(self, workdir: Path, proc: subprocess.CompletedProcess[str]) -> None:
        self.workdir = workdir
        self.proc = proc
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        self.result: dict[str, Any] = json.loads(lines[-1][7:]) if lines else {}

    def report(self) -> str:
        return (
            f"runner exit {self.proc.returncode}, result {json.dumps(self.result, indent=1)}\n"
            f"--- runner log ({self.workdir}/run.log):\n{self.proc.stderr[-12000:]}"
        )

    def observed(self, name: str) -> dict[str, Any]:
        entry = self.result.get("scenarios", {}).get(name)
        if not entry or not entry.get("ok"):
            pytest.fail(f"scenario {name} did not complete\n{self.report()}", pytrace=False)
        observed: dict[str, Any] = entry["observed"]
        return observed


def _require_tools() -> None:
    missing = missing_binaries("kamailio", "kamcmd", "chromium", "node", "unshare", "ip")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        missing.append("npm packages of tests/interop/web")
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run scripts/setup (Debian packages "
            "kamailio, kamailio-websocket-modules, kamailio-tls-modules, chromium, nodejs, "
            "util-linux, iproute2; npm ci in tests/interop/web)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    _require_tools()
    workdir = tmp_path_factory.mktemp("browser")
    unshare = [shutil.which("unshare") or "unshare", "--net"]
    if os.geteuid() != 0:
        unshare.append("--map-root-user")  # a user namespace gives the rights for the netns
    cmd = [*unshare, "--", sys.executable, "-m", "tests.interop.browser.run"]
    cmd += ["--workdir", str(workdir), "--timeout", str(RUN_TIMEOUT - 5)]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        log = (workdir / "run.log").read_text(errors="replace") if workdir.exists() else ""
        pytest.fail(f"the browser runner overran {RUN_TIMEOUT} s\n{exc}\n{log}", pytrace=False)
    result = Run(workdir, proc)
    if not result.result:
        pytest.fail(f"the runner printed no result\n{result.report()}", pytrace=False)
    return result


def flowing(audio: dict[str, Any]) -> None:
    """Both directions carry the other side's tone."""
    browser, ours = audio["browser"], audio["ours"]
    assert browser["packets"] >= FLOWING, audio
    assert browser["toneShare"] > TONE and browser["rms"] > SILENT_RMS, audio
    assert ours["frames"] >= FLOWING, audio
    assert ours["tone_share"] > TONE and ours["rms"] > SILENT_RMS, audio


def test_bundle_is_built_and_not_tracked(run: Run) -> None:
    assert BUNDLE.is_file() and BUNDLE.stat().st_size > 100_000
    tracked = subprocess.run(
        ["git", "ls-files", str(BUNDLE)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert tracked.stdout == ""


def test_both_register_over_wss(run: Run) -> None:
    ok = {"registered": True, "status": 200}
    assert run.result.get("browser_registration") == {"jssip": ok, "sipjs": ok}, run.report()


def call_stats(stats: dict[str, Any]) -> None:
    """``Call.stats()`` after a measured window: packets both ways, no loss, a MOS."""
    assert stats["codec"] == "opus", stats
    assert stats["packets_sent"] >= FLOWING and stats["packets_received"] >= FLOWING, stats
    assert stats["local_packets_lost"] == 0, stats
    assert stats["remote_packets_lost"] in (None, 0), stats
    assert stats["mos"] is not None and stats["mos"] > 4.0, stats


def test_we_call_the_browser(run: Run) -> None:
    seen = run.observed("ours_calls_browser")
    assert seen["incoming"]["from"] == "sip:bob@127.0.0.1"
    assert seen["incoming"]["to"] == "sip:alice@127.0.0.1"
    assert seen["browser_confirmed"]["originator"] == "remote"
    assert seen["state"] == "ESTABLISHED"
    flowing(seen["audio"])
    call_stats(seen["stats"])

    # Call.hold(): we offer sendonly, the browser answers recvonly, reports the hold and stops
    # sending; our tone still reaches it
    assert seen["hold"] == {
        "held": True,
        "remote_held": False,
        "local": "sendonly",
        "remote": "recvonly",
    }
    assert seen["browser_hold"]["originator"] == "remote"
    held = seen["audio_on_hold"]
    assert held["ours"]["frames"] == 0, held
    assert held["browser"]["packets"] >= FLOWING and held["browser"]["toneShare"] > TONE, held

    assert seen["unhold"] == {
        "held": False,
        "remote_held": False,
        "local": "sendrecv",
        "remote": "sendrecv",
    }
    assert seen["browser_unhold"]["originator"] == "remote"
    flowing(seen["audio_resumed"])
    assert seen["remote_hold_events"] == []  # the browser never held us

    # DtmfReceived: JsSIP's INFO, then the browser's insertDTMF as RFC 4733 events
    assert seen["info_dtmf_received"] == "159#"
    assert seen["rtp_dtmf"] == {"sent": {"sent": True, "tones": "37"}, "received": "37"}
    assert seen["dtmf_events"] == [
        ["1", "info"],
        ["5", "info"],
        ["9", "info"],
        ["#", "info"],
        ["3", "rfc4733"],
        ["7", "rfc4733"],
    ]
    # RFC 4733 from us: telephone-event was negotiated with Chromium (no INFO fallback)
    assert seen["our_rtp_dtmf"]["method"] == "rfc4733"

    assert seen["our_end"] == {"reason": "LOCAL_HANGUP", "status": None}
    assert seen["browser_ended"]["originator"] == "remote"
    assert seen["browser_ended"]["cause"] == "Terminated"
    assert seen["states"] == [
        "OUTGOING_INITIATED",
        "CONNECTING",
        "RINGING",
        "ESTABLISHED",
        "ENDING",
        "ENDED",
    ]


def test_the_browser_calls_us(run: Run) -> None:
    seen = run.observed("browser_calls_ours")
    assert seen["incoming_from"] == "sip:alice@127.0.0.1"
    assert seen["incoming_state"] == "INCOMING"
    assert seen["browser_progress"]["status"] == 180  # auto_ring
    assert seen["browser_confirmed"]["originator"] == "local"
    assert seen["state"] == "ESTABLISHED"
    flowing(seen["audio"])
    call_stats(seen["stats"])

    # the browser holds (sendonly, and JsSIP mutes its track): RemoteHoldChanged(held=True),
    # we answer recvonly, so we stop sending and hear silence
    assert seen["hold"] == {
        "event": True,
        "remote_held": True,
        "held": False,
        "local": "recvonly",
        "remote": "sendonly",
    }
    assert seen["browser_on_hold"] == {"local": True, "remote": False}
    held = seen["audio_on_hold"]
    assert held["browser"]["packets"] <= 2, held
    assert held["browser"]["rms"] < SILENT_RMS, held
    assert held["ours"]["rms"] < SILENT_RMS, held

    assert seen["unhold"] == {
        "event": False,
        "remote_held": False,
        "held": False,
        "local": "sendrecv",
        "remote": "sendrecv",
    }
    flowing(seen["audio_resumed"])
    assert seen["remote_hold_events"] == [True, False]

    # Call.send_dtmf(method="info"): one INFO a digit, each seen by JsSIP
    assert seen["info_method"] == "info"
    digits = [(e["originator"], e["tone"]) for e in seen["browser_dtmf"]]
    assert digits == [("remote", "2"), ("remote", "4"), ("remote", "*")]
    assert seen["our_rtp_dtmf"]["method"] == "rfc4733"
    assert seen["rtp_dtmf"] == {"sent": {"sent": True, "tones": "5"}, "received": "5"}

    assert seen["our_end"] == {"reason": "REMOTE_HANGUP", "status": None}
    assert seen["browser_ended"]["originator"] == "local"


def test_the_browser_cancels_while_ringing(run: Run) -> None:
    seen = run.observed("browser_cancels")
    assert seen["browser_progress"]["status"] == 180
    assert seen["our_end"] == {"reason": "REMOTE_CANCELLED", "status": 487}
    assert seen["missed"] == {"reason": "cancelled", "remote": "sip:alice@127.0.0.1"}
    assert seen["states"] == ["INCOMING", "ENDED"]
    assert seen["browser_failed"]["originator"] == "local"
    assert seen["browser_failed"]["cause"] == "Canceled"


def test_sipjs_calls_us(run: Run) -> None:
    seen = run.observed("sipjs_calls_ours")
    assert seen["incoming_from"] == "sip:carol@127.0.0.1"
    assert seen["browser_progress"]["status"] == 180
    assert seen["state"] == "ESTABLISHED"
    flowing(seen["audio"])
    call_stats(seen["stats"])
    assert seen["info_dtmf_received"] == "8#"
    assert seen["info_method"] == "info"
    assert (seen["browser_dtmf"]["originator"], seen["browser_dtmf"]["tone"]) == ("remote", "6")
    assert seen["our_rtp_dtmf"]["method"] == "rfc4733"
    assert seen["our_end"] == {"reason": "LOCAL_HANGUP", "status": None}
    assert seen["browser_ended"]["originator"] == "remote"


def test_every_process_of_the_run_is_gone(run: Run) -> None:
    pids = [int(p) for p in re.findall(r" pid (\d+)", run.proc.stderr)]
    assert len(pids) >= 3, run.report()  # kamailio, http server, browser driver
    alive = [pid for pid in pids if _running(pid)]
    assert alive == [], run.report()
    # nothing else (chromium helpers, kamailio workers) runs from the run's directory
    leftovers = [pid for pid, cmdline in _processes() if str(run.workdir) in cmdline]
    assert leftovers == [], leftovers


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def _processes() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if _running(int(entry.name)):
                found.append((int(entry.name), cmdline))
    return found
