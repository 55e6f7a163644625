from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.threshold import ThresholdDetector

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_fires_once_when_negatives_reach_threshold() -> None:
    d = ThresholdDetector(window_seconds=600, threshold=3)
    for i in range(2):
        d.observe("acme", T0 + timedelta(seconds=i), negative=True)
    assert d.advance(T0) == []
    d.observe("acme", T0 + timedelta(seconds=5), negative=True)
    d.observe("acme", T0 + timedelta(seconds=6), negative=False)
    events = d.advance(T0 + timedelta(seconds=6))
    assert [(e.kind, e.key, e.observed_negative, e.observed_total) for e in events] == [("opened", "acme", 3, 4)]
    d.observe("acme", T0 + timedelta(seconds=7), negative=True)
    assert d.advance(T0 + timedelta(seconds=7)) == []  # same window: no storm


def test_positive_mentions_never_fire_and_brands_are_separate() -> None:
    d = ThresholdDetector(window_seconds=600, threshold=2)
    for _ in range(50):
        d.observe("acme", T0, negative=False)
    d.observe("globex", T0, negative=True)
    assert d.advance(T0) == []


def test_burst_straddling_two_windows_is_one_alert() -> None:
    d = ThresholdDetector(window_seconds=600, threshold=3)
    for s in (590, 595, 599, 600, 601, 602, 603):
        d.observe("acme", T0 + timedelta(seconds=s), negative=True)
    assert len(d.advance(T0 + timedelta(seconds=603))) == 1


def test_snapshot_restore_does_not_refire() -> None:
    d = ThresholdDetector(window_seconds=600, threshold=2)
    d.observe("acme", T0, negative=True)
    d.observe("acme", T0, negative=True)
    first = d.advance(T0)
    restored = ThresholdDetector(window_seconds=600, threshold=2)
    restored.restore_state(d.snapshot())
    restored.observe("acme", T0, negative=True)
    assert len(first) == 1 and restored.advance(T0) == []
    again = ThresholdDetector(window_seconds=600, threshold=2)
    again.observe("acme", T0, negative=True)
    again.observe("acme", T0, negative=True)
    assert again.advance(T0)[0].alert_id == first[0].alert_id  # deterministic id
