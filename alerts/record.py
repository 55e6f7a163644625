"""One detector event plus what the worker remembers about its series → the typed ``AlertRecord``.

What a social team needs to reply, in the order they ask for it: the numbers and why; the loudest
negative posts; the stories the window's mentions form (first post, size, reach over distinct
authors, sources, languages, growth); what is new in them against the series' own baseline; and
the chart of the last hours (negative and total counts against the expected band).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

from alerts.chartlinks import ChartLinks
from alerts.context import KeyBaseline, Sample
from alerts.detector import AlertEvent
from alerts.newterms import NewTerm
from alerts.stories_summary import summarize_stories
from brandpulse.esclient import mentions_alias
from brandpulse.schema import AlertChart, AlertNewTerm, AlertRecord, AlertStory
from brandpulse.settings import Settings

# An alert opens once the evidence is enough, usually a bucket after the rise began: new terms are
# against the talk before that bucket.
ONSET_BUCKETS = 1
TOP_MENTIONS = 5
TOP_STORIES = 5
MAX_MENTION_IDS = 100
FALLBACK_SAMPLES = 25


def alert_record(event: AlertEvent, samples: Sequence[Sample], settings: Settings, *,
                 baseline: KeyBaseline | None = None, chart: AlertChart | None = None,
                 links: ChartLinks | None = None, since: datetime | None = None) -> AlertRecord:
    """The record of ``event``; ``samples`` are the series' window samples (any order); ``since``
    is when its alert opened (new terms are against the talk from before the rise: ``ONSET_BUCKETS``
    before the window or the opening, whichever is earlier)."""
    start, end = event.window_start, event.window_end
    in_window = [s for s in samples if start <= s.created_at < end]
    negatives = [s for s in in_window if s.negative]
    if not negatives:  # "resolved" spans the episode; a window the store no longer holds: the latest posts
        negatives = [s for s in samples if s.negative][-FALLBACK_SAMPLES:]
    hashtags: Counter[str] = Counter(h for s in negatives for h in s.hashtags)
    keywords: Counter[str] = Counter(k for s in negatives for k in s.keywords)
    langs: Counter[str] = Counter(s.lang for s in negatives if s.lang)
    places: Counter[str] = Counter(p for s in negatives for p in s.places)
    top = sorted(negatives, key=lambda s: (-(s.followers or 0), s.id))[:TOP_MENTIONS]
    brand = event.key.split("|", 1)[0]
    b = settings.alerts.bucket_seconds
    raised = event.emitted_at or end
    begun = (min(start, since) if since is not None else start) - timedelta(seconds=ONSET_BUCKETS * b)
    incident = [s for s in samples if s.created_at >= begun]
    new_terms = baseline.what_is_new(in_window, end, exclude=incident) if baseline is not None else []
    chart_url = (links.url(f"{event.alert_id}-{event.seq}", chart, (start, end), brand, raised)
                 if links is not None and chart is not None else None)
    return AlertRecord(
        alert_id=event.alert_id, event=event.kind, key=event.key, brand=brand, severity=event.severity,
        window_start=start, window_end=end, raised_at=raised, emitted_at=event.emitted_at, seq=event.seq,
        idempotency_key=f"{event.alert_id}:{event.seq}",
        observed_negative=event.observed_negative, expected_negative=event.expected_negative,
        observed_total=event.observed_total, expected_total=event.expected_total,
        negative_share=min(1.0, max(0.0, event.negative_share)), expected_share=min(1.0, max(0.0, event.expected_share)),
        score=event.score, p_value=min(1.0, max(0.0, event.p_value)), reason=event.reason,
        top_mentions=tuple(s.to_alert() for s in top),
        mention_ids=tuple(s.id for s in negatives)[:MAX_MENTION_IDS],
        top_hashtags=tuple(h for h, _ in hashtags.most_common(5)),
        top_keywords=tuple(k for k, _ in keywords.most_common(5)),
        languages=dict(langs.most_common()),
        locations=tuple(p for p, _ in places.most_common(5)),
        stories=stories(in_window, start, end),
        new_terms=tuple(new_term_record(t) for t in new_terms),
        chart=chart,
        chart_url=chart_url,
        kibana_url=(kibana_link(settings.alerts.kibana_url, settings.elasticsearch.index_prefix, brand, start, end)
                    if settings.alerts.kibana_url else None),
    )


def new_term_record(t: NewTerm) -> AlertNewTerm:
    return AlertNewTerm(kind=t.kind, term=t.term, count=t.window_count,
                        share=min(1.0, t.window_share), baseline_share=t.baseline_share, log_odds=t.log_odds, z=t.z)


def stories(samples: Sequence[Sample], start: datetime, end: datetime) -> tuple[AlertStory, ...]:
    """The window's stories, those with the most negative mentions first (then size, reach,
    earlier first post: summarize_stories' order), with their negative counts."""
    summaries = summarize_stories([s.as_dict() for s in samples], start, end, top=None)
    negative = {s.id for s in samples if s.negative}
    ranked = sorted(enumerate(summaries),
                    key=lambda ix: (-sum(1 for m in ix[1].mention_ids if m in negative), ix[0]))
    out = []
    for _, st in ranked[:TOP_STORIES]:
        row = st.to_dict()
        row["negative"] = sum(1 for m in st.mention_ids if m in negative)
        row["first"] = {**row["first"], "negative": row["first"]["id"] in negative, "story_id": st.story_id}
        out.append(AlertStory.model_validate(row))
    return tuple(out)


def kibana_link(kibana_url: str, prefix: str, brand: str, start: datetime, end: datetime) -> str:
    """Discover, filtered to the brand's negative mentions in the alert window."""
    query = quote(f'brand:"{brand}" and enrichment.sentiment.label:"negative"', safe="")
    view = mentions_alias(prefix)
    return (f"{kibana_url.rstrip('/')}/app/discover#/?_g=(time:(from:'{start.isoformat()}',to:'{end.isoformat()}'))"
            f"&_a=(dataSource:(dataViewId:'{view}',type:dataView),query:(language:kuery,query:'{query}'))")
