"""The index stage as the application runs it: the indexer, its setup, and the analysts' commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from kafka import KafkaProducer

from brandpulse.settings import Settings
from brandpulse.stage import Command, ConsumerSpec, Stage, WorkerContext, run_consumer
from brandpulse.text import redact_url

# The Elasticsearch client and the indexer load only where they run (see ingest/stage.py).


def _run(ctx: WorkerContext) -> None:
    from brandpulse.esclient import make_es
    from index.indexer import REQUESTS_PER_POLL, BulkIndexer
    from index.retention import IndexMaintenance

    s = ctx.settings

    def build(producer: KafkaProducer) -> ConsumerSpec:
        handler = BulkIndexer(make_es(s.elasticsearch), s.elasticsearch.index_prefix, s.index,
                              alerts_topic=s.topics.alerts, groups=s.brand_groups())
        # Retention + next period's index, on its own thread and client: never blocks or kills the loop.
        maintenance = IndexMaintenance(make_es(s.elasticsearch), s.elasticsearch.index_prefix, s.index, ctx.metrics)
        maintenance.start()
        return ConsumerSpec(topics=[s.topics.enriched, s.topics.alerts], handler=handler,
                            max_poll_records=s.index.batch_size * REQUESTS_PER_POLL,
                            closers=[maintenance.stop, handler.close],
                            on_malformed=s.index.on_malformed, linger_seconds=s.index.flush_seconds)

    run_consumer(ctx, build)


def setup(s: Settings) -> str:
    from brandpulse.esclient import make_es, wait_for_es
    from index.templates import apply_templates

    es = make_es(s.elasticsearch)
    wait_for_es(es)
    return "index templates: " + ", ".join(apply_templates(es, s.elasticsearch.index_prefix))


def _search_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("query", nargs="?", help="words to find in text, title or author (simple query syntax)")
    q.add_argument("--brand")
    q.add_argument("--sentiment", choices=["negative", "neutral", "positive", "unknown"])
    q.add_argument("--lang", help="detected language code, e.g. ur")
    q.add_argument("--since", help="e.g. 24h, 7d or an ISO timestamp")
    q.add_argument("--until", help="e.g. 1h or an ISO timestamp")
    q.add_argument("--size", type=int, default=20, help="rows to show (default 20)")
    q.add_argument("--json", action="store_true", help="one JSON document per line")


def cmd_search(args: argparse.Namespace, load: Callable[[], Settings]) -> int:
    from brandpulse.esclient import make_es, mentions_alias
    from index.search import build_query, print_json, print_table, search

    s = load()
    try:
        query = build_query(text=args.query, brand=args.brand, sentiment=args.sentiment, lang=args.lang,
                            since=args.since, until=args.until)
    except ValueError as exc:
        print(f"brandpulse search: {exc}", file=sys.stderr)
        return 2
    es = make_es(s.elasticsearch)
    index = mentions_alias(s.elasticsearch.index_prefix)
    rows = search(es, index, query, args.size)
    if args.json:
        print_json(rows, sys.stdout)
    else:
        total = es.count(index=index, query=query, ignore_unavailable=True, allow_no_indices=True)["count"]
        print_table(rows, sys.stdout, total=int(total))
    return 0


def _indices_arguments(ix: argparse.ArgumentParser) -> None:
    ix.add_argument("action", choices=["list", "retention"])
    ix.add_argument("--dry-run", action="store_true", help="retention: show what would change, change nothing")


def cmd_indices(args: argparse.Namespace, load: Callable[[], Settings]) -> int:
    from brandpulse.esclient import make_es
    from index.retention import print_indices, run_maintenance

    s = load()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    if args.action == "list":
        print_indices(es, prefix, s.index, sys.stdout)
        return 0
    result = run_maintenance(es, prefix, s.index, dry_run=args.dry_run)
    verb = "would " if args.dry_run else ""
    for name in result.deleted:
        print(f"{verb}delete  {name}")
    for name in result.created:
        print(f"{verb}create  {name}")
    for name in result.aliased:
        print(f"{verb}alias   {name}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"retention {s.index.retention_days} days, granularity {s.index.granularity}: {result.summary()}")
    return 1 if result.warnings else 0


def _es_keys_arguments(k: argparse.ArgumentParser) -> None:
    k.add_argument("--dir", required=True, help="write each worker role's key to DIR/<role>/api_key")


def cmd_es_keys(args: argparse.Namespace, load: Callable[[], Settings]) -> int:
    from pathlib import Path

    from brandpulse.esclient import make_es, wait_for_es
    from index.apikeys import ApiKeyError, ensure_api_keys

    s = load()
    es = make_es(s.elasticsearch)
    wait_for_es(es)
    try:
        notes = ensure_api_keys(es, s.elasticsearch.index_prefix, Path(args.dir))
    except ApiKeyError as exc:
        print(f"brandpulse es-keys: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(note)
    return 0


def _kibana_arguments(kb: argparse.ArgumentParser) -> None:
    kb.add_argument("action", choices=["import"])


def cmd_kibana(args: argparse.Namespace, load: Callable[[], Settings]) -> int:
    from index.kibana_import import KibanaImportError, import_objects, load_objects

    s = load()
    k = s.kibana
    objects = load_objects(s.elasticsearch.index_prefix)
    try:
        result = import_objects(k.url, objects, username=k.username, password=k.password, api_key=k.api_key,
                                space=k.space, verify=k.verify_certs, wait_seconds=k.wait_seconds)
    except KibanaImportError as exc:
        print(f"brandpulse kibana import: {exc}", file=sys.stderr)
        return 1
    print(redact_url(f"imported {result.get('successCount', 0)} saved objects into {k.url} "
                     f"(dashboard: {k.url.rstrip('/')}/app/dashboards)"))
    return 0


STAGE = Stage(
    name="index",
    help="run the indexer (enriched + alerts topics → Elasticsearch)",
    run=_run,
    setup=setup,
    commands=(
        Command("search", "search indexed mentions (table, or --json lines)", _search_arguments, cmd_search),
        Command("indices", "mention indices: list | retention (delete expired, pre-create next)",
                _indices_arguments, cmd_indices),
        Command("kibana", "load the bundled Kibana data views and dashboard (import)",
                _kibana_arguments, cmd_kibana),
        Command("es-keys", "keep one least-privilege Elasticsearch API key per worker role (compose setup)",
                _es_keys_arguments, cmd_es_keys),
    ),
)
