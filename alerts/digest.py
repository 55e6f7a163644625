"""The optional hourly or daily digest: per brand, the closed period's volume, negatives, negative
share, stories, alerts opened and top negative keywords, and for each ``competitors:`` group the
share of voice side by side (each brand's part of the group's volume, its negative share and its
story count), sent through the alert channels as a ``brandpulse.schema.DigestRecord``.

Pure core, thin shell: :func:`closed_period`, :func:`digest`, :func:`share_of_voice` and
:func:`build_digest` are pure (:func:`digest` summarises recorded alert events per key and period;
the digest record uses it over the period's alert events); :func:`fetch_period` reads the numbers
from Elasticsearch (per brand from the mentions alias: mentions, negatives, distinct
``enrichment.story_id`` values, top negative keywords; the period's alert documents from the alerts
index, each read as an ``AlertRecord``); :class:`DigestJob` is the APScheduler job in the alert
worker.

Once per (period, channel): the record's ``idempotency_key`` is ``digest:<period>:<start>``, and
the dispatcher's delivery log (the compacted state topic) records each channel's delivery, so a
restarted worker, or another worker that took over, skips what was sent. Only the worker that
owns partition 0 of the enriched topic sends, so scaled-out workers do not all send it.

>>> start, end = closed_period(datetime(2026, 3, 1, 12, 7, tzinfo=UTC), "hourly")
>>> start.isoformat(), end.isoformat()
('2026-03-01T11:00:00+00:00', '2026-03-01T12:00:00+00:00')
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from alerts.channels.digest import format_digest_console
from alerts.detector import SEVERITIES, AlertEvent
from brandpulse.esclient import alerts_index, mentions_alias
from brandpulse.schema import AlertRecord, DigestBrand, DigestRecord, SchemaError, VoiceGroup, VoiceShare

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from alerts.channels import Dispatcher

log = logging.getLogger(__name__)

Period = Literal["hourly", "daily"]
PERIOD_SECONDS: dict[str, int] = {"hourly": 3600, "daily": 86400}


def closed_period(now: datetime, period: Period) -> tuple[datetime, datetime]:
    """The latest whole UTC hour or day that ended at or before ``now``: ``[start, end)``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    seconds = PERIOD_SECONDS[period]
    end_ts = int(now.timestamp()) // seconds * seconds
    end = datetime.fromtimestamp(end_ts, UTC)
    return end - timedelta(seconds=seconds), end


@dataclass(frozen=True)
class BrandVolume:
    """One brand's mentions in the period (from the index): all, negative, top negative keywords,
    distinct stories."""

    brand: str
    volume: int
    negative: int
    top_keywords: tuple[str, ...] = ()
    stories: int = 0


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


def severity_index(severity: str) -> int:
    """Position in SEVERITIES; one this build does not know (a newer detector's) counts as the worst."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


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
        max_sev = max((severity_index(ev.severity) for ev in evs), default=0)
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


def digest_key(period: Period, start: datetime) -> str:
    return f"digest:{period}:{start.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def build_digest(period: Period, start: datetime, end: datetime, volumes: Iterable[BrandVolume],
                 events: Iterable[AlertEvent], groups: Mapping[str, Sequence[str]] | None = None) -> DigestRecord:
    """The digest record every channel renders: one row per brand (busiest first), then the
    share of voice of each competitor group (``groups``: name -> brands, in config order)."""
    in_period = [e for e in events if start <= (e.emitted_at or e.window_end) < end]
    alerts: dict[str, dict[str, Any]] = {}
    for entry in digest(in_period, PERIOD_SECONDS[period]):
        brand = entry.key.split("|", 1)[0]
        row = alerts.setdefault(brand, {"opened": 0, "ids": {}, "sev": 0, "peak": 0})
        row["opened"] += entry.opened
        row["ids"].update(dict.fromkeys(entry.alert_ids))
        row["sev"] = max(row["sev"], SEVERITIES.index(entry.max_severity))
        row["peak"] = max(row["peak"], entry.peak_negative)
    by_brand = {v.brand: v for v in volumes}
    names = list(dict.fromkeys([*by_brand, *alerts]))
    rows = []
    for brand in names:
        v = by_brand.get(brand, BrandVolume(brand, 0, 0))
        a = alerts.get(brand)
        rows.append(DigestBrand(
            brand=brand, volume=v.volume, negative=v.negative,
            negative_share=round(v.negative / v.volume, 4) if v.volume else 0.0, stories=v.stories,
            top_keywords=v.top_keywords, alerts_opened=a["opened"] if a else 0,
            alert_ids=tuple(a["ids"]) if a else (), worst_severity=SEVERITIES[a["sev"]] if a else "none",
            peak_negative=a["peak"] if a else 0))
    ordered = sorted(rows, key=lambda r: (-r.alerts_opened, -r.volume, r.brand))
    volume = sum(r.volume for r in ordered)
    opened = sum(r.alerts_opened for r in ordered)
    label = "Hourly" if period == "hourly" else "Daily"
    return DigestRecord(
        digest=period, period_start=start, period_end=end, idempotency_key=digest_key(period, start),
        title=f"{label} digest {fmt_period(start, end)}",
        summary=f"{volume:,} mentions across {len(ordered)} brand{'s' if len(ordered) != 1 else ''}, "
                f"{opened} alert{'s' if opened != 1 else ''} opened",
        brands=tuple(ordered), share_of_voice=share_of_voice(volumes, groups or {}),
    )


def share_of_voice(volumes: Iterable[BrandVolume], groups: Mapping[str, Sequence[str]]) -> tuple[VoiceGroup, ...]:
    """Per competitor group, each brand's share of the group's mentions, negative share and stories,
    in the group's own brand order (a brand without mentions in the period shows 0).

    >>> [g.brands[0].share_of_voice for g in share_of_voice(
    ...     [BrandVolume("A", 30, 3, stories=4), BrandVolume("B", 10, 5)], {"airlines": ["A", "B"]})]
    [0.75]
    """
    by_brand = {v.brand: v for v in volumes}
    out = []
    for name, brands in groups.items():
        rows = [by_brand.get(b, BrandVolume(b, 0, 0)) for b in brands]
        total = sum(r.volume for r in rows)
        out.append(VoiceGroup(group=name, volume=total, brands=tuple(
            VoiceShare(brand=r.brand, volume=r.volume, share_of_voice=round(r.volume / total, 4) if total else 0.0,
                       negative=r.negative, negative_share=round(r.negative / r.volume, 4) if r.volume else 0.0,
                       stories=r.stories) for r in rows)))
    return tuple(out)


def fmt_period(start: datetime, end: datetime) -> str:
    if end - start >= timedelta(days=1):
        return f"{start:%Y-%m-%d} (UTC)"
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"


# ------------------------------------------------------------------ Elasticsearch


def fetch_period(es: Elasticsearch, prefix: str, start: datetime, end: datetime
                 ) -> tuple[list[BrandVolume], list[AlertEvent]]:
    """Per-brand counts from the mentions alias and the period's alert events from the alerts index."""
    rng = {"gte": start.isoformat(), "lt": end.isoformat()}
    res = es.options(ignore_status=404).search(
        index=mentions_alias(prefix), size=0, query={"range": {"created_at": rng}},
        aggs={"brands": {"terms": {"field": "brand", "size": 1000},
                         "aggs": {"neg": {"filter": {"term": {"enrichment.sentiment.label": "negative"}},
                                          "aggs": {"kw": {"terms": {"field": "enrichment.keywords", "size": 5}}}},
                                  # HyperLogLog: exact below the threshold, within ~1 % above it.
                                  "stories": {"cardinality": {"field": "enrichment.story_id",
                                                              "precision_threshold": 3000}}}}},
    )
    volumes = []
    for b in (res.get("aggregations") or {}).get("brands", {}).get("buckets", []):
        kws = tuple(k["key"] for k in b["neg"]["kw"]["buckets"])
        stories = int((b.get("stories") or {}).get("value") or 0)
        volumes.append(BrandVolume(str(b["key"]), int(b["doc_count"]), int(b["neg"]["doc_count"]), kws, stories))
    hits = es.options(ignore_status=404).search(
        index=alerts_index(prefix), size=10_000, query={"range": {"raised_at": rng}},
        sort=[{"raised_at": "asc"}],
    )
    events = [alert_event(h["_source"]) for h in (hits.get("hits") or {}).get("hits", [])]
    return volumes, [e for e in events if e is not None]


def alert_event(doc: Mapping[str, Any]) -> AlertEvent | None:
    """An alert document (alerts topic / index) read as an ``AlertRecord``, back as the detector's
    event for ``digest()``; None (and a warning) for one that is not an alert record."""
    try:
        rec = AlertRecord.from_dict(dict(doc))
    except SchemaError as exc:
        log.warning("skipping an alert document the digest cannot read: %s", exc.reason,
                    extra={"alert_id": doc.get("alert_id")})
        return None
    return AlertEvent(
        kind=rec.event, alert_id=rec.alert_id, key=rec.key, severity=rec.severity,
        window_start=rec.window_start, window_end=rec.window_end, observed_negative=rec.observed_negative,
        expected_negative=rec.expected_negative, observed_total=rec.observed_total or 0,
        expected_total=rec.expected_total or 0.0, negative_share=rec.negative_share,
        expected_share=rec.expected_share or 0.0, score=rec.score or 0.0,
        p_value=1.0 if rec.p_value is None else rec.p_value, reason=rec.reason, seq=rec.seq or 0,
        emitted_at=rec.emitted_at or rec.raised_at)


# ------------------------------------------------------------------ the scheduled job


class DigestJob:
    """Checks every minute whether a period has closed (plus ``delay`` for late mentions to be
    indexed) and, if this worker is the sender, sends that period's digest once per channel.

    ``fetch(start, end)`` returns the period's volumes and events (:func:`fetch_period` in the
    worker); ``channels`` are the digest's channel names; ``console`` prints it too.
    """

    def __init__(self, period: Period, dispatcher: Dispatcher | None, channels: Sequence[str],
                 fetch: Callable[[datetime, datetime], tuple[list[BrandVolume], list[AlertEvent]]], *,
                 is_sender: Callable[[], bool] = lambda: True, console: Callable[[str], None] | None = None,
                 delay: timedelta = timedelta(minutes=5), clock: Callable[[], datetime] | None = None,
                 groups: Mapping[str, Sequence[str]] | None = None) -> None:
        self.period = period
        self.groups = dict(groups or {})
        self.dispatcher = dispatcher
        self.channels = list(channels)
        self.fetch = fetch
        self.is_sender = is_sender
        self.console = console
        self.delay = delay
        self.clock = clock or (lambda: datetime.now(UTC))
        self._done: set[str] = set()  # periods this process already handled
        self._lock = threading.Lock()
        self._scheduler: Any = None

    def run_once(self) -> DigestRecord | None:
        """Send the latest closed period's digest unless already handled; return the record sent."""
        start, end = closed_period(self.clock() - self.delay, self.period)
        key = digest_key(self.period, start)
        with self._lock:
            if key in self._done or not self.is_sender():
                return None
        volumes, events = self.fetch(start, end)
        record = build_digest(self.period, start, end, volumes, events, self.groups)
        if self.console is not None:
            self.console(format_digest_console(record))
        if self.dispatcher is not None and self.channels:
            # Another worker may have sent it before a rebalance made this one the sender.
            self.dispatcher.delivery_log.load()
            queued = self.dispatcher.send_to(record, self.channels)
            log.info("digest queued", extra={"period_start": record.period_start.isoformat(), "channels": queued})
        with self._lock:
            self._done.add(key)  # only now: a failed fetch is tried again at the next check
        return record

    def _safe_run(self) -> None:
        try:
            self.run_once()
        except Exception:
            log.exception("digest failed; the next check tries the next period")

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(self._safe_run, "interval", seconds=60, id="alerts-digest", replace_existing=True,
                                coalesce=True, max_instances=1, misfire_grace_time=60,
                                next_run_time=datetime.now(UTC) + timedelta(seconds=5))
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
