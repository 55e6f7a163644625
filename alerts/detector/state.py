"""Per-key detector state, its episodes and the JSON records a snapshot is made of.

Everything a key has learned lives in :class:`KeyState` under a name; the seasonal sums are one
float32 array (432 values, most of a key's memory) whose layout is given by the constants
below.  :func:`key_record` and :func:`key_from_record` convert a key to and from the JSON the
checkpoints hold; floats round-trip exactly, so a restored key continues bit for bit.
Records of the previous format (version 1) are upgraded on restore.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

STATE_VERSION = 2
# Versions whose records key_from_record still reads.
READABLE_VERSIONS = (1, 2)

# Seasonal profile layout (float32): ratios of exponentially weighted sums per slot.
DAILY_OBS = 0  # 24 hour-of-day slots: observed totals
DAILY_EXP = 24  # ...and level-predicted totals
WEEKLY_OBS = 48  # 168 hour-of-week slots: observed totals
WEEKLY_EXP = 216  # ...and predicted totals
SHARE_NEG = 384  # 24 hour-of-day slots: negatives
SHARE_TOT = 408  # ...and totals
PROFILE_LEN = 432

# Priors of the per-key estimates: pseudo-counts behind a brand-new key's negative share, and
# pseudo-buckets behind the dispersion priors.
SHARE_PRIOR_COUNTS = 20.0
DISPERSION_PRIOR_BUCKETS = 20.0

# Sub-buckets per bucket in the recent-window histogram (20 s for 5-minute buckets).
SUB = 15

# Channels of a test window: the bucket itself, a recent window ending at the clock, the
# hours-long sustained window.
BUCKET, RECENT, SUSTAINED = "bucket", "recent", "sustained"


class Window(NamedTuple):
    """The window one test looked at, with what it saw and expected there."""

    bucket: int  # index of the bucket the evaluation belongs to (alert ids and episode bookkeeping)
    start: float  # epoch seconds
    end: float
    total: int
    negative: int
    expected_negative: float
    expected_total: float
    share: float
    expected_share: float
    score: float
    p_value: float
    ratio: float
    channel: str


class Episode:
    """An open alert: its id, where it is in its lifecycle, and what it has seen."""

    __slots__ = (
        "alert_id",
        "last_emit",
        "last_hot",
        "peak",
        "recent_exp_neg",
        "recent_exp_total",
        "recent_neg",
        "recent_total",
        "ref",
        "ref_sustained",
        "seq",
        "severity",
        "start",
    )

    def __init__(self, alert_id: str, start: int, severity: int, opening: Window, now_ts: float) -> None:
        self.alert_id = alert_id
        self.start = start
        self.severity = severity
        self.seq = 0
        # Negatives of the window last reported, and whether that was a sustained window (whose
        # counts span hours and are not comparable with a bucket's).
        self.ref = opening.negative
        self.ref_sustained = opening.channel == SUSTAINED
        self.last_hot = start
        self.last_emit = now_ts
        self.peak = opening
        # Hour-weighted sums of closed buckets during the episode, for re-baselining a level that
        # never comes back down.
        self.recent_total = 0.0
        self.recent_exp_total = 0.0
        self.recent_neg = 0.0
        self.recent_exp_neg = 0.0


class Rebaseline:
    """A re-baselined level on probation: undone if the old level comes back."""

    __slots__ = ("level_factor", "recent_expected", "recent_neg", "share_factor", "start", "until")

    def __init__(self, level_factor: float, share_factor: float, until: float, start: float) -> None:
        self.level_factor = level_factor
        self.share_factor = share_factor
        self.until = until  # bucket index at which the probation ends
        self.start = start
        self.recent_neg = 0.0  # hour-weighted negatives since the re-baseline
        self.recent_expected = 0.0  # ...and what the new level expected


NO_BUCKET = -(2**62)
# Shared by every key fed whole buckets, which never has an open bucket or a histogram: two dicts
# a key saved.  Only keys fed with observe() ever write to their own (fresh) dicts.
_NO_OPEN: dict[int, list[int]] = {}
_NO_HIST: dict[int, array[int]] = {}


class EventChannel:
    """One test's events: declustered peaks, and the cluster still open.

    Peaks are sorted ``[log-ratio, weight, ...]`` (weights inflated by the decay since warm-up,
    see ``core._calibrated``); the open cluster is its peak log-ratio so far and its quiet buckets.
    """

    __slots__ = ("cluster", "peaks", "quiet")

    def __init__(self) -> None:
        self.peaks: array[float] | None = None
        self.cluster: float | None = None
        self.quiet = 0

    def step(self, surprise: float, y: float, weight: float, threshold: float, gap: int, capacity: int) -> None:
        """One closed bucket: extend the cluster, or count it quiet and, after ``gap``, learn its peak."""
        if surprise >= threshold:
            if self.cluster is None or y > self.cluster:
                self.cluster = y
            self.quiet = 0
        elif self.cluster is not None:
            self.quiet += 1
            if self.quiet >= gap:
                self.peaks = add_event(self.peaks, self.cluster, weight, capacity)
                self.cluster = None
                self.quiet = 0

    def to_record(self, name: str, out: dict[str, Any]) -> None:
        if self.peaks is not None:
            out[name] = list(self.peaks)
        if self.cluster is not None:
            out[name + "c"] = [self.cluster, self.quiet]

    def load_record(self, name: str, rec: Mapping[str, Any]) -> None:
        if name in rec:
            self.peaks = array("d", (float(x) for x in rec[name]))
        if name + "c" in rec:
            self.cluster, self.quiet = float(rec[name + "c"][0]), int(rec[name + "c"][1])


class EventMemory:
    """A key's own events, per test (the bucket's and the sustained one); created with its first
    event cluster, since most keys never have one."""

    __slots__ = ("bucket", "sustained")

    def __init__(self) -> None:
        self.bucket = EventChannel()
        self.sustained = EventChannel()


class KeyState:
    """Everything one key has learned and is doing."""

    __slots__ = (
        "closed_upto",
        "cool_peak",
        "cool_severity",
        "cool_until",
        "day",
        "disp_neg_den",
        "disp_neg_num",
        "disp_share_den",
        "disp_share_num",
        "disp_tot_den",
        "disp_tot_num",
        "ended_upto",
        "episode",
        "events",
        "hist",
        "late",
        "learned",
        "level",
        "manual",
        "open",
        "profile",
        "rebaseline",
        "share_neg",
        "share_tot",
        "suppressed",
        "suppressed_bucket",
        "sus_exp",
        "sus_mean",
        "sus_obs",
        "sus_tot",
        "sus_var",
        "sus_weight",
    )

    def __init__(self, manual: bool) -> None:
        self.manual = manual  # fed whole buckets (update_bucket) rather than mentions
        self.closed_upto: int | None = None  # buckets below this index are closed and learned
        # Bucket index -> [total, negative] of open buckets.
        self.open: dict[int, list[int]] = _NO_OPEN if manual else {}
        # Sub-bucket counts (totals, then negatives) of the current and previous bucket only,
        # for the recent windows that end at the stream clock.
        self.hist: dict[int, array[int]] = _NO_HIST if manual else {}
        self.learned = 0  # closed buckets learned from
        self.level = 0.0  # deseasonalised total mentions per bucket
        self.profile = array("f", bytes(4 * PROFILE_LEN))
        self.share_neg = 0.0  # EW negatives and totals: the key's overall negative share
        self.share_tot = 0.0
        # Method-of-moments dispersion sums: negatives (alpha), totals (winsorising), share (rho).
        self.disp_neg_num = 0.0
        self.disp_neg_den = 0.0
        self.disp_tot_num = 0.0
        self.disp_tot_den = 0.0
        self.disp_share_num = 0.0
        self.disp_share_den = 0.0
        self.day: int | None = None  # UTC day of the last learned bucket (daily re-pinning)
        self.ended_upto: int | None = None  # ended buckets below this were evaluated as ended
        self.late = 0
        self.suppressed = 0
        self.suppressed_bucket = NO_BUCKET
        self.episode: Episode | None = None
        self.cool_until = NO_BUCKET
        self.cool_severity = 0
        self.cool_peak = 0
        self.rebaseline: Rebaseline | None = None
        # Sustained channel: EW mean of bucket log-ratios, EW sum of its square over calm buckets
        # (and their weight), EW means of observed totals, negatives and expected negatives.
        self.sus_mean = 0.0
        self.sus_var = 0.0
        self.sus_weight = 0.0
        self.sus_tot = 0.0
        self.sus_obs = 0.0
        self.sus_exp = 0.0
        self.events: EventMemory | None = None


# ---------------------------------------------------------------------------------- event memory


def add_event(events: array[float] | None, y: float, weight: float, capacity: int) -> array[float]:
    """Insert a peak (log-ratio ``y``) into a sorted event list; over capacity, merge the closest pair.

    The merged entry keeps the *larger* log-ratio and both weights, so the count of past events
    at least as large as any value is never underestimated (the merge can only make a key more
    cautious), and the largest event stays exact.
    """
    out = array("d") if events is None else events
    i = 0
    while i < len(out) and out[i] < y:
        i += 2
    out[i:i] = array("d", (y, weight))
    if len(out) > 2 * capacity:
        best = 0
        gap = out[2] - out[0]
        for j in range(2, len(out) - 2, 2):
            g = out[j + 2] - out[j]
            if g < gap:
                best, gap = j, g
        out[best + 3] += out[best + 1]
        del out[best : best + 2]
    return out


def weight_at_least(events: array[float], y: float) -> float:
    """Summed (inflated) weight of the stored events whose log-ratio is at least ``y``."""
    total = 0.0
    j = len(events) - 2
    while j >= 0 and events[j] >= y:
        total += events[j + 1]
        j -= 2
    return total


# ---------------------------------------------------------------------------------- records


def pack_profile(values: array[float]) -> str:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def unpack_profile(text: str) -> array[float]:
    values = array("f")
    values.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        values.byteswap()
    if len(values) != PROFILE_LEN:
        raise ValueError("corrupt detector state: profile has the wrong length")
    return values


def _window_list(w: Window) -> list[Any]:
    return list(w)


def _window_from(data: Sequence[Any]) -> Window:
    return Window(
        int(data[0]),
        float(data[1]),
        float(data[2]),
        int(data[3]),
        int(data[4]),
        float(data[5]),
        float(data[6]),
        float(data[7]),
        float(data[8]),
        float(data[9]),
        float(data[10]),
        float(data[11]),
        str(data[12]),
    )


def key_record(st: KeyState, dirty: bool) -> dict[str, Any]:
    """The JSON record of one key (short field names: a checkpoint holds one per key)."""
    ep = st.episode
    rb = st.rebaseline
    rec: dict[str, Any] = {
        "m": 1 if st.manual else 0,
        # Observed since the last advance(): the next advance() must evaluate it.
        "dy": 1 if dirty else 0,
        "c": st.closed_upto,
        "n": st.learned,
        "l": st.level,
        "p": pack_profile(st.profile),
        "s": [st.share_neg, st.share_tot],
        "d": [
            st.disp_neg_num,
            st.disp_neg_den,
            st.disp_tot_num,
            st.disp_tot_den,
            st.disp_share_num,
            st.disp_share_den,
        ],
        "day": st.day,
        "eu": st.ended_upto,
        "o": [[i, c[0], c[1]] for i, c in sorted(st.open.items())],
        "k": [st.late, st.suppressed, st.suppressed_bucket, st.cool_until, st.cool_severity, st.cool_peak],
        "rb": None
        if rb is None
        else [rb.level_factor, rb.share_factor, rb.until, rb.start, rb.recent_neg, rb.recent_expected],
        "ep": None
        if ep is None
        else {
            "id": ep.alert_id,
            "start": ep.start,
            "sev": ep.severity,
            "seq": ep.seq,
            "ref": [ep.ref, 1 if ep.ref_sustained else 0],
            "hot": ep.last_hot,
            "emit": ep.last_emit,
            "peak": _window_list(ep.peak),
            "recent": [ep.recent_total, ep.recent_exp_total, ep.recent_neg, ep.recent_exp_neg],
        },
        "sus": [st.sus_mean, st.sus_var, st.sus_weight, st.sus_tot, st.sus_obs, st.sus_exp],
    }
    if st.hist:
        rec["h"] = [[i, *h] for i, h in sorted(st.hist.items())]
    em = st.events
    if em is not None:
        events: dict[str, Any] = {}
        em.bucket.to_record("b", events)
        em.sustained.to_record("s", events)
        rec["ev"] = events
    return rec


def key_from_record(rec: Mapping[str, Any], version: int, bucket_seconds: int) -> KeyState:
    """A key from its record; version-1 records (before the event memory) are upgraded."""
    st = KeyState(manual=bool(rec["m"]))
    st.closed_upto = rec["c"]
    st.learned = int(rec["n"])
    st.level = float(rec["l"])
    st.profile = unpack_profile(rec["p"])
    st.share_neg, st.share_tot = (float(x) for x in rec["s"])
    (
        st.disp_neg_num,
        st.disp_neg_den,
        st.disp_tot_num,
        st.disp_tot_den,
        st.disp_share_num,
        st.disp_share_den,
    ) = (float(x) for x in rec["d"])
    st.day = rec["day"]
    st.ended_upto = rec["eu"]
    if rec["o"] or not st.manual:
        st.open = {int(i): [int(t), int(n)] for i, t, n in rec["o"]}
    # Records written before the recent windows existed have no "h": the windows then start with
    # the next bucket, exactly as for a detector that had just been created.
    rows = rec.get("h") or ()
    if rows:
        st.hist = {}
    for row in rows:
        if len(row) != 2 * SUB + 1:
            raise ValueError("corrupt detector state: sub-bucket histogram has the wrong length")
        st.hist[int(row[0])] = array("i", (int(x) for x in row[1:]))
    st.late, st.suppressed, st.suppressed_bucket, st.cool_until, st.cool_severity, st.cool_peak = (
        int(x) for x in rec["k"]
    )
    rb = rec["rb"]
    if rb is not None:
        st.rebaseline = Rebaseline(float(rb[0]), float(rb[1]), float(rb[2]), float(rb[3]))
        st.rebaseline.recent_neg, st.rebaseline.recent_expected = float(rb[4]), float(rb[5])
    ep = rec["ep"]
    if ep is not None:
        st.episode = _episode_v1(ep, bucket_seconds) if version == 1 else _episode_v2(ep)
    sus = rec.get("sus")
    if sus is not None:
        st.sus_mean, st.sus_var, st.sus_weight, st.sus_tot, st.sus_obs, st.sus_exp = (float(x) for x in sus)
    events = rec.get("ev")
    if events is not None:
        em = st.events = EventMemory()
        em.bucket.load_record("b", events)
        em.sustained.load_record("s", events)
    return st


def _episode_v2(ep: Mapping[str, Any]) -> Episode:
    peak = _window_from(ep["peak"])
    out = Episode(str(ep["id"]), int(ep["start"]), int(ep["sev"]), peak, float(ep["emit"]))
    out.seq = int(ep["seq"])
    out.ref = int(ep["ref"][0])
    out.ref_sustained = bool(ep["ref"][1])
    out.last_hot = int(ep["hot"])
    out.recent_total, out.recent_exp_total, out.recent_neg, out.recent_exp_neg = (float(x) for x in ep["recent"])
    return out


def _episode_v1(ep: Sequence[Any], b: int) -> Episode:
    # [alert_id, start, sev, seq, ref, last_hot, last_emit, peak, recent]; the peak was
    # [negative, expected_negative, total, expected_total, expected_share, score, p, bucket, fraction].
    alert_id, start, sev, seq, ref, last_hot, last_emit, peak, recent = ep
    neg, m, tot, mt, p0, score, p_value, bucket, frac = (float(x) for x in peak)
    idx = int(bucket)
    window = Window(
        idx,
        idx * b,
        idx * b + frac * b,
        int(tot),
        int(neg),
        m,
        mt,
        neg / tot if tot else 0.0,
        p0,
        score,
        p_value,
        neg / m if m > 0 else 0.0,
        BUCKET,
    )
    out = Episode(str(alert_id), int(start), int(sev), window, float(last_emit))
    out.seq = int(seq)
    out.ref = int(ref)
    out.last_hot = int(last_hot)
    out.recent_total, out.recent_exp_total, out.recent_neg, out.recent_exp_neg = (float(x) for x in recent)
    return out
