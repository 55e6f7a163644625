"""What the alert worker keeps to explain an alert (alerts/context.py) and the records it builds from it:
the window store and its segmented checkpoint, the per-series term baseline, the chart ring — and
a worker restarted at any batch boundary publishing exactly the records (stories, new terms, chart
included) of the run that never stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from alerts.context import (
    SEGMENT,
    ChartRing,
    KeyBaseline,
    Sample,
    WindowStore,
    chart_buckets,
    key_filter,
    to_us,
)
from alerts.detector import BucketResult, DetectorConfig, NegativeSpikeDetector
from alerts.worker import BASELINE_SUFFIX, WINDOW_SUFFIX, AlertStage
from brandpulse.schema import AlertRecord, Author, Enrichment, Language, Mention, Sentiment
from brandpulse.settings import Settings
from tests.unit.test_alert_tick import FakeConsumer, FakeStore

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TP = TopicPartition("enriched", 0)
SETTINGS = Settings.model_validate({
    "brands": [{"name": "Acme"}],
    "topics": {"enriched": "enriched", "alerts": "alerts"},
    "alerts": {"bucket_seconds": 60, "allowed_lateness_seconds": 30, "resolve_after_seconds": 60,
               "warmup_hours": 0.5, "idle_tick_seconds": 0, "console": False, "per": ["lang"]},
})


def mention(i: int, at: datetime, *, negative: bool = False, text: str | None = None, lang: str = "en",
            keywords: tuple[str, ...] = (), hashtags: tuple[str, ...] = (), story: str | None = None,
            followers: int = 10) -> Mention:
    m = Mention.new(source="replay", feed="f", native_id=f"n{i}", brand="Acme", text=text or f"acme post {i}",
                    created_at=at, url=f"https://social.example/p/{i}",
                    author=Author(handle=f"user{i % 17}", followers=followers))
    e = Enrichment(version="1", language=Language(code=lang, confidence=1, method="t"),
                   sentiment=Sentiment(label="negative" if negative else "neutral", score=-0.8 if negative else 0.0,
                                       confidence=0.9, method="t"),
                   keywords=keywords, hashtags=hashtags, story_id=story, enriched_at=at)
    return m.model_copy(update={"enrichment": e})


HISTORY = 180  # minutes: 720 mentions, more than a window holds (600)


def stream() -> list[Mention]:
    """Three hours of everyday talk (keywords "flight" and "seat", #acme), then a burst: one story of
    reposts with a new hashtag and a new term, in English and Urdu, mostly negative."""
    out: list[Mention] = []
    for minute in range(HISTORY):
        for j in range(4):
            i = len(out)
            out.append(mention(i, T0 + timedelta(minutes=minute, seconds=5 + 14 * j), negative=(j == 0 and minute % 4 == 0),
                               keywords=("flight", "seat") if j % 2 else ("flight",), hashtags=("#acme",),
                               lang="ur" if j == 3 else "en"))
    for j in range(40):
        i = len(out)
        out.append(mention(i, T0 + timedelta(minutes=HISTORY, seconds=2 + j), negative=j % 5 != 0,
                           text="RT: Acme lost my bag at Denver again, no refund" if j else "Acme lost my bag at Denver again, no refund",
                           keywords=("flight", "lost bag"), hashtags=("#acmelostmybag",), story="st-burst",
                           lang="ur" if j % 4 == 0 else "en", followers=1000 + j))
    return out


# ------------------------------------------------------------------ window store


def test_window_is_bounded_by_count_and_by_time_behind_the_newest_sample() -> None:
    w = WindowStore(max_count=50, horizon_seconds=600)
    for i in range(80):
        w.add(mention(i, T0 + timedelta(seconds=i)))
    assert len(w.samples) == 50 and w.first_seq == 30 and w.next_seq == 80
    w.add(mention(80, T0 + timedelta(seconds=670)))  # ten minutes later: everything older than 70 s goes
    assert [s.seq for s in w.samples] == [70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80]
    late = w.add(mention(81, T0))  # a late mention is kept in arrival order, and leaves when it reaches the front
    assert w.samples[-1] == late and w.newest_us == to_us(T0 + timedelta(seconds=670))


def test_window_checkpoint_is_full_segments_apart_plus_the_open_tail() -> None:
    w = WindowStore(max_count=100)
    for i in range(2 * SEGMENT + 7):
        w.add(mention(i, T0 + timedelta(seconds=i)))
    assert w.sealed == {0, 1}  # each full segment once, to be written as its own record
    snap = json.loads(json.dumps(w.snapshot()))
    assert len(snap["tail"]) == 7  # the series record carries only the open segment
    segments = {k: json.loads(json.dumps([s.to_row() for s in w.segment(k)])) for k in (0, 1)}
    back = WindowStore.restore(snap, segments, max_count=100)
    assert list(back.samples) == list(w.samples) and back.next_seq == w.next_seq and back.stored == {0, 1}
    # segments no longer referenced (evicted, or written by a crashed newer run) are ignored
    older = WindowStore.restore(snap, {**segments, 9: [], -1: []}, max_count=100)
    assert list(older.samples) == list(w.samples) and older.stored == {0, 1}


def test_a_segment_is_obsolete_once_all_its_samples_left_the_window() -> None:
    w = WindowStore(max_count=SEGMENT + 5)
    for i in range(3 * SEGMENT):
        w.add(mention(i, T0 + timedelta(seconds=i)))
    w.stored = set(w.sealed)
    assert w.first_seq == 2 * SEGMENT - 5
    assert w.obsolete() == [0]


def test_key_filter_follows_the_series_keys() -> None:
    en, ur = Sample.of(mention(1, T0, lang="en"), 0), Sample.of(mention(2, T0, lang="ur"), 1)
    assert key_filter("Acme")(en) and key_filter("Acme")(ur)
    assert key_filter("Acme|lang=ur")(ur) and not key_filter("Acme|lang=ur")(en)
    assert key_filter("Acme|source=replay")(en) and not key_filter("Acme|source=rss")(en)


def test_sample_rows_round_trip_exactly() -> None:
    m = mention(3, T0 + timedelta(microseconds=123457), negative=True, keywords=("a b",), hashtags=("#x",),
                story="st-1")
    s = Sample.of(m, 5)
    assert Sample.from_row(json.loads(json.dumps(s.to_row()))) == s
    assert s.created_at == m.created_at and s.negative and s.story_id == "st-1"


# ------------------------------------------------------------------ term baseline


def window_of(mentions: list[Mention]) -> WindowStore:
    w = WindowStore(max_count=10_000, horizon_seconds=86400)
    for m in mentions:
        w.add(m)
    return w


def test_baseline_learns_a_bucket_once_it_ended_and_finds_what_is_new() -> None:
    w = window_of(stream())
    samples = list(w.samples)
    kb = KeyBaseline("Acme")
    burst_bucket = to_us(T0 + timedelta(minutes=HISTORY)) // 60_000_000
    assert kb.absorb(w, burst_bucket, 60, key_filter("Acme"))  # everything before the burst
    assert not kb.absorb(w, burst_bucket, 60, key_filter("Acme"))  # nothing twice
    assert kb.terms.counts("Acme", "term", T0 + timedelta(minutes=HISTORY))[1] == pytest.approx(4 * HISTORY, rel=0.01)
    assert kb.learnt == [[0, 4 * HISTORY]] and kb.next_seq == 4 * HISTORY  # the scan waits at the burst
    window = samples[4 * HISTORY:]
    new = kb.what_is_new(window, T0 + timedelta(minutes=HISTORY + 1))
    assert {(t.kind, t.term) for t in new} >= {("term", "lost bag"), ("hashtag", "#acmelostmybag")}
    assert "flight" not in {t.term for t in new}  # in every burst mention, and in the everyday talk
    # Learning the burst's bucket too must not change the ranking: the window's own samples are
    # taken out of the baseline before comparing.
    kb.absorb(w, burst_bucket + 1, 60, key_filter("Acme"))
    again = kb.what_is_new(window, T0 + timedelta(minutes=HISTORY + 1))
    assert [(t.kind, t.term) for t in again] == [(t.kind, t.term) for t in new]
    assert [t.z for t in again] == pytest.approx([t.z for t in new], rel=1e-6)


def test_a_late_mention_and_another_series_mention_are_not_learnt() -> None:
    w = window_of([mention(0, T0), mention(1, T0 + timedelta(seconds=70), lang="ur")])
    kb = KeyBaseline("Acme|lang=en")
    assert kb.absorb(w, to_us(T0 + timedelta(minutes=2)) // 60_000_000, 60, key_filter("Acme|lang=en"))
    w.add(mention(2, T0 + timedelta(seconds=10)))  # arrives after its bucket was learnt
    w.add(mention(3, T0 + timedelta(seconds=130)))
    assert kb.absorb(w, to_us(T0 + timedelta(minutes=3)) // 60_000_000, 60, key_filter("Acme|lang=en"))
    assert kb.learnt == [[0, 1], [3, 4]] and kb.next_seq == 4  # not 1 (Urdu), not 2 (late)
    assert [kb.has_learnt(i) for i in range(5)] == [True, False, False, True, False]


def test_baseline_snapshot_is_bit_exact_and_compact() -> None:
    w = window_of(stream())
    kb = KeyBaseline("Acme")
    kb.absorb(w, to_us(T0 + timedelta(minutes=HISTORY + 1)) // 60_000_000, 60, key_filter("Acme"))
    raw = json.dumps(kb.snapshot())
    back = KeyBaseline.restore("Acme", json.loads(raw))
    assert back.mark() == kb.mark()
    now = T0 + timedelta(minutes=HISTORY + 1)
    for kind in ("term", "hashtag", "language"):
        assert back.terms.counts("Acme", kind, now) == kb.terms.counts("Acme", kind, now)


# ------------------------------------------------------------------ chart ring


def test_chart_ring_keeps_the_last_buckets_and_draws_the_band_from_the_detector() -> None:
    det = NegativeSpikeDetector(DetectorConfig.preset("balanced", bucket_seconds=60, warmup_buckets=5))
    ring = ChartRing(chart_buckets(60))
    for i in range(300):
        start = T0 + timedelta(minutes=i)
        res = det.update_bucket("Acme", start, 40, 30 if i == 299 else 8)
        ring.record(res, 60)
    assert len(ring.cells) == 144
    chart = ring.chart("Acme", T0 + timedelta(minutes=300), det, 60)
    assert chart is not None and len(chart.negative) == 144 and chart.negative[-1] == 30 and chart.total[-1] == 40
    assert chart.start == T0 + timedelta(minutes=156)
    assert all(lo <= 8 <= hi for lo, hi in zip(chart.expected_low[:-1], chart.expected_high[:-1], strict=True))
    assert chart.expected_high[-1] < 30  # the spike is outside its band
    late = BucketResult("Acme", T0, 1, 1, 0, 0, 0, 1, 0, "none", (), late=True)
    ring.record(late, 60)
    assert min(ring.cells) == to_us(T0 + timedelta(minutes=156)) // 60_000_000  # a late, dropped mention draws nothing
    assert ChartRing.restore(144, json.loads(json.dumps(ring.snapshot()))).cells == ring.cells


# ------------------------------------------------------------------ the worker, restarted anywhere


class Run:
    """One worker 'process' over the shared fake state topic, driven like the consume loop."""

    def __init__(self, store: FakeStore, topic: list[bytes], published: list[dict[str, Any]],
                 window_max: int | None = None) -> None:
        self.topic, self.published = topic, published
        self.stage = AlertStage(SETTINGS, store, "g", emit=lambda a: None,  # type: ignore[arg-type]
                                wall=lambda: 0.0, monotonic=lambda: 0.0)
        if window_max is not None:
            self.stage.window_max = window_max
        self.consumer = FakeConsumer(topic)
        self.stage.consumer = self.consumer
        self.stage.on_partitions_assigned([TP])

    def batch(self, size: int, *, commit: bool = True) -> bool:
        start = self.consumer.position
        if start >= len(self.topic):
            return False
        recs = [ConsumerRecord(TP.topic, TP.partition, -1, off, 0, 0, b"Acme", self.topic[off], [], None, 0, 0, -1)
                for off in range(start, min(len(self.topic), start + size))]
        result = self.stage.handle(recs)
        if commit:  # produced, committed, then checkpointed
            self.published.extend(json.loads(o.value) for o in result.outputs)
            self.consumer.position = recs[-1].offset + 1
            self.stage.after_commit()
        return True


def run(crash_after: int | None = None, batch: int = 37, window_max: int | None = None,
        ) -> tuple[list[dict[str, Any]], FakeStore]:
    store, published = FakeStore(), list[dict[str, Any]]()
    topic = [m.to_bytes() for m in stream()]
    w = Run(store, topic, published, window_max)
    n = 0
    while True:
        if crash_after is not None and n == crash_after:
            w.batch(batch, commit=False)  # died after handling, before producing: nothing of it survived
            w = Run(store, topic, published, window_max)
        if not w.batch(batch):
            break
        n += 1
    return published, store


def test_a_restarted_worker_publishes_exactly_the_records_of_the_run_that_never_stopped() -> None:
    reference, store = run()
    records = [AlertRecord.from_dict(a) for a in reference]
    opened = [r for r in records if r.event == "opened" and r.key == "Acme"]
    assert opened, [r.key for r in records]
    top = opened[0]
    assert top.stories[0].story_id == "st-burst" and top.stories[0].size > 5 and top.stories[0].negative > 0
    assert top.stories[0].first.text.startswith("Acme lost my bag")  # the first post, not a repost
    assert ("hashtag", "#acmelostmybag") in {(t.kind, t.term) for t in top.new_terms}
    assert top.chart is not None and top.chart.negative[-1] > max(top.chart.expected_high[:-1])
    ur = [r for r in records if r.key == "Acme|lang=ur"]
    assert all(s.first.lang == "ur" for r in ur for s in r.stories)  # a language series reads its own mentions
    for crash in (1, 5, 19, 20, 21):
        got, _ = run(crash)
        assert got == reference, f"crash after batch {crash}"
    # Small batches: the burst's minute spans window segments, and its bucket ends mid-burst.
    small, _ = run(batch=7)
    assert any(AlertRecord.from_dict(a).stories for a in small)
    for crash in (3, 60, 103, 104, 105, 106, 107):
        got, _ = run(crash, batch=7)
        assert got == small, f"crash after batch {crash} of 7"
    # A small window: learnt samples leave it before the baseline's hourly rewrite, which the
    # eviction must then force (else a restart could not learn them again).
    tight, _ = run(batch=7, window_max=30)
    for crash in (20, 61, 104):
        got, _ = run(crash, batch=7, window_max=30)
        assert got == tight, f"crash after batch {crash} of 7 with a 30-mention window"
    # What the state topic holds per brand stays bounded: the window's segments, one baseline per
    # series, and the series records (no obsolete segment left behind).
    keys = set(store.data)
    segments = [k for k in keys if WINDOW_SUFFIX in k]
    assert 0 < len(segments) <= 600 // SEGMENT + 1
    assert {k.rsplit("/", 1)[-1] for k in keys if k.endswith(BASELINE_SUFFIX)} == {
        f"Acme{BASELINE_SUFFIX}", f"Acme|lang=en{BASELINE_SUFFIX}", f"Acme|lang=ur{BASELINE_SUFFIX}"}
    series = store.data[f"alerts-series/g/{TP.topic}/{TP.partition}/Acme"]
    assert len(series) < 40_000  # the open tail of the window, the ring and the detector state


def test_restore_takes_the_later_of_the_baseline_record_and_the_series_records_mark() -> None:
    stage = AlertStage(SETTINGS, FakeStore(), "g", emit=lambda a: None)  # type: ignore[arg-type]
    det = NegativeSpikeDetector(stage.config)
    det.observe("Acme", T0, negative=False)
    det.advance(T0)
    w = window_of([mention(0, T0, lang="ur"), mention(1, T0 + timedelta(seconds=61), lang="en"),
                   mention(2, T0 + timedelta(seconds=130), lang="en")])
    kb = KeyBaseline("Acme|lang=ur")
    kb.absorb(w, to_us(T0 + timedelta(minutes=1)) // 60_000_000, 60, key_filter("Acme|lang=ur"))
    baseline_record = {"key": kb.key, "baseline": json.loads(json.dumps(kb.snapshot()))}
    kb.absorb(w, to_us(T0 + timedelta(minutes=3)) // 60_000_000, 60, key_filter("Acme|lang=ur"))  # nothing Urdu
    later_mark = json.loads(json.dumps(kb.mark()))
    assert later_mark["next"] == 3 and baseline_record["baseline"]["next"] == 1
    prefix = f"alerts-series/g/{TP.topic}/{TP.partition}/"
    series = {"offset": 3, "state": det.snapshot("Acme"), "ring": [], "window": w.snapshot()}
    ps = stage._restore_series(TP, {prefix + "Acme": {**series, "learning": None},
                                    prefix + "Acme|lang=ur": {**series, "state": {**det.snapshot("Acme"),
                                                                                   "key": "Acme|lang=ur"},
                                                              "learning": later_mark},
                                    prefix + "Acme|lang=ur" + BASELINE_SUFFIX: baseline_record})
    assert ps.baselines["Acme|lang=ur"].mark() == later_mark  # the pass that learnt nothing is kept
    crashed = {**later_mark, "next": 0, "upto": None}  # the series record from before the baseline's write
    ps = stage._restore_series(TP, {prefix + "Acme|lang=ur": {**series, "state": {**det.snapshot("Acme"),
                                                                                   "key": "Acme|lang=ur"},
                                                              "learning": crashed},
                                    prefix + "Acme|lang=ur" + BASELINE_SUFFIX: baseline_record})
    assert ps.baselines["Acme|lang=ur"].next_seq == 1


def test_a_checkpoint_from_before_restores_its_detector_and_starts_an_empty_window() -> None:
    store = FakeStore()
    det = NegativeSpikeDetector(AlertStage(SETTINGS, store, "g", emit=lambda a: None).config)  # type: ignore[arg-type]
    det.observe("Acme", T0, negative=True)
    det.advance(T0)
    old = {"offset": 5, "state": det.snapshot("Acme"),  # the previous worker's series record
           "samples": [{"id": "m1", "created_at": T0.isoformat(), "text": "x", "url": None, "author": "a",
                        "followers": 1, "lang": "en", "hashtags": [], "keywords": [], "places": []}]}
    store.put(f"alerts-series/g/{TP.topic}/{TP.partition}/Acme", old)
    store.put(f"alerts-ckpt/g/{TP.topic}/{TP.partition}", {"offset": 5, "clock": T0.isoformat(), "wall": None})
    w = Run(store, [b""] * 5 + [mention(9, T0 + timedelta(seconds=1)).to_bytes()], [])
    ps = w.stage.partitions[TP]
    assert ps.key_offsets == {"Acme": 5} and ps.detector.keys() == ["Acme"] and "Acme" not in ps.windows
    w.consumer.position = 5
    assert w.batch(10)
    assert [s.seq for s in ps.windows["Acme"].samples] == [0]
