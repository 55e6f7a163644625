"""The streaming negative-spike detector: feeding, evaluation, checkpoints.

``NegativeSpikeDetector`` keeps one :class:`~alerts.detector.state.KeyState` per key and runs
three tests on it (``alerts/DETECTOR.md``, "Method"): the bucket itself, the sustained window
(an exponentially weighted mean of bucket log-ratios, about three hours long) and, while a
bucket is still open, recent windows that end at the stream clock.  Each test's surprise is
calibrated against the key's own history of events, then gated (volume, effect size, warm-up).
The best test of an evaluation drives one alert episode per spike (``lifecycle.py``); closed
buckets are then learned from (``learning.py``).

Pure logic: no I/O, no wall-clock reads.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.detector.config import SCORE_ANCHOR, DetectorConfig
from alerts.detector.events import SEVERITIES, AlertEvent, BucketResult, severity_index
from alerts.detector.learning import EVENT_GAP_SECONDS, Learning
from alerts.detector.lifecycle import Lifecycle
from alerts.detector.state import (
    BUCKET,
    DAILY_EXP,
    DAILY_OBS,
    DISPERSION_PRIOR_BUCKETS,
    READABLE_VERSIONS,
    RECENT,
    SHARE_NEG,
    SHARE_PRIOR_COUNTS,
    SHARE_TOT,
    STATE_VERSION,
    SUB,
    SUSTAINED,
    WEEKLY_EXP,
    WEEKLY_OBS,
    KeyState,
    Window,
    key_from_record,
    key_record,
    weight_at_least,
)
from alerts.detector.stats import INV_SQRT2, LOG10_2, MU_FLOOR, log10_sf, nb_surprise, share_surprise

# Below this normal z a bucket is nowhere near any threshold, so a cheap normal tail suffices.
_FAST_Z = 2.0
# One day of the statistics' own tail stands in for a key's history until it has one.
EVENT_PRIOR_SECONDS = 86400
# Log-ratios are of (count + 1) / (expected + 1): a sparse key's zeros do not look like collapses.
RATIO_PSEUDO_COUNT = 1.0

def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(value: datetime, what: str) -> float:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value!r}")
    return value.timestamp()


# BucketResult(...) costs a Python frame per update; building the tuple directly does not.
_new_tuple = tuple.__new__


class NegativeSpikeDetector(Learning, Lifecycle):
    """Per-key streaming detector of spikes in negative mentions.

    Two ways to feed it, per key (do not mix them on one key):

    * streaming: ``observe()`` each mention (event time), then ``advance(now)``
      regularly; open buckets are evaluated early, buckets older than
      ``now - allowed_lateness`` are closed, evaluated a last time and learned;
    * whole buckets: ``update_bucket()`` with final counts in time order
      (backtests, count series).  A skipped bucket is treated as missing data.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        cfg = config or DetectorConfig()
        self.config = cfg
        th = cfg.thresholds()
        b = cfg.bucket_seconds
        self._b = b
        self._open_s = th.open_surprise
        self._close_s = th.close_surprise
        self._min_ratio = th.min_ratio
        self._min_neg = th.min_negative
        self._gate_cap = 0.99 * th.close_surprise
        # The score at which this configuration has an open alert, and the largest score below it.
        self._theta = th.open_surprise / (th.open_surprise + SCORE_ANCHOR)
        self._below_theta = math.nextafter(self._theta, 0.0)
        self._warmup = cfg.effective_warmup_buckets()
        self._resolve_b = max(1, math.ceil(cfg.resolve_after_seconds / b))
        self._cool_b = math.ceil(cfg.cooldown_seconds / b)
        self._update_interval = cfg.update_min_interval_seconds
        self._rebase_b = (
            None
            if cfg.rebaseline_after_seconds is None
            else max(1, math.ceil(cfg.rebaseline_after_seconds / b))
        )
        self._keep_recent = math.exp(-b / 3600.0)
        self._gap_b = None if cfg.gap_seconds is None else max(1, math.ceil(cfg.gap_seconds / b))
        self._use_daily = cfg.seasonality != "none" and b <= 3600
        self._use_weekly = cfg.seasonality == "weekly"
        self._use_hour_share = cfg.seasonality != "none" and b <= 3600
        # Each hour-of-day slot is updated this many times per day (hour-of-week: per week).
        per_slot = max(1.0, 3600.0 / b)
        self._a_lvl = 1.0 - 0.5 ** (b / cfg.level_half_life_seconds)
        self._a_day = 1.0 - 0.5 ** (1.0 / (cfg.daily_half_life_days * per_slot))
        self._a_week = 1.0 - 0.5 ** (1.0 / (cfg.weekly_half_life_weeks * per_slot))
        self._a_share = 1.0 - 0.5 ** (b / cfg.share_half_life_seconds)
        self._a_disp = 1.0 - 0.5 ** (b / cfg.dispersion_half_life_seconds)
        self._keep_day = 1.0 - self._a_day
        self._keep_week = 1.0 - self._a_week
        self._keep_share = 1.0 - self._a_share
        self._keep_disp = 1.0 - self._a_disp
        # Winsorising needs a sane expectation first: an hour of buckets.
        self._clip_after = max(6, math.ceil(3600 / b))
        self._shrink = cfg.profile_shrink_counts
        self._seed_buckets = cfg.profile_shrink_seconds / b
        self._share_prior = SHARE_PRIOR_COUNTS * cfg.prior_negative_share
        self._early_min = cfg.early_min_fraction
        self._prior_disp = cfg.prior_dispersion
        self._min_disp = cfg.min_dispersion
        self._prior_sdisp = cfg.prior_share_dispersion
        self._min_sdisp = cfg.min_share_dispersion
        self._clip = cfg.clip_sigmas
        # Sustained channel: EW mean of bucket log-ratios with this per-bucket decay.
        hl = cfg.sustained_half_life_seconds
        self._sus_on = hl is not None
        d = 0.5 ** (b / hl) if hl is not None else 0.0
        self._sus_decay = d
        self._sus_neff = (1.0 + d) / (1.0 - d) if hl is not None else 1.0
        self._sus_var_factor = (1.0 - d) / (1.0 + d) if hl is not None else 1.0
        self._sus_prior_w = EVENT_PRIOR_SECONDS / b
        self._keep_sus_var = 0.5 ** (b / (7 * 86400.0))
        # Event memory: per-bucket decay, prior weight and the preset's return period in buckets.
        self._ev_keep = 0.5 ** (b / (cfg.event_memory_days * 86400.0))
        self._ev_prior = EVENT_PRIOR_SECONDS / b
        self._ev_gap = max(1, math.ceil(EVENT_GAP_SECONDS / b))
        self._log_rp = math.log10(th.return_period_days * 86400.0 / b)
        # Recent windows end at the stream clock (DETECTOR.md, "Early detection"): a whole bucket,
        # tried once the bucket itself is hot and free of charge (it only adds evidence to a spike
        # the bucket already shows), and the expectation floor and twice it, which may open on
        # their own and so pay a Bonferroni correction for the two lengths.
        short = sorted({x for x in (self._early_min, 2.0 * self._early_min) if x < 1.0})
        pen = math.log10(len(short)) if short else 0.0
        self._recent_windows: tuple[tuple[float, float, bool], ...] = (
            (1.0, 0.0, True),
            *((x, pen, False) for x in short),
        )
        self._reset()

    def _reset(self) -> None:
        # Everything mutable lives here; the rest of the instance is derived from the config.
        self._keys: dict[str, KeyState] = {}
        self._sorted_keys: list[str] | None = None
        self._dirty: dict[str, None] = {}
        self._episodes: dict[str, None] = {}
        self._clock: float | None = None
        # Oldest bucket whose sub-bucket histogram is kept: the one before the clock's bucket.
        self._hist_min: int | None = None
        self._close_before: int | None = None
        self._active: set[int] = set()
        self._last_active: int | None = None
        # Keys whose state advance()/update_bucket() changed since pop_changed(): what a caller
        # that checkpoints per key must write (not part of the snapshot).
        self._changed: dict[str, None] = {}

    # ------------------------------------------------------------------ feeding

    def observe(self, key: str, event_time: datetime, *, negative: bool, count: int = 1) -> None:
        """Count ``count`` mentions of ``key`` at ``event_time`` (negative or not).

        Mentions whose bucket already closed are dropped and counted in
        ``late_dropped``; nothing is evaluated until ``advance()``.
        """
        if count <= 0:
            if count < 0:
                raise ValueError("count must be >= 0")
            return
        ts = _ts(event_time, "event_time")
        idx = math.floor(ts / self._b)
        st = self._keys.get(key)
        if st is None:
            st = self._new_key(key, manual=False)
        elif st.manual:
            raise ValueError(f"key {key!r} is fed with update_bucket(); do not mix it with observe()")
        cb = self._close_before
        if (cb is not None and idx < cb) or (st.closed_upto is not None and idx < st.closed_upto):
            st.late += count
            return
        cell = st.open.get(idx)
        if cell is None:
            cell = st.open[idx] = [0, 0]
        cell[0] += count
        if negative:
            cell[1] += count
        hist = st.hist
        h = hist.get(idx)
        if h is None:
            hmin = self._hist_min
            if hmin is None or idx >= hmin:
                if hist and hmin is not None:
                    for old in [i for i in hist if i < hmin]:
                        del hist[old]
                h = hist[idx] = array("i", bytes(8 * SUB))
        if h is not None:
            sub = int((ts - idx * self._b) * SUB // self._b)
            sub = 0 if sub < 0 else (SUB - 1 if sub >= SUB else sub)
            h[sub] += count
            if negative:
                h[SUB + sub] += count
        self._dirty[key] = None
        self._active.add(idx)

    def advance(self, now: datetime, *, collect: list[BucketResult] | None = None) -> list[AlertEvent]:
        """Move the stream clock to ``now`` and return the alert events it causes.

        Closes (evaluates finally and learns from) every bucket that ended more
        than ``allowed_lateness`` before ``now``, then evaluates the still-open
        buckets that changed (early detection, with the recent windows) and, for
        keys with an open alert, buckets that have just ended (resolution).
        ``now`` is the stream's clock (max event time, or wall clock), never read
        here.  Pass ``collect`` to receive every evaluation as a ``BucketResult``.
        """
        now_ts = _ts(now, "now")
        if self._clock is None or now_ts > self._clock:
            self._clock = now_ts
        clock = self._clock
        b = self._b
        self._hist_min = math.floor(clock / b) - 1
        events: list[AlertEvent] = []
        close_before = math.floor((clock - self.config.allowed_lateness_seconds) / b)
        if self._close_before is None or close_before > self._close_before:
            self._close_all(close_before, clock, events, collect)
            self._close_before = close_before
        if not self.config.early_evaluation:
            self._dirty.clear()
            return events
        now_idx = math.floor(clock / b)
        todo = dict.fromkeys(self._dirty)
        todo.update(self._episodes)
        self._dirty.clear()
        self._changed.update(todo)
        for key in sorted(todo):
            st = self._keys[key]
            start = st.closed_upto if st.closed_upto is not None else (min(st.open) if st.open else now_idx)
            if st.episode is not None:
                # Ended buckets of an alerting key are evaluated even when empty: that is how it resolves.
                first = start if st.ended_upto is None else max(start, st.ended_upto)
                idxs = set(range(first, now_idx))
                idxs.update(st.open)
            else:
                idxs = set(st.open)
            for idx in sorted(idxs):
                if idx > now_idx:
                    continue
                frac = (clock - idx * b) / b
                ended = frac >= 1.0
                cell = st.open.get(idx)
                tot, neg = (cell[0], cell[1]) if cell is not None else (0, 0)
                res = self._evaluate(
                    key, st, idx, tot, neg, frac if frac < 1.0 else 1.0, ended, clock, False, None, not ended
                )
                if res.events:
                    events.extend(res.events)
                if collect is not None:
                    collect.append(res)
            if st.ended_upto is None or now_idx > st.ended_upto:
                st.ended_upto = now_idx
        return events

    def update_bucket(self, key: str, bucket_start: datetime, total: int, negative: int) -> BucketResult:
        """Evaluate and learn one complete bucket of ``key`` (buckets in time order).

        A bucket older than the key's last one is late: dropped, counted in
        ``late_dropped``.  Buckets skipped between calls are missing data (a
        gap), not zeros: nothing is learned from them.
        """
        if negative < 0 or total < negative:
            raise ValueError(f"need 0 <= negative <= total, got total={total} negative={negative}")
        b = self._b
        if bucket_start.tzinfo is None:
            raise ValueError(f"bucket_start must be timezone-aware (UTC), got naive {bucket_start!r}")
        ts = bucket_start.timestamp()
        idx = int(ts // b)
        st = self._keys.get(key)
        if st is None:
            st = self._new_key(key, manual=True)
        elif not st.manual:
            raise ValueError(f"key {key!r} is fed with observe(); do not mix it with update_bucket()")
        if st.closed_upto is not None and idx < st.closed_upto:
            st.late += total
            return BucketResult(
                key, bucket_start, total, negative, 0.0, 0.0, 0.0, 1.0, 0.0, "none", (), 1.0, True, True
            )
        aligned = bucket_start if ts == idx * b else None
        self._changed[key] = None
        res = self._evaluate(key, st, idx, total, negative, 1.0, True, (idx + 1) * b, True, aligned)
        st.closed_upto = idx + 1
        return res

    # ------------------------------------------------------------------ queries

    @property
    def late_dropped(self) -> int:
        """Mentions dropped because they arrived after their bucket closed (all keys)."""
        return sum(st.late for st in self._keys.values())

    def stats(self, key: str | None = None) -> dict[str, Any]:
        """Counters: keys, mentions still in open buckets, late_dropped, suppressed (re-triggers
        held back by the cooldown), open alerts."""
        states = [self._keys[key]] if key is not None else list(self._keys.values())
        return {
            "keys": len(states),
            "pending": sum(c[0] for st in states for c in st.open.values()),
            "late_dropped": sum(st.late for st in states),
            "suppressed": sum(st.suppressed for st in states),
            "open_alerts": sum(1 for st in states if st.episode is not None),
            "clock": None if self._clock is None else _dt(self._clock).isoformat(),
        }

    def keys(self) -> list[str]:
        return list(self._keys)

    @property
    def clock(self) -> datetime | None:
        """The stream clock: the latest ``now`` passed to ``advance()`` (or restored), if any."""
        return None if self._clock is None else _dt(self._clock)

    def pop_changed(self) -> list[str]:
        """Keys whose state changed since the last call (sorted), then forget them.

        ``advance()`` changes more than the keys that received mentions: it closes every key's
        buckets and re-evaluates keys with an open alert.  A caller that checkpoints per key
        writes these, so a restore never resumes a key from before a resolution it published.
        """
        out = sorted(self._changed)
        self._changed.clear()
        return out

    def active_alerts(self) -> dict[str, str]:
        """``{key: alert_id}`` for every key with an open episode."""
        return {k: st.episode.alert_id for k, st in self._keys.items() if st.episode is not None}

    def episode_start(self, key: str) -> datetime | None:
        """Start of the bucket in which ``key``'s open alert opened, or None when it has none."""
        st = self._keys.get(key)
        if st is None or st.episode is None:
            return None
        return _dt(st.episode.start * self._b)

    def expectation(self, key: str, bucket_start: datetime) -> tuple[float, float, float]:
        """Current ``(expected_total, expected_negative, expected_share)`` of one whole bucket."""
        st = self._keys.get(key)
        if st is None:
            return (0.0, 0.0, self.config.prior_negative_share)
        idx = math.floor(_ts(bucket_start, "bucket_start") / self._b)
        mu_t, mu_n, p0, *_ = self._expect(st, idx)
        return (mu_t, mu_n, p0)

    def negative_dispersion(self, key: str, expected_negative: float) -> float:
        """The over-dispersion ``alpha`` of ``key``'s negative count around ``expected_negative``
        (variance ``m + alpha·m²``), as the count test in ``_evaluate`` takes it: the key's learned
        dispersion shrunk to the preset's prior, more so for a small expectation. With
        ``alerts.chart.count_band`` it gives the band of counts the detector calls ordinary."""
        st = self._keys.get(key)
        mu = max(expected_negative, 0.0)
        kp = DISPERSION_PRIOR_BUCKETS * mu * mu
        num, den = (st.disp_neg_num, st.disp_neg_den) if st is not None else (0.0, 0.0)
        den += kp
        alpha = (num + self._prior_disp * kp) / den if den > 1e-12 else self._prior_disp
        return alpha if alpha > self._min_disp else self._min_disp

    # ------------------------------------------------------------------ state

    def snapshot(self, key: str | None = None) -> dict[str, Any]:
        """JSON-serialisable state: everything (``key=None``) or one key's record.

        A per-key record carries the small global clock state too, so a worker
        can checkpoint each key to a compacted topic and ``restore_many()``.
        Floats round-trip exactly, so a restored detector continues
        bit-for-bit like the original.
        """
        head: dict[str, Any] = {
            "v": STATE_VERSION,
            "bucket_seconds": self._b,
            "global": {
                "clock": self._clock,
                "close_before": self._close_before,
                "active": sorted(self._active),
                "last_active": self._last_active,
            },
        }
        if key is None:
            head["keys"] = {k: key_record(st, k in self._dirty) for k, st in self._keys.items()}
            return head
        st = self._keys.get(key)
        if st is None:
            raise KeyError(key)
        head["key"] = key
        head["state"] = key_record(st, key in self._dirty)
        return head

    @classmethod
    def restore(cls, config: DetectorConfig, state: Mapping[str, Any]) -> NegativeSpikeDetector:
        """Detector from ``snapshot()`` output (whole, or one key's record)."""
        det = cls(config)
        det.load(state)
        return det

    @classmethod
    def restore_many(
        cls, config: DetectorConfig, states: Iterable[Mapping[str, Any]]
    ) -> NegativeSpikeDetector:
        """Detector from per-key records (e.g. the latest value of each key in a compacted topic)."""
        det = cls(config)
        for state in states:
            det.load(state)
        return det

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Replace this detector's whole state with a snapshot (the alert worker's checkpoint hook)."""
        self._reset()
        self.load(state)

    def load(self, state: Mapping[str, Any]) -> None:
        """Merge a snapshot (whole or per-key) into this detector, replacing those keys."""
        version = state.get("v")
        if version not in READABLE_VERSIONS:
            raise ValueError(f"unsupported detector state version {version!r}")
        if state.get("bucket_seconds") != self._b:
            raise ValueError(
                f"state was taken with bucket_seconds={state.get('bucket_seconds')}, config has {self._b}"
            )
        g = state["global"]
        if g["clock"] is not None and (self._clock is None or g["clock"] > self._clock):
            self._clock = float(g["clock"])
            self._hist_min = math.floor(self._clock / self._b) - 1
        if g["close_before"] is not None and (
            self._close_before is None or g["close_before"] > self._close_before
        ):
            self._close_before = int(g["close_before"])
        if g["last_active"] is not None and (
            self._last_active is None or g["last_active"] > self._last_active
        ):
            self._last_active = int(g["last_active"])
        cb = self._close_before
        self._active.update(i for i in g["active"] if cb is None or i >= cb)
        if "keys" in state:
            records = state["keys"].items()
        else:
            records = [(state["key"], state["state"])]
        for name, rec in records:
            self._keys[name] = key_from_record(rec, int(version), self._b)
            self._sorted_keys = None
            if rec.get("dy"):
                self._dirty[name] = None
            else:
                self._dirty.pop(name, None)
            if self._keys[name].episode is not None:
                self._episodes[name] = None
            else:
                self._episodes.pop(name, None)

    # ------------------------------------------------------------------ internals

    def _new_key(self, key: str, manual: bool) -> KeyState:
        st = KeyState(manual)
        self._keys[key] = st
        self._sorted_keys = None
        return st

    def _close_all(
        self, close_before: int, clock: float, events: list[AlertEvent], collect: list[BucketResult] | None
    ) -> None:
        gap_cache: dict[int, int | None] = {}
        hmin = self._hist_min
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self._keys)
        for key in self._sorted_keys:
            st = self._keys[key]
            if st.manual:
                continue
            start = st.closed_upto
            if start is None:
                if not st.open:
                    continue
                start = min(st.open)
            idx = start
            while idx < close_before:
                cell = st.open.pop(idx, None)
                if cell is None:
                    if idx in gap_cache:
                        gap_end = gap_cache[idx]
                    else:
                        gap_end = gap_cache[idx] = self._gap_end(idx, clock)
                    if gap_end is not None:
                        # The whole silent run is missing data: skip it in one step.
                        idx = gap_end if gap_end < close_before else close_before
                        continue
                    tot, neg = 0, 0
                else:
                    tot, neg = cell[0], cell[1]
                res = self._evaluate(key, st, idx, tot, neg, 1.0, True, clock, True)
                if res.events:
                    events.extend(res.events)
                if collect is not None:
                    collect.append(res)
                idx += 1
            if start < close_before:
                st.closed_upto = close_before
                self._changed[key] = None
            hist = st.hist
            if hist and hmin is not None:
                for old in [i for i in hist if i < hmin]:
                    del hist[old]
        closed = [i for i in self._active if i < close_before]
        if closed:
            top = max(closed)
            if self._last_active is None or top > self._last_active:
                self._last_active = top
            self._active.difference_update(closed)

    def _gap_end(self, idx: int, clock: float) -> int | None:
        """End (exclusive) of the stream-wide silence containing bucket ``idx`` if it is a gap, else None.

        Total silence across every key for at least ``gap_seconds`` is an
        outage (ingestion down), not zero mentions, so those buckets are
        missing data.  A silence still running counts up to ``clock``.
        """
        if self._gap_b is None or idx in self._active:
            return None
        prev = self._last_active
        earlier = [i for i in self._active if i < idx]
        if earlier:
            prev = max(earlier)
        later = [i for i in self._active if i > idx]
        end = min(later) if later else math.floor(clock / self._b) + 1
        start = prev + 1 if prev is not None else idx
        return end if end - start >= self._gap_b else None

    def _expect(self, st: KeyState, idx: int) -> tuple[float, float, float, float, float, int, int, float]:
        """Whole-bucket expectations: total, negative, share, daily/weekly factors, slots, share sample."""
        t = idx * self._b
        hod = (t // 3600) % 24
        how = ((t // 86400 + 3) % 7) * 24 + hod
        prof = st.profile
        # Seasonal factors are ratios of sums shrunk to 1 by k pseudo-counts: a slot with little
        # history falls back to the overall level (and a sparse key keeps a flat profile).
        k = self._shrink
        de = (prof[DAILY_OBS + hod] + k) / (prof[DAILY_EXP + hod] + k) if self._use_daily else 1.0
        we = (prof[WEEKLY_OBS + how] + k) / (prof[WEEKLY_EXP + how] + k) if self._use_weekly else 1.0
        mu_t = st.level * de * we
        sg = (st.share_neg + self._share_prior) / (st.share_tot + SHARE_PRIOR_COUNTS)
        if self._use_hour_share:
            tp = prof[SHARE_TOT + hod] + k
            p0 = (prof[SHARE_NEG + hod] + k * sg) / tp
        else:
            tp = st.share_tot + SHARE_PRIOR_COUNTS
            p0 = sg
        return mu_t, mu_t * p0, p0, de, we, hod, how, tp

    def _calibrated(self, st: KeyState, s: float, y: float, events: array[float]) -> float:
        """The surprise ``s`` of a window with log-ratio ``y``, judged against the key's own events.

        The chance that a bucket starts an event at least this large is estimated from the
        (decayed) count of the key's past events with a log-ratio of at least ``y``, shrunk to
        the statistics' own tail by a day of prior buckets.  That return period is put on the
        surprise scale with the preset's own: reaching ``open_surprise`` needs a rise this key
        shows less often than ``return_period_days``.  Never more than ``s``: the key's history
        can only make it more cautious than the statistics.
        """
        c = weight_at_least(events, y)
        if c <= 0.0:
            return s
        m = st.learned - self._warmup
        decay = self._ev_keep ** (m if m > 0 else 0)
        seen = (1.0 - decay) / (1.0 - self._ev_keep)
        tail = 10.0**-s if s < 300.0 else 0.0
        p = (self._ev_prior * tail + c * decay) / (self._ev_prior + seen)
        t = self._open_s - math.log10(p) - self._log_rp
        return t if t < s else s

    def _evaluate(
        self,
        key: str,
        st: KeyState,
        idx: int,
        tot: int,
        neg: int,
        frac: float,
        ended: bool,
        now_ts: float,
        final: bool,
        start_dt: datetime | None = None,
        recent: bool = False,
    ) -> BucketResult:
        # The per-update path: plain floats and locals, few helper calls, because 10k keys x 288
        # buckets a day adds up.  The expectation repeats _expect() inline; a test keeps them equal.
        b = self._b
        t = idx * b
        hod = (t // 3600) % 24
        how = ((t // 86400 + 3) % 7) * 24 + hod
        prof = st.profile
        lvl = st.level
        k = self._shrink
        de = (prof[DAILY_OBS + hod] + k) / (prof[DAILY_EXP + hod] + k) if self._use_daily else 1.0
        we = (prof[WEEKLY_OBS + how] + k) / (prof[WEEKLY_EXP + how] + k) if self._use_weekly else 1.0
        mu_t = lvl * de * we
        sg = (st.share_neg + self._share_prior) / (st.share_tot + SHARE_PRIOR_COUNTS)
        if self._use_hour_share:
            tp = prof[SHARE_TOT + hod] + k
            p0 = (prof[SHARE_NEG + hod] + k * sg) / tp
        else:
            tp = st.share_tot + SHARE_PRIOR_COUNTS
            p0 = sg
        mu_n = mu_t * p0
        f = frac if frac > self._early_min else self._early_min
        eligible = st.learned >= self._warmup
        # Count test: negatives against the seasonal expectation, negative binomial.
        m = f * mu_n
        if m < MU_FLOOR:
            m = MU_FLOOR
        pd = self._prior_disp
        kp = DISPERSION_PRIOR_BUCKETS * mu_n * mu_n
        den = st.disp_neg_den + kp
        alpha = (st.disp_neg_num + pd * kp) / den if den > 1e-12 else pd
        if alpha < self._min_disp:
            alpha = self._min_disp
        z_c = (neg - m) / math.sqrt(m + alpha * m * m)
        # Share test: negatives out of the observed total, overdispersed binomial.
        z_s = -1.0
        rho = 0.0
        phi = 1.0
        if tot > 0 and 0.0 < p0 < 0.999:
            q = p0 * (1.0 - p0)
            psd = self._prior_sdisp
            kr = DISPERSION_PRIOR_BUCKETS * mu_t * mu_t * q
            rden = st.disp_share_den + kr
            rho = (st.disp_share_num + psd * kr) / rden if rden > 1e-12 else psd
            if rho < self._min_sdisp:
                rho = self._min_sdisp
            # p0 is itself an estimate from ~tp mentions: its uncertainty widens the test.
            phi = 1.0 + (tot - 1) * rho + tot / tp
            z_s = (neg - tot * p0) / math.sqrt(tot * q * phi)
        y = math.log((neg + RATIO_PSEUDO_COUNT) / (m + RATIO_PSEUDO_COUNT))
        cap = self._gate_cap
        zz = z_c if z_c > z_s else z_s
        share = neg / tot if tot > 0 else 0.0
        ratio = 0.0
        if zz < _FAST_Z:
            # Nowhere near a threshold: one normal tail gives the score, gates cannot matter.
            tail = 0.5 * math.erfc(zz * INV_SQRT2)
            s = -math.log10(tail) - LOG10_2
            if s < 0.0:
                s = 0.0
            s_body = s_best = s
        if zz >= _FAST_Z or s >= cap:
            if z_c < _FAST_Z and z_s < _FAST_Z:
                s_c = -log10_sf(z_c) - LOG10_2
                s_s = -log10_sf(z_s) - LOG10_2 if tot > 0 else 0.0
            else:
                s_c = (nb_surprise(neg, m, alpha) if z_c >= _FAST_Z else -log10_sf(z_c)) - LOG10_2
                s_s = (share_surprise(neg, tot, p0, phi) if z_s >= _FAST_Z else -log10_sf(z_s)) - LOG10_2
            s_body = s_c if s_c > s_s else s_s
            em = st.events
            ev = em.bucket.peaks if em is not None else None
            if ev is not None:
                s_c = self._calibrated(st, s_c, y, ev)
                s_s = self._calibrated(st, s_s, y, ev)
            s_best = s_c if s_c > s_s else s_s
            ratio_c = neg / m
            ratio_s = share / p0 if p0 > 0.0 else 0.0
            # Gates (volume, effect size, warm-up) cap the surprise just under the close threshold.
            big = neg >= self._min_neg and eligible
            min_ratio = self._min_ratio
            g_c = s_c if big and ratio_c >= min_ratio else (s_c if s_c < cap else cap)
            g_s = s_s if big and ratio_s >= min_ratio else (s_s if s_s < cap else cap)
            if g_c >= g_s:
                s, ratio = g_c, ratio_c
            else:
                s, ratio = g_s, ratio_s
            if s < 0.0:
                s = 0.0
        bucket_hot = s >= self._close_s
        # Which test wins this evaluation: the bucket, the sustained window or a recent window.
        channel = BUCKET
        # Sustained channel: the EW mean of bucket log-ratios (this bucket included, learned only
        # when it closes) must stand out against both sampling noise and the key's usual drift.
        sus_body = 0.0
        ybar = rise = 0.0
        k_eff = m_eff = 0.0
        if self._sus_on:
            d = self._sus_decay
            # Measured against the mean expectation, bursts included (the log of a small count is
            # biased a little low; correcting it made small bursty keys' sustained test fire on
            # their routine bursts, see DETECTOR.md).
            rise = ybar = d * st.sus_mean + (1.0 - d) * y
            w0 = self._sus_prior_w
            # The rise must still be going on: a bucket back below half of it neither opens nor
            # holds an alert on the strength of the hours before it (the EW mean lags the end of a
            # rise, and the episodes it would hold must resolve soon after their spike).
            if rise > 0.0 and y + y >= rise:
                v0 = (1.0 / (mu_n + RATIO_PSEUDO_COUNT) + alpha) * self._sus_var_factor
                zh = rise / math.sqrt((w0 * v0 + st.sus_var) / (w0 + st.sus_weight))
                if zh > 1.0:
                    neff = self._sus_neff
                    k_eff = (d * st.sus_obs + (1.0 - d) * neg) * neff
                    m_eff = (d * st.sus_exp + (1.0 - d) * f * mu_n) * neff
                    if m_eff < MU_FLOOR:
                        m_eff = MU_FLOOR
                    if k_eff > m_eff:
                        s_g = -log10_sf(zh)
                        s_nb = nb_surprise(round(k_eff), m_eff, alpha / neff)
                        sus_body = (s_g if s_g < s_nb else s_nb) - LOG10_2
                        if sus_body > 0.0:
                            em = st.events
                            sp = em.sustained.peaks if em is not None else None
                            s_h = self._calibrated(st, sus_body, rise, sp) if sp is not None else sus_body
                            ratio_h = k_eff / m_eff
                            if s_h > s_best:
                                s_best = s_h
                            if not (eligible and round(k_eff) >= self._min_neg and ratio_h >= self._min_ratio):
                                s_h = s_h if s_h < cap else cap
                            if s_h > s:
                                s, ratio, channel = s_h, ratio_h, SUSTAINED
        # Early, a recent window ending at the clock catches a spike the bucket boundary splits.
        recent_window: Window | None = None
        if recent and st.hist:
            found = self._recent_window(st, idx, neg, now_ts, mu_n, mu_t, p0, tp, alpha, eligible, bucket_hot)
            if found is not None and found[0] > s:
                s, recent_window = found
                ratio, channel = recent_window.ratio, RECENT
                if s > s_best:
                    s_best = s
        sev = severity_index(s, self._open_s, ratio)
        score = s / (s + SCORE_ANCHOR)
        p_value = 10.0**-s_best if s_best > 0.0 else 1.0
        if p_value > 1.0:
            p_value = 1.0
        hot = s >= self._close_s
        events: tuple[AlertEvent, ...] = ()
        if hot or st.episode is not None:
            end = t + frac * b
            if channel == RECENT and recent_window is not None:
                window = recent_window._replace(score=score, p_value=p_value)
            elif channel == SUSTAINED:
                tot_eff = (self._sus_decay * st.sus_tot + (1.0 - self._sus_decay) * tot) * self._sus_neff
                window = Window(
                    idx,
                    end - self._sus_neff * b,
                    end,
                    round(tot_eff),
                    round(k_eff),
                    m_eff,
                    m_eff / p0 if p0 > 0.0 else m_eff,
                    k_eff / tot_eff if tot_eff > 0.0 else 0.0,
                    p0,
                    score,
                    p_value,
                    ratio,
                    SUSTAINED,
                )
            else:
                window = Window(idx, t, end, tot, neg, m, f * mu_t, share, p0, score, p_value, ratio, BUCKET)
            events = self._lifecycle(key, st, window, s, sev, ended, now_ts)
        if final:
            self._learn(st, idx, tot, neg, mu_t, mu_n, p0, alpha, rho, de, we, hod, how, bucket_hot)
            if self._sus_on:
                self._learn_sustained(st, ybar, tot, neg, f * mu_n, bucket_hot)
            if eligible:
                self._learn_events(st, s_body, y, sus_body, rise)
            st.learned += 1
            day = (idx * b) // 86400
            if day != st.day:
                if st.day is not None:
                    self._renormalise(st)
                st.day = day
            rb = st.rebaseline
            if rb is not None:
                self._probation(st, rb, idx, neg, mu_n)
            ep = st.episode
            if ep is not None and self._rebase_b is not None:
                kr = self._keep_recent
                ep.recent_total = ep.recent_total * kr + tot
                ep.recent_exp_total = ep.recent_exp_total * kr + mu_t
                ep.recent_neg = ep.recent_neg * kr + neg
                ep.recent_exp_neg = ep.recent_exp_neg * kr + mu_n
                if hot and idx + 1 - ep.start >= self._rebase_b:
                    events = (*events, self._rebaseline(key, st, ep, idx, now_ts))
        # One meaning for the score: at least the threshold exactly while an alert is open.
        if st.episode is not None:
            if score < self._theta:
                score = self._theta
        elif score >= self._theta:
            score = self._below_theta
        return _new_tuple(
            BucketResult,
            (
                key,
                _dt(t) if start_dt is None else start_dt,
                tot,
                neg,
                f * mu_t,
                m,
                p0,
                p_value,
                score,
                SEVERITIES[sev],
                events,
                frac,
                final,
                False,
            ),
        )

    def _recent_window(
        self,
        st: KeyState,
        idx: int,
        neg: int,
        clock: float,
        mu_n0: float,
        mu_t0: float,
        p0: float,
        tp: float,
        alpha: float,
        eligible: bool,
        bucket_hot: bool,
    ) -> tuple[float, Window] | None:
        """The best of the recent windows that end at the clock (DETECTOR.md, "Early detection").

        Windows of a fixed set of lengths may reach back into the previous bucket through the
        sub-bucket histogram, so a spike the bucket boundary splits, or one that starts mid-bucket,
        is tested on its own evidence rather than diluted by the quiet part of a bucket.  The
        lengths are fixed, not searched.  The bucket-long window is only tried when the bucket's
        own test is hot; the short ones pay ``log10(2)`` for being two.
        """
        h_cur = st.hist.get(idx)
        if h_cur is None:
            return None
        h_prev = st.hist.get(idx - 1)
        min_neg = self._min_neg
        prev_neg = sum(h_prev[SUB:]) if h_prev is not None else 0
        if neg + prev_neg < min_neg or not eligible:
            return None
        b = self._b
        width = b / SUB
        bucket_start = idx * b
        pos = clock - bucket_start
        mu_n1 = mu_t1 = -1.0
        best: tuple[float, Window] | None = None
        early_min = self._early_min
        cap = self._gate_cap
        for frac_l, penalty, gated in self._recent_windows:
            if gated:
                if not bucket_hot:
                    continue
                # Twice the bucket's evidence: as much of the previous bucket as has elapsed of
                # this one (at least the expectation floor), one bucket long at most.
                back = pos if pos > early_min * b else early_min * b
                length = pos + back if pos + back < b else b
            else:
                length = frac_l * b
            # Windows start on a sub-bucket boundary and are never longer than their length.
            w_start = clock - length
            if w_start >= bucket_start - 1e-9:
                j0 = math.ceil((w_start - bucket_start) * SUB / b - 1e-9)
                if j0 <= 0 or j0 >= SUB:
                    continue  # the bucket so far is already the bucket's own test
                neg_w = sum(h_cur[SUB + j0 :])
                if neg_w < min_neg:
                    continue
                tot_w = sum(h_cur[j0:SUB])
                start = bucket_start + j0 * width
                cover_prev = 0.0
                cover_cur = pos - j0 * width
            else:
                if h_prev is None:
                    continue
                jp = math.ceil((w_start - (bucket_start - b)) * SUB / b - 1e-9)
                jp = 0 if jp < 0 else jp
                if jp >= SUB:
                    continue
                neg_w = sum(h_prev[SUB + jp :]) + sum(h_cur[SUB:])
                if neg_w < min_neg:
                    continue
                tot_w = sum(h_prev[jp:SUB]) + sum(h_cur[:SUB])
                start = bucket_start - b + jp * width
                cover_prev = b - jp * width
                cover_cur = pos
            if cover_prev > 0.0 and mu_n1 < 0.0:
                mu_t1, mu_n1, *_ = self._expect(st, idx - 1)
            m = (mu_n0 * cover_cur + (mu_n1 * cover_prev if cover_prev > 0.0 else 0.0)) / b
            mt = (mu_t0 * cover_cur + (mu_t1 * cover_prev if cover_prev > 0.0 else 0.0)) / b
            floor = early_min * mu_n0
            if m < floor and m > 0.0:
                mt *= floor / m
                m = floor
            if m < MU_FLOOR:
                m = MU_FLOOR
            pw = m / mt if mt > 0.0 else p0
            z_c = (neg_w - m) / math.sqrt(m + alpha * m * m)
            z_s = -1.0
            phi = 1.0
            if tot_w > 0 and 0.0 < pw < 0.999:
                q = pw * (1.0 - pw)
                kr = DISPERSION_PRIOR_BUCKETS * mu_t0 * mu_t0 * q
                rden = st.disp_share_den + kr
                rho = (st.disp_share_num + self._prior_sdisp * kr) / rden if rden > 1e-12 else self._prior_sdisp
                if rho < self._min_sdisp:
                    rho = self._min_sdisp
                phi = 1.0 + (tot_w - 1) * rho + tot_w / tp
                z_s = (neg_w - tot_w * pw) / math.sqrt(tot_w * q * phi)
            if z_c < _FAST_Z and z_s < _FAST_Z:
                continue  # below every close threshold
            pen = LOG10_2 + penalty
            s_c = (nb_surprise(neg_w, m, alpha) if z_c >= _FAST_Z else -log10_sf(z_c)) - pen
            s_s = (share_surprise(neg_w, tot_w, pw, phi) if z_s >= _FAST_Z else -log10_sf(z_s)) - pen
            em = st.events
            ev = em.bucket.peaks if em is not None else None
            if ev is not None:
                yw = math.log((neg_w + RATIO_PSEUDO_COUNT) / (m + RATIO_PSEUDO_COUNT))
                s_c = self._calibrated(st, s_c, yw, ev)
                s_s = self._calibrated(st, s_s, yw, ev)
            ratio_c = neg_w / m
            share_w = neg_w / tot_w if tot_w > 0 else 0.0
            ratio_s = share_w / pw if pw > 0.0 else 0.0
            g_c = s_c if ratio_c >= self._min_ratio else (s_c if s_c < cap else cap)
            g_s = s_s if ratio_s >= self._min_ratio else (s_s if s_s < cap else cap)
            s, ratio = (g_c, ratio_c) if g_c >= g_s else (g_s, ratio_s)
            if s < self._close_s or (best is not None and s <= best[0]):
                continue
            best = (s, Window(idx, start, clock, tot_w, neg_w, m, mt, share_w, pw, 0.0, 0.0, ratio, RECENT))
        return best
