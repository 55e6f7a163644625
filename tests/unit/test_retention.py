"""Retention by the period in an index's name, the indices it protects, and a maintenance job
that survives Elasticsearch being down — no Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from prometheus_client import generate_latest

from brandpulse.metrics import WorkerMetrics
from brandpulse.settings import IndexSettings
from index.retention import IndexMaintenance, current_and_next, expired_names, managed_period
from index.templates import period_bounds

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(("suffix", "start", "end"), [
    ("2026.11", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ("2026.12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ("2026.11.20", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)),
    ("2026.w01", datetime(2025, 12, 29, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)),
])
def test_period_bounds(suffix: str, start: datetime, end: datetime) -> None:
    assert period_bounds(suffix) == (start, end)


@pytest.mark.parametrize("suffix", ["2026.13", "2026.w54", "2026.11-restored", "old", "2026.11.20.1", ""])
def test_names_that_are_not_periods(suffix: str) -> None:
    assert period_bounds(suffix) is None


def test_only_exact_names_under_our_prefix_are_managed() -> None:
    assert managed_period("bp-mentions-2026.11", "bp") is not None
    assert managed_period("bp-mentions-2026.11-restored", "bp") is None
    assert managed_period("bp-mentions-x-mentions-2020.01", "bp") is None  # another prefix "bp-mentions-x"
    assert managed_period("bp-alerts", "bp") is None
    assert managed_period("other-mentions-2020.01", "bp") is None


def test_expired_is_by_period_end_and_never_current_next_or_foreign() -> None:
    names = ["bp-mentions-2025.09", "bp-mentions-2025.10", "bp-mentions-2025.11", "bp-mentions-2026.11",
             "bp-mentions-2026.12", "bp-mentions-2024.01-restored", "bp-mentions-2024.01.05", "bp-mentions-2024.w02"]
    # 2025.10 ended 2025-11-01, 384.75 days before NOW; 2025.11 ended 2025-12-01 (354.75 days)
    assert expired_names(dict.fromkeys(names), "bp", 365, now=NOW) == [
        "bp-mentions-2024.01.05", "bp-mentions-2024.w02", "bp-mentions-2025.09", "bp-mentions-2025.10"]
    # a retention far shorter than a period deletes the previous month but never the current one
    # or the pre-created next one
    short = ["bp-mentions-2026.10", "bp-mentions-2026.11", "bp-mentions-2026.12", "bp-mentions-2026.11.19"]
    assert expired_names(dict.fromkeys(short), "bp", 1, now=NOW) == ["bp-mentions-2026.10"]
    assert expired_names(dict.fromkeys(short), "bp", 1, now=NOW, granularity="day") == ["bp-mentions-2026.10"]


@pytest.mark.parametrize(("granularity", "now", "expected"), [
    ("month", datetime(2026, 12, 31, 23, tzinfo=UTC), ("bp-mentions-2026.12", "bp-mentions-2027.01")),
    ("day", datetime(2026, 2, 28, 12, tzinfo=UTC), ("bp-mentions-2026.02.28", "bp-mentions-2026.03.01")),
    ("week", datetime(2026, 12, 30, tzinfo=UTC), ("bp-mentions-2026.w53", "bp-mentions-2027.w01")),
])
def test_current_and_next(granularity: str, now: datetime, expected: tuple[str, str]) -> None:
    assert current_and_next("bp", granularity, now) == expected


class DownIndices:
    def get(self, **_: Any) -> Any:
        raise TransportConnectionError("connection refused")


class DownEs:
    indices = DownIndices()


def test_maintenance_failure_is_logged_and_counted_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    metrics = WorkerMetrics("index")
    m = IndexMaintenance(DownEs(), "bp", IndexSettings(), metrics)  # type: ignore[arg-type]
    assert m.run_once() is None
    assert m.run_once() is None
    assert m.last_error is not None and m.last_error.startswith("ConnectionError")
    text = generate_latest(metrics.registry).decode()
    assert 'brandpulse_index_maintenance_runs_total{outcome="error"} 2.0' in text
    assert "index maintenance failed" in caplog.text
