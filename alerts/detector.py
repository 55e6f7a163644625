"""Streaming negative-spike detector: seasonal, count-aware, early, checkpointable.

One ``NegativeSpikeDetector`` watches many keys (a brand, or ``"brand|lang"``, ...)
and raises one alert episode per spike with a stable ``alert_id`` and the
lifecycle ``opened -> updated* -> resolved``.  The method, presets and tuning
knobs are documented in ``alerts/DETECTOR.md``.

Pure logic: no I/O, no wall-clock reads (time is always passed in), so the same
inputs always give the same events, and ``snapshot()``/``restore()`` resume a
run exactly.

>>> from datetime import UTC, datetime, timedelta
>>> det = NegativeSpikeDetector(DetectorConfig.preset("balanced", warmup_buckets=12))
>>> t0 = datetime(2026, 1, 5, tzinfo=UTC)
>>> for i in range(48):
...     _ = det.update_bucket("acme", t0 + timedelta(minutes=5 * i), total=40, negative=8)
>>> r = det.update_bucket("acme", t0 + timedelta(minutes=5 * 48), total=90, negative=58)
>>> [e.kind for e in r.events], r.score > 0.5
(['opened'], True)
"""

from __future__ import annotations

import base64
import hashlib
import math
import sys
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

Sensitivity = Literal["fewer", "balanced", "more"]
Seasonality = Literal["weekly", "daily", "none"]
EventKind = Literal["opened", "updated", "resolved"]

SEVERITIES: tuple[str, ...] = ("none", "low", "medium", "high", "critical")
STATE_VERSION = 1


class Thresholds(NamedTuple):
    """Decision thresholds; surprises are ``-log10(p)`` of the combined test."""

    open_surprise: float
    close_surprise: float
    min_ratio: float
    min_negative: int


PRESETS: dict[str, Thresholds] = {
    # min_negative >= 4 everywhere so that three angry posts never page anyone.
    "fewer": Thresholds(open_surprise=7.0, close_surprise=3.0, min_ratio=2.0, min_negative=8),
    "balanced": Thresholds(open_surprise=5.0, close_surprise=2.5, min_ratio=1.5, min_negative=5),
    "more": Thresholds(open_surprise=3.5, close_surprise=2.0, min_ratio=1.25, min_negative=4),
}

# Severity rungs above "low": (extra surprise over the open threshold, minimum excess ratio).
_SEVERITY_RUNGS: tuple[tuple[float, float], ...] = ((3.0, 2.0), (6.0, 3.0), (10.0, 5.0))

_LN10 = math.log(10.0)
_LOG10_2 = math.log10(2.0)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_THIRD = 1.0 / 3.0
# Exact tail sums are cheap up to this count; above it Paulson's approximation is within ~0.2 decades.
_EXACT_MAX = 40
# Below this normal z a bucket is nowhere near any threshold, so a cheap normal tail suffices.
_FAST_Z = 2.0
# Expected-count floor: a key with no history still gets a finite (huge) surprise.
_MU_FLOOR = 1e-3
# Pseudo-counts behind the prior negative share of a brand-new key.
_SHARE_PRIOR_COUNTS = 20.0
# Pseudo-buckets behind the dispersion priors.
_DISPERSION_PRIOR_BUCKETS = 20.0

# Per-key float32 array layout: daily num/den, weekly num/den, hourly negative/total sums.
_DN, _DD, _WN, _WD, _SN, _ST = 0, 24, 48, 216, 384, 408
_PROF_LEN = 432
# Sub-buckets per bucket in the straddling-window histogram (20 s for 5-minute buckets).
_SUB = 15


def _log10_sf(z: float) -> float:
    """log10 P(Z >= z) for a standard normal Z, finite far into the tail."""
    if z < 30.0:
        return math.log10(0.5 * math.erfc(z * _INV_SQRT2))
    return -(0.5 * z * z + math.log(z) + _LOG_SQRT_2PI) / _LN10


def nb_surprise(k: float, mu: float, alpha: float) -> float:
    """``-log10 P(X >= k)`` for X negative-binomial with mean ``mu`` and variance ``mu + alpha*mu**2``.

    ``alpha = 0`` is Poisson.  Exact for integer ``k <= 40``, Paulson's F
    approximation above (slightly conservative, within ~0.2 decades).
    """
    if k <= 0.0:
        return 0.0
    if mu < _MU_FLOOR:
        mu = _MU_FLOOR
    if k <= _EXACT_MAX and k == int(k):
        return _nb_exact_surprise(int(k), mu, alpha)
    # P(X >= k) = P(F(2k, 2r) <= mu/k), r = 1/alpha.
    a = 1.0 / (9.0 * k)
    b = alpha / 9.0
    c = (mu / k) ** _THIRD
    z = ((1.0 - b) * c - (1.0 - a)) / math.sqrt(a + c * c * b)
    s = -_log10_sf(-z)
    return s if s > 0.0 else 0.0


def _nb_exact_surprise(k: int, mu: float, alpha: float) -> float:
    # Sums the upper tail relative to its first term, so tiny tails never underflow.
    if alpha < 1e-9:
        log_first = -mu + k * math.log(mu) - math.lgamma(k + 1.0)
        r = 0.0
        q = 0.0
    else:
        r = 1.0 / alpha
        q = mu / (mu + r)
        log_first = (
            math.lgamma(k + r)
            - math.lgamma(r)
            - math.lgamma(k + 1.0)
            - r * math.log1p(mu / r)
            + k * math.log(q)
        )
    total = 1.0
    term = 1.0
    j = k
    for _ in range(5000):
        term *= (j + r) / (j + 1.0) * q if r else mu / (j + 1.0)
        j += 1
        total += term
        if term < total * 1e-12:
            break
    s = -(log_first + math.log(total)) / _LN10
    return s if s > 0.0 else 0.0


def share_surprise(k: float, n: float, p0: float, phi: float = 1.0) -> float:
    """``-log10 P(K >= k)`` for K negatives out of ``n`` when the usual share is ``p0``.

    Overdispersion ``phi`` (variance inflation over binomial, as in a
    beta-binomial) shrinks the effective sample.  Blends a continuity-corrected
    deviance (accurate for a plain binomial, too optimistic under
    overdispersion) with a moment-matched beta approximation (accurate once
    overdispersion dominates), weighting the deviance by ``1/phi**2``.
    """
    if n <= 0.0 or p0 <= 0.0 or p0 >= 1.0:
        return 0.0
    kc = k - 0.5
    if kc <= n * p0:
        return 0.0
    if n - k <= _EXACT_MAX and k == int(k) and n == int(n):
        # Few terms to sum, and near-unanimous windows are where the approximations err most.
        return _betabinom_exact_surprise(int(k), int(n), p0, phi)
    nn = n / phi
    kk = kc / phi
    dev = kk * math.log(kk / (nn * p0))
    if nn > kk:
        dev += (nn - kk) * math.log((nn - kk) / (nn * (1.0 - p0)))
    s1 = -_log10_sf(math.sqrt(2.0 * dev)) if dev > 0.0 else 0.0
    a = p0 * nn
    b = (1.0 - p0) * nn
    x = kc / n
    c = ((b / a) * x / (1.0 - x)) ** _THIRD
    ia = 1.0 / (9.0 * a)
    ib = 1.0 / (9.0 * b)
    z = ((1.0 - ib) * c - (1.0 - ia)) / math.sqrt(ia + c * c * ib)
    s2 = -_log10_sf(z)
    w = 1.0 / (phi * phi)
    s = w * s1 + (1.0 - w) * s2
    return s if s > 0.0 else 0.0


def _betabinom_exact_surprise(k: int, n: int, p0: float, phi: float) -> float:
    # The beta-binomial with the same variance inflation: phi = 1 + (n - 1) * rho.
    rho = (phi - 1.0) / (n - 1) if n > 1 else 0.0
    lg = math.lgamma
    log_first = lg(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0)
    if rho < 1e-6:
        log_first += k * math.log(p0) + (n - k) * math.log1p(-p0)
        a = b = 0.0
    else:
        if rho > 0.999:
            rho = 0.999
        scale = (1.0 - rho) / rho
        a = p0 * scale
        b = (1.0 - p0) * scale
        log_first += lg(k + a) - lg(a) + lg(n - k + b) - lg(b) - lg(n + a + b) + lg(a + b)
    total = 1.0
    term = 1.0
    odds = p0 / (1.0 - p0)
    for j in range(k, n):
        if a:
            term *= (n - j) / (j + 1.0) * (j + a) / (n - j - 1.0 + b)
        else:
            term *= (n - j) / (j + 1.0) * odds
        total += term
    s = -(log_first + math.log(total)) / _LN10
    return s if s > 0.0 else 0.0


@dataclass(frozen=True)
class DetectorConfig:
    """Detector settings.  ``None`` thresholds come from the ``sensitivity`` preset.

    Durations are in seconds unless the name says otherwise; see DETECTOR.md.
    """

    bucket_seconds: int = 300
    sensitivity: Sensitivity = "balanced"
    min_negative: int | None = None
    open_surprise: float | None = None
    close_surprise: float | None = None
    min_ratio: float | None = None
    allowed_lateness_seconds: int = 600
    cooldown_seconds: int = 3600
    resolve_after_seconds: int = 600
    warmup_buckets: int | None = None
    early_evaluation: bool = True
    early_min_fraction: float = 0.2
    update_growth: float = 0.5
    gap_seconds: int | None = 3600
    seasonality: Seasonality = "weekly"
    level_half_life_seconds: float = 2 * 86400.0
    daily_half_life_days: float = 7.0
    weekly_half_life_weeks: float = 4.0
    share_half_life_seconds: float = 2 * 86400.0
    dispersion_half_life_seconds: float = 86400.0
    prior_dispersion: float = 0.1
    min_dispersion: float = 0.01
    prior_share_dispersion: float = 0.02
    min_share_dispersion: float = 0.002
    prior_negative_share: float = 0.2
    clip_sigmas: float = 4.0
    profile_shrink_counts: float = 30.0
    profile_shrink_seconds: float = 1800.0
    update_min_interval_seconds: int = 60
    rebaseline_after_seconds: int | None = 6 * 3600

    def __post_init__(self) -> None:
        if self.sensitivity not in PRESETS:
            raise ValueError(f"sensitivity must be one of {sorted(PRESETS)}, got {self.sensitivity!r}")
        if self.seasonality not in ("weekly", "daily", "none"):
            raise ValueError(f"seasonality must be weekly, daily or none, got {self.seasonality!r}")
        if not isinstance(self.bucket_seconds, int) or self.bucket_seconds < 1:
            raise ValueError("bucket_seconds must be a positive integer")
        if self.allowed_lateness_seconds < 0 or self.cooldown_seconds < 0 or self.resolve_after_seconds < 0:
            raise ValueError("lateness, cooldown and resolve_after must be >= 0")
        if self.gap_seconds is not None and self.gap_seconds <= 0:
            raise ValueError("gap_seconds must be positive or None")
        if self.warmup_buckets is not None and self.warmup_buckets < 0:
            raise ValueError("warmup_buckets must be >= 0")
        if not 0.0 < self.early_min_fraction <= 1.0:
            raise ValueError("early_min_fraction must be in (0, 1]")
        if not 0.0 < self.prior_negative_share < 1.0:
            raise ValueError("prior_negative_share must be in (0, 1)")
        for name in (
            "level_half_life_seconds",
            "daily_half_life_days",
            "weekly_half_life_weeks",
            "share_half_life_seconds",
            "dispersion_half_life_seconds",
            "clip_sigmas",
            "profile_shrink_counts",
            "profile_shrink_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("prior_dispersion", "min_dispersion", "prior_share_dispersion", "min_share_dispersion"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.rebaseline_after_seconds is not None and self.rebaseline_after_seconds <= 0:
            raise ValueError("rebaseline_after_seconds must be positive or None")
        if self.update_min_interval_seconds < 0:
            raise ValueError("update_min_interval_seconds must be >= 0")
        if self.update_growth < 0:
            raise ValueError("update_growth must be >= 0")
        th = self.thresholds()
        if th.close_surprise > th.open_surprise:
            raise ValueError("close_surprise must not exceed open_surprise (hysteresis)")
        if th.min_negative < 1 or th.min_ratio < 1.0:
            raise ValueError("min_negative must be >= 1 and min_ratio >= 1")

    @classmethod
    def preset(cls, sensitivity: str, **overrides: Any) -> DetectorConfig:
        """Config for ``fewer | balanced | more``; keyword overrides win over the preset."""
        if sensitivity not in PRESETS:
            raise ValueError(f"unknown sensitivity {sensitivity!r}; use one of {sorted(PRESETS)}")
        return cls(sensitivity=sensitivity, **overrides)  # type: ignore[arg-type]

    def thresholds(self) -> Thresholds:
        """The effective thresholds: explicit fields, else the preset's."""
        base = PRESETS[self.sensitivity]
        return Thresholds(
            open_surprise=base.open_surprise if self.open_surprise is None else float(self.open_surprise),
            close_surprise=base.close_surprise if self.close_surprise is None else float(self.close_surprise),
            min_ratio=base.min_ratio if self.min_ratio is None else float(self.min_ratio),
            min_negative=base.min_negative if self.min_negative is None else int(self.min_negative),
        )

    def effective_warmup_buckets(self) -> int:
        """Buckets a key must have learned before it may alert (default: one day)."""
        if self.warmup_buckets is not None:
            return self.warmup_buckets
        return max(1, math.ceil(86400 / self.bucket_seconds))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown DetectorConfig fields: {sorted(unknown)}")
        return cls(**dict(data))


@dataclass(frozen=True)
class AlertEvent:
    """One lifecycle event of an alert episode.

    For ``opened``/``updated`` the window and counts are the (possibly still
    open, partial) bucket that triggered the event, and the expectations are
    scaled to the part of the bucket seen.  For ``resolved`` the window spans
    the episode (first to last anomalous bucket) and the counts are those of
    its peak window.  ``(alert_id, seq)`` is unique: use it to de-duplicate
    after an at-least-once replay.
    """

    kind: EventKind
    alert_id: str
    key: str
    severity: str
    window_start: datetime
    window_end: datetime
    observed_negative: int
    expected_negative: float
    observed_total: int
    expected_total: float
    negative_share: float
    expected_share: float
    score: float
    p_value: float
    reason: str
    seq: int = 0
    emitted_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (datetimes as ISO-8601 strings)."""
        out = asdict(self)
        for name in ("window_start", "window_end", "emitted_at"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertEvent:
        values = dict(data)
        for name in ("window_start", "window_end", "emitted_at"):
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


class BucketResult(NamedTuple):
    """Outcome of evaluating one (possibly partial) bucket of one key.

    ``score`` is in [0, 1): 0.5 is the open threshold, so ``score >= 0.5``
    means the bucket met every opening rule.  ``final`` is True when the
    bucket is closed and has been learned from; ``late`` when it arrived after
    its bucket closed and was dropped.
    """

    key: str
    bucket_start: datetime
    total: int
    negative: int
    expected_total: float
    expected_negative: float
    expected_share: float
    p_value: float
    score: float
    severity: str
    events: tuple[AlertEvent, ...]
    fraction: float = 1.0
    final: bool = True
    late: bool = False


@dataclass(frozen=True)
class DigestEntry:
    """Summary of one key's alert activity in one period."""

    period_start: datetime
    period_end: datetime
    key: str
    opened: int
    updated: int
    resolved: int
    max_severity: str
    peak_negative: int
    alert_ids: tuple[str, ...]
    summary: str


def digest(
    events: Iterable[AlertEvent], period: Literal["hourly", "daily"] | int = "hourly"
) -> list[DigestEntry]:
    """Group recorded events into per-key hourly or daily (or ``period`` seconds) summaries.

    Events are placed by ``emitted_at`` (``window_end`` when missing).
    Entries are sorted by period, then key.
    """
    seconds = {"hourly": 3600, "daily": 86400}.get(period) if isinstance(period, str) else period
    if not seconds or seconds <= 0:
        raise ValueError(f"period must be 'hourly', 'daily' or positive seconds, got {period!r}")
    groups: dict[tuple[int, str], list[AlertEvent]] = {}
    for ev in events:
        at = ev.emitted_at or ev.window_end
        slot = math.floor(at.timestamp() / seconds)
        groups.setdefault((slot, ev.key), []).append(ev)
    out: list[DigestEntry] = []
    for (slot, key), evs in sorted(groups.items()):
        counts = {"opened": 0, "updated": 0, "resolved": 0}
        ids: dict[str, None] = {}
        for ev in evs:
            counts[ev.kind] += 1
            ids[ev.alert_id] = None
        max_sev = max((SEVERITIES.index(ev.severity) for ev in evs), default=0)
        peak = max(ev.observed_negative for ev in evs)
        start = datetime.fromtimestamp(slot * seconds, UTC)
        word = "alert" if len(ids) == 1 else "alerts"
        summary = (
            f"{key}: {len(ids)} {word} ({counts['opened']} opened, {counts['updated']} updated, "
            f"{counts['resolved']} resolved), worst severity {SEVERITIES[max_sev]}, "
            f"peak {peak} negative mentions in one window."
        )
        out.append(
            DigestEntry(
                period_start=start,
                period_end=start + timedelta(seconds=seconds),
                key=key,
                opened=counts["opened"],
                updated=counts["updated"],
                resolved=counts["resolved"],
                max_severity=SEVERITIES[max_sev],
                peak_negative=peak,
                alert_ids=tuple(ids),
                summary=summary,
            )
        )
    return out


class _Episode:
    __slots__ = ("alert_id", "last_emit", "last_hot", "peak", "recent", "ref", "seq", "sev", "start")

    def __init__(
        self, alert_id: str, start: int, sev: int, ref: int, peak: list[float], now_ts: float
    ) -> None:
        self.alert_id = alert_id
        self.start = start
        self.sev = sev
        self.seq = 0
        self.ref = ref
        self.last_hot = start
        self.last_emit = now_ts
        # [negative, expected_negative, total, expected_total, expected_share, score, p, bucket, fraction]
        self.peak = peak
        # Hour-weighted sums of closed buckets during the episode: observed/expected total and
        # negatives, for re-baselining a level that never comes back down.
        self.recent = [0.0, 0.0, 0.0, 0.0]


class _Key:
    __slots__ = (
        "ad",
        "an",
        "atd",
        "atn",
        "closed_upto",
        "cool_peak",
        "cool_sev",
        "cool_until",
        "day",
        "ended_upto",
        "ep",
        "hist",
        "late",
        "lvl",
        "manual",
        "n",
        "open",
        "prof",
        "rb",
        "rd",
        "rn",
        "sn",
        "st",
        "supp_idx",
        "suppressed",
    )

    def __init__(self, manual: bool) -> None:
        self.manual = manual
        self.closed_upto: int | None = None
        self.open: dict[int, list[int]] = {}
        # Sub-bucket counts (totals, then negatives) of the current and previous bucket only,
        # for the early window that straddles the bucket boundary.
        self.hist: dict[int, array] = {}
        self.n = 0
        self.lvl = 0.0
        self.prof = array("f", bytes(4 * _PROF_LEN))
        self.sn = 0.0
        self.st = 0.0
        self.an = 0.0
        self.ad = 0.0
        self.atn = 0.0
        self.atd = 0.0
        self.rn = 0.0
        self.rd = 0.0
        self.day: int | None = None
        self.ended_upto: int | None = None
        self.late = 0
        self.suppressed = 0
        self.supp_idx = -(2**62)
        self.ep: _Episode | None = None
        self.cool_until = -(2**62)
        self.cool_sev = 0
        self.cool_peak = 0
        # After a re-baseline: [level factor, share factor, probation end, start, EW negatives,
        # EW expected negatives]; None otherwise.
        self.rb: list[float] | None = None


def _pack(values: array) -> str:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unpack(text: str) -> array:
    values = array("f")
    values.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        values.byteswap()
    if len(values) != _PROF_LEN:
        raise ValueError("corrupt detector state: profile has the wrong length")
    return values


# BucketResult(...) costs a Python frame per update; building the tuple directly does not.
_new_tuple = tuple.__new__


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(value: datetime, what: str) -> float:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value!r}")
    return value.timestamp()


def _fmt_count(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


class NegativeSpikeDetector:
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
        self._share_prior = _SHARE_PRIOR_COUNTS * cfg.prior_negative_share
        self._early_min = cfg.early_min_fraction
        self._prior_disp = cfg.prior_dispersion
        self._min_disp = cfg.min_dispersion
        self._prior_sdisp = cfg.prior_share_dispersion
        self._min_sdisp = cfg.min_share_dispersion
        self._clip = cfg.clip_sigmas
        self._reset()

    def _reset(self) -> None:
        # Everything mutable lives here; the rest of the instance is derived from the config.
        self._keys: dict[str, _Key] = {}
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
                h = hist[idx] = array("i", bytes(8 * _SUB))
        if h is not None:
            sub = int((ts - idx * self._b) * _SUB // self._b)
            sub = 0 if sub < 0 else (_SUB - 1 if sub >= _SUB else sub)
            h[sub] += count
            if negative:
                h[_SUB + sub] += count
        self._dirty[key] = None
        self._active.add(idx)

    def advance(self, now: datetime, *, collect: list[BucketResult] | None = None) -> list[AlertEvent]:
        """Move the stream clock to ``now`` and return the alert events it causes.

        Closes (evaluates finally and learns from) every bucket that ended more
        than ``allowed_lateness`` before ``now``, then evaluates the still-open
        buckets that changed (early detection) and, for keys with an open
        alert, buckets that have just ended (resolution).  ``now`` is the
        stream's clock (max event time, or wall clock), never read here.
        Pass ``collect`` to receive every evaluation as a ``BucketResult``.
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
        # The straddling window is only tried once the bucket itself is hot (see _evaluate_straddle).
        straddle_score = self._close_s / (self._close_s + self._open_s)
        todo = dict.fromkeys(self._dirty)
        todo.update(self._episodes)
        self._dirty.clear()
        self._changed.update(todo)
        for key in sorted(todo):
            st = self._keys[key]
            start = st.closed_upto if st.closed_upto is not None else (min(st.open) if st.open else now_idx)
            if st.ep is not None:
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
                res = self._evaluate(key, st, idx, tot, neg, frac if frac < 1.0 else 1.0, ended, clock, False)
                if res.events:
                    events.extend(res.events)
                if collect is not None:
                    collect.append(res)
                if not ended and res.score >= straddle_score and idx - 1 in st.hist:
                    wev = self._evaluate_straddle(key, st, idx, tot, neg, frac, clock, res.score)
                    if wev:
                        events.extend(wev)
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
            "open_alerts": sum(1 for st in states if st.ep is not None),
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
        return {k: st.ep.alert_id for k, st in self._keys.items() if st.ep is not None}

    def expectation(self, key: str, bucket_start: datetime) -> tuple[float, float, float]:
        """Current ``(expected_total, expected_negative, expected_share)`` of one whole bucket."""
        st = self._keys.get(key)
        if st is None:
            return (0.0, 0.0, self.config.prior_negative_share)
        idx = math.floor(_ts(bucket_start, "bucket_start") / self._b)
        mu_t, mu_n, p0, *_ = self._expect(st, idx)
        return (mu_t, mu_n, p0)

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
            head["keys"] = {k: self._key_state(st, k in self._dirty) for k, st in self._keys.items()}
            return head
        st = self._keys.get(key)
        if st is None:
            raise KeyError(key)
        head["key"] = key
        head["state"] = self._key_state(st, key in self._dirty)
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
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported detector state version {state.get('v')!r}")
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
            self._keys[name] = self._key_from_state(rec)
            self._sorted_keys = None
            if rec.get("dy"):
                self._dirty[name] = None
            else:
                self._dirty.pop(name, None)
            if self._keys[name].ep is not None:
                self._episodes[name] = None
            else:
                self._episodes.pop(name, None)

    @staticmethod
    def _key_state(st: _Key, dirty: bool) -> dict[str, Any]:
        ep = st.ep
        return {
            "m": 1 if st.manual else 0,
            # Observed since the last advance(): the next advance() must evaluate it.
            "dy": 1 if dirty else 0,
            "c": st.closed_upto,
            "n": st.n,
            "l": st.lvl,
            "p": _pack(st.prof),
            "s": [st.sn, st.st],
            "d": [st.an, st.ad, st.atn, st.atd, st.rn, st.rd],
            "day": st.day,
            "eu": st.ended_upto,
            "o": [[i, c[0], c[1]] for i, c in sorted(st.open.items())],
            **({"h": [[i, *h] for i, h in sorted(st.hist.items())]} if st.hist else {}),
            "k": [st.late, st.suppressed, st.supp_idx, st.cool_until, st.cool_sev, st.cool_peak],
            "rb": st.rb,
            "ep": None
            if ep is None
            else [
                ep.alert_id,
                ep.start,
                ep.sev,
                ep.seq,
                ep.ref,
                ep.last_hot,
                ep.last_emit,
                list(ep.peak),
                list(ep.recent),
            ],
        }

    @staticmethod
    def _key_from_state(rec: Mapping[str, Any]) -> _Key:
        st = _Key(manual=bool(rec["m"]))
        st.closed_upto = rec["c"]
        st.n = int(rec["n"])
        st.lvl = float(rec["l"])
        st.prof = _unpack(rec["p"])
        st.sn, st.st = (float(x) for x in rec["s"])
        st.an, st.ad, st.atn, st.atd, st.rn, st.rd = (float(x) for x in rec["d"])
        st.day = rec["day"]
        st.ended_upto = rec["eu"]
        st.open = {int(i): [int(t), int(n)] for i, t, n in rec["o"]}
        # Snapshots taken before the straddling window have no "h": the window then starts with
        # the next bucket, exactly as a detector that had just been created.
        for row in rec.get("h") or ():
            if len(row) != 2 * _SUB + 1:
                raise ValueError("corrupt detector state: sub-bucket histogram has the wrong length")
            st.hist[int(row[0])] = array("i", (int(x) for x in row[1:]))
        st.late, st.suppressed, st.supp_idx, st.cool_until, st.cool_sev, st.cool_peak = (
            int(x) for x in rec["k"]
        )
        st.rb = None if rec["rb"] is None else [float(x) for x in rec["rb"]]
        if rec["ep"] is not None:
            alert_id, start, sev, seq, ref, last_hot, last_emit, peak, recent = rec["ep"]
            ep = _Episode(
                str(alert_id), int(start), int(sev), int(ref), [float(x) for x in peak], float(last_emit)
            )
            ep.seq = int(seq)
            ep.last_hot = int(last_hot)
            ep.recent = [float(x) for x in recent]
            st.ep = ep
        return st

    # ------------------------------------------------------------------ internals

    def _new_key(self, key: str, manual: bool) -> _Key:
        st = _Key(manual)
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

    def _expect(self, st: _Key, idx: int) -> tuple[float, float, float, float, float, int, int, float]:
        """Whole-bucket expectations: total, negative, share, daily/weekly factors, slots, share sample."""
        t = idx * self._b
        hod = (t // 3600) % 24
        how = ((t // 86400 + 3) % 7) * 24 + hod
        prof = st.prof
        lvl = st.lvl
        # Seasonal factors are ratios of sums shrunk to 1 by k pseudo-counts: a slot with little
        # history falls back to the overall level (and a sparse key keeps a flat profile).
        k = self._shrink
        # Offsets follow the _DN/_DD/_WN/_WD/_SN/_ST layout.
        de = (prof[hod] + k) / (prof[24 + hod] + k) if self._use_daily else 1.0
        we = (prof[48 + how] + k) / (prof[216 + how] + k) if self._use_weekly else 1.0
        mu_t = lvl * de * we
        sg = (st.sn + self._share_prior) / (st.st + _SHARE_PRIOR_COUNTS)
        if self._use_hour_share:
            tp = prof[408 + hod] + k
            p0 = (prof[384 + hod] + k * sg) / tp
        else:
            tp = st.st + _SHARE_PRIOR_COUNTS
            p0 = sg
        return mu_t, mu_t * p0, p0, de, we, hod, how, tp

    def _evaluate(
        self,
        key: str,
        st: _Key,
        idx: int,
        tot: int,
        neg: int,
        frac: float,
        ended: bool,
        now_ts: float,
        final: bool,
        start_dt: datetime | None = None,
    ) -> BucketResult:
        # The per-update path: plain floats and locals only, no helper calls, because 10k keys x 288
        # buckets a day adds up.  The expectation repeats _expect() inline; a test keeps them equal.
        t = idx * self._b
        hod = (t // 3600) % 24
        how = ((t // 86400 + 3) % 7) * 24 + hod
        prof = st.prof
        lvl = st.lvl
        k = self._shrink
        de = (prof[hod] + k) / (prof[24 + hod] + k) if self._use_daily else 1.0
        we = (prof[48 + how] + k) / (prof[216 + how] + k) if self._use_weekly else 1.0
        mu_t = lvl * de * we
        sg = (st.sn + self._share_prior) / (st.st + _SHARE_PRIOR_COUNTS)
        if self._use_hour_share:
            tp = prof[408 + hod] + k
            p0 = (prof[384 + hod] + k * sg) / tp
        else:
            tp = st.st + _SHARE_PRIOR_COUNTS
            p0 = sg
        mu_n = mu_t * p0
        f = frac if frac > self._early_min else self._early_min
        # Count test: negatives against the seasonal expectation, negative binomial.
        m = f * mu_n
        if m < _MU_FLOOR:
            m = _MU_FLOOR
        pd = self._prior_disp
        kp = _DISPERSION_PRIOR_BUCKETS * mu_n * mu_n
        den = st.ad + kp
        alpha = (st.an + pd * kp) / den if den > 1e-12 else pd
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
            kr = _DISPERSION_PRIOR_BUCKETS * mu_t * mu_t * q
            rden = st.rd + kr
            rho = (st.rn + psd * kr) / rden if rden > 1e-12 else psd
            if rho < self._min_sdisp:
                rho = self._min_sdisp
            # p0 is itself an estimate from ~tp mentions: its uncertainty widens the test.
            phi = 1.0 + (tot - 1) * rho + tot / tp
            z_s = (neg - tot * p0) / math.sqrt(tot * q * phi)
        cap = self._gate_cap
        zz = z_c if z_c > z_s else z_s
        p_value = -1.0
        if zz < _FAST_Z:
            # Nowhere near a threshold: one normal tail gives the score, gates cannot matter.
            tail = 0.5 * math.erfc(zz * _INV_SQRT2)
            p_value = 2.0 * tail if tail < 0.5 else 1.0
            s = -math.log10(tail) - _LOG10_2
            ratio = 0.0
            share = neg / tot if tot > 0 else 0.0
            if s < 0.0:
                s = 0.0
        if zz >= _FAST_Z or s >= cap:
            if z_c < _FAST_Z and z_s < _FAST_Z:
                s_c = -_log10_sf(z_c) - _LOG10_2
                s_s = -_log10_sf(z_s) - _LOG10_2 if tot > 0 else 0.0
            else:
                s_c = (nb_surprise(neg, m, alpha) if z_c >= _FAST_Z else -_log10_sf(z_c)) - _LOG10_2
                s_s = (share_surprise(neg, tot, p0, phi) if z_s >= _FAST_Z else -_log10_sf(z_s)) - _LOG10_2
            s_raw = s_c if s_c > s_s else s_s
            ratio_c = neg / m
            share = neg / tot if tot > 0 else 0.0
            ratio_s = share / p0 if p0 > 0.0 else 0.0
            # Gates (volume, effect size, warm-up) cap the surprise just under the close threshold.
            big = neg >= self._min_neg and st.n >= self._warmup
            min_ratio = self._min_ratio
            g_c = s_c if big and ratio_c >= min_ratio else (s_c if s_c < cap else cap)
            g_s = s_s if big and ratio_s >= min_ratio else (s_s if s_s < cap else cap)
            if g_c >= g_s:
                s, ratio = g_c, ratio_c
            else:
                s, ratio = g_s, ratio_s
            if s < 0.0:
                s = 0.0
            p_value = 2.0 * 10.0 ** -(s_raw + _LOG10_2) if s_raw > 0.0 else 1.0
            if p_value > 1.0:
                p_value = 1.0
        open_s = self._open_s
        score = s / (s + open_s)
        sev = 0
        if s >= open_s:
            sev = 1
            for extra, rung_ratio in _SEVERITY_RUNGS:
                if s >= open_s + extra and ratio >= rung_ratio:
                    sev += 1
        hot = s >= self._close_s
        events: tuple[AlertEvent, ...] = ()
        if hot or st.ep is not None:
            window = (idx, frac, tot, neg, m, f * mu_t, share, p0, score, p_value, ratio)
            events = self._lifecycle(key, st, window, s, sev, ended, now_ts)
        if final:
            # While an episode is open the key is anomalous as a whole: its near-threshold buckets
            # (a spike's shoulders) must not teach the baseline either.
            anomalous = hot or st.ep is not None
            n = st.n
            x = float(tot)
            xn = float(neg)
            hi = math.inf
            # Anomalous buckets count for at most one sigma: a recurring pattern is still learned (over
            # a few occurrences) but a spike barely moves the baseline it is measured against.
            c = self._clip if not anomalous else 1.0
            c2 = c * c
            clipping = n >= self._clip_after
            if clipping:
                # Winsorise at mu +- c sigma so a spike (or an outage) only nudges the baseline.
                # Squared comparisons: the square roots are only taken when a value is clipped.
                pd = self._prior_disp
                kt = _DISPERSION_PRIOR_BUCKETS * mu_t * mu_t
                tden = st.atd + kt
                alpha_t = (st.atn + pd * kt) / tden if tden > 1e-12 else pd
                if alpha_t < self._min_disp:
                    alpha_t = self._min_disp
                var_t = mu_t + alpha_t * mu_t * mu_t
                r = x - mu_t
                if r * r > c2 * var_t:
                    sd = math.sqrt(var_t)
                    x = mu_t + c * sd if r > 0.0 else mu_t - c * sd
                if tot > mu_t and (tot - mu_t) ** 2 > c2 * var_t:
                    hi = mu_t + c * math.sqrt(var_t)
                r = xn - mu_n
                if r > 0.0 and r * r > c2 * (mu_n + alpha * mu_n * mu_n):
                    xn = mu_n + c * math.sqrt(mu_n + alpha * mu_n * mu_n)
            # Level: count-space update so near-empty hours barely move it; 1/n start = running mean.
            a = 1.0 / (n + 1.0)
            if a < self._a_lvl:
                a = self._a_lvl
            new = lvl + a * (x - lvl * de * we)
            st.lvl = new if new > 0.0 else 0.0
            # Profiles are ratios against the level, so they wait until the level means something:
            # not in the first hour (a slot would learn x / 0), nor while a re-baselined level is
            # on probation (the slots would learn ratios against a level that may be undone).
            learn_profiles = clipping and lvl > 0.0 and st.rb is None
            # A slot's first update seeds it with profile_shrink_seconds of "as flat" data, which then
            # decays like real data: a big key cannot reshape a never-seen slot from one (spike)
            # bucket, yet the profile ends up unbiased once the slot has history.
            if learn_profiles and self._use_daily:
                keep = self._keep_day
                dn = prof[hod]
                dd = prof[24 + hod]
                if dd == 0.0:
                    dn = dd = self._seed_buckets * lvl * we
                prof[hod] = dn * keep + x
                prof[24 + hod] = dd * keep + lvl * we
            if learn_profiles and self._use_weekly:
                keep = self._keep_week
                wn = prof[48 + how]
                wd = prof[216 + how]
                if wd == 0.0:
                    wn = wd = self._seed_buckets * lvl * de
                prof[48 + how] = wn * keep + x
                prof[216 + how] = wd * keep + lvl * de
            # Share: learned from normal buckets only (an anomalous one is what we measure against it).
            # An outsized bucket counts as if its total were capped, and its negatives are winsorised.
            if not anomalous:
                w = hi / tot if tot > hi else 1.0
                tw = tot * w
                nw = neg * w
                if clipping and tw > 0.0 and 0.0 < p0 < 1.0:
                    e = tw * p0
                    r = nw - e
                    if r > 0.0:
                        var_s = e * (1.0 - p0) * (1.0 + (tw - 1.0) * rho)
                        if r * r > c2 * var_s:
                            nw = e + c * math.sqrt(var_s)
                keep = self._keep_share
                st.sn = st.sn * keep + nw
                st.st = st.st * keep + tw
                if self._use_hour_share:
                    keep = self._keep_day
                    prof[384 + hod] = prof[384 + hod] * keep + nw
                    prof[408 + hod] = prof[408 + hod] * keep + tw
            # Dispersion: moment estimates, never from anomalous buckets nor from the first hour,
            # whose expectation is still forming.
            if clipping and not anomalous:
                keep = self._keep_disp
                r = x - mu_t
                st.atn = st.atn * keep + r * r - mu_t
                st.atd = st.atd * keep + mu_t * mu_t
                r = xn - mu_n
                st.an = st.an * keep + r * r - mu_n
                st.ad = st.ad * keep + mu_n * mu_n
                if tot >= 2 and 0.0 < p0 < 1.0:
                    e = tot * p0
                    q = e * (1.0 - p0)
                    r = neg - e
                    if r > 0.0 and r * r > c2 * q * (1.0 + (tot - 1) * rho):
                        r = c * math.sqrt(q * (1.0 + (tot - 1) * rho))
                    st.rn = st.rn * keep + r * r - q
                    st.rd = st.rd * keep + tot * (tot - 1.0) * p0 * (1.0 - p0)
            st.n = n + 1
            day = (idx * self._b) // 86400
            if day != st.day:
                if st.day is not None:
                    self._renormalise(st)
                st.day = day
            rb = st.rb
            if rb is not None:
                self._probation(st, rb, idx, neg, mu_n)
            ep = st.ep
            if ep is not None and self._rebase_b is not None:
                rec = ep.recent
                kr = self._keep_recent
                rec[0] = rec[0] * kr + tot
                rec[1] = rec[1] * kr + mu_t
                rec[2] = rec[2] * kr + neg
                rec[3] = rec[3] * kr + mu_n
                if hot and idx + 1 - ep.start >= self._rebase_b:
                    events = (*events, self._rebaseline(key, st, ep, idx, now_ts))
        return _new_tuple(
            BucketResult,
            (
                key,
                _dt(idx * self._b) if start_dt is None else start_dt,
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

    def _evaluate_straddle(
        self,
        key: str,
        st: _Key,
        idx: int,
        tot: int,
        neg: int,
        frac: float,
        now_ts: float,
        bucket_score: float,
    ) -> tuple[AlertEvent, ...]:
        """Early test of a window that straddles the boundary: the previous bucket's tail + ``idx`` so far.

        The tail is the last ``max(frac, early_min_fraction)`` of the previous bucket, rounded up
        to whole sub-buckets and trimmed so the window is at most one bucket long: a fixed rule,
        not a search, so it adds one test per evaluation.  Its expectation is the two buckets'
        expectations over the parts covered, floored like a partial bucket, and it runs the same
        tests and gates as the early evaluation.  It is only tried when the bucket's own early
        evaluation is already hot (at the close threshold), and only reaches the lifecycle when
        it is hot and beats the bucket's own score, so it opens or feeds the key's one episode;
        closed-bucket evaluation and learning never see it.
        """
        h = st.hist.get(idx - 1)
        # The spike must already show in the bucket itself (at the close threshold): the tail only
        # adds evidence.  This keeps the previous bucket's batches and noise from opening alone.
        own = bucket_score * self._open_s / (1.0 - bucket_score)
        if h is None or st.n < self._warmup or own < self._close_s:
            return ()
        b = self._b
        first = math.ceil(frac * _SUB - 1e-9)  # the window stays within one bucket length
        if first >= _SUB:
            return ()
        mu_t1, mu_n1, *_ = self._expect(st, idx - 1)
        mu_t0, mu_n0, _p, _de, _we, _hod, _how, tp = self._expect(st, idx)
        # The tail is as long as the bucket's elapsed part (at least early_min_fraction), so the
        # window is twice the evidence of the bucket alone; it is one bucket long at most.
        j0 = _SUB - math.ceil(max(frac, self._early_min) * _SUB - 1e-9)
        if j0 < first:
            j0 = first
        if j0 >= _SUB:
            return ()
        g = (_SUB - j0) / _SUB
        neg_w = neg + sum(h[_SUB + j0 : 2 * _SUB])
        if neg_w < self._min_neg:
            return ()
        tot_w = tot + sum(h[j0:_SUB])
        w = g + frac
        scale = self._early_min / w if w < self._early_min else 1.0
        m = (g * mu_n1 + frac * mu_n0) * scale
        mt = (g * mu_t1 + frac * mu_t0) * scale
        if m < _MU_FLOOR:
            m = _MU_FLOOR
        p0 = m / mt if mt > 0.0 else self.config.prior_negative_share
        # Dispersions as the early evaluation of bucket ``idx`` uses them.
        pd = self._prior_disp
        kp = _DISPERSION_PRIOR_BUCKETS * mu_n0 * mu_n0
        den = st.ad + kp
        alpha = (st.an + pd * kp) / den if den > 1e-12 else pd
        if alpha < self._min_disp:
            alpha = self._min_disp
        z_c = (neg_w - m) / math.sqrt(m + alpha * m * m)
        z_s = -1.0
        phi = 1.0
        if tot_w > 0 and 0.0 < p0 < 0.999:
            q = p0 * (1.0 - p0)
            psd = self._prior_sdisp
            kr = _DISPERSION_PRIOR_BUCKETS * mu_t0 * mu_t0 * q
            rden = st.rd + kr
            rho = (st.rn + psd * kr) / rden if rden > 1e-12 else psd
            if rho < self._min_sdisp:
                rho = self._min_sdisp
            phi = 1.0 + (tot_w - 1) * rho + tot_w / tp
            z_s = (neg_w - tot_w * p0) / math.sqrt(tot_w * q * phi)
        if z_c < _FAST_Z and z_s < _FAST_Z:
            return ()  # below every close threshold
        s_c = (nb_surprise(neg_w, m, alpha) if z_c >= _FAST_Z else -_log10_sf(z_c)) - _LOG10_2
        s_s = (share_surprise(neg_w, tot_w, p0, phi) if z_s >= _FAST_Z else -_log10_sf(z_s)) - _LOG10_2
        s_raw = s_c if s_c > s_s else s_s
        ratio_c = neg_w / m
        share = neg_w / tot_w if tot_w > 0 else 0.0
        ratio_s = share / p0 if p0 > 0.0 else 0.0
        cap = self._gate_cap
        min_ratio = self._min_ratio
        g_c = s_c if ratio_c >= min_ratio else (s_c if s_c < cap else cap)
        g_s = s_s if ratio_s >= min_ratio else (s_s if s_s < cap else cap)
        if g_c >= g_s:
            s, ratio = g_c, ratio_c
        else:
            s, ratio = g_s, ratio_s
        open_s = self._open_s
        score = s / (s + open_s)
        if s < self._close_s or score <= bucket_score:
            return ()
        p_value = 2.0 * 10.0 ** -(s_raw + _LOG10_2) if s_raw > 0.0 else 1.0
        if p_value > 1.0:
            p_value = 1.0
        sev = 0
        if s >= open_s:
            sev = 1
            for extra, rung_ratio in _SEVERITY_RUNGS:
                if s >= open_s + extra and ratio >= rung_ratio:
                    sev += 1
        window = (idx, frac, tot_w, neg_w, m, mt, share, p0, score, p_value, ratio)
        return self._lifecycle(key, st, window, s, sev, False, now_ts, g * b)

    def _lifecycle(
        self,
        key: str,
        st: _Key,
        window: tuple[int, float, int, int, float, float, float, float, float, float, float],
        s: float,
        sev: int,
        ended: bool,
        now_ts: float,
        lead: float = 0.0,
    ) -> tuple[AlertEvent, ...]:
        # ``lead``: seconds the window reaches back before its bucket (a straddling window).
        idx, frac, tot, neg, m, mt, _share, p0, score, p_value, _ratio = window
        ep = st.ep
        peak = [float(neg), m, float(tot), mt, p0, score, p_value, float(idx), frac + lead / self._b]
        if ep is None:
            if s < self._open_s:
                return ()
            # Cooldown: a re-trigger soon after an episode is held back unless it is worse than
            # that episode was (higher severity, or more negatives than its peak window).
            if idx < st.cool_until and sev <= st.cool_sev and neg <= st.cool_peak:
                if st.supp_idx != idx:
                    st.suppressed += 1
                    st.supp_idx = idx
                return ()
            digest_src = f"{key}\x1f{idx}\x1f{self._b}".encode()
            alert_id = hashlib.blake2b(digest_src, digest_size=8).hexdigest()
            ep = _Episode(alert_id, idx, sev, neg, peak, now_ts)
            st.ep = ep
            self._episodes[key] = None
            return (
                self._event(
                    "opened",
                    key,
                    ep,
                    window,
                    sev,
                    now_ts,
                    self._describe(key, "opened", window, sev, lead),
                    lead,
                ),
            )
        out: list[AlertEvent] = []
        hot = s >= self._close_s
        if hot:
            if idx > ep.last_hot:
                ep.last_hot = idx
            if neg > ep.peak[0]:
                ep.peak = peak
        # Early windows firm up within seconds; a minimum interval keeps escalation from paging
        # once per severity rung.  A rise held back here is emitted by a later evaluation.
        may_update = now_ts - ep.last_emit >= self._update_interval
        if sev > ep.sev and may_update:
            ep.sev = sev
            ep.last_emit = now_ts
            ep.seq += 1
            if neg > ep.ref:
                ep.ref = neg
            out.append(
                self._event(
                    "updated",
                    key,
                    ep,
                    window,
                    sev,
                    now_ts,
                    self._describe(key, "escalated", window, sev, lead),
                    lead,
                )
            )
        elif (
            ended
            and may_update
            and hot
            and neg >= ep.ref * (1.0 + self.config.update_growth)
            and neg - ep.ref >= self._min_neg
        ):
            ep.seq += 1
            ep.ref = neg
            ep.last_emit = now_ts
            out.append(
                self._event(
                    "updated", key, ep, window, ep.sev, now_ts, self._describe(key, "growing", window, ep.sev)
                )
            )
        if ended and not hot and idx - ep.last_hot >= self._resolve_b:
            ep.seq += 1
            out.append(self._resolved(key, ep, now_ts))
            st.ep = None
            self._episodes.pop(key, None)
            st.cool_until = idx + self._cool_b
            st.cool_sev = ep.sev
            st.cool_peak = int(ep.peak[0])
        return tuple(out)

    def _event(
        self,
        kind: EventKind,
        key: str,
        ep: _Episode,
        window: tuple[int, float, int, int, float, float, float, float, float, float, float],
        sev: int,
        now_ts: float,
        reason: str,
        lead: float = 0.0,
    ) -> AlertEvent:
        idx, frac, tot, neg, m, mt, share, p0, score, p_value, _ratio = window
        start = idx * self._b
        return AlertEvent(
            kind=kind,
            alert_id=ep.alert_id,
            key=key,
            severity=SEVERITIES[sev],
            window_start=_dt(start - lead),
            window_end=_dt(start + frac * self._b),
            observed_negative=neg,
            expected_negative=m,
            observed_total=tot,
            expected_total=mt,
            negative_share=share,
            expected_share=p0,
            score=score,
            p_value=p_value,
            reason=reason,
            seq=ep.seq,
            emitted_at=_dt(now_ts),
        )

    def _resolved(self, key: str, ep: _Episode, now_ts: float, rebased: float = 0.0) -> AlertEvent:
        neg, m, tot, mt, p0, score, p_value, _pidx, pfrac = ep.peak
        b = self._b
        minutes = (ep.last_hot + 1 - ep.start) * b / 60.0
        span = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
        peak_len = pfrac * b / 60.0
        if rebased:
            reason = (
                f"{key}: negative mentions have stayed high for {span}; accepted as the new normal "
                f"(baseline x{rebased:.1f}), peak {neg:.0f} in {peak_len:.0f} min (expected {_fmt_count(m)})."
            )
        else:
            reason = (
                f"{key}: negative mentions back to normal; the spike lasted {span}, "
                f"peaking at {neg:.0f} in {peak_len:.0f} min (expected {_fmt_count(m)})."
            )
        return AlertEvent(
            kind="resolved",
            alert_id=ep.alert_id,
            key=key,
            severity=SEVERITIES[ep.sev],
            window_start=_dt(ep.start * b),
            window_end=_dt((ep.last_hot + 1) * b),
            observed_negative=int(neg),
            expected_negative=m,
            observed_total=int(tot),
            expected_total=mt,
            negative_share=neg / tot if tot else 0.0,
            expected_share=p0,
            score=score,
            p_value=p_value,
            reason=reason,
            seq=ep.seq,
            emitted_at=_dt(now_ts),
        )

    def _describe(
        self,
        key: str,
        what: str,
        window: tuple[int, float, int, int, float, float, float, float, float, float, float],
        sev: int,
        lead: float = 0.0,
    ) -> str:
        _idx, frac, tot, neg, m, _mt, share, p0, _score, _p, _ratio = window
        b = self._b
        if lead > 0.0:
            span = f"the last {(frac * b + lead) / 60:.1f} min (across two {b / 60:.0f}-min windows)"
        elif frac < 1.0:
            span = f"the first {frac * b / 60:.1f} min of a {b / 60:.0f}-min window"
        else:
            span = f"{b / 60:.0f} min"
        head = {
            "opened": f"{key}: negative spike ({SEVERITIES[sev]})",
            "escalated": f"{key}: negative spike escalated to {SEVERITIES[sev]}",
            "growing": f"{key}: negative spike still growing ({SEVERITIES[sev]})",
        }[what]
        return (
            f"{head}: {neg} negative mentions in {span} vs {_fmt_count(m)} expected "
            f"({neg / m:.1f}x); negative share {share:.0%} vs usual {p0:.0%} of {tot} mentions."
        )

    def _rebaseline(self, key: str, st: _Key, ep: _Episode, idx: int, now_ts: float) -> AlertEvent:
        """Accept a level that has stayed raised for ``rebaseline_after_seconds`` as the new normal.

        Clipped learning protects the baseline from spikes, which also means a
        permanent shift (a campaign, a new source) would keep one episode open
        for days.  Instead the level and the usual share are scaled to the last
        hour's observations and the episode resolves, saying so.
        """
        obs_t, exp_t, obs_n, exp_n = ep.recent
        factor = obs_t / exp_t if exp_t > 0.0 else 1.0
        if factor > 1.0:
            st.lvl *= factor
        else:
            factor = 1.0
        usual = (st.sn + self._share_prior) / (st.st + _SHARE_PRIOR_COUNTS)
        shift = (obs_n / obs_t) / usual if obs_t > 0.0 and usual > 0.0 else 1.0
        if shift > 1.0:
            prof = st.prof
            st.sn = min(st.sn * shift, st.st)
            for h in range(24):
                prof[_SN + h] = min(prof[_SN + h] * shift, prof[_ST + h])
        else:
            shift = 1.0
        # On probation for four times as long: if the old level comes back, the change is undone.
        st.rb = [factor, shift, float(idx + 4 * (self._rebase_b or 0)), float(idx), 0.0, 0.0]
        ep.seq += 1
        neg_factor = obs_n / exp_n if exp_n > 0.0 else factor
        event = self._resolved(key, ep, now_ts, rebased=max(factor, neg_factor))
        st.ep = None
        self._episodes.pop(key, None)
        st.cool_until = idx + self._cool_b
        st.cool_sev = ep.sev
        st.cool_peak = int(ep.peak[0])
        return event

    def _probation(self, st: _Key, rb: list[float], idx: int, neg: int, mu_n: float) -> None:
        # A re-baselined level that turns out to be a long crisis, not a new normal, would leave
        # the key half-blind for days while clipped learning walks the baseline back down.  So
        # for a while after a re-baseline, negatives back near the old level (below the geometric
        # midpoint, over the last hour) undo it.
        if idx >= rb[2]:
            st.rb = None
            return
        kr = self._keep_recent
        rb[4] = rb[4] * kr + neg
        rb[5] = rb[5] * kr + mu_n
        if idx - rb[3] >= self._clip_after and rb[4] * math.sqrt(rb[0] * rb[1]) < rb[5]:
            st.lvl /= rb[0]
            if rb[1] > 1.0:
                prof = st.prof
                st.sn /= rb[1]
                for h in range(24):
                    prof[_SN + h] /= rb[1]
            st.rb = None

    def _renormalise(self, st: _Key) -> None:
        # Level x daily x weekly is identified only up to scale; pin the means to 1 once a day so the
        # split cannot drift (which would make the shrink-to-1 fallback wrong).
        prof = st.prof
        k = self._shrink  # the same shrinkage as _expect()
        if not self._use_daily:
            if self._use_weekly:
                # Buckets longer than an hour touch only some hour-of-week slots: pin those.
                used = [j for j in range(168) if prof[_WD + j] > 0.0]
                m = sum((prof[_WN + j] + k) / (prof[_WD + j] + k) for j in used) / len(used) if used else 1.0
                if m > 0.0 and abs(m - 1.0) > 1e-3:
                    for j in used:
                        prof[_WN + j] /= m
                    st.lvl *= m
            return
        if self._use_weekly:
            for h in range(24):
                tot = 0.0
                for d in range(7):
                    j = d * 24 + h
                    tot += (prof[_WN + j] + k) / (prof[_WD + j] + k)
                m = tot / 7.0
                if m > 0.0 and abs(m - 1.0) > 1e-3:
                    for d in range(7):
                        prof[_WN + d * 24 + h] /= m
                    prof[_DN + h] *= m
        tot = 0.0
        for h in range(24):
            tot += (prof[_DN + h] + k) / (prof[_DD + h] + k)
        m = tot / 24.0
        if m > 0.0 and abs(m - 1.0) > 1e-3:
            for h in range(24):
                prof[_DN + h] /= m
            st.lvl *= m
