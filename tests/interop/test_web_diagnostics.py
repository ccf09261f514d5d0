"""The web-client diagnostics with a real coturn as STUN and TURN server: host,
server-reflexive and relayed candidates from real ICE gathering, UDP reachability by STUN,
and the TURN credential kept out of every text."""

from __future__ import annotations

import re
from pathlib import Path

from aiortc import RTCIceServer

from client.web.diagnostics import Diagnostics
from media.session import MediaConfig
from tests.client.helpers import USERS, lab
from tests.client.web.test_diagnostics import Collector

from .turn import Turn


def media_for(turn: Turn, *, credential: str | None = None) -> MediaConfig:
    relay = turn.ice_server()
    if credential is not None:
        relay = RTCIceServer(urls=relay.urls, username=relay.username, credential=credential)
    stun = RTCIceServer(f"stun:127.0.0.1:{turn.port}")
    return MediaConfig(ice_servers=(stun, relay), host_addresses=("127.0.0.1",))


async def test_host_srflx_and_relay_through_coturn(turn: Turn, tmp_path: Path) -> None:
    assert turn.relay_ports is not None
    out = Collector()
    async with lab(tmp_path) as net:
        config = net.config("alice", media=media_for(turn))
        diagnostics = Diagnostics(config, out.report, out.key_value)
        diagnostics.init()
        results = await diagnostics.run_network()
    assert results["wss"].startswith("pass") and results["userReg"].startswith("pass")
    mapped = r"answered, mapped address 127\.0\.0\.1:\d+"
    assert re.fullmatch(
        rf"pass: stun:127\.0\.0\.1:{turn.port}\?transport=udp {mapped}; "
        rf"turn:127\.0\.0\.1:{turn.port}\?transport=udp {mapped}",
        results["udp"],
    ), results["udp"]
    assert results["tcp"].startswith("pass: server wss 127.0.0.1:")
    host_port = results["host"].split("127.0.0.1:")[1].split("/")[0]
    assert results["host"].startswith("pass: 127.0.0.1:")
    # coturn sees the host candidate's own loopback address and port
    assert results["srflx"].startswith(f"pass: 127.0.0.1:{host_port}/udp")
    assert results["relay"].startswith("pass: 127.0.0.1:")
    relay_port = int(results["relay"].split("127.0.0.1:")[1].split("/")[0])
    low, high = turn.relay_ports
    assert low <= relay_port <= high
    assert "network diagnostics done: all passed" in out.reports[-1]
    assert f"turn:127.0.0.1:{turn.port}?transport=udp" in out.reports[0]  # ICE servers listed
    for text in out.texts():
        assert turn.password not in text
        assert USERS["alice"] not in text


async def test_wrong_turn_credential_fails_relay_only(turn: Turn, tmp_path: Path) -> None:
    out = Collector()
    async with lab(tmp_path) as net:
        config = net.config("alice", media=media_for(turn, credential="not-the-turn-pw"))
        results = await Diagnostics(config, out.report, out.key_value).run_network()
    assert results["host"].startswith("pass") and results["srflx"].startswith("pass")
    assert results["relay"] == (
        "fail: the TURN server gave no relayed address (credentials, or unreachable)"
    )
    assert "network diagnostics done: failed: relay" in out.reports[-1]
    assert all("not-the-turn-pw" not in text for text in out.texts())
