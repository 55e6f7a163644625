"""Pure parts of the alert worker: which series a mention feeds, and what an alert says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alerts.channels.console import format_console
from alerts.context import Sample, to_us
from alerts.detector import AlertEvent
from alerts.worker import alert_record, series_keys
from brandpulse.schema import Enrichment, Language, Mention, Sentiment
from brandpulse.settings import Settings

T = datetime(2026, 11, 20, 17, 45, tzinfo=UTC)


def mention(lang: str = "ur") -> Mention:
    m = Mention.new(source="replay", feed="f", native_id="n1", brand="Nimbus Air", text="x", created_at=T)
    e = Enrichment(version="1", language=Language(code=lang, confidence=1, method="t"),
                   sentiment=Sentiment(label="negative", score=-0.8, confidence=0.9, method="t"), enriched_at=T)
    return m.model_copy(update={"enrichment": e})


def test_series_keys_follow_config() -> None:
    m = mention()
    assert series_keys(m, ()) == ["Nimbus Air"]
    assert series_keys(m, ("lang", "source")) == ["Nimbus Air", "Nimbus Air|lang=ur", "Nimbus Air|source=replay"]


def test_alert_record_carries_what_a_team_needs() -> None:
    ev = AlertEvent(kind="opened", alert_id="a1", key="Nimbus Air|lang=ur", severity="high", window_start=T,
                    window_end=T + timedelta(minutes=5), observed_negative=30, expected_negative=1.5,
                    observed_total=34, expected_total=6.0, negative_share=0.88, expected_share=0.2,
                    score=0.999, p_value=1e-9, reason="30 negative mentions vs 1.5 expected")
    samples = [
        Sample(seq=i, id=f"m{i}", t_us=to_us(T + timedelta(seconds=i)), text=f"bad {i}", url=f"https://x/{i}",
               author=f"u{i}", followers=i * 100, lang="ur" if i % 2 else "en", source="replay", story_id=None,
               negative=True, hashtags=("#nimbusairfail",), keywords=("lost bag",), places=("Karachi",))
        for i in range(8)
    ]
    old = replace(samples[0], id="old", t_us=to_us(T - timedelta(hours=2)))
    rec = alert_record(ev, [old, *samples], Settings.model_validate({"brands": [{"name": "Nimbus Air"}]}))
    assert rec.brand == "Nimbus Air" and rec.event == "opened" and rec.severity == "high"
    assert "old" not in rec.mention_ids and len(rec.mention_ids) == 8  # only the window's posts
    assert [m.id for m in rec.top_mentions] == ["m7", "m6", "m5", "m4", "m3"]  # by reach
    assert rec.top_hashtags == ("#nimbusairfail",) and rec.locations == ("Karachi",)
    assert rec.languages == {"ur": 4, "en": 4}
    text = format_console(rec)
    assert "[HIGH] Nimbus Air" in text and "#nimbusairfail" in text and "@u7" in text
