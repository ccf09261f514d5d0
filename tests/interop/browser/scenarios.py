"""The call scenarios between our user agent and a browser phone (JsSIP or SIP.js).

Each scenario records what both sides observed in a dict (JSON-ready); the tests judge it.
Audio is measured on both sides over the same window: the browser's received RTP packets and
the share of its received power at our tone (``browser_audio``), and our received frames and
the share at the browser's tone (``our_audio``).

RFC 4733 DTMF: the browser sends telephone-events with its RTCDTMFSender; what our side makes
of them is recorded (``rtp_dtmf_*``); sending them from our side is a call of
:meth:`OurPhone.send_rtp_dtmf`, a no-op until ``MediaSession.send_dtmf`` exists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .driver import Page
from .ours import OurPhone

#: How long audio is measured, and how long it is let settle after a change (seconds).
WINDOW = 0.8
SETTLE = 0.3


@dataclass
class Parties:
    page: Page
    ours: OurPhone
    browser_user: str  # registered by the page
    ours_user: str  # registered by our phone
    domain: str
    log: Callable[[str], None]

    @property
    def ours_uri(self) -> str:
        return f"sip:{self.ours_user}@{self.domain}"


Scenario = Callable[[Parties], Awaitable[dict[str, Any]]]


async def audio_both(p: Parties, label: str) -> dict[str, Any]:
    """Measure the audio each side receives during the same window."""
    await asyncio.sleep(SETTLE)
    browser, ours = await asyncio.gather(
        p.page.call("measure", int(WINDOW * 1000)), p.ours.measure(WINDOW)
    )
    p.log(f"audio {label}: browser {browser}, ours {ours}")
    return {"browser": browser, "ours": ours}


async def wait_digits(ours: OurPhone, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(ours.dtmf_info) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def browser_rtp_dtmf(p: Parties, digits: str) -> dict[str, Any]:
    """The browser sends ``digits`` as RFC 4733 events; what did our side get?"""
    before = len(p.ours.dtmf_rtp)
    sent = await p.page.call("sendRtpDtmf", digits, timeout=10)
    await asyncio.sleep(0.3)
    return {
        "sent": sent,
        "received": "".join(p.ours.dtmf_rtp[before:]),
        "support": p.ours.rtp_dtmf_support(),
    }


async def ours_calls_browser(p: Parties) -> dict[str, Any]:
    """We call the browser, it answers; audio both ways; we hold and resume; the browser sends
    DTMF by INFO and by RFC 4733; we hang up."""
    r: dict[str, Any] = {}
    incoming = asyncio.ensure_future(p.page.next("incoming"))
    placing = asyncio.ensure_future(p.ours.place_call(p.browser_user))
    r["incoming"] = await incoming
    await p.page.call("answer")
    await placing
    r["browser_confirmed"] = await p.page.next("confirmed")
    r["audio"] = await audio_both(p, "established")

    r["hold_answer_direction"] = await p.ours.reoffer("sendonly")
    r["browser_hold"] = await p.page.next("hold")
    r["audio_on_hold"] = await audio_both(p, "on hold")

    r["unhold_answer_direction"] = await p.ours.reoffer("sendrecv")
    r["browser_unhold"] = await p.page.next("unhold")
    r["audio_resumed"] = await audio_both(p, "resumed")

    await p.page.call("sendInfoDtmf", "159#")
    await wait_digits(p.ours, 4)
    r["info_dtmf_received"] = "".join(p.ours.dtmf_info)
    r["rtp_dtmf"] = await browser_rtp_dtmf(p, "37")

    p.ours.hangup()
    r["our_end"] = _ended(await p.ours.wait_ended())
    r["browser_ended"] = await p.page.next("ended")
    return r


async def browser_calls_ours(p: Parties) -> dict[str, Any]:
    """The browser calls us, we ring and answer; audio both ways; the browser holds and
    resumes; we send DTMF by INFO; the browser hangs up."""
    r: dict[str, Any] = {}
    await p.page.call("call", p.ours_uri)
    call = await p.ours.wait_incoming()
    r["incoming_from"] = str(call.invite.from_.uri)
    p.ours.ring()
    r["browser_progress"] = await p.page.next("progress")
    await p.ours.answer()
    r["browser_confirmed"] = await p.page.next("confirmed")
    r["audio"] = await audio_both(p, "established")

    accepting = asyncio.ensure_future(p.ours.accept_reinvite())
    await p.page.call("hold")
    r["hold_reinvite"] = await accepting
    r["browser_on_hold"] = await p.page.call("isOnHold")
    r["audio_on_hold"] = await audio_both(p, "on hold")

    accepting = asyncio.ensure_future(p.ours.accept_reinvite())
    await p.page.call("unhold")
    r["unhold_reinvite"] = await accepting
    r["audio_resumed"] = await audio_both(p, "resumed")

    r["info_statuses"] = await p.ours.send_info_dtmf("24*")
    r["browser_dtmf"] = [await p.page.next("dtmf") for _ in range(3)]
    r["rtp_dtmf_support"] = p.ours.rtp_dtmf_support()
    r["rtp_dtmf_sent_by_us"] = await p.ours.send_rtp_dtmf("9")

    await p.page.call("hangup")
    r["our_end"] = _ended(await p.ours.wait_ended())
    r["browser_ended"] = await p.page.next("ended")
    return r


async def browser_cancels(p: Parties) -> dict[str, Any]:
    """The browser calls us and gives up while we ring: CANCEL, 487."""
    r: dict[str, Any] = {}
    await p.page.call("call", p.ours_uri)
    await p.ours.wait_incoming()
    p.ours.ring()
    r["browser_progress"] = await p.page.next("progress")
    await p.page.call("hangup")
    r["our_end"] = _ended(await p.ours.wait_ended())
    r["browser_failed"] = await p.page.next("failed")
    return r


async def sipjs_calls_ours(p: Parties) -> dict[str, Any]:
    """SIP.js calls us, we answer; audio both ways; DTMF by INFO both ways; we hang up."""
    r: dict[str, Any] = {}
    await p.page.call("call", p.ours_uri)
    call = await p.ours.wait_incoming()
    r["incoming_from"] = str(call.invite.from_.uri)
    p.ours.ring()
    r["browser_progress"] = await p.page.next("progress")
    await p.ours.answer()
    await p.page.next("confirmed")
    r["audio"] = await audio_both(p, "established")

    before = len(p.ours.dtmf_info)
    await p.page.call("sendInfoDtmf", "8#")
    await wait_digits(p.ours, before + 2)
    r["info_dtmf_received"] = "".join(p.ours.dtmf_info[before:])
    r["info_statuses"] = await p.ours.send_info_dtmf("6")
    r["browser_dtmf"] = await p.page.next("dtmf")

    p.ours.hangup()
    r["our_end"] = _ended(await p.ours.wait_ended())
    r["browser_bye"] = await p.page.next("bye")
    r["browser_ended"] = await p.page.next("ended")
    return r


def _ended(event: Any) -> dict[str, Any]:
    return {"reason": event.reason.name, "status": event.status}


#: name -> (page it runs against, scenario), in the order they run
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "ours_calls_browser": ("jssip", ours_calls_browser),
    "browser_calls_ours": ("jssip", browser_calls_ours),
    "browser_cancels": ("jssip", browser_cancels),
    "sipjs_calls_ours": ("sipjs", sipjs_calls_ours),
}
