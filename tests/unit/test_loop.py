"""The consume loop's failure policy (on_malformed) and batch linger, with in-memory fakes.

The real-broker behaviour (acks, commits, rewinds) is covered by tests/integration/test_kafka_stage.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from brandpulse.errors import OnMalformed, Rejected, StageFailed
from brandpulse.loop import ConsumeLoop, Failure, Output, StageResult, StopFlag
from brandpulse.metrics import WorkerMetrics


def rec(offset: int, value: bytes = b"ok") -> ConsumerRecord:
    return ConsumerRecord("raw", 0, -1, offset, 0, 0, None, value, [], None, 0, len(value), -1)


class FakeConsumer:
    """Serves ``batches`` one per poll (then nothing); records commits."""

    def __init__(self, batches: list[list[ConsumerRecord]], stop: StopFlag) -> None:
        self.batches = list(batches)
        self.stop = stop
        self.commits: list[int] = []
        self.polls: list[int | None] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[ConsumerRecord]]:
        self.polls.append(max_records)
        if not self.batches:
            self.stop.set()
            return {}
        batch = self.batches.pop(0)
        return {TopicPartition("raw", 0): batch} if batch else {}

    def commit(self, offsets: dict[Any, Any]) -> None:
        self.commits.extend(o.offset for o in offsets.values())

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("raw", 0)}

    def seek(self, tp: TopicPartition, offset: int) -> None:  # pragma: no cover - no rewinds here
        pass

    def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    def committed(self, tp: TopicPartition) -> int:
        return 0


class _Done:
    def get(self, timeout: float = 0) -> None:
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> _Done:
        self.sent.append((topic, value))
        return _Done()

    def flush(self, timeout: float | None = None) -> None:
        pass


class Poison(Rejected):
    pass


class Handler:
    """Fails records whose value is b"bad"; passes the others through."""

    stage = "enrich"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult:
        self.batches.append(len(records))
        out = StageResult()
        for r in records:
            if r.value == b"bad":
                out.failures.append(Failure(r, Poison("cannot read it")))
            else:
                out.outputs.append(Output("enriched", None, r.value))
        return out


def run(batches: list[list[ConsumerRecord]], on_malformed: OnMalformed = "dead_letter",
        **kw: Any) -> tuple[FakeConsumer, FakeProducer, Handler, WorkerMetrics]:
    stop = StopFlag()
    consumer, producer, handler = FakeConsumer(batches, stop), FakeProducer(), Handler()
    metrics = WorkerMetrics("enrich")
    loop = ConsumeLoop(consumer=consumer, producer=producer, handler=handler,
                       dead_letter_topic="dlq", metrics=metrics, stop=stop, on_malformed=on_malformed, **kw)
    loop._report_lag = lambda: None  # type: ignore[method-assign]  # no broker to ask
    loop.run()
    return consumer, producer, handler, metrics


def failed(metrics: WorkerMetrics, reason: str) -> float:
    return metrics.failed.labels("enrich", reason)._value.get()


def test_dead_letter_carries_the_error_class_and_the_batch_commits() -> None:
    consumer, producer, _, metrics = run([[rec(0), rec(1, b"bad"), rec(2)]])
    assert [t for t, _ in producer.sent].count("enriched") == 2
    [letter] = [json.loads(v) for t, v in producer.sent if t == "dlq"]
    assert letter["error_class"] == "Poison" and letter["stage"] == "enrich" and letter["source"]["offset"] == 1
    assert consumer.commits == [3]
    assert failed(metrics, "Poison") == 1


def test_skip_logs_and_counts_but_writes_no_dead_letter() -> None:
    consumer, producer, _, metrics = run([[rec(0), rec(1, b"bad")]], on_malformed="skip")
    assert [t for t, _ in producer.sent] == ["enriched"]
    assert consumer.commits == [2]
    assert failed(metrics, "Poison") == 1


def test_fail_stops_before_producing_or_committing() -> None:
    with pytest.raises(StageFailed, match=r"Poison at raw/0@1 and on_malformed=fail"):
        run([[rec(0), rec(1, b"bad")]], on_malformed="fail")


def test_fail_lets_good_batches_through() -> None:
    consumer, producer, _, _ = run([[rec(0), rec(1)]], on_malformed="fail")
    assert consumer.commits == [2] and len(producer.sent) == 2


def test_a_partial_batch_lingers_for_more_records_up_to_the_batch_size() -> None:
    batches = [[rec(0)], [rec(1), rec(2)], [rec(3)], [rec(4)]]
    consumer, _, handler, _ = run(batches, max_records=3, linger_seconds=5.0)
    # first handle: 0 + (1, 2) fills the batch of 3; the lingering poll asks only for what is missing
    assert handler.batches[0] == 3 and consumer.polls[:2] == [None, 2]
    assert sum(handler.batches) == 5


def test_without_linger_every_poll_is_its_own_batch() -> None:
    _, _, handler, _ = run([[rec(0)], [rec(1), rec(2)]], max_records=3)
    assert handler.batches == [1, 2]
