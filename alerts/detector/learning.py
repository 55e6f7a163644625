"""How a key learns from a closed bucket: baseline, profiles, dispersions, sustained drift, events.

A mixin of ``NegativeSpikeDetector`` (``core.py``), which sets the attributes declared here from its
configuration; kept apart because it is the other half of the per-bucket path.  Learning is robust
on purpose: anomalous buckets count for at most one sigma, so a spike barely moves the baseline it
is measured against (``alerts/DETECTOR.md``, "Expected level").
"""

from __future__ import annotations

import math

from alerts.detector.state import (
    DAILY_EXP,
    DAILY_OBS,
    DISPERSION_PRIOR_BUCKETS,
    SHARE_NEG,
    SHARE_TOT,
    WEEKLY_EXP,
    WEEKLY_OBS,
    EventMemory,
    KeyState,
    Rebaseline,
)

# A cluster of buckets is one of the key's *events* when its body surprise reaches the balanced
# open threshold, i.e. when the statistics alone would have raised an alert.
EVENT_SURPRISE = 5.0
# A cluster ends after this long below EVENT_SURPRISE (a burst's aftershocks belong to it).
EVENT_GAP_SECONDS = 3600
# Events kept per channel; beyond it the two closest are merged (conservatively).
EVENT_CAPACITY = 12


class Learning:
    """Learning from closed buckets (see the module doc)."""

    _a_lvl: float
    _clip: float
    _clip_after: int
    _ev_gap: int
    _ev_keep: float
    _keep_day: float
    _keep_disp: float
    _keep_recent: float
    _keep_share: float
    _keep_sus_var: float
    _keep_week: float
    _min_disp: float
    _prior_disp: float
    _seed_buckets: float
    _shrink: float
    _sus_decay: float
    _use_daily: bool
    _use_hour_share: bool
    _use_weekly: bool
    _warmup: int

    def _learn(
        self,
        st: KeyState,
        idx: int,
        tot: int,
        neg: int,
        mu_t: float,
        mu_n: float,
        p0: float,
        alpha: float,
        rho: float,
        de: float,
        we: float,
        hod: int,
        how: int,
        bucket_hot: bool,
    ) -> None:
        """Learn one closed bucket: level, seasonal profiles, share and dispersions, robustly."""
        # While an episode is open the key is anomalous as a whole: its near-threshold buckets
        # (a spike's shoulders) must not teach the baseline either.
        anomalous = bucket_hot or st.episode is not None
        prof = st.profile
        lvl = st.level
        n = st.learned
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
            kt = DISPERSION_PRIOR_BUCKETS * mu_t * mu_t
            tden = st.disp_tot_den + kt
            alpha_t = (st.disp_tot_num + pd * kt) / tden if tden > 1e-12 else pd
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
        st.level = new if new > 0.0 else 0.0
        # Profiles are ratios against the level, so they wait until the level means something:
        # not in the first hour (a slot would learn x / 0), nor while a re-baselined level is
        # on probation (the slots would learn ratios against a level that may be undone).
        learn_profiles = clipping and lvl > 0.0 and st.rebaseline is None
        # A slot's first update seeds it with profile_shrink_seconds of "as flat" data, which then
        # decays like real data: a big key cannot reshape a never-seen slot from one (spike)
        # bucket, yet the profile ends up unbiased once the slot has history.
        if learn_profiles and self._use_daily:
            keep = self._keep_day
            dn = prof[DAILY_OBS + hod]
            dd = prof[DAILY_EXP + hod]
            if dd == 0.0:
                dn = dd = self._seed_buckets * lvl * we
            prof[DAILY_OBS + hod] = dn * keep + x
            prof[DAILY_EXP + hod] = dd * keep + lvl * we
        if learn_profiles and self._use_weekly:
            keep = self._keep_week
            wn = prof[WEEKLY_OBS + how]
            wd = prof[WEEKLY_EXP + how]
            if wd == 0.0:
                wn = wd = self._seed_buckets * lvl * de
            prof[WEEKLY_OBS + how] = wn * keep + x
            prof[WEEKLY_EXP + how] = wd * keep + lvl * de
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
            st.share_neg = st.share_neg * keep + nw
            st.share_tot = st.share_tot * keep + tw
            if self._use_hour_share:
                keep = self._keep_day
                prof[SHARE_NEG + hod] = prof[SHARE_NEG + hod] * keep + nw
                prof[SHARE_TOT + hod] = prof[SHARE_TOT + hod] * keep + tw
        # Dispersion: moment estimates, never from anomalous buckets nor from the first hour,
        # whose expectation is still forming.
        if clipping and not anomalous:
            keep = self._keep_disp
            r = x - mu_t
            st.disp_tot_num = st.disp_tot_num * keep + r * r - mu_t
            st.disp_tot_den = st.disp_tot_den * keep + mu_t * mu_t
            r = xn - mu_n
            st.disp_neg_num = st.disp_neg_num * keep + r * r - mu_n
            st.disp_neg_den = st.disp_neg_den * keep + mu_n * mu_n
            if tot >= 2 and 0.0 < p0 < 1.0:
                e = tot * p0
                q = e * (1.0 - p0)
                r = neg - e
                if r > 0.0 and r * r > c2 * q * (1.0 + (tot - 1) * rho):
                    r = c * math.sqrt(q * (1.0 + (tot - 1) * rho))
                st.disp_share_num = st.disp_share_num * keep + r * r - q
                st.disp_share_den = st.disp_share_den * keep + tot * (tot - 1.0) * p0 * (1.0 - p0)

    def _learn_sustained(
        self, st: KeyState, ybar: float, tot: int, neg: int, mu_n: float, bucket_hot: bool
    ) -> None:
        d = self._sus_decay
        st.sus_mean = ybar
        st.sus_tot = d * st.sus_tot + (1.0 - d) * tot
        st.sus_obs = d * st.sus_obs + (1.0 - d) * neg
        st.sus_exp = d * st.sus_exp + (1.0 - d) * mu_n
        # The drift the sustained test is measured against comes from calm buckets of a grown-up
        # baseline only.
        if st.learned >= self._warmup and not bucket_hot and st.episode is None:
            kv = self._keep_sus_var
            st.sus_var = st.sus_var * kv + ybar * ybar
            st.sus_weight = st.sus_weight * kv + 1.0

    def _learn_events(self, st: KeyState, s_bucket: float, y: float, s_sus: float, ybar: float) -> None:
        """Decluster this bucket into the key's events: one peak per burst, whatever its length."""
        em = st.events
        if em is None:
            if s_bucket < EVENT_SURPRISE and s_sus < EVENT_SURPRISE:
                return
            em = st.events = EventMemory()
        m = st.learned - self._warmup
        # Weights are stored inflated by the decay since the key's warm-up ended.
        weight = self._ev_keep ** -(m if m > 0 else 0)
        em.bucket.step(s_bucket, y, weight, EVENT_SURPRISE, self._ev_gap, EVENT_CAPACITY)
        em.sustained.step(s_sus, ybar, weight, EVENT_SURPRISE, self._ev_gap, EVENT_CAPACITY)

    def _probation(self, st: KeyState, rb: Rebaseline, idx: int, neg: int, mu_n: float) -> None:
        # A re-baselined level that turns out to be a long crisis, not a new normal, would leave
        # the key half-blind for days while clipped learning walks the baseline back down.  So
        # for a while after a re-baseline, negatives back near the old level (below the geometric
        # midpoint, over the last hour) undo it.
        if idx >= rb.until:
            st.rebaseline = None
            return
        kr = self._keep_recent
        rb.recent_neg = rb.recent_neg * kr + neg
        rb.recent_expected = rb.recent_expected * kr + mu_n
        if idx - rb.start >= self._clip_after and rb.recent_neg * math.sqrt(rb.level_factor * rb.share_factor) < (
            rb.recent_expected
        ):
            st.level /= rb.level_factor
            if rb.share_factor > 1.0:
                prof = st.profile
                st.share_neg /= rb.share_factor
                for h in range(24):
                    prof[SHARE_NEG + h] /= rb.share_factor
            st.rebaseline = None

    def _renormalise(self, st: KeyState) -> None:
        # Level x daily x weekly is identified only up to scale; pin the means to 1 once a day so the
        # split cannot drift (which would make the shrink-to-1 fallback wrong).
        prof = st.profile
        k = self._shrink  # the same shrinkage as _expect()
        if not self._use_daily:
            if self._use_weekly:
                # Buckets longer than an hour touch only some hour-of-week slots: pin those.
                used = [j for j in range(168) if prof[WEEKLY_EXP + j] > 0.0]
                m = (
                    sum((prof[WEEKLY_OBS + j] + k) / (prof[WEEKLY_EXP + j] + k) for j in used) / len(used)
                    if used
                    else 1.0
                )
                if m > 0.0 and abs(m - 1.0) > 1e-3:
                    for j in used:
                        prof[WEEKLY_OBS + j] /= m
                    st.level *= m
            return
        if self._use_weekly:
            for h in range(24):
                tot = 0.0
                for d in range(7):
                    j = d * 24 + h
                    tot += (prof[WEEKLY_OBS + j] + k) / (prof[WEEKLY_EXP + j] + k)
                m = tot / 7.0
                if m > 0.0 and abs(m - 1.0) > 1e-3:
                    for d in range(7):
                        prof[WEEKLY_OBS + d * 24 + h] /= m
                    prof[DAILY_OBS + h] *= m
        tot = 0.0
        for h in range(24):
            tot += (prof[DAILY_OBS + h] + k) / (prof[DAILY_EXP + h] + k)
        m = tot / 24.0
        if m > 0.0 and abs(m - 1.0) > 1e-3:
            for h in range(24):
                prof[DAILY_OBS + h] /= m
            st.level *= m
