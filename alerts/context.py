"""What the alert worker keeps per series to explain an alert: the window's mentions, what the
series usually talks about, and its last hours of counts against the expected band.

Pure and checkpointable, like the detector: no I/O and no wall clock, so a worker restored from its
checkpoint and fed the same records builds the same alert records (``tests/unit/test_alert_tick.py``
compares them whole).

* :class:`WindowStore`, one per brand: a compact :class:`Sample` of *every* mention (stories and new
  terms need the neutral and positive ones too), in arrival order, bounded by count
  (``max_count``) and by time (``horizon_seconds`` behind the newest sample). A series of the brand
  (``brand|lang=ur``) reads the samples that match it. The checkpoint is cut into segments of
  :data:`SEGMENT` samples by sequence number: a full segment is written once, as its own state
  record; the series record carries only the open tail, so a batch rewrites at most one segment's
  worth of samples, not the whole window.
* :class:`KeyBaseline`, one per series: a :class:`alerts.newterms.TermBaseline` of the series' own
  talk. It learns the window's samples a bucket at a time, when the stream clock passes the end of
  their bucket (``absorbed_upto``). Its record (some 50 KB) is not rewritten at every bucket: the
  series record carries where learning stands (:meth:`KeyBaseline.mark`: the scan pointer and which
  samples were learnt), and a restore learns again, in the same order, the samples learnt since the
  baseline record was written, from the restored window. So the record is rewritten when one of
  those samples is about to be missing from the window (evicted) or after
  ``BASELINE_WRITE_BUCKETS`` buckets, whichever comes first (:meth:`KeyBaseline.needs_write`). A mention that arrives after its bucket ended is in the window (stories)
  but not in the baseline, like the detector drops a mention after its bucket closed. While the
  series has an open alert, learning stops at the bucket the alert opened in (the worker caps
  ``upto``), and catches up once it resolved: an incident is compared with the talk before it, not
  with itself. Each learnt sample's weight is known exactly, so :meth:`KeyBaseline.what_is_new` also
  takes out every learnt sample from the incident's start on that the store still holds (a replay
  that ran past the spike in one batch learnt it before the alert was written).
* :class:`ChartRing`, one per series: the detector's last evaluation of each of the last
  :func:`chart_buckets` buckets (negative, total, expected negative), from the ``BucketResult``\\ s
  ``advance()`` collects; at alert time the expectation and the key's dispersion
  (``NegativeSpikeDetector.negative_dispersion``) give the band (``alerts.chart.count_band``).
"""

from __future__ import annotations

import base64
import math
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from alerts.chart import count_band
from alerts.detector import BucketResult, NegativeSpikeDetector
from alerts.newterms import KINDS, Kind, NewTerm, TermBaseline, WindowCounts, rank_new_terms, sample_features
from brandpulse.schema import AlertChart, AlertSample, Mention

SAMPLE_TEXT_CHARS = 280  # a quoted post; the index has the whole text
WINDOW_MAX = 600
WINDOW_HORIZON_SECONDS = 6 * 3600
SEGMENT = 16
CHART_SECONDS = 6 * 3600
# Smaller tables than TermBaseline's defaults: one baseline per series.
BASELINE_CAPACITY: dict[Kind, int] = {"term": 600, "hashtag": 200, "handle": 200, "place": 150, "language": 60}
BASELINE_HALF_LIFE_SECONDS = 7 * 86400.0
NEW_TERMS_PER_KIND = 5
BASELINE_WRITE_BUCKETS = 12  # a baseline that learnt is rewritten at least this often (an hour at 5 min)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def chart_buckets(bucket_seconds: int) -> int:
    """Buckets the chart shows: six hours, at least 24 and at most 144 buckets.

    >>> chart_buckets(300), chart_buckets(60), chart_buckets(3600)
    (72, 144, 24)
    """
    return min(144, max(24, CHART_SECONDS // bucket_seconds))


def to_us(t: datetime) -> int:
    """Exact microseconds since the epoch (a float timestamp can be off by one)."""
    return (t - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def series_lang(m: Mention) -> str | None:
    """The language a mention is counted under: detected, else declared by the source."""
    e = m.enrichment
    return e.language.code if e and e.language else m.lang


@dataclass(frozen=True, slots=True)
class Sample:
    """One mention, compact: what the alert shows (text cut to SAMPLE_TEXT_CHARS) and counts."""

    seq: int
    id: str
    t_us: int
    text: str
    url: str | None
    author: str | None
    followers: int | None
    lang: str | None
    source: str
    story_id: str | None
    negative: bool
    hashtags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    places: tuple[str, ...] = ()

    @classmethod
    def of(cls, m: Mention, seq: int) -> Sample:
        e = m.enrichment
        return cls(seq=seq, id=m.id, t_us=to_us(m.created_at), text=m.text[:SAMPLE_TEXT_CHARS], url=m.url,
                   author=m.author.handle or m.author.name, followers=m.author.followers, lang=series_lang(m),
                   source=m.source, story_id=e.story_id if e else None,
                   negative=bool(e and e.sentiment.label == "negative"),
                   hashtags=e.hashtags if e else (), keywords=e.keywords if e else (),
                   handles=e.handles if e else (), places=tuple(loc.name for loc in e.locations) if e else ())

    @property
    def created_at(self) -> datetime:
        return from_us(self.t_us)

    def to_row(self) -> list[Any]:
        """Positional JSON form for the checkpoint (field names would double its size)."""
        return [self.seq, self.id, self.t_us, self.text, self.url, self.author, self.followers, self.lang,
                self.source, self.story_id, int(self.negative), list(self.hashtags), list(self.keywords),
                list(self.handles), list(self.places)]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Sample:
        (seq, id_, t_us, text, url, author, followers, lang, source, story_id, negative,
         hashtags, keywords, handles, places) = row
        return cls(int(seq), str(id_), int(t_us), str(text), url, author, followers, lang, str(source), story_id,
                   bool(negative), tuple(hashtags), tuple(keywords), tuple(handles), tuple(places))

    def as_dict(self) -> dict[str, Any]:
        """The sample dict of alerts/stories_summary.py and alerts/newterms.py."""
        return {"id": self.id, "created_at": self.created_at, "text": self.text, "url": self.url,
                "author": self.author, "followers": self.followers, "lang": self.lang, "source": self.source,
                "story_id": self.story_id, "hashtags": self.hashtags, "keywords": self.keywords,
                "handles": self.handles, "places": self.places}

    def features(self) -> dict[Kind, set[str]]:
        """Its distinct terms, hashtags, handles, places and language (alerts.newterms.sample_features)."""
        return sample_features({"keywords": self.keywords, "hashtags": self.hashtags, "handles": self.handles,
                                "places": self.places, "lang": self.lang})

    def to_alert(self) -> AlertSample:
        return AlertSample(id=self.id, created_at=self.created_at, text=self.text, url=self.url, author=self.author,
                           followers=self.followers, lang=self.lang, source=self.source, story_id=self.story_id,
                           negative=self.negative, hashtags=self.hashtags, keywords=self.keywords,
                           handles=self.handles, places=self.places)


def key_filter(key: str) -> Callable[[Sample], bool]:
    """Which of the brand's samples belong to the series ``key`` (``brand``, ``brand|lang=ur``,
    ``brand|source=rss``), matching ``alerts.worker.series_keys``."""
    conds: list[tuple[str, str]] = []
    for part in key.split("|")[1:]:
        name, _, value = part.partition("=")
        conds.append((name, value))
    if not conds:
        return lambda s: True

    def match(s: Sample) -> bool:
        for name, value in conds:
            if name == "lang" and (s.lang or "und") != value:
                return False
            if name == "source" and s.source != value:
                return False
        return True

    return match


class WindowStore:
    """A brand's recent mentions (see the module doc): FIFO, bounded by count and by time."""

    def __init__(self, *, max_count: int = WINDOW_MAX, horizon_seconds: float = WINDOW_HORIZON_SECONDS) -> None:
        self.max_count = max_count
        self.horizon_us = int(horizon_seconds * 1_000_000)
        self.samples: deque[Sample] = deque()
        self.next_seq = 0
        self.newest_us: int | None = None
        self.sealed: set[int] = set()  # full segments not yet written to the state topic
        self.stored: set[int] = set()  # segments that are in the state topic

    def add(self, m: Mention) -> Sample:
        s = Sample.of(m, self.next_seq)
        self.next_seq += 1
        if self.next_seq % SEGMENT == 0:
            self.sealed.add(self.next_seq // SEGMENT - 1)
        self.samples.append(s)
        if self.newest_us is None or s.t_us > self.newest_us:
            self.newest_us = s.t_us
        oldest = self.newest_us - self.horizon_us
        while self.samples and (len(self.samples) > self.max_count or self.samples[0].t_us < oldest):
            self.samples.popleft()
        return s

    @property
    def first_seq(self) -> int:
        return self.samples[0].seq if self.samples else self.next_seq

    def segment(self, k: int) -> list[Sample]:
        lo, hi = k * SEGMENT, (k + 1) * SEGMENT
        return [s for s in self.samples if lo <= s.seq < hi]

    def obsolete(self) -> list[int]:
        """Stored segments whose samples have all left the window (to tombstone)."""
        first = self.first_seq // SEGMENT
        return sorted(k for k in self.stored if k < first)

    def snapshot(self) -> dict[str, Any]:
        """The series record's part: counters and the open segment (full segments are stored apart)."""
        open_from = (self.next_seq // SEGMENT) * SEGMENT
        return {"next": self.next_seq, "first": self.first_seq, "newest": self.newest_us,
                "tail": [s.to_row() for s in self.samples if s.seq >= open_from]}

    @classmethod
    def restore(cls, snap: Mapping[str, Any], segments: Mapping[int, Sequence[Sequence[Any]]], **kw: Any) -> WindowStore:
        """From :meth:`snapshot` and the stored segments (extra, older or newer ones are ignored)."""
        w = cls(**kw)
        w.next_seq = int(snap["next"])
        w.newest_us = snap.get("newest")
        first, open_from = int(snap["first"]), (w.next_seq // SEGMENT) * SEGMENT
        rows: list[Sequence[Any]] = []
        for k in sorted(segments):
            if first // SEGMENT <= k < w.next_seq // SEGMENT:
                rows.extend(r for r in segments[k] if first <= int(r[0]) < open_from)
        rows.extend(snap.get("tail") or ())
        w.samples = deque(Sample.from_row(r) for r in rows)
        w.stored = {k for k in segments if first // SEGMENT <= k < w.next_seq // SEGMENT}
        return w


class KeyBaseline:
    """One series' usual talk (a single-key TermBaseline), learnt a bucket at a time from the window.

    The window is read in arrival order from ``next_seq``: a sample is learnt when the stream clock
    has passed the end of its bucket; the scan stops at the first sample whose bucket has not ended
    yet (it and those after it wait for the next pass); a sample whose bucket had already ended when
    the scan reached it arrived late and is skipped, as is one of another series, and one evicted
    from the window before the scan reached it (more than ``WINDOW_MAX`` mentions in a bucket) is
    never learnt. ``learnt`` (runs of sequence numbers) says exactly which samples the counts hold.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.terms = TermBaseline(half_life_seconds=BASELINE_HALF_LIFE_SECONDS, capacity=BASELINE_CAPACITY)
        self.absorbed_upto: int | None = None  # the bucket the last pass learnt up to (exclusive)
        self.next_seq = 0  # window samples below this were considered
        self.learnt: list[list[int]] = []  # [lo, hi) runs of the learnt samples still in the window
        # Since the baseline record was last written: the first sample learnt, and where it stood.
        self.unwritten_from: int | None = None
        self.written_upto: int | None = None

    def absorb(self, window: WindowStore, upto: int, bucket_seconds: int, match: Callable[[Sample], bool]) -> bool:
        """One pass up to bucket ``upto`` (exclusive); True if it learnt anything."""
        start = self.absorbed_upto
        if start is not None and upto <= start:
            return False
        b_us = bucket_seconds * 1_000_000
        first = window.first_seq
        self.next_seq = max(self.next_seq, first)
        learnt = False
        for s in islice(window.samples, self.next_seq - first, None):
            idx = s.t_us // b_us
            if idx >= upto:
                break
            self.next_seq = s.seq + 1
            if (start is not None and idx < start) or not match(s):
                continue
            self.terms.observe_features(self.key, s.features(), s.t_us / 1e6)
            if self.unwritten_from is None:
                self.unwritten_from = s.seq
            if self.learnt and self.learnt[-1][1] == s.seq:
                self.learnt[-1][1] += 1
            else:
                self.learnt.append([s.seq, s.seq + 1])
            learnt = True
        self.absorbed_upto = upto
        while self.learnt and self.learnt[0][1] <= first:
            self.learnt.pop(0)
        return learnt

    def needs_write(self, window: WindowStore) -> bool:
        """Whether the baseline record must be rewritten now: it lacks samples the window no longer
        holds (a restore could not learn them again), or it is ``BASELINE_WRITE_BUCKETS`` old."""
        if self.unwritten_from is None:
            return False
        if self.unwritten_from < window.first_seq or self.written_upto is None or self.absorbed_upto is None:
            return True
        return self.absorbed_upto - self.written_upto >= BASELINE_WRITE_BUCKETS

    def written(self) -> None:
        self.unwritten_from = None
        self.written_upto = self.absorbed_upto

    def relearn(self, window: WindowStore, mark: Mapping[str, Any]) -> None:
        """Catch a baseline restored from its record up to a later ``mark`` (a series record's):
        learn again, in order, the window's samples that mark says were learnt since."""
        later = KeyBaseline(self.key)
        later.restore_mark(mark)
        for s in window.samples:
            if s.seq >= self.next_seq and later.has_learnt(s.seq):
                self.terms.observe_features(self.key, s.features(), s.t_us / 1e6)
                if self.unwritten_from is None:
                    self.unwritten_from = s.seq
        self.restore_mark(mark)

    def has_learnt(self, seq: int) -> bool:
        i = bisect_right(self.learnt, [seq, math.inf]) - 1
        return i >= 0 and self.learnt[i][0] <= seq < self.learnt[i][1]

    def mark(self) -> dict[str, Any]:
        """Where learning stands (the series record keeps it; the baseline record too)."""
        return {"upto": self.absorbed_upto, "next": self.next_seq, "learnt": self.learnt}

    def restore_mark(self, mark: Mapping[str, Any]) -> None:
        self.absorbed_upto = mark.get("upto")
        self.next_seq = int(mark.get("next") or 0)
        self.learnt = [[int(lo), int(hi)] for lo, hi in mark.get("learnt") or ()]

    def what_is_new(self, window: Sequence[Sample], now: datetime, exclude: Iterable[Sample] = ()) -> list[NewTerm]:
        """The window's features whose share rose against the baseline, best first within each kind.
        The window's samples and ``exclude`` (the incident's other samples), where learnt, are taken
        out of the baseline at their exact decayed weight first."""
        wc = WindowCounts.of(s.as_dict() for s in window)
        now_s = to_us(now) / 1e6
        rate = self.terms.rate
        out_of_baseline = {s.seq: s for s in (*window, *exclude)}
        learnt = [(math.exp(-rate * (now_s - s.t_us / 1e6)), s.features())
                  for s in out_of_baseline.values() if self.has_learnt(s.seq)]
        out: list[NewTerm] = []
        for kind in KINDS:
            table, total, floor = self.terms.counts(self.key, kind, now_s)
            for w, feats in learnt:
                total -= w
                for v in feats.get(kind, ()):
                    if v in table:
                        table[v] -= w
            table = {k: max(0.0, v) for k, v in table.items()}
            out.extend(rank_new_terms(wc.counts[kind], wc.mentions, table, max(0.0, total), kind=kind,
                                      baseline_floor=floor, top=NEW_TERMS_PER_KIND))
        return out

    def snapshot(self) -> dict[str, Any]:
        """The baseline with each table's counts packed as base64 float64s: bit-exact (a restored
        worker ranks exactly as before) at about half the size of decimal JSON."""
        snap = self.terms.snapshot(self.key)
        if snap.get("epoch") is not None:
            snap["tables"] = {kind: {"keys": list(t["values"]), "floor": t["floor"],
                                     "packed": base64.b64encode(array("d", t["values"].values()).tobytes()).decode()}
                              for kind, t in snap["tables"].items()}
        return {**self.mark(), "terms": snap}

    @classmethod
    def restore(cls, key: str, snap: Mapping[str, Any]) -> KeyBaseline:
        kb = cls(key)
        kb.restore_mark(snap)
        kb.written_upto = kb.absorbed_upto
        terms = dict(snap["terms"])
        if terms.get("epoch") is not None:
            tables = {}
            for kind, t in terms["tables"].items():
                values = array("d")
                values.frombytes(base64.b64decode(t["packed"]))
                tables[kind] = {"values": dict(zip(t["keys"], values, strict=True)), "floor": t["floor"]}
            terms["tables"] = tables
        kb.terms.restore(key, terms)
        return kb


class ChartRing:
    """The detector's latest evaluation of each recent bucket of one series."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.cells: dict[int, tuple[int, int, float]] = {}  # bucket -> (total, negative, expected negative)

    def record(self, res: BucketResult, bucket_seconds: int) -> None:
        if res.late:
            return
        idx = math.floor(res.bucket_start.timestamp() / bucket_seconds)
        self.cells[idx] = (res.total, res.negative, res.expected_negative)
        if len(self.cells) > self.size:
            top = max(self.cells)
            for old in [i for i in self.cells if i <= top - self.size]:
                del self.cells[old]

    def chart(self, key: str, end: datetime, detector: NegativeSpikeDetector, bucket_seconds: int) -> AlertChart | None:
        """The chart up to the bucket holding ``end`` (from the first bucket the ring has)."""
        last = math.floor((to_us(end) - 1) / (bucket_seconds * 1_000_000))
        have = [i for i in self.cells if last - self.size < i <= last]
        if not have:
            return None
        first = min(have)
        neg, tot, low, high = [], [], [], []
        for i in range(first, last + 1):
            t, n, mean = self.cells.get(i, (0, 0, 0.0))
            lo, hi = count_band(mean, detector.negative_dispersion(key, mean)) if mean > 0 else (0.0, 0.0)
            neg.append(n)
            tot.append(t)
            low.append(lo)
            high.append(hi)
        return AlertChart(start=datetime.fromtimestamp(first * bucket_seconds, UTC), bucket_seconds=bucket_seconds,
                          negative=tuple(neg), total=tuple(tot), expected_low=tuple(low), expected_high=tuple(high))

    def snapshot(self) -> list[list[Any]]:
        return [[i, *cell] for i, cell in sorted(self.cells.items())]

    @classmethod
    def restore(cls, size: int, rows: Iterable[Sequence[Any]]) -> ChartRing:
        ring = cls(size)
        ring.cells = {int(r[0]): (int(r[1]), int(r[2]), float(r[3])) for r in rows}
        return ring
