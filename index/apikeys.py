"""Least-privilege Elasticsearch API keys, one per worker role, kept by the compose setup job.

Only two workers talk to Elasticsearch: the indexer writes mentions and alert events (and keeps
the monthly indices: creates the next, deletes expired ones, aliases them), and the alert worker
reads them (its digest). Ingest and enrich need no Elasticsearch credential at all, so they get
none. ``brandpulse es-keys --dir DIR``, run by the setup job as the ``elastic`` superuser, keeps
one API key per role in ``DIR/<role>/api_key`` (the base64 ``id:key`` form the client takes); in
docker-compose.yml each worker mounts only its own role's directory, read-only, and reads the
key with ``BRANDPULSE_ELASTICSEARCH__API_KEY_FILE``. A leaked indexer key can write BrandPulse's
indices and nothing else; a leaked alert-worker key can only read them.

The job runs on every ``docker compose up``. A key is kept while it still authenticates and was
made for the same privileges; otherwise a new one is written and the older keys of that name
are invalidated (no worker can still be using them: a worker reads its key when it starts, and
workers start only after the setup job).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, AuthenticationException, Elasticsearch

from brandpulse.esclient import alerts_index, mentions_alias

ROLES = ("index", "alerts")
KEY_FILE = "api_key"


class ApiKeyError(RuntimeError):
    """API keys cannot be made here (security off, or the caller may not manage keys)."""


def role_descriptors(prefix: str, role: str) -> dict[str, Any]:
    """The privileges of one worker role, on this deployment's indices only (``<prefix>-…``)."""
    mentions = mentions_alias(prefix)
    names = [mentions, f"{mentions}-*", alerts_index(prefix)]
    if role == "index":
        # bulk writes (write), the next period's index (create_index), retention (delete_index),
        # the alias over the period indices and reading index metadata (manage: aliases,
        # mappings, get index; no document reads are needed). The cluster privilege only lets it
        # see whether the index template exists (retention does not create an index without it).
        return {"brandpulse_index": {
            "cluster": ["monitor", "manage_index_templates"],
            "indices": [{"names": names, "privileges": ["create_index", "delete_index", "write", "manage"]}],
        }}
    if role == "alerts":
        # searches and counts for the digest; nothing is written from the alert worker
        return {"brandpulse_alerts": {
            "cluster": [],
            "indices": [{"names": names, "privileges": ["read", "view_index_metadata"]}],
        }}
    raise ValueError(f"unknown worker role {role!r} (known: {', '.join(ROLES)})")


def _fingerprint(descriptors: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(descriptors, sort_keys=True).encode()).hexdigest()[:16]


def key_name(prefix: str, role: str) -> str:
    return f"brandpulse-{prefix}-{role}"


def _key_id(encoded: str) -> str | None:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    key_id, sep, _secret = decoded.partition(":")
    return key_id if sep and key_id else None


def _still_good(es: Elasticsearch, encoded: str, name: str, fingerprint: str) -> bool:
    """The stored key authenticates, is active, and was made with these privileges."""
    key_id = _key_id(encoded)
    if key_id is None:
        return False
    try:
        es.options(api_key=encoded.strip()).security.authenticate()
    except AuthenticationException:
        return False
    found = es.security.get_api_key(id=key_id).get("api_keys") or []
    return any(k.get("id") == key_id and k.get("name") == name and not k.get("invalidated")
               and (k.get("metadata") or {}).get("fingerprint") == fingerprint for k in found)


def _write_secret(path: Path, value: str) -> None:
    """Write atomically, readable by this user only (the worker runs as the same user)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, value.encode("ascii"))
    finally:
        os.close(fd)
    os.replace(tmp, path)


def ensure_api_keys(es: Elasticsearch, prefix: str, directory: Path,
                    roles: tuple[str, ...] = ROLES) -> list[str]:
    """Keep one valid key per role in ``directory/<role>/api_key``; a line per role saying what was done.

    ``es`` must be allowed to manage API keys (the ``elastic`` user in compose).
    """
    notes: list[str] = []
    for role in roles:
        descriptors = role_descriptors(prefix, role)
        fingerprint = _fingerprint(descriptors)
        name = key_name(prefix, role)
        path = directory / role / KEY_FILE
        current = path.read_text(encoding="ascii", errors="replace") if path.is_file() else ""
        try:
            if current and _still_good(es, current, name, fingerprint):
                notes.append(f"es-keys: {role}: kept the key in {path}")
                continue
            created = es.security.create_api_key(
                name=name, role_descriptors=descriptors,
                metadata={"application": "brandpulse", "role": role, "prefix": prefix, "fingerprint": fingerprint},
            )
            _write_secret(path, str(created["encoded"]))
            stale = [k["id"] for k in es.security.get_api_key(name=name).get("api_keys") or []
                     if k.get("id") != created["id"] and not k.get("invalidated")]
            if stale:
                es.security.invalidate_api_key(ids=stale)
        except ApiError as exc:
            raise ApiKeyError(
                f"cannot manage API keys ({exc.meta.status}: {str(exc.message)[:200]}); API keys need "
                "Elasticsearch security on (compose has it; `brandpulse stack up` runs without) and a "
                "user with the manage_api_key privilege, such as elastic") from exc
        notes.append(f"es-keys: {role}: new key in {path}" + (f", {len(stale)} older one(s) invalidated"
                                                               if stale else ""))
    return notes
