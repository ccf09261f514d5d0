"""Relay-only ICE through a real coturn: two media sessions that offer and use only TURN
relayed candidates, with tones flowing both ways through the relay."""

from __future__ import annotations

import array
import logging
from pathlib import Path

import pytest
from aioice import Connection
from av import AudioFrame

from media.levels import goertzel, mono
from media.sdp import parse
from media.session import MediaConfig, MediaSession
from media.tracks import ToneTrack
from tests.client.helpers import Ear, connect, lab

from .helpers import hear, until
from .turn import Turn, stun_binding


def ice_connection(session: MediaSession) -> Connection:
    """The aioice connection under the session's audio transport."""
    connection = session.transceiver.receiver.transport.transport.iceGatherer._connection
    assert isinstance(connection, Connection)
    return connection


def test_turn_answers_stun_and_stops(turn: Turn) -> None:
    assert turn.port is not None
    assert stun_binding("127.0.0.1", turn.port) is not None
    assert turn.password not in repr(turn)
    turn.stop()
    assert not turn.running
    assert stun_binding("127.0.0.1", turn.port) is None


async def test_relay_only_call_through_coturn(turn: Turn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = MediaConfig(ice_servers=(turn.ice_server(),), ice_transport_policy="relay")
    assert turn.password not in repr(config)
    alice = MediaSession(config, ToneTrack(440.0))
    bob = MediaSession(config, ToneTrack(1000.0))
    heard: dict[str, list[AudioFrame]] = {"alice": [], "bob": []}
    alice.on_frame = heard["alice"].append
    bob.on_frame = heard["bob"].append
    try:
        offer = await alice.create_offer()
        answer = await bob.create_answer(offer)
        assert not alice.gathering_fell_back and not bob.gathering_fell_back
        assert turn.relay_ports is not None
        low, high = turn.relay_ports
        for sdp in (offer, answer):
            (audio,) = parse(sdp).media
            assert audio.candidates
            assert {c.type for c in audio.candidates} == {"relay"}
            assert {c.address for c in audio.candidates} == {"127.0.0.1"}
            assert {c.related_address for c in audio.candidates} <= {None, "0.0.0.0"}  # hidden
            assert all(low <= c.port <= high for c in audio.candidates)
        await alice.set_answer(answer)
        await until(lambda: len(heard["alice"]) > 60 and len(heard["bob"]) > 60, 10)
        assert alice.connection_state == bob.connection_state == "connected"
        assert len(heard["alice"]) > 60 and len(heard["bob"]) > 60
        for who, own, other in (("bob", 1000.0, 440.0), ("alice", 440.0, 1000.0)):
            samples = array.array("h")
            for f in heard[who][-25:]:
                samples.extend(mono(f))
            rate = heard[who][-1].sample_rate
            assert goertzel(samples, rate, other) > 20 * goertzel(samples, rate, own), who
        for session in (alice, bob):
            connection = ice_connection(session)
            assert {c.type for c in connection.local_candidates} == {"relay"}
            pair = connection._nominated[1]
            assert (pair.local_candidate.type, pair.remote_candidate.type) == ("relay", "relay")
            assert low <= pair.local_candidate.port <= high
    finally:
        await alice.close()
        await bob.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "TURN" in logged  # the relay's own log lines were captured
    assert turn.password not in logged


async def test_sip_call_relayed_through_coturn(turn: Turn, tmp_path: Path) -> None:
    """Two phones call through the embedded proxy over WSS with relay-only ICE: every
    candidate in the SDP is relayed, and the tones cross coturn both ways."""
    relay = MediaConfig(ice_servers=(turn.ice_server(),), ice_transport_policy="relay")
    async with lab(tmp_path) as net:
        alice = await net.phone("alice", media=relay)
        bob = await net.phone("bob", media=relay)
        out, inc = await connect(alice, bob)
        a_ear, b_ear = Ear(out), Ear(inc)
        await hear(a_ear, 1000.0, "alice")
        await hear(b_ear, 440.0, "bob")
        assert out.core is not None
        for body in (out.core.invite.body, inc.media.pc.localDescription.sdp.encode()):
            candidates = parse(body).media[0].candidates
            assert candidates and {c.type for c in candidates} == {"relay"}
        await out.hangup()
