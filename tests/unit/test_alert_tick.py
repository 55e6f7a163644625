"""The alert worker's wall-clock tick, with an injected clock, a fake state store and crash points.

A brand spikes and then goes quiet: no record ever moves the stream clock again, so only the tick
can resolve the alert. The same schedule is replayed with the worker "killed" at every point of
the resolving tick (after the write-ahead checkpoint, after producing, after checkpointing), and
restarted from what the fake state topic holds; what reaches the alerts topic must be what the
uninterrupted run produced: each (alert_id, seq) once after de-duplication, identical content,
no second ``resolved`` and none missing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from alerts.worker import AlertStage, idle_clock, tick_matters
from brandpulse.schema import Enrichment, Language, Mention, Sentiment
from brandpulse.settings import Settings

TP = TopicPartition("enriched", 0)
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SETTINGS = Settings.model_validate({
    "brands": [{"name": "Acme"}],
    "topics": {"enriched": "enriched", "alerts": "alerts"},
    "alerts": {"bucket_seconds": 60, "allowed_lateness_seconds": 30, "resolve_after_seconds": 60,
               "warmup_hours": 0.5, "idle_tick_seconds": 5, "console": False},
})


# ------------------------------------------------------------------ the pure rule


def test_idle_clock_follows_the_wall_clock_minus_lateness_for_a_live_stream() -> None:
    c = T0
    # the last record was seen live (clock_wall = its event time); an hour of silence later:
    assert idle_clock(c, c.timestamp(), c.timestamp() + 3600, 600) == c + timedelta(minutes=50)
    # the first seconds of silence move nothing: now - lateness is still behind the data
    assert idle_clock(c, c.timestamp(), c.timestamp() + 5, 600) == c


def test_idle_clock_only_flows_at_wall_speed_during_a_backfill_pause() -> None:
    old = T0 - timedelta(days=30)  # the data is a month old, the consumer briefly caught up
    assert idle_clock(old, T0.timestamp(), T0.timestamp() + 7.9, 600) == old + timedelta(seconds=7)


def test_idle_clock_never_moves_backwards_and_tick_matters_only_at_bucket_ends() -> None:
    future = T0 + timedelta(hours=1)  # clock ahead of the wall clock (skewed sources)
    assert idle_clock(future, T0.timestamp(), T0.timestamp() + 60, 600) == future
    assert not tick_matters(T0 + timedelta(seconds=31), T0 + timedelta(seconds=59), 60, 30)
    assert tick_matters(T0 + timedelta(seconds=50), T0 + timedelta(seconds=61), 60, 30)  # a bucket ends
    assert tick_matters(T0 + timedelta(seconds=20), T0 + timedelta(seconds=31), 60, 30)  # one closes


# ------------------------------------------------------------------ harness


class FakeProducer:
    def flush(self) -> None:
        pass


class FakeStore:
    """The compacted state topic: latest JSON value per key (values round-trip through JSON)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.producer = FakeProducer()

    def load(self, prefix: str = "") -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.data.items() if k.startswith(prefix)}

    def put(self, key: str, value: Any, *, flush: bool = True) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = json.dumps(value)


class FakeConsumer:
    def __init__(self, topic: list[bytes]) -> None:
        self.topic = topic
        self.position = 0

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position = offset

    def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, len(self.topic))


class Clock:
    def __init__(self, wall: datetime) -> None:
        self.wall = wall.timestamp()
        self.mono = 1000.0

    def sleep(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def mention(i: int, at: datetime, negative: bool) -> bytes:
    m = Mention.new(source="replay", feed="f", native_id=f"n{i}", brand="Acme", text=f"acme post {i}", created_at=at)
    label = "negative" if negative else "neutral"
    e = Enrichment(version="1", language=Language(code="en", confidence=1, method="t"),
                   sentiment=Sentiment(label=label, score=-0.8 if negative else 0.0, confidence=0.9, method="t"),
                   enriched_at=at)
    return m.model_copy(update={"enrichment": e}).to_bytes()


def history() -> list[bytes]:
    """An hour of quiet traffic (3 a minute, one negative every third minute), then 30 negatives."""
    out: list[bytes] = []
    for minute in range(60):
        for j in range(3):
            out.append(mention(len(out), T0 + timedelta(minutes=minute, seconds=10 + 15 * j),
                               negative=(j == 0 and minute % 3 == 0)))
    for j in range(30):
        out.append(mention(len(out), T0 + timedelta(minutes=60, seconds=5 + j), negative=True))
    return out


class Worker:
    """One 'process': an AlertStage restored from the store, driven like ConsumeLoop drives it."""

    def __init__(self, store: FakeStore, topic: list[bytes], clock: Clock, published: list[dict[str, Any]]) -> None:
        self.clock = clock
        self.published = published
        self.topic = topic
        self.stage = AlertStage(SETTINGS, store, "g", emit=lambda a: None,  # type: ignore[arg-type]
                                wall=lambda: clock.wall, monotonic=lambda: clock.mono)
        self.consumer = FakeConsumer(topic)
        self.stage.consumer = self.consumer
        self.stage.on_partitions_assigned([TP])

    def consume(self, batch: int = 50) -> None:
        while self.consumer.position < len(self.topic):
            start = self.consumer.position
            recs = [ConsumerRecord(TP.topic, TP.partition, -1, off, 0, 0, b"Acme", self.topic[off], [], None, 0, 0, -1)
                    for off in range(start, min(len(self.topic), start + batch))]
            result = self.stage.handle(recs)
            self.published.extend(json.loads(o.value) for o in result.outputs)
            self.consumer.position = recs[-1].offset + 1
            self.stage.after_commit()

    def idle(self) -> None:
        """One empty poll, completed: tick outputs acknowledged, then checkpointed."""
        result = self.stage.idle()
        self.published.extend(json.loads(o.value) for o in result.outputs)
        self.stage.after_commit()


def schedule(crash: str | None, late_records: bool) -> list[dict[str, Any]]:
    store, published = FakeStore(), list[dict[str, Any]]()
    topic = history()
    clock = Clock(T0 + timedelta(minutes=60, seconds=40))
    w = Worker(store, topic, clock, published)
    w.consume()
    assert [a["event"] for a in published] == ["opened"]
    resolved_in_tick = False
    for _ in range(300):
        clock.sleep(1)
        before = dict(store.data)
        result = w.stage.idle()
        out = [json.loads(o.value) for o in result.outputs]
        if any(a["event"] == "resolved" for a in out) and crash is not None:
            # This is the resolving tick: die at the requested point and restart from the store.
            if crash == "before-write-ahead":
                store.data = before  # as if the process died before the tick was written
            if crash in ("produce", "after-commit"):
                published.extend(out)
            if crash == "after-commit":
                w.stage.after_commit()
            clock.sleep(3)  # the restart takes a while
            if late_records:
                topic.extend(mention(len(topic) + k, T0 + timedelta(minutes=63, seconds=k), negative=False)
                             for k in range(5))
            w = Worker(store, topic, clock, published)
            w.consume()
            resolved_in_tick = True
            break
        published.extend(out)
        w.stage.after_commit()
        if out and out[-1]["event"] == "resolved":
            resolved_in_tick = True
            if late_records:
                clock.sleep(3)
                topic.extend(mention(len(topic) + k, T0 + timedelta(minutes=63, seconds=k), negative=False)
                             for k in range(5))
                w.consume()
            break
    assert resolved_in_tick, "the tick never resolved the alert"
    for _ in range(120):  # two more minutes of silence and ticks: nothing else may happen
        clock.sleep(1)
        w.idle()
    return published


def dedupe(published: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for a in published:
        k = (a["alert_id"], a["seq"])
        if k in seen:
            assert seen[k] == a, "a re-emitted event must be the same event"
            continue
        seen[k] = a
    return list(seen.values())


def without_times(a: dict[str, Any]) -> dict[str, Any]:
    """The event without what depends on when it was emitted (the chart ends at that time)."""
    return {k: v for k, v in a.items() if k not in ("emitted_at", "raised_at", "chart")}


# ------------------------------------------------------------------ tests


def test_a_quiet_brand_resolves_by_the_tick_and_the_resolution_is_checkpointed() -> None:
    published = schedule(None, late_records=False)
    events = [(a["event"], a["seq"]) for a in published]
    assert events[0] == ("opened", 0) and events[-1][0] == "resolved"
    assert [e for e, _ in events].count("resolved") == 1
    assert [s for _, s in events] == list(range(len(events)))  # no gap, no duplicate
    resolved = published[-1]
    # resolved on the tick's clock (now - lateness), not on any record's time
    assert datetime.fromisoformat(resolved["emitted_at"]) > T0 + timedelta(minutes=61)


def test_a_backfill_that_pauses_is_not_made_late_by_the_tick() -> None:
    store, published = FakeStore(), list[dict[str, Any]]()
    topic = history()
    clock = Clock(T0 + timedelta(days=30))  # the data is a month old
    w = Worker(store, topic[:100], clock, published)
    w.consume()
    for _ in range(30):  # the producer pauses for half a minute; the worker is caught up
        clock.sleep(1)
        w.idle()
    w.topic.extend(topic[100:])
    w.consume()
    assert w.stage.partitions[TP].detector.late_dropped == 0
    assert [a["event"] for a in published] == ["opened"]


@pytest.mark.parametrize("late_records", [False, True], ids=["silence", "records-after"])
@pytest.mark.parametrize("crash", ["before-write-ahead", "compute", "produce", "after-commit"])
def test_dying_in_the_resolving_tick_neither_duplicates_nor_loses_it(crash: str, late_records: bool) -> None:
    reference = schedule(None, late_records)
    got = schedule(crash, late_records)
    assert [a["event"] for a in dedupe(got)].count("resolved") == 1
    if crash == "before-write-ahead":  # nothing of the tick survived: a later tick resolves instead
        assert [without_times(a) for a in dedupe(got)] == [without_times(a) for a in dedupe(reference)]
    else:
        assert dedupe(got) == dedupe(reference)  # replayed exactly, emitted_at included
    if crash in ("before-write-ahead", "compute", "after-commit"):  # nothing was on the topic twice
        assert [without_times(a) for a in got] == [without_times(a) for a in reference]
    if crash in ("compute", "after-commit"):
        assert got == reference
