"""What is new in a spike: the terms, hashtags, handles, places and languages whose share rose most
against the brand's own baseline, ranked by a statistic instead of raw counts.

Raw counts put the brand's name and "flight" on top of every airline alert, because they are on
top every day. What a social team wants is what is *unusually* frequent now. The ranking is the
z-score of the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008,
"Fightin' Words", §3.5): for feature *w* found in *y_w* of the *n* window mentions and in *b_w* of
the *m* baseline mentions, with prior pseudo-counts *a_w* out of *a_0*,

    δ_w = log((y_w + a_w) / (n + a_0 − y_w − a_w)) − log((b_w + a_w) / (m + a_0 − b_w − a_w))
    σ²_w = 1/(y_w + a_w) + 1/(n + a_0 − y_w − a_w) + 1/(b_w + a_w) + 1/(m + a_0 − b_w − a_w)
    z_w = δ_w / σ_w

(Monroe et al. drop the second and fourth terms of σ², which is right for one word among a large
vocabulary; here a feature's share is the share of *mentions* carrying it, which for the brand's
own name is close to 1, and without those terms "acme in 30 of 30 mentions, against 95 %" would
look significant.)

The prior is the pooled (window + baseline) share of each feature scaled to ``prior_size``
pseudo-mentions: it shrinks the log-odds of rare features towards "no change", so three mentions
of a never-seen word do not outrank a real shift in a common one, while the z-score accounts for
how much evidence each count carries. Shares are of *mentions* (the share of mentions that carry
the feature; a post repeating a word ten times is one vote), so the kinds are comparable and a
brand that never used hashtags can still show a new one.

>>> window = {"refund": 14, "acme": 30, "delayed": 9}
>>> baseline = {"refund": 3, "acme": 950, "delayed": 40, "lounge": 200}
>>> [(t.term, round(t.z, 1)) for t in rank_new_terms(window, 30, baseline, 1000)]
[('refund', 6.5), ('delayed', 3.2)]

"acme" is in every window mention and in 95 % of the baseline: frequent, but not new.

The baseline is the brand's own recent talk, kept in bounded memory (:class:`TermBaseline`):
exponentially decayed counts (``half_life_seconds``) per brand and kind, pruned to the ``capacity``
largest (a lossy-counting table: when it reaches twice the capacity, the smaller half is dropped,
and the largest dropped count is remembered as the *floor*). A feature that is not in the table
has a baseline count between 0 and the floor; the ranking takes the middle of that interval, so a
feature the table forgot is neither called new for that reason nor hidden by it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Kind = Literal["term", "hashtag", "handle", "place", "language"]
KINDS: tuple[Kind, ...] = ("term", "hashtag", "handle", "place", "language")

# Sample fields (alerts.context.Sample.as_dict and the Mention's enrichment) each kind is read from.
SAMPLE_FIELDS: dict[Kind, str] = {
    "term": "keywords", "hashtag": "hashtags", "handle": "handles", "place": "places", "language": "lang",
}
DEFAULT_CAPACITY: dict[Kind, int] = {"term": 2000, "hashtag": 500, "handle": 500, "place": 300, "language": 60}
SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class NewTerm:
    """One feature whose share rose: counts, shares and the statistic that ranked it."""

    kind: str
    term: str
    window_count: int
    window_share: float
    baseline_share: float
    log_odds: float  # δ: log-odds ratio, window against baseline
    z: float  # δ / σ: how many standard errors the rise is

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "term": self.term, "count": self.window_count,
                "share": round(self.window_share, 4), "baseline_share": round(self.baseline_share, 5),
                "log_odds": round(self.log_odds, 3), "z": round(self.z, 2)}


def rank_new_terms(window: Mapping[str, float], n_window: float, baseline: Mapping[str, float],
                   n_baseline: float, *, kind: str = "term", baseline_floor: float = 0.0,
                   prior_size: float = 100.0, min_count: int = 3, min_z: float = 1.96,
                   top: int | None = 10) -> list[NewTerm]:
    """Features of ``window`` whose share rose against ``baseline``, best first (see module doc).

    ``n_window``/``n_baseline`` are the numbers of mentions the counts are out of. A feature absent from
    ``baseline`` gets half of ``baseline_floor`` (its count lies between 0 and the sketch's floor,
    see :class:`TermBaseline`). Only
    features seen in at least ``min_count`` window mentions and rising by more than ``min_z``
    standard errors (1.96: a two-sided 5 % test) are returned; ties go to the larger count, then
    the term, so the order is deterministic.
    """
    if n_window <= 0 or n_baseline <= 0:
        return []  # no baseline: nothing can be "new" against it (the brand's first day)
    pooled_total = n_window + max(n_baseline, 0.0)
    out: list[NewTerm] = []
    for term, raw_y in window.items():
        y = float(raw_y)
        if y < min_count:
            continue
        b = float(baseline[term]) if term in baseline else baseline_floor / 2
        b = min(max(b, 0.0), max(n_baseline, 0.0))
        # The prior: the pooled share, scaled to prior_size pseudo-mentions, and at least one half
        # (the Haldane–Anscombe correction): with a zero baseline count the log-odds would
        # otherwise rest on a vanishing pseudo-count and carry no information at all.
        a = max(prior_size * (y + b) / pooled_total, 0.5)
        a0 = prior_size
        rest_w = n_window + a0 - y - a
        rest_b = n_baseline + a0 - b - a
        if rest_w <= 0 or rest_b <= 0:
            continue  # the feature is (almost) everything on one side: no odds to compare
        delta = math.log((y + a) / rest_w) - math.log((b + a) / rest_b)
        z = delta / math.sqrt(1.0 / (y + a) + 1.0 / rest_w + 1.0 / (b + a) + 1.0 / rest_b)
        if z <= min_z:
            continue
        out.append(NewTerm(kind=kind, term=term, window_count=round(y), window_share=y / n_window,
                           baseline_share=b / n_baseline if n_baseline > 0 else 0.0, log_odds=delta, z=z))
    out.sort(key=lambda t: (-t.z, -t.window_count, t.term))
    return out if top is None else out[:top]


# ---------------------------------------------------------------------------------------------
# Features of a mention


def sample_features(sample: Mapping[str, Any]) -> dict[Kind, set[str]]:
    """The distinct features of one mention sample, per kind, normalised for counting.

    >>> sorted(sample_features({"keywords": ["Late Flight"], "hashtags": ["#Refund", "#refund"],
    ...                         "lang": "en", "places": ["Denver"]}).items())
    [('hashtag', {'#refund'}), ('language', {'en'}), ('place', {'Denver'}), ('term', {'late flight'})]
    """
    out: dict[Kind, set[str]] = {}
    for kind, name in SAMPLE_FIELDS.items():
        value = sample.get(name)
        if not value:
            continue
        values = [value] if isinstance(value, str) else list(value)
        # Places keep their gazetteer spelling; the others compare case-insensitively.
        norm = {str(v).strip() if kind == "place" else str(v).strip().casefold() for v in values}
        norm.discard("")
        if kind == "handle":
            norm = {v if v.startswith("@") else "@" + v for v in norm}
        if kind == "hashtag":
            norm = {v if v.startswith("#") else "#" + v for v in norm}
        if norm:
            out[kind] = norm
    return out


@dataclass(slots=True)
class WindowCounts:
    """Per-kind feature counts of a set of mentions (one vote per mention and feature)."""

    counts: dict[Kind, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    mentions: int = 0

    def add(self, features: Mapping[Kind, Iterable[str]]) -> None:
        self.mentions += 1
        for kind, values in features.items():
            self.counts[kind].update(set(values))

    @classmethod
    def of(cls, samples: Iterable[Mapping[str, Any]]) -> WindowCounts:
        wc = cls()
        for s in samples:
            wc.add(sample_features(s))
        return wc


# ---------------------------------------------------------------------------------------------
# The bounded, decayed baseline


@dataclass(slots=True)
class _Table:
    values: dict[str, float] = field(default_factory=dict)  # scaled to the brand's epoch
    floor: float = 0.0  # largest pruned value, same scale


@dataclass(slots=True)
class _BrandBaseline:
    epoch: float  # stored values are counts × e^{λ (t_obs − epoch)}: see TermBaseline._weight
    tables: dict[Kind, _Table] = field(default_factory=lambda: {k: _Table() for k in KINDS})
    mentions: float = 0.0


def _timestamp(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


class TermBaseline:
    """Exponentially decayed, bounded feature counts per brand: "what this brand's talk usually is".

    ``observe`` every mention of the brand as it arrives (one process owns a brand's partition);
    ``what_is_new`` compares a window's samples against it, the window's own contribution taken
    out again so a spike is not compared with itself.

    >>> tb = TermBaseline(half_life_seconds=86400)
    >>> for i in range(200):
    ...     tb.observe("acme", {"keywords": ["flight", "seat"], "lang": "en"}, i * 60.0)
    >>> burst = [{"keywords": ["flight", "lost luggage"], "hashtags": ["#AcmeLostMyBag"], "lang": "en"}] * 12
    >>> for s in burst:
    ...     tb.observe("acme", s, 200 * 60.0)
    >>> new = tb.what_is_new("acme", burst, 200 * 60.0)
    >>> [(t.kind, t.term) for t in new["term"] + new["hashtag"]]
    [('term', 'lost luggage'), ('hashtag', '#acmelostmybag')]
    """

    def __init__(self, *, half_life_seconds: float = 7 * 86400.0,
                 capacity: Mapping[Kind, int] | None = None) -> None:
        if half_life_seconds <= 0:
            raise ValueError("half_life_seconds must be positive")
        self.half_life_seconds = half_life_seconds
        self.rate = math.log(2) / half_life_seconds
        self.capacity = {**DEFAULT_CAPACITY, **(capacity or {})}
        if any(c < 1 for c in self.capacity.values()):
            raise ValueError("every capacity must be at least 1")
        self._brands: dict[str, _BrandBaseline] = {}

    # Values are stored as count × e^{λ (t − epoch)} so that adding is one multiplication and
    # decaying everything is free; the epoch moves forward (and all values shrink) before the
    # exponent can overflow.
    def _weight(self, st: _BrandBaseline, t: float) -> float:
        exponent = self.rate * (t - st.epoch)
        if exponent > 50.0:
            self._rebase(st, t)
            exponent = 0.0
        return math.exp(exponent)

    def _rebase(self, st: _BrandBaseline, t: float) -> None:
        shrink = math.exp(-self.rate * (t - st.epoch))
        for table in st.tables.values():
            table.values = {k: v * shrink for k, v in table.values.items()}
            table.floor *= shrink
        st.mentions *= shrink
        st.epoch = t

    def observe(self, brand: str, sample: Mapping[str, Any], t: datetime | float) -> None:
        """Add one mention (a sample dict: keywords, hashtags, handles, places, lang)."""
        self.observe_features(brand, sample_features(sample), t)

    def observe_features(self, brand: str, features: Mapping[Kind, Iterable[str]], t: datetime | float) -> None:
        ts = _timestamp(t)
        st = self._brands.get(brand)
        if st is None:
            st = self._brands[brand] = _BrandBaseline(epoch=ts)
        w = self._weight(st, ts)
        st.mentions += w
        for kind, values in features.items():
            table = st.tables[kind]
            for v in set(values):
                table.values[v] = table.values.get(v, 0.0) + w
            if len(table.values) >= 2 * self.capacity[kind]:
                self._prune(table, self.capacity[kind])

    @staticmethod
    def _prune(table: _Table, keep: int) -> None:
        ranked = sorted(table.values.items(), key=lambda kv: (-kv[1], kv[0]))
        dropped = ranked[keep:]
        if dropped:
            table.floor = max(table.floor, dropped[0][1])
        table.values = dict(ranked[:keep])

    def counts(self, brand: str, kind: Kind, now: datetime | float) -> tuple[dict[str, float], float, float]:
        """Decayed counts at ``now`` for one brand and kind: (feature -> mentions carrying it,
        mentions, floor)."""
        st = self._brands.get(brand)
        if st is None:
            return {}, 0.0, 0.0
        table = st.tables[kind]
        scale = math.exp(-self.rate * (_timestamp(now) - st.epoch))
        return {k: v * scale for k, v in table.values.items()}, st.mentions * scale, table.floor * scale

    def what_is_new(self, brand: str, window_samples: Sequence[Mapping[str, Any]], now: datetime | float, *,
                    exclude_window: bool = True, top: int = 5, prior_size: float = 100.0,
                    min_count: int = 3) -> dict[Kind, list[NewTerm]]:
        """The features whose share rose in ``window_samples`` (every kind, best first).

        With ``exclude_window`` the window's own counts are subtracted from the baseline (they
        were observed already, and recently enough that their decayed weight is close to 1).
        """
        wc = WindowCounts.of(window_samples)
        out: dict[Kind, list[NewTerm]] = {}
        for kind in KINDS:
            table, total, floor = self.counts(brand, kind, now)
            if exclude_window:
                table = {k: max(0.0, v - wc.counts[kind].get(k, 0)) for k, v in table.items()}
                total = max(0.0, total - wc.mentions)
            out[kind] = rank_new_terms(wc.counts[kind], wc.mentions, table, total, kind=kind, baseline_floor=floor,
                                       prior_size=prior_size, min_count=min_count, top=top)
        return out

    # -- checkpoints ------------------------------------------------------------------------

    def brands(self) -> list[str]:
        return list(self._brands)

    def snapshot(self, brand: str) -> dict[str, Any]:
        st = self._brands.get(brand)
        if st is None:
            return {"v": SNAPSHOT_VERSION, "epoch": None}
        return {"v": SNAPSHOT_VERSION, "epoch": st.epoch, "mentions": st.mentions,
                "tables": {k: {"values": t.values, "floor": t.floor} for k, t in st.tables.items()}}

    def restore(self, brand: str, snap: Mapping[str, Any]) -> None:
        if snap.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"term baseline snapshot version {snap.get('v')!r} is not {SNAPSHOT_VERSION}")
        if snap.get("epoch") is None:
            self._brands.pop(brand, None)
            return
        st = _BrandBaseline(epoch=float(snap["epoch"]), mentions=float(snap["mentions"]))
        for kind, t in snap["tables"].items():
            if kind in st.tables:
                st.tables[kind] = _Table({str(k): float(v) for k, v in t["values"].items()}, float(t["floor"]))
        self._brands[brand] = st
