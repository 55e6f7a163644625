"""Unit tests for the detector backtest helpers (CSV in, scores and alerts out; no I/O but tmp files)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from alerts.backtest import (
    SeriesRow,
    backtest_csv,
    backtest_mentions,
    backtest_series,
    infer_bucket_seconds,
    parse_timestamp,
    plot_png,
    read_series_csv,
    scores_csv_text,
    write_scores_csv,
)
from alerts.detector import DetectorConfig, NegativeSpikeDetector

NAB_T0 = datetime(2015, 2, 26, 21, 42, 53)


def nab_csv(n: int = 3000, spike_at: int = 2500, seed: int = 3) -> str:
    """A NAB realTweets-like file: mention counts every 5 minutes with one burst."""
    rng = np.random.default_rng(seed)
    lines = ["timestamp,value"]
    for i in range(n):
        value = int(rng.poisson(20 * (1 + 0.5 * np.sin(2 * np.pi * i / 288))))
        if spike_at <= i < spike_at + 6:
            value += 70
        lines.append(f"{(NAB_T0 + timedelta(minutes=5 * i)):%Y-%m-%d %H:%M:%S},{value}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-02-26 21:42:53", datetime(2015, 2, 26, 21, 42, 53, tzinfo=UTC)),
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("1772366400", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("1772366400.5", datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("1772366400000", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_formats(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01 00:00:00", "nan"])
def test_parse_timestamp_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(bad)


def test_read_series_csv_layouts_and_errors() -> None:
    rows = read_series_csv(io.StringIO("timestamp,value\n2015-02-26 21:42:53,7\n\n2015-02-26 21:47:53,3.0\n"))
    assert [(r.total, r.negative, r.value, r.raw_timestamp) for r in rows] == [
        (7, 7, 7.0, "2015-02-26 21:42:53"),
        (3, 3, 3.0, "2015-02-26 21:47:53"),
    ]
    rows = read_series_csv(io.StringIO("Timestamp,Total,Negative\n1772366400,10,4\n"))
    assert (rows[0].total, rows[0].negative, rows[0].value) == (10, 4, 4.0)
    rows = read_series_csv(io.StringIO("\ufefftimestamp,count\n1772366400,5\n"))
    assert rows[0].total == 5
    for text, message in [
        ("", "empty"),
        ("when,value\n1,2\n", "timestamp"),
        ("timestamp,foo\n1,2\n", "count, value"),
        ("timestamp,value\n1772366400,x\n", "line 2"),
        ("timestamp,value\n1772366400,-1\n", "line 2"),
        ("timestamp,total,negative\n1772366400,1,2\n", "exceeds"),
        ("timestamp,value\nnope,1\n", "line 2"),
    ]:
        with pytest.raises(ValueError, match=message):
            read_series_csv(io.StringIO(text))


def test_infer_bucket_seconds_uses_the_median_spacing() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [t0 + timedelta(seconds=s) for s in (0, 300, 600, 1500, 1800, 2100)]  # one gap
    assert infer_bucket_seconds(stamps) == 300
    with pytest.raises(ValueError):
        infer_bucket_seconds([t0, t0])


def test_nab_style_series_alerts_on_the_burst_with_one_score_per_row(tmp_path: Path) -> None:
    src = tmp_path / "realTweets_like.csv"
    src.write_text(nab_csv())
    result = backtest_csv(src)
    assert result.bucket_seconds == 300
    assert len(result.rows) == 3000
    assert all(0.0 <= r.anomaly_score < 1.0 for r in result.rows)
    opened = result.opened()
    assert len(opened) == 1
    burst_start = (NAB_T0 + timedelta(minutes=5 * 2500)).replace(tzinfo=UTC)
    assert burst_start - timedelta(minutes=5) <= opened[0].window_start <= burst_start + timedelta(minutes=5)
    burst_scores = [r.anomaly_score for r in result.rows[2500:2506]]
    assert min(burst_scores) >= 0.5
    assert sum(r.anomaly_score >= 0.5 for r in result.rows) <= 8  # the burst and little else

    out = tmp_path / "scores.csv"
    assert write_scores_csv(result.rows, out) == 3000
    with out.open(newline="") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["timestamp", "value", "anomaly_score"]
    assert len(lines) == 3001
    source_lines = list(csv.reader(io.StringIO(nab_csv())))
    assert [line[:2] for line in lines[1:]] == source_lines[1:]  # timestamps and values echoed as read
    assert float(lines[2501][2]) == pytest.approx(result.rows[2500].anomaly_score, abs=1e-6)


def test_scores_come_from_the_same_detector_state() -> None:
    rows = read_series_csv(io.StringIO(nab_csv(n=800, spike_at=600)))
    result = backtest_series(rows)
    det = NegativeSpikeDetector(DetectorConfig(bucket_seconds=300))
    manual = [det.update_bucket("series", r.timestamp, r.total, r.negative) for r in rows]
    assert [r.anomaly_score for r in result.rows] == [m.score for m in manual]
    assert result.events == [e for m in manual for e in m.events]
    assert len(result.opened()) == 1
    assert scores_csv_text(result.rows).count("\n") == len(rows) + 1


def test_missing_rows_are_gaps_and_configured_bucket_must_not_be_smaller() -> None:
    rows = read_series_csv(io.StringIO(nab_csv(n=1200, spike_at=10_000)))
    kept = rows[:500] + rows[700:]  # ~17 hours missing
    result = backtest_series(kept)
    assert result.opened() == []
    assert len(result.rows) == len(kept)
    with pytest.raises(ValueError, match="smaller"):
        backtest_series(rows, bucket_seconds=60)


def test_rows_finer_than_the_bucket_are_streamed_with_early_scores() -> None:
    rng = np.random.default_rng(9)
    t0 = datetime(2026, 1, 6, tzinfo=UTC)
    rows = []
    for i in range(3 * 1440):  # three days of one-minute rows
        total = int(rng.poisson(6))
        negative = int(rng.binomial(total, 0.2))
        if 2 * 1440 + 600 <= i < 2 * 1440 + 615:
            total, negative = total + 6, negative + 6
        ts = t0 + timedelta(minutes=i)
        rows.append(SeriesRow(ts, total, negative, float(negative), ts.isoformat()))
    result = backtest_series(rows, bucket_seconds=300)
    assert result.bucket_seconds == 300 and len(result.rows) == len(rows)
    opened = result.opened()
    assert len(opened) == 1
    onset = t0 + timedelta(minutes=2 * 1440 + 600)
    assert opened[0].emitted_at is not None
    assert opened[0].emitted_at < onset + timedelta(minutes=5)  # inside the first bucket of the burst
    assert opened[0].window_end < opened[0].window_start + timedelta(minutes=5)  # a partial window


def test_backtest_mentions_replays_a_search_result() -> None:
    rng = np.random.default_rng(12)
    t0 = datetime(2026, 1, 6, tzinfo=UTC)
    mentions: list[tuple[datetime, bool]] = []
    for i in range(2 * 288 + 24):
        for _ in range(int(rng.poisson(10))):
            mentions.append(
                (t0 + timedelta(seconds=300 * i + float(rng.uniform(0, 300))), bool(rng.random() < 0.2))
            )
        if i >= 2 * 288 + 6:
            for _ in range(15):
                mentions.append((t0 + timedelta(seconds=300 * i + float(rng.uniform(0, 300))), True))
    rng.shuffle(mentions)  # an unordered result set: sorted before replay by default
    result = backtest_mentions(mentions, DetectorConfig())
    assert result.late_dropped == 0
    opened = result.opened()
    assert len(opened) == 1
    onset = t0 + timedelta(seconds=300 * (2 * 288 + 6))
    assert opened[0].emitted_at is not None and opened[0].emitted_at < onset + timedelta(minutes=5)
    assert len(result.rows) == 2 * 288 + 24
    assert sum(r.total for r in result.rows) == len(mentions)
    assert max(r.anomaly_score for r in result.rows) >= 0.5

    # Replayed in arrival order instead, mentions older than the lateness allowance are dropped.
    ordered = sorted(mentions)
    straggler = (ordered[-1][0] - timedelta(hours=2), True)
    late = backtest_mentions([*ordered, straggler], DetectorConfig(), sort=False)
    assert late.late_dropped == 1


def test_plot_png_is_the_alert_chart_of_the_whole_run(tmp_path: Path) -> None:
    from alerts.chart import HIGHLIGHT, NEG, PALETTE
    from tests.unit.test_chart import decode_png

    result = backtest_series(read_series_csv(io.StringIO(nab_csv(n=600, spike_at=500))))
    assert result.opened()
    path = plot_png(result, tmp_path / "plot.png", title="test")
    img = decode_png(path.read_bytes())  # no plotting library: alerts/chart.py, checked by decoding
    assert (img.width, img.height) == (2 * 600 + 38, 240)  # one column per bucket, two pixels each
    colours = {c for row in img.rgb for c in row}
    assert PALETTE[NEG] in colours and PALETTE[HIGHLIGHT] in colours  # the counts and the alert, shaded
    long = backtest_series(read_series_csv(io.StringIO(nab_csv(n=3000, spike_at=2500))))
    assert decode_png(plot_png(long, tmp_path / "long.png").read_bytes()).width == 2 * 750 + 38  # 4 buckets a column
    with pytest.raises(ValueError, match="no rows"):
        plot_png(type(result)([], [], 300, result.config), tmp_path / "empty.png")
