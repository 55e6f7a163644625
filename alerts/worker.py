"""The alert worker: enriched mentions → per-brand spike detector → alert records + channels.

Mentions are keyed by brand, so one brand's mentions live on one partition and each partition
has its own detector (alerts/DETECTOR.md). The stream's clock is the largest event time seen on
the partition, so a backfill or replay raises the alerts it would have raised live.

Besides the detector, each series keeps what explains its alerts (alerts/context.py): the brand's
window of recent mentions, the series' term baseline and its chart ring; an alert record
(``brandpulse.schema.AlertRecord``, alerts/record.py) carries the top stories, the new terms and
the chart data.

After every batch the worker produces the alert records, commits, then checkpoints to the
compacted state topic: the window segments that filled up and the baselines that learnt a bucket,
then one record per touched series key (its detector state, the offset it reflects, its chart ring
and, for a brand, the open tail of its window), then one record per partition with the offset to
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

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import TopicPartition

from alerts.chartlinks import ChartLinks
from alerts.context import (
    SEGMENT,
    WINDOW_MAX,
    ChartRing,
    KeyBaseline,
    WindowStore,
    chart_buckets,
    key_filter,
    series_lang,
)
from alerts.detector import AlertEvent, BucketResult, DetectorConfig, NegativeSpikeDetector
from alerts.record import alert_record
from brandpulse.loop import Failure, Output, StageResult
from brandpulse.schema import AlertRecord, Mention, SchemaError
from brandpulse.settings import Settings
from brandpulse.state import StateStore

__all__ = ["AlertStage", "PartitionState", "alert_record", "detector_config", "idle_clock", "series_keys",
           "tick_matters"]

log = logging.getLogger(__name__)

# Suffixes of a series' other state records ("|" cannot follow a brand in a series key otherwise).
WINDOW_SUFFIX = "|#window"
BASELINE_SUFFIX = "|#baseline"


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
        keys.append(f"{m.brand}|lang={series_lang(m) or 'und'}")
    if "source" in per:
        keys.append(f"{m.brand}|source={m.source}")
    return keys


@dataclass
class PartitionState:
    detector: NegativeSpikeDetector
    clock: datetime | None = None
    windows: dict[str, WindowStore] = field(default_factory=dict)  # brand -> its recent mentions
    baselines: dict[str, KeyBaseline] = field(default_factory=dict)  # series key -> its usual talk
    rings: dict[str, ChartRing] = field(default_factory=dict)  # series key -> its last hours
    # series key -> first offset NOT yet reflected in its saved state (skip below it on replay)
    key_offsets: dict[str, int] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    baseline_dirty: set[str] = field(default_factory=set)  # baselines that learnt since their record
    absorbed_bucket: int | None = None  # the bucket the baselines last learnt up to
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


class AlertStage(ConsumerRebalanceListener):
    stage = "alerts"
    window_max = WINDOW_MAX  # mentions kept per brand (alerts/context.py)

    def __init__(self, settings: Settings, state: StateStore, group_id: str,
                 emit: Callable[[AlertRecord], None], *, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, links: ChartLinks | None = None) -> None:
        self.settings = settings
        self.wall = wall
        self.monotonic = monotonic
        self.config = detector_config(settings)
        self.state_store = state
        self.group_id = group_id
        self.emit = emit
        self.links = links
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self.consumer: KafkaConsumer | None = None
        self._pending: list[AlertRecord] = []
        self._ring_size = chart_buckets(self.config.bucket_seconds)

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
            ps = self._restore_series(tp, {k: v for k, v in series.items() if k.startswith(self._series_prefix(tp))})
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
                                                        "series": len(ps.key_offsets)})
            self.partitions[tp] = ps

    def _restore_series(self, tp: TopicPartition, stored: dict[str, Any]) -> PartitionState:
        """A partition's series from its state records: detector states, windows, baselines, rings."""
        states = {k: v for k, v in stored.items() if isinstance(v, dict) and "state" in v}
        ps = PartitionState(NegativeSpikeDetector.restore_many(self.config, [r["state"] for r in states.values()]))
        segments: dict[str, dict[int, list[Any]]] = {}
        for v in stored.values():
            if isinstance(v, dict) and "window_segment" in v:
                segments.setdefault(v["brand"], {})[int(v["window_segment"])] = v["samples"]
        marks: dict[str, dict[str, Any]] = {}
        for r in states.values():
            key = r["state"]["key"]
            ps.key_offsets[key] = int(r["offset"])
            ps.rings[key] = ChartRing.restore(self._ring_size, r.get("ring") or ())
            if r.get("learning") is not None:
                marks[key] = r["learning"]
            if r.get("window") is not None:
                ps.windows[key] = WindowStore.restore(r["window"], segments.get(key, {}), max_count=self.window_max)
        for v in stored.values():
            if isinstance(v, dict) and "baseline" in v:
                ps.baselines[v["key"]] = KeyBaseline.restore(v["key"], v["baseline"])
        for key, mark in marks.items():
            # The series record's mark is the later one unless a crash fell between the baseline
            # record's write and the series record's: then the baseline record stands as it is.
            kb = ps.baselines.get(key) or KeyBaseline(key)
            window = ps.windows.get(key.split("|", 1)[0])
            if window is not None and int(mark.get("next") or 0) > kb.next_seq:
                kb.relearn(window, mark)
            ps.baselines[key] = kb
            if kb.unwritten_from is not None:
                ps.baseline_dirty.add(key)
        prefix = self._series_prefix(tp)
        for brand, segs in segments.items():  # segments no window refers to: left by a crash or eviction
            w = ps.windows.get(brand)
            for k in segs:
                if w is None or k not in w.stored:
                    self.state_store.put(f"{prefix}{brand}{WINDOW_SUFFIX}{k}", None, flush=False)
        return ps

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
            keys = series_keys(m, self.settings.alerts.per)
            if rec.offset >= ps.key_offsets.get(keys[0], -1):  # the window is the brand series' state
                window = ps.windows.get(m.brand)
                if window is None:
                    window = ps.windows[m.brand] = WindowStore(max_count=self.window_max)
                window.add(m)
            for key in keys:
                if rec.offset < ps.key_offsets.get(key, -1):
                    continue  # already in this series' saved state (checkpoint written mid-batch)
                ps.detector.observe(key, m.created_at, negative=negative)
                ps.dirty.add(key)
            if ps.clock is None or m.created_at > ps.clock:
                ps.clock = m.created_at
                # Each bucket the clock leaves behind is learnt now, before a long batch (a
                # backfill) evicts its mentions from the window.
                self._absorb(ps, math.floor(ps.clock.timestamp() / self.config.bucket_seconds))
        for tp in sorted(touched, key=lambda t: (t.topic, t.partition)):
            ps = self.partitions[tp]
            if ps.clock is None:
                continue
            self._advance(ps, ps.clock, result)
        return result

    def _advance(self, ps: PartitionState, clock: datetime, result: StageResult) -> None:
        """Move the detector to ``clock``; keep each evaluation in its series' ring, let the
        baselines learn the buckets that ended, and publish the events."""
        collect: list[BucketResult] = []
        events = ps.detector.advance(clock, collect=collect)
        b = self.config.bucket_seconds
        for res in collect:
            ring = ps.rings.get(res.key)
            if ring is None:
                ring = ps.rings[res.key] = ChartRing(self._ring_size)
            ring.record(res, b)
        # A resolved alert lets its series catch up on what it did not learn during the incident.
        self._absorb(ps, math.floor(clock.timestamp() / b), force=any(e.kind == "resolved" for e in events))
        self._publish(ps, events, result)

    def _absorb(self, ps: PartitionState, upto: int, force: bool = False) -> None:
        if ps.absorbed_bucket is not None and upto <= ps.absorbed_bucket and not force:
            return
        ps.absorbed_bucket = upto
        b = self.config.bucket_seconds
        for key in ps.detector.keys():
            window = ps.windows.get(key.split("|", 1)[0])
            if window is None:
                continue
            kb = ps.baselines.get(key)
            if kb is None:
                kb = ps.baselines[key] = KeyBaseline(key)
            before = kb.absorbed_upto, kb.next_seq
            opened = ps.detector.episode_start(key)  # an open alert: learn only the talk before it
            key_upto = min(upto, math.floor(opened.timestamp() / b)) if opened is not None else upto
            if kb.absorb(window, key_upto, b, key_filter(key)):
                ps.baseline_dirty.add(key)
            if (kb.absorbed_upto, kb.next_seq) != before:
                ps.dirty.add(key)

    def _publish(self, ps: PartitionState, events: Sequence[AlertEvent], result: StageResult) -> None:
        ps.dirty.update(ps.detector.pop_changed())
        b = self.config.bucket_seconds
        for event in events:
            key = event.key
            window = ps.windows.get(key.split("|", 1)[0])
            match = key_filter(key)
            samples = [s for s in window.samples if match(s)] if window is not None else []
            ring = ps.rings.get(key)
            chart = ring.chart(key, event.emitted_at or event.window_end, ps.detector, b) if ring else None
            alert = alert_record(event, samples, self.settings, baseline=ps.baselines.get(key), chart=chart,
                                 links=self.links, since=ps.detector.episode_start(key))
            self._pending.append(alert)
            result.outputs.append(Output(self.settings.topics.alerts, alert.brand.encode(), alert.to_bytes()))

    # -------- time: the wall-clock tick of quiet partitions (alerts/DETECTOR.md, "Quiet partitions")
    def _replay_tick(self, tp: TopicPartition, ps: PartitionState, result: StageResult) -> None:
        assert ps.pending_tick is not None
        log.info("replaying a clock tick written ahead before a restart",
                 extra={"partition": tp.partition, "clock": ps.pending_tick.isoformat()})
        self._advance(ps, ps.pending_tick, result)
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
            self._advance(ps, target, result)
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
        put = self.state_store.put
        for tp, ps in self.partitions.items():
            if ps.position is None or not (ps.dirty or ps.baseline_dirty):
                continue
            prefix = self._series_prefix(tp)
            # First what the series records rely on: full window segments and learnt baselines.
            wrote = False
            for brand, w in ps.windows.items():
                for k in sorted(w.sealed):
                    if k >= w.first_seq // SEGMENT:
                        put(f"{prefix}{brand}{WINDOW_SUFFIX}{k}", {"window_segment": k, "brand": brand,
                                                                   "samples": [x.to_row() for x in w.segment(k)]},
                            flush=False)
                        w.stored.add(k)
                        wrote = True
                w.sealed.clear()
            for key in sorted(ps.baseline_dirty):
                kb = ps.baselines[key]
                if kb.needs_write(ps.windows[key.split("|", 1)[0]]):
                    put(f"{prefix}{key}{BASELINE_SUFFIX}", {"key": key, "baseline": kb.snapshot()}, flush=False)
                    kb.written()
                    wrote = True
            ps.baseline_dirty = {k for k in ps.baseline_dirty if ps.baselines[k].unwritten_from is not None}
            if wrote:
                self.state_store.producer.flush()
            for key in sorted(ps.dirty):
                ring, learning, window = ps.rings.get(key), ps.baselines.get(key), ps.windows.get(key)
                record: dict[str, Any] = {
                    "offset": ps.position,
                    "state": ps.detector.snapshot(key),
                    "ring": ring.snapshot() if ring else [],
                    "learning": learning.mark() if learning else None,
                }
                if window is not None:
                    record["window"] = window.snapshot()
                put(self._series_prefix(tp) + key, record, flush=False)
                ps.key_offsets[key] = ps.position
            self.state_store.producer.flush()
            # Only now that no series record needs them: segments whose samples all left the window.
            for brand, w in ps.windows.items():
                for k in w.obsolete():
                    put(f"{prefix}{brand}{WINDOW_SUFFIX}{k}", None, flush=False)
                    w.stored.discard(k)
            # Written last: a crash before this line replays from the previous partition offset,
            # and the series records above make the replay skip what they already contain.
            put(self._part_key(tp), {
                "offset": ps.position, "clock": ps.clock.isoformat() if ps.clock else None, "wall": ps.clock_wall,
            }, flush=False)
            ps.dirty.clear()
        self.state_store.producer.flush()
