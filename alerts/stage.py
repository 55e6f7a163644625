"""The alert stage as the application runs it: detector worker, channels, digest, backtest."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kafka import KafkaProducer
from pydantic import ValidationError

from alerts.channels import (
    ChannelConfigError,
    ChannelsConfig,
    Dispatcher,
    InMemoryDeliveryLog,
    build_dispatcher,
    state_store_hooks,
    state_store_thread_hooks,
)
from alerts.channels.console import ConsoleChannel, ConsoleOptions
from alerts.chartlinks import PATH as CHART_PATH
from alerts.chartlinks import ChartLinks
from brandpulse.kafkaio import group_id
from brandpulse.plugins import SecretRef
from brandpulse.schema import AlertRecord
from brandpulse.settings import Settings, validation_problems
from brandpulse.stage import ConsumerSpec, Problem, Stage, WorkerContext, run_consumer

if TYPE_CHECKING:
    from alerts.worker import AlertStage

log = logging.getLogger(__name__)


def check(settings: Settings) -> list[Problem]:
    """Channels and routes are valid together; digest channels name configured channels."""
    problems: list[Problem] = []
    a = settings.alerts
    if a.channels or a.routes:
        try:
            ChannelsConfig.model_validate({"channels": list(a.channels), "routes": list(a.routes)})
        except ChannelConfigError as exc:
            problems.append((f"alerts.{exc.key}", exc.message))
        except ValidationError as exc:
            problems.extend((f"alerts.{key}", msg) for key, msg in validation_problems(exc))
    names = {str(c.get("name")) for c in a.channels}
    for i, name in enumerate(a.digest_channels):
        if name not in names:
            known = ", ".join(sorted(names)) or "none configured"
            problems.append((f"alerts.digest_channels[{i}]",
                             f"no channel named {name!r} (known: {known}); add it under alerts.channels or drop it"))
    if a.chart_url is not None:
        parts = urlsplit(a.chart_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            problems.append(("alerts.chart_url", "must be an http(s) base URL without a query, e.g. "
                                                 "https://brandpulse.example.com (links go to <it>/charts/...)"))
        if a.chart_secret is None:
            problems.append(("alerts.chart_secret", "required with chart_url: {env: VAR} or {file: path} "
                                                    "holding the links' HMAC key"))
    if a.chart_secret is not None:
        try:
            SecretRef.model_validate(a.chart_secret)
        except ValidationError as exc:
            problems.extend((f"alerts.chart_secret{'.' + key if key else ''}", msg)
                            for key, msg in validation_problems(exc))
    return problems


def chart_links(s: Settings) -> ChartLinks | None:
    """The chart link signer of ``alerts.chart_url`` (its secret read now), or None when unset."""
    a = s.alerts
    if a.chart_url is None or a.chart_secret is None:
        return None
    key = SecretRef.model_validate(a.chart_secret).resolve(Path(s.base_dir)).get_secret_value().encode()
    return ChartLinks(a.chart_url, key, a.chart_link_hours * 3600)


def _run(ctx: WorkerContext) -> None:
    from alerts.worker import AlertStage
    from brandpulse.state import StateStore

    s = ctx.settings

    def build(producer: KafkaProducer) -> ConsumerSpec:
        store = StateStore(s, producer)
        channels = ChannelsConfig.model_validate({"channels": list(s.alerts.channels),
                                                  "routes": list(s.alerts.routes)})
        closers: list[Callable[[], Any]] = []
        dispatcher: Dispatcher | None = None
        if channels.channels:
            loader, persist = state_store_hooks(store)
            log_ = InMemoryDeliveryLog(loader, persist, threads=state_store_thread_hooks(store))
            dispatcher = build_dispatcher(channels, base_dir=Path(s.base_dir), delivery_log=log_)
            closers.append(lambda: dispatcher.close(timeout=10.0) if dispatcher else None)
        # alerts.console: the worker's own stdout, through the same renderer as a console channel.
        console = ConsoleChannel("console", ConsoleOptions()) if s.alerts.console else None
        links = chart_links(s)
        if links is not None:
            # The worker's HTTP port (workers.alerts_metrics_port) serves the charts it links to.
            ctx.metrics.add_route(CHART_PATH, links.handle)
            if not s.workers.alerts_metrics_port:
                log.warning("alerts.chart_url is set but workers.alerts_metrics_port is 0: nothing serves the "
                            "chart links")

        def emit(alert: AlertRecord) -> None:
            if console is not None:
                console.send(alert)
            if dispatcher is not None:
                dispatcher.dispatch(alert)

        handler = AlertStage(s, store, group_id(s, "alerts"), emit, links=links)
        if s.alerts.digest != "none":
            closers.insert(0, _start_digest(s, handler, dispatcher, console))
        return ConsumerSpec(topics=[s.topics.enriched], handler=handler, max_poll_records=s.enrich.batch_size,
                            listener=handler, bind=handler.bind, after_commit=handler.after_commit,
                            on_idle=handler.idle, closers=closers,
                            on_malformed=s.alerts.on_malformed)

    run_consumer(ctx, build)


def _start_digest(s: Settings, stage: AlertStage, dispatcher: Dispatcher | None,
                  console: ConsoleChannel | None) -> Callable[[], None]:
    """The hourly/daily digest job (alerts/digest.py); returns its stop function."""
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
        console=console.write if console is not None else None,
        delay=timedelta(seconds=s.alerts.allowed_lateness_seconds + 60),
        groups={g.name: g.brands for g in s.competitors},
    )
    job.start()
    return job.stop


def _arguments(w: argparse.ArgumentParser) -> None:
    w.add_argument("--csv", help="backtest: CSV of timestamp,count|value or timestamp,total,negative")
    w.add_argument("--brand", help="backtest: the brand's indexed mentions (or the CSV series' name)")
    w.add_argument("--since", default="30d", help="backtest from Elasticsearch: e.g. 7d (default 30d)")
    w.add_argument("--until", help="backtest from Elasticsearch: end, e.g. 1h or an ISO time")
    w.add_argument("--scores", action="store_true",
                   help="backtest: write CSV timestamp,value,anomaly_score (one row per input row)")
    w.add_argument("--plot", help="backtest: also write the chart of the whole run as a PNG here")
    w.add_argument("--sensitivity", choices=["fewer", "balanced", "more"], help="override the preset")
    w.add_argument("--bucket-seconds", type=int, help="backtest CSV: bucket size (default: row spacing)")


def _backtest(args: argparse.Namespace, load: Callable[[], Settings]) -> int:
    from alerts.backtest_cli import run_backtest

    return run_backtest(args, load())


STAGE = Stage(
    name="alerts",
    help="run the alert worker (enriched topic → alerts)",
    run=_run,
    check=check,
    add_arguments=_arguments,
    actions={"backtest": _backtest},
)
