"""One meaning for the score (alerts/DETECTOR.md): ``score >= config.score_threshold()`` exactly
while the detector has an open alert, for every preset, on the fixed scale where 0.5 is the
balanced open threshold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.backtest import SeriesRow, backtest_series
from alerts.detector import (
    PRESETS,
    SCORE_ANCHOR,
    BucketResult,
    DetectorConfig,
    NegativeSpikeDetector,
    score_of,
)

B = 300
T0 = datetime(2026, 1, 6, tzinfo=UTC)


def test_each_preset_maps_to_a_documented_score_threshold() -> None:
    assert DetectorConfig.preset("balanced").score_threshold() == 0.5
    assert DetectorConfig.preset("fewer").score_threshold() == pytest.approx(7 / 12)
    assert DetectorConfig.preset("more").score_threshold() == pytest.approx(3.5 / 8.5)
    for name, th in PRESETS.items():
        assert DetectorConfig.preset(name).score_threshold() == score_of(th.open_surprise)
    assert score_of(SCORE_ANCHOR) == 0.5 and score_of(0.0) == 0.0 and score_of(1e9) < 1.0
    assert DetectorConfig.preset("more", open_surprise=6.0).score_threshold() == pytest.approx(6 / 11)


# Negative multipliers per bucket over a steady background: mostly calm, sometimes a burst, so
# episodes open, hold (hysteresis), get held back (cooldown) and resolve.
multipliers = st.lists(
    st.one_of(st.just(1.0), st.floats(0.0, 2.0), st.floats(2.0, 30.0)), min_size=1, max_size=120
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mult=multipliers, sens=st.sampled_from(["fewer", "balanced", "more"]), cooldown=st.sampled_from([0, 3600]))
def test_bucket_scores_reach_the_threshold_exactly_while_an_alert_is_open(
    mult: list[float], sens: str, cooldown: int
) -> None:
    cfg = DetectorConfig.preset(sens, warmup_buckets=12, cooldown_seconds=cooldown)
    theta = cfg.score_threshold()
    det = NegativeSpikeDetector(cfg)
    for i in range(48):
        res = det.update_bucket("k", T0 + timedelta(seconds=B * i), 40 + i % 3, 8 + i % 2)
        assert res.score < theta and not det.active_alerts()
    for j, m in enumerate(mult):
        neg = round(8 * m)
        res = det.update_bucket("k", T0 + timedelta(seconds=B * (48 + j)), 32 + neg, neg)
        assert (res.score >= theta) == ("k" in det.active_alerts()), (j, res)
        assert 0.0 <= res.score < 1.0


ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("obs"), st.sampled_from(["a", "b"]), st.integers(0, 4 * 3600), st.booleans(), st.integers(1, 40)),
        st.tuples(st.just("adv"), st.integers(0, 4 * 3600)),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy, sens=st.sampled_from(["fewer", "balanced", "more"]))
def test_streaming_scores_reach_the_threshold_exactly_while_an_alert_is_open(ops: list[Any], sens: str) -> None:
    cfg = DetectorConfig.preset(sens, warmup_buckets=2, bucket_seconds=60, allowed_lateness_seconds=120)
    theta = cfg.score_threshold()
    det = NegativeSpikeDetector(cfg)
    for op in ops:
        if op[0] == "obs":
            _, key, sec, neg, count = op
            det.observe(key, T0 + timedelta(seconds=sec), negative=neg, count=count)
            continue
        got: list[BucketResult] = []
        det.advance(T0 + timedelta(seconds=op[1]), collect=got)
        # The last evaluation of each key in this advance() is the state the key is left in.
        last: dict[str, BucketResult] = {}
        for res in got:
            last[res.key] = res
        open_now = det.active_alerts()
        for key, res in last.items():
            assert (res.score >= theta) == (key in open_now), (key, res)


def episode_rows(rows: Sequence[SeriesRow], events: Sequence[Any]) -> set[int]:
    """Row indices between an ``opened`` and the row whose bucket emitted its ``resolved``."""
    where = {r.timestamp: i for i, r in enumerate(rows)}
    inside: set[int] = set()
    start: int | None = None
    for ev in events:
        at = where[ev.emitted_at - timedelta(seconds=B)]  # emitted at the end of the row's bucket
        if ev.kind == "opened":
            start = at
        elif ev.kind == "resolved" and start is not None:
            inside.update(range(start, at))
            start = None
    if start is not None:
        inside.update(range(start, len(rows)))
    return inside


def test_a_backtest_at_the_fixed_threshold_flags_exactly_the_open_alerts() -> None:
    """What ``run-nab.sh --fixed-threshold 0.5`` measures is what a balanced user gets paged for."""
    rows = []
    for i in range(4 * 288):
        value = 40 + (i * 7) % 11
        if i in (700, 701, 702, 950, 1040, 1041):
            value *= 6
        ts = T0 + timedelta(seconds=B * i)
        rows.append(SeriesRow(ts, value, value, float(value), ts.isoformat()))
    result = backtest_series(rows)
    flagged = {i for i, r in enumerate(result.rows) if r.anomaly_score >= 0.5}
    assert result.opened() and flagged == episode_rows(rows, result.events)
