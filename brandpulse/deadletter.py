"""Inspect and replay the dead-letter topic.

Every stage dead-letters what it cannot process with its reason and the original bytes
(:func:`brandpulse.kafkaio.dead_letter_record`). Once the cause is fixed — an indexer upgraded to
a newer schema version, a mapping corrected, a bug in enrichment fixed — ``brandpulse deadletter
replay`` puts the original records back on the topic they came from, so nothing stays lost.

Two rules keep a replay from counting anything twice:

* A replayed record carries the header ``brandpulse-replay-stage`` naming the stage that failed
  it. Every other consumer of that topic skips it (:func:`brandpulse.loop.for_stage`): a mention
  the indexer rejected is re-indexed, but the alert worker, which already counted it, does not
  count it again.
* Replay reads the dead-letter topic with its own consumer group and commits after the replayed
  records are acknowledged, so running it twice replays each dead letter once. ``--from-beginning``
  re-offers everything; the downstream ids (mention id as ``_id``) make that harmless for the
  indexer.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition

from brandpulse.kafkaio import client_kwargs, group_id, make_producer
from brandpulse.loop import REPLAY_HEADER
from brandpulse.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    stage: str
    error_class: str
    error: str
    failed_at: str
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    key: bytes | None
    value: bytes | None

    @classmethod
    def parse(cls, partition: int, offset: int, raw: bytes) -> DeadLetter:
        """Parse one dead-letter record; a record that is not ours becomes an 'unreadable' entry
        rather than an exception, so one odd record never stops an inspection."""
        try:
            d: dict[str, Any] = json.loads(raw)
            if not isinstance(d, dict):
                raise ValueError("not an object")
            src = d.get("source") or {}
            return cls(
                partition=partition, offset=offset,
                stage=str(d.get("stage") or "?"), error_class=str(d.get("error_class") or "?"),
                error=str(d.get("error") or ""), failed_at=str(d.get("failed_at") or ""),
                source_topic=src.get("topic"), source_partition=src.get("partition"),
                source_offset=src.get("offset"),
                key=base64.b64decode(d["key_b64"]) if d.get("key_b64") else None,
                value=base64.b64decode(d["value_b64"]) if d.get("value_b64") is not None else None,
            )
        except (ValueError, TypeError, KeyError) as exc:
            return cls(partition, offset, "?", "Unreadable", f"dead letter is not BrandPulse JSON: {exc}", "",
                       None, None, None, None, raw)

    @property
    def replayable(self) -> bool:
        return bool(self.source_topic) and self.value is not None

    def summary(self) -> dict[str, Any]:
        return {
            "dlq": f"{self.partition}:{self.offset}", "stage": self.stage, "error_class": self.error_class,
            "error": self.error, "failed_at": self.failed_at,
            "source": f"{self.source_topic}/{self.source_partition}@{self.source_offset}" if self.source_topic else None,
            "bytes": len(self.value) if self.value is not None else 0,
        }


@dataclass(frozen=True)
class Filter:
    stage: str | None = None
    error_class: str | None = None
    contains: str | None = None

    def __call__(self, d: DeadLetter) -> bool:
        if self.stage and d.stage != self.stage:
            return False
        if self.error_class and d.error_class != self.error_class:
            return False
        return not (self.contains and self.contains.casefold() not in d.error.casefold())


def _consumer(s: Settings, group_id: str | None) -> KafkaConsumer:
    kw = client_kwargs(s.kafka, "deadletter")
    return KafkaConsumer(group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest",
                         consumer_timeout_ms=1000, **kw)


def _read(consumer: KafkaConsumer, topic: str, *, from_beginning: bool) -> Iterator[tuple[TopicPartition, DeadLetter]]:
    """Everything on the topic up to its end offsets at the time of the call (then stop)."""
    parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    if not tps:
        return
    consumer.assign(tps)
    if from_beginning:
        consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    todo = {tp for tp in tps if consumer.position(tp) < ends[tp]}
    while todo:
        polled = consumer.poll(timeout_ms=1000)
        for tp, recs in polled.items():
            for r in recs:
                if r.offset < ends[tp]:
                    yield tp, DeadLetter.parse(r.partition, r.offset, r.value or b"")
        todo = {tp for tp in todo if consumer.position(tp) < ends[tp]}


def list_dead_letters(s: Settings, flt: Filter, limit: int | None = None) -> tuple[list[DeadLetter], Counter[tuple[str, str]]]:
    """(the newest `limit` matching dead letters, counts per (stage, error class) of all matching)."""
    consumer = _consumer(s, None)
    try:
        matched: list[DeadLetter] = []
        counts: Counter[tuple[str, str]] = Counter()
        for _, d in _read(consumer, s.topics.dead_letter, from_beginning=True):
            if flt(d):
                matched.append(d)
                counts[(d.stage, d.error_class)] += 1
        matched.sort(key=lambda d: (d.failed_at, d.partition, d.offset))
        return (matched[-limit:] if limit else matched), counts
    finally:
        consumer.close()


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped_filter: int = 0
    not_replayable: int = 0
    by_topic: Counter[str] | None = None


def replay(s: Settings, flt: Filter, *, dry_run: bool = False, from_beginning: bool = False,
           progress: Callable[[DeadLetter], None] | None = None) -> ReplayReport:
    """Re-produce matching dead letters' original bytes to their source topics, tagged with the
    stage that failed them; commit the replay group's offsets only after the broker acked."""
    group = group_id(s, "deadletter-replay")
    consumer = _consumer(s, None if dry_run else group)
    producer = None if dry_run else make_producer(s.kafka, "deadletter-replay")
    report = ReplayReport(by_topic=Counter())
    assert report.by_topic is not None
    try:
        futures = []
        last: dict[TopicPartition, int] = {}
        for tp, d in _read(consumer, s.topics.dead_letter, from_beginning=from_beginning):
            last[tp] = d.offset
            if not flt(d):
                report.skipped_filter += 1
                continue
            if not d.replayable:
                report.not_replayable += 1
                continue
            if progress:
                progress(d)
            report.replayed += 1
            report.by_topic[str(d.source_topic)] += 1
            if producer is not None:
                futures.append(producer.send(str(d.source_topic), key=d.key, value=d.value,
                                             headers=[(REPLAY_HEADER, d.stage.encode())]))
        if producer is not None:
            producer.flush()
            for fut in futures:
                fut.get(timeout=30)
            if last:
                consumer.commit({tp: OffsetAndMetadata(off + 1, "", -1) for tp, off in last.items()})
        return report
    finally:
        consumer.close()
        if producer is not None:
            producer.close()


def print_table(rows: list[DeadLetter], counts: Counter[tuple[str, str]], out: IO[str]) -> None:
    total = sum(counts.values())
    out.write(f"{total} dead letters")
    if counts:
        out.write(": " + ", ".join(f"{n} {stage}/{cls}" for (stage, cls), n in counts.most_common()))
    out.write("\n")
    for d in rows:
        src = f"{d.source_topic}@{d.source_partition}:{d.source_offset}" if d.source_topic else "-"
        out.write(f"{d.failed_at[:19]:19}  {d.stage:8} {d.error_class:20} {src:40} {d.error[:120]}\n")
