"""Index templates and the document shape of mentions and alerts in Elasticsearch.

Mentions go to one index per period of ``created_at`` (``<prefix>-mentions-2026.11``) behind the
read alias ``<prefix>-mentions``. The index is a pure function of the mention, so a replay or
redelivery always lands on the same ``_index`` + ``_id`` and overwrites instead of duplicating —
a write alias with size-based rollover could not promise that. Retention deletes whole
indices by the period in their name (``brandpulse index retention``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from brandpulse.schema import Mention

MAPPING_VERSION = 1

_KW = {"type": "keyword", "ignore_above": 512}


def _text(with_keyword: bool = True) -> dict[str, Any]:
    field: dict[str, Any] = {"type": "text", "analyzer": "standard"}
    if with_keyword:
        field["fields"] = {"keyword": {"type": "keyword", "ignore_above": 256}}
    return field


MENTION_PROPERTIES: dict[str, Any] = {
    "schema_version": {"type": "integer"},
    "id": {"type": "keyword"},
    "source": {"type": "keyword"},
    "feed": {"type": "keyword"},
    "native_id": {"type": "keyword"},
    "brand": {"type": "keyword"},
    "matched_brands": {"type": "keyword"},
    "text": _text(),
    "title": _text(),
    "url": {"type": "keyword", "ignore_above": 2048},
    "site": {"type": "keyword"},
    "author": {
        "properties": {
            "id": {"type": "keyword"},
            "handle": {"type": "keyword"},
            "name": _text(),
            "followers": {"type": "long"},
            "location": _text(),
        }
    },
    "created_at": {"type": "date"},
    "fetched_at": {"type": "date"},
    "indexed_at": {"type": "date"},
    "geo": {"type": "geo_point"},
    "engagement": {
        "properties": {
            "likes": {"type": "long"},
            "shares": {"type": "long"},
            "replies": {"type": "long"},
            "views": {"type": "long"},
        }
    },
    "lang": {"type": "keyword"},
    "place_points": {"type": "geo_point"},
    "enrichment": {
        "properties": {
            "version": {"type": "keyword"},
            "enriched_at": {"type": "date"},
            "language": {
                "properties": {
                    "code": {"type": "keyword"},
                    "confidence": {"type": "float"},
                    "method": {"type": "keyword"},
                }
            },
            "sentiment": {
                "properties": {
                    "label": {"type": "keyword"},
                    "score": {"type": "float"},
                    "confidence": {"type": "float"},
                    "method": {"type": "keyword"},
                }
            },
            "keywords": _KW,
            "hashtags": _KW,
            "handles": _KW,
            "cashtags": _KW,
            "urls": {"type": "keyword", "ignore_above": 2048},
            "emojis": {"type": "keyword"},
            "locations": {
                "properties": {
                    "name": {"type": "keyword"},
                    "country_code": {"type": "keyword"},
                    "lat": {"type": "float"},
                    "lon": {"type": "float"},
                    "source": {"type": "keyword"},
                    "confidence": {"type": "float"},
                }
            },
        }
    },
}

ALERT_PROPERTIES: dict[str, Any] = {
    "alert_id": {"type": "keyword"},
    "event": {"type": "keyword"},
    "brand": {"type": "keyword"},
    "key": {"type": "keyword"},
    "severity": {"type": "keyword"},
    "detector": {"type": "keyword"},
    "window_start": {"type": "date"},
    "window_end": {"type": "date"},
    "raised_at": {"type": "date"},
    "observed_negative": {"type": "long"},
    "observed_total": {"type": "long"},
    "expected_negative": {"type": "float"},
    "negative_share": {"type": "float"},
    "reason": _text(with_keyword=False),
    "mention_ids": {"type": "keyword"},
    "top_mentions": {"type": "object", "enabled": False},
    "kibana_url": {"type": "keyword", "index": False},
}


def mentions_alias(prefix: str) -> str:
    return f"{prefix}-mentions"


def alerts_index(prefix: str) -> str:
    return f"{prefix}-alerts"


def period_suffix(when: datetime, granularity: str) -> str:
    when = when.astimezone(UTC)
    if granularity == "day":
        return when.strftime("%Y.%m.%d")
    if granularity == "week":
        iso = when.isocalendar()
        return f"{iso.year}.w{iso.week:02d}"
    return when.strftime("%Y.%m")


def mention_index(prefix: str, created_at: datetime, granularity: str) -> str:
    return f"{mentions_alias(prefix)}-{period_suffix(created_at, granularity)}"


def to_document(mention: Mention, indexed_at: datetime | None = None) -> dict[str, Any]:
    """The Elasticsearch document: the mention's JSON plus fields derived for analysts."""
    doc = mention.to_dict()
    doc["indexed_at"] = (indexed_at or datetime.now(UTC)).isoformat()
    if mention.url:
        from urllib.parse import urlsplit

        host = (urlsplit(mention.url).hostname or "").lower()
        if host:
            doc["site"] = host.removeprefix("www.")
    if mention.enrichment:
        points = [
            {"lat": loc.lat, "lon": loc.lon}
            for loc in mention.enrichment.locations
            if loc.lat is not None and loc.lon is not None
        ]
        if mention.geo:
            points.insert(0, {"lat": mention.geo.lat, "lon": mention.geo.lon})
        if points:
            doc["place_points"] = points
    elif mention.geo:
        doc["place_points"] = [{"lat": mention.geo.lat, "lon": mention.geo.lon}]
    return doc


def template_bodies(prefix: str) -> dict[str, dict[str, Any]]:
    meta = {"managed_by": "brandpulse", "mapping_version": MAPPING_VERSION}
    return {
        f"{prefix}-mentions": {
            "index_patterns": [f"{mentions_alias(prefix)}-*"],
            "priority": 200,
            "_meta": meta,
            "template": {
                "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
                # Unknown fields (e.g. from a newer schema) stay in _source but are not indexed,
                # so they can never cause a mapping conflict.
                "mappings": {"dynamic": False, "_meta": meta, "properties": MENTION_PROPERTIES},
                "aliases": {mentions_alias(prefix): {}},
            },
        },
        f"{prefix}-alerts": {
            "index_patterns": [alerts_index(prefix)],
            "priority": 200,
            "_meta": meta,
            "template": {
                "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": {"dynamic": False, "_meta": meta, "properties": ALERT_PROPERTIES},
            },
        },
    }


def apply_templates(es: Elasticsearch, prefix: str, replicas: int | None = None) -> list[str]:
    """Install templates and bring existing indices' mappings in step (additive changes only)."""
    applied = []
    for name, body in template_bodies(prefix).items():
        if replicas is not None:
            body["template"]["settings"]["number_of_replicas"] = replicas
        es.indices.put_index_template(name=name, **body)
        applied.append(name)
        pattern = body["index_patterns"][0]
        existing = es.indices.get(index=pattern, ignore_unavailable=True, allow_no_indices=True)
        if existing:
            es.indices.put_mapping(index=pattern, **body["template"]["mappings"])
    if not es.indices.exists(index=alerts_index(prefix)):
        es.indices.create(index=alerts_index(prefix))
    return applied


def expired_indices(es: Elasticsearch, prefix: str, granularity: str, retention_days: int,
                    now: datetime | None = None) -> list[str]:
    """Mention indices whose whole period ended more than ``retention_days`` ago."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    names = list(es.indices.get(index=f"{mentions_alias(prefix)}-*", ignore_unavailable=True,
                                allow_no_indices=True))
    out = []
    for name in names:
        end = _period_end(name.rsplit("-", 1)[-1], granularity)
        if end is not None and end < cutoff:
            out.append(name)
    return sorted(out)


def _period_end(suffix: str, granularity: str) -> datetime | None:
    try:
        if granularity == "day":
            return datetime.strptime(suffix, "%Y.%m.%d").replace(tzinfo=UTC) + timedelta(days=1)
        if granularity == "week":
            year, week = suffix.split(".w")
            return datetime.fromisocalendar(int(year), int(week), 1).replace(tzinfo=UTC) + timedelta(days=7)
        start = datetime.strptime(suffix, "%Y.%m").replace(tzinfo=UTC)
        return (start + timedelta(days=32)).replace(day=1)
    except ValueError:
        return None
