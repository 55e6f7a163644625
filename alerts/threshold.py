"""The first, simple detector: N negative mentions of a brand in one event-time window.

Same streaming interface as the spike detector (``observe`` / ``advance`` / ``snapshot`` /
``restore``), so the alert worker can run either. Deterministic; no clock inside.

>>> from datetime import UTC, datetime
>>> d = ThresholdDetector(window_seconds=600, threshold=2)
>>> t = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
>>> d.observe("acme", t, negative=True); d.observe("acme", t, negative=True)
>>> [e.kind for e in d.advance(t)]
['opened']
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal


@dataclass(frozen=True)
class ThresholdEvent:
    kind: Literal["opened", "updated", "resolved"]
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


class ThresholdDetector:
    def __init__(self, *, window_seconds: int = 600, threshold: int = 10, keep_windows: int = 6,
                 cooldown_windows: int = 1) -> None:
        self.window = window_seconds
        self.threshold = threshold
        self.keep_windows = keep_windows
        # A burst straddling a window boundary is one incident, not two alerts.
        self.cooldown_windows = cooldown_windows
        # key -> window start (epoch s) -> [total, negative, fired]
        self._counts: dict[str, dict[int, list[int]]] = {}

    def _start(self, t: datetime) -> int:
        ts = int(t.timestamp())
        return ts - ts % self.window

    def observe(self, key: str, event_time: datetime, *, negative: bool, count: int = 1) -> None:
        bucket = self._counts.setdefault(key, {}).setdefault(self._start(event_time), [0, 0, 0])
        bucket[0] += count
        if negative:
            bucket[1] += count

    def advance(self, now: datetime) -> list[ThresholdEvent]:
        events = []
        horizon = self._start(now) - self.keep_windows * self.window
        for key in sorted(self._counts):
            windows = self._counts[key]
            for start in sorted(windows):
                total, neg, fired = windows[start]
                if start < horizon:
                    del windows[start]
                    continue
                if neg >= self.threshold and not fired:
                    windows[start][2] = 1
                    recent = any(windows.get(start - i * self.window, [0, 0, 0])[2]
                                 for i in range(1, self.cooldown_windows + 1))
                    if not recent:
                        events.append(self._event(key, start, total, neg))
        return events

    def _event(self, key: str, start: int, total: int, neg: int) -> ThresholdEvent:
        ws = datetime.fromtimestamp(start, UTC)
        alert_id = hashlib.sha256(f"threshold\x1f{key}\x1f{start}".encode()).hexdigest()[:24]
        return ThresholdEvent(
            kind="opened", alert_id=alert_id, key=key,
            severity="high" if neg >= 3 * self.threshold else "medium",
            window_start=ws, window_end=ws + timedelta(seconds=self.window),
            observed_negative=neg, expected_negative=float(self.threshold), observed_total=total,
            expected_total=0.0, negative_share=neg / total if total else 0.0, expected_share=0.0,
            score=1.0, p_value=0.0,
            reason=f"{neg} negative mentions in {self.window // 60} min (threshold {self.threshold})",
        )

    def snapshot(self) -> dict[str, Any]:
        return {"kind": "threshold", "counts": {k: {str(s): v for s, v in w.items()} for k, w in self._counts.items()}}

    def restore_state(self, state: dict[str, Any]) -> None:
        self._counts = {k: {int(s): list(v) for s, v in w.items()} for k, w in state.get("counts", {}).items()}
