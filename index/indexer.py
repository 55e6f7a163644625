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
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, cast

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from brandpulse.errors import Rejected, UnreadableAlert
from brandpulse.esclient import alerts_index
from brandpulse.loop import Failure, RetryLater, StageResult
from brandpulse.schema import (
    ALERT_SCHEMA_VERSION,
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    AlertRecord,
    Mention,
    SchemaError,
)
from brandpulse.settings import IndexSettings
from index.templates import BrandGroups, document_json, mention_index

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


# One bulk operation: the action line and the document line, both serialised.
Op = tuple[bytes, bytes]

# Records per poll, in bulk requests of index.batch_size: with one request per poll the parsing
# of the next batch cannot overlap the request in flight (the loop polls only after commit). Not
# smaller requests instead: each bulk request costs Elasticsearch a translog fsync (durability
# "request"), and halving or quartering the request measured slower here (docs/INDEXING.md).
REQUESTS_PER_POLL = 4


def read_mention(raw: bytes) -> Mention:
    """``Mention.from_bytes``, in one pass: pydantic parses and validates the JSON bytes itself
    (no ``json.loads`` dict in between). A record it refuses goes through ``from_bytes``, which
    either reads it after all or raises the ``SchemaError`` with its usual one-line reason, so a
    dead letter's reason is the same as before (tests/unit/test_index_document.py checks that
    the two accept the same records)."""
    if len(raw) <= MAX_RECORD_BYTES:
        try:
            return Mention.model_validate_json(raw)
        except ValidationError:
            pass
    return Mention.from_bytes(raw)


def _action(index: str, doc_id: str) -> bytes:
    return json.dumps({"index": {"_index": index, "_id": doc_id}}, separators=(",", ":")).encode()


class BulkIndexer:
    """Writes a polled batch as consecutive bulk requests of ``index.batch_size`` documents with
    one request in flight: while Elasticsearch indexes chunk *k*, this thread parses and
    serialises chunk *k+1* (the request runs on a single sender thread; waiting on the socket
    releases the GIL). ``handle`` returns only when every chunk is answered, so the loop still
    commits only durable documents. The stage polls ``REQUESTS_PER_POLL`` requests' worth at a
    time so that there is a next chunk to overlap (docs/INDEXING.md, "The bulk path")."""

    stage = "index"

    def __init__(self, es: Elasticsearch, prefix: str, settings: IndexSettings, *, alerts_topic: str | None = None,
                 attempts: int = 4, sleep: Any = time.sleep, groups: BrandGroups | None = None) -> None:
        self.es = es
        self.groups = groups
        self.alerts_topic = alerts_topic
        self.prefix = prefix
        self.settings = settings
        self.attempts = attempts
        self.sleep = sleep
        self.chunk_size = settings.batch_size
        self._sender: ThreadPoolExecutor | None = None

    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult:
        result = StageResult()
        indexed_at = datetime.now(UTC)
        rejected: dict[int, str] = {}
        in_flight: Future[dict[int, str]] | None = None
        try:
            for start in range(0, len(records), self.chunk_size):
                ops = self._prepare(records, start, start + self.chunk_size, indexed_at, result)
                if in_flight is not None:
                    rejected.update(in_flight.result())
                    in_flight = None
                if ops:
                    in_flight = self._submit(ops)
            if in_flight is not None:
                rejected.update(in_flight.result())
                in_flight = None
        finally:
            if in_flight is not None:
                # Failed here, not in the request: let the request finish before the loop rewinds
                # and re-sends, so two requests for the same documents are never out together.
                wait([in_flight])
        # What happens to a rejected document is index.on_malformed, applied by the consume loop.
        for i, reason in sorted(rejected.items()):
            result.failures.append(Failure(records[i], PermanentRejection(reason)))
        return result

    def close(self) -> None:
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None

    def _submit(self, ops: dict[int, Op]) -> Future[dict[int, str]]:
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk")
        return self._sender.submit(self._bulk, ops)

    def _prepare(self, records: Sequence[ConsumerRecord], start: int, stop: int, indexed_at: datetime,
                 result: StageResult) -> dict[int, Op]:
        ops: dict[int, Op] = {}
        for i in range(start, min(stop, len(records))):
            rec = records[i]
            raw = rec.value or b""
            if rec.topic == self.alerts_topic:
                try:
                    meta, alert = alert_action(raw, self.prefix)
                except UnreadableAlert as exc:
                    result.failures.append(Failure(rec, exc))
                    continue
                # surrogatepass: the bytes the client's own serializer would have sent.
                ops[i] = (_action(meta["_index"], meta["_id"]),
                          json.dumps(alert, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))
                continue
            try:
                mention = read_mention(raw)
            except SchemaError as exc:
                result.failures.append(Failure(rec, schema_error(raw, exc)))
                continue
            index = mention_index(self.prefix, mention.created_at, self.settings.granularity)
            ops[i] = (_action(index, mention.id), document_json(mention, indexed_at, self.groups))
        return ops

    def _bulk(self, ops: dict[int, Op]) -> dict[int, str]:
        """Write all ops; returns the permanently rejected ones. Raises RetryLater when the node
        stays unavailable (the loop then pauses and re-sends the whole batch — harmless, because
        ids are stable)."""
        pending = dict(ops)
        rejected: dict[int, str] = {}
        delay = 0.5
        for attempt in range(self.attempts):
            order = list(pending)
            body = b"\n".join(line for i in order for line in pending[i]) + b"\n"
            try:
                # filter_path: the answer carries only what is read below (statuses and errors),
                # not every document's index, id, version and shard counts.
                resp = self.es.bulk(operations=cast(Any, body), refresh=False,
                                    filter_path=["errors", "items.*.status", "items.*.error"])
            except (TransportConnectionError, ConnectionTimeout) as exc:
                raise RetryLater(f"Elasticsearch unreachable: {exc}") from exc
            except ApiError as exc:
                if exc.meta.status in RETRYABLE_STATUS:
                    raise RetryLater(f"Elasticsearch answered {exc.meta.status} to bulk") from exc
                raise
            if not resp.get("errors"):
                return rejected
            retry: dict[int, Op] = {}
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


class NewerAlertVersion(UnreadableAlert):
    """An alert record written by a newer alert worker than this indexer understands; dead-lettered
    under its own error class so that, after an upgrade, exactly these can be replayed."""


def alert_action(raw: bytes, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An alert event becomes one document per (alert, event, size): re-raising the same alert after
    a restart overwrites it, while an alert that grows is recorded as a new point on its timeline.

    The record is read as a ``brandpulse.schema.AlertRecord`` (version 1 dicts from before are
    upgraded) and written in its current form; one that is not an alert record is an
    :class:`UnreadableAlert` with the reason, one from a newer worker a :class:`NewerAlertVersion`."""
    try:
        alert = AlertRecord.from_bytes(raw)
    except SchemaError as exc:
        try:
            version = json.loads(raw).get("schema_version")
        except (ValueError, AttributeError):  # not JSON, or not an object: the original reason stands
            version = None
        if isinstance(version, int) and not isinstance(version, bool) and version > ALERT_SCHEMA_VERSION:
            raise NewerAlertVersion(
                f"alert schema_version {version} is newer than this indexer understands ({ALERT_SCHEMA_VERSION}): "
                "upgrade the indexer, then replay the dead letters "
                "(brandpulse deadletter replay --stage index --error-class NewerAlertVersion)") from exc
        raise UnreadableAlert(f"not an alert record: {exc.reason}") from exc
    if alert.seq is not None:  # spike detector: (alert_id, seq) is unique per lifecycle event
        doc_id = f"{alert.alert_id}-{alert.seq}"
    else:
        doc_id = f"{alert.alert_id}-{alert.event}-{alert.observed_negative}"
    return {"_index": alerts_index(prefix), "_id": doc_id}, alert.to_dict()
