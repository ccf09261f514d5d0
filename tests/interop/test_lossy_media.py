"""A call whose media crosses a lossy relay (:mod:`tests.interop.lossy_relay`): each phone
reaches coturn through its own relay with relay-only ICE, so all its RTP is impaired once on
the way out. Audio stays continuous through concealment, the receivers count what the relay
did, and a stalled relay makes the call renew its media."""

from __future__ import annotations

import array
import asyncio
from pathlib import Path

from aiortc import RTCIceServer

from client.call import Call
from client.events import CallStateChanged, MediaRenewal
from client.states import CallState
from media.session import MediaConfig
from tests.client.helpers import TONES, Ear, Recorder, connect, lab, tone_db

from .helpers import until
from .lossy_relay import LossyRelay
from .turn import Turn

WINDOW = 10  # frames: 200 ms


def through(turn: Turn, relay: LossyRelay) -> MediaConfig:
    server = RTCIceServer(
        urls=f"turn:127.0.0.1:{relay.port}", username=turn.username, credential=turn.password
    )
    return MediaConfig(ice_servers=(server,), ice_transport_policy="relay")


def replays(call: Call) -> int:
    """Packets the call's SRTP link refused (here: the relay's duplicates)."""
    link = call.media.stream._link  # type: ignore[union-attr]
    assert link is not None
    return link.srtp_errors


def quiet_windows(ear: Ear, start: int, frequency: float, floor: float = 10.0) -> list[float]:
    """The tone level of each 200 ms window of frames from ``start`` that falls below
    ``floor`` dB over the noise reference."""
    levels = []
    frames = ear.frames[start:]
    for first in range(0, len(frames) - WINDOW + 1, WINDOW):
        samples: array.array[int] = array.array("h")
        for frame in frames[first : first + WINDOW]:
            samples.extend(array.array("h", bytes(frame.planes[0])))
        levels.append(tone_db(samples, frames[first].sample_rate, frequency))
    return [level for level in levels if level < floor]


async def test_audio_through_a_lossy_relay_then_a_stall(turn: Turn, tmp_path: Path) -> None:
    assert turn.port is not None
    a_relay = await LossyRelay(("127.0.0.1", turn.port), seed=11).start()
    b_relay = await LossyRelay(("127.0.0.1", turn.port), seed=12).start()
    try:
        async with lab(tmp_path) as net:
            alice = await net.phone("alice", media=through(turn, a_relay), media_timeout=2.0)
            bob = await net.phone("bob", media=through(turn, b_relay), media_timeout=0)
            a_events = Recorder(alice)
            out, inc = await connect(alice, bob)
            a_ear, b_ear = Ear(out), Ear(inc)
            await asyncio.sleep(1.0)  # the jitter buffers settle
            a_start, b_start = len(a_ear.frames), len(b_ear.frames)
            a_before = out.media.stream.jitter_buffer.stats()  # type: ignore[union-attr]
            b_before = inc.media.stream.jitter_buffer.stats()  # type: ignore[union-attr]
            a_replays, b_replays = replays(out), replays(inc)
            sent_a, sent_b = a_relay.counts.rtp, b_relay.counts.rtp
            lost_a, lost_b = a_relay.counts.lost, b_relay.counts.lost
            dup_a, dup_b = a_relay.counts.duplicated, b_relay.counts.duplicated
            await asyncio.sleep(6.0)

            # continuity: the peer's tone on every 200 ms window, both ways
            assert len(a_ear.frames) - a_start > 200 and len(b_ear.frames) - b_start > 200
            assert quiet_windows(a_ear, a_start, TONES["bob"]) == []
            assert quiet_windows(b_ear, b_start, TONES["alice"]) == []

            # the relay did roughly what it was told (over about 350 packets each way)
            for relay, sent in ((a_relay, sent_a), (b_relay, sent_b)):
                counts = relay.counts
                rtp = counts.rtp - sent
                assert rtp > 250
                assert 0.015 * counts.rtp < counts.lost < 0.10 * counts.rtp, counts
                assert 0.015 * counts.rtp < counts.reordered < 0.10 * counts.rtp, counts
                assert 0 < counts.duplicated < 0.06 * counts.rtp, counts

            # each receiver counted what its peer's relay did in the same stretch (a few
            # packets in flight either side of the two snapshots)
            for call, before, relay, sent, lost, dup, replayed in (
                (inc, b_before, a_relay, sent_a, lost_a, dup_a, b_replays),
                (out, a_before, b_relay, sent_b, lost_b, dup_b, a_replays),
            ):
                after = call.media.stream.jitter_buffer.stats()  # type: ignore[union-attr]
                dropped = relay.counts.lost - lost
                assert dropped > 5
                assert abs((after.lost - before.lost) - dropped) <= max(4, dropped // 4), (
                    after,
                    relay.counts,
                )
                assert after.reordered - before.reordered >= 5
                # duplicates never reach the jitter buffer: SRTP replay protection (RFC 3711
                # §3.3.2) refuses the second copy
                assert after.duplicates == before.duplicates
                duplicated = relay.counts.duplicated - dup
                assert duplicated > 0 and abs(replays(call) - replayed - duplicated) <= 1
                assert after.received - before.received >= (relay.counts.rtp - sent) * 0.85
            stats = await inc.stats()
            assert stats.local_packets_lost > 0 and stats.local_loss_fraction is not None
            assert stats.concealed_frames > 0

            # a stall: nothing crosses alice's relay; her watchdog notices and renews
            loop = asyncio.get_running_loop()
            stalled_at = loop.time()
            a_relay.stalled = True
            await a_events.wait(
                CallStateChanged, lambda e: e.state is CallState.MEDIA_DISRUPTED, timeout=20
            )
            assert loop.time() - stalled_at >= 2.0  # not before media_timeout
            a_relay.stalled = False
            await a_events.wait(
                MediaRenewal, lambda e: e.outcome in ("succeeded", "failed"), timeout=30
            )
            assert out.state is CallState.ESTABLISHED and inc.state is CallState.ESTABLISHED
            assert a_events.of(MediaRenewal)[-1].outcome == "succeeded"
            a_start, b_start = len(a_ear.frames), len(b_ear.frames)
            await until(lambda: len(a_ear.frames) > a_start and len(b_ear.frames) > b_start)
            a_start, b_start = len(a_ear.frames), len(b_ear.frames)
            await asyncio.sleep(2.0)  # a rate: over 60 frames in 2 s on both ends
            assert len(a_ear.frames) - a_start > 60 and len(b_ear.frames) - b_start > 60
            assert a_ear.tone(TONES["bob"]) > 10 and b_ear.tone(TONES["alice"]) > 10
            await out.hangup()
    finally:
        a_relay.close()
        b_relay.close()
