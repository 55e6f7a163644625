"""The key's own events: calibration against its history, the sustained test, old snapshots.

(alerts/DETECTOR.md, "The tests" and "Checkpointing".)
"""

from __future__ import annotations

import json
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from alerts.detector import AlertEvent, BucketResult, DetectorConfig, NegativeSpikeDetector
from alerts.detector.state import add_event, weight_at_least

B = 300
PER_DAY = 86400 // B
T0 = datetime(2026, 1, 6, tzinfo=UTC)  # a Tuesday
DATA = Path(__file__).resolve().parent / "data"


def at(i: int) -> datetime:
    return T0 + timedelta(seconds=B * i)


def background(det: NegativeSpikeDetector, start: int, n: int, seed: int, key: str = "acme") -> list[BucketResult]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        tot = int(rng.poisson(40))
        neg = int(rng.binomial(tot, 0.2))
        out.append(det.update_bucket(key, at(i), tot, neg))
    return out


def burst(det: NegativeSpikeDetector, start: int, negatives: list[int], key: str = "acme") -> list[AlertEvent]:
    return [e for j, n in enumerate(negatives) for e in det.update_bucket(key, at(start + j), 32 + n, n).events]


def opened(events: list[AlertEvent]) -> int:
    return sum(e.kind == "opened" for e in events)


def test_a_steady_key_keeps_no_event_memory_and_is_judged_by_the_statistics_alone() -> None:
    det = NegativeSpikeDetector(DetectorConfig())
    results = background(det, 0, 10 * PER_DAY, seed=1)
    assert not any(r.events for r in results)
    assert "ev" not in det.snapshot("acme")["state"]
    # ...so its first burst opens exactly as the statistics say.
    assert opened(burst(det, 10 * PER_DAY, [80, 80])) == 1


def test_a_bursty_key_stops_paging_for_its_usual_bursts_but_not_for_a_bigger_one() -> None:
    det = NegativeSpikeDetector(DetectorConfig())
    background(det, 0, 2 * PER_DAY, seed=2)
    per_burst = []
    i = 2 * PER_DAY
    for k in range(8):  # a 10x burst of negatives twice a day
        per_burst.append(opened(burst(det, i, [80, 60])))
        background(det, i + 2, PER_DAY // 2 - 2, seed=10 + k)
        i += PER_DAY // 2
    assert per_burst[0] == 1  # the first one is news
    assert per_burst[-4:] == [0, 0, 0, 0]  # twice a day is what this key does
    rec = det.snapshot("acme")["state"]
    assert len(rec["ev"]["b"]) >= 2 * 3  # events remembered as (log-ratio, weight) pairs
    # A rise larger than anything the key remembers is news again.
    assert opened(burst(det, i, [400, 300])) == 1


def test_the_memory_fades_so_a_once_usual_burst_is_news_again_after_about_a_month() -> None:
    det = NegativeSpikeDetector(DetectorConfig())
    background(det, 0, 2 * PER_DAY, seed=3)
    assert opened(burst(det, 2 * PER_DAY, [80, 60])) == 1
    background(det, 2 * PER_DAY + 2, 8 * PER_DAY, seed=4)
    # A burst a little smaller than that one (a same-size one is larger or smaller by noise).
    again = [70, 50]
    snap = det.snapshot()
    probe = NegativeSpikeDetector.restore(DetectorConfig(), snap)
    assert opened(burst(probe, 10 * PER_DAY + 2, again)) == 0  # eight days on: still this key's usual
    background(det, 10 * PER_DAY + 2, 30 * PER_DAY, seed=5)
    assert opened(burst(det, 40 * PER_DAY + 2, again)) == 1  # five weeks on: news again
    # With the weekly return period of `more`, it was news again far sooner.
    more = NegativeSpikeDetector.restore(DetectorConfig.preset("more"), snap)
    assert opened(burst(more, 10 * PER_DAY + 2, again)) == 1


@given(
    peaks=st.lists(st.tuples(st.floats(0.0, 8.0), st.floats(0.01, 10.0)), min_size=1, max_size=40),
    capacity=st.integers(2, 12),
    probe=st.floats(-1.0, 9.0),
)
def test_merging_events_never_undercounts_and_keeps_the_largest_exact(
    peaks: list[tuple[float, float]], capacity: int, probe: float
) -> None:
    events: array[float] | None = None
    for y, w in peaks:
        events = add_event(events, y, w, capacity)
    assert events is not None and len(events) <= 2 * capacity
    ys = list(events[0::2])
    assert ys == sorted(ys)
    true = sum(w for y, w in peaks if y >= probe)
    assert weight_at_least(events, probe) >= true - 1e-9 * len(peaks)
    assert abs(weight_at_least(events, -1.0) - sum(w for _, w in peaks)) <= 1e-9 * len(peaks)
    assert max(ys) == max(y for y, _ in peaks)  # the largest event is never merged away


def sustained_rise(det: NegativeSpikeDetector, start: int, n: int, factor: float, seed: int) -> list[BucketResult]:
    """``n`` buckets of a key with ~10 negatives per 5 min (of ~50 mentions), negatives x ``factor``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        neg = int(rng.poisson(10.0 * factor))
        tot = int(rng.poisson(40.0)) + neg
        out.append(det.update_bucket("acme", at(i), tot, neg))
    return out


def steady_keys(seed: int) -> tuple[NegativeSpikeDetector, NegativeSpikeDetector]:
    """Two identical keys with three days of history, with and without the sustained test."""
    dets = (NegativeSpikeDetector(DetectorConfig()), NegativeSpikeDetector(DetectorConfig(sustained_half_life_seconds=None)))
    for det in dets:
        sustained_rise(det, 0, 3 * PER_DAY, 1.0, seed)
    return dets


def test_an_hours_long_rise_no_bucket_shows_opens_through_the_sustained_test_once() -> None:
    with_sus, without = steady_keys(seed=1)
    start = 3 * PER_DAY
    rise = sustained_rise(with_sus, start, 48, 2.0, seed=8)  # twice the negatives for four hours
    plain = sustained_rise(without, start, 48, 2.0, seed=8)
    assert not any(r.events for r in plain)  # no single bucket is an alert...
    events = [e for r in rise for e in r.events]
    assert opened(events) == 1  # ...the four hours are, and as one episode
    first = next(e for e in events if e.kind == "opened")
    assert "sustained rise" in first.reason
    assert first.window_end - first.window_start > timedelta(hours=2)
    assert first.observed_negative > 1.5 * first.expected_negative
    assert first.emitted_at is not None and first.emitted_at - at(start) < timedelta(hours=3)
    after = sustained_rise(with_sus, start + 48, 24, 1.0, seed=9)
    kinds = [e.kind for e in events] + [e.kind for r in after for e in r.events]
    assert kinds.count("resolved") == 1 and kinds.count("opened") == 1  # over within two hours after


def test_a_single_burst_does_not_hold_a_sustained_alert_after_it() -> None:
    det, _ = steady_keys(seed=11)
    start = 3 * PER_DAY
    events = [e for j, n in enumerate((90, 80)) for e in det.update_bucket("acme", at(start + j), 40 + n, n).events]
    assert opened(events) == 1
    tail = sustained_rise(det, start + 2, 12, 1.0, seed=12)
    resolved_at = next(i for i, r in enumerate(tail) if any(e.kind == "resolved" for e in r.events))
    assert resolved_at <= 3  # the EW mean is still raised, but the buckets are back to normal
    assert det.snapshot("acme")["state"]["sus"][0] > 0.1


def test_a_version_1_snapshot_restores_and_carries_its_open_alert_on() -> None:
    fixture = json.loads((DATA / "detector_v1_snapshot.json").read_text())
    state = fixture["state"]
    assert state["v"] == 1
    det = NegativeSpikeDetector.restore(DetectorConfig(), state)
    alert_id = fixture["events_before"][0]["alert_id"]
    assert det.active_alerts() == {"acme": alert_id}
    rng = np.random.default_rng(1)
    events: list[AlertEvent] = []
    first = 2 * PER_DAY + 3
    for i in range(first, first + 24):
        t = at(i) + timedelta(seconds=B // 2)
        tot = int(rng.poisson(30))
        neg = int(rng.binomial(tot, 0.2)) + (40 if i < first + 3 else 0)
        det.observe("acme", t, negative=True, count=neg)
        det.observe("acme", t, negative=False, count=tot + (40 if i < first + 3 else 0) - neg)
        events += det.advance(at(i + 1))
    assert {e.alert_id for e in events} == {alert_id}  # the same episode, carried on...
    assert [e.kind for e in events][-1] == "resolved" and det.active_alerts() == {}  # ...to its end
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert det.snapshot()["v"] == 2
