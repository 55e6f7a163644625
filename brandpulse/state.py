"""Small durable state in a compacted Kafka topic: feed cursors, feed health, checkpoints.

Keeping it in Kafka keeps every worker stateless: a container can move to another host and
resume from the last cursor the cluster acknowledged. Compaction keeps one value per key, so
the topic stays as small as the state itself.

Keys are ``<kind>/<name>``, e.g. ``cursor/demo-replay``; values are JSON objects (a ``None``
value is a tombstone that deletes the key).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from brandpulse.kafkaio import client_kwargs, make_producer
from brandpulse.settings import Settings

log = logging.getLogger(__name__)


class StateStore:
    def __init__(self, settings: Settings, producer: KafkaProducer | None = None) -> None:
        self.settings = settings
        self.topic = settings.topics.state
        self._producer = producer

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self.settings.kafka, "state")
        return self._producer

    def load(self, prefix: str = "") -> dict[str, Any]:
        """Read the topic to its end and return the latest value of every key under ``prefix``."""
        consumer = KafkaConsumer(**client_kwargs(self.settings.kafka, "state-reader"), enable_auto_commit=False)
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in parts]
            if not tps:
                return {}
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            out: dict[str, Any] = {}
            remaining = {tp for tp in tps if ends[tp] > 0}
            while remaining:
                for tp, recs in consumer.poll(timeout_ms=1000).items():
                    for r in recs:
                        key = (r.key or b"").decode("utf-8", "replace")
                        if key.startswith(prefix):
                            if r.value is None:
                                out.pop(key, None)
                            else:
                                try:
                                    out[key] = json.loads(r.value)
                                except ValueError:
                                    log.warning("unreadable state value", extra={"key": key})
                    if consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
                for tp in list(remaining):
                    if consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            return out
        finally:
            consumer.close()

    def put(self, key: str, value: Any, *, flush: bool = True) -> None:
        payload = None if value is None else json.dumps(value, ensure_ascii=False, default=str).encode()
        fut = self.producer.send(self.topic, key=key.encode(), value=payload)
        if flush:
            self.producer.flush()
            fut.get(timeout=0)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
