"""The alert worker: enriched mentions → per-brand spike detector → alert records + channels.

Mentions are keyed by brand, so one brand's mentions live on one partition and each partition
has its own detector (alerts/DETECTOR.md). The stream's clock is the largest event time seen on
the partition, so a backfill or replay raises the alerts it would have raised live.

After every batch the worker produces the alert records, commits, then checkpoints to the
compacted state topic: one record per touched series key (its detector state, the offset it
reflects and its recent negative posts), then one record per partition with the offset to
resume from. On (re)assignment it restores both and seeks to the partition's offset; while it
replays, a record already reflected in a series' saved state is skipped for that series. So a
crash at any point neither loses nor double-counts a mention, and an alert re-raised after a
crash is the *same* alert (``alert_id`` + ``seq``), which Elasticsearch and the channels dedupe.

A partition without records would keep its clock forever, so an alert on a brand that went
quiet would never resolve: ``idle()`` (called by the loop when a poll is empty) moves the clock
of a quiet, caught-up partition towards ``now - allowed_lateness``, writing the new clock to the
checkpoint *before* the detector moves, so a restart replays the tick exactly (alerts/DETECTOR.md).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import TopicPartition

from alerts.detector import AlertEvent, DetectorConfig, NegativeSpikeDetector
from brandpulse.esclient import mentions_alias
from brandpulse.loop import Failure, Output, StageResult
from brandpulse.schema import Mention, SchemaError
from brandpulse.settings import Settings
from brandpulse.state import StateStore

log = logging.getLogger(__name__)

SAMPLE_PER_KEY = 25


def detector_config(settings: Settings) -> DetectorConfig:
    a = settings.alerts
    overrides: dict[str, Any] = {
        "bucket_seconds": a.bucket_seconds,
        "allowed_lateness_seconds": a.allowed_lateness_seconds,
        "cooldown_seconds": a.cooldown_seconds,
        "resolve_after_seconds": a.resolve_after_seconds,
    }
    if a.min_negative is not None:
        overrides["min_negative"] = a.min_negative
    if a.warmup_hours is not None:
        overrides["warmup_buckets"] = int(a.warmup_hours * 3600 // a.bucket_seconds)
    return DetectorConfig.preset(a.sensitivity, **overrides)


def series_keys(m: Mention, per: Sequence[str]) -> list[str]:
    """The brand's own series, plus brand×language / brand×source where configured."""
    keys = [m.brand]
    if "lang" in per:
        lang = m.enrichment.language.code if m.enrichment and m.enrichment.language else (m.lang or "und")
        keys.append(f"{m.brand}|lang={lang}")
    if "source" in per:
        keys.append(f"{m.brand}|source={m.source}")
    return keys


@dataclass
class PartitionState:
    detector: NegativeSpikeDetector
    clock: datetime | None = None
    samples: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    # series key -> first offset NOT yet reflected in its saved state (skip below it on replay)
    key_offsets: dict[str, int] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    next_offset: int | None = None
    # Offset of the next record: everything below it is reflected in the detector (restored from
    # the partition checkpoint, then advanced by every record handled).
    position: int | None = None
    # Wall-clock time (epoch s) at which ``clock`` was last brought up to date, by a record or a tick.
    clock_wall: float | None = None
    last_record: float = 0.0  # time.monotonic() of the last record (or of the assignment)
    last_idle_check: float = 0.0
    # A tick written ahead to the checkpoint whose series records were not yet saved: replayed
    # before anything else after a restore, exactly as it ran before the crash.
    pending_tick: datetime | None = None


def idle_clock(clock: datetime, clock_wall: float | None, now_wall: float, lateness: float) -> datetime:
    """Where the stream clock of an idle, caught-up partition moves at wall time ``now_wall``.

    ``min(now_wall - lateness, clock + (now_wall - clock_wall))``, in whole seconds, never
    backwards: event time flows on at wall-clock speed from where the data left it, and never
    closer to the wall clock than the lateness a mention is allowed. So a live brand that goes
    quiet follows ``now - lateness`` (its alert resolves), while a backfill that pauses for a few
    seconds only moves a few seconds (its next records are not made late).

    >>> t = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    >>> idle_clock(t, t.timestamp(), t.timestamp() + 3600, 600).isoformat()  # quiet for an hour
    '2026-03-01T12:50:00+00:00'
    >>> idle_clock(t, t.timestamp() + 86400, t.timestamp() + 86405, 600).isoformat()  # a backfill
    '2026-03-01T12:00:05+00:00'
    """
    since = max(0.0, now_wall - clock_wall) if clock_wall is not None else 0.0
    target = math.floor(min(now_wall - lateness, clock.timestamp() + since))
    return max(clock, datetime.fromtimestamp(target, UTC))


def tick_matters(old: datetime, new: datetime, bucket_seconds: int, lateness: float) -> bool:
    """True when moving the clock from ``old`` to ``new`` ends or closes a bucket; in between, a
    clock move without mentions changes nothing the detector reports."""
    o, n = old.timestamp(), new.timestamp()
    return (math.floor(n / bucket_seconds) > math.floor(o / bucket_seconds)
            or math.floor((n - lateness) / bucket_seconds) > math.floor((o - lateness) / bucket_seconds))


def alert_record(event: AlertEvent, samples: Sequence[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """What a social team needs to reply: numbers, why, the worst posts, topics and places."""
    base = event.to_dict()
    in_window = [s for s in samples if base["window_start"] <= s["created_at"] < base["window_end"]]
    if not in_window:  # "resolved" spans the episode; fall back to the latest posts seen
        in_window = list(samples)
    hashtags: Counter[str] = Counter(h for s in in_window for h in s["hashtags"])
    keywords: Counter[str] = Counter(k for s in in_window for k in s["keywords"])
    langs: Counter[str] = Counter(s["lang"] for s in in_window if s["lang"])
    places: Counter[str] = Counter(p for s in in_window for p in s["places"])
    top = sorted(in_window, key=lambda s: (-(s["followers"] or 0), s["id"]))[:5]
    brand = base["key"].split("|", 1)[0]
    record = {
        **base,
        "event": base.pop("kind"),
        "brand": brand,
        "raised_at": base.get("emitted_at") or base["window_end"],
        "idempotency_key": f"{base['alert_id']}:{base['seq']}",
        "top_mentions": top,
        "mention_ids": [s["id"] for s in in_window][:100],
        "top_hashtags": [h for h, _ in hashtags.most_common(5)],
        "top_keywords": [k for k, _ in keywords.most_common(5)],
        "languages": dict(langs.most_common()),
        "locations": [p for p, _ in places.most_common(5)],
    }
    if settings.alerts.kibana_url:
        record["kibana_url"] = kibana_link(settings.alerts.kibana_url, settings.elasticsearch.index_prefix, brand,
                                           base["window_start"], base["window_end"])
    return record


def kibana_link(kibana_url: str, prefix: str, brand: str, start: str, end: str) -> str:
    """Discover, filtered to the brand's negative mentions in the alert window."""
    from urllib.parse import quote

    query = quote(f'brand:"{brand}" and enrichment.sentiment.label:"negative"', safe="")
    view = mentions_alias(prefix)
    return (f"{kibana_url.rstrip('/')}/app/discover#/?_g=(time:(from:'{start}',to:'{end}'))"
            f"&_a=(dataSource:(dataViewId:'{view}',type:dataView),query:(language:kuery,query:'{query}'))")


class AlertStage(ConsumerRebalanceListener):
    stage = "alerts"

    def __init__(self, settings: Settings, state: StateStore, group_id: str,
                 emit: Callable[[dict[str, Any]], None], *, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.wall = wall
        self.monotonic = monotonic
        self.config = detector_config(settings)
        self.state_store = state
        self.group_id = group_id
        self.emit = emit
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self.consumer: KafkaConsumer | None = None
        self._pending: list[dict[str, Any]] = []

    def bind(self, consumer: KafkaConsumer) -> None:
        """The consumer whose partitions this stage restores (seek) and checks for being caught up."""
        self.consumer = consumer

    # -------- checkpoints
    def _part_key(self, tp: TopicPartition) -> str:
        return f"alerts-ckpt/{self.group_id}/{tp.topic}/{tp.partition}"

    def _series_prefix(self, tp: TopicPartition) -> str:
        return f"alerts-series/{self.group_id}/{tp.topic}/{tp.partition}/"

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        stored = self.state_store.load(f"alerts-ckpt/{self.group_id}/") if assigned else {}
        series = self.state_store.load(f"alerts-series/{self.group_id}/") if assigned else {}
        for tp in assigned:
            prefix = self._series_prefix(tp)
            records = [v for k, v in series.items() if k.startswith(prefix)]
            ps = PartitionState(NegativeSpikeDetector.restore_many(self.config, [r["state"] for r in records]))
            for r in records:
                key = r["state"]["key"]
                ps.key_offsets[key] = int(r["offset"])
                if r.get("samples"):
                    ps.samples[key] = deque(r["samples"], maxlen=SAMPLE_PER_KEY)
            ckpt = stored.get(self._part_key(tp))
            ps.last_record = self.monotonic()
            if ckpt:
                ps.clock = datetime.fromisoformat(ckpt["clock"]) if ckpt.get("clock") else None
                ps.clock_wall = float(ckpt["wall"]) if ckpt.get("wall") is not None else None
                ps.position = int(ckpt["offset"])
                restored = ps.detector.clock
                if ps.clock is not None and restored is not None and ps.clock > restored:
                    ps.pending_tick = ps.clock  # a tick ran but its series were not all saved: redo it
                if self.consumer is not None:
                    self.consumer.seek(tp, int(ckpt["offset"]))
                log.info("restored alert state", extra={"partition": tp.partition, "offset": ckpt["offset"],
                                                        "series": len(records)})
            self.partitions[tp] = ps

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.partitions.pop(tp, None)

    # -------- processing
    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult:
        result = StageResult()
        self._pending = []
        touched: set[TopicPartition] = set()
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            touched.add(tp)
            ps = self.partitions.get(tp)
            if ps is None:  # assignment raced with the batch; the listener restores state
                ps = self.partitions[tp] = PartitionState(NegativeSpikeDetector(self.config))
            if ps.pending_tick is not None:
                self._replay_tick(tp, ps, result)
            ps.next_offset = ps.position = rec.offset + 1
            ps.last_record = self.monotonic()
            ps.clock_wall = self.wall()
            try:
                m = Mention.from_bytes(rec.value or b"")
            except SchemaError as exc:
                result.failures.append(Failure(rec, exc))
                continue
            negative = bool(m.enrichment and m.enrichment.sentiment.label == "negative")
            for key in series_keys(m, self.settings.alerts.per):
                if rec.offset < ps.key_offsets.get(key, -1):
                    continue  # already in this series' saved state (checkpoint written mid-batch)
                ps.detector.observe(key, m.created_at, negative=negative)
                ps.dirty.add(key)
                if negative:
                    ps.samples.setdefault(key, deque(maxlen=SAMPLE_PER_KEY)).append(_sample(m))
            if ps.clock is None or m.created_at > ps.clock:
                ps.clock = m.created_at
        for tp in sorted(touched, key=lambda t: (t.topic, t.partition)):
            ps = self.partitions[tp]
            if ps.clock is None:
                continue
            self._publish(ps, ps.detector.advance(ps.clock), result)
        return result

    def _publish(self, ps: PartitionState, events: Sequence[AlertEvent], result: StageResult) -> None:
        ps.dirty.update(ps.detector.pop_changed())
        for event in events:
            alert = alert_record(event, list(ps.samples.get(event.key, ())), self.settings)
            self._pending.append(alert)
            result.outputs.append(Output(self.settings.topics.alerts, alert["brand"].encode(),
                                         json.dumps(alert, ensure_ascii=False).encode()))

    # -------- time: the wall-clock tick of quiet partitions (alerts/DETECTOR.md, "Quiet partitions")
    def _replay_tick(self, tp: TopicPartition, ps: PartitionState, result: StageResult) -> None:
        assert ps.pending_tick is not None
        log.info("replaying a clock tick written ahead before a restart",
                 extra={"partition": tp.partition, "clock": ps.pending_tick.isoformat()})
        self._publish(ps, ps.detector.advance(ps.pending_tick), result)
        ps.pending_tick = None

    def idle(self) -> StageResult:
        """Called by the loop when a poll returned nothing: advance the clock of every partition
        that has been quiet for ``alerts.idle_tick_seconds`` and is caught up, so buckets end and
        alerts resolve without new mentions. The new clock is written to the partition checkpoint
        *before* the detector moves (write-ahead): a crash before its series are saved replays
        the same tick on restart, so it emits the same events, once, in the same place."""
        result = StageResult()
        self._pending = []
        every = self.settings.alerts.idle_tick_seconds
        lateness = self.settings.alerts.allowed_lateness_seconds
        now = self.monotonic()
        for tp in sorted(self.partitions, key=lambda t: (t.topic, t.partition)):
            ps = self.partitions[tp]
            if ps.pending_tick is not None:
                self._replay_tick(tp, ps, result)
            if (every <= 0 or ps.clock is None or ps.position is None or now - ps.last_record < every
                    or now - ps.last_idle_check < every):
                continue
            ps.last_idle_check = now
            wall = self.wall()
            target = idle_clock(ps.clock, ps.clock_wall, wall, lateness)
            if not tick_matters(ps.clock, target, self.config.bucket_seconds, lateness) or not self._caught_up(tp, ps):
                continue
            self.state_store.put(self._part_key(tp), {"offset": ps.position, "clock": target.isoformat(),
                                                      "wall": wall})
            ps.clock, ps.clock_wall = target, wall
            self._publish(ps, ps.detector.advance(target), result)
            log.debug("idle partition clock advanced", extra={"partition": tp.partition, "clock": target.isoformat()})
        return result

    def _caught_up(self, tp: TopicPartition, ps: PartitionState) -> bool:
        if self.consumer is None:
            return True
        end = self.consumer.end_offsets([tp]).get(tp)
        return end is not None and ps.position is not None and ps.position >= end

    def after_commit(self) -> None:
        """Outputs are acknowledged and offsets committed: tell people, then checkpoint."""
        for alert in self._pending:
            self.emit(alert)
        self._pending = []
        for tp, ps in self.partitions.items():
            if ps.position is None or not ps.dirty:
                continue
            for key in sorted(ps.dirty):
                self.state_store.put(self._series_prefix(tp) + key, {
                    "offset": ps.position,
                    "state": ps.detector.snapshot(key),
                    "samples": list(ps.samples.get(key, ())),
                }, flush=False)
                ps.key_offsets[key] = ps.position
            self.state_store.producer.flush()
            # Written last: a crash before this line replays from the previous partition offset,
            # and the series records above make the replay skip what they already contain.
            self.state_store.put(self._part_key(tp), {
                "offset": ps.position, "clock": ps.clock.isoformat() if ps.clock else None, "wall": ps.clock_wall,
            }, flush=False)
            ps.dirty.clear()
        self.state_store.producer.flush()


def _sample(m: Mention) -> dict[str, Any]:
    e = m.enrichment
    return {
        "id": m.id,
        "created_at": m.created_at.astimezone(UTC).isoformat(),
        "text": m.text[:500],
        "url": m.url,
        "author": m.author.handle or m.author.name,
        "followers": m.author.followers,
        "lang": e.language.code if e and e.language else m.lang,
        "hashtags": list(e.hashtags) if e else [],
        "keywords": list(e.keywords) if e else [],
        "places": [loc.name for loc in e.locations] if e else [],
    }
