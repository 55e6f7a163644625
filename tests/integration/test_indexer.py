"""Real Elasticsearch: templates, idempotent bulk indexing, rejected documents."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from brandpulse.esclient import make_es, mentions_alias
from brandpulse.schema import Geo, Mention
from brandpulse.settings import Settings
from index.indexer import BulkIndexer, PermanentRejection
from index.templates import apply_templates

pytestmark = pytest.mark.integration
T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def rec(value: bytes, offset: int, topic: str = "t") -> ConsumerRecord:
    return ConsumerRecord(topic, 0, -1, offset, 0, 0, b"k", value, [], None, 1, len(value), 0)


def mention(i: int, **kw: Any) -> Mention:
    return Mention.new(source="replay", feed="t", native_id=f"n{i}", brand="Acme", text=f"acme {i}",
                       created_at=kw.pop("created_at", T), **kw)


def test_templates_are_idempotent_and_mapping_is_as_designed(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    apply_templates(es, prefix)  # second run updates in place
    ix = BulkIndexer(es, prefix, s.index)
    assert ix.handle([rec(mention(1).to_bytes(), 0)]).failures == []
    mapping = es.indices.get_mapping(index=mentions_alias(prefix))
    props = next(iter(mapping.body.values()))["mappings"]["properties"]
    assert props["brand"]["type"] == "keyword"
    assert props["created_at"]["type"] == "date"
    assert props["geo"]["type"] == "geo_point"
    assert props["enrichment"]["properties"]["sentiment"]["properties"]["score"]["type"] == "float"
    assert props["text"]["fields"]["keyword"]["type"] == "keyword"


def test_reindexing_the_same_mentions_does_not_duplicate(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    ix = BulkIndexer(es, prefix, s.index)
    batch = [rec(mention(i, created_at=T - timedelta(days=40 * (i % 2))).to_bytes(), i) for i in range(30)]
    for _ in range(2):
        assert ix.handle(batch).failures == []
    es.indices.refresh(index=mentions_alias(prefix))
    assert es.count(index=mentions_alias(prefix))["count"] == 30
    # two months -> two period indices behind one alias
    assert len(es.indices.get_alias(name=mentions_alias(prefix))) == 2


def test_rejected_documents_become_failures_and_do_not_block_the_batch(
    make_settings: Callable[..., Settings],
) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    ix = BulkIndexer(es, prefix, s.index)
    good = mention(1, geo=Geo(lat=31.5, lon=74.3))
    # a document Elasticsearch refuses: followers beyond a long's range
    bad = mention(2).to_dict()
    bad["author"] = {"followers": 10**30}
    import json

    res = ix.handle([rec(good.to_bytes(), 0), rec(json.dumps(bad).encode(), 1), rec(b"{broken", 2)])
    assert len(res.failures) == 2
    kinds = sorted(type(f.error).__name__ for f in res.failures)
    assert kinds == ["PermanentRejection", "SchemaError"]
    es.indices.refresh(index=mentions_alias(prefix))
    assert es.count(index=mentions_alias(prefix))["count"] == 1


def test_elasticsearch_rejection_reason_is_kept(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    ix = BulkIndexer(es, prefix, s.index)
    # Valid for our schema, refused by Elasticsearch: a text longer than Lucene's term limit in a
    # keyword field without ignore_above (native_id).
    m = mention(3).model_copy(update={"native_id": "x" * 40_000})
    res = ix.handle([rec(m.to_bytes(), 0)])
    assert len(res.failures) == 1
    assert isinstance(res.failures[0].error, PermanentRejection)
    assert "immense term" in str(res.failures[0].error) or "document_parsing_exception" in str(res.failures[0].error)


def test_a_polled_batch_of_several_requests_is_indexed_exactly(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(index={"batch_size": 40})
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    ix = BulkIndexer(es, prefix, s.index)
    batch = [rec(mention(i).to_bytes(), i) for i in range(150)]  # four requests: 40, 40, 40, 30
    refused = mention(95).model_copy(update={"native_id": "x" * 40_000})  # in the third request
    batch[95] = rec(refused.to_bytes(), 95)
    try:
        res = ix.handle(batch)
        again = ix.handle(batch)  # a redelivered batch overwrites
    finally:
        ix.close()
    assert [(f.record.offset, type(f.error).__name__) for f in res.failures] == [(95, "PermanentRejection")]
    assert [f.record.offset for f in again.failures] == [95]
    es.indices.refresh(index=mentions_alias(prefix))
    assert es.count(index=mentions_alias(prefix))["count"] == 149
    ids = {h["_id"] for h in es.search(index=mentions_alias(prefix), size=200, source=False)["hits"]["hits"]}
    assert ids == {mention(i).id for i in range(150) if i != 95}


def test_mentions_become_searchable_within_the_refresh_interval_with_nobody_searching(
    make_settings: Callable[..., Settings],
) -> None:
    """The template's explicit 1 s refresh: no explicit refresh, no earlier search, the shard
    search-idle (``index.search.idle.after`` shortened to 1 s) — the first search finds what was
    written 1.5 s before."""
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    index = f"{mentions_alias(prefix)}-2026.11"
    es.indices.create(index=index, settings={"index": {"search": {"idle": {"after": "1s"}}}})
    es.cluster.health(index=index, wait_for_status="yellow", timeout="30s")
    assert es.indices.get_settings(index=index)[index]["settings"]["index"]["refresh_interval"] == "1s"
    time.sleep(3)  # nobody searches: the shard goes search-idle
    ix = BulkIndexer(es, prefix, s.index)
    try:
        assert ix.handle([rec(mention(i).to_bytes(), i) for i in range(20)]).failures == []
    finally:
        ix.close()
    time.sleep(1.5)
    assert len(es.search(index=index, query={"match_all": {}}, size=50)["hits"]["hits"]) == 20
