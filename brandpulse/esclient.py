"""The Elasticsearch client, built once from settings, and the names of BrandPulse's indices.

The names are the contract between the indexer that writes them and every reader (alerts,
digest, search, Kibana), so they are spelled here once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from brandpulse.settings import ElasticsearchSettings
from brandpulse.timeparse import parse_when


def make_es(s: ElasticsearchSettings, **overrides: object) -> Elasticsearch:
    kw: dict[str, object] = {
        "hosts": [u.strip() for u in s.url.split(",")],
        "request_timeout": s.request_timeout,
        "verify_certs": s.verify_certs,
        "retry_on_timeout": False,  # the indexer decides what to retry, per document
        "max_retries": 0,
    }
    if s.ca_certs:
        kw["ca_certs"] = s.ca_certs
    if s.api_key:
        kw["api_key"] = s.api_key.get_secret_value()
    elif s.username:
        kw["basic_auth"] = (s.username, s.password.get_secret_value() if s.password else "")
    kw.update(overrides)
    return Elasticsearch(**kw)  # type: ignore[arg-type]


def wait_for_es(es: Elasticsearch, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            es.cluster.health(wait_for_status="yellow", timeout="5s")
            return
        except Exception as exc:  # still starting, or unreachable for now
            last = exc
            time.sleep(1)
    raise ConnectionError(f"Elasticsearch unreachable after {timeout:.0f}s: {last}")


def mentions_alias(prefix: str) -> str:
    """The alias (and index-name stem) over every period's mentions index."""
    return f"{prefix}-mentions"


def alerts_index(prefix: str) -> str:
    """The one index of alert events."""
    return f"{prefix}-alerts"


def mention_filters(*, brand: str | None = None, sentiment: str | None = None, lang: str | None = None,
                    since: str | None = None, until: str | None = None,
                    now: datetime | None = None) -> list[dict[str, Any]]:
    """Filter clauses over the mention documents' fields (brand, sentiment, language, created_at);
    ``since``/``until`` are relative (``24h``, ``7d``) or ISO times (:func:`parse_when`)."""
    now = now or datetime.now(UTC)
    filters: list[dict[str, Any]] = []
    if brand:
        filters.append({"term": {"brand": brand}})
    if sentiment:
        filters.append({"term": {"enrichment.sentiment.label": sentiment}})
    if lang:
        filters.append({"term": {"enrichment.language.code": lang}})
    if since or until:
        rng: dict[str, str] = {}
        if since:
            rng["gte"] = parse_when(since, now).isoformat()
        if until:
            rng["lte"] = parse_when(until, now).isoformat()
        filters.append({"range": {"created_at": rng}})
    return filters
