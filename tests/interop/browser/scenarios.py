"""The call scenarios between our phone (:class:`client.phone.Phone` through
:class:`~tests.interop.browser.ours.OurPhone`) and a browser phone (JsSIP or SIP.js).

Each scenario records what both sides observed in a dict (JSON-ready); the tests judge it.
Audio is measured on both sides over the same window: the browser's received RTP packets and
the share of its received power at our tone (``browser_audio``), and our received frames
(``Call.on_audio``) and the share at the browser's tone (``our_audio``).

DTMF both ways and by both methods: we send with ``Call.send_dtmf`` (RFC 4733 by default,
INFO with ``method="info"``) and receive ``DtmfReceived`` events. The browser sends RFC 4733
with its RTCDTMFSender (``insertDTMF``) and INFO through its SIP library; it has no API for
received telephone-events, so only our side of our RFC 4733 sending is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from client.call import Call
from client.events import CallStateChanged, DtmfReceived, MissedCall, RemoteHoldChanged

from .driver import Page
from .ours import OurPhone, directions

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


async def browser_rtp_dtmf(p: Parties, digits: str) -> dict[str, Any]:
    """The browser sends ``digits`` as RFC 4733 events (insertDTMF); which digits reached our
    call as ``DtmfReceived(method="rfc4733")``?"""
    before = len(p.ours.digits("rfc4733"))
    sent = await p.page.call("sendRtpDtmf", digits, timeout=10)
    await p.ours.wait_digits("rfc4733", before + len(digits))
    return {"sent": sent, "received": p.ours.digits("rfc4733", before)}


async def our_rtp_dtmf(p: Parties, call: Call, digits: str) -> dict[str, Any]:
    """We send ``digits`` with ``Call.send_dtmf`` (RFC 4733 by default): the method it used
    and our RTP packet count before and after. Chromium has no API for received
    telephone-events, and an RTCRtpScriptTransform on its audio receiver sees no frames (the
    encoded transform is bypassed), so the browser side of this is not observed."""
    before = (await call.stats()).packets_sent
    method = await call.send_dtmf(digits)
    after = (await call.stats()).packets_sent
    return {"method": method, "packets_sent_before": before, "packets_sent_after": after}


async def established(p: Parties, call: Call) -> dict[str, Any]:
    """Audio both ways once the call is up, then ``Call.stats()`` of what flowed."""
    audio = await audio_both(p, "established")
    return {"audio": audio, "stats": await p.ours.stats(), "state": call.state.name}


async def ours_calls_browser(p: Parties) -> dict[str, Any]:
    """We dial the browser, it answers; audio both ways; we hold and resume; DTMF by INFO and
    by RFC 4733 both ways; we hang up."""
    r: dict[str, Any] = {}
    incoming = asyncio.ensure_future(p.page.next("incoming"))
    call = await p.ours.dial(p.browser_user)
    r["incoming"] = await incoming
    await p.page.call("answer")
    await call.wait_established(15)
    r["browser_confirmed"] = await p.page.next("confirmed")
    r.update(await established(p, call))

    await call.hold()
    r["hold"] = {"held": call.held, "remote_held": call.remote_held, **directions(call)}
    r["browser_hold"] = await p.page.next("hold")
    r["audio_on_hold"] = await audio_both(p, "on hold")

    await call.unhold()
    r["unhold"] = {"held": call.held, "remote_held": call.remote_held, **directions(call)}
    r["browser_unhold"] = await p.page.next("unhold")
    r["audio_resumed"] = await audio_both(p, "resumed")

    await p.page.call("sendInfoDtmf", "159#")
    r["info_dtmf_received"] = await p.ours.wait_digits("info", 4)
    r["rtp_dtmf"] = await browser_rtp_dtmf(p, "37")
    r["our_rtp_dtmf"] = await our_rtp_dtmf(p, call, "1")
    r["dtmf_events"] = [[e.digit, e.method] for e in p.ours.of(DtmfReceived, call)]
    r["remote_hold_events"] = [e.held for e in p.ours.of(RemoteHoldChanged, call)]

    await call.hangup()
    r["our_end"] = await _ended(call)
    r["browser_ended"] = await p.page.next("ended")
    r["states"] = [e.state.name for e in p.ours.of(CallStateChanged, call)]
    return r


async def browser_calls_ours(p: Parties) -> dict[str, Any]:
    """The browser calls us, our phone rings and we answer; audio both ways; the browser
    holds and resumes; DTMF both ways by RFC 4733 and ours by INFO; the browser hangs up."""
    r: dict[str, Any] = {}
    await p.page.call("call", p.ours_uri)
    call = await p.ours.wait_incoming()
    r["incoming_from"] = call.remote_uri
    r["incoming_state"] = call.state.name
    r["browser_progress"] = await p.page.next("progress")
    await call.answer()
    await call.wait_established(10)
    r["browser_confirmed"] = await p.page.next("confirmed")
    r.update(await established(p, call))

    await p.page.call("hold")
    held = await p.ours.wait_for(RemoteHoldChanged, lambda e: e.call is call)
    r["hold"] = {
        "event": held.held,
        "remote_held": call.remote_held,
        "held": call.held,
        **directions(call),
    }
    r["browser_on_hold"] = await p.page.call("isOnHold")
    r["audio_on_hold"] = await audio_both(p, "on hold")

    await p.page.call("unhold")
    resumed = await p.ours.wait_for(RemoteHoldChanged, lambda e: e.call is call)
    r["unhold"] = {
        "event": resumed.held,
        "remote_held": call.remote_held,
        "held": call.held,
        **directions(call),
    }
    r["audio_resumed"] = await audio_both(p, "resumed")

    r["info_method"] = await call.send_dtmf("24*", method="info")
    r["browser_dtmf"] = [await p.page.next("dtmf") for _ in range(3)]
    r["our_rtp_dtmf"] = await our_rtp_dtmf(p, call, "9#")
    r["rtp_dtmf"] = await browser_rtp_dtmf(p, "5")
    r["remote_hold_events"] = [e.held for e in p.ours.of(RemoteHoldChanged, call)]

    await p.page.call("hangup")
    r["our_end"] = await _ended(call)
    r["browser_ended"] = await p.page.next("ended")
    return r


async def browser_cancels(p: Parties) -> dict[str, Any]:
    """The browser calls us and gives up while our phone rings: CANCEL, 487, a missed call."""
    r: dict[str, Any] = {}
    await p.page.call("call", p.ours_uri)
    call = await p.ours.wait_incoming()
    r["browser_progress"] = await p.page.next("progress")
    await p.page.call("hangup")
    r["our_end"] = await _ended(call)
    missed = await p.ours.wait_for(MissedCall)
    r["missed"] = {"reason": missed.reason, "remote": missed.remote}
    r["browser_failed"] = await p.page.next("failed")
    r["states"] = [e.state.name for e in p.ours.of(CallStateChanged, call)]
    return r


async def sipjs_calls_ours(p: Parties) -> dict[str, Any]:
    """SIP.js calls us, we answer; audio both ways; DTMF by INFO both ways and ours by
    RFC 4733; we hang up."""
    r: dict[str, Any] = {}
    await p.page.call("call", p.ours_uri)
    call = await p.ours.wait_incoming()
    r["incoming_from"] = call.remote_uri
    r["browser_progress"] = await p.page.next("progress")
    await call.answer()
    await call.wait_established(10)
    await p.page.next("confirmed")
    r.update(await established(p, call))

    await p.page.call("sendInfoDtmf", "8#")
    r["info_dtmf_received"] = await p.ours.wait_digits("info", 2)
    r["info_method"] = await call.send_dtmf("6", method="info")
    r["browser_dtmf"] = await p.page.next("dtmf")
    r["our_rtp_dtmf"] = await our_rtp_dtmf(p, call, "0")

    await call.hangup()
    r["our_end"] = await _ended(call)
    r["browser_bye"] = await p.page.next("bye")
    r["browser_ended"] = await p.page.next("ended")
    return r


async def _ended(call: Call) -> dict[str, Any]:
    """``Call.wait_ended()``: the end reason and the SIP status that ended the call."""
    reason = await call.wait_ended(10)
    return {"reason": reason.name if reason else None, "status": call.end_status}


#: name -> (page it runs against, scenario), in the order they run
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "ours_calls_browser": ("jssip", ours_calls_browser),
    "browser_calls_ours": ("jssip", browser_calls_ours),
    "browser_cancels": ("jssip", browser_cancels),
    "sipjs_calls_ours": ("sipjs", sipjs_calls_ours),
}
