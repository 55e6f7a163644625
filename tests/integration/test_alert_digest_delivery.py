"""The digest end to end, without the worker loop: mentions and alert records indexed in the
local Elasticsearch, the digest job reads the closed hour, sends it to a signed webhook (a local
receiver that checks the HMAC), records the delivery in the real state topic; a restarted job
(new dispatcher, delivery log loaded from Kafka) sends nothing again."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels import (
    ChannelsConfig,
    Dispatcher,
    InMemoryDeliveryLog,
    build_dispatcher,
    state_store_hooks,
)
from alerts.digest import DigestJob, fetch_period
from brandpulse.esclient import alerts_index, make_es
from brandpulse.kafkaio import ensure_topics
from brandpulse.schema import Enrichment, Language, Mention, Sentiment
from brandpulse.settings import Settings
from brandpulse.state import StateStore
from index.templates import apply_templates, mention_index, to_document

sys.path.insert(0, str(Path(__file__).resolve().parent))
from receivers import HttpReceiver, signature_checker

pytestmark = pytest.mark.integration
SECRET = "digest-signing-secret"
H = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def mention(i: int, brand: str, at: datetime, negative: bool, keywords: tuple[str, ...] = ()) -> Mention:
    m = Mention.new(source="replay", feed="t", native_id=f"n{i}", brand=brand, text=f"post {i}", created_at=at)
    e = Enrichment(version="1", language=Language(code="en", confidence=1, method="t"),
                   sentiment=Sentiment(label="negative" if negative else "positive", score=-0.5 if negative else 0.5,
                                       confidence=0.9, method="t"),
                   enriched_at=at, keywords=keywords)
    return m.model_copy(update={"enrichment": e})


def test_hourly_digest_is_delivered_once_per_channel_even_after_a_restart(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_settings(alerts={"digest": "hourly"})
    ensure_topics(s)
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix)
    docs = [mention(i, "Acme", H + timedelta(minutes=i), negative=i % 4 == 0, keywords=("refund",) if i % 4 == 0 else ())
            for i in range(40)]
    docs += [mention(100 + i, "Globex", H + timedelta(minutes=2 * i), negative=False) for i in range(10)]
    docs += [mention(200, "Acme", H - timedelta(minutes=1), negative=True),  # previous hour
             mention(201, "Acme", H + timedelta(hours=1), negative=True)]  # next hour
    for m in docs:
        es.index(index=mention_index(prefix, m.created_at, s.index.granularity), id=m.id, document=to_document(m))
    for seq, (event, minute) in enumerate([("opened", 12), ("updated", 14), ("resolved", 40)]):
        at = (H + timedelta(minutes=minute)).isoformat()
        es.index(index=alerts_index(prefix), id=f"a1-{seq}", document={
            "alert_id": "a1", "event": event, "seq": seq, "key": "Acme", "brand": "Acme", "severity": "high",
            "window_start": at, "window_end": at, "raised_at": at, "emitted_at": at, "observed_negative": 9,
            "expected_negative": 1.5})
    es.indices.refresh(index=f"{prefix}-*")

    receiver = HttpReceiver()
    receiver.script("/digest", signature_checker(SECRET.encode()))
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    channels = ChannelsConfig.model_validate({"channels": [
        {"name": "hook", "kind": "webhook", "url": receiver.url("/digest"), "secret": {"env": "DIGEST_SECRET"}}]})
    store = StateStore(s)

    def start() -> tuple[DigestJob, Dispatcher]:
        loader, persist = state_store_hooks(store)
        dispatcher = build_dispatcher(channels, delivery_log=InMemoryDeliveryLog(loader, persist))
        job = DigestJob("hourly", dispatcher, ["hook"], lambda a, b: fetch_period(es, prefix, a, b),
                        clock=lambda: H + timedelta(hours=1, minutes=12))
        return job, dispatcher

    try:
        job, dispatcher = start()
        record = job.run_once()
        assert record is not None
        assert dispatcher.wait_idle(30)
        dispatcher.close(5)
        (hit,) = receiver.hits("/digest")
        assert signature_checker(SECRET.encode())(hit).status == 200
        body = hit.json()
        assert hit.headers["idempotency-key"] == body["idempotency_key"] == "digest:hourly:2026-03-01T11:00Z"
        rows = {r["brand"]: r for r in body["brands"]}
        assert (rows["Acme"]["volume"], rows["Acme"]["negative"], rows["Acme"]["negative_share"]) == (40, 10, 0.25)
        assert rows["Acme"]["alerts_opened"] == 1 and rows["Acme"]["alert_ids"] == ["a1"]
        assert rows["Acme"]["top_keywords"] == ["refund"] and rows["Acme"]["worst_severity"] == "high"
        assert (rows["Globex"]["volume"], rows["Globex"]["negative"], rows["Globex"]["alerts_opened"]) == (10, 0, 0)

        # restart: a new process loads the delivery log from the state topic and sends nothing
        job2, dispatcher2 = start()
        assert job2.run_once() is not None
        assert dispatcher2.wait_idle(30)
        dispatcher2.close(5)
        assert len(receiver.hits("/digest")) == 1
    finally:
        store.close()
        receiver.close()
