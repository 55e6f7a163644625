"""The Kibana saved objects (index/kibana/brandpulse.ndjson) and their import.

Kibana itself cannot run here, so the file is checked for what makes an import or a panel fail:
JSON shape, unique ids, references that resolve (including the named references Lens, maps,
saved searches, dashboard panels and controls look up), attributes the 8.19 type schemas accept,
document shapes that match the declared migration versions, and fields that exist in the
Elasticsearch mapping with a type that can do what the panel does with them. The import is run
against a fake Kibana on 127.0.0.1 that behaves like the real API where it matters (status,
kbn-xsrf, multipart .ndjson upload, per-object errors).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from index import kibana_import as k
from index import templates
from index.kibana import build_objects

KIBANA_VERSION = (8, 19, 7)
OBJECTS = k.load_objects()
BY_KEY = {(o["type"], o["id"]): o for o in OBJECTS}


def of_type(objects: list[dict[str, Any]], obj_type: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == obj_type]


def one(objects: list[dict[str, Any]], obj_id: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["id"] == obj_id]
    return obj


def semver(value: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", value)
    assert match, f"{value!r} is not a semver version"
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def lens_layers(obj: dict[str, Any]) -> dict[str, Any]:
    layers: dict[str, Any] = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
    return layers


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(dashboard["attributes"]["panelsJSON"])
    return result


def map_layers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(obj["attributes"]["layerListJSON"])
    return result


# ------------------------------------------------------------------ the file itself


def test_every_line_is_a_saved_object_with_id_type_and_attributes() -> None:
    text = k.OBJECTS_PATH.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert lines and all(line.strip() for line in lines), "no blank lines"
    for number, line in enumerate(lines, start=1):
        obj = json.loads(line)
        assert isinstance(obj, dict), number
        assert isinstance(obj["id"], str) and obj["id"], number
        assert obj["type"] in {"index-pattern", "search", "lens", "map", "dashboard"}, number
        assert isinstance(obj["attributes"], dict) and obj["attributes"].get("title"), number
        assert isinstance(obj.get("references"), list), number
        assert "exportedCount" not in obj


def test_file_is_what_the_generator_writes() -> None:
    """brandpulse.ndjson is generated (python -m index.kibana.build_objects): regenerate after a change."""
    assert k.OBJECTS_PATH.read_text(encoding="utf-8") == build_objects.to_ndjson(build_objects.build())
    assert k.to_ndjson(OBJECTS) == k.OBJECTS_PATH.read_bytes()


def test_ids_are_unique() -> None:
    ids = [o["id"] for o in OBJECTS]
    assert len(ids) == len(set(ids))


def test_the_expected_objects_are_there() -> None:
    kinds = sorted((o["type"], o["id"]) for o in OBJECTS)
    assert kinds == sorted([
        ("index-pattern", "brandpulse-mentions"), ("index-pattern", "brandpulse-alerts"),
        ("search", "brandpulse-latest-negative-mentions"), ("search", "brandpulse-recent-alerts"),
        ("lens", "brandpulse-volume-by-brand"), ("lens", "brandpulse-sentiment-over-time"),
        ("lens", "brandpulse-negative-share-by-brand"), ("lens", "brandpulse-top-hashtags"),
        ("lens", "brandpulse-top-keywords"), ("lens", "brandpulse-language-split"),
        ("lens", "brandpulse-alerts-timeline"), ("map", "brandpulse-mention-map"),
        ("dashboard", "brandpulse-brand-listening"),
        ("lens", "brandpulse-share-of-voice"), ("lens", "brandpulse-negative-share-by-group"),
        ("lens", "brandpulse-stories-by-group"), ("lens", "brandpulse-largest-stories"),
        ("dashboard", "brandpulse-share-of-voice-dashboard"),
    ])
    assert k.dashboard_id() == "brandpulse-brand-listening"
    assert one(OBJECTS, "brandpulse-brand-listening")["attributes"]["title"] == "BrandPulse — brand listening"


def test_migration_versions_are_set_and_not_newer_than_kibana() -> None:
    """Without typeMigrationVersion the import re-runs every migration from 6.x/7.x, which
    expects pre-8 shapes; a version newer than the type knows is rejected by Kibana."""
    # Latest legacy migration each type registers in Kibana 8.19 (see docs/KIBANA.md).
    latest_known = {"index-pattern": "7.11.0", "search": "7.9.3", "lens": "8.9.0", "map": "8.4.0",
                    "dashboard": "8.9.0"}
    for obj in OBJECTS:
        assert semver(obj["coreMigrationVersion"]) <= KIBANA_VERSION
        assert semver(obj["typeMigrationVersion"]) <= semver(latest_known[obj["type"]]), obj["id"]
        assert "migrationVersion" not in obj


def test_documents_have_the_shape_their_migration_version_promises() -> None:
    # lens >= 8.6: "formBased" datasource (not "indexpattern"); pie >= 8.6: primaryGroups + metrics.
    for lens in of_type(OBJECTS, "lens"):
        assert set(lens["attributes"]["state"]["datasourceStates"]) == {"formBased"}
        if lens["attributes"]["visualizationType"] == "lnsPie":
            for layer in lens["attributes"]["state"]["visualization"]["layers"]:
                assert "groups" not in layer and "metric" not in layer
                assert layer["primaryGroups"] and layer["metrics"]
    # map >= 8.1: renamed layer types (VECTOR -> GEOJSON_VECTOR, VECTOR_TILE -> EMS_VECTOR_TILE).
    for layer in map_layers(one(OBJECTS, "brandpulse-mention-map")):
        assert layer["type"] in {"GEOJSON_VECTOR", "EMS_VECTOR_TILE", "MVT_VECTOR"}
    # search >= 7.4: sort is a list of [field, direction] pairs.
    for search in of_type(OBJECTS, "search"):
        assert all(isinstance(entry, list) and len(entry) == 2 for entry in search["attributes"]["sort"])


def test_attributes_are_ones_the_kibana_819_schemas_accept() -> None:
    """Dashboard and saved-search attributes are validated on import (`unknowns: forbid`)."""
    allowed = {
        "dashboard": {"title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo",
                      "refreshInterval", "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version"},
        "search": {"title", "description", "columns", "sort", "grid", "rowHeight", "rowsPerPage", "hideChart",
                   "breakdownField", "kibanaSavedObjectMeta", "isTextBasedQuery", "usesAdHocDataView",
                   "timeRestore", "timeRange", "refreshInterval", "viewMode", "hideAggregatedPreview", "hits",
                   "version"},
        "lens": {"title", "description", "visualizationType", "state", "uiStateJSON", "visState",
                 "savedSearchRefName"},
        "map": {"title", "description", "mapStateJSON", "layerListJSON", "uiStateJSON", "version"},
    }
    for obj in OBJECTS:
        if obj["type"] in allowed:
            assert set(obj["attributes"]) <= allowed[obj["type"]], obj["id"]
    for search in of_type(OBJECTS, "search"):
        json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


# ------------------------------------------------------------------ references


def test_every_reference_resolves_to_an_object_in_the_file() -> None:
    for obj in OBJECTS:
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), obj["id"]
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in BY_KEY, f"{obj['id']} -> {ref}"


def test_lens_layers_and_references_match_one_to_one() -> None:
    for lens in of_type(OBJECTS, "lens"):
        expected = {f"indexpattern-datasource-layer-{layer_id}" for layer_id in lens_layers(lens)}
        assert {ref["name"] for ref in lens["references"]} == expected, lens["id"]
        assert all(ref["type"] == "index-pattern" for ref in lens["references"])


def test_lens_columns_accessors_and_formula_parts_are_consistent() -> None:
    for lens in of_type(OBJECTS, "lens"):
        state = lens["attributes"]["state"]
        for layer_id, layer in lens_layers(lens).items():
            columns = layer["columns"]
            assert sorted(layer["columnOrder"]) == sorted(columns), lens["id"]
            for column_id, column in columns.items():
                assert {"label", "dataType", "operationType", "isBucketed"} <= set(column), column_id
                for ref in column.get("references", []):
                    assert ref in columns, f"{lens['id']}: {column_id} -> {ref}"
                order_by = column.get("params", {}).get("orderBy", {})
                if order_by.get("type") == "column":
                    assert order_by["columnId"] in columns
                if column["operationType"] == "formula":
                    assert column["params"]["isFormulaBroken"] is False
            vis = state["visualization"]
            vis_layers = vis["layers"]
            assert [v["layerId"] for v in vis_layers] == [layer_id]
            for v in vis_layers:
                used = [*v.get("accessors", []), *v.get("primaryGroups", []), *v.get("metrics", [])]
                used += [v[key] for key in ("xAccessor", "splitAccessor") if v.get(key)]
                assert used and all(col in columns for col in used), lens["id"]
                assert all(not columns[col]["isBucketed"] for col in [*v.get("accessors", []), *v.get("metrics", [])])


def test_negative_share_is_the_lens_formula_with_its_helper_columns() -> None:
    (layer,) = lens_layers(one(OBJECTS, "brandpulse-negative-share-by-brand")).values()
    columns = layer["columns"]
    (formula,) = [c for c in columns.values() if c["operationType"] == "formula"]
    assert formula["params"]["formula"] == "count(kql='enrichment.sentiment.label : \"negative\"') / count()"
    assert formula["params"]["format"]["id"] == "percent"
    (math,) = [columns[ref] for ref in formula["references"]]
    ast = math["params"]["tinymathAst"]
    assert (math["operationType"], ast["name"], ast["text"]) == ("math", "divide", formula["params"]["formula"])
    numerator, denominator = (columns[arg] for arg in ast["args"])
    assert numerator["operationType"] == denominator["operationType"] == "count"
    assert numerator["filter"] == {"query": 'enrichment.sentiment.label : "negative"', "language": "kuery"}
    assert "filter" not in denominator
    (brand,) = [c for c in columns.values() if c["isBucketed"]]
    assert brand["sourceField"] == "brand"


def test_searches_and_maps_name_their_data_view_references() -> None:
    for search in of_type(OBJECTS, "search"):
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert [ref["name"] for ref in search["references"]] == [source["indexRefName"]]
    for map_obj in of_type(OBJECTS, "map"):
        wanted = {layer["sourceDescriptor"]["indexPatternRefName"] for layer in map_layers(map_obj)
                  if "indexPatternRefName" in layer["sourceDescriptor"]}
        assert wanted and {ref["name"] for ref in map_obj["references"]} == wanted


DASHBOARDS = ("brandpulse-brand-listening", "brandpulse-share-of-voice-dashboard")


def test_dashboard_panels_each_reference_an_object_of_their_type() -> None:
    shown = []
    for dashboard_id in DASHBOARDS:
        dashboard = one(OBJECTS, dashboard_id)
        refs = {ref["name"]: ref for ref in dashboard["references"]}
        for panel in panels(dashboard):
            assert panel["gridData"]["i"] == panel["panelIndex"]
            ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            assert ref["type"] == panel["type"]
            assert (ref["type"], ref["id"]) in BY_KEY
            shown.append(ref["id"])
        panel_refs = {f"{p['panelIndex']}:{p['panelRefName']}" for p in panels(dashboard)}
        controls = json.loads(dashboard["attributes"]["controlGroupInput"]["panelsJSON"])
        control_refs = {f"controlGroup_{control_id}:optionsListDataView" for control_id in controls}
        assert not set(controls) & {p["panelIndex"] for p in panels(dashboard)}, "control ids differ from panel ids"
        assert set(refs) == panel_refs | control_refs, "no reference without a user"
        assert all(refs[name]["type"] == "index-pattern" for name in control_refs)
    # every visualisation, search and map is on exactly one dashboard
    assert len(shown) == len(set(shown))
    assert set(shown) == {o["id"] for o in OBJECTS if o["type"] in {"lens", "map", "search"}}


def test_dashboard_grid_fits_48_columns_without_overlaps() -> None:
    for dashboard_id in DASHBOARDS:
        cells: set[tuple[int, int]] = set()
        for panel in panels(one(OBJECTS, dashboard_id)):
            grid = panel["gridData"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 48 and grid["h"] > 0
            area = set(itertools.product(range(grid["x"], grid["x"] + grid["w"]),
                                         range(grid["y"], grid["y"] + grid["h"])))
            assert not cells & area, panel["panelIndex"]
            cells |= area


def test_share_of_voice_compares_brands_within_their_competitor_groups() -> None:
    def buckets(obj_id: str) -> list[str]:
        (layer,) = lens_layers(one(OBJECTS, obj_id)).values()
        return [layer["columns"][c]["sourceField"] for c in layer["columnOrder"] if layer["columns"][c]["isBucketed"]]

    for obj_id in ("brandpulse-share-of-voice", "brandpulse-negative-share-by-group", "brandpulse-stories-by-group"):
        assert buckets(obj_id) == ["brand_groups", "brand"], obj_id
    volume = one(OBJECTS, "brandpulse-share-of-voice")["attributes"]["state"]["visualization"]
    assert volume["layers"][0]["seriesType"] == "bar_percentage_stacked"
    (stories,) = lens_layers(one(OBJECTS, "brandpulse-stories-by-group")).values()
    assert {c["operationType"]: c.get("sourceField") for c in stories["columns"].values()}["unique_count"] == \
        "enrichment.story_id"
    assert buckets("brandpulse-largest-stories") == ["enrichment.story_id"]


# ------------------------------------------------------------------ what the panels show


def test_panels_show_what_analysts_asked_for() -> None:
    def lens_fields(obj_id: str) -> dict[str, str]:
        (layer,) = lens_layers(one(OBJECTS, obj_id)).values()
        return {c["operationType"]: c["sourceField"] for c in layer["columns"].values() if "sourceField" in c}

    assert lens_fields("brandpulse-volume-by-brand") == {
        "terms": "brand", "date_histogram": "created_at", "count": "___records___"}
    assert lens_fields("brandpulse-sentiment-over-time")["terms"] == "enrichment.sentiment.label"
    assert lens_fields("brandpulse-top-hashtags")["terms"] == "enrichment.hashtags"
    assert lens_fields("brandpulse-top-keywords")["terms"] == "enrichment.keywords"
    assert lens_fields("brandpulse-language-split")["terms"] == "enrichment.language.code"
    assert lens_fields("brandpulse-alerts-timeline") == {
        "terms": "severity", "date_histogram": "window_start", "count": "___records___"}
    for obj_id in ("brandpulse-volume-by-brand", "brandpulse-sentiment-over-time", "brandpulse-alerts-timeline"):
        vis = one(OBJECTS, obj_id)["attributes"]["state"]["visualization"]["layers"][0]
        assert vis["splitAccessor"] and vis["xAccessor"]

    negative = one(OBJECTS, "brandpulse-latest-negative-mentions")["attributes"]
    assert negative["columns"] == ["created_at", "brand", "author.handle", "text", "url"]
    assert negative["sort"] == [["created_at", "desc"]]
    query = json.loads(negative["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
    assert query == {"query": 'enrichment.sentiment.label : "negative"', "language": "kuery"}
    mentions_view = one(OBJECTS, "brandpulse-mentions")["attributes"]
    assert json.loads(mentions_view["fieldFormatMap"])["url"]["id"] == "url", "url renders as a link"

    alerts = one(OBJECTS, "brandpulse-recent-alerts")["attributes"]
    assert alerts["columns"] == ["window_start", "brand", "severity", "reason", "observed_negative",
                                 "expected_negative"]
    assert alerts["sort"] == [["window_start", "desc"]]

    sources = {layer["sourceDescriptor"]["type"]: layer["sourceDescriptor"]
               for layer in map_layers(one(OBJECTS, "brandpulse-mention-map"))}
    assert sources["ES_GEO_GRID"]["geoField"] == sources["ES_SEARCH"]["geoField"] == "place_points"
    assert {"brand", "text", "url"} <= set(sources["ES_SEARCH"]["tooltipProperties"])


# ------------------------------------------------------------------ fields against the ES mapping

AGGREGATABLE = {"keyword", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float",
                "unsigned_long", "date", "date_nanos", "boolean", "ip", "geo_point"}


def flatten(properties: dict[str, Any], prefix: str = "", enabled: bool = True) -> dict[str, dict[str, Any]]:
    """Field path -> mapping (plus ``enabled``: false under an ``enabled: false`` object);
    objects included, multi-fields such as ``text.keyword`` as their own paths."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec or spec.get("type") == "object":
            inner = enabled and spec.get("enabled", True)
            out[path] = {"type": "object", "enabled": inner}
            out.update(flatten(spec.get("properties", {}), f"{path}.", inner))
            continue
        out[path] = {**spec, "enabled": enabled}
        for sub, sub_spec in spec.get("fields", {}).items():
            out[f"{path}.{sub}"] = {**sub_spec, "enabled": enabled}
    return out


MAPPINGS = {"mentions": flatten(templates.MENTION_PROPERTIES), "alerts": flatten(templates.ALERT_PROPERTIES)}


def test_flatten_sees_sub_fields_objects_and_disabled_objects() -> None:
    assert MAPPINGS["mentions"]["text.keyword"]["type"] == "keyword"
    assert MAPPINGS["mentions"]["text"]["type"] == "text"
    assert MAPPINGS["mentions"]["enrichment.sentiment"]["type"] == "object"
    assert MAPPINGS["alerts"]["top_mentions"] == {"type": "object", "enabled": False}


def mapping_of(objects: list[dict[str, Any]], view_id: str, prefix: str = "brandpulse") -> dict[str, dict[str, Any]]:
    pattern = one(objects, view_id)["attributes"]["title"]
    return MAPPINGS[{f"{prefix}-mentions*": "mentions", f"{prefix}-alerts*": "alerts"}[pattern]]


def test_data_view_patterns_match_the_indices_the_pipeline_writes() -> None:
    for prefix in ("brandpulse", "acme"):
        objects = k.load_objects(prefix)
        mentions = one(objects, f"{prefix}-mentions")["attributes"]["title"]
        alerts = one(objects, f"{prefix}-alerts")["attributes"]["title"]
        index = templates.mention_index(prefix, datetime(2026, 11, 3, tzinfo=UTC), "month")
        assert fnmatchcase(index, mentions) and fnmatchcase(templates.mentions_alias(prefix), mentions)
        assert fnmatchcase(templates.alerts_index(prefix), alerts)
        assert not fnmatchcase(templates.alerts_index(prefix), mentions) and not fnmatchcase(index, alerts)
        bodies = templates.template_bodies(prefix)
        assert bodies[f"{prefix}-mentions"]["index_patterns"] == [f"{prefix}-mentions-*"]


def test_data_view_time_fields_are_dates() -> None:
    views = of_type(OBJECTS, "index-pattern")
    assert {v["id"]: v["attributes"]["timeFieldName"] for v in views} == {
        "brandpulse-mentions": "created_at", "brandpulse-alerts": "window_start"}
    for view in views:
        assert mapping_of(OBJECTS, view["id"])[view["attributes"]["timeFieldName"]]["type"] == "date"


def test_field_references_cover_every_kind_of_use() -> None:
    refs = k.field_references(OBJECTS)
    for expected in [
        ("brandpulse-mentions", "brand"), ("brandpulse-mentions", "created_at"),
        ("brandpulse-mentions", "enrichment.sentiment.label"), ("brandpulse-mentions", "enrichment.hashtags"),
        ("brandpulse-mentions", "enrichment.keywords"), ("brandpulse-mentions", "enrichment.language.code"),
        ("brandpulse-mentions", "place_points"), ("brandpulse-mentions", "author.handle"),
        ("brandpulse-mentions", "text"), ("brandpulse-mentions", "url"), ("brandpulse-mentions", "source"),
        ("brandpulse-alerts", "window_start"), ("brandpulse-alerts", "severity"), ("brandpulse-alerts", "reason"),
        ("brandpulse-alerts", "observed_negative"), ("brandpulse-alerts", "expected_negative"),
    ]:
        assert expected in refs
    assert not any(field == "___records___" for _, field in refs)
    usages = {(u.field, u.usage) for u in k.field_usages(OBJECTS)}
    assert ("enrichment.sentiment.label", "filter") in usages  # from the KQL of the search and the formula
    assert ("created_at", "sort") in usages and ("place_points", "geo") in usages


def test_every_field_used_exists_in_the_mapping() -> None:
    views = {v["id"] for v in of_type(OBJECTS, "index-pattern")}
    for view, field in k.field_references(OBJECTS):
        assert view in views, f"{field} is read through unknown data view {view!r}"
        spec = mapping_of(OBJECTS, view).get(field)
        assert spec is not None, f"{field} is not in the {view} mapping"
        assert spec["type"] != "object", f"{field} is an object, not a field"
        assert spec["enabled"], f"{field} is inside an `enabled: false` object"


def test_fields_are_used_only_in_ways_their_type_supports() -> None:
    for use in k.field_usages(OBJECTS):
        spec = mapping_of(OBJECTS, use.data_view_id)[use.field]
        where = f"{use.object_id}: {use.field} ({spec['type']}) used for {use.usage}"
        if use.usage in {"aggregate", "sort", "time"}:
            assert spec["type"] in AGGREGATABLE and spec.get("doc_values", True), where
        if use.usage == "filter":
            assert spec.get("index", True) is not False, where
        if use.usage == "geo":
            assert spec["type"] == "geo_point", where
        if use.usage == "time":
            assert spec["type"] == "date", where


def test_field_walk_flags_a_text_field_used_for_a_terms_split() -> None:
    """The checks above are only as good as the walk: a Lens terms split on `text` (analysed,
    not aggregatable) must come out as an aggregation use."""
    broken = json.loads(json.dumps(OBJECTS))
    (layer,) = lens_layers(one(broken, "brandpulse-top-keywords")).values()
    (terms,) = [c for c in layer["columns"].values() if c["operationType"] == "terms"]
    terms["sourceField"] = "text"
    bad = [u for u in k.field_usages(broken) if u.usage == "aggregate"
           and mapping_of(broken, u.data_view_id)[u.field]["type"] not in AGGREGATABLE]
    assert [(u.object_id, u.field) for u in bad] == [("brandpulse-top-keywords", "text")]


def test_kql_fields() -> None:
    assert k.kql_fields('enrichment.sentiment.label : "negative"') == {"enrichment.sentiment.label"}
    assert k.kql_fields('brand:acme and not text : "a: b" or author.handle:x*') == {"brand", "text", "author.handle"}
    assert k.kql_fields("") == set()


# ------------------------------------------------------------------ prefix


def test_default_prefix_returns_the_file_unchanged() -> None:
    assert k.load_objects("brandpulse") == [json.loads(line) for line in k.OBJECTS_PATH.read_text().splitlines()]


def test_prefix_rewrite_renames_patterns_ids_references_and_titles() -> None:
    acme = k.load_objects("acme")
    assert acme == build_objects.build("acme"), "the rewrite and the generator agree on every field"
    dump = json.dumps(acme)
    assert "brandpulse-" not in dump
    assert {o["id"] for o in acme} == {o["id"].replace("brandpulse-", "acme-", 1) for o in OBJECTS}
    assert one(acme, "acme-mentions")["attributes"]["title"] == "acme-mentions*"
    assert one(acme, "acme-alerts")["attributes"]["title"] == "acme-alerts*"
    assert one(acme, "acme-brand-listening")["attributes"]["title"] == "BrandPulse — brand listening (acme)"
    keys = {(o["type"], o["id"]) for o in acme}
    assert all((ref["type"], ref["id"]) in keys for o in acme for ref in o["references"])
    assert {view for view, _ in k.field_references(acme)} == {"acme-mentions", "acme-alerts"}
    assert k.load_objects("pytest_kibana_1a2b") != OBJECTS
    assert k.dashboard_id("acme") == "acme-brand-listening"


@pytest.mark.parametrize("prefix", ["", "Acme", "-acme", "_acme", "ac me", "acme*", "a,b", "ac/me"])
def test_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="index prefix"):
        k.load_objects(prefix)


def test_parse_ndjson_skips_the_export_summary_and_reports_bad_lines() -> None:
    good = '{"id":"a","type":"lens","attributes":{"title":"t"}}\n\n{"exportedCount":1,"missingRefCount":0}\n'
    assert [o["id"] for o in k.parse_ndjson(good)] == ["a"]
    with pytest.raises(ValueError, match="line 2: not JSON"):
        k.parse_ndjson('{"id":"a","type":"lens","attributes":{}}\n{oops\n')
    with pytest.raises(ValueError, match="line 1: saved object without attributes"):
        k.parse_ndjson('{"id":"a","type":"lens"}\n')


# ------------------------------------------------------------------ import against a fake Kibana


class FakeKibana:
    """Answers ``GET /api/status`` from a script (the last answer repeats) and
    ``POST .../api/saved_objects/_import`` like Kibana: kbn-xsrf required, a multipart
    ``file`` ending in ``.ndjson``, then ``import_answer``."""

    def __init__(self) -> None:
        self.status_answers: list[tuple[int, dict[str, Any]]] = [(200, status_body("available"))]
        self.import_answer: tuple[int, dict[str, Any]] | None = None
        self.expected_auth: str | None = None
        self.status_requests = 0
        self.imports: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorised(self) -> bool:
                if fake.expected_auth and self.headers.get("Authorization") != fake.expected_auth:
                    self.answer(401, {"statusCode": 401, "error": "Unauthorized", "message": "[security_exception]"})
                    return False
                return True

            def do_GET(self) -> None:
                if urlsplit(self.path).path != "/api/status":
                    return self.answer(404, {"statusCode": 404, "error": "Not Found"})
                fake.status_requests += 1
                if not self.authorised():
                    return None
                status, body = fake.status_answers.pop(0) if len(fake.status_answers) > 1 else fake.status_answers[0]
                return self.answer(status, body)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not parts.path.endswith("/api/saved_objects/_import"):
                    return self.answer(404, {"statusCode": 404, "error": "Not Found"})
                if not self.authorised():
                    return None
                if self.headers.get("kbn-xsrf") is None:
                    return self.answer(400, {"statusCode": 400, "error": "Bad Request",
                                             "message": "Request must contain a kbn-xsrf header."})
                content_type = self.headers.get("Content-Type", "")
                message = BytesParser(policy=policy.HTTP).parsebytes(
                    f"Content-Type: {content_type}\r\n\r\n".encode() + body)
                files = {part.get_param("name", header="content-disposition"): part
                         for part in message.iter_parts()} if message.is_multipart() else {}
                if "file" not in files or not str(files["file"].get_filename()).endswith(".ndjson"):
                    return self.answer(415, {"statusCode": 415, "error": "Unsupported Media Type",
                                             "message": "Invalid file extension"})
                payload = files["file"].get_payload(decode=True)
                assert isinstance(payload, bytes)
                objects = [json.loads(line) for line in payload.decode().splitlines() if line.strip()]
                fake.imports.append({"path": parts.path, "query": parse_qs(parts.query),
                                     "headers": dict(self.headers), "content_type": content_type,
                                     "filename": files["file"].get_filename(), "objects": objects})
                if fake.import_answer:
                    return self.answer(*fake.import_answer)
                return self.answer(200, {"success": True, "successCount": len(objects), "errors": [],
                                         "successResults": [{"type": o["type"], "id": o["id"]} for o in objects],
                                         "warnings": []})

        return Handler


def status_body(level: str, saved_objects: str = "available") -> dict[str, Any]:
    return {"name": "kibana", "version": {"number": "8.19.7"},
            "status": {"overall": {"level": level, "summary": f"Kibana is {level}"},
                       "core": {"elasticsearch": {"level": "available"}, "savedObjects": {"level": saved_objects}}}}


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    fake = FakeKibana()
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join(timeout=5)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_import_waits_for_kibana_then_uploads_the_ndjson(kibana: FakeKibana) -> None:
    kibana.status_answers = [(503, status_body("unavailable", "unavailable")),
                             (503, status_body("critical", "unavailable")),
                             (200, status_body("available"))]
    kibana.expected_auth = basic("elastic", "s3cret")
    result = k.import_objects(kibana.url, OBJECTS, username="elastic", password="s3cret",
                              wait_seconds=10, poll_interval=0.01)
    assert result["success"] is True and result["successCount"] == len(OBJECTS)
    assert kibana.status_requests == 3
    (sent,) = kibana.imports
    assert sent["path"] == "/api/saved_objects/_import"
    assert sent["query"] == {"overwrite": ["true"]}
    assert sent["headers"]["kbn-xsrf"] == "true"
    assert sent["content_type"].startswith("multipart/form-data; boundary=")
    assert sent["filename"] == "brandpulse.ndjson"
    assert sent["objects"] == OBJECTS


def test_import_into_a_space_with_an_api_key(kibana: FakeKibana) -> None:
    kibana.expected_auth = "ApiKey a2V5OnNlY3JldA=="
    acme = k.load_objects("acme")
    result = k.import_objects(kibana.url + "/", acme, api_key="a2V5OnNlY3JldA==", space="analysts",
                              poll_interval=0.01)
    assert result["successCount"] == len(acme)
    (sent,) = kibana.imports
    assert sent["path"] == "/s/analysts/api/saved_objects/_import"
    assert {o["id"] for o in sent["objects"]} == {o["id"] for o in acme}
    k.import_objects(kibana.url, acme, api_key="a2V5OnNlY3JldA==", space="default", poll_interval=0.01)
    assert kibana.imports[1]["path"] == "/api/saved_objects/_import"


def test_degraded_kibana_with_saved_objects_available_is_good_enough(kibana: FakeKibana) -> None:
    kibana.status_answers = [(200, status_body("degraded", "unavailable")), (200, status_body("degraded"))]
    k.import_objects(kibana.url, OBJECTS[:1], wait_seconds=10, poll_interval=0.01)
    assert kibana.status_requests == 2 and len(kibana.imports) == 1


def test_per_object_errors_are_raised_with_kibanas_details(kibana: FakeKibana) -> None:
    errors = [{"id": "brandpulse-volume-by-brand", "type": "lens", "title": "Volume by brand",
               "meta": {"title": "Volume by brand", "icon": "lensApp"},
               "error": {"type": "missing_references",
                         "references": [{"type": "index-pattern", "id": "brandpulse-mentions"}]}},
              {"id": "brandpulse-brand-listening", "type": "dashboard", "title": "BrandPulse — brand listening",
               "error": {"type": "unknown", "message": "Document has an invalid panelsJSON", "statusCode": 400}}]
    kibana.import_answer = (200, {"success": False, "successCount": 11, "errors": errors})
    with pytest.raises(k.KibanaImportError) as raised:
        k.import_objects(kibana.url, OBJECTS, poll_interval=0.01)
    message = str(raised.value)
    assert f"imported 11 of {len(OBJECTS)} objects" in message
    assert "lens/brandpulse-volume-by-brand (Volume by brand): missing references index-pattern/brandpulse-mentions" in message
    assert "dashboard/brandpulse-brand-listening" in message and "invalid panelsJSON" in message
    assert raised.value.errors == errors
    assert raised.value.response is not None and raised.value.response["successCount"] == 11


def test_a_refused_import_request_is_an_error(kibana: FakeKibana) -> None:
    kibana.import_answer = (400, {"statusCode": 400, "error": "Bad Request",
                                  "message": "Non-unique import objects detected: [lens:x]"})
    with pytest.raises(k.KibanaImportError, match=r"HTTP 400\): Non-unique import objects detected"):
        k.import_objects(kibana.url, OBJECTS, poll_interval=0.01)


def test_the_wait_for_kibana_is_bounded(kibana: FakeKibana) -> None:
    kibana.status_answers = [(503, status_body("unavailable", "unavailable"))]
    with pytest.raises(k.KibanaImportError, match=r"did not become available within 0.3s .*HTTP 503, unavailable"):
        k.import_objects(kibana.url, OBJECTS, wait_seconds=0.3, poll_interval=0.05)
    assert 2 <= kibana.status_requests <= 10
    assert kibana.imports == []


def test_wrong_credentials_fail_at_once(kibana: FakeKibana) -> None:
    kibana.expected_auth = basic("elastic", "right")
    with pytest.raises(k.KibanaImportError, match="rejected the credentials"):
        k.import_objects(kibana.url, OBJECTS, username="elastic", password="wrong", wait_seconds=30)
    assert kibana.status_requests == 1 and kibana.imports == []


def test_unreachable_kibana_is_reported_after_the_wait() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(k.KibanaImportError, match=r"did not become available .*ConnectionError"):
        k.import_objects(f"http://127.0.0.1:{port}", OBJECTS, wait_seconds=0.2, poll_interval=0.05, timeout=1)


def test_credentials_must_be_one_kind_and_complete() -> None:
    with pytest.raises(ValueError, match="not both"):
        k.import_objects("http://127.0.0.1:9", OBJECTS, username="elastic", password="x", api_key="k")
    with pytest.raises(ValueError, match="needs a password"):
        k.import_objects("http://127.0.0.1:9", OBJECTS, username="elastic")
