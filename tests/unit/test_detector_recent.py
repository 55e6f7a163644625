"""Early detection's recent windows, which end at the stream clock and may reach into the previous
bucket (alerts/DETECTOR.md, "Early detection"): boundary-straddling and mid-bucket spikes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from alerts.detector import AlertEvent, DetectorConfig, NegativeSpikeDetector

B = 300
TUESDAY = datetime(2026, 1, 6, tzinfo=UTC)
PER_DAY = 86400 // B
# The bucket boundary the spike straddles: two days of history, then one live bucket.
BOUNDARY = TUESDAY + timedelta(seconds=(2 * PER_DAY + 1) * B)

Op = tuple[Any, ...]


def warm_ops(seed: int = 0) -> list[Op]:
    """Two days of ~30 mentions (20 % negative) per bucket, advanced once per bucket."""
    rng = np.random.default_rng(seed)
    ops: list[Op] = []
    for i in range(2 * PER_DAY):
        t = TUESDAY + timedelta(seconds=i * B + B // 2)
        tot = int(rng.poisson(30))
        neg = int(rng.binomial(tot, 0.2))
        ops.append(("obs", t, True, neg))
        ops.append(("obs", t, False, tot - neg))
        ops.append(("adv", TUESDAY + timedelta(seconds=(i + 1) * B)))
    return ops


def spike_ops(lead_s: int, every_s: int, seconds: int, seed: int = 0) -> list[Op]:
    """Live traffic in 10 s steps from one bucket before BOUNDARY; one negative every ``every_s``
    seconds from ``lead_s`` before the boundary, for ``seconds``."""
    rng = np.random.default_rng(seed + 100)
    onset = BOUNDARY - timedelta(seconds=lead_s)
    ops: list[Op] = []
    t = BOUNDARY - timedelta(seconds=B)
    nxt = onset
    while t < onset + timedelta(seconds=seconds):
        for _ in range(int(rng.poisson(1.0))):
            ops.append(("obs", t + timedelta(seconds=5), bool(rng.random() < 0.2), 1))
        while nxt < t + timedelta(seconds=10) and nxt < onset + timedelta(seconds=seconds):
            ops.append(("obs", nxt, True, 1))
            nxt += timedelta(seconds=every_s)
        t += timedelta(seconds=10)
        ops.append(("adv", t))
    return ops


def run(det: NegativeSpikeDetector, ops: list[Op]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for op in ops:
        if op[0] == "obs":
            if op[3]:
                det.observe("acme", op[1], negative=op[2], count=op[3])
        else:
            events += det.advance(op[1])
    return events


def first_open_delay(lead_s: int, every_s: int) -> tuple[float, AlertEvent]:
    det = NegativeSpikeDetector(DetectorConfig())
    assert run(det, warm_ops()) == []
    events = run(det, spike_ops(lead_s, every_s, 600))
    opened = [e for e in events if e.kind == "opened"]
    assert len({e.alert_id for e in events}) == 1 and len(opened) == 1
    assert opened[0].emitted_at is not None
    return (opened[0].emitted_at - (BOUNDARY - timedelta(seconds=lead_s))).total_seconds(), opened[0]


def test_spike_starting_10s_before_a_boundary_opens_sooner() -> None:
    # 30 negatives a minute from 10 s before the boundary.  Bucket by bucket, the new bucket has to
    # gather the evidence on its own against an expectation floored at early_min_fraction (60 s):
    # that opened 30 s after the onset.  The bucket-long recent window adds the 10 s of the previous
    # bucket.
    delay, ev = first_open_delay(lead_s=10, every_s=2)
    assert delay <= 20.0
    assert ev.window_start < BOUNDARY <= ev.window_end  # the opening window straddles the boundary
    assert "across two 5-min windows" in ev.reason and ev.observed_negative >= 5


def test_slow_spike_starting_two_minutes_before_a_boundary_opens_sooner() -> None:
    # 6 negatives a minute from 2 min before the boundary: the previous bucket (diluted by its quiet
    # first 3 min) does not open, and the new bucket alone opened 270 s after the onset.
    delay, ev = first_open_delay(lead_s=120, every_s=10)
    assert delay <= 200.0
    assert ev.window_start < BOUNDARY


@pytest.mark.parametrize("lead_s", [150, 200, 250, 290])
def test_a_slow_spike_opens_as_fast_wherever_in_the_bucket_it_starts(lead_s: int) -> None:
    # 10 negatives a minute on ~6 usual per 5 min.  Tested bucket by bucket only, an onset 150 s
    # into a bucket opened 80 s after it (diluted by the bucket's quiet first half) and one 50 s
    # before the boundary after 50 s; the one-minute window ending at the clock opens all of them
    # at the same evidence, 10 negatives in the last minute.
    delay, ev = first_open_delay(lead_s=lead_s, every_s=6)
    assert delay <= 60.0
    assert ev.window_end - ev.window_start <= timedelta(minutes=2)  # a short window, not a bucket


def test_recent_windows_feed_the_one_episode_until_it_resolves() -> None:
    det = NegativeSpikeDetector(DetectorConfig())
    run(det, warm_ops())
    events = run(det, spike_ops(lead_s=10, every_s=2, seconds=900))
    quiet = BOUNDARY + timedelta(seconds=3 * B)
    for i in range(12):
        events += det.advance(quiet + timedelta(seconds=(i + 1) * B))
    assert len({e.alert_id for e in events}) == 1
    assert [e.kind for e in events].count("opened") == 1 and events[-1].kind == "resolved"
    assert [e.seq for e in events] == list(range(len(events)))


def snapshot_cut(ops: list[Op], cut: int) -> tuple[NegativeSpikeDetector, dict[str, Any]]:
    det = NegativeSpikeDetector(DetectorConfig())
    run(det, ops[:cut])
    return det, json.loads(json.dumps(det.snapshot()))


def test_snapshot_restore_round_trips_the_histogram() -> None:
    ops = warm_ops() + spike_ops(lead_s=10, every_s=2, seconds=600)
    whole = run(NegativeSpikeDetector(DetectorConfig()), ops)
    assert any(e.kind == "opened" for e in whole)
    # Cut just after the boundary: the previous bucket's tail is only in the histogram.
    cut = next(i for i, op in enumerate(ops) if op[0] == "adv" and op[1] > BOUNDARY)
    det, state = snapshot_cut(ops, cut)
    rec = state["keys"]["acme"]
    b_idx = int(BOUNDARY.timestamp()) // B
    assert "h" in rec and {row[0] for row in rec["h"]} == {b_idx - 1, b_idx}
    resumed = NegativeSpikeDetector.restore(DetectorConfig(), state)
    assert resumed.snapshot() == det.snapshot()
    per_key = NegativeSpikeDetector.restore_many(DetectorConfig(), [json.loads(json.dumps(det.snapshot("acme")))])
    assert per_key.snapshot() == det.snapshot()
    head = run(NegativeSpikeDetector(DetectorConfig()), ops[:cut])
    assert head + run(resumed, ops[cut:]) == whole
    assert run(per_key, ops[cut:]) == whole[len(head) :]


def test_histogram_is_bounded_to_the_current_and_previous_bucket() -> None:
    det = NegativeSpikeDetector(DetectorConfig())
    run(det, warm_ops() + spike_ops(lead_s=10, every_s=2, seconds=900))
    rec = det.snapshot("acme")["state"]
    now_idx = int(det.clock.timestamp()) // B  # type: ignore[union-attr]
    assert all(now_idx - 1 <= row[0] <= now_idx for row in rec["h"])
    assert all(len(row) == 1 + 2 * 15 for row in rec["h"])


def test_restoring_an_old_snapshot_without_histogram_works() -> None:
    ops = warm_ops() + spike_ops(lead_s=10, every_s=2, seconds=600)
    cut = next(i for i, op in enumerate(ops) if op[0] == "adv" and op[1] > BOUNDARY)
    det, state = snapshot_cut(ops, cut)
    old = json.loads(json.dumps(state))
    for rec in old["keys"].values():
        rec.pop("h", None)  # the format before the sub-bucket histogram
    resumed = NegativeSpikeDetector.restore(DetectorConfig(), old)
    one = det.snapshot("acme")
    del one["state"]["h"]
    NegativeSpikeDetector.restore(DetectorConfig(), one)  # per-key records too
    rest = run(resumed, ops[cut:])
    # Without the tail it behaves like the bucket-only rule for this boundary: the spike still opens
    # exactly one episode, and every later bucket has its histogram again.
    assert [e.kind for e in rest].count("opened") == 1
    assert "h" in resumed.snapshot("acme")["state"]


def test_recent_window_evaluation_is_deterministic() -> None:
    ops = warm_ops(seed=3) + spike_ops(lead_s=40, every_s=4, seconds=900, seed=3)
    runs = []
    for _ in range(2):
        det = NegativeSpikeDetector(DetectorConfig())
        runs.append((run(det, ops), det.snapshot()))
    assert runs[0] == runs[1]
    assert any(e.kind == "opened" for e in runs[0][0])
    # Resuming from a checkpoint at any advance in the live part gives the same events.
    live = [i for i, op in enumerate(ops) if op[0] == "adv" and op[1] >= BOUNDARY - timedelta(seconds=60)]
    for cut in live[:: max(1, len(live) // 12)]:
        det, state = snapshot_cut(ops, cut)
        head = run(NegativeSpikeDetector(DetectorConfig()), ops[:cut])
        assert head + run(NegativeSpikeDetector.restore(DetectorConfig(), state), ops[cut:]) == runs[0][0]
