"""Detector settings: the presets, the configuration record and the one score scale.

The score every evaluation reports is ``s / (s + SCORE_ANCHOR)`` of its surprise ``s``
(``-log10`` of the calibrated p-value), so ``0.5`` is the *balanced* preset's open threshold
whatever preset a detector runs; :meth:`DetectorConfig.score_threshold` gives the score at
which the configured preset has an open alert (``alerts/DETECTOR.md``, "One meaning for the
score").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, NamedTuple

Sensitivity = Literal["fewer", "balanced", "more"]
Seasonality = Literal["weekly", "daily", "none"]

# The balanced preset's open surprise: score 0.5 means "balanced opens here" for every preset.
SCORE_ANCHOR = 5.0


class Thresholds(NamedTuple):
    """Decision thresholds; surprises are ``-log10(p)`` of the combined, calibrated test."""

    open_surprise: float
    close_surprise: float
    min_ratio: float
    min_negative: int
    # A key with a history of bursts alerts only on a rise it shows less often than this.
    return_period_days: float


PRESETS: dict[str, Thresholds] = {
    # min_negative >= 4 everywhere so that three angry posts never page anyone.  The return periods
    # are the paging budget of a social team on a bursty brand: about once a quarter, once a month
    # and once a week (DETECTOR.md, "Presets").
    "fewer": Thresholds(7.0, 3.0, 2.0, 8, 90.0),
    "balanced": Thresholds(5.0, 2.5, 1.5, 5, 30.0),
    "more": Thresholds(3.5, 2.0, 1.25, 4, 7.0),
}


def score_of(surprise: float) -> float:
    """The score of a surprise on the fixed scale: 0.5 at the balanced open threshold, below 1."""
    return surprise / (surprise + SCORE_ANCHOR) if surprise > 0.0 else 0.0


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
    return_period_days: float | None = None
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
    sustained_half_life_seconds: float | None = 3600.0
    event_memory_days: float = 56.0

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
            "event_memory_days",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("prior_dispersion", "min_dispersion", "prior_share_dispersion", "min_share_dispersion"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.rebaseline_after_seconds is not None and self.rebaseline_after_seconds <= 0:
            raise ValueError("rebaseline_after_seconds must be positive or None")
        if self.sustained_half_life_seconds is not None and self.sustained_half_life_seconds < self.bucket_seconds:
            raise ValueError("sustained_half_life_seconds must be at least one bucket, or None to turn it off")
        if self.update_min_interval_seconds < 0:
            raise ValueError("update_min_interval_seconds must be >= 0")
        if self.update_growth < 0:
            raise ValueError("update_growth must be >= 0")
        th = self.thresholds()
        if th.close_surprise > th.open_surprise:
            raise ValueError("close_surprise must not exceed open_surprise (hysteresis)")
        if th.min_negative < 1 or th.min_ratio < 1.0:
            raise ValueError("min_negative must be >= 1 and min_ratio >= 1")
        if not th.return_period_days > 0:
            raise ValueError("return_period_days must be positive")

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
            return_period_days=base.return_period_days
            if self.return_period_days is None
            else float(self.return_period_days),
        )

    def score_threshold(self) -> float:
        """The score at and above which this configuration has an open alert (0.5 for balanced)."""
        return score_of(self.thresholds().open_surprise)

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
