"""Kafka I/O shared by every stage: clients from settings, topic setup, dead letters, lag.

Producers are idempotent with ``acks=all`` and compression; consumers never auto-commit —
a stage commits an offset only after what it produced from that record is durable.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from brandpulse.settings import KafkaSettings, Settings, TopicSettings

log = logging.getLogger(__name__)

TOPIC_EXISTS = 36
DEAD_LETTER_HEADER = "brandpulse-error"


def client_kwargs(k: KafkaSettings, role: str) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "bootstrap_servers": k.bootstrap_servers.split(","),
        "client_id": f"{k.client_id}-{role}",
        "security_protocol": k.security_protocol,
    }
    if k.sasl_mechanism:
        kw["sasl_mechanism"] = k.sasl_mechanism
        kw["sasl_plain_username"] = k.sasl_username
        kw["sasl_plain_password"] = k.sasl_password.get_secret_value() if k.sasl_password else None
    if k.ssl_cafile:
        kw["ssl_cafile"] = k.ssl_cafile
    return kw


def make_producer(k: KafkaSettings, role: str, **overrides: Any) -> KafkaProducer:
    kw = client_kwargs(k, role)
    kw.update(
        acks="all",
        enable_idempotence=True,
        compression_type=None if k.compression == "none" else k.compression,
        linger_ms=20,
        retries=2_147_483_647,
        delivery_timeout_ms=120_000,
        max_request_size=2_097_152,
    )
    kw.update(overrides)
    return KafkaProducer(**kw)


def make_consumer(
    k: KafkaSettings, role: str, group_id: str, topics: Iterable[str], *, listener: Any = None, **overrides: Any
) -> KafkaConsumer:
    kw = client_kwargs(k, role)
    kw.update(
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
        max_poll_interval_ms=600_000,
        session_timeout_ms=30_000,
        heartbeat_interval_ms=3_000,
        # A topic created moments before subscribing (setup, tests) may be missing from the first
        # metadata; refreshing every 10 s gets the partitions assigned soon instead of after 5 min.
        metadata_max_age_ms=10_000,
    )
    kw.update(overrides)
    consumer = KafkaConsumer(**kw)
    if listener is not None:
        consumer.subscribe(list(topics), listener=listener)
    else:
        consumer.subscribe(list(topics))
    return consumer


def make_admin(k: KafkaSettings) -> KafkaAdminClient:
    return KafkaAdminClient(**client_kwargs(k, "admin"), request_timeout_ms=30_000)


# ---------------------------------------------------------------- topics
@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str]


def topic_specs(t: TopicSettings) -> list[TopicSpec]:
    hours = 3_600_000
    data = {"retention.ms": str(t.retention_hours * hours), "cleanup.policy": "delete"}
    return [
        TopicSpec(t.raw, t.partitions, data),
        TopicSpec(t.enriched, t.partitions, data),
        TopicSpec(t.alerts, t.partitions, data),
        TopicSpec(t.dead_letter, t.partitions,
                  {"retention.ms": str(t.dead_letter_retention_hours * hours), "cleanup.policy": "delete"}),
        # Compacted: the latest cursor / checkpoint per key survives forever, older ones are cleaned.
        TopicSpec(t.state, t.partitions, {"cleanup.policy": "compact", "min.compaction.lag.ms": "0",
                                          "segment.ms": str(hours)}),
    ]


def ensure_topics(s: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics and bring the configs of existing ones in step; idempotent."""
    specs = specs or topic_specs(s.topics)
    admin = make_admin(s.kafka)
    created: list[str] = []
    try:
        result = admin.create_topics(
            [NewTopic(sp.name, sp.partitions, s.topics.replication_factor, topic_configs=dict(sp.config))
             for sp in specs],
            raise_errors=False,
        )
        for topic in result["topics"]:
            code = topic["error_code"]
            if code == 0:
                created.append(topic["name"])
            elif code != TOPIC_EXISTS:
                raise KafkaError(f"creating topic {topic['name']}: {topic['error_message']} (code {code})")
        existing = [sp for sp in specs if sp.name not in created]
        if existing:
            from kafka.admin import ConfigResource, ConfigResourceType

            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, sp.name, configs=dict(sp.config)) for sp in existing]
            )
        admin.wait_for_topics([sp.name for sp in specs]) if hasattr(admin, "wait_for_topics") else None
    finally:
        admin.close()
    return created


def delete_topics(s: Settings, names: list[str]) -> None:
    admin = make_admin(s.kafka)
    try:
        admin.delete_topics(names, raise_errors=False)
    finally:
        admin.close()


# ---------------------------------------------------------------- dead letters
def dead_letter_record(
    *,
    stage: str,
    error: BaseException,
    value: bytes | None,
    key: bytes | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """A dead letter carries the stage, the error class and message, where it came from and
    the original bytes (base64, plus the text when it is valid UTF-8, for humans)."""
    out: dict[str, Any] = {
        "stage": stage,
        "error_class": type(error).__name__,
        "error": str(error)[:2000],
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "failed_at": datetime.now(UTC).isoformat(),
        "key_b64": base64.b64encode(key).decode() if key is not None else None,
        "value_b64": base64.b64encode(value).decode() if value is not None else None,
    }
    if value is not None and len(value) <= 65536:
        try:
            out["value_text"] = value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if extra:
        out.update(extra)
    return json.dumps(out, ensure_ascii=False).encode()


# ---------------------------------------------------------------- lag
def end_offsets(s: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(**client_kwargs(s.kafka, "probe"))
    try:
        tps: list[TopicPartition] = []
        for t in topics:
            parts = consumer.partitions_for_topic(t) or set()
            tps.extend(TopicPartition(t, p) for p in parts)
        return dict(consumer.end_offsets(tps)) if tps else {}
    finally:
        consumer.close()


def topic_count(s: Settings, topic: str) -> int:
    """Records ever written to a topic (sum of end offsets; exact for non-compacted topics
    that have not yet expired anything, which is what the demo and tests need)."""
    return sum(end_offsets(s, [topic]).values())


def consumer_lag(consumer: KafkaConsumer) -> dict[str, int]:
    """Lag per topic for this consumer's assignment, from its own positions."""
    lag: dict[str, int] = {}
    assignment = consumer.assignment()
    if not assignment:
        return lag
    ends = consumer.end_offsets(list(assignment))
    for tp in assignment:
        try:
            pos = consumer.position(tp)
        except KafkaError:
            continue
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, ends.get(tp, 0) - pos)
    return lag


def group_lag(s: Settings, group_id: str, topics: Iterable[str]) -> int:
    """Total lag of a consumer group from its committed offsets (what a restart resumes from)."""
    admin = make_admin(s.kafka)
    try:
        committed = admin.list_group_offsets(group_id).get(group_id, {})
    except KafkaError:
        committed = {}
    finally:
        admin.close()
    ends = end_offsets(s, topics)
    total = 0
    for tp, end in ends.items():
        c = committed.get(tp)
        off = getattr(c, "offset", c) if c is not None else 0
        total += max(0, end - (off if isinstance(off, int) and off >= 0 else 0))
    return total


def wait_for_broker(s: Settings, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = make_admin(s.kafka)
            admin.list_topics()
            admin.close()
            return
        except Exception as exc:  # the broker may still be starting
            last = exc
            time.sleep(1)
    raise KafkaError(f"Kafka at {s.kafka.bootstrap_servers} unreachable after {timeout:.0f}s: {last}")


def group_id(settings: Settings, stage: str) -> str:
    """The consumer group of a stage: every replica of a stage joins the same one."""
    return f"{settings.workers.group_prefix}-{stage}"
