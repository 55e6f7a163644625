"""Index templates and the document shape of mentions and alerts in Elasticsearch.

Mentions go to one index per period of ``created_at`` (``<prefix>-mentions-2026.11``) behind the
read alias ``<prefix>-mentions``. The index is a pure function of the mention, so a replay or
redelivery always lands on the same ``_index`` + ``_id`` and overwrites instead of duplicating —
a write alias with size-based rollover could not promise that. Retention deletes whole
indices by the period in their name, and the next period's index is created ahead of time
(``index/retention.py``: in the index worker, and ``brandpulse indices retention``).

Mapping versions (``MAPPING_VERSION``, recorded in ``_meta``): ``brandpulse setup`` installs the
templates (new indices) and puts *additive* changes on existing indices; a change Elasticsearch
cannot apply in place (a field's type or analyser) is logged and left to new indices — see
docs/INDEXING.md for the reindex procedure.

* v1: first mapping.
* v2: ``text_lang.<code>``: the text once more, analysed for its language (``index/analysis.py``).
* v3: ``brand_groups`` (the competitor groups of the mention's brand, for share of voice),
  ``enrichment.story_id``, ``enrichment.sentiment.probabilities`` and ``enrichment.failures``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from elasticsearch import ApiError, Elasticsearch

from brandpulse.esclient import alerts_index, mentions_alias
from brandpulse.schema import Mention
from index.analysis import (
    analysis_settings,
    language_properties,
    light_analyzer,
    probe_languages,
    text_language_code,
)

log = logging.getLogger(__name__)

MAPPING_VERSION = 3

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
    "brand_groups": {"type": "keyword"},
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
                    "probabilities": {
                        "properties": {
                            "negative": {"type": "float"},
                            "neutral": {"type": "float"},
                            "positive": {"type": "float"},
                        }
                    },
                }
            },
            "story_id": {"type": "keyword"},
            "failures": {
                "properties": {
                    "tagger": {"type": "keyword"},
                    "error": {"type": "keyword", "ignore_above": 512},
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


_SUFFIXES = {
    "day": re.compile(r"\d{4}\.\d{2}\.\d{2}"),
    "week": re.compile(r"\d{4}\.w\d{2}"),
    "month": re.compile(r"\d{4}\.\d{2}"),
}


def period_bounds(suffix: str) -> tuple[datetime, datetime] | None:
    """``[start, end)`` of the period an index suffix names (any granularity, so indices written
    before a granularity change are still recognised), or None if it is not one of ours."""
    try:
        if _SUFFIXES["day"].fullmatch(suffix):
            start = datetime.strptime(suffix, "%Y.%m.%d").replace(tzinfo=UTC)
            return start, start + timedelta(days=1)
        if _SUFFIXES["week"].fullmatch(suffix):
            year, week = suffix.split(".w")
            start = datetime.fromisocalendar(int(year), int(week), 1).replace(tzinfo=UTC)
            return start, start + timedelta(days=7)
        if _SUFFIXES["month"].fullmatch(suffix):
            start = datetime.strptime(suffix, "%Y.%m").replace(tzinfo=UTC)
            return start, (start + timedelta(days=32)).replace(day=1)
    except ValueError:  # 2026.13, 2026.w54, …
        return None
    return None


# brand -> the competitor groups it belongs to (settings ``competitors``), for share of voice.
BrandGroups = Mapping[str, tuple[str, ...]]


def document_extras(mention: Mention, indexed_at: datetime, groups: BrandGroups | None = None) -> dict[str, Any]:
    """The fields derived for analysts that a document has beyond the mention's own JSON."""
    extras: dict[str, Any] = {"indexed_at": indexed_at.isoformat()}
    if groups and mention.brand in groups:
        extras["brand_groups"] = list(groups[mention.brand])
    if mention.url:
        host = (urlsplit(mention.url).hostname or "").lower()
        if host:
            extras["site"] = host.removeprefix("www.")
    if mention.enrichment:
        points = [
            {"lat": loc.lat, "lon": loc.lon}
            for loc in mention.enrichment.locations
            if loc.lat is not None and loc.lon is not None
        ]
        if mention.geo:
            points.insert(0, {"lat": mention.geo.lat, "lon": mention.geo.lon})
        if points:
            extras["place_points"] = points
    elif mention.geo:
        extras["place_points"] = [{"lat": mention.geo.lat, "lon": mention.geo.lon}]
    lang = text_language_code(
        mention.enrichment.language.code if mention.enrichment and mention.enrichment.language else mention.lang)
    if lang and mention.text:
        # Indexed only where the mapping declares text_lang.<lang> (dynamic: false elsewhere).
        extras["text_lang"] = {lang: mention.text}
    return extras


def to_document(mention: Mention, indexed_at: datetime | None = None, groups: BrandGroups | None = None
                ) -> dict[str, Any]:
    """The Elasticsearch document: the mention's JSON plus fields derived for analysts."""
    doc = mention.to_dict()
    doc.update(document_extras(mention, indexed_at or datetime.now(UTC), groups))
    return doc


def document_json(mention: Mention, indexed_at: datetime, groups: BrandGroups | None = None) -> bytes:
    """``to_document(mention, indexed_at)`` as JSON bytes, without building the dict: pydantic's
    serializer writes the mention's own JSON in one call and the few derived fields are spliced
    in before its closing brace. The indexer's per-document cost was mostly the dict round trip
    (``model_dump`` then ``json.dumps``); the result parses to exactly ``to_document``'s dict
    (tests/unit/test_index_document.py)."""
    own = mention.__pydantic_serializer__.to_json(mention, exclude_none=True)
    tail = json.dumps(document_extras(mention, indexed_at, groups), ensure_ascii=False, separators=(",", ":")).encode()
    # own is a non-empty object (id, source, … are required) and tail starts with "{": join them.
    return own[:-1] + b"," + tail[1:]


def mention_properties(languages: Mapping[str, str]) -> dict[str, Any]:
    """The mentions mapping for a cluster whose per-language analysers are ``languages``."""
    return {**MENTION_PROPERTIES, "text_lang": language_properties(languages)}


def template_bodies(prefix: str, languages: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Index templates; ``languages`` (ISO code → analyser, see ``probe_languages``) adds the
    per-language ``text_lang`` fields and the light analysers they need."""
    languages = dict(languages or {})
    meta = {"managed_by": "brandpulse", "mapping_version": MAPPING_VERSION}
    mentions_meta = {**meta, "text_languages": languages}
    # An explicit 1 s refresh, on purpose (docs/INDEXING.md, "Refresh and durability"): every
    # document is searchable about a second after it is written, whatever the search history.
    # Unset, the node skips refreshes of shards nobody searched for 30 s; that saving measured
    # nothing here, and freshness would depend on who searched when.
    mention_settings: dict[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}
    analysis = analysis_settings(languages)
    if analysis:
        mention_settings["analysis"] = analysis
    return {
        mentions_alias(prefix): {
            "index_patterns": [f"{mentions_alias(prefix)}-*"],
            "priority": 200,
            "_meta": mentions_meta,
            "template": {
                "settings": mention_settings,
                # Unknown fields (e.g. from a newer schema, or a text_lang.<code> this cluster has no
                # analyser for) stay in _source but are not indexed, so they never cause a conflict.
                "mappings": {"dynamic": False, "_meta": mentions_meta, "properties": mention_properties(languages)},
                "aliases": {mentions_alias(prefix): {}},
            },
        },
        alerts_index(prefix): {
            "index_patterns": [alerts_index(prefix)],
            "priority": 200,
            "_meta": meta,
            "template": {
                "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": {"dynamic": False, "_meta": meta, "properties": ALERT_PROPERTIES},
            },
        },
    }


def apply_templates(es: Elasticsearch, prefix: str, replicas: int | None = None,
                    languages: Mapping[str, str] | None = None) -> list[str]:
    """Install templates and bring existing indices' mappings in step (additive changes only).

    ``languages`` defaults to what the cluster can analyse (``probe_languages``)."""
    if languages is None:
        languages = probe_languages(es)
    applied = []
    for name, body in template_bodies(prefix, languages).items():
        if replicas is not None:
            body["template"]["settings"]["number_of_replicas"] = replicas
        es.indices.put_index_template(name=name, **body)
        applied.append(name)
        pattern = body["index_patterns"][0]
        existing = es.indices.get(index=pattern, ignore_unavailable=True, allow_no_indices=True)
        for index, info in existing.items():
            mappings = body["template"]["mappings"]
            if name == mentions_alias(prefix):
                mappings = _additive_mention_mapping(info, languages)
            try:
                es.indices.put_mapping(index=index, **mappings)
            except ApiError as exc:
                if exc.meta.status != 400:
                    raise
                # Not additive (a changed type or analyser): new indices get the new mapping from
                # the template; this one keeps its own until it is reindexed (docs/INDEXING.md).
                log.warning("index %s keeps its mapping: %s", index, exc.message)
    if not es.indices.exists(index=alerts_index(prefix)):
        es.indices.create(index=alerts_index(prefix))
    return applied


def _additive_mention_mapping(info: Mapping[str, Any], languages: Mapping[str, str]) -> dict[str, Any]:
    """The mapping to put on an existing mentions index: every field, but of ``text_lang`` only the
    languages it does not have yet and whose analyser it can use — a light analyser lives in the
    index settings, and analysis settings cannot change on an open index."""
    props = info.get("mappings", {}).get("properties", {})
    have = dict(props.get("text_lang", {}).get("properties", {}))
    defined = set(info.get("settings", {}).get("index", {}).get("analysis", {}).get("analyzer", {}))
    usable = {code: name for code, name in languages.items()
              if code not in have and (not name.startswith(light_analyzer("")) or name in defined)}
    text_langs = {**{c: spec["analyzer"] for c, spec in have.items() if "analyzer" in spec}, **usable}
    meta = {"managed_by": "brandpulse", "mapping_version": MAPPING_VERSION, "text_languages": text_langs}
    return {"dynamic": False, "_meta": meta, "properties": mention_properties(usable)}
