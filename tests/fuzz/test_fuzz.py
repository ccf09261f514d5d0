"""The bounded fuzz run of the normal suite: every target, seeded with the torture corpus and
mutated by hypothesis (the long coverage-guided run is scripts/fuzz)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import DELIMS, MUTATIONS, TARGETS, seeds_for

ALL_SEEDS = sorted({seed for name in TARGETS for seed in seeds_for(name)})

EXAMPLES = {
    "sip_message": 4000,
    "stream_framer": 4000,
    "transaction_layer": 4000,
    "uris": 4000,
    "auth_challenge": 4000,
    "rtp_packet": 4000,
    "rtcp_compound": 4000,
    "sdp": 3000,
    "dtmf_payload": 3000,
    "stun": 5000,
    "jitter": 3000,
}
"""Examples per target: one shared budget of about 42000 (a minute or so in all), fewer for
the targets whose inputs cost more."""


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    """A seed with a few edits: byte flips, cuts, duplicated runs, inserted delimiters."""
    buf = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(MUTATIONS))
        pos = draw(st.integers(0, max(0, len(buf) - 1)))
        if kind == "flip" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del buf[pos : pos + draw(st.integers(1, 64))]
        elif kind == "dup":
            buf[pos:pos] = buf[pos : pos + draw(st.integers(1, 200))]
        elif kind == "insert":
            buf[pos:pos] = draw(st.sampled_from(DELIMS))
        else:
            other = draw(st.sampled_from(corpus))
            start = draw(st.integers(0, max(0, len(other) - 1)))
            buf[pos:pos] = other[start : start + draw(st.integers(1, 300))]
    return bytes(buf)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target(name: str) -> None:
    target: Callable[[bytes], None] = TARGETS[name]

    @given(st.one_of(mutated(seeds_for(name)), st.binary(max_size=512)))
    @settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(data: bytes) -> None:
        started = time.perf_counter()
        target(data)
        # a hang detector, not a speed target: generous for a loaded 2-core machine
        assert time.perf_counter() - started < 5.0, "one input took more than 5 s"

    run()


def test_every_target_has_a_budget() -> None:
    assert set(EXAMPLES) == set(TARGETS)


def test_every_seed_passes_every_target() -> None:
    for seed in ALL_SEEDS:
        for target in TARGETS.values():
            target(seed)
