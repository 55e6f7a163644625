"""``brandpulse`` — one command, a subcommand per job. ``brandpulse --help`` lists them."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brandpulse.settings import DEFAULT_CONFIG, ConfigError, Settings, load_settings

log = logging.getLogger("brandpulse")
REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "config" / "demo.yaml"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


# ---------------------------------------------------------------- config / stack / setup
def cmd_config_check(args: argparse.Namespace) -> int:
    s = _settings(args)
    path = args.config or os.environ.get("BRANDPULSE_CONFIG") or DEFAULT_CONFIG
    print(f"{path}: OK — {len(s.brands)} brands, {len(s.feeds)} feeds "
          f"({sum(f.enabled for f in s.feeds)} enabled); kafka {s.kafka.bootstrap_servers}; "
          f"elasticsearch {s.elasticsearch.url}")
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    from brandpulse import stack

    s = _settings(args).stack
    if args.action == "up":
        took = stack.up(s, wipe=args.wipe)
        print(f"stack up in {took:.1f}s — Kafka 127.0.0.1:{s.kafka_port}, Elasticsearch http://127.0.0.1:{s.es_port}"
              f" (data in {stack.stack_dir(s)})")
    elif args.action == "down":
        stack.down(s, wipe=args.wipe)
    else:
        rows = stack.status(s)
        for r in rows:
            state = "healthy" if r.healthy else ("running, not healthy" if r.running else "stopped")
            print(f"{r.name:14} {state:22} pid {r.pid or '-':>7}  {r.detail}")
        print(f"stack dir: {stack.stack_dir(s)}")
        return 0 if all(r.healthy for r in rows) else 1
    return 0


def setup(s: Settings, *, quiet: bool = False) -> None:
    from brandpulse.esclient import make_es, wait_for_es
    from brandpulse.kafkaio import ensure_topics, wait_for_broker
    from index.templates import apply_templates

    wait_for_broker(s)
    created = ensure_topics(s)
    es = make_es(s.elasticsearch)
    wait_for_es(es)
    templates = apply_templates(es, s.elasticsearch.index_prefix)
    if not quiet:
        print(f"topics: {len(created)} created, others already present and updated "
              f"({s.topics.raw}, {s.topics.enriched}, {s.topics.alerts}, {s.topics.dead_letter}, {s.topics.state})")
        print(f"index templates: {', '.join(templates)}")


def cmd_setup(args: argparse.Namespace) -> int:
    setup(_settings(args))
    return 0


# ---------------------------------------------------------------- workers
def _worker_env(args: argparse.Namespace, s: Settings, stage: str) -> tuple[Any, Any]:
    from brandpulse.logs import setup_logging
    from brandpulse.loop import StopFlag
    from brandpulse.metrics import WorkerMetrics

    setup_logging(stage, args.log_format or s.workers.log_format, args.log_level or s.workers.log_level)
    metrics = WorkerMetrics(stage)
    port = args.metrics_port if args.metrics_port is not None else getattr(s.workers, f"{stage}_metrics_port")
    bound = metrics.serve(s.workers.metrics_host, port)
    if bound:
        log.info("metrics on http://%s:%d/metrics and /healthz", s.workers.metrics_host, bound)
    stop = StopFlag()
    stop.install()
    return metrics, stop


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.worker import run_ingest

    s = _settings(args)
    metrics, stop = _worker_env(args, s, "ingest")
    run_ingest(s, metrics, stop, feed_names=args.feed or None, exit_when_done=args.exit_when_done)
    return 0


def _run_consumer_stage(args: argparse.Namespace, stage: str) -> int:
    from brandpulse.kafkaio import make_consumer, make_producer, wait_for_broker
    from brandpulse.loop import ConsumeLoop, close_quietly

    s = _settings(args)
    metrics, stop = _worker_env(args, s, stage)
    wait_for_broker(s)
    group = f"{s.workers.group_prefix}-{stage}"
    producer = make_producer(s.kafka, stage)
    after_commit = None
    on_idle = None
    listener = None
    closers: list[Any] = []
    if stage == "enrich":
        from enrich.worker import EnrichStage, make_enricher

        handler: Any = EnrichStage(make_enricher(s), s.topics.enriched, metrics)
        topics = [s.topics.raw]
    elif stage == "index":
        from brandpulse.esclient import make_es
        from index.indexer import BulkIndexer
        from index.retention import IndexMaintenance

        handler = BulkIndexer(make_es(s.elasticsearch), s.elasticsearch.index_prefix, s.index,
                              alerts_topic=s.topics.alerts)
        topics = [s.topics.enriched, s.topics.alerts]
        # Retention + next period's index, on its own thread and client: never blocks or kills the loop.
        maintenance = IndexMaintenance(make_es(s.elasticsearch), s.elasticsearch.index_prefix, s.index, metrics)
        maintenance.start()
        closers.append(maintenance.stop)
    else:
        from alerts.channels import ChannelsConfig, InMemoryDeliveryLog, build_dispatcher, state_store_hooks
        from alerts.worker import AlertStage, format_console
        from brandpulse.state import StateStore

        store = StateStore(s, producer)
        channels = ChannelsConfig.model_validate({"channels": list(s.alerts.channels),
                                                  "routes": list(s.alerts.routes)})
        dispatcher = None
        if channels.channels:
            loader, persist = state_store_hooks(store)
            dispatcher = build_dispatcher(channels, base_dir=Path(s.base_dir),
                                          delivery_log=InMemoryDeliveryLog(loader, persist))
            closers.append(lambda: dispatcher.close(timeout=10.0) if dispatcher else None)

        def emit(alert: dict[str, Any]) -> None:
            if s.alerts.console:
                print(format_console(alert), flush=True)
            if dispatcher is not None:
                dispatcher.dispatch(alert)

        handler = AlertStage(s, store, group, emit)
        if s.alerts.digest != "none":
            closers.insert(0, _start_digest(s, handler, dispatcher))
        listener = handler
        after_commit = handler.after_commit
        on_idle = handler.idle
        topics = [s.topics.enriched]
    consumer = make_consumer(s.kafka, stage, group, topics, listener=listener,
                             max_poll_records=s.index.batch_size if stage == "index" else s.enrich.batch_size)
    if listener is not None:
        handler.consumer = consumer
    loop = ConsumeLoop(consumer=consumer, producer=producer, handler=handler, dead_letter_topic=s.topics.dead_letter,
                       metrics=metrics, stop=stop, after_commit=after_commit, on_idle=on_idle)
    log.info("%s worker consuming %s as group %s", stage, ",".join(topics), group)
    try:
        loop.run()
    finally:
        for close in closers:
            close()
        close_quietly(consumer)
        producer.flush()
        close_quietly(producer)
        metrics.close()
    return 0


def _start_digest(s: Settings, stage: Any, dispatcher: Any) -> Any:
    """The hourly/daily digest job (alerts/digest.py); returns its stop function."""
    from datetime import timedelta

    from alerts.digest import DigestJob, fetch_period
    from brandpulse.esclient import make_es

    es = make_es(s.elasticsearch)
    running = list(dispatcher.channels) if dispatcher is not None else []
    names = [n for n in s.alerts.digest_channels if n in running] if s.alerts.digest_channels else running
    skipped = sorted(set(s.alerts.digest_channels) - set(running))
    if skipped:
        log.warning("alerts.digest_channels names channels that are not running; skipped: %s", ", ".join(skipped))
    assert s.alerts.digest != "none"
    job = DigestJob(
        s.alerts.digest, dispatcher, names,
        lambda start, end: fetch_period(es, s.elasticsearch.index_prefix, start, end),
        # One sender when scaled out: the worker that owns partition 0 of the enriched topic.
        is_sender=lambda: any(tp.partition == 0 for tp in list(stage.partitions)),
        console=(lambda text: print(text, flush=True)) if s.alerts.console else None,
        delay=timedelta(seconds=s.alerts.allowed_lateness_seconds + 60),
    )
    job.start()
    return job.stop


def cmd_enrich(args: argparse.Namespace) -> int:
    return _run_consumer_stage(args, "enrich")


def cmd_index(args: argparse.Namespace) -> int:
    return _run_consumer_stage(args, "index")


def cmd_alerts(args: argparse.Namespace) -> int:
    if args.action == "backtest":
        from alerts.backtest_cli import run_backtest

        return run_backtest(args, _settings(args))
    return _run_consumer_stage(args, "alerts")


def cmd_run(args: argparse.Namespace) -> int:
    from brandpulse.supervisor import Supervisor

    s = _settings(args)
    setup(s)
    sup = Supervisor(config=args.config, log_format=args.log_format)
    return sup.run_forever()


def cmd_demo(args: argparse.Namespace) -> int:
    from brandpulse.demo import run_demo

    return run_demo(config=args.config or str(DEMO_CONFIG), keep_running=args.keep_running, timeout=args.timeout)


# ---------------------------------------------------------------- feeds
def cmd_feeds(args: argparse.Namespace) -> int:
    s = _settings(args)
    if args.action == "list":
        for f in s.feeds:
            opts = ", ".join(f"{k}={v}" for k, v in f.options.items() if "secret" not in k and "token" not in k)
            print(f"{f.name:24} {f.kind:18} every {f.interval_seconds:>6.0f}s  "
                  f"{'enabled ' if f.enabled else 'disabled'}  {opts}")
        return 0
    if args.action == "status":
        from brandpulse.state import StateStore

        store = StateStore(s)
        try:
            health = store.load("feed-health/")
            cursors = store.load("cursor/")
        finally:
            store.close()
        print(f"{'feed':24} {'last success':26} {'failures':>8} {'posts':>8} {'mentions':>9}  last error")
        for f in s.feeds:
            h = health.get(f"feed-health/{f.name}", {})
            print(f"{f.name:24} {h.get('last_success') or 'never':26} {h.get('consecutive_failures', 0):>8} "
                  f"{h.get('posts_total', 0):>8} {h.get('mentions_total', 0):>9}  {h.get('last_error') or ''}"
                  f"{'  (cursor stored)' if f'cursor/{f.name}' in cursors else ''}")
        return 0
    from ingest.feeds import FeedError
    from ingest.worker import poll_once

    try:
        result, mentions = poll_once(s, args.name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    except FeedError as exc:
        print(f"feed failed: {exc}", file=sys.stderr)
        return 1
    for m in mentions:
        print(json.dumps(m.to_dict(), ensure_ascii=False))
    print(f"# {args.name}: {len(result.posts)} posts, {len(mentions)} mentions for configured brands, "
          f"{len(result.errors)} items skipped; nothing was produced", file=sys.stderr)
    for err in result.errors[:20]:
        print(f"#   skipped {err.native_id or '?'}: {err.reason}", file=sys.stderr)
    return 0


def cmd_kibana(args: argparse.Namespace) -> int:
    from index.kibana_import import KibanaImportError, import_objects, load_objects

    s = _settings(args)
    k = s.kibana
    objects = load_objects(s.elasticsearch.index_prefix)
    try:
        result = import_objects(k.url, objects, username=k.username, password=k.password, api_key=k.api_key,
                                space=k.space, verify=k.verify_certs, wait_seconds=k.wait_seconds)
    except KibanaImportError as exc:
        print(f"brandpulse kibana import: {exc}", file=sys.stderr)
        return 1
    print(f"imported {result.get('successCount', 0)} saved objects into {k.url} "
          f"(dashboard: {k.url.rstrip('/')}/app/dashboards)")
    return 0


def cmd_enrich_text(args: argparse.Namespace) -> int:
    from enrich.textcli import run_enrich_text
    from enrich.worker import make_enricher

    s = load_settings(args.config) if (args.config or os.environ.get("BRANDPULSE_CONFIG")) else None
    if s is not None:
        enricher = make_enricher(s)
    else:
        from enrich.pipeline import Enricher

        enricher = Enricher()
    # Invalid UTF-8 on stdin becomes one error-free record per bad line (U+FFFD), not a stop.
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
    return run_enrich_text(stdin, sys.stdout, enricher)


def cmd_search(args: argparse.Namespace) -> int:
    from brandpulse.esclient import make_es
    from index.search import build_query, print_json, print_table, search
    from index.templates import mentions_alias

    s = _settings(args)
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


def cmd_indices(args: argparse.Namespace) -> int:
    from brandpulse.esclient import make_es
    from index.retention import print_indices, run_maintenance

    s = _settings(args)
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


def cmd_deadletter(args: argparse.Namespace) -> int:
    from brandpulse.deadletter import DeadLetter, Filter, list_dead_letters, print_table, replay

    s = _settings(args)
    flt = Filter(stage=args.stage, error_class=args.error_class, contains=args.contains)
    if args.action == "list":
        rows, counts = list_dead_letters(s, flt, limit=args.limit)
        if args.json:
            for d in rows:
                print(json.dumps(d.summary(), ensure_ascii=False))
        else:
            print_table(rows, counts, sys.stdout)
        return 0

    def show(d: DeadLetter) -> None:
        if args.dry_run:
            print(f"would replay {d.stage}/{d.error_class} → {d.source_topic}: {d.error[:100]}")

    rep = replay(s, flt, dry_run=args.dry_run, from_beginning=args.from_beginning, progress=show)
    verb = "would replay" if args.dry_run else "replayed"
    where = ", ".join(f"{n} to {t}" for t, n in (rep.by_topic or {}).items()) or "nothing"
    print(f"{verb} {rep.replayed} dead letters ({where}); {rep.skipped_filter} did not match the filter, "
          f"{rep.not_replayable} had no source topic (ingest-side rejects: fix the feed instead)")
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="brandpulse", description=__doc__)
    p.add_argument("--config", help=f"config file (default: $BRANDPULSE_CONFIG or {DEFAULT_CONFIG.relative_to(REPO)})")
    p.add_argument("--log-format", choices=["text", "json"], help="override workers.log_format")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override workers.log_level")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("config", help="validate configuration")
    c.add_argument("action", choices=["check"])
    c.set_defaults(func=cmd_config_check)

    st = sub.add_parser("stack", help="local Kafka + Elasticsearch without Docker (up | down | status)")
    st.add_argument("action", choices=["up", "down", "status"])
    st.add_argument("--wipe", action="store_true", help="delete the stack's data (up: before starting)")
    st.set_defaults(func=cmd_stack)

    se = sub.add_parser("setup", help="create Kafka topics and Elasticsearch templates (idempotent)")
    se.set_defaults(func=cmd_setup)

    for name, func, helptext in (
        ("ingest", cmd_ingest, "run the ingest worker (feeds → raw topic)"),
        ("enrich", cmd_enrich, "run the enrichment worker (raw → enriched topic)"),
        ("index", cmd_index, "run the indexer (enriched + alerts topics → Elasticsearch)"),
        ("alerts", cmd_alerts, "run the alert worker (enriched topic → alerts)"),
    ):
        w = sub.add_parser(name, help=helptext)
        w.add_argument("--metrics-port", type=int, help="override the worker's /metrics port (0 = off)")
        if name == "ingest":
            w.add_argument("--feed", action="append", help="only this feed (repeatable)")
            w.add_argument("--exit-when-done", action="store_true", help="exit once every feed is finished")
        if name == "alerts":
            w.add_argument("action", nargs="?", choices=["run", "backtest"], default="run",
                           help="run the worker (default), or backtest the detector on a history")
            w.add_argument("--csv", help="backtest: CSV of timestamp,count|value or timestamp,total,negative")
            w.add_argument("--brand", help="backtest: the brand's indexed mentions (or the CSV series' name)")
            w.add_argument("--since", default="30d", help="backtest from Elasticsearch: e.g. 7d (default 30d)")
            w.add_argument("--until", help="backtest from Elasticsearch: end, e.g. 1h or an ISO time")
            w.add_argument("--scores", action="store_true",
                           help="backtest: write CSV timestamp,value,anomaly_score (one row per input row)")
            w.add_argument("--plot", help="backtest: also write a PNG plot here (needs matplotlib)")
            w.add_argument("--sensitivity", choices=["fewer", "balanced", "more"], help="override the preset")
            w.add_argument("--bucket-seconds", type=int, help="backtest CSV: bucket size (default: row spacing)")
        w.set_defaults(func=func)

    r = sub.add_parser("run", help="set up and run all four workers (Ctrl-C stops them)")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="local stack + demo feeds through every stage, then a summary")
    d.add_argument("--keep-running", action="store_true", help="leave the workers running after the summary")
    d.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    d.set_defaults(func=cmd_demo)

    f = sub.add_parser("feeds", help="inspect feeds: list | status | test NAME")
    f.add_argument("action", choices=["list", "status", "test"])
    f.add_argument("name", nargs="?", help="feed name (for test)")
    f.set_defaults(func=cmd_feeds)

    q = sub.add_parser("search", help="search indexed mentions (table, or --json lines)")
    q.add_argument("query", nargs="?", help="words to find in text, title or author (simple query syntax)")
    q.add_argument("--brand")
    q.add_argument("--sentiment", choices=["negative", "neutral", "positive", "unknown"])
    q.add_argument("--lang", help="detected language code, e.g. ur")
    q.add_argument("--since", help="e.g. 24h, 7d or an ISO timestamp")
    q.add_argument("--until", help="e.g. 1h or an ISO timestamp")
    q.add_argument("--size", type=int, default=20, help="rows to show (default 20)")
    q.add_argument("--json", action="store_true", help="one JSON document per line")
    q.set_defaults(func=cmd_search)

    dl = sub.add_parser("deadletter", help="inspect or replay dead letters: list | replay")
    dl.add_argument("action", choices=["list", "replay"])
    dl.add_argument("--stage", choices=["ingest", "enrich", "index", "alerts"], help="only this stage's rejects")
    dl.add_argument("--error-class", help="only this error class, e.g. SchemaError or PermanentRejection")
    dl.add_argument("--contains", help="only reasons containing this text (case-insensitive)")
    dl.add_argument("--limit", type=int, default=50, help="list: newest rows to show (default 50)")
    dl.add_argument("--json", action="store_true", help="list: one JSON object per line")
    dl.add_argument("--dry-run", action="store_true", help="replay: show what would be replayed, change nothing")
    dl.add_argument("--from-beginning", action="store_true",
                    help="replay: re-offer dead letters already replayed (default: only new ones)")
    dl.set_defaults(func=cmd_deadletter)

    ix = sub.add_parser("indices", help="mention indices: list | retention (delete expired, pre-create next)")
    ix.add_argument("action", choices=["list", "retention"])
    ix.add_argument("--dry-run", action="store_true", help="retention: show what would change, change nothing")
    ix.set_defaults(func=cmd_indices)

    kb = sub.add_parser("kibana", help="load the bundled Kibana data views and dashboard (import)")
    kb.add_argument("action", choices=["import"])
    kb.set_defaults(func=cmd_kibana)

    et = sub.add_parser("enrich-text", help="enrich JSON lines or text lines from stdin to stdout (no Kafka)")
    et.set_defaults(func=cmd_enrich_text)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "action", None) == "test" and not args.name:
        parser.error("feeds test needs a feed NAME")
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"brandpulse: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `brandpulse ... | head`: the reader left, that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        from brandpulse.stack import StackError

        if isinstance(exc, StackError):
            print(f"brandpulse stack: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
