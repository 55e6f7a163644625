"""Real broker: topic setup, the consume loop's commit-after-durable and dead letters, state store."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from brandpulse.kafkaio import (
    ensure_topics,
    group_lag,
    make_admin,
    make_consumer,
    make_producer,
    topic_count,
)
from brandpulse.loop import ConsumeLoop, Failure, Output, RetryLater, StageResult, StopFlag
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import Mention
from brandpulse.settings import Settings
from brandpulse.state import StateStore

pytestmark = pytest.mark.integration
T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def mention(i: int) -> Mention:
    return Mention.new(source="replay", feed="t", native_id=f"n{i}", brand="Acme", text=f"acme post {i}",
                       created_at=T)


def test_setup_is_idempotent_and_applies_retention(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    assert len(ensure_topics(s)) == 5
    assert ensure_topics(s) == []  # second run creates nothing and does not fail
    admin = make_admin(s.kafka)
    try:
        topics = admin.describe_topics([s.topics.raw])
    finally:
        admin.close()
    assert len(topics[0]["partitions"]) == 3


class Upper:
    """A stage that upper-cases text, rejects records whose text says 'poison', and can be told
    its sink is down."""

    stage = "test"

    def __init__(self, out: str) -> None:
        self.out = out
        self.down = 0
        self.seen: list[int] = []

    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult:
        if self.down:
            self.down -= 1
            raise RetryLater("sink down", retry_after=0.2)
        res = StageResult()
        for r in records:
            self.seen.append(r.offset)
            try:
                m = Mention.from_bytes(r.value)
            except Exception as exc:
                res.failures.append(Failure(r, exc))
                continue
            if "poison" in m.text:
                res.failures.append(Failure(r, ValueError("poison text")))
                continue
            res.outputs.append(Output(self.out, m.kafka_key, m.model_copy(update={"text": m.text.upper()}).to_bytes()))
        return res


def run_until(loop: ConsumeLoop, stop: StopFlag, cond: Callable[[], bool], timeout: float = 60) -> None:
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cond():
        time.sleep(0.3)
    stop.set()
    t.join(30)
    assert cond(), "condition not reached in time"


def test_loop_commits_after_output_and_dead_letters_bad_records(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    ensure_topics(s)
    prod = make_producer(s.kafka, "test")
    for i in range(20):
        prod.send(s.topics.raw, key=b"Acme", value=mention(i).to_bytes())
    prod.send(s.topics.raw, key=b"Acme", value=b"\xffnot json")
    prod.send(s.topics.raw, key=b"Acme", value=mention(99).model_copy(update={"text": "poison"}).to_bytes())
    prod.flush()
    group = f"{s.workers.group_prefix}-test"
    handler = Upper(s.topics.enriched)
    handler.down = 2  # first two attempts: sink unavailable -> pause, rewind, retry
    stop = StopFlag()
    consumer = make_consumer(s.kafka, "test", group, [s.topics.raw])
    loop = ConsumeLoop(consumer=consumer, producer=prod, handler=handler, dead_letter_topic=s.topics.dead_letter,
                       metrics=WorkerMetrics("test"), stop=stop, poll_timeout_ms=200)
    run_until(loop, stop, lambda: group_lag(s, group, [s.topics.raw]) == 0)
    consumer.close()
    assert topic_count(s, s.topics.enriched) == 20
    assert topic_count(s, s.topics.dead_letter) == 2
    # dead letters carry stage, error class, origin and original bytes
    c = make_consumer(s.kafka, "check", f"{group}-check", [s.topics.dead_letter])
    letters: list[dict[str, Any]] = []
    import time

    deadline = time.monotonic() + 20
    while len(letters) < 2 and time.monotonic() < deadline:
        for recs in c.poll(500).values():
            letters.extend(json.loads(r.value) for r in recs)
    c.close()
    by_class = {d["error_class"]: d for d in letters}
    assert set(by_class) == {"SchemaError", "ValueError"}
    assert by_class["SchemaError"]["source"]["topic"] == s.topics.raw
    assert by_class["SchemaError"]["stage"] == "test"
    import base64

    assert base64.b64decode(by_class["SchemaError"]["value_b64"]) == b"\xffnot json"


def test_restart_resumes_from_committed_offsets_without_loss(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    ensure_topics(s)
    prod = make_producer(s.kafka, "test")
    group = f"{s.workers.group_prefix}-test"
    for i in range(10):
        prod.send(s.topics.raw, key=b"Acme", value=mention(i).to_bytes())
    prod.flush()
    for round_ in range(2):
        handler = Upper(s.topics.enriched)
        stop = StopFlag()
        consumer = make_consumer(s.kafka, "test", group, [s.topics.raw])
        loop = ConsumeLoop(consumer=consumer, producer=prod, handler=handler,
                           dead_letter_topic=s.topics.dead_letter, metrics=WorkerMetrics("test"), stop=stop,
                           poll_timeout_ms=200)
        run_until(loop, stop, lambda: group_lag(s, group, [s.topics.raw]) == 0)
        consumer.close()
        if round_ == 0:
            assert len(handler.seen) == 10
            for i in range(10, 15):
                prod.send(s.topics.raw, key=b"Acme", value=mention(i).to_bytes())
            prod.flush()
        else:
            assert len(handler.seen) == 5  # only the new records: nothing re-read, nothing skipped
    assert topic_count(s, s.topics.enriched) == 15


def test_state_store_keeps_latest_value_per_key(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    ensure_topics(s)
    store = StateStore(s)
    store.put("cursor/a", {"line": 1})
    store.put("cursor/a", {"line": 2})
    store.put("cursor/b", {"line": 7})
    store.put("cursor/b", None)
    store.put("other/x", {"v": 1})
    try:
        assert store.load("cursor/") == {"cursor/a": {"line": 2}}
    finally:
        store.close()
