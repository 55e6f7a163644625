"""Ingest through the real broker: cursors resume without gaps, and a broker restart in the
middle of ingestion loses nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from app import stack
from brandpulse.kafkaio import client_kwargs, end_offsets, ensure_topics
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import Mention
from brandpulse.settings import Settings, StackSettings
from brandpulse.signing import signed_headers
from ingest.worker import IngestWorker

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def write_replay(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = ["acme order late again", "ایکمی کی سروس بہت اچھی", "globex and acme both", "weather"][i % 4]
            fh.write(json.dumps({"native_id": f"p{i}", "text": f"{text} #{i}",
                                 "created_at": (T0 + timedelta(seconds=i)).isoformat()}, ensure_ascii=False) + "\n")


def expected_ids(n: int) -> set[str]:
    from brandpulse.schema import mention_id

    out = set()
    for i in range(n):
        kind = i % 4
        if kind in (0, 1):
            out.add(mention_id("replay", f"p{i}", "Acme"))
        elif kind == 2:
            out.add(mention_id("replay", f"p{i}", "Acme"))
            out.add(mention_id("replay", f"p{i}", "Globex"))
    return out


def read_ids(s: Settings, topic: str) -> list[str]:
    c = KafkaConsumer(**client_kwargs(s.kafka, "check"), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        ids: list[str] = []
        deadline = time.monotonic() + 60
        while any(c.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for recs in c.poll(500).values():
                ids.extend(Mention.from_bytes(r.value).id for r in recs)
        return ids
    finally:
        c.close()


def settings_with_replay(make_settings: Callable[..., Settings], tmp_path: Path, n: int, batch: int) -> Settings:
    write_replay(tmp_path / "r.jsonl", n)
    s = make_settings(feeds=[{"name": "r", "kind": "replay", "path": "r.jsonl", "batch_size": batch,
                              "interval_seconds": 0.2, "jitter_seconds": 0}])
    return s.model_copy(update={"base_dir": str(tmp_path)})


def run_worker_until_done(
    s: Settings, timeout: float = 120, during: Callable[[IngestWorker], None] | None = None
) -> None:
    worker = IngestWorker(s, WorkerMetrics("ingest"))
    worker.start()
    try:
        if during:
            during(worker)
        deadline = time.monotonic() + timeout
        while not worker.all_done and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker.all_done, f"feed not finished: {worker.health}"
    finally:
        worker.shutdown()


def test_restart_resumes_from_the_stored_cursor(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    s = settings_with_replay(make_settings, tmp_path, 400, 50)
    ensure_topics(s)
    run_worker_until_done(s)
    first = read_ids(s, s.topics.raw)
    # A second worker (a restart, or another container) resumes from the cursor in Kafka.
    run_worker_until_done(s)
    assert read_ids(s, s.topics.raw) == first
    assert set(first) == expected_ids(400) and len(first) == len(expected_ids(400))


def test_broker_restart_during_ingest_loses_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path, local_stack: StackSettings
) -> None:
    # 60 polls of 50 posts, 0.5 s apart: ingestion takes longer than stopping the broker.
    n = 3000
    s = settings_with_replay(make_settings, tmp_path, n, 50)
    s = s.model_copy(update={"feeds": tuple(f.model_copy(update={"interval_seconds": 0.5}) for f in s.feeds)})
    ensure_topics(s)
    seen: dict[str, int | bool | str] = {}
    threads: list[threading.Thread] = []

    def bounce_broker(worker: IngestWorker) -> None:
        def bounce() -> None:
            try:
                while worker.health["r"].posts_total == 0:  # let some batches through first
                    time.sleep(0.05)
                t0 = time.monotonic()
                seen["stopped"] = stack.stop_service(local_stack, "kafka")
                seen["posts_when_down"] = worker.health["r"].posts_total
                seen["stop_seconds"] = round(time.monotonic() - t0)
                time.sleep(3.0)
                stack.up(local_stack)
                seen["restarted"] = True
            except Exception as exc:  # surfaced by the assertion below, not lost in the thread
                seen["error"] = repr(exc)

        threads.append(threading.Thread(target=bounce, daemon=True))
        threads[0].start()

    run_worker_until_done(s, timeout=300, during=bounce_broker)
    threads[0].join(300)
    assert seen.get("stopped") is True and seen.get("restarted") is True, seen
    assert 0 < int(seen["posts_when_down"]) < n  # the broker was down in the middle of ingestion
    ids = read_ids(s, s.topics.raw)
    # at-least-once: every mention arrived; a repeat is possible only for a poll whose cursor
    # write failed, and the deterministic id makes it harmless downstream
    assert set(ids) == expected_ids(n)


# ------------------------------------------------------------------ webhook: 202 only when durable
HOOK_SECRET = "hook-secret-kafka-1"


def _signed_post(url: str, items: list[dict[str, object]]) -> requests.Response:
    body = json.dumps(items, ensure_ascii=False).encode()
    return requests.post(url, data=body, timeout=30,
                         headers={"Content-Type": "application/json", **signed_headers(HOOK_SECRET.encode(), body)})


def _hook_settings(make_settings: Callable[..., Settings], tmp_path: Path, **kafka: object) -> Settings:
    (tmp_path / "hook.secret").write_text(HOOK_SECRET)
    # A poll interval of an hour: nothing but the request itself can move the posts to Kafka.
    feeds = [{"name": "hook", "kind": "webhook", "port": 0, "secret": {"file": "hook.secret"},
              "ack_timeout_seconds": 3, "interval_seconds": 3600, "jitter_seconds": 0}]
    s = make_settings(feeds=feeds, **({"kafka": kafka} if kafka else {}))
    return s.model_copy(update={"base_dir": str(tmp_path)})


def _hook_url(worker: IngestWorker) -> str:
    feed = worker.feeds["hook"]
    host, port = feed.start()  # type: ignore[attr-defined]
    return f"http://{host}:{port}/ingest"


HOOK_ITEMS: list[dict[str, object]] = [
    {"native_id": "h1", "text": "Acme support fixed it in minutes", "created_at": "2026-11-20T12:00:00Z"},
    {"native_id": "h2", "text": "ایکمی اور globex دونوں", "created_at": "2026-11-20T12:00:01Z", "lang": "ur"},
    {"native_id": "h3", "text": "nothing about any brand", "created_at": "2026-11-20T12:00:02Z"},
]


def test_webhook_answers_202_only_after_kafka_acknowledged(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from brandpulse.schema import mention_id

    s = _hook_settings(make_settings, tmp_path)
    ensure_topics(s)
    worker = IngestWorker(s, WorkerMetrics("ingest"))
    worker.start()
    try:
        url = _hook_url(worker)
        resp = _signed_post(url, [*HOOK_ITEMS, {"native_id": "bad", "text": "no time"}])
        assert resp.status_code == 202, resp.text
        assert resp.json() == {"accepted": 3, "rejected": [{"index": 3, "reason": "missing created_at"}]}
        # Read right after the 202, with no poll in between (the interval is an hour): the
        # records are already on the topic, so the 202 came after the broker's acks.
        ids = read_ids(s, s.topics.raw)
        want = {mention_id("webhook", "h1", "Acme"), mention_id("webhook", "h2", "Acme"),
                mention_id("webhook", "h2", "Globex")}
        assert sorted(ids) == sorted(want)
        assert sum(end_offsets(s, [s.topics.dead_letter]).values()) == 1  # the bad item, dead-lettered
        assert worker.health["hook"].posts_total == 3 and worker.health["hook"].mentions_total == 3
        # the sender retries the same request (it never saw our 202): same ids, nothing new
        assert _signed_post(url, HOOK_ITEMS[:1]).status_code == 202
        assert set(read_ids(s, s.topics.raw)) == want
        # auth, limits and bad input are still answered before anything reaches Kafka
        assert requests.post(url, json=HOOK_ITEMS, timeout=10,
                             headers={"X-BrandPulse-Signature": "sha256=00"}).status_code == 401
        assert _signed_post(url, [{"text": "no id"}]).status_code == 400
    finally:
        worker.shutdown()


def test_webhook_answers_503_when_kafka_is_unreachable(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from brandpulse.kafkaio import make_producer

    s = _hook_settings(make_settings, tmp_path)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    # api_version given, so the producer does not need a broker to be built
    producer = make_producer(s.kafka.model_copy(update={"bootstrap_servers": dead}), "ingest",
                             api_version=(3, 0), max_block_ms=1000)
    worker = IngestWorker(s, WorkerMetrics("ingest"), producer=producer)
    try:
        url = _hook_url(worker)
        t0 = time.monotonic()
        resp = _signed_post(url, HOOK_ITEMS)
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"] == "5"
        assert time.monotonic() - t0 < 10  # bounded by the ack timeout, not the producer's 120 s
        assert worker.health["hook"].posts_total == 0
        assert worker.feeds["hook"].last_delivery_error  # type: ignore[attr-defined]
    finally:
        for feed in worker.feeds.values():
            feed.close()
        producer.close(timeout=1)


def test_webhook_answers_503_once_the_producer_is_closed(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from brandpulse.schema import mention_id

    s = _hook_settings(make_settings, tmp_path)
    ensure_topics(s)
    worker = IngestWorker(s, WorkerMetrics("ingest"))
    worker.start()
    try:
        url = _hook_url(worker)
        assert _signed_post(url, HOOK_ITEMS[:1]).status_code == 202
        worker.producer.close()
        resp = _signed_post(url, HOOK_ITEMS[1:])
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        assert read_ids(s, s.topics.raw) == [mention_id("webhook", "h1", "Acme")]
    finally:
        worker.scheduler.shutdown(wait=True)
        for feed in worker.feeds.values():
            feed.close()
