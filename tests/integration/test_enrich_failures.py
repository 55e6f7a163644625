"""A tagger that fails does not lose the mention: real enrich worker -> Kafka -> real indexer -> ES.

Issue #11: one Arabic post with a tatweel (U+0640) used to raise IndexError in the Arabic lexicon
tokenizer and the whole mention was dead-lettered. Here the tatweel post and a post on which a
tagger raises (an injected fault in the keyword tagger) go through the real enrichment stage and
the real bulk indexer on the shared stack; both must be searchable in Elasticsearch, the failure
named on the second, nothing dead-lettered, and the failure counted in the worker's metrics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from brandpulse.esclient import make_es
from brandpulse.kafkaio import ensure_topics, group_lag, make_consumer, make_producer, topic_count
from brandpulse.loop import ConsumeLoop, StopFlag
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import Mention
from brandpulse.settings import Settings
from enrich.worker import EnrichStage, make_enricher
from index.indexer import BulkIndexer
from index.templates import apply_templates, mentions_alias

pytestmark = pytest.mark.integration
T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
TATWEEL_POST = "خدمة عملاء Acme ســـيئة جـــدا ـ ما حد يرد ـ"
EXPLODING_POST = "Acme EXPLODE: the keyword tagger raises on this one"


def _run(loop: ConsumeLoop, stop: StopFlag, done: Callable[[], bool], timeout: float = 240) -> None:
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        time.sleep(0.3)
    stop.set()
    t.join(30)
    assert done(), "stage did not finish in time"


def test_failing_tagger_and_tatweel_post_are_indexed_with_the_failure_recorded(
    make_settings: Callable[..., Settings],
) -> None:
    s = make_settings()
    ensure_topics(s)
    posts = [
        Mention.new(source="replay", feed="t", native_id="tatweel", brand="Acme", text=TATWEEL_POST,
                    created_at=T, lang="ar"),
        Mention.new(source="replay", feed="t", native_id="explode", brand="Acme", text=EXPLODING_POST,
                    created_at=T),
        Mention.new(source="replay", feed="t", native_id="fine", brand="Acme", text="Acme support was great",
                    created_at=T),
    ]
    prod = make_producer(s.kafka, "test")
    for m in posts:
        prod.send(s.topics.raw, key=m.kafka_key, value=m.to_bytes())
    prod.flush()

    # --- the real enrichment stage, with one tagger that raises for one text
    enricher = make_enricher(s)
    real = enricher.keywords.extract_words

    def flaky(words: Any, lang: str | None, *, brand: str | None = None) -> Any:
        if "EXPLODE" in words:
            raise RuntimeError("keyword tagger blew up")
        return real(words, lang, brand=brand)

    enricher.keywords.extract_words = flaky  # type: ignore[method-assign]
    metrics = WorkerMetrics("enrich")
    stage = EnrichStage(enricher, s.topics.enriched, metrics)
    group = f"{s.workers.group_prefix}-enrich"
    stop = StopFlag()
    consumer = make_consumer(s.kafka, "enrich", group, [s.topics.raw])
    loop = ConsumeLoop(consumer=consumer, producer=prod, handler=stage, dead_letter_topic=s.topics.dead_letter,
                       metrics=metrics, stop=stop, poll_timeout_ms=200)
    _run(loop, stop, lambda: group_lag(s, group, [s.topics.raw]) == 0)
    consumer.close()
    assert topic_count(s, s.topics.dead_letter) == 0
    assert topic_count(s, s.topics.enriched) == 3
    assert metrics.registry.get_sample_value(
        "brandpulse_enrich_tagger_failures_total", {"tagger": "keywords", "error": "RuntimeError"}
    ) == 1.0

    # --- the real indexer
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    indexer = BulkIndexer(es, prefix, s.index, alerts_topic=s.topics.alerts)
    igroup = f"{s.workers.group_prefix}-index"
    istop = StopFlag()
    iconsumer = make_consumer(s.kafka, "index", igroup, [s.topics.enriched])
    iloop = ConsumeLoop(consumer=iconsumer, producer=prod, handler=indexer, dead_letter_topic=s.topics.dead_letter,
                        metrics=WorkerMetrics("index"), stop=istop, poll_timeout_ms=200)
    _run(iloop, istop, lambda: group_lag(s, igroup, [s.topics.enriched]) == 0)
    iconsumer.close()
    prod.close()
    es.indices.refresh(index=mentions_alias(prefix))
    hits = es.search(index=mentions_alias(prefix), query={"ids": {"values": [m.id for m in posts]}}, size=10)
    docs = {h["_source"]["native_id"]: h["_source"] for h in hits["hits"]["hits"]}
    assert set(docs) == {"tatweel", "explode", "fine"}

    tatweel = docs["tatweel"]["enrichment"]
    assert tatweel["failures"] == []
    assert tatweel["language"]["code"] == "ar"
    assert tatweel["sentiment"]["label"] in ("negative", "neutral", "positive")
    assert tatweel["sentiment"]["method"] != "failed"

    explode = docs["explode"]["enrichment"]
    assert explode["failures"] == [{"tagger": "keywords", "error": "RuntimeError: keyword tagger blew up"}]
    assert explode["keywords"] == []  # the failed tagger's part is empty ...
    assert explode["sentiment"]["label"] in ("negative", "neutral", "positive")  # ... the others ran
    assert explode["language"]["code"] == "en"
    assert docs["fine"]["enrichment"]["failures"] == []
    assert topic_count(s, s.topics.dead_letter) == 0
