"""The consume → process → produce → commit loop every consuming stage runs.

A stage is a small handler with no Kafka inside: it turns a batch of records into output
records and dead letters, or raises :class:`RetryLater` when its sink is unavailable. The loop
produces the outputs and dead letters, waits for the broker's acks, and only then commits the
batch's offsets (at-least-once). On ``RetryLater`` it rewinds to the batch start and *pauses*
the partitions (back-pressure) while staying in the consumer group, then resumes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from brandpulse.errors import OnMalformed, StageFailed
from brandpulse.kafkaio import consumer_lag, dead_letter_record
from brandpulse.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The stage's sink is unavailable; retry the whole batch after ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: float = 5.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Failure:
    """A record the handler could not process, and why (a named exception: brandpulse/errors.py)."""

    record: ConsumerRecord
    error: BaseException


@dataclass
class StageResult:
    outputs: list[Output] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


class StageHandler(Protocol):
    stage: str

    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult: ...


class StopFlag:
    """Set by SIGTERM/SIGINT so the loop finishes its batch and commits before exiting."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._event.set())

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


REPLAY_HEADER = "brandpulse-replay-stage"


def for_stage(record: ConsumerRecord, stage: str) -> bool:
    """False for a dead letter replayed for another stage (``brandpulse deadletter replay`` tags
    it with the stage that failed it): that stage re-processes it, the others already have."""
    for name, value in record.headers or ():
        if name == REPLAY_HEADER:
            return bool(value) and value.decode("utf-8", "replace") == stage
    return True


class ConsumeLoop:
    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        handler: StageHandler,
        dead_letter_topic: str,
        metrics: WorkerMetrics,
        stop: StopFlag,
        poll_timeout_ms: int = 500,
        max_backoff: float = 30.0,
        after_commit: Callable[[], None] | None = None,
        on_idle: Callable[[], StageResult] | None = None,
        on_malformed: OnMalformed = "dead_letter",
        max_records: int | None = None,
        linger_seconds: float = 0.0,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.handler = handler
        self.dlq = dead_letter_topic
        self.metrics = metrics
        self.stop = stop
        self.poll_timeout_ms = poll_timeout_ms
        self.max_backoff = max_backoff
        self.after_commit = after_commit
        # Time-driven work of a stage whose poll came back empty (the alert worker's clock tick):
        # its outputs are produced and acknowledged, then after_commit runs, as for a batch.
        self.on_idle = on_idle
        self.on_malformed = on_malformed
        # A partial batch waits up to linger_seconds for more records (up to max_records) before it
        # is handled: fewer, fuller requests to the sink under moderate load, bounded extra latency.
        self.max_records = max_records
        self.linger_seconds = linger_seconds
        self._lag_checked = 0.0

    def run(self) -> None:
        stage = self.handler.stage
        backoff = 1.0
        while not self.stop.is_set:
            self.metrics.heartbeat()
            records = self._poll_batch()
            self._report_lag()
            if not records:
                if self.on_idle is not None:
                    self._idle()
                continue
            mine = [r for r in records if for_stage(r, stage)]
            if not mine:  # only replays meant for another stage: nothing to do but move on
                self._commit(records)
                continue
            try:
                result = self.handler.handle(mine)
                self._deliver(result)
            except RetryLater as exc:
                wait = min(self.max_backoff, max(exc.retry_after, backoff))
                log.warning("sink unavailable, pausing consumption", extra={"reason": str(exc), "retry_in_s": wait})
                self.metrics.failed.labels(stage, "sink_unavailable").inc(len(records))
                self._rewind(records)
                self._paused_wait(wait)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            except KafkaError as exc:
                # Output could not be acknowledged: do not commit; rewind and try again.
                log.error("producing failed, will retry the batch", extra={"error": repr(exc)})
                self._rewind(records)
                self._paused_wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            backoff = 1.0
            self._commit(records)
            self.metrics.processed.labels(stage).inc(len(mine) - len(result.failures))
            if self.after_commit:
                self.after_commit()

    def _poll_batch(self) -> list[ConsumerRecord]:
        polled = self.consumer.poll(timeout_ms=self.poll_timeout_ms)
        records = [r for batch in polled.values() for r in batch]
        if not records or self.linger_seconds <= 0 or self.max_records is None:
            return records
        deadline = time.monotonic() + self.linger_seconds
        while len(records) < self.max_records and not self.stop.is_set:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self.consumer.poll(timeout_ms=max(1, int(left * 1000)), max_records=self.max_records - len(records))
            records.extend(r for batch in more.values() for r in batch)
        return records

    def _idle(self) -> None:
        assert self.on_idle is not None
        result = self.on_idle()
        backoff = 1.0
        while result.outputs or result.failures:
            try:
                self._deliver(result)
                break
            except KafkaError as exc:
                # The stage has moved on (its tick is written ahead): retry these outputs before
                # anything else, or leave them to the restart, which re-derives them.
                log.error("producing idle-time output failed, will retry", extra={"error": repr(exc)})
                if self.stop.is_set:
                    return
                self._paused_wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
        if self.after_commit:
            self.after_commit()

    def _deliver(self, result: StageResult) -> None:
        stage = self.handler.stage
        if result.failures and self.on_malformed == "fail":
            first = result.failures[0]
            raise StageFailed(f"{stage}: {type(first.error).__name__} at {first.record.topic}/"
                              f"{first.record.partition}@{first.record.offset} and on_malformed=fail: "
                              f"{str(first.error)[:300]}")
        futures = []
        for out in result.outputs:
            futures.append(self.producer.send(out.topic, key=out.key, value=out.value))
            self.metrics.produced.labels(out.topic).inc()
        for failure in result.failures:
            rec = failure.record
            reason = type(failure.error).__name__
            where = {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
                     "error_class": reason, "error": str(failure.error)[:300]}
            self.metrics.failed.labels(stage, reason).inc()
            if self.on_malformed == "skip":
                log.warning("skipping record (on_malformed=skip)", extra=where)
                continue
            log.warning("dead-lettering record", extra=where)
            value = dead_letter_record(
                stage=stage, error=failure.error, value=rec.value, key=rec.key,
                topic=rec.topic, partition=rec.partition, offset=rec.offset,
            )
            futures.append(self.producer.send(self.dlq, key=rec.key, value=value))
            self.metrics.dead_lettered.labels(stage).inc()
        self.producer.flush()
        for fut in futures:
            fut.get(timeout=0)  # raises KafkaError if any send failed

    def _commit(self, records: Sequence[ConsumerRecord]) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if tp not in offsets or offsets[tp].offset < r.offset + 1:
                offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
        self.consumer.commit(offsets)

    def _rewind(self, records: Sequence[ConsumerRecord]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        assigned = self.consumer.assignment()
        for tp, off in first.items():
            if tp in assigned:
                self.consumer.seek(tp, off)

    def _paused_wait(self, seconds: float) -> None:
        """Pause every partition but keep polling so the group does not evict us."""
        assigned = list(self.consumer.assignment())
        self.consumer.pause(*assigned)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline and not self.stop.is_set:
                self.metrics.heartbeat()
                self.consumer.poll(timeout_ms=200)
        finally:
            self.consumer.resume(*[tp for tp in assigned if tp in self.consumer.assignment()])

    def _report_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_checked < 5:
            return
        self._lag_checked = now
        try:
            lag = consumer_lag(self.consumer)
        except KafkaError:
            return
        for topic, value in lag.items():
            self.metrics.lag.labels(topic).set(value)
        self.metrics.extra_health["lag"] = lag


def close_quietly(*things: Any) -> None:
    for thing in things:
        try:
            thing.close()
        except Exception:  # shutting down: nothing useful left to do with the error
            log.debug("close failed", exc_info=True)
