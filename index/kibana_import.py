"""Kibana saved objects for analysts (``index/kibana/brandpulse.ndjson``) and their import.

``load_objects(prefix)`` parses the NDJSON file and rewrites it for an
``elasticsearch.index_prefix`` other than ``brandpulse``; ``import_objects`` waits for Kibana
to report itself available and then posts the objects to the saved-objects import API
(``POST /api/saved_objects/_import?overwrite=true``), so running it again updates them in
place. ``field_references`` lists every Elasticsearch field the objects use; the unit tests
check those against the index mapping in ``index.templates``.

The CLI (``brandpulse kibana import``) and the compose setup job call ``load_objects`` and
``import_objects`` with the ``kibana`` settings; see docs/KIBANA.md.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import requests
from pydantic import SecretStr

from brandpulse.text import redact_url

DEFAULT_PREFIX = "brandpulse"
OBJECTS_PATH = Path(__file__).with_name("kibana") / "brandpulse.ndjson"
DASHBOARD_ID_SUFFIX = "brand-listening"

# An index-name prefix: lowercase, no characters Elasticsearch forbids in index names, and not
# starting with '_', '-' or '+'.
_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")

_RECORDS = "___records___"  # Lens' pseudo-field "count of documents", not an index field


class KibanaImportError(RuntimeError):
    """Kibana was unreachable, refused the request, or did not import every object.

    ``errors`` holds Kibana's per-object errors (``[{"id", "type", "title", "error": {...}}]``)
    when the import API answered ``success: false``.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None,
                 response: dict[str, Any] | None = None) -> None:
        super().__init__(redact_url(message))  # the configured Kibana URL may carry user:password@
        self.errors = errors or []
        self.response = response


# ------------------------------------------------------------------ objects


def validate_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix or ""):
        raise ValueError(f"index prefix {prefix!r} is not a valid Elasticsearch index-name prefix "
                         "(lowercase letters, digits, '_', '-', '.', '+'; starting with a letter or digit)")
    return prefix


def dashboard_id(prefix: str = DEFAULT_PREFIX) -> str:
    """Saved-object id of the dashboard (open it at ``<kibana>/app/dashboards#/view/<id>``)."""
    return f"{validate_prefix(prefix)}-{DASHBOARD_ID_SUFFIX}"


def parse_ndjson(text: str) -> list[dict[str, Any]]:
    """Saved objects from NDJSON text. Blank lines and the summary line a Kibana export
    appends (``{"exportedCount": ...}``) are skipped."""
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"line {number}: not a JSON object")
        if "exportedCount" in obj and "missingRefCount" in obj:
            continue
        missing = [key for key in ("id", "type", "attributes") if key not in obj]
        if missing:
            raise ValueError(f"line {number}: saved object without {', '.join(missing)}")
        objects.append(obj)
    return objects


def rewrite_prefix(objects: Iterable[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """A copy of ``objects`` (written for the ``brandpulse`` prefix) for another index prefix.

    Data-view patterns ``brandpulse-mentions*`` / ``brandpulse-alerts*`` become
    ``<prefix>-mentions*`` / ``<prefix>-alerts*``; every id (and every reference to it) that
    starts with ``brandpulse-`` gets the new prefix, so the objects of two deployments can live
    side by side in one Kibana space; titles get a `` (<prefix>)`` suffix to tell them apart.
    """
    validate_prefix(prefix)
    out = copy.deepcopy(list(objects))
    if prefix == DEFAULT_PREFIX:
        return out
    old = f"{DEFAULT_PREFIX}-"

    def renamed(value: str) -> str:
        return f"{prefix}-{value[len(old):]}" if value.startswith(old) else value

    for obj in out:
        obj["id"] = renamed(obj["id"])
        for ref in obj.get("references") or []:
            ref["id"] = renamed(ref["id"])
        attributes = obj["attributes"]
        if obj["type"] == "index-pattern":
            attributes["title"] = ",".join(renamed(part) for part in attributes["title"].split(","))
            if attributes.get("name"):
                attributes["name"] = f"{attributes['name']} ({prefix})"
        elif attributes.get("title"):
            attributes["title"] = f"{attributes['title']} ({prefix})"
    return out


def load_objects(prefix: str = DEFAULT_PREFIX, path: Path | None = None) -> list[dict[str, Any]]:
    """The saved objects of ``index/kibana/brandpulse.ndjson`` for ``prefix``."""
    validate_prefix(prefix)
    text = (path or OBJECTS_PATH).read_text(encoding="utf-8")
    return rewrite_prefix(parse_ndjson(text), prefix)


def to_ndjson(objects: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
                   for obj in objects).encode("utf-8")


# ------------------------------------------------------------------ fields the objects use


class FieldUse(NamedTuple):
    """One use of an index field by a saved object.

    ``usage`` is ``aggregate`` (a bucket or metric aggregation, a control's terms list),
    ``sort``, ``filter`` (a KQL query or filter), ``display`` (a table column, a tooltip, a
    field format), ``geo`` (the geometry of a map layer) or ``time`` (a data view's time field).
    """

    data_view_id: str
    field: str
    usage: str
    object_id: str


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@]*)\s*:")
_FORMULA_KQL = re.compile(r"kql\s*=\s*'((?:[^'\\]|\\.)*)'")


def kql_fields(query: str) -> set[str]:
    """Field names in a KQL query (``field : value`` / ``field:value`` clauses)."""
    return set(_KQL_FIELD.findall(_QUOTED.sub('""', query or "")))


def _json_attr(value: Any, default: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else default
    return default if value is None else value


def _refs_by_name(obj: dict[str, Any]) -> dict[str, str]:
    return {ref["name"]: ref["id"] for ref in obj.get("references") or []}


def _query_fields(query: Any) -> set[str]:
    if isinstance(query, dict) and query.get("language", "kuery") == "kuery":
        return kql_fields(str(query.get("query") or ""))
    return set()


def _filter_fields(filters: Any) -> set[str]:
    fields = set()
    for item in filters or []:
        key = (item.get("meta") or {}).get("key")
        if key:
            fields.add(key)
    return fields


def _lens_uses(obj: dict[str, Any]) -> Iterable[FieldUse]:
    state = obj["attributes"].get("state") or {}
    refs = _refs_by_name(obj)
    layers = ((state.get("datasourceStates") or {}).get("formBased") or {}).get("layers") or {}
    layer_views = []
    for layer_id, layer in layers.items():
        view = refs.get(f"indexpattern-datasource-layer-{layer_id}", "")
        layer_views.append(view)
        for column in (layer.get("columns") or {}).values():
            source = column.get("sourceField")
            if source and source != _RECORDS:
                yield FieldUse(view, source, "aggregate", obj["id"])
            for field in _query_fields(column.get("filter")):
                yield FieldUse(view, field, "filter", obj["id"])
            formula = (column.get("params") or {}).get("formula")
            if formula:
                for kql in _FORMULA_KQL.findall(formula):
                    for field in kql_fields(kql):
                        yield FieldUse(view, field, "filter", obj["id"])
    for view in layer_views:
        for field in _query_fields(state.get("query")) | _filter_fields(state.get("filters")):
            yield FieldUse(view, field, "filter", obj["id"])


def _search_uses(obj: dict[str, Any]) -> Iterable[FieldUse]:
    attributes = obj["attributes"]
    refs = _refs_by_name(obj)
    source = _json_attr((attributes.get("kibanaSavedObjectMeta") or {}).get("searchSourceJSON"), {})
    view = refs.get(source.get("indexRefName", "kibanaSavedObjectMeta.searchSourceJSON.index"), "")
    for column in attributes.get("columns") or []:
        if column != "_source":
            yield FieldUse(view, column, "display", obj["id"])
    for entry in attributes.get("sort") or []:
        field = entry[0] if isinstance(entry, list) else entry
        if isinstance(field, str) and field:
            yield FieldUse(view, field, "sort", obj["id"])
    for field in _query_fields(source.get("query")) | _filter_fields(source.get("filter")):
        yield FieldUse(view, field, "filter", obj["id"])


def _map_uses(obj: dict[str, Any]) -> Iterable[FieldUse]:
    attributes = obj["attributes"]
    refs = _refs_by_name(obj)
    views = []
    for layer in _json_attr(attributes.get("layerListJSON"), []):
        source = layer.get("sourceDescriptor") or {}
        view = refs.get(source.get("indexPatternRefName", ""), "")
        kind = source.get("type")
        if kind in ("ES_GEO_GRID", "ES_SEARCH", "ES_GEO_LINE", "ES_PEW_PEW"):
            views.append(view)
        if source.get("geoField"):
            yield FieldUse(view, source["geoField"], "geo", obj["id"])
            if kind == "ES_GEO_GRID":
                yield FieldUse(view, source["geoField"], "aggregate", obj["id"])
        for metric in source.get("metrics") or []:
            if metric.get("field"):
                yield FieldUse(view, metric["field"], "aggregate", obj["id"])
        if kind == "ES_SEARCH":
            for field in source.get("tooltipProperties") or []:
                yield FieldUse(view, field, "display", obj["id"])
            if source.get("sortField"):
                yield FieldUse(view, source["sortField"], "sort", obj["id"])
            if source.get("topHitsSplitField"):
                yield FieldUse(view, source["topHitsSplitField"], "aggregate", obj["id"])
            for prop in ((layer.get("style") or {}).get("properties") or {}).values():
                if not isinstance(prop, dict) or prop.get("type") != "DYNAMIC":
                    continue
                options = prop.get("options") or {}
                field = options.get("field") or {}
                if field.get("origin") == "source" and field.get("name"):
                    meta = (options.get("fieldMetaOptions") or {}).get("isEnabled")
                    yield FieldUse(view, field["name"], "aggregate" if meta else "display", obj["id"])
        for join in layer.get("joins") or []:
            right = join.get("right") or {}
            join_view = refs.get(right.get("indexPatternRefName", ""), "")
            if right.get("term"):
                yield FieldUse(join_view, right["term"], "aggregate", obj["id"])
    state = _json_attr(attributes.get("mapStateJSON"), {})
    for view in views:
        for field in _query_fields(state.get("query")) | _filter_fields(state.get("filters")):
            yield FieldUse(view, field, "filter", obj["id"])


def _dashboard_uses(obj: dict[str, Any]) -> Iterable[FieldUse]:
    refs = _refs_by_name(obj)
    controls = _json_attr((obj["attributes"].get("controlGroupInput") or {}).get("panelsJSON"), {})
    for control_id, control in controls.items():
        field = (control.get("explicitInput") or {}).get("fieldName")
        view = next((ref_id for name, ref_id in refs.items() if name.startswith(f"controlGroup_{control_id}:")), "")
        if field:
            yield FieldUse(view, field, "aggregate", obj["id"])


def _data_view_uses(obj: dict[str, Any]) -> Iterable[FieldUse]:
    attributes = obj["attributes"]
    if attributes.get("timeFieldName"):
        yield FieldUse(obj["id"], attributes["timeFieldName"], "time", obj["id"])
    for field in _json_attr(attributes.get("fieldFormatMap"), {}):
        yield FieldUse(obj["id"], field, "display", obj["id"])


_WALKERS = {
    "lens": _lens_uses,
    "search": _search_uses,
    "map": _map_uses,
    "dashboard": _dashboard_uses,
    "index-pattern": _data_view_uses,
}


def field_usages(objects: Iterable[dict[str, Any]]) -> set[FieldUse]:
    """Every index field the objects use, with the data view it is read through and how."""
    uses: set[FieldUse] = set()
    for obj in objects:
        walker = _WALKERS.get(obj["type"])
        if walker:
            uses.update(walker(obj))
    return uses


def field_references(objects: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """``(data_view_id, field)`` for every index field a visualization, search, map, control
    or data view uses (Lens columns and their KQL filters, saved-search columns/sort/query,
    map geo fields/tooltips/sort, dashboard controls, data-view time fields and formats)."""
    return {(use.data_view_id, use.field) for use in field_usages(objects)}


# ------------------------------------------------------------------ import


def _secret(value: str | SecretStr | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def _auth(username: str | None, password: str | SecretStr | None,
          api_key: str | SecretStr | None) -> tuple[dict[str, str], tuple[str, str] | None]:
    key = _secret(api_key)
    if key and username:
        raise ValueError("give either an API key or a username/password for Kibana, not both")
    if key:
        return {"Authorization": f"ApiKey {key}"}, None
    if username:
        secret = _secret(password)
        if secret is None:
            raise ValueError("a Kibana username needs a password")
        return {}, (username, secret)
    return {}, None


def _describe(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:500]
    return str(body)[:500]


def _ready(body: Any) -> tuple[bool, str]:
    """Whether an ``/api/status`` body says Kibana can serve the saved-objects API."""
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, dict):
        return False, "no status in the answer"
    overall = status.get("overall") or {}
    level = overall.get("level")
    if level is None and overall.get("state"):  # 7.x format
        return overall["state"] == "green", f"state {overall['state']}"
    saved_objects = ((status.get("core") or {}).get("savedObjects") or {}).get("level")
    if level == "available":
        return True, "available"
    # "degraded" is often a slow plugin; the import only needs the saved-objects service.
    if level == "degraded" and saved_objects == "available":
        return True, "degraded (saved objects available)"
    summary = overall.get("summary")
    return False, f"{level}" + (f": {summary}" if summary else "")


def wait_for_kibana(kibana_url: str, *, username: str | None = None, password: str | SecretStr | None = None,
                    api_key: str | SecretStr | None = None, timeout: float = 30, verify: bool | str = True,
                    wait_seconds: float = 180.0, poll_interval: float = 2.0) -> dict[str, Any]:
    """Poll ``GET /api/status`` until Kibana is available; its status body. Raises
    :class:`KibanaImportError` after ``wait_seconds`` (at least one attempt is made), or at
    once when Kibana rejects the credentials."""
    headers, auth = _auth(username, password, api_key)
    url = f"{kibana_url.rstrip('/')}/api/status"
    deadline = time.monotonic() + wait_seconds
    last = "no answer yet"
    while True:
        try:
            response = requests.get(url, headers=headers, auth=auth, timeout=timeout, verify=verify)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code in (401, 403):
                raise KibanaImportError(f"Kibana at {kibana_url} rejected the credentials "
                                        f"(HTTP {response.status_code}: {_describe(response)})")
            try:
                body = response.json()
            except ValueError:
                body = None
            ready, detail = _ready(body)
            if ready and response.status_code == 200:
                return dict(body)
            last = f"HTTP {response.status_code}, {detail}"
        if time.monotonic() + poll_interval > deadline:
            raise KibanaImportError(f"Kibana at {kibana_url} did not become available within "
                                    f"{wait_seconds:g}s (last: {last})")
        time.sleep(poll_interval)


def _error_line(error: dict[str, Any]) -> str:
    what = f"{error.get('type', '?')}/{error.get('id', '?')}"
    title = error.get("title") or (error.get("meta") or {}).get("title")
    if title:
        what += f" ({title})"
    detail = error.get("error") or {}
    kind = detail.get("type", "error")
    if kind == "missing_references":
        missing = ", ".join(f"{ref.get('type')}/{ref.get('id')}" for ref in detail.get("references") or [])
        return f"{what}: missing references {missing}"
    extra = detail.get("message") or detail.get("reason") or ""
    return f"{what}: {kind}" + (f" - {extra}" if extra else "")


def import_objects(kibana_url: str, objects: Iterable[dict[str, Any]], *, username: str | None = None,
                   password: str | SecretStr | None = None, api_key: str | SecretStr | None = None,
                   space: str | None = None, timeout: float = 30, verify: bool | str = True,
                   wait_seconds: float = 180.0, poll_interval: float = 2.0) -> dict[str, Any]:
    """Import ``objects`` into Kibana (overwriting objects with the same ids) and return the
    import API's answer (``{"success": true, "successCount": N, ...}``).

    Waits for Kibana first (``wait_for_kibana``). ``space`` imports into that Kibana space
    (``/s/<space>``; ``None`` or ``"default"`` is the default space). ``verify`` is passed to
    requests: ``False`` or a CA-bundle path. Raises :class:`KibanaImportError` with Kibana's
    per-object errors when anything was not imported.
    """
    payload = to_ndjson(objects)
    headers, auth = _auth(username, password, api_key)
    wait_for_kibana(kibana_url, username=username, password=password, api_key=api_key, timeout=timeout,
                    verify=verify, wait_seconds=wait_seconds, poll_interval=poll_interval)
    base = kibana_url.rstrip("/")
    if space and space != "default":
        base += f"/s/{quote(space, safe='')}"
    try:
        response = requests.post(
            f"{base}/api/saved_objects/_import",
            params={"overwrite": "true"},
            headers={**headers, "kbn-xsrf": "true"},
            files={"file": ("brandpulse.ndjson", payload, "application/ndjson")},
            auth=auth, timeout=timeout, verify=verify,
        )
    except requests.RequestException as exc:
        raise KibanaImportError(f"could not reach Kibana at {kibana_url}: {exc}") from exc
    if response.status_code != 200:
        raise KibanaImportError(f"Kibana refused the import (HTTP {response.status_code}): {_describe(response)}")
    try:
        result = response.json()
    except ValueError as exc:
        raise KibanaImportError(f"Kibana answered the import with non-JSON: {response.text[:200]!r}") from exc
    if not isinstance(result, dict):
        raise KibanaImportError(f"unexpected import answer from Kibana: {result!r}")
    if not result.get("success"):
        errors = list(result.get("errors") or [])
        sent = payload.count(b"\n")
        lines = "\n  ".join(_error_line(error) for error in errors) or "(no per-object errors given)"
        raise KibanaImportError(
            f"Kibana imported {result.get('successCount', 0)} of {sent} objects; errors:\n  {lines}",
            errors=errors, response=result)
    return result
