"""The indexer stage: enriched mentions from Kafka → bulk writes to Elasticsearch.

Every document is written with the mention's deterministic id as ``_id`` into the index its
``created_at`` selects, so redelivery overwrites. Per-document outcomes are routed the way the
Kafka Connect Elasticsearch sink does: 429/5xx are retried (only those documents), permanent
rejections (mapping/parsing errors) follow ``on_malformed``; a node that is down raises
:class:`RetryLater`, which pauses consumption until Elasticsearch is back.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord

from brandpulse.errors import Rejected, UnreadableAlert
from brandpulse.esclient import alerts_index
from brandpulse.loop import Failure, RetryLater, StageResult
from brandpulse.schema import SCHEMA_VERSION, Mention, SchemaError
from brandpulse.settings import IndexSettings
from index.templates import mention_index, to_document

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class PermanentRejection(Rejected):
    """Elasticsearch refused the document for good (its reason is the message)."""


class NewerSchemaVersion(SchemaError):
    """A mention written by a newer producer than this indexer understands. Dead-lettered under
    its own error class, so that after an upgrade exactly these can be replayed:
    ``brandpulse deadletter replay --stage index --error-class NewerSchemaVersion``."""


def schema_error(raw: bytes, exc: SchemaError) -> SchemaError:
    """``exc``, or a :class:`NewerSchemaVersion` saying what to do when the record's
    ``schema_version`` is beyond this build's."""
    try:
        version = json.loads(raw).get("schema_version")
    except (ValueError, AttributeError):  # not JSON, or not an object: the original reason stands
        return exc
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        return NewerSchemaVersion(
            f"schema_version {version} is newer than this indexer understands ({SCHEMA_VERSION}): "
            "upgrade the indexer, then replay the dead letters "
            "(brandpulse deadletter replay --stage index --error-class NewerSchemaVersion)")
    return exc


class BulkIndexer:
    stage = "index"

    def __init__(self, es: Elasticsearch, prefix: str, settings: IndexSettings, *, alerts_topic: str | None = None,
                 attempts: int = 4, sleep: Any = time.sleep) -> None:
        self.es = es
        self.alerts_topic = alerts_topic
        self.prefix = prefix
        self.settings = settings
        self.attempts = attempts
        self.sleep = sleep

    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult:
        result = StageResult()
        actions: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        now = datetime.now(UTC)
        for i, rec in enumerate(records):
            if rec.topic == self.alerts_topic:
                try:
                    actions[i] = alert_action(rec.value or b"", self.prefix)
                except UnreadableAlert as exc:
                    result.failures.append(Failure(rec, exc))
                continue
            try:
                mention = Mention.from_bytes(rec.value or b"")
            except SchemaError as exc:
                result.failures.append(Failure(rec, schema_error(rec.value or b"", exc)))
                continue
            meta = {"_index": mention_index(self.prefix, mention.created_at, self.settings.granularity),
                    "_id": mention.id}
            actions[i] = (meta, to_document(mention, now))
        if not actions:
            return result
        # What happens to a rejected document is index.on_malformed, applied by the consume loop.
        for i, reason in self._bulk(actions).items():
            result.failures.append(Failure(records[i], PermanentRejection(reason)))
        return result

    def _bulk(self, actions: dict[int, tuple[dict[str, Any], dict[str, Any]]]) -> dict[int, str]:
        """Write all actions; returns the permanently rejected ones. Raises RetryLater when the
        node stays unavailable (the loop then pauses and re-sends the whole batch — harmless,
        because ids are stable)."""
        pending = dict(actions)
        rejected: dict[int, str] = {}
        delay = 0.5
        for attempt in range(self.attempts):
            ops: list[dict[str, Any]] = []
            order = list(pending)
            for i in order:
                meta, doc = pending[i]
                ops.append({"index": meta})
                ops.append(doc)
            try:
                resp = self.es.bulk(operations=ops, refresh=False)
            except (TransportConnectionError, ConnectionTimeout) as exc:
                raise RetryLater(f"Elasticsearch unreachable: {exc}") from exc
            except ApiError as exc:
                if exc.meta.status in RETRYABLE_STATUS:
                    raise RetryLater(f"Elasticsearch answered {exc.meta.status} to bulk") from exc
                raise
            retry: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
            for i, item in zip(order, resp["items"], strict=True):
                outcome = item.get("index", {})
                status = int(outcome.get("status", 500))
                if status < 300:
                    continue
                if status in RETRYABLE_STATUS:
                    retry[i] = pending[i]
                else:
                    err = outcome.get("error", {})
                    rejected[i] = f"{err.get('type', status)}: {err.get('reason', '')}"[:1000]
            if not retry:
                return rejected
            pending = retry
            if attempt < self.attempts - 1:
                self.sleep(delay + random.uniform(0, delay))
                delay *= 2
        raise RetryLater(f"{len(pending)} documents still refused (429/5xx) after {self.attempts} attempts")


def alert_action(raw: bytes, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An alert event becomes one document per (alert, event, size): re-raising the same alert after
    a restart overwrites it, while an alert that grows is recorded as a new point on its timeline."""
    try:
        alert = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableAlert(f"alert record is not JSON: {exc}") from exc
    if not isinstance(alert, dict) or not alert.get("alert_id") or not alert.get("event"):
        raise UnreadableAlert("alert record lacks alert_id or event")
    if "seq" in alert:  # spike detector: (alert_id, seq) is unique per lifecycle event
        doc_id = f"{alert['alert_id']}-{alert['seq']}"
    else:
        doc_id = f"{alert['alert_id']}-{alert['event']}-{alert.get('observed_negative', 0)}"
    return {"_index": alerts_index(prefix), "_id": doc_id}, alert
