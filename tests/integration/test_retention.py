"""Real Elasticsearch: retention deletes expired mention indices and nothing else, pre-creates the
next period's index behind the alias, dry-run changes nothing, and the worker's job runs at start."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from kafka.consumer.fetcher import ConsumerRecord

from app.cli import main
from brandpulse.esclient import make_es, mentions_alias
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import Mention
from brandpulse.settings import Settings
from index.indexer import BulkIndexer
from index.retention import IndexMaintenance, current_and_next, print_indices, run_maintenance
from index.templates import apply_templates, mention_index

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


def rec(m: Mention, offset: int) -> ConsumerRecord:
    value = m.to_bytes()
    return ConsumerRecord("t", 0, -1, offset, 0, 0, b"k", value, [], None, 1, len(value), 0)


def mention(i: int, created_at: datetime) -> Mention:
    return Mention.new(source="replay", feed="t", native_id=f"n{i}", brand="Acme", text=f"acme {i}",
                       created_at=created_at)


def indices(es: object, prefix: str) -> set[str]:
    return set(es.indices.get(index=f"{mentions_alias(prefix)}-*", ignore_unavailable=True,  # type: ignore[attr-defined]
                              allow_no_indices=True))


def test_retention_deletes_only_expired_indices_and_prepares_the_next(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(index={"retention_days": 90})
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    alias = mentions_alias(prefix)
    apply_templates(es, prefix)
    old, recent = NOW - timedelta(days=200), NOW - timedelta(days=40)
    ix = BulkIndexer(es, prefix, s.index)
    batch = [mention(i, when) for i, when in enumerate([old, old, recent, NOW, NOW, NOW])]
    assert ix.handle([rec(m, i) for i, m in enumerate(batch)]).failures == []
    expired, kept, current = (mention_index(prefix, t, "month") for t in (old, recent, NOW))
    foreign = f"{alias}-{old:%Y.%m}-restored"  # matches the template pattern, not ours to delete
    es.indices.create(index=foreign)
    es.indices.update_aliases(actions=[{"remove": {"index": current, "alias": alias}}])  # alias repair
    es.indices.refresh(index=f"{alias}-*")
    _, upcoming = current_and_next(prefix, "month", NOW)
    before = indices(es, prefix)
    assert upcoming not in before and {expired, kept, current, foreign} <= before

    dry = run_maintenance(es, prefix, s.index, dry_run=True)
    assert dry.deleted == [expired] and dry.created == [upcoming] and dry.aliased == [current]
    assert dry.ignored == [foreign]
    assert indices(es, prefix) == before  # dry-run deleted and created nothing
    assert current not in es.indices.get_alias(name=alias)

    done = run_maintenance(es, prefix, s.index)
    assert (done.deleted, done.created, done.aliased) == (dry.deleted, dry.created, dry.aliased)
    after = indices(es, prefix)
    assert after == (before - {expired}) | {upcoming}
    behind_alias = set(es.indices.get_alias(name=alias))
    assert {kept, current, upcoming} <= behind_alias
    assert es.count(index=alias)["count"] == 4  # the old month's two are gone, the rest all readable
    # the pre-created index has the template's mapping, not a dynamic one
    mapping = es.indices.get_mapping(index=upcoming)[upcoming]["mappings"]
    assert mapping["dynamic"] == "false" and mapping["properties"]["created_at"]["type"] == "date"

    again = run_maintenance(es, prefix, s.index)  # idempotent
    assert (again.deleted, again.created, again.aliased) == ([], [], [])

    out = io.StringIO()
    print_indices(es, prefix, s.index, out)
    table = out.getvalue()
    assert f"{upcoming}" in table and "next (pre-created)" in table and "not ours: never touched" in table


def test_without_the_template_nothing_is_created(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    result = run_maintenance(es, s.elasticsearch.index_prefix, s.index)
    assert result.created == [] and "brandpulse setup" in result.warnings[0]
    assert indices(es, s.elasticsearch.index_prefix) == set()


def test_worker_job_runs_at_start(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(index={"maintenance_interval_seconds": 3600})
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    job = IndexMaintenance(es, prefix, s.index, WorkerMetrics("index"))
    job.start()
    try:
        deadline = time.monotonic() + 60
        while job.last_result is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        job.stop()
    assert job.last_result is not None, job.last_error
    assert set(current_and_next(prefix, "month", datetime.now(UTC))) <= indices(es, prefix)


def test_cli_dry_run_and_list(make_settings: Callable[..., Settings], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    s = make_settings(index={"retention_days": 30})
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    old = mention_index(prefix, NOW - timedelta(days=120), "month")
    es.indices.create(index=old)
    cfg = tmp_path / "bp.yaml"
    cfg.write_text(yaml.safe_dump(s.model_dump(mode="json", exclude={"base_dir"})))
    assert main(["--config", str(cfg), "indices", "retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would delete  {old}" in out and "would create" in out
    assert old in indices(es, prefix)
    assert main(["--config", str(cfg), "indices", "list"]) == 0
    assert "delete (expired)" in capsys.readouterr().out
    assert main(["--config", str(cfg), "indices", "retention"]) == 0
    assert old not in indices(es, prefix)
