"""Backtests of the negative-spike detector on count series and mention streams.

Pure functions (no argument parsing, no network): a CLI or a notebook reads a
CSV or an Elasticsearch result and hands it here.  Scores come from the very
detector state that produces the alerts, one score per input row.

Accepted CSV layouts (header required, column names case-insensitive):

* ``timestamp,count`` or ``timestamp,value`` (NAB style): the value is the
  monitored count, used as both the negative and the total count, so only
  the count test can fire;
* ``timestamp,total,negative``.

Timestamps may be ISO-8601 (``Z`` or offsets; naive means UTC), NAB style
``2015-02-26 21:42:53`` (UTC), or unix seconds (values above 1e11 are read
as milliseconds).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import IO

from alerts.chart import ChartData, count_band, render_png
from alerts.detector import AlertEvent, BucketResult, DetectorConfig, NegativeSpikeDetector

_TIME_COLUMNS = ("timestamp", "time", "datetime", "date", "ts")
_COUNT_COLUMNS = ("count", "value")
# Unix timestamps above this are milliseconds (1e11 s is the year 5138).
_MILLIS_ABOVE = 1e11

Source = str | os.PathLike[str] | IO[str]


@dataclass(frozen=True)
class SeriesRow:
    """One input row: the counts fed to the detector and the value echoed to the scores CSV."""

    timestamp: datetime
    total: int
    negative: int
    value: float
    raw_timestamp: str


@dataclass(frozen=True)
class ScoredRow:
    """One output row: the input plus the detector's score for it."""

    timestamp: datetime
    raw_timestamp: str
    value: float
    total: int
    negative: int
    expected_negative: float
    anomaly_score: float
    p_value: float
    severity: str


@dataclass
class BacktestResult:
    """Scores (one per input row, or per bucket for mention streams) and the alert events."""

    rows: list[ScoredRow]
    events: list[AlertEvent]
    bucket_seconds: int
    config: DetectorConfig
    late_dropped: int = 0
    detector: NegativeSpikeDetector | None = field(default=None, repr=False)

    def opened(self) -> list[AlertEvent]:
        """The ``opened`` events, i.e. one per alert episode."""
        return [e for e in self.events if e.kind == "opened"]


def parse_timestamp(text: str) -> datetime:
    """ISO-8601, ``YYYY-MM-DD HH:MM:SS`` or unix seconds/milliseconds -> aware UTC datetime."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty timestamp")
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isnan(number):
        if not math.isfinite(number):
            raise ValueError(f"bad timestamp {text!r}")
        if abs(number) > _MILLIS_ABOVE:
            number /= 1000.0
        return datetime.fromtimestamp(number, UTC)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(
            f"bad timestamp {text!r}: use ISO-8601, 'YYYY-MM-DD HH:MM:SS' or unix seconds"
        ) from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _number(text: str, column: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise ValueError(f"line {line}: {column} {text!r} is not a number") from exc
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"line {line}: {column} must be a finite count >= 0, got {text!r}")
    return value


def _open_text(source: Source) -> tuple[IO[str], bool]:
    if isinstance(source, str | os.PathLike):
        return open(source, newline="", encoding="utf-8"), True
    return source, False


def read_series_csv(source: Source) -> list[SeriesRow]:
    """Rows of a ``timestamp,count|value`` or ``timestamp,total,negative`` CSV, in file order."""
    handle, owned = _open_text(source)
    try:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError("empty CSV: expected a header like timestamp,value or timestamp,total,negative")
        names = [h.strip().lower().lstrip("\ufeff") for h in header]
        time_col = next((names.index(c) for c in _TIME_COLUMNS if c in names), None)
        if time_col is None:
            raise ValueError(f"no timestamp column in header {header!r}")
        if "total" in names and "negative" in names:
            total_col, neg_col = names.index("total"), names.index("negative")
        else:
            count_col = next((names.index(c) for c in _COUNT_COLUMNS if c in names), None)
            if count_col is None:
                raise ValueError(f"header {header!r} needs count, value, or total and negative columns")
            total_col = neg_col = count_col
        rows: list[SeriesRow] = []
        for line, rec in enumerate(reader, start=2):
            if not rec or all(not cell.strip() for cell in rec):
                continue
            if len(rec) <= max(time_col, total_col, neg_col):
                raise ValueError(f"line {line}: expected {len(names)} columns, got {len(rec)}")
            try:
                ts = parse_timestamp(rec[time_col])
            except ValueError as exc:
                raise ValueError(f"line {line}: {exc}") from exc
            total_v = _number(rec[total_col], names[total_col], line)
            neg_v = _number(rec[neg_col], names[neg_col], line) if neg_col != total_col else total_v
            total, negative = round(total_v), round(neg_v)
            if negative > total:
                raise ValueError(f"line {line}: negative ({negative}) exceeds total ({total})")
            value = neg_v if neg_col != total_col else total_v
            rows.append(SeriesRow(ts, total, negative, value, rec[time_col].strip()))
        return rows
    finally:
        if owned:
            handle.close()


def infer_bucket_seconds(timestamps: Sequence[datetime]) -> int:
    """The median spacing of the (sorted) timestamps, in whole seconds (at least 1)."""
    stamps = sorted(t.timestamp() for t in timestamps)
    gaps = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    if not gaps:
        raise ValueError("need at least two distinct timestamps to infer the bucket size")
    return max(1, round(median(gaps)))


def _config_for(config: DetectorConfig | None, bucket_seconds: int) -> DetectorConfig:
    if config is None:
        return DetectorConfig(bucket_seconds=bucket_seconds)
    if config.bucket_seconds == bucket_seconds:
        return config
    return replace(config, bucket_seconds=bucket_seconds)


def backtest_series(
    rows: Sequence[SeriesRow],
    config: DetectorConfig | None = None,
    *,
    bucket_seconds: int | None = None,
    key: str = "series",
) -> BacktestResult:
    """Run a count series through the detector; one score per input row.

    ``bucket_seconds=None`` infers the bucket from the median row spacing (and
    overrides ``config.bucket_seconds``).  Rows spaced one bucket apart are
    fed as whole buckets; rows finer than the bucket are streamed, so each
    row's score is the early evaluation of its still-open bucket.  Rows are
    processed in time order; missing rows are gaps, not zeros.
    """
    if not rows:
        raise ValueError("no rows to backtest")
    ordered = sorted(rows, key=lambda r: r.timestamp)
    spacing = infer_bucket_seconds([r.timestamp for r in ordered]) if len(ordered) > 1 else None
    b = bucket_seconds or spacing or (config.bucket_seconds if config else 300)
    if spacing is not None and b < spacing * 0.75:
        raise ValueError(
            f"rows are about {spacing} s apart but bucket_seconds={b}: a bucket cannot be smaller than "
            "the data's spacing; leave bucket_seconds unset to use the spacing"
        )
    cfg = _config_for(config, b)
    det = NegativeSpikeDetector(cfg)
    if spacing is None or spacing * 1.5 >= b:
        scored, events = _run_buckets(det, ordered, b, key)
    else:
        scored, events = _run_stream(det, ordered, b, spacing, key)
    return BacktestResult(scored, events, b, cfg, det.late_dropped, det)


def _run_buckets(
    det: NegativeSpikeDetector, rows: Sequence[SeriesRow], b: int, key: str
) -> tuple[list[ScoredRow], list[AlertEvent]]:
    # Slots are counted from the first row so that jittered timestamps still land one per bucket.
    origin = rows[0].timestamp
    groups: list[tuple[int, list[SeriesRow]]] = []
    for row in rows:
        slot = round((row.timestamp - origin).total_seconds() / b)
        if groups and groups[-1][0] == slot:
            groups[-1][1].append(row)
        else:
            groups.append((slot, [row]))
    scored: list[ScoredRow] = []
    events: list[AlertEvent] = []
    for slot, members in groups:
        total = sum(r.total for r in members)
        negative = sum(r.negative for r in members)
        res = det.update_bucket(key, origin + timedelta(seconds=slot * b), total, negative)
        events.extend(res.events)
        scored.extend(_scored(r, res) for r in members)
    return scored, events


def _run_stream(
    det: NegativeSpikeDetector, rows: Sequence[SeriesRow], b: int, spacing: int, key: str
) -> tuple[list[ScoredRow], list[AlertEvent]]:
    scored: list[ScoredRow] = []
    events: list[AlertEvent] = []
    latest: dict[datetime, BucketResult] = {}
    for row in rows:
        if row.negative:
            det.observe(key, row.timestamp, negative=True, count=row.negative)
        if row.total > row.negative:
            det.observe(key, row.timestamp, negative=False, count=row.total - row.negative)
        got: list[BucketResult] = []
        events.extend(det.advance(row.timestamp + timedelta(seconds=spacing), collect=got))
        for res in got:
            latest[res.bucket_start] = res
        start = datetime.fromtimestamp(math.floor(row.timestamp.timestamp() / b) * b, UTC)
        res_row = latest.get(start)
        scored.append(_scored(row, res_row))
    last = rows[-1].timestamp + timedelta(seconds=b + det.config.allowed_lateness_seconds + spacing)
    events.extend(det.advance(last))
    return scored, events


def _scored(row: SeriesRow, res: BucketResult | None) -> ScoredRow:
    if res is None:
        return ScoredRow(
            row.timestamp, row.raw_timestamp, row.value, row.total, row.negative, 0.0, 0.0, 1.0, "none"
        )
    return ScoredRow(
        row.timestamp,
        row.raw_timestamp,
        row.value,
        row.total,
        row.negative,
        res.expected_negative,
        res.score,
        res.p_value,
        res.severity,
    )


def backtest_csv(
    source: Source,
    config: DetectorConfig | None = None,
    *,
    bucket_seconds: int | None = None,
    key: str = "series",
) -> BacktestResult:
    """``read_series_csv`` then ``backtest_series``."""
    return backtest_series(read_series_csv(source), config, bucket_seconds=bucket_seconds, key=key)


def backtest_mentions(
    mentions: Iterable[tuple[datetime, bool]],
    config: DetectorConfig | None = None,
    *,
    key: str = "series",
    evaluate_every_seconds: float = 10.0,
    sort: bool = True,
) -> BacktestResult:
    """Replay ``(timestamp, is_negative)`` mentions (e.g. an Elasticsearch scroll) as a live stream.

    The stream clock is the latest event time; open buckets are evaluated
    every ``evaluate_every_seconds`` of event time, as the alert worker
    would.  With ``sort=False`` the given order is kept, so mentions later
    than ``allowed_lateness`` are dropped (see ``late_dropped``).  Returns one
    row per bucket from the first to the last mention (empty buckets
    included), scored with the highest score any evaluation of that bucket
    reached; ``value`` is the bucket's negative count.
    """
    cfg = config or DetectorConfig()
    items = list(mentions)
    if sort:
        items.sort(key=lambda m: m[0])
    det = NegativeSpikeDetector(cfg)
    if not items:
        return BacktestResult([], [], cfg.bucket_seconds, cfg, 0, det)
    b = cfg.bucket_seconds
    every = timedelta(seconds=evaluate_every_seconds)
    events: list[AlertEvent] = []
    results: list[BucketResult] = []
    clock = items[0][0]
    next_eval = clock
    for ts, negative in items:
        det.observe(key, ts, negative=bool(negative))
        if ts > clock:
            clock = ts
        if clock >= next_eval:
            events.extend(det.advance(clock, collect=results))
            next_eval = clock + every
    end = clock + timedelta(seconds=b + cfg.allowed_lateness_seconds + 1)
    events.extend(det.advance(end, collect=results))
    # Counts and expectation from the bucket's final evaluation; score from its highest one,
    # since an alert may have opened on an early, partial look.
    best: dict[datetime, BucketResult] = {}
    final: dict[datetime, BucketResult] = {}
    for res in results:
        prev = best.get(res.bucket_start)
        if prev is None or res.score > prev.score:
            best[res.bucket_start] = res
        if res.final:
            final[res.bucket_start] = res
    first = min(t for t, _ in items)
    last = max(t for t, _ in items)
    idx = math.floor(first.timestamp() / b)
    stop = math.floor(last.timestamp() / b)
    rows: list[ScoredRow] = []
    while idx <= stop:
        start = datetime.fromtimestamp(idx * b, UTC)
        top = best.get(start)
        fin = final.get(start, top)
        if top is None or fin is None:
            rows.append(ScoredRow(start, start.isoformat(), 0.0, 0, 0, 0.0, 0.0, 1.0, "none"))
        else:
            rows.append(
                ScoredRow(
                    start,
                    start.isoformat(),
                    float(fin.negative),
                    fin.total,
                    fin.negative,
                    fin.expected_negative,
                    top.score,
                    top.p_value,
                    top.severity,
                )
            )
        idx += 1
    return BacktestResult(rows, events, b, cfg, det.late_dropped, det)


def _fmt_value(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def write_scores_csv(rows: Iterable[ScoredRow], out: Source) -> int:
    """Write ``timestamp,value,anomaly_score``, one line per row, timestamps as read; returns the count."""
    handle: IO[str]
    if isinstance(out, str | os.PathLike):
        handle, owned = open(out, "w", newline="", encoding="utf-8"), True
    else:
        handle, owned = out, False
    try:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score"])
        n = 0
        for row in rows:
            writer.writerow([row.raw_timestamp, _fmt_value(row.value), f"{row.anomaly_score:.6f}"])
            n += 1
        return n
    finally:
        if owned:
            handle.close()


def scores_csv_text(rows: Iterable[ScoredRow]) -> str:
    """``write_scores_csv`` into a string."""
    buf = io.StringIO()
    write_scores_csv(rows, buf)
    return buf.getvalue()


PLOT_COLUMNS = 780  # buckets are summed into at most this many columns (two pixels each)


def plot_png(result: BacktestResult, out: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """The run as the alert chart (alerts/chart.py): negative mentions against the detector's
    expected band (its expectation and the key's dispersion, alerts.chart.count_band), total
    mentions underneath, each alert episode shaded. A long run is summed into at most
    ``PLOT_COLUMNS`` columns (the band of a sum: means add, and so do the ``alpha·m²`` terms)."""
    rows = result.rows
    if not rows:
        raise ValueError("nothing to plot: the backtest has no rows")
    b = result.bucket_seconds
    first = math.floor(rows[0].timestamp.timestamp() / b)
    t0 = first * b
    n = math.floor(rows[-1].timestamp.timestamp() / b) - first + 1
    group = max(1, math.ceil(n / PLOT_COLUMNS))
    cols = math.ceil(n / group)
    det = result.detector
    key = det.keys()[0] if det is not None and det.keys() else None
    neg, tot, mean, extra = [0.0] * cols, [0.0] * cols, [0.0] * cols, [0.0] * cols
    for r in rows:
        c = int((r.timestamp.timestamp() - t0) // b) // group
        if not 0 <= c < cols:
            continue
        neg[c] += r.negative
        tot[c] += r.total
        m = r.expected_negative
        mean[c] += m
        if det is not None and key is not None:
            extra[c] += det.negative_dispersion(key, m) * m * m
    bands = [count_band(m, e / (m * m) if m > 0 else 0.0) for m, e in zip(mean, extra, strict=True)]
    spans: dict[str, tuple[datetime, datetime]] = {}
    for ev in result.events:
        lo, hi = spans.get(ev.alert_id, (ev.window_start, ev.window_end))
        spans[ev.alert_id] = (min(lo, ev.window_start), max(hi, ev.window_end))
    data = ChartData(start=datetime.fromtimestamp(t0, UTC), bucket_seconds=b * group, negative=neg, total=tot,
                     expected_low=[lo for lo, _ in bands], expected_high=[hi for _, hi in bands],
                     more_highlights=tuple(spans.values()),
                     title=title or f"{len(result.opened())} alerts")
    path = Path(out)
    path.write_bytes(render_png(data, width=min(1600, max(480, 2 * cols + 38)), height=240))
    return path
