"""The alert lifecycle: one episode per spike, opened, updated while it grows, resolved once over.

A mixin of ``NegativeSpikeDetector`` (``core.py``), which sets the attributes declared here from its
configuration.  Hysteresis (open at ``open_surprise``, close below ``close_surprise``), the
cooldown, escalation and the re-baseline of a lasting shift live here; the events' texts too
(``alerts/DETECTOR.md``, "Alert lifecycle").
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from alerts.detector.config import DetectorConfig
from alerts.detector.events import SEVERITIES, AlertEvent, EventKind
from alerts.detector.state import (
    RECENT,
    SHARE_NEG,
    SHARE_PRIOR_COUNTS,
    SHARE_TOT,
    SUSTAINED,
    Episode,
    KeyState,
    Rebaseline,
    Window,
)


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def fmt_count(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def fmt_span(seconds: float) -> str:
    minutes = seconds / 60.0
    return f"{minutes:.1f} min" if minutes < 10 else (f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h")


class Lifecycle:
    """Episodes and their events (see the module doc)."""

    config: DetectorConfig
    _b: int
    _close_s: float
    _cool_b: int
    _episodes: dict[str, None]
    _min_neg: int
    _open_s: float
    _rebase_b: int | None
    _resolve_b: int
    _share_prior: float
    _update_interval: int


    def _lifecycle(
        self, key: str, st: KeyState, w: Window, s: float, sev: int, ended: bool, now_ts: float
    ) -> tuple[AlertEvent, ...]:
        idx = w.bucket
        ep = st.episode
        if ep is None:
            if s < self._open_s:
                return ()
            # Cooldown: a re-trigger soon after an episode is held back unless it is worse than
            # that episode was (higher severity, or more negatives than its peak window; an
            # hours-long sustained window is only worse by severity, its counts are not comparable).
            more = w.negative > st.cool_peak and w.channel != SUSTAINED
            if idx < st.cool_until and sev <= st.cool_severity and not more:
                if st.suppressed_bucket != idx:
                    st.suppressed += 1
                    st.suppressed_bucket = idx
                return ()
            digest_src = f"{key}\x1f{idx}\x1f{self._b}".encode()
            alert_id = hashlib.blake2b(digest_src, digest_size=8).hexdigest()
            ep = Episode(alert_id, idx, sev, w, now_ts)
            st.episode = ep
            self._episodes[key] = None
            return (self._event("opened", key, ep, w, sev, now_ts, self._describe(key, "opened", w, sev)),)
        out: list[AlertEvent] = []
        hot = s >= self._close_s
        sustained = w.channel == SUSTAINED
        if hot:
            if idx > ep.last_hot:
                ep.last_hot = idx
            if _better_peak(ep.peak, w):
                ep.peak = w
            if ep.ref_sustained and not sustained:
                # A short window is hot inside a sustained episode: compare growth among those.
                ep.ref = w.negative
                ep.ref_sustained = False
        # Early windows firm up within seconds; a minimum interval keeps escalation from paging
        # once per severity rung.  A rise held back here is emitted by a later evaluation.
        may_update = now_ts - ep.last_emit >= self._update_interval
        if sev > ep.severity and may_update:
            ep.severity = sev
            ep.last_emit = now_ts
            ep.seq += 1
            if sustained == ep.ref_sustained and w.negative > ep.ref:
                ep.ref = w.negative
            out.append(self._event("updated", key, ep, w, sev, now_ts, self._describe(key, "escalated", w, sev)))
        elif (
            ended
            and may_update
            and hot
            and sustained == ep.ref_sustained
            and w.negative >= ep.ref * (1.0 + self.config.update_growth)
            and w.negative - ep.ref >= self._min_neg
        ):
            ep.seq += 1
            ep.ref = w.negative
            ep.last_emit = now_ts
            out.append(
                self._event("updated", key, ep, w, ep.severity, now_ts, self._describe(key, "growing", w, ep.severity))
            )
        if ended and not hot and idx - ep.last_hot >= self._resolve_b:
            ep.seq += 1
            out.append(self._resolved(key, ep, now_ts))
            self._close_episode(key, st, ep, idx)
        return tuple(out)

    def _close_episode(self, key: str, st: KeyState, ep: Episode, idx: int) -> None:
        st.episode = None
        self._episodes.pop(key, None)
        st.cool_until = idx + self._cool_b
        st.cool_severity = ep.severity
        st.cool_peak = ep.peak.negative

    def _event(
        self, kind: EventKind, key: str, ep: Episode, w: Window, sev: int, now_ts: float, reason: str
    ) -> AlertEvent:
        return AlertEvent(
            kind=kind,
            alert_id=ep.alert_id,
            key=key,
            severity=SEVERITIES[sev],
            window_start=dt(w.start),
            window_end=dt(w.end),
            observed_negative=w.negative,
            expected_negative=w.expected_negative,
            observed_total=w.total,
            expected_total=w.expected_total,
            negative_share=w.share,
            expected_share=w.expected_share,
            score=w.score,
            p_value=w.p_value,
            reason=reason,
            seq=ep.seq,
            emitted_at=dt(now_ts),
        )

    def _resolved(self, key: str, ep: Episode, now_ts: float, rebased: float = 0.0) -> AlertEvent:
        peak = ep.peak
        b = self._b
        span = fmt_span((ep.last_hot + 1 - ep.start) * b)
        peak_len = fmt_span(peak.end - peak.start)
        if rebased:
            reason = (
                f"{key}: negative mentions have stayed high for {span}; accepted as the new normal "
                f"(baseline x{rebased:.1f}), peak {peak.negative} in {peak_len} (expected "
                f"{fmt_count(peak.expected_negative)})."
            )
        else:
            reason = (
                f"{key}: negative mentions back to normal; the spike lasted {span}, "
                f"peaking at {peak.negative} in {peak_len} (expected {fmt_count(peak.expected_negative)})."
            )
        # The event's window spans the episode; its counts are the peak window's.
        span_window = peak._replace(start=float(ep.start * b), end=float((ep.last_hot + 1) * b))
        return self._event("resolved", key, ep, span_window, ep.severity, now_ts, reason)

    def _describe(self, key: str, what: str, w: Window, sev: int) -> str:
        b = self._b
        length = w.end - w.start
        if w.channel == SUSTAINED:
            span = f"the last {fmt_span(length)} (a sustained rise)"
        elif w.channel == RECENT:
            across = f" (across two {b / 60:.0f}-min windows)" if w.start < w.bucket * b else ""
            span = f"the last {fmt_span(length)}{across}"
        elif length < b:
            span = f"the first {length / 60:.1f} min of a {b / 60:.0f}-min window"
        else:
            span = f"{b / 60:.0f} min"
        head = {
            "opened": f"{key}: negative spike ({SEVERITIES[sev]})",
            "escalated": f"{key}: negative spike escalated to {SEVERITIES[sev]}",
            "growing": f"{key}: negative spike still growing ({SEVERITIES[sev]})",
        }[what]
        m = w.expected_negative
        return (
            f"{head}: {w.negative} negative mentions in {span} vs {fmt_count(m)} expected "
            f"({w.negative / m:.1f}x); negative share {w.share:.0%} vs usual {w.expected_share:.0%} "
            f"of {w.total} mentions."
        )

    def _rebaseline(self, key: str, st: KeyState, ep: Episode, idx: int, now_ts: float) -> AlertEvent:
        """Accept a level that has stayed raised for ``rebaseline_after_seconds`` as the new normal.

        Clipped learning protects the baseline from spikes, which also means a
        permanent shift (a campaign, a new source) would keep one episode open
        for days.  Instead the level and the usual share are scaled to the last
        hour's observations and the episode resolves, saying so.
        """
        obs_t, exp_t, obs_n, exp_n = ep.recent_total, ep.recent_exp_total, ep.recent_neg, ep.recent_exp_neg
        factor = obs_t / exp_t if exp_t > 0.0 else 1.0
        if factor > 1.0:
            st.level *= factor
        else:
            factor = 1.0
        usual = (st.share_neg + self._share_prior) / (st.share_tot + SHARE_PRIOR_COUNTS)
        shift = (obs_n / obs_t) / usual if obs_t > 0.0 and usual > 0.0 else 1.0
        if shift > 1.0:
            prof = st.profile
            st.share_neg = min(st.share_neg * shift, st.share_tot)
            for h in range(24):
                prof[SHARE_NEG + h] = min(prof[SHARE_NEG + h] * shift, prof[SHARE_TOT + h])
        else:
            shift = 1.0
        # On probation for four times as long: if the old level comes back, the change is undone.
        st.rebaseline = Rebaseline(factor, shift, float(idx + 4 * (self._rebase_b or 0)), float(idx))
        ep.seq += 1
        neg_factor = obs_n / exp_n if exp_n > 0.0 else factor
        event = self._resolved(key, ep, now_ts, rebased=max(factor, neg_factor))
        self._close_episode(key, st, ep, idx)
        return event


def _better_peak(old: Window, new: Window) -> bool:
    """Whether ``new`` replaces ``old`` as an episode's peak: the sharpest window, by negatives.

    A sustained window spans hours, so its counts are not comparable with a bucket's; it is the
    peak only until a short window is hot.
    """
    if (old.channel == SUSTAINED) != (new.channel == SUSTAINED):
        return old.channel == SUSTAINED
    return new.negative > old.negative
