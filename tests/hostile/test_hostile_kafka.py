"""Hostile input through the ingest worker and the real local Kafka (issue #14, row 7).

Before the fix, an RSS item with a 3 MB title made a 3 MB record, above the producer's
``max_request_size``: ``send`` raised, the poll failed, the cursor never moved and the feed was
stuck forever. Now every text field of a post is capped (so such a record stays far below the
limit), and a record that is still too large is dead-lettered as ``RecordTooLarge`` while the
poll goes on; so is a post the worker cannot match.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from brandpulse.kafkaio import client_kwargs, ensure_topics, make_producer
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import Mention
from brandpulse.settings import Settings
from brandpulse.state import StateStore
from ingest import worker as worker_module
from ingest.worker import IngestWorker

pytestmark = pytest.mark.integration


def read(s: Settings, topic: str) -> list[bytes]:
    c = KafkaConsumer(**client_kwargs(s.kafka, "check"), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out: list[bytes] = []
        deadline = time.monotonic() + 60
        while any(c.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for recs in c.poll(500).values():
                out.extend(r.value for r in recs)
        return out
    finally:
        c.close()


def rss(items: list[tuple[str, str, str]]) -> str:
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title><description>{d}</description>"
                   f"<pubDate>Mon, 02 Mar 2026 09:00:00 GMT</pubDate></item>" for g, t, d in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>{body}</channel></rss>'


@pytest.fixture
def rss_settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Callable[[str], Settings]]:
    def build(feed_xml: str) -> Settings:
        (tmp_path / "news.xml").write_text(feed_xml, encoding="utf-8")
        s = make_settings(feeds=[{"name": "news", "kind": "rss", "url": "news.xml", "interval_seconds": 3600}])
        s = s.model_copy(update={"base_dir": str(tmp_path)})
        ensure_topics(s)
        return s

    yield build


def stop(worker: IngestWorker) -> None:
    """The worker was driven poll by poll, without its scheduler."""
    for feed in worker.feeds.values():
        feed.close()
    worker.producer.close()


def _cursor(s: Settings) -> Any:
    return StateStore(s).load("cursor/").get("cursor/news")


def test_row7_a_3mb_title_no_longer_sticks_the_feed(rss_settings: Callable[[str], Settings]) -> None:
    s = rss_settings(rss([("g1", "Acme ok", "acme one"), ("g2", "Acme " + "x" * 3_000_000, "acme big"),
                          ("g3", "Acme ok", "acme three")]))
    worker = IngestWorker(s, WorkerMetrics("ingest"))
    try:
        result = worker.poll_feed("news")
        assert result is not None, worker.health["news"].last_error  # the poll did not fail ...
        assert worker.health["news"].consecutive_failures == 0
        assert _cursor(s) is not None  # ... and its cursor was saved
        mentions = [Mention.from_bytes(v) for v in read(s, s.topics.raw)]
        assert sorted(m.native_id for m in mentions) == ["g1", "g2", "g3"]
        big = next(m for m in mentions if m.native_id == "g2")
        assert big.title is not None and len(big.title) == 2_000  # the title is capped ...
        assert len(big.to_bytes()) < 100_000  # ... so the record is small
    finally:
        stop(worker)


def test_row7_a_record_over_the_limit_is_dead_lettered_and_the_cursor_moves_on(
    rss_settings: Callable[[str], Settings],
) -> None:
    s = rss_settings(rss([("g1", "Acme ok", "acme one"), ("g2", "Acme big", "acme " + "y" * 60_000),
                          ("g3", "Acme ok", "acme three")]))
    # A producer whose max_request_size is below the 60 KB record: what a 3 MB record was for the
    # default producer before the fields were capped.
    producer = make_producer(s.kafka, "ingest", max_request_size=50_000)
    worker = IngestWorker(s, WorkerMetrics("ingest"), producer=producer)
    try:
        result = worker.poll_feed("news")
        assert result is not None, worker.health["news"].last_error
        assert _cursor(s) is not None
        assert sorted(Mention.from_bytes(v).native_id for v in read(s, s.topics.raw)) == ["g1", "g3"]
        letters = [json.loads(v) for v in read(s, s.topics.dead_letter)]
        assert [(d["error_class"], d["native_id"]) for d in letters] == [("RecordTooLarge", "g2")]
        assert letters[0]["record_bytes"] > 50_000 and "max_request_size" in letters[0]["error"]
        assert len(letters[0]["value_b64"]) < 8_000  # the dead letter carries a prefix, not the record
        assert worker.health["news"].item_errors_total == 1 and worker.health["news"].mentions_total == 2
    finally:
        stop(worker)


def test_row7_records_over_the_consumers_limit_are_never_sent(rss_settings: Callable[[str], Settings],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    s = rss_settings(rss([("g1", "Acme ok", "acme one"), ("g2", "Acme big", "acme " + "z" * 30_000)]))
    monkeypatch.setattr(worker_module, "MAX_RECORD_BYTES", 20_000)  # stands in for the 1 MB limit
    worker = IngestWorker(s, WorkerMetrics("ingest"))
    try:
        assert worker.poll_feed("news") is not None
        assert [Mention.from_bytes(v).native_id for v in read(s, s.topics.raw)] == ["g1"]
        letters = [json.loads(v) for v in read(s, s.topics.dead_letter)]
        assert [(d["error_class"], d["native_id"]) for d in letters] == [("RecordTooLarge", "g2")]
        assert "over the 20000-byte limit" in letters[0]["error"]
        # the webhook path (a push) dead-letters it the same way, inside its ack timeout
        posts = worker.feeds["news"].poll(None).posts
        worker.deliver_pushed("news", posts, [], 10.0)
        assert len(read(s, s.topics.dead_letter)) == 2
    finally:
        stop(worker)


def test_row7_a_post_the_matcher_cannot_handle_is_dead_lettered_not_a_stuck_feed(
    rss_settings: Callable[[str], Settings], monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = rss_settings(rss([("g1", "Acme ok", "acme one"), ("g2", "Acme boom", "acme two")]))
    real = worker_module.match_post

    def flaky(matcher: Any, post: Any, feed: str, fetched_at: Any) -> list[Mention]:
        if post.native_id == "g2":
            raise RecursionError("maximum recursion depth exceeded")
        return real(matcher, post, feed, fetched_at)

    monkeypatch.setattr(worker_module, "match_post", flaky)
    worker = IngestWorker(s, WorkerMetrics("ingest"))
    try:
        assert worker.poll_feed("news") is not None and _cursor(s) is not None
        assert [Mention.from_bytes(v).native_id for v in read(s, s.topics.raw)] == ["g1"]
        letters = [json.loads(v) for v in read(s, s.topics.dead_letter)]
        assert [(d["error_class"], d["native_id"]) for d in letters] == [("MalformedItem", "g2")]
        assert "RecursionError" in letters[0]["error"]
    finally:
        stop(worker)
