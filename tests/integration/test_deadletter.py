"""Dead letters are not a grave: fix the cause, replay, and the record reaches the index once.

Scenario on the real stack: the target index is write-blocked, so Elasticsearch rejects the
document (403 cluster_block_exception) and the indexer dead-letters it. The operator lifts the
block and runs `brandpulse deadletter replay --stage index`; the indexer then writes it, the
other stages ignore the replayed copy, and a second replay replays nothing.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from kafka.consumer.fetcher import ConsumerRecord

from app.cli import main
from brandpulse.deadletter import Filter, list_dead_letters, replay
from brandpulse.esclient import make_es, mentions_alias
from brandpulse.kafkaio import ensure_topics, group_lag, make_consumer, make_producer, topic_count
from brandpulse.loop import ConsumeLoop, StageResult, StopFlag
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import Mention
from brandpulse.settings import Settings
from index.indexer import BulkIndexer
from index.templates import apply_templates, mention_index

pytestmark = pytest.mark.integration
T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def _mention(i: int) -> Mention:
    return Mention.new(source="replay", feed="t", native_id=f"dl{i}", brand="Acme", text=f"acme post {i}",
                       created_at=T)


class Recorder:
    """A stand-in for a second consumer of the enriched topic (like the alert worker)."""

    stage = "alerts"

    def __init__(self) -> None:
        self.seen: list[ConsumerRecord] = []

    def handle(self, records: list[ConsumerRecord]) -> StageResult:
        self.seen.extend(records)
        return StageResult()


def _drain(s: Settings, handler: object, group: str) -> None:
    stop = StopFlag()
    consumer = make_consumer(s.kafka, "test", group, [s.topics.enriched])
    producer = make_producer(s.kafka, "test")
    loop = ConsumeLoop(consumer=consumer, producer=producer, handler=handler,  # type: ignore[arg-type]
                       dead_letter_topic=s.topics.dead_letter, metrics=WorkerMetrics("test"), stop=stop,
                       poll_timeout_ms=200)
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and group_lag(s, group, [s.topics.enriched]) != 0:
        time.sleep(0.3)
    stop.set()
    t.join(30)
    consumer.close()
    producer.close()
    assert group_lag(s, group, [s.topics.enriched]) == 0, "stage did not catch up"


def test_fix_then_replay_indexes_the_rejected_mention_once_and_other_stages_skip_it(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    s = make_settings()
    ensure_topics(s)
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    index = mention_index(prefix, T, s.index.granularity)
    es.indices.create(index=index)
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})

    prod = make_producer(s.kafka, "test")
    mentions = [_mention(i) for i in range(3)]
    for m in mentions:
        prod.send(s.topics.enriched, key=m.kafka_key, value=m.to_bytes())
    prod.flush()
    prod.close()

    index_group = f"{s.workers.group_prefix}-index"
    alerts_group = f"{s.workers.group_prefix}-alerts"
    _drain(s, BulkIndexer(es, prefix, s.index, sleep=lambda _: None), index_group)
    alerts = Recorder()
    _drain(s, alerts, alerts_group)
    assert len(alerts.seen) == 3
    assert topic_count(s, s.topics.dead_letter) == 3

    rows, counts = list_dead_letters(s, Filter(stage="index"))
    assert sum(counts.values()) == 3
    assert all(d.error_class == "PermanentRejection" and "cluster_block_exception" in d.error for d in rows)
    assert {d.source_topic for d in rows} == {s.topics.enriched}

    # The operator's view: the CLI lists them and a dry run changes nothing.
    cfg = tmp_path / "brandpulse.yaml"
    cfg.write_text(yaml.safe_dump(s.model_dump(mode="json", exclude={"base_dir"}), allow_unicode=True))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--config", str(cfg), "deadletter", "list", "--stage", "index"]) == 0
        assert main(["--config", str(cfg), "deadletter", "replay", "--stage", "index", "--dry-run"]) == 0
    text = out.getvalue()
    assert "3 dead letters: 3 index/PermanentRejection" in text
    assert "would replay 3 dead letters (3 to " + s.topics.enriched in text
    assert topic_count(s, s.topics.enriched) == 3
    # A filter that matches nothing replays nothing (and moves the replay group past them).
    assert replay(s, Filter(stage="enrich")).replayed == 0
    assert replay(s, Filter(stage="index")).replayed == 0

    es.indices.put_settings(index=index, settings={"index.blocks.write": False})
    rep = replay(s, Filter(stage="index"), from_beginning=True)
    assert rep.replayed == 3 and rep.by_topic == {s.topics.enriched: 3}
    assert replay(s, Filter(stage="index")).replayed == 0  # already replayed: nothing twice

    _drain(s, BulkIndexer(es, prefix, s.index, sleep=lambda _: None), index_group)
    _drain(s, alerts, alerts_group)
    es.indices.refresh(index=mentions_alias(prefix))
    hits = es.search(index=mentions_alias(prefix), size=10)["hits"]["hits"]
    assert sorted(h["_id"] for h in hits) == sorted(m.id for m in mentions)
    assert len(alerts.seen) == 3, "the alert stage must not count a replay meant for the indexer"
    assert topic_count(s, s.topics.dead_letter) == 3  # nothing failed the second time
