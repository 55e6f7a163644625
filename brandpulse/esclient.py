"""The Elasticsearch client, built once from settings."""

from __future__ import annotations

import time

from elasticsearch import Elasticsearch

from brandpulse.settings import ElasticsearchSettings


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
