"""What the detector reports: alert lifecycle events and per-evaluation results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

# One list of severities and event kinds for the whole pipeline: the alert record's, in the core.
from brandpulse.schema import SEVERITIES
from brandpulse.schema import AlertEventKind as EventKind

__all__ = ["SEVERITIES", "SEVERITY_RUNGS", "AlertEvent", "BucketResult", "EventKind", "severity_index"]

# Severity rungs above "low": (extra surprise over the open threshold, minimum excess ratio).
SEVERITY_RUNGS: tuple[tuple[float, float], ...] = ((3.0, 2.0), (6.0, 3.0), (10.0, 5.0))


def severity_index(surprise: float, open_surprise: float, ratio: float) -> int:
    """Index into SEVERITIES: 0 below the open threshold, then one rung per (surprise, ratio) step."""
    if surprise < open_surprise:
        return 0
    sev = 1
    for extra, rung_ratio in SEVERITY_RUNGS:
        if surprise >= open_surprise + extra and ratio >= rung_ratio:
            sev += 1
    return sev


@dataclass(frozen=True)
class AlertEvent:
    """One lifecycle event of an alert episode.

    For ``opened``/``updated`` the window and counts are those of the test that triggered the
    event: the (possibly still open, partial) bucket, a recent window ending at the stream clock,
    or the sustained (hours-long) window; the expectations cover the same window.  For
    ``resolved`` the window spans the episode (first to last anomalous bucket) and the counts are
    those of its peak window.  ``(alert_id, seq)`` is unique: use it to de-duplicate after an
    at-least-once replay.
    """

    kind: EventKind
    alert_id: str
    key: str
    severity: str
    window_start: datetime
    window_end: datetime
    observed_negative: int
    expected_negative: float
    observed_total: int
    expected_total: float
    negative_share: float
    expected_share: float
    score: float
    p_value: float
    reason: str
    seq: int = 0
    emitted_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (datetimes as ISO-8601 strings)."""
        out = asdict(self)
        for name in ("window_start", "window_end", "emitted_at"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertEvent:
        values = dict(data)
        for name in ("window_start", "window_end", "emitted_at"):
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


class BucketResult(NamedTuple):
    """Outcome of evaluating one (possibly partial) bucket of one key.

    ``score`` is in [0, 1) on the fixed scale of ``alerts.detector.config.score_of``, taken over
    every test of this evaluation (the bucket, the sustained window and, early, the recent
    windows), and it is at least ``config.score_threshold()`` exactly when the key has an open
    alert after this evaluation (0.5 for the balanced preset).  The counts and expectations are
    the bucket's own.  ``final`` is True when the bucket is closed and has been learned from;
    ``late`` when it arrived after its bucket closed and was dropped.
    """

    key: str
    bucket_start: datetime
    total: int
    negative: int
    expected_total: float
    expected_negative: float
    expected_share: float
    p_value: float
    score: float
    severity: str
    events: tuple[AlertEvent, ...]
    fraction: float = 1.0
    final: bool = True
    late: bool = False
