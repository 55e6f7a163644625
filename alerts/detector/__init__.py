"""Streaming negative-spike detector: seasonal, count-aware, calibrated to each key, early, checkpointable.

One ``NegativeSpikeDetector`` watches many keys (a brand, or ``"brand|lang"``, ...)
and raises one alert episode per spike with a stable ``alert_id`` and the
lifecycle ``opened -> updated* -> resolved``.  The method, presets and tuning
knobs are documented in ``alerts/DETECTOR.md``; the modules follow its seams:

* ``stats``  -- the tests' tails (negative binomial, beta-binomial, normal);
* ``config`` -- presets, ``DetectorConfig`` and the one score scale;
* ``events`` -- ``AlertEvent`` and ``BucketResult``;
* ``state``  -- per-key state, episodes and the snapshot records;
* ``core``   -- ``NegativeSpikeDetector``: feeding, the tests and their calibration, checkpoints;
* ``learning`` and ``lifecycle`` -- its two halves that are not evaluation: what a closed bucket
  teaches the key, and the alert episodes.

Pure logic: no I/O, no wall-clock reads (time is always passed in), so the same
inputs always give the same events, and ``snapshot()``/``restore()`` resume a
run exactly.

>>> from datetime import UTC, datetime, timedelta
>>> det = NegativeSpikeDetector(DetectorConfig.preset("balanced", warmup_buckets=12))
>>> t0 = datetime(2026, 1, 5, tzinfo=UTC)
>>> for i in range(48):
...     _ = det.update_bucket("acme", t0 + timedelta(minutes=5 * i), total=40, negative=8)
>>> r = det.update_bucket("acme", t0 + timedelta(minutes=5 * 48), total=90, negative=58)
>>> [e.kind for e in r.events], r.score >= det.config.score_threshold()
(['opened'], True)
"""

from alerts.detector.config import (
    PRESETS,
    SCORE_ANCHOR,
    DetectorConfig,
    Seasonality,
    Sensitivity,
    Thresholds,
    score_of,
)
from alerts.detector.core import NegativeSpikeDetector
from alerts.detector.events import SEVERITIES, AlertEvent, BucketResult, EventKind
from alerts.detector.state import STATE_VERSION
from alerts.detector.stats import nb_surprise, share_surprise

__all__ = [
    "PRESETS",
    "SCORE_ANCHOR",
    "SEVERITIES",
    "STATE_VERSION",
    "AlertEvent",
    "BucketResult",
    "DetectorConfig",
    "EventKind",
    "NegativeSpikeDetector",
    "Seasonality",
    "Sensitivity",
    "Thresholds",
    "nb_surprise",
    "score_of",
    "share_surprise",
]
