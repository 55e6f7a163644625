"""``brandpulse alerts backtest``: replay a history through the live detector and show what
would have fired — from a CSV count series, or from mentions already in Elasticsearch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TextIO

from alerts.backtest import BacktestResult, backtest_csv, backtest_mentions, plot_png, write_scores_csv
from alerts.detector import DetectorConfig
from brandpulse.esclient import mention_filters
from brandpulse.settings import Settings


def indexed_mentions(es: Any, index: str, brand: str, since: str | None, until: str | None,
                     page: int = 5000) -> Iterator[tuple[datetime, bool]]:
    """(created_at, is_negative) of a brand's indexed mentions, oldest first (search_after paging)."""
    query = {"bool": {"filter": mention_filters(brand=brand, since=since, until=until)}}
    after: list[Any] | None = None
    while True:
        kw: dict[str, Any] = {"index": index, "query": query, "size": page,
                              "sort": [{"created_at": "asc"}, {"id": "asc"}],
                              "source": ["created_at", "enrichment.sentiment.label"]}
        if after:
            kw["search_after"] = after
        hits = es.search(**kw)["hits"]["hits"]
        for h in hits:
            src = h["_source"]
            label = ((src.get("enrichment") or {}).get("sentiment") or {}).get("label")
            yield datetime.fromisoformat(src["created_at"]).astimezone(UTC), label == "negative"
        if len(hits) < page:
            return
        after = hits[-1]["sort"]


def run_backtest(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    from alerts.worker import detector_config

    out = out or sys.stdout
    config: DetectorConfig = detector_config(settings)
    if args.sensitivity:
        config = replace(config, sensitivity=args.sensitivity)
    if args.csv:
        result: BacktestResult = backtest_csv(args.csv, config, bucket_seconds=args.bucket_seconds,
                                              key=args.brand or "series")
    else:
        if not args.brand:
            print("brandpulse alerts backtest: give --csv FILE, or --brand NAME to read indexed mentions",
                  file=sys.stderr)
            return 2
        from brandpulse.esclient import make_es, mentions_alias

        es = make_es(settings.elasticsearch)
        mentions = list(indexed_mentions(es, mentions_alias(settings.elasticsearch.index_prefix), args.brand,
                                         args.since, args.until))
        if not mentions:
            print(f"no indexed mentions for brand {args.brand!r} in that time range", file=sys.stderr)
            return 1
        result = backtest_mentions(mentions, config, key=args.brand)
    if args.scores:
        write_scores_csv(result.rows, out)
    else:
        print_report(result, out)
    if args.plot:
        path = plot_png(result, args.plot, title=args.brand or args.csv)
        print(f"plot written to {path}", file=sys.stderr)
    return 0


def print_report(result: BacktestResult, out: TextIO) -> None:
    rows = result.rows
    span = f"{rows[0].timestamp:%Y-%m-%d %H:%M} .. {rows[-1].timestamp:%Y-%m-%d %H:%M} UTC" if rows else "empty"
    out.write(f"backtest: {len(rows)} rows, {span}, bucket {result.bucket_seconds}s, "
              f"sensitivity {result.config.sensitivity}\n")
    opened = [e for e in result.events if e.kind == "opened"]
    out.write(f"alerts that would have fired: {len(opened)} ({len(result.events)} events)\n")
    for e in result.events:
        out.write(f"  {e.window_start:%Y-%m-%d %H:%M} {e.kind:8} {e.severity:8} {e.alert_id}  {e.reason}\n")
    if result.late_dropped:
        out.write(f"late mentions dropped: {result.late_dropped}\n")
