"""The digest: period boundaries, what it counts, how each channel renders it, once per period."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from alerts.channels import Dispatcher, InMemoryDeliveryLog, Record, Route, build_channel
from alerts.channels.digest import format_digest_console
from alerts.channels.email import EmailOptions, build_message
from alerts.channels.slack import build_payload as slack_payload
from alerts.channels.teams import build_payload as teams_payload
from alerts.detector import AlertEvent
from alerts.digest import (
    BrandVolume,
    DigestJob,
    alert_event,
    build_digest,
    closed_period,
    fetch_period,
)
from brandpulse.schema import DigestBrand, DigestRecord

H = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def test_closed_period_is_the_last_whole_utc_hour_or_day() -> None:
    assert closed_period(datetime(2026, 3, 1, 12, 7, 30, tzinfo=UTC), "hourly") == (H, H + timedelta(hours=1))
    # exactly on the boundary, the hour that just ended is closed
    assert closed_period(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "hourly") == (H, H + timedelta(hours=1))
    assert closed_period(datetime(2026, 3, 1, 11, 59, 59, tzinfo=UTC), "hourly")[0] == H - timedelta(hours=1)
    assert closed_period(datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC), "daily") == (
        datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    # a non-UTC "now" is the same instant
    plus5 = datetime(2026, 3, 1, 17, 7, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))
    assert closed_period(plus5, "hourly") == (datetime(2026, 3, 1, 16, tzinfo=UTC), datetime(2026, 3, 1, 17, tzinfo=UTC))
    with pytest.raises(ValueError):
        closed_period(datetime(2026, 3, 1, 12, 0), "hourly")


def event(kind: str, alert_id: str, key: str, at: datetime, severity: str = "high", neg: int = 30, seq: int = 0
          ) -> AlertEvent:
    return AlertEvent(kind=kind, alert_id=alert_id, key=key, severity=severity, window_start=at - timedelta(minutes=5),  # type: ignore[arg-type]
                      window_end=at, observed_negative=neg, expected_negative=2.0, observed_total=40,
                      expected_total=10.0, negative_share=0.75, expected_share=0.2, score=0.9, p_value=1e-9,
                      reason="r", seq=seq, emitted_at=at)


def sample(groups: dict[str, list[str]] | None = None) -> DigestRecord:
    volumes = [BrandVolume("Globex", 50, 5), BrandVolume("Acme", 100, 20, ("refund", "delay"))]
    events = [
        event("opened", "a1", "Acme", H + timedelta(minutes=10), "medium", 12),
        event("updated", "a1", "Acme", H + timedelta(minutes=15), "critical", 40, seq=1),
        event("resolved", "a1", "Acme", H + timedelta(minutes=50), "critical", 40, seq=2),
        event("opened", "a2", "Acme|lang=ur", H + timedelta(minutes=20), "low", 6),
        event("opened", "x9", "Acme", H + timedelta(hours=1), "critical", 99),  # next period
        event("opened", "i1", "Initech", H + timedelta(minutes=59, seconds=59), "low", 5),
    ]
    return build_digest("hourly", H, H + timedelta(hours=1), volumes, events, groups)


def test_build_digest_counts_per_brand_for_the_period_only() -> None:
    d = sample()
    assert d.event == "digest" and d.idempotency_key == "digest:hourly:2026-03-01T11:00Z"
    rows = {r.brand: r for r in d.brands}
    acme = rows["Acme"]
    assert (acme.volume, acme.negative, acme.negative_share) == (100, 20, 0.2)
    assert acme.alerts_opened == 2 and acme.alert_ids == ("a1", "a2")  # brand and brand|lang series
    assert acme.worst_severity == "critical" and acme.peak_negative == 40  # x9 is in the next hour
    assert acme.top_keywords == ("refund", "delay")
    assert rows["Initech"].alerts_opened == 1 and rows["Initech"].volume == 0  # alerts without volume
    assert rows["Globex"].alerts_opened == 0 and rows["Globex"].worst_severity == "none"
    assert [r.brand for r in d.brands] == ["Acme", "Initech", "Globex"]
    assert d.summary == "150 mentions across 3 brands, 3 alerts opened"
    assert DigestRecord.from_bytes(d.to_bytes()) == d  # JSON-ready for the webhook and the state topic


def test_share_of_voice_puts_each_groups_brands_side_by_side() -> None:
    volumes = [BrandVolume("Acme", 300, 60, stories=40), BrandVolume("Globex", 100, 30, stories=9),
               BrandVolume("Initech", 50, 1, stories=3)]
    d = build_digest("daily", H, H + timedelta(days=1), volumes, [],
                     {"rivals": ["Globex", "Acme"], "all three": ["Acme", "Globex", "Initech", "Hooli"]})
    rivals, everyone = d.share_of_voice
    assert rivals.group == "rivals" and rivals.volume == 400
    assert [(b.brand, b.share_of_voice, b.negative_share, b.stories) for b in rivals.brands] == [
        ("Globex", 0.25, 0.3, 9), ("Acme", 0.75, 0.2, 40)]  # the group's order, not the busiest first
    assert [b.brand for b in everyone.brands] == ["Acme", "Globex", "Initech", "Hooli"]
    assert everyone.brands[-1].volume == 0 and everyone.brands[-1].share_of_voice == 0.0  # no mentions: 0, shown
    assert sum(b.share_of_voice for b in everyone.brands) == pytest.approx(1.0, abs=1e-3)
    assert {r.brand: r.stories for r in d.brands} == {"Acme": 40, "Globex": 9, "Initech": 3}
    text = format_digest_console(d)
    assert "share of voice, rivals: Globex 25% (100 mentions, 30% negative, 9 stories) · Acme 75%" in text
    assert "Acme: 300 mentions · 60 negative (20%) · 40 stories" in text
    slack = json.dumps(slack_payload(d), ensure_ascii=False)
    assert "Share of voice · rivals" in slack
    card = teams_payload(d)["attachments"][0]["content"]
    assert any(b.get("text") == "Share of voice · all three" for b in card["body"])
    opts = EmailOptions.model_validate({"host": "localhost", "from": "a@example.com", "to": ["b@example.com"]})
    msg = build_message(d, opts, now=H.timestamp())
    html = msg.get_body(("html",))
    assert html is not None and "<h3>Share of voice · rivals</h3>" in html.get_content()


class FakeEs:
    """Answers the two searches of fetch_period with canned Elasticsearch responses."""

    def __init__(self, alert_docs: list[dict[str, Any]]) -> None:
        self.alert_docs = alert_docs
        self.calls: list[dict[str, Any]] = []

    def options(self, **kw: Any) -> FakeEs:
        return self

    def search(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        if kw["index"].endswith("-alerts"):
            return {"hits": {"hits": [{"_source": d} for d in self.alert_docs]}}
        return {"aggregations": {"brands": {"buckets": [
            {"key": "Acme", "doc_count": 12, "stories": {"value": 5},
             "neg": {"doc_count": 4, "kw": {"buckets": [{"key": "refund"}]}}}]}}}


def test_fetch_period_counts_distinct_stories_and_reads_alert_documents_as_records() -> None:
    good = {**event("opened", "a1", "Acme", H + timedelta(minutes=5)).to_dict(), "brand": "Acme"}
    good["event"] = good.pop("kind")
    es = FakeEs([good, {"alert_id": "broken"}])
    volumes, events = fetch_period(es, "bp", H, H + timedelta(hours=1))  # type: ignore[arg-type]
    assert volumes == [BrandVolume("Acme", 12, 4, ("refund",), 5)]
    assert [e.alert_id for e in events] == ["a1"]  # the unreadable document is skipped
    aggs = es.calls[0]["aggs"]["brands"]["aggs"]
    assert aggs["stories"]["cardinality"]["field"] == "enrichment.story_id"


def test_alert_event_reads_an_alert_record_back() -> None:
    rec = {**event("opened", "a1", "Acme|lang=en", H).to_dict(), "brand": "Acme"}
    rec["event"] = rec.pop("kind")
    ev = alert_event(rec)
    assert ev is not None and ev.kind == "opened" and ev.key == "Acme|lang=en" and ev.emitted_at == H
    assert alert_event({"alert_id": "x"}) is None


def test_each_channel_renders_the_digest() -> None:
    base = sample()
    first = DigestBrand.model_validate({**base.brands[0].model_dump(), "brand": "Acme <!channel>"})
    d = DigestRecord.model_validate({**base.model_dump(), "brands": [first, *base.brands[1:]]})
    text = format_digest_console(d)
    assert text.splitlines()[0].startswith("DIGEST Hourly digest 2026-03-01 11:00–12:00 UTC: 150 mentions")
    assert "100 mentions · 20 negative (20%) · 2 alerts opened (critical) · keywords: refund, delay" in text

    slack = slack_payload(d)
    assert slack["blocks"][0]["type"] == "header" and "Hourly digest" in slack["blocks"][0]["text"]["text"]
    rendered = json.dumps(slack)
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered  # text from data cannot ping

    card = teams_payload(d)["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert facts[0]["title"] == "Acme <!channel>" and "20 negative (20%)" in facts[0]["value"]

    opts = EmailOptions.model_validate({"host": "localhost", "from": "a@example.com", "to": ["b@example.com"]})
    msg = build_message(d, opts, now=H.timestamp())
    assert msg["Subject"].startswith("[BrandPulse][DIGEST] Hourly digest 2026-03-01 11:00–12:00 UTC")
    assert msg["X-BrandPulse-Idempotency-Key"] == "digest:hourly:2026-03-01T11:00Z"
    body = msg.get_body(("plain",))
    assert body is not None and "- Initech: 0 mentions" in body.get_content()
    html = msg.get_body(("html",))
    assert html is not None and "&lt;!channel&gt;" in html.get_content()


def test_webhook_posts_the_digest_record_signed_with_its_key() -> None:
    ch = build_channel("hook", "webhook", {"url": "http://127.0.0.1:9/x", "secret": {"env": "PATH"}})
    body, headers = ch.build_request(sample())  # type: ignore[attr-defined]
    assert headers["Idempotency-Key"] == "digest:hourly:2026-03-01T11:00Z"
    assert json.loads(body)["brands"][0]["brand"] == "Acme"


class Recorder:
    kind = "webhook"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[DigestRecord] = []

    def send(self, alert: Record) -> None:
        assert isinstance(alert, DigestRecord)
        self.sent.append(alert)


def test_digest_job_sends_each_period_once_per_channel_across_restarts() -> None:
    stored: dict[tuple[str, str], None] = {}
    now = [datetime(2026, 3, 1, 12, 11, tzinfo=UTC)]
    fetched: list[tuple[datetime, datetime]] = []

    def fetch(start: datetime, end: datetime) -> tuple[list[BrandVolume], list[AlertEvent]]:
        fetched.append((start, end))
        return [BrandVolume("Acme", 3, 1)], []

    def worker(channels: list[Recorder]) -> tuple[Dispatcher, DigestJob]:
        log = InMemoryDeliveryLog(lambda: list(stored), lambda c, k: stored.__setitem__((c, k), None))
        d = Dispatcher(channels, [Route(channels=("other",))], log)
        return d, DigestJob("hourly", d, ["a", "b"], fetch, clock=lambda: now[0], delay=timedelta(minutes=5))

    a, b = Recorder("a"), Recorder("b")
    d, job = worker([a, b])
    assert job.run_once() is not None and job.run_once() is None  # the second check: already done
    assert d.wait_idle(5)
    assert [x.period_start for x in a.sent] == [H] and len(b.sent) == 1
    assert fetched == [(H, H + timedelta(hours=1))]
    d.close(1)

    # restart: a new process, the same delivery log (the state topic)
    a2, b2 = Recorder("a"), Recorder("b")
    d2, job2 = worker([a2, b2])
    job2.run_once()
    assert d2.wait_idle(5) and a2.sent == [] and b2.sent == []
    now[0] += timedelta(hours=1)  # the next hour closes
    job2.run_once()
    assert d2.wait_idle(5) and len(a2.sent) == 1 and a2.sent[0].period_start == H + timedelta(hours=1)
    d2.close(1)


def test_digest_job_waits_for_the_delay_and_only_the_sender_sends() -> None:
    sent: list[str] = []
    job = DigestJob("daily", None, [], lambda s, e: ([], []), console=sent.append,
                    clock=lambda: datetime(2026, 3, 2, 0, 3, tzinfo=UTC), delay=timedelta(minutes=5))
    record = job.run_once()
    assert record is not None and record.period_start.isoformat() == "2026-02-28T00:00:00+00:00"  # 1 March is not over + 5 min
    assert sent and "no mentions" in sent[0]
    other = DigestJob("daily", None, [], lambda s, e: ([], []), is_sender=lambda: False)
    assert other.run_once() is None
