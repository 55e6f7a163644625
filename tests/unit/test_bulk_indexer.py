"""The bulk writer's pipeline against a scripted Elasticsearch client: requests of
``index.batch_size`` documents, one in flight while the next chunk is prepared, and the failure
semantics kept — per-document 429/5xx retries, permanent rejections, RetryLater for an
unreachable node, and nothing left running when ``handle`` returns or raises."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError
from kafka.consumer.fetcher import ConsumerRecord

from brandpulse.loop import RetryLater
from brandpulse.schema import ALERT_SCHEMA_VERSION, AlertRecord, Mention, SchemaError
from brandpulse.settings import IndexSettings
from index import indexer
from index.indexer import BulkIndexer, PermanentRejection
from index.templates import to_document

T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
Script = Callable[[int, list[tuple[dict[str, Any], dict[str, Any]]]], dict[str, Any] | Exception]


def rec(value: bytes, offset: int, topic: str = "enriched") -> ConsumerRecord:
    return ConsumerRecord(topic, 0, -1, offset, 0, 0, b"k", value, [], None, 1, len(value), 0)


def mention(i: int) -> Mention:
    return Mention.new(source="replay", feed="t", native_id=f"n{i}", brand="Acme", text=f"acme {i}", created_at=T,
                       fetched_at=T)


def ok(n: int) -> dict[str, Any]:
    return {"errors": False, "items": [{"index": {"status": 201}} for _ in range(n)]}


class FakeEs:
    """Parses each bulk body back into (action, document) pairs and answers from ``script``
    (request number, pairs) → response or exception. Tracks how many requests overlap."""

    def __init__(self, script: Script | None = None, delay: float = 0.0) -> None:
        self.script = script or (lambda _n, pairs: ok(len(pairs)))
        self.delay = delay
        self.requests: list[list[tuple[dict[str, Any], dict[str, Any]]]] = []
        self.kwargs: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        self.started = threading.Event()
        self.release: threading.Event | None = None  # when set, the first request waits for it

    def bulk(self, *, operations: bytes, **kwargs: Any) -> dict[str, Any]:
        assert isinstance(operations, bytes) and operations.endswith(b"\n")
        lines = operations.decode("utf-8").split("\n")[:-1]
        pairs = [(json.loads(lines[k]), json.loads(lines[k + 1])) for k in range(0, len(lines), 2)]
        with self.lock:
            n = len(self.requests)
            self.requests.append(pairs)
            self.kwargs.append(kwargs)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.started.set()
        try:
            if n == 0 and self.release is not None:
                assert self.release.wait(10), "the next chunk was never prepared while this request was out"
            time.sleep(self.delay)
            answer = self.script(n, pairs)
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            with self.lock:
                self.active -= 1


def api_error(status: int) -> ApiError:
    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "localhost", 9200))
    return ApiError(f"status {status}", meta, {})


def make(es: FakeEs, batch_size: int = 100, **kw: Any) -> BulkIndexer:
    sleeps: list[float] = []
    ix = BulkIndexer(es, "bp", IndexSettings(batch_size=batch_size), alerts_topic="alerts",  # type: ignore[arg-type]
                     sleep=sleeps.append, **kw)
    ix.sleeps = sleeps  # type: ignore[attr-defined]
    return ix


def test_a_polled_batch_is_written_as_requests_of_batch_size_in_order_each_document_once() -> None:
    es = FakeEs()
    ix = make(es, batch_size=100)
    batch = [rec(mention(i).to_bytes(), i) for i in range(350)]
    try:
        assert ix.handle(batch).failures == []
    finally:
        ix.close()
    assert [len(r) for r in es.requests] == [100, 100, 100, 50]
    sent = [(action["index"]["_id"], doc["native_id"]) for r in es.requests for action, doc in r]
    assert sent == [(mention(i).id, f"n{i}") for i in range(350)]
    action, doc = es.requests[0][0]
    assert action == {"index": {"_index": "bp-mentions-2026.11", "_id": mention(0).id}}
    assert doc == to_document(mention(0), datetime.fromisoformat(doc["indexed_at"]))
    assert all(kw["refresh"] is False for kw in es.kwargs)


def test_the_next_chunk_is_prepared_while_a_request_is_in_flight_and_never_two_requests() -> None:
    es = FakeEs(delay=0.01)
    es.release = threading.Event()
    ix = make(es, batch_size=50)
    prepared: list[int] = []
    real = ix._prepare

    def spy(records: Any, start: int, stop: int, *rest: Any) -> Any:
        out = real(records, start, stop, *rest)
        prepared.append(start)
        if start == 50:  # chunk 2 is ready: only now may request 1 answer
            es.release.set()  # type: ignore[union-attr]
        return out

    ix._prepare = spy  # type: ignore[method-assign,assignment]
    try:
        assert ix.handle([rec(mention(i).to_bytes(), i) for i in range(200)]).failures == []
    finally:
        ix.close()
    assert prepared == [0, 50, 100, 150]
    assert len(es.requests) == 4 and es.max_active == 1


def test_only_refused_documents_are_retried_and_rejections_name_their_record() -> None:
    def script(n: int, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for _action, doc in pairs:
            i = int(doc["native_id"][1:])
            if n == 0 and i % 10 == 3:
                items.append({"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}})
            elif i == 7:
                items.append({"index": {"status": 400, "error": {"type": "document_parsing_exception",
                                                                 "reason": "failed to parse [geo]"}}})
            else:
                items.append({"index": {"status": 200}})
        return {"errors": any(it["index"]["status"] >= 300 for it in items), "items": items}

    es = FakeEs(script)
    ix = make(es, batch_size=100)
    batch = [rec(mention(i).to_bytes(), i) for i in range(30)]
    try:
        result = ix.handle(batch)
    finally:
        ix.close()
    assert [sorted(int(d["native_id"][1:]) for _, d in r) for r in es.requests[1:]] == [[3, 13, 23]]
    assert len(ix.sleeps) == 1  # type: ignore[attr-defined]
    (failure,) = result.failures
    assert failure.record is batch[7] and isinstance(failure.error, PermanentRejection)
    assert str(failure.error) == "document_parsing_exception: failed to parse [geo]"


def test_documents_refused_on_every_attempt_raise_retry_later() -> None:
    es = FakeEs(lambda _n, pairs: {"errors": True, "items": [{"index": {"status": 503}} for _ in pairs]})
    ix = make(es, batch_size=100, attempts=3)
    with pytest.raises(RetryLater, match="still refused"):
        ix.handle([rec(mention(i).to_bytes(), i) for i in range(5)])
    ix.close()
    assert len(es.requests) == 3


@pytest.mark.parametrize("error", [TransportConnectionError("refused"), api_error(503), api_error(429)])
def test_a_node_that_is_down_stops_the_batch_with_retry_later_and_sends_nothing_after(error: Exception) -> None:
    es = FakeEs(lambda n, pairs: error if n == 1 else ok(len(pairs)))
    ix = make(es, batch_size=10)
    with pytest.raises(RetryLater):
        ix.handle([rec(mention(i).to_bytes(), i) for i in range(50)])
    ix.close()
    # request 2 failed; chunk 3 was prepared meanwhile but must not have been sent
    assert len(es.requests) == 2 and es.active == 0


def test_a_permanent_api_error_for_the_whole_request_is_raised() -> None:
    es = FakeEs(lambda _n, _pairs: api_error(400))
    ix = make(es)
    with pytest.raises(ApiError):
        ix.handle([rec(mention(1).to_bytes(), 0)])
    ix.close()


def test_a_failure_while_preparing_waits_for_the_request_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    es = FakeEs(delay=0.2)
    ix = make(es, batch_size=10)
    real = indexer.document_json
    calls = [0]

    def boom(m: Mention, at: datetime, groups: object = None) -> bytes:
        calls[0] += 1
        if calls[0] > 10:  # the second chunk, while the first is out
            raise RuntimeError("bug")
        return real(m, at)

    monkeypatch.setattr(indexer, "document_json", boom)
    with pytest.raises(RuntimeError):
        ix.handle([rec(mention(i).to_bytes(), i) for i in range(20)])
    assert es.active == 0 and len(es.requests) == 1
    ix.close()


def test_unreadable_records_and_alerts_beside_mentions() -> None:
    es = FakeEs()
    ix = make(es, batch_size=3)
    alert = AlertRecord(alert_id="a1", event="opened", seq=2, reason="spike", key="Acme", brand="Acme",
                        severity="high", window_start=T, window_end=T, raised_at=T, idempotency_key="a1:2",
                        observed_negative=9, expected_negative=1.0).to_dict()
    batch = [rec(mention(0).to_bytes(), 0), rec(b"{broken", 1), rec(json.dumps(alert).encode(), 2, "alerts"),
             rec(b"[]", 3, "alerts"), rec(mention(1).to_bytes(), 4)]
    try:
        result = ix.handle(batch)
    finally:
        ix.close()
    assert [(f.record.offset, type(f.error).__name__) for f in result.failures] == [(1, "SchemaError"),
                                                                                    (3, "UnreadableAlert")]
    assert isinstance(result.failures[0].error, SchemaError)
    actions = [a["index"] for r in es.requests for a, _ in r]
    assert actions == [{"_index": "bp-mentions-2026.11", "_id": mention(0).id},
                       {"_index": "bp-alerts", "_id": "a1-2"},
                       {"_index": "bp-mentions-2026.11", "_id": mention(1).id}]
    assert es.requests[0][1][1] == alert


def test_a_batch_with_nothing_to_write_sends_nothing() -> None:
    es = FakeEs()
    ix = make(es)
    assert len(ix.handle([rec(b"nope", 0)]).failures) == 1
    ix.close()
    assert es.requests == []


def test_re_sending_a_batch_sends_the_same_ids_to_the_same_indices() -> None:
    es = FakeEs()
    ix = make(es, batch_size=4)
    batch = [rec(mention(i).to_bytes(), i) for i in range(10)]
    try:
        ix.handle(batch)
        ix.handle(batch)
    finally:
        ix.close()
    first = [a for r in es.requests[:3] for a, _ in r]
    again = [a for r in es.requests[3:] for a, _ in r]
    assert len(first) == 10 and first == again


def test_alert_records_are_read_typed_old_ones_upgraded_newer_ones_dead_lettered_by_name() -> None:
    v1 = {"kind": "opened", "event": "opened", "alert_id": "a9", "key": "Acme|lang=en", "brand": "Acme",
          "severity": "medium", "window_start": "2026-11-20T17:00:00+00:00",
          "window_end": "2026-11-20T17:05:00+00:00", "raised_at": "2026-11-20T17:05:00+00:00",
          "observed_negative": 12, "expected_negative": 2.5, "observed_total": 30, "expected_total": 20.0,
          "negative_share": 0.4, "expected_share": 0.12, "score": 0.7, "p_value": 1e-6, "reason": "r",
          "top_mentions": [{"id": "m1", "created_at": "2026-11-20T17:01:00+00:00", "text": "late again",
                            "url": None, "author": "zed", "followers": 3, "lang": "en", "hashtags": [],
                            "keywords": ["late"], "places": []}],
          "mention_ids": ["m1"], "top_hashtags": [], "top_keywords": ["late"], "languages": {"en": 1},
          "locations": []}
    newer = {**v1, "schema_version": ALERT_SCHEMA_VERSION + 1}
    newer.pop("kind")
    es = FakeEs()
    ix = make(es, batch_size=10)
    batch = [rec(json.dumps(v1).encode(), 0, "alerts"), rec(json.dumps(newer).encode(), 1, "alerts"),
             rec(json.dumps({**v1, "severity": ""}).encode(), 2, "alerts")]
    try:
        result = ix.handle(batch)
    finally:
        ix.close()
    assert [(f.record.offset, type(f.error).__name__) for f in result.failures] == [
        (1, "NewerAlertVersion"), (2, "UnreadableAlert")]
    assert "deadletter replay --stage index --error-class NewerAlertVersion" in str(result.failures[0].error)
    assert "severity" in str(result.failures[1].error)  # the reason names the field
    [(action, doc)] = [pair for r in es.requests for pair in r]
    assert action["index"] == {"_index": "bp-alerts", "_id": "a9-opened-12"}  # a v1 record without seq
    assert doc["schema_version"] == ALERT_SCHEMA_VERSION and "kind" not in doc
    assert doc["idempotency_key"] == "a9:opened:12" and doc["top_mentions"][0]["negative"] is True
