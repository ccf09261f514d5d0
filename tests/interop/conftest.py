"""Fixtures for the tests that talk to real peers (Kamailio, SIPp) on loopback.

- ``kamailio``: one Kamailio per test module, on free ports, with a fresh certificate;
- ``kamailio_factory``: more instances for one test (special defines, restarts, several
  side by side), all stopped at the end of the test;
- ``sipp``: runs SIPp scenarios, and kills what is left at the end of the test;
- ``turn``: a coturn TURN server on a free loopback port, stopped at the end of the test.

Tests using any of them are marked ``interop``. A missing binary fails the test with a
pointer to scripts/setup: these tests are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sipcore.transport.pki import make_cert

from .kamailio_peer import Kamailio, KamailioFactory
from .processes import missing_binaries
from .sipp_peer import Sipp
from .turn import Turn

INTEROP_FIXTURES = frozenset({"kamailio", "kamailio_factory", "sipp", "turn"})
PEER_PACKAGES = "kamailio, kamailio-websocket-modules, kamailio-tls-modules, sip-tester"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEROP_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.interop)


def _require(*names: str, packages: str = PEER_PACKAGES) -> None:
    missing = missing_binaries(*names)
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run scripts/setup to install the interop "
            f"peers (Debian packages {packages})",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def kamailio(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kamailio]:
    """A Kamailio shared by the tests of a module (registrations persist between them:
    use distinct users)."""
    _require("kamailio", "kamcmd")
    module = request.module.__name__.rpartition(".")[2]
    workdir = tmp_path_factory.mktemp(f"kamailio-{module}")
    kam = Kamailio(workdir, tls=make_cert(workdir / "tls"))
    try:
        kam.start()
        yield kam
    finally:
        kam.stop()


@pytest.fixture
def kamailio_factory(tmp_path: Path) -> Iterator[KamailioFactory]:
    """``kamailio_factory(defines=None, *, start=True, ports=None, children=2, shm_mb=64)``
    returns a new started Kamailio; every one is stopped after the test."""
    _require("kamailio", "kamcmd")
    factory = KamailioFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Sipp]:
    """Runs SIPp scenarios (``sipp.run(...)``, ``sipp.start(...)``) with their traces in
    the test's tmp dir; any SIPp still running after the test is killed."""
    _require("sipp")
    runner = Sipp(tmp_path / "sipp")
    try:
        yield runner
    finally:
        runner.cleanup()


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Turn]:
    """A started coturn (user ``test``, password ``testpw``); ``turn.ice_server()`` gives
    the ``RTCIceServer`` to use it."""
    _require("turnserver", packages="coturn")
    server = Turn(tmp_path / "turn")
    try:
        server.start()
        yield server
    finally:
        server.stop()
