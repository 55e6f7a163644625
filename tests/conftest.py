"""Shared fixtures. The integration and e2e tiers run against the real local stack, started
here once per session (``brandpulse stack up``); if it cannot start, those tests ERROR — they are
never skipped. Every test gets its own topics, index prefix and consumer groups."""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import stack
from brandpulse.settings import Settings, StackSettings


@pytest.fixture(scope="session")
def local_stack() -> Iterator[StackSettings]:
    s = StackSettings.model_validate(
        {k.removeprefix("BRANDPULSE_STACK__").lower(): v for k, v in os.environ.items()
         if k.startswith("BRANDPULSE_STACK__")}
    )
    already = all(st.healthy for st in stack.status(s))
    if not already:
        stack.up(s)  # raises StackError with the reason: the dependent tests error out loudly
    yield s
    if not already and not os.environ.get("BRANDPULSE_KEEP_STACK"):
        stack.down(s)


def unique_name(node_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", node_name.lower())[:40].strip("_")
    return f"pytest_{slug}_{uuid.uuid4().hex[:8]}"


DEFAULT_BRANDS = [
    {"name": "Acme", "aliases": ["acme", "ایکمی", "აკმე"]},
    {"name": "Globex", "aliases": ["globex"]},
]


@pytest.fixture
def make_settings(local_stack: StackSettings, request: pytest.FixtureRequest) -> Iterator[Callable[..., Settings]]:
    """Build Settings pointing at the local stack with names unique to this test; cleans up after."""
    made: list[Settings] = []

    def factory(**overrides: Any) -> Settings:
        uid = unique_name(request.node.name)
        data: dict[str, Any] = {
            "kafka": {"bootstrap_servers": f"127.0.0.1:{local_stack.kafka_port}"},
            "elasticsearch": {"url": f"http://127.0.0.1:{local_stack.es_port}", "index_prefix": uid},
            "topics": {"raw": f"{uid}.raw", "enriched": f"{uid}.enriched", "alerts": f"{uid}.alerts",
                       "dead_letter": f"{uid}.dlq", "state": f"{uid}.state", "partitions": 3},
            "workers": {"group_prefix": uid, "ingest_metrics_port": 0, "enrich_metrics_port": 0,
                        "index_metrics_port": 0, "alerts_metrics_port": 0},
            "stack": local_stack.model_dump(),
            "brands": DEFAULT_BRANDS,
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        s = Settings.model_validate(data)
        made.append(s)
        return s

    yield factory
    for s in made:
        _cleanup(s)


def _cleanup(s: Settings) -> None:
    from brandpulse.esclient import make_es
    from brandpulse.kafkaio import delete_topics

    t = s.topics
    # Best-effort: a test that stopped a service on purpose may leave nothing to clean.
    try:
        delete_topics(s, [t.raw, t.enriched, t.alerts, t.dead_letter, t.state])
    except Exception as exc:
        warnings.warn(f"could not delete test topics: {exc}", stacklevel=1)
    try:
        es = make_es(s.elasticsearch)
        es.indices.delete(index=f"{s.elasticsearch.index_prefix}-*", ignore_unavailable=True,
                          allow_no_indices=True)
        for name in (f"{s.elasticsearch.index_prefix}-mentions", f"{s.elasticsearch.index_prefix}-alerts"):
            es.options(ignore_status=404).indices.delete_index_template(name=name)
    except Exception as exc:
        warnings.warn(f"could not delete test indices: {exc}", stacklevel=1)
