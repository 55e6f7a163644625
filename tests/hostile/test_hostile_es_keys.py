"""Per-role Elasticsearch API keys (issue #14, row 15: every compose worker, even ingest and enrich,
had the ``elastic`` superuser password).

The unit tests run everywhere: what each role may do, and how ``ensure_api_keys`` keeps, rotates
and writes keys (against a recording stand-in for the client). The local stack runs
Elasticsearch without security, so the live test needs a secured node and is opt-in:
``BRANDPULSE_TEST_SECURED_ES=http://elastic:<password>@127.0.0.1:<port>`` runs the real indexer,
retention and digest code with the keys and checks what each key is refused.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from index.apikeys import ROLES, ensure_api_keys, key_name, role_descriptors

WRITE_PRIVILEGES = {"all", "write", "index", "create", "create_doc", "delete", "create_index", "delete_index",
                    "manage", "auto_configure", "maintenance"}
CLUSTER_DANGER = {"all", "manage", "manage_security", "manage_api_key", "manage_own_api_key", "manage_ilm",
                  "manage_pipeline", "manage_ingest_pipelines"}


@pytest.mark.parametrize("role", ROLES)
def test_row15_each_role_is_limited_to_this_deployments_indices(role: str) -> None:
    (descriptor,) = role_descriptors("bp", role).values()
    assert not set(descriptor["cluster"]) & CLUSTER_DANGER, descriptor["cluster"]
    for entry in descriptor["indices"]:
        assert all(name.startswith("bp-") for name in entry["names"]), entry["names"]
    assert not descriptor.get("applications") and not descriptor.get("run_as")


def test_row15_the_alert_worker_can_only_read() -> None:
    (descriptor,) = role_descriptors("bp", "alerts").values()
    assert descriptor["cluster"] == []
    for entry in descriptor["indices"]:
        assert not set(entry["privileges"]) & WRITE_PRIVILEGES, entry["privileges"]


class FakeSecurity:
    def __init__(self, es: FakeEs) -> None:
        self.es = es

    def create_api_key(self, *, name: str, role_descriptors: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
        key_id = uuid.uuid4().hex[:20]
        secret = uuid.uuid4().hex
        self.es.keys[key_id] = {"id": key_id, "name": name, "metadata": metadata, "invalidated": False,
                                "secret": secret, "role_descriptors": role_descriptors}
        return {"id": key_id, "name": name, "encoded": base64.b64encode(f"{key_id}:{secret}".encode()).decode()}

    def get_api_key(self, *, id: str | None = None, name: str | None = None) -> dict[str, Any]:
        return {"api_keys": [dict(k) for k in self.es.keys.values()
                             if (id is None or k["id"] == id) and (name is None or k["name"] == name)]}

    def invalidate_api_key(self, *, ids: list[str]) -> None:
        for key_id in ids:
            self.es.keys[key_id]["invalidated"] = True

    def authenticate(self) -> dict[str, Any]:
        from elasticsearch import AuthenticationException

        key_id, _, secret = base64.b64decode(self.es.presented or "").decode().partition(":")
        key = self.es.keys.get(key_id)
        if key is None or key["secret"] != secret or key["invalidated"]:
            raise AuthenticationException(message="unable to authenticate", meta=_Meta(401), body={})  # type: ignore[arg-type]
        return {"api_key": {"id": key_id}}


class _Meta:
    def __init__(self, status: int) -> None:
        self.status = status


class FakeEs:
    """Enough of the client's security API for ensure_api_keys (no network)."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.presented: str | None = None
        self.security = FakeSecurity(self)

    def options(self, *, api_key: str) -> FakeEs:
        view = FakeEs()
        view.keys, view.presented = self.keys, api_key
        return view


def test_row15_keys_are_written_per_role_kept_while_valid_and_rotated_when_not(tmp_path: Path) -> None:
    es = FakeEs()
    first = ensure_api_keys(es, "bp", tmp_path)  # type: ignore[arg-type]
    assert [n.split(": ")[2].split(" in ")[0] for n in first] == ["new key", "new key"]
    files = {role: tmp_path / role / "api_key" for role in ROLES}
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = {role: path.read_text() for role, path in files.items()}
    assert ensure_api_keys(es, "bp", tmp_path)[0].endswith(f"kept the key in {files['index']}")  # type: ignore[arg-type]
    assert {role: path.read_text() for role, path in files.items()} == keys
    # a damaged file, or a key made for other privileges (another prefix), is replaced, and the
    # older keys of that name stop working
    files["index"].write_text("not a key")
    notes = ensure_api_keys(es, "bp", tmp_path)  # type: ignore[arg-type]
    assert "new key" in notes[0] and "1 older one(s) invalidated" in notes[0]
    active = [k for k in es.keys.values() if k["name"] == key_name("bp", "index") and not k["invalidated"]]
    assert len(active) == 1
    assert files["alerts"].read_text() == keys["alerts"]
    assert all(k["metadata"]["prefix"] == "bp" for k in es.keys.values())


# ---------------------------------------------------------------------- live, against a secured node
SECURED = os.environ.get("BRANDPULSE_TEST_SECURED_ES")


@pytest.mark.skipif(not SECURED, reason="set BRANDPULSE_TEST_SECURED_ES to a secured node's URL with the elastic user")
def test_row15_live_each_key_can_do_its_job_and_nothing_else(tmp_path: Path) -> None:
    from elasticsearch import AuthorizationException, Elasticsearch
    from kafka.consumer.fetcher import ConsumerRecord

    from alerts.digest import fetch_period
    from brandpulse.esclient import alerts_index, mentions_alias
    from brandpulse.schema import Mention
    from brandpulse.settings import IndexSettings
    from index.indexer import BulkIndexer
    from index.retention import run_maintenance
    from index.templates import apply_templates

    assert SECURED is not None
    admin = Elasticsearch(SECURED)
    prefix = f"hostile-{uuid.uuid4().hex[:6]}"
    apply_templates(admin, prefix)
    print(ensure_api_keys(admin, prefix, tmp_path))
    host = SECURED.split("@")[-1]
    url = f"{SECURED.split('://')[0]}://{host}"
    as_index = Elasticsearch(url, api_key=(tmp_path / "index" / "api_key").read_text())
    as_alerts = Elasticsearch(url, api_key=(tmp_path / "alerts" / "api_key").read_text())
    try:
        # the indexer: bulk-write a mention (creating its period index) and an alert event
        now = datetime.now(UTC)
        m = Mention.new(source="replay", feed="f", native_id="n1", brand="Acme", text="acme", created_at=now)
        alert = {"alert_id": "a1", "event": "opened", "seq": 1, "brand": "Acme", "window_start": now.isoformat()}
        recs = [ConsumerRecord("enriched", 0, -1, 0, 0, 0, b"k", m.to_bytes(), [], None, 1, 1, 0),
                ConsumerRecord("alerts", 0, -1, 1, 0, 0, b"k", json.dumps(alert).encode(), [], None, 1, 1, 0)]
        result = BulkIndexer(as_index, prefix, IndexSettings(), alerts_topic="alerts").handle(recs)
        assert result.failures == [], [str(f.error) for f in result.failures]
        # retention and the next period's index, with an expired index to delete
        old = f"{mentions_alias(prefix)}-2001-01"
        admin.indices.create(index=old)
        maintenance = run_maintenance(as_index, prefix, IndexSettings(retention_days=30), now=now)
        assert old in maintenance.deleted and not maintenance.warnings, maintenance
        admin.indices.refresh(index=f"{mentions_alias(prefix)}*,{alerts_index(prefix)}")
        # the alert worker's digest reads both
        volumes, _events = fetch_period(as_alerts, prefix, now - timedelta(hours=1), now + timedelta(hours=1))
        assert [v.brand for v in volumes] == ["Acme"]
        # ... and nothing else is allowed
        refused = [
            lambda: as_alerts.index(index=alerts_index(prefix), document={"x": 1}),
            lambda: as_alerts.indices.create(index=f"{mentions_alias(prefix)}-2099-01"),
            lambda: as_index.search(index=".security*"),
            lambda: as_index.index(index="other-index", document={"x": 1}),
            lambda: as_index.security.create_api_key(name="escalate", role_descriptors={}),
            lambda: as_alerts.security.get_user(),
        ]
        for attempt in refused:
            with pytest.raises(AuthorizationException):
                attempt()
    finally:
        admin.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        for role in ROLES:
            admin.security.invalidate_api_key(name=key_name(prefix, role))
