"""The alert worker: enriched mentions → per-brand detector → alert records + channels.

Mentions are keyed by brand, so one brand's mentions live on one partition and each partition
has its own detector state. After every batch the worker produces the alert records, commits,
and checkpoints ``(offset, detector state)`` per partition to the compacted state topic. On
(re)assignment it restores the checkpoint and seeks to its offset, so state and position always
agree: a restart neither loses a spike nor double-counts one. Alert ids are deterministic, so
an alert re-raised after a crash is the *same* alert (Elasticsearch and channels dedupe on it).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import TopicPartition

from alerts.threshold import ThresholdDetector
from brandpulse.loop import Failure, Output, StageResult
from brandpulse.schema import Mention, SchemaError
from brandpulse.settings import Settings
from brandpulse.state import StateStore

log = logging.getLogger(__name__)

SAMPLE_PER_KEY = 25


class Detector(Protocol):
    def observe(self, key: str, event_time: datetime, *, negative: bool, count: int = 1) -> None: ...
    def advance(self, now: datetime) -> Sequence[Any]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore_state(self, state: dict[str, Any]) -> None: ...


def make_detector(settings: Settings) -> Detector:
    return ThresholdDetector(window_seconds=settings.alerts.window_seconds,
                             threshold=settings.alerts.negative_threshold)


@dataclass
class PartitionState:
    detector: Detector
    clock: datetime | None = None
    samples: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)


def alert_record(event: Any, samples: Sequence[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """What a social team needs to reply: numbers, why, the worst posts, topics and places."""
    base = asdict(event) if is_dataclass(event) and not isinstance(event, type) else dict(vars(event))
    for k, v in list(base.items()):
        if isinstance(v, datetime):
            base[k] = v.isoformat()
    in_window = [s for s in samples if base["window_start"] <= s["created_at"] < base["window_end"]] or list(samples)
    hashtags: Counter[str] = Counter(h for s in in_window for h in s["hashtags"])
    keywords: Counter[str] = Counter(k for s in in_window for k in s["keywords"])
    langs: Counter[str] = Counter(s["lang"] for s in in_window if s["lang"])
    places: Counter[str] = Counter(p for s in in_window for p in s["places"])
    top = sorted(in_window, key=lambda s: (-(s["followers"] or 0), s["id"]))[:5]
    brand = base["key"].split("|", 1)[0]
    return {
        **base,
        "event": base.pop("kind"),
        "brand": brand,
        "raised_at": base["window_end"],
        "top_mentions": top,
        "mention_ids": [s["id"] for s in in_window][:100],
        "top_hashtags": [h for h, _ in hashtags.most_common(5)],
        "top_keywords": [k for k, _ in keywords.most_common(5)],
        "languages": dict(langs.most_common()),
        "locations": [p for p, _ in places.most_common(5)],
    }


def format_console(alert: dict[str, Any]) -> str:
    lines = [
        f"ALERT [{alert['severity'].upper()}] {alert['brand']}: {alert['reason']}",
        f"  window {alert['window_start']} .. {alert['window_end']}  id {alert['alert_id']} ({alert['event']})",
    ]
    if alert.get("top_hashtags"):
        lines.append("  hashtags: " + " ".join("#" + h.lstrip("#") for h in alert["top_hashtags"]))
    if alert.get("languages"):
        lines.append("  languages: " + ", ".join(f"{k} {v}" for k, v in alert["languages"].items()))
    for m in alert.get("top_mentions", [])[:3]:
        who = f"@{m['author']}" if m.get("author") else "?"
        lines.append(f"  - {who} ({m.get('followers') or 0} followers): {m['text'][:140]!s}  {m.get('url') or ''}")
    return "\n".join(lines)


class AlertStage(ConsumerRebalanceListener):
    stage = "alerts"

    def __init__(self, settings: Settings, state: StateStore, group_id: str,
                 emit: Callable[[dict[str, Any]], None]) -> None:
        self.settings = settings
        self.state_store = state
        self.group_id = group_id
        self.emit = emit
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self.consumer: KafkaConsumer | None = None
        self._pending: list[dict[str, Any]] = []
        self._dirty: dict[TopicPartition, int] = {}

    # -------- rebalance: restore checkpoints and seek so state and position agree
    def _ckpt_key(self, tp: TopicPartition) -> str:
        return f"alerts-ckpt/{self.group_id}/{tp.topic}/{tp.partition}"

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        stored = self.state_store.load("alerts-ckpt/") if assigned else {}
        for tp in assigned:
            ps = PartitionState(make_detector(self.settings))
            ckpt = stored.get(self._ckpt_key(tp))
            if ckpt:
                ps.detector.restore_state(ckpt["detector"])
                ps.clock = datetime.fromisoformat(ckpt["clock"]) if ckpt.get("clock") else None
                ps.samples = {k: deque(v, maxlen=SAMPLE_PER_KEY) for k, v in ckpt.get("samples", {}).items()}
                if self.consumer is not None:
                    self.consumer.seek(tp, int(ckpt["offset"]))
                log.info("restored alert state", extra={"partition": tp.partition, "offset": ckpt["offset"]})
            self.partitions[tp] = ps

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.partitions.pop(tp, None)
            self._dirty.pop(tp, None)

    # -------- processing
    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult:
        result = StageResult()
        self._pending = []
        touched: dict[TopicPartition, int] = {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            touched[tp] = rec.offset + 1
            ps = self.partitions.get(tp)
            if ps is None:  # assignment raced with the batch; the listener will restore it
                ps = self.partitions[tp] = PartitionState(make_detector(self.settings))
            try:
                m = Mention.from_bytes(rec.value or b"")
            except SchemaError as exc:
                result.failures.append(Failure(rec, exc))
                continue
            negative = bool(m.enrichment and m.enrichment.sentiment.label == "negative")
            ps.detector.observe(m.brand, m.created_at, negative=negative)
            if ps.clock is None or m.created_at > ps.clock:
                ps.clock = m.created_at
            if negative:
                ps.samples.setdefault(m.brand, deque(maxlen=SAMPLE_PER_KEY)).append(_sample(m))
        for tp in touched:
            ps = self.partitions[tp]
            if ps.clock is None:
                continue
            for event in ps.detector.advance(ps.clock):
                samples = ps.samples.get(event.key.split("|", 1)[0], deque())
                alert = alert_record(event, list(samples), self.settings)
                self._pending.append(alert)
                result.outputs.append(Output(self.settings.topics.alerts, alert["brand"].encode(),
                                             json.dumps(alert, ensure_ascii=False).encode()))
        self._dirty.update(touched)
        return result

    def after_commit(self) -> None:
        """Outputs are acknowledged and offsets committed: tell people, then checkpoint."""
        for alert in self._pending:
            self.emit(alert)
        self._pending = []
        for tp, offset in list(self._dirty.items()):
            ps = self.partitions.get(tp)
            if ps is None:
                continue
            self.state_store.put(self._ckpt_key(tp), {
                "offset": offset,
                "clock": ps.clock.isoformat() if ps.clock else None,
                "detector": ps.detector.snapshot(),
                "samples": {k: list(v) for k, v in ps.samples.items()},
            }, flush=False)
        self.state_store.producer.flush()
        self._dirty.clear()


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
