"""The G.107 E-model against known points and its monotonicity; RFC 3550 reception counters."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.stats import (
    CODEC_IMPAIRMENTS,
    ReceptionStats,
    delay_impairment,
    e_model_mos,
    e_model_r,
    effective_equipment_impairment,
    r_to_mos,
)

CODECS = sorted(CODEC_IMPAIRMENTS)


class TestEModel:
    def test_default_r_and_its_mos(self) -> None:
        # G.107: the default parameters give R = 93.2 (Ro 94.77 - Is 1.41 - Idle 0.15)
        assert e_model_r(codec="PCMU", one_way_delay_ms=0, loss_fraction=0) == pytest.approx(
            93.2, abs=0.02
        )
        assert r_to_mos(93.2) == pytest.approx(4.41, abs=0.005)
        assert e_model_mos(codec="PCMU", one_way_delay_ms=0, loss_fraction=0) == pytest.approx(
            4.41, abs=0.005
        )

    def test_r_to_mos_annex_b(self) -> None:
        assert r_to_mos(-5) == 1.0
        assert r_to_mos(0) == 1.0
        assert r_to_mos(100) == 4.5
        assert r_to_mos(150) == 4.5
        r = 70.0
        assert r_to_mos(r) == pytest.approx(1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)
        assert r_to_mos(50) == pytest.approx(2.58, abs=0.005)
        assert r_to_mos(3) == 1.0  # the formula dips under 1 there

    def test_ie_eff_formula(self) -> None:
        # G.711 with PLC, 2 % random loss: 0 + 95 * 2 / (2 + 25.1)
        assert effective_equipment_impairment(0, 25.1, 2.0) == pytest.approx(95 * 2 / 27.1)
        # bursty: Ppl / BurstR in the denominator
        assert effective_equipment_impairment(11, 19, 5.0, 2.0) == pytest.approx(
            11 + 84 * 5 / (2.5 + 19)
        )
        assert effective_equipment_impairment(0, 4.3, 0.0) == 0.0
        assert effective_equipment_impairment(10, 4.3, 100.0) == pytest.approx(
            10 + 85 * 100 / 104.3
        )
        r0 = e_model_r(codec="g711", one_way_delay_ms=0, loss_fraction=0)
        r2 = e_model_r(codec="g711", one_way_delay_ms=0, loss_fraction=0.02)
        assert r0 - r2 == pytest.approx(95 * 2 / 27.1)
        r_noplc = e_model_r(codec="g711-noplc", one_way_delay_ms=0, loss_fraction=0.02)
        assert r0 - r_noplc == pytest.approx(95 * 2 / 6.3)

    def test_delay_impairment_terms(self) -> None:
        def idle(t: float) -> float:
            rle = 10.5 * 117 * (2 * t + 1) ** -0.25
            return (94.77 - rle) / 2 + math.sqrt((94.77 - rle) ** 2 / 4 + 169)

        def idte(t: float) -> float:
            terv = 65 - 40 * math.log10((1 + t / 10) / (1 + t / 150)) + 6 * math.exp(-0.3 * t * t)
            x = 94.77 - (80 + 2.5 * (terv - 14))
            return max(0.0, (x / 2 + math.sqrt(x * x / 4 + 100) - 1) * (1 - math.exp(-t)))

        # below 100 ms there is no absolute-delay term Idd
        for t in (0.0, 50.0, 100.0):
            assert delay_impairment(t) == pytest.approx(idle(t) + idte(t))
        # G.107 §7.4: X = log2(Ta / 100), Idd = 25 ((1 + X^6)^(1/6) - 3 (1 + (X/3)^6)^(1/6) + 2)
        for t in (200.0, 400.0):
            x = math.log2(t / 100)
            idd = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
            assert delay_impairment(t) == pytest.approx(idle(t) + idte(t) + idd)
        assert delay_impairment(400) - delay_impairment(200) > 0

    def test_codec_names_and_bad_values(self) -> None:
        assert e_model_mos(codec="OPUS", one_way_delay_ms=0, loss_fraction=0) == e_model_mos(
            codec="pcma", one_way_delay_ms=0, loss_fraction=0
        )
        with pytest.raises(ValueError, match="codec"):
            e_model_mos(codec="gsm", one_way_delay_ms=0, loss_fraction=0)
        with pytest.raises(ValueError):
            e_model_mos(codec="pcmu", one_way_delay_ms=-1, loss_fraction=0)
        with pytest.raises(ValueError):
            e_model_mos(codec="pcmu", one_way_delay_ms=0, loss_fraction=1.5)
        with pytest.raises(ValueError):
            e_model_mos(codec="pcmu", one_way_delay_ms=0, loss_fraction=0, burst_ratio=0)

    @given(
        codec=st.sampled_from(CODECS),
        delay=st.floats(0, 2000),
        loss=st.floats(0, 1),
        more=st.floats(0, 1),
        burst=st.floats(1, 8),
    )
    def test_mos_bounded_and_monotone_in_loss(
        self, codec: str, delay: float, loss: float, more: float, burst: float
    ) -> None:
        worse = min(1.0, loss + more)
        a = e_model_mos(codec=codec, one_way_delay_ms=delay, loss_fraction=loss, burst_ratio=burst)
        b = e_model_mos(codec=codec, one_way_delay_ms=delay, loss_fraction=worse, burst_ratio=burst)
        assert 1.0 <= b <= a <= 4.5

    @given(
        codec=st.sampled_from(CODECS),
        delay=st.floats(0, 2000),
        more=st.floats(0, 2000),
        loss=st.floats(0, 1),
    )
    def test_mos_monotone_in_delay(
        self, codec: str, delay: float, more: float, loss: float
    ) -> None:
        a = e_model_mos(codec=codec, one_way_delay_ms=delay, loss_fraction=loss)
        b = e_model_mos(codec=codec, one_way_delay_ms=delay + more, loss_fraction=loss)
        assert 1.0 <= b <= a <= 4.5


class TestReceptionStats:
    def test_loss_counts_expected_against_received(self) -> None:
        stats = ReceptionStats(8000)
        for seq in (65534, 65535, 1, 2, 4):  # wraps; 0 and 3 missing
            stats.add(ssrc=7, sequence=seq, timestamp=seq * 160, payload_len=160, now=0.0)
        assert stats.expected == 7
        assert stats.received == 5
        assert stats.lost == 2
        assert stats.loss_fraction == pytest.approx(2 / 7)
        assert stats.payload_bytes == 800
        stats.add(ssrc=7, sequence=3, timestamp=480, payload_len=160, now=0.0)  # late
        assert (stats.expected, stats.lost) == (7, 1)

    def test_new_ssrc_starts_over(self) -> None:
        stats = ReceptionStats(8000)
        stats.add(ssrc=1, sequence=10, timestamp=0, payload_len=1, now=0.0)
        stats.add(ssrc=1, sequence=20, timestamp=0, payload_len=1, now=0.0)
        stats.add(ssrc=2, sequence=500, timestamp=0, payload_len=1, now=0.0)
        assert (stats.ssrc, stats.expected, stats.received, stats.lost) == (2, 1, 1, 0)

    def test_jitter_follows_rfc3550_a8(self) -> None:
        stats = ReceptionStats(8000)
        # packets 20 ms apart in timestamps, arrivals alternate 10 ms early and late
        arrivals = [0.0, 0.03, 0.04, 0.07, 0.08]
        jitter = 0.0
        for i, now in enumerate(arrivals):
            stats.add(ssrc=1, sequence=i, timestamp=160 * i, payload_len=160, now=now)
            if i:
                d = abs((now - arrivals[i - 1]) * 8000 - 160)
                jitter += (d - jitter) / 16
        assert stats.jitter_ms == pytest.approx(jitter / 8)
        assert stats.jitter_ms > 0

    def test_nothing_received(self) -> None:
        stats = ReceptionStats(48000)
        assert (stats.expected, stats.lost, stats.loss_fraction, stats.jitter_ms) == (
            0,
            0,
            0.0,
            0.0,
        )
