"""Retention and "rollover" of the mentions indices — what ILM would do, done by the project.

The integ-test-zip has no ILM, and mention indices are chosen by ``created_at`` (so replays
overwrite), so there is nothing to roll over by size. Maintenance therefore means, per run:

1. **delete** every mentions index whose period ended more than ``index.retention_days`` ago,
   judged by the period in its name. Only names of the exact shape ``<prefix>-mentions-<period>``
   are considered (``2026.11``, ``2026.11.20`` or ``2026.w47``, whatever the current
   granularity), never the current or the next period's index, never anything else;
2. **pre-create** the current and the next period's index (from the template, which also puts
   them behind the alias), so the first write of a new period does not pay index creation;
3. make sure **the alias** ``<prefix>-mentions`` covers every managed index.

The index worker runs it at start and then every ``index.maintenance_interval_seconds``
(:class:`IndexMaintenance`); operators run it with ``brandpulse indices retention [--dry-run]``.
Every step is idempotent, so several index workers may run it concurrently.

>>> from datetime import UTC, datetime
>>> expired_names({"bp-mentions-2025.01": 0, "bp-mentions-2026.11": 0}, "bp", 400,
...               now=datetime(2026, 11, 20, tzinfo=UTC))
['bp-mentions-2025.01']
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from apscheduler.schedulers.background import BackgroundScheduler
from elasticsearch import ApiError, Elasticsearch
from prometheus_client import Counter, Gauge

from brandpulse.esclient import mentions_alias
from brandpulse.metrics import WorkerMetrics
from brandpulse.settings import IndexSettings
from index.templates import mention_index, period_bounds, period_suffix

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_SECONDS = 60.0


def managed_period(name: str, prefix: str) -> tuple[datetime, datetime] | None:
    """The period of a mentions index of ours, or None for any other name."""
    head = f"{mentions_alias(prefix)}-"
    if not name.startswith(head):
        return None
    return period_bounds(name.removeprefix(head))


def current_and_next(prefix: str, granularity: str, now: datetime) -> tuple[str, str]:
    current = mention_index(prefix, now, granularity)
    bounds = period_bounds(period_suffix(now, granularity))
    assert bounds is not None  # period_suffix always writes a suffix period_bounds reads
    return current, mention_index(prefix, bounds[1], granularity)


def expired_names(names: Mapping[str, Any], prefix: str, retention_days: int, *, now: datetime,
                  granularity: str = "month") -> list[str]:
    """The managed indices among ``names`` whose whole period ended more than ``retention_days`` ago."""
    cutoff = now - timedelta(days=retention_days)
    protected = set(current_and_next(prefix, granularity, now))
    out = []
    for name in names:
        bounds = managed_period(name, prefix)
        if bounds is not None and bounds[1] < cutoff and name not in protected:
            out.append(name)
    return sorted(out)


@dataclass
class MaintenanceResult:
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    aliased: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # match the pattern but are not ours
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would " if self.dry_run else ""
        return (f"{verb}delete {len(self.deleted)}, {verb}create {len(self.created)}, "
                f"{verb}add alias to {len(self.aliased)}; {len(self.kept)} kept, {len(self.ignored)} ignored")


def run_maintenance(es: Elasticsearch, prefix: str, settings: IndexSettings, *, now: datetime | None = None,
                    dry_run: bool = False) -> MaintenanceResult:
    """One maintenance pass (see the module docstring); ``dry_run`` changes nothing."""
    now = now or datetime.now(UTC)
    alias = mentions_alias(prefix)
    result = MaintenanceResult(dry_run=dry_run)
    existing: dict[str, Any] = dict(es.indices.get(index=f"{alias}-*", ignore_unavailable=True,
                                                   allow_no_indices=True))
    managed = {n: info for n, info in existing.items() if managed_period(n, prefix) is not None}
    result.ignored = sorted(set(existing) - set(managed))

    result.deleted = expired_names(managed, prefix, settings.retention_days, now=now,
                                   granularity=settings.granularity)
    for name in result.deleted:
        start, end = managed_period(name, prefix) or (now, now)
        if not dry_run:
            es.options(ignore_status=404).indices.delete(index=name)
        log.info("%s expired index %s (period %s..%s ended more than %d days ago)",
                 "would delete" if dry_run else "deleted", name, start.date(), end.date(), settings.retention_days)
    result.kept = sorted(set(managed) - set(result.deleted))

    template = mentions_alias(prefix)
    if not es.indices.exists_index_template(name=template):
        # An index created without the template would get no mapping: leave creation to setup.
        result.warnings.append(f"index template {template} is missing: run `brandpulse setup`; nothing pre-created")
    else:
        for name in current_and_next(prefix, settings.granularity, now):
            if name in managed:
                continue
            result.created.append(name)
            if not dry_run:
                try:
                    es.indices.create(index=name)  # settings, mapping and alias from the template
                except ApiError as exc:
                    if exc.meta.status != 400 or "already_exists" not in str(exc.error):
                        raise
            log.info("%s index %s ahead of its period", "would create" if dry_run else "created", name)

    for name in result.kept:
        info = managed[name]
        if alias in info.get("aliases", {}):
            continue
        result.aliased.append(name)
    if result.aliased and not dry_run:
        es.indices.update_aliases(actions=[{"add": {"index": n, "alias": alias}} for n in result.aliased])
    for name in result.aliased:
        log.info("%s alias %s to %s", "would add" if dry_run else "added", alias, name)
    for warning in result.warnings:
        log.warning(warning)
    return result


def print_indices(es: Elasticsearch, prefix: str, settings: IndexSettings, out: TextIO,
                  now: datetime | None = None) -> None:
    """``brandpulse indices list``: every index matching the mentions pattern, with its period,
    documents, size, alias and what retention will do with it."""
    now = now or datetime.now(UTC)
    alias = mentions_alias(prefix)
    resp = es.cat.indices(index=f"{alias}-*", format="json", h="index,docs.count,store.size,status",
                          expand_wildcards="open,closed")
    rows: list[dict[str, Any]] = resp.body if isinstance(resp.body, list) else []  # format=json: objects
    aliased = set(es.indices.get_alias(name=alias, ignore_unavailable=True, allow_no_indices=True)
                  if es.indices.exists_alias(name=alias) else ())
    infos = {str(r["index"]): r for r in rows}
    expired = set(expired_names(infos, prefix, settings.retention_days, now=now, granularity=settings.granularity))
    current, upcoming = current_and_next(prefix, settings.granularity, now)
    out.write(f"{'index':44} {'period (UTC)':25} {'docs':>10} {'size':>9} {'alias':5}  retention\n")
    for name in sorted(infos):
        r = infos[name]
        bounds = managed_period(name, prefix)
        if bounds is None:
            period, state = "-", "not ours: never touched"
        else:
            period = f"{bounds[0]:%Y-%m-%d}..{bounds[1] - timedelta(seconds=1):%Y-%m-%d}"
            state = ("delete (expired)" if name in expired else "current" if name == current
                     else "next (pre-created)" if name == upcoming else "keep")
        if r.get("status") == "close":
            state += ", closed"
        out.write(f"{name:44} {period:25} {r.get('docs.count') or '-':>10} {r.get('store.size') or '-':>9} "
                  f"{'yes' if name in aliased else 'NO':5}  {state}\n")
    out.write(f"-- {len(infos)} indices; alias {alias}; retention {settings.retention_days} days "
              f"({settings.granularity} indices)\n")


class IndexMaintenance:
    """Runs :func:`run_maintenance` in the index worker: once at start, then every
    ``settings.maintenance_interval_seconds`` (0: never), on an APScheduler background thread.
    A failure (Elasticsearch down, …) is logged and counted, and the pass is retried within a
    minute; it never reaches the worker's consume loop.

    >>> m = IndexMaintenance(None, "bp", IndexSettings(maintenance_interval_seconds=0))  # type: ignore[arg-type]
    >>> m.start(); m.stop()  # interval 0: nothing scheduled
    """

    JOB_ID = "index-maintenance"

    def __init__(self, es: Elasticsearch, prefix: str, settings: IndexSettings,
                 metrics: WorkerMetrics | None = None) -> None:
        self.es = es
        self.prefix = prefix
        self.settings = settings
        self._scheduler: BackgroundScheduler | None = None
        self.last_result: MaintenanceResult | None = None
        self.last_error: str | None = None
        registry = metrics.registry if metrics is not None else None
        self.runs = Counter("brandpulse_index_maintenance_runs", "index maintenance passes", ["outcome"],
                            registry=registry)
        self.deleted = Counter("brandpulse_indices_deleted", "expired mention indices deleted", registry=registry)
        self.created = Counter("brandpulse_indices_created", "mention indices created ahead of their period",
                               registry=registry)
        self.last_success = Gauge("brandpulse_index_maintenance_last_success_timestamp",
                                  "unix time of the last successful maintenance pass", registry=registry)

    def run_once(self) -> MaintenanceResult | None:
        """One pass; returns None (and schedules an early retry) if it failed."""
        try:
            result = run_maintenance(self.es, self.prefix, self.settings)
        except Exception as exc:  # ES down or refusing: the worker must carry on regardless
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.runs.labels("error").inc()
            retry = min(RETRY_AFTER_FAILURE_SECONDS, self.settings.maintenance_interval_seconds)
            log.warning("index maintenance failed, retrying in %.0fs: %s", retry, self.last_error[:300])
            self._retry_in(retry)
            return None
        self.last_error = None
        self.last_result = result
        self.runs.labels("ok").inc()
        self.deleted.inc(len(result.deleted))
        self.created.inc(len(result.created))
        self.last_success.set(time.time())
        if result.deleted or result.created or result.aliased:
            log.info("index maintenance: %s", result.summary())
        return result

    def start(self) -> None:
        interval = self.settings.maintenance_interval_seconds
        if interval <= 0 or self._scheduler is not None:
            return
        self._scheduler = BackgroundScheduler(timezone=UTC, daemon=True)
        self._scheduler.add_job(self.run_once, "interval", seconds=interval, id=self.JOB_ID,
                                replace_existing=True, coalesce=True, max_instances=1,
                                misfire_grace_time=int(interval), next_run_time=datetime.now(UTC))
        self._scheduler.start()

    def _retry_in(self, seconds: float) -> None:
        if self._scheduler is None or not self._scheduler.running:
            return
        self._scheduler.add_job(self.run_once, "date", run_date=datetime.now(UTC) + timedelta(seconds=seconds),
                                id=f"{self.JOB_ID}-retry", replace_existing=True, max_instances=1,
                                misfire_grace_time=int(max(seconds, 1)))

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
