"""Backtest over mentions indexed in the real Elasticsearch."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from alerts.backtest import backtest_mentions
from alerts.backtest_cli import indexed_mentions
from alerts.worker import detector_config
from brandpulse.esclient import make_es, mentions_alias
from brandpulse.schema import Enrichment, Mention, Sentiment
from brandpulse.settings import Settings
from index.indexer import BulkIndexer
from index.templates import apply_templates

pytestmark = pytest.mark.integration
START = datetime(2026, 10, 1, tzinfo=UTC)


def mention(i: int, t: datetime, negative: bool) -> Mention:
    m = Mention.new(source="replay", feed="t", native_id=f"n{i}", brand="Acme", text=f"acme {i}", created_at=t)
    label = "negative" if negative else "neutral"
    e = Enrichment(version="t", sentiment=Sentiment(label=label, score=-0.5 if negative else 0.0, confidence=1,
                                                    method="test"), enriched_at=t)
    return m.model_copy(update={"enrichment": e})


def test_backtest_over_indexed_mentions_finds_the_burst(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    rnd = random.Random(3)
    ms: list[Mention] = []
    t = START
    # three quiet days (about 6 mentions an hour, 15% negative), then 40 negatives in 10 minutes
    while t < START + timedelta(days=3):
        t += timedelta(seconds=rnd.expovariate(6 / 3600))
        ms.append(mention(len(ms), t, rnd.random() < 0.15))
    burst = t + timedelta(minutes=30)
    ms.extend(mention(len(ms) + k, burst + timedelta(seconds=15 * k), True) for k in range(40))
    ix = BulkIndexer(es, prefix, s.index)
    recs = [ConsumerRecord("t", 0, -1, i, 0, 0, b"k", m.to_bytes(), [], None, 1, 1, 0) for i, m in enumerate(ms)]
    for i in range(0, len(recs), 500):
        assert ix.handle(recs[i:i + 500]).failures == []
    es.indices.refresh(index=mentions_alias(prefix))

    got = list(indexed_mentions(es, mentions_alias(prefix), "Acme", since="2026-09-30T00:00:00Z", until=None,
                                page=300))
    assert len(got) == len(ms)  # paging returned every mention once
    assert got == sorted(got)
    result = backtest_mentions(got, detector_config(s), key="Acme")
    opened = [e for e in result.events if e.kind == "opened"]
    assert len(opened) == 1
    assert burst <= opened[0].window_end and opened[0].window_start <= burst + timedelta(minutes=10)
