"""Generates ``brandpulse.ndjson``: the Kibana 8.19 saved objects for analysts.

The NDJSON file is the artifact (``index/kibana_import.py`` loads and imports it); this module
is how it is made, because Lens and dashboard state is JSON nested inside JSON strings and is
not something to edit by hand. After a change run::

    python -m index.kibana.build_objects        # rewrites index/kibana/brandpulse.ndjson

``tests/unit/test_kibana_objects.py`` fails when the file and this generator disagree.

Shapes follow Kibana's own sample data and fixtures (see docs/KIBANA.md, "How the objects were
checked"): Lens ``formBased`` layers referenced through ``indexpattern-datasource-layer-<id>``,
dashboard panels by reference (``panelRefName`` + a ``<panelIndex>:panel_<panelIndex>``
reference), the saved-search ``searchSourceJSON.index`` reference, map layers through
``layer_<n>_source_index_pattern``. Every object carries ``coreMigrationVersion`` and
``typeMigrationVersion``: without them the import API runs every migration of the type from
the very first one, and old Lens/dashboard migrations assume pre-8 document shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from brandpulse.esclient import alerts_index, mentions_alias

DEFAULT_PREFIX = "brandpulse"
NDJSON_PATH = Path(__file__).with_name("brandpulse.ndjson")

CORE_MIGRATION_VERSION = "8.8.0"
# The latest legacy migration of each type we write in its current shape (model versions, which
# newer types add on top, are later than these and still run). Never higher than the type knows:
# Kibana rejects documents "from a more recent version".
TYPE_MIGRATION_VERSION = {
    "index-pattern": "7.11.0",
    "search": "7.9.3",
    "lens": "8.9.0",
    "map": "8.4.0",
    "dashboard": "8.9.0",
}
PANEL_VERSION = "8.9.0"

RECORDS = "___records___"  # Lens' pseudo-field for "count of documents"
NEGATIVE_KQL = 'enrichment.sentiment.label : "negative"'


def _ids(prefix: str) -> dict[str, str]:
    return {
        "mentions": mentions_alias(prefix),
        "alerts": alerts_index(prefix),
        "volume": f"{prefix}-volume-by-brand",
        "sentiment": f"{prefix}-sentiment-over-time",
        "negative_share": f"{prefix}-negative-share-by-brand",
        "hashtags": f"{prefix}-top-hashtags",
        "keywords": f"{prefix}-top-keywords",
        "languages": f"{prefix}-language-split",
        "alerts_timeline": f"{prefix}-alerts-timeline",
        "map": f"{prefix}-mention-map",
        "negative_search": f"{prefix}-latest-negative-mentions",
        "alerts_search": f"{prefix}-recent-alerts",
        "dashboard": f"{prefix}-brand-listening",
        "sov_volume": f"{prefix}-share-of-voice",
        "sov_negative": f"{prefix}-negative-share-by-group",
        "sov_stories": f"{prefix}-stories-by-group",
        "stories": f"{prefix}-largest-stories",
        "sov_dashboard": f"{prefix}-share-of-voice-dashboard",
    }


def _title(title: str, prefix: str) -> str:
    return title if prefix == DEFAULT_PREFIX else f"{title} ({prefix})"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _saved_object(obj_type: str, obj_id: str, attributes: dict[str, Any],
                  references: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": obj_id,
        "type": obj_type,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION[obj_type],
        "managed": False,
    }


# ------------------------------------------------------------------ data views


def _data_view(obj_id: str, pattern: str, name: str, time_field: str,
               field_formats: dict[str, Any]) -> dict[str, Any]:
    return _saved_object("index-pattern", obj_id, {
        "title": pattern,
        "name": name,
        "timeFieldName": time_field,
        "fields": "[]",
        "fieldFormatMap": _dumps(field_formats),
        "runtimeFieldMap": "{}",
        "sourceFilters": "[]",
        "typeMeta": "{}",
    }, [])


# ------------------------------------------------------------------ Lens building blocks


def _count(label: str = "Mentions") -> dict[str, Any]:
    return {"label": label, "customLabel": True, "dataType": "number", "operationType": "count",
            "isBucketed": False, "scale": "ratio", "sourceField": RECORDS, "params": {"emptyAsNull": True}}


def _date_histogram(field: str) -> dict[str, Any]:
    return {"label": field, "dataType": "date", "operationType": "date_histogram", "sourceField": field,
            "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}


def _terms(field: str, label: str, size: int, order_by: dict[str, Any], direction: str,
           other_bucket: bool) -> dict[str, Any]:
    return {"label": label, "customLabel": True, "dataType": "string", "operationType": "terms",
            "sourceField": field, "isBucketed": True, "scale": "ordinal",
            "params": {"size": size, "orderBy": order_by, "orderDirection": direction,
                       "otherBucket": other_bucket, "missingBucket": False, "parentFormat": {"id": "terms"},
                       "include": [], "exclude": [], "includeIsRegex": False, "excludeIsRegex": False}}


def _top(field: str, label: str, size: int, count_column: str, other_bucket: bool = True) -> dict[str, Any]:
    return _terms(field, label, size, {"type": "column", "columnId": count_column}, "desc", other_bucket)


def _xy(layer_id: str, series: str, x: str, accessors: list[str], split: str | None = None,
        legend: str = "right") -> dict[str, Any]:
    layer: dict[str, Any] = {"layerId": layer_id, "layerType": "data", "seriesType": series,
                             "xAccessor": x, "accessors": accessors, "position": "top",
                             "showGridlines": False}
    if split:
        layer["splitAccessor"] = split
    return {
        "legend": {"isVisible": split is not None, "position": legend, "legendSize": "auto"},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "axisTitlesVisibilitySettings": {"x": False, "yLeft": False, "yRight": True},
        "tickLabelsVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "labelsOrientation": {"x": 0, "yLeft": 0, "yRight": 0},
        "gridlinesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "yLeftExtent": {"mode": "full"},
        "yRightExtent": {"mode": "full"},
        "preferredSeriesType": series,
        "layers": [layer],
    }


def _lens(obj_id: str, title: str, description: str, vis_type: str, data_view_id: str, layer_id: str,
          columns: dict[str, dict[str, Any]], column_order: list[str],
          visualization: dict[str, Any]) -> dict[str, Any]:
    state = {
        "visualization": visualization,
        "query": {"query": "", "language": "kuery"},
        "filters": [],
        "datasourceStates": {"formBased": {"layers": {layer_id: {
            "columns": columns, "columnOrder": column_order, "incompleteColumns": {}}}}},
        "internalReferences": [],
        "adHocDataViews": {},
    }
    return _saved_object("lens", obj_id, {
        "title": title,
        "description": description,
        "visualizationType": vis_type,
        "state": state,
    }, [{"type": "index-pattern", "id": data_view_id, "name": f"indexpattern-datasource-layer-{layer_id}"}])


def _split_over_time(obj_id: str, title: str, description: str, data_view_id: str, layer: str,
                     time_field: str, split_field: str, split_label: str, split_size: int,
                     series: str) -> dict[str, Any]:
    split, x, count = f"{layer}-split", f"{layer}-time", f"{layer}-count"
    columns = {
        split: _top(split_field, split_label, split_size, count),
        x: _date_histogram(time_field),
        count: _count(),
    }
    return _lens(obj_id, title, description, "lnsXY", data_view_id, layer, columns, [split, x, count],
                 _xy(layer, series, x, [count], split))


def _top_values_bar(obj_id: str, title: str, description: str, data_view_id: str, layer: str,
                    field: str, label: str, size: int) -> dict[str, Any]:
    terms, count = f"{layer}-terms", f"{layer}-count"
    columns = {terms: _top(field, label, size, count, other_bucket=False), count: _count()}
    return _lens(obj_id, title, description, "lnsXY", data_view_id, layer, columns, [terms, count],
                 _xy(layer, "bar_horizontal", terms, [count]))


def _negative_share(obj_id: str, title: str, data_view_id: str, by_group: bool = False) -> dict[str, Any]:
    """Lens formula ``count(kql=negative) / count()`` per brand (per competitor group and brand with
    ``by_group``), stored the way Lens stores a formula: the formula column plus its generated
    helper columns (X0, X1 and the math X2)."""
    layer = "negative-share-group" if by_group else "negative-share"
    brand, share, group = f"{layer}-brand", f"{layer}-share", f"{layer}-group"
    x0, x1, x2 = f"{share}X0", f"{share}X1", f"{share}X2"
    formula = f"count(kql='{NEGATIVE_KQL}') / count()"
    part = "Part of Negative share"
    columns: dict[str, dict[str, Any]] = {
        brand: _terms("brand", "Brand", 20, {"type": "alphabetical", "fallback": True}, "asc", False),
        x0: {"label": part, "customLabel": True, "dataType": "number", "operationType": "count",
             "isBucketed": False, "scale": "ratio", "sourceField": RECORDS,
             "filter": {"query": NEGATIVE_KQL, "language": "kuery"}, "params": {"emptyAsNull": False}},
        x1: {"label": part, "customLabel": True, "dataType": "number", "operationType": "count",
             "isBucketed": False, "scale": "ratio", "sourceField": RECORDS, "params": {"emptyAsNull": False}},
        x2: {"label": part, "customLabel": True, "dataType": "number", "operationType": "math",
             "isBucketed": False, "scale": "ratio", "references": [x0, x1],
             "params": {"tinymathAst": {"type": "function", "name": "divide", "args": [x0, x1],
                                        "location": {"min": 0, "max": len(formula)}, "text": formula}}},
        share: {"label": "Negative share", "customLabel": True, "dataType": "number",
                "operationType": "formula", "isBucketed": False, "scale": "ratio", "references": [x2],
                "params": {"formula": formula, "isFormulaBroken": False,
                           "format": {"id": "percent", "params": {"decimals": 1}}}},
    }
    if not by_group:
        return _lens(obj_id, title,
                     "Share of each brand's mentions whose sentiment is negative, in the selected time range.",
                     "lnsXY", data_view_id, layer, columns, [brand, x0, x1, x2, share],
                     _xy(layer, "bar_horizontal", brand, [share]))
    columns[group] = _terms("brand_groups", "Competitor group", 10, {"type": "alphabetical", "fallback": True},
                            "asc", False)
    return _lens(obj_id, title,
                 "Negative share of each brand beside its competitors (the competitors: groups of the config).",
                 "lnsXY", data_view_id, layer, columns, [group, brand, x0, x1, x2, share],
                 _xy(layer, "bar", group, [share], brand))


def _by_group_and_brand(obj_id: str, title: str, description: str, data_view_id: str, layer: str,
                        metric: dict[str, Any], series: str) -> dict[str, Any]:
    """One bar group per competitor group (``brand_groups``), one bar per brand in it."""
    group, brand, value = f"{layer}-group", f"{layer}-brand", f"{layer}-value"
    columns = {
        group: _top("brand_groups", "Competitor group", 10, value, other_bucket=False),
        brand: _top("brand", "Brand", 20, value, other_bucket=False),
        value: metric,
    }
    return _lens(obj_id, title, description, "lnsXY", data_view_id, layer, columns, [group, brand, value],
                 _xy(layer, series, group, [value], brand))


def _unique_stories() -> dict[str, Any]:
    return {"label": "Stories", "customLabel": True, "dataType": "number", "operationType": "unique_count",
            "isBucketed": False, "scale": "ratio", "sourceField": "enrichment.story_id",
            "params": {"emptyAsNull": True}}


def _language_split(obj_id: str, title: str, data_view_id: str) -> dict[str, Any]:
    layer = "language-split"
    lang, count = f"{layer}-language", f"{layer}-count"
    columns = {lang: _top("enrichment.language.code", "Language", 10, count), count: _count()}
    visualization = {"shape": "donut", "layers": [{
        "layerId": layer, "layerType": "data", "primaryGroups": [lang], "metrics": [count],
        "numberDisplay": "percent", "categoryDisplay": "default", "legendDisplay": "default",
        "nestedLegend": False}]}
    return _lens(obj_id, title, "Detected language of the mentions (ISO 639-1).", "lnsPie", data_view_id,
                 layer, columns, [lang, count], visualization)


# ------------------------------------------------------------------ saved searches, map


def _search(obj_id: str, title: str, description: str, data_view_id: str, columns: list[str],
            sort_field: str, kql: str) -> dict[str, Any]:
    source = {"query": {"query": kql, "language": "kuery"}, "filter": [],
              "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}
    return _saved_object("search", obj_id, {
        "title": title,
        "description": description,
        "columns": columns,
        "sort": [[sort_field, "desc"]],
        "grid": {},
        "hideChart": True,
        "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _dumps(source)},
    }, [{"type": "index-pattern", "id": data_view_id, "name": "kibanaSavedObjectMeta.searchSourceJSON.index"}])


def _dynamic(field: str, **options: Any) -> dict[str, Any]:
    return {"type": "DYNAMIC", "options": {
        "field": {"name": field, "origin": "source"},
        "fieldMetaOptions": {"isEnabled": True, "sigma": 3}, **options}}


def _map(obj_id: str, title: str, data_view_id: str) -> dict[str, Any]:
    """A Maps saved object: EMS basemap, mentions clustered on a geotile grid of ``place_points``
    (zoom 0-9) and the individual mentions with a tooltip (zoom 9+)."""
    basemap = {
        "id": "basemap", "label": None, "type": "EMS_VECTOR_TILE", "minZoom": 0, "maxZoom": 24,
        "alpha": 1, "visible": True, "includeInFitToBounds": True,
        "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True, "lightModeDefault": "road_map_desaturated"},
        "style": {"type": "EMS_VECTOR_TILE", "color": ""},
    }
    grid = {
        "id": "mention-clusters", "label": "Mentions (clusters)", "type": "GEOJSON_VECTOR",
        "minZoom": 0, "maxZoom": 9, "alpha": 0.85, "visible": True, "includeInFitToBounds": True, "joins": [],
        "sourceDescriptor": {
            "type": "ES_GEO_GRID", "id": "mention-clusters-source", "geoField": "place_points",
            "requestType": "point", "resolution": "COARSE", "metrics": [{"type": "count", "label": "mentions"}],
            "applyGlobalQuery": True, "applyGlobalTime": True, "applyForceRefresh": True,
            "indexPatternRefName": "layer_1_source_index_pattern"},
        "style": {"type": "VECTOR", "isTimeAware": True, "properties": {
            "fillColor": _dynamic("doc_count", color="Yellow to Red", type="ORDINAL"),
            "lineColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
            "lineWidth": {"type": "STATIC", "options": {"size": 1}},
            "iconSize": _dynamic("doc_count", minSize=7, maxSize=32),
            "labelText": {"type": "DYNAMIC", "options": {"field": {"name": "doc_count", "origin": "source"}}},
            "labelColor": {"type": "STATIC", "options": {"color": "#000000"}},
            "labelSize": {"type": "STATIC", "options": {"size": 12}},
            "symbolizeAs": {"options": {"value": "circle"}},
            "icon": {"type": "STATIC", "options": {"value": "marker"}}}},
    }
    documents = {
        "id": "mention-documents", "label": "Mentions", "type": "GEOJSON_VECTOR",
        "minZoom": 9, "maxZoom": 24, "alpha": 1, "visible": True, "includeInFitToBounds": True, "joins": [],
        "sourceDescriptor": {
            "type": "ES_SEARCH", "id": "mention-documents-source", "geoField": "place_points",
            "scalingType": "LIMIT", "filterByMapBounds": True,
            "tooltipProperties": ["created_at", "brand", "author.handle", "enrichment.sentiment.label", "text", "url"],
            "sortField": "created_at", "sortOrder": "desc", "topHitsSplitField": "", "topHitsSize": 1,
            "applyGlobalQuery": True, "applyGlobalTime": True, "applyForceRefresh": True,
            "indexPatternRefName": "layer_2_source_index_pattern"},
        "style": {"type": "VECTOR", "isTimeAware": True, "properties": {
            "fillColor": {"type": "STATIC", "options": {"color": "#E7664C"}},
            "lineColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
            "lineWidth": {"type": "STATIC", "options": {"size": 1}},
            "iconSize": {"type": "STATIC", "options": {"size": 6}},
            "symbolizeAs": {"options": {"value": "circle"}},
            "icon": {"type": "STATIC", "options": {"value": "marker"}}}},
    }
    map_state = {"zoom": 1.4, "center": {"lon": 0, "lat": 20},
                 "timeFilters": {"from": "now-7d", "to": "now"},
                 "refreshConfig": {"isPaused": True, "interval": 0},
                 "query": {"query": "", "language": "kuery"}, "filters": [],
                 "settings": {"autoFitToDataBounds": False}}
    return _saved_object("map", obj_id, {
        "title": title,
        "description": "Where mentions come from: post geotags and places named in the text (place_points).",
        "mapStateJSON": _dumps(map_state),
        "layerListJSON": _dumps([basemap, grid, documents]),
        "uiStateJSON": _dumps({"isLayerTOCOpen": False, "openTOCDetails": []}),
    }, [{"type": "index-pattern", "id": data_view_id, "name": "layer_1_source_index_pattern"},
        {"type": "index-pattern", "id": data_view_id, "name": "layer_2_source_index_pattern"}])


# ------------------------------------------------------------------ dashboard

# (panel index, object key, x, y, w, h): a 48-column grid.
LAYOUT = [
    ("volume", "volume", 0, 0, 24, 13),
    ("sentiment", "sentiment", 24, 0, 24, 13),
    ("negative-share", "negative_share", 0, 13, 16, 13),
    ("hashtags", "hashtags", 16, 13, 16, 13),
    ("keywords", "keywords", 32, 13, 16, 13),
    ("languages", "languages", 0, 26, 14, 15),
    ("map", "map", 14, 26, 34, 15),
    ("negative-mentions", "negative_search", 0, 41, 48, 16),
    ("alerts-timeline", "alerts_timeline", 0, 57, 20, 14),
    ("alerts", "alerts_search", 20, 57, 28, 14),
]

# Options-list controls above the panels (control id, field, title).
CONTROLS = [
    ("control-brand", "brand", "Brand"),
    ("control-sentiment", "enrichment.sentiment.label", "Sentiment"),
    ("control-source", "source", "Source"),
]


# The share-of-voice dashboard: brands side by side within their competitor groups.
SOV_LAYOUT = [
    ("sov-volume", "sov_volume", 0, 0, 24, 15),
    ("sov-negative", "sov_negative", 24, 0, 24, 15),
    ("sov-stories", "sov_stories", 0, 15, 24, 15),
    ("stories", "stories", 24, 15, 24, 15),
]
SOV_CONTROLS = [
    ("control-group", "brand_groups", "Competitor group"),
    ("control-sov-brand", "brand", "Brand"),
]


def _dashboard(obj_id: str, title: str, description: str, ids: dict[str, str], types: dict[str, str],
               layout: list[tuple[str, str, int, int, int, int]],
               controls_spec: list[tuple[str, str, str]]) -> dict[str, Any]:
    panels, references = [], []
    for panel_index, key, x, y, w, h in layout:
        ref_name = f"panel_{panel_index}"
        embeddable: dict[str, Any] = {"enhancements": {}}
        if types[key] == "map":
            embeddable.update({"mapCenter": {"lat": 20, "lon": 0, "zoom": 1.4}, "isLayerTOCOpen": False,
                               "openTOCDetails": [], "hiddenLayers": []})
        panels.append({"version": PANEL_VERSION, "type": types[key], "panelIndex": panel_index,
                       "gridData": {"x": x, "y": y, "w": w, "h": h, "i": panel_index},
                       "embeddableConfig": embeddable, "panelRefName": ref_name})
        references.append({"type": types[key], "id": ids[key], "name": f"{panel_index}:{ref_name}"})
    controls = {}
    for order, (control_id, field, control_title) in enumerate(controls_spec):
        controls[control_id] = {"order": order, "width": "medium", "grow": True, "type": "optionsListControl",
                                "explicitInput": {"id": control_id, "fieldName": field, "title": control_title,
                                                  "selectedOptions": [], "enhancements": {}}}
        references.append({"type": "index-pattern", "id": ids["mentions"],
                           "name": f"controlGroup_{control_id}:optionsListDataView"})
    return _saved_object("dashboard", obj_id, {
        "title": title,
        "description": description,
        "panelsJSON": _dumps(panels),
        "optionsJSON": _dumps({"useMargins": True, "syncColors": True, "syncCursor": True,
                               "syncTooltips": False, "hidePanelTitles": False}),
        "timeRestore": True,
        "timeFrom": "now-7d",
        "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60000},
        "controlGroupInput": {
            "controlStyle": "oneLine",
            "chainingSystem": "HIERARCHICAL",
            "panelsJSON": _dumps(controls),
            "ignoreParentSettingsJSON": _dumps({"ignoreFilters": False, "ignoreQuery": False,
                                                "ignoreTimerange": False, "ignoreValidations": False}),
        },
        "kibanaSavedObjectMeta": {"searchSourceJSON": _dumps({"query": {"query": "", "language": "kuery"},
                                                              "filter": []})},
        "version": 1,
    }, references)


# ------------------------------------------------------------------ all objects


def build(prefix: str = DEFAULT_PREFIX) -> list[dict[str, Any]]:
    ids = _ids(prefix)
    mentions, alerts = ids["mentions"], ids["alerts"]
    objects = [
        _data_view(mentions, f"{prefix}-mentions*", _title("BrandPulse mentions", prefix), "created_at",
                   {"url": {"id": "url", "params": {"type": "a", "labelTemplate": "{{value}}",
                                                     "openLinkInCurrentTab": False}},
                    "enrichment.sentiment.score": {"id": "number", "params": {"pattern": "0.00"}}}),
        _data_view(alerts, f"{prefix}-alerts*", _title("BrandPulse alerts", prefix), "window_start",
                   {"negative_share": {"id": "percent", "params": {"pattern": "0.0%"}},
                    "expected_negative": {"id": "number", "params": {"pattern": "0.0"}},
                    "kibana_url": {"id": "url", "params": {"type": "a", "labelTemplate": "open",
                                                            "openLinkInCurrentTab": False}}}),
        _search(ids["negative_search"], _title("BrandPulse — latest negative mentions", prefix),
                "Mentions whose sentiment is negative, newest first; url links to the original post.",
                mentions, ["created_at", "brand", "author.handle", "text", "url"], "created_at", NEGATIVE_KQL),
        _search(ids["alerts_search"], _title("BrandPulse — alerts", prefix),
                "Alerts raised by the negative-spike detector, newest window first.",
                alerts, ["window_start", "brand", "severity", "reason", "observed_negative", "expected_negative"],
                "window_start", ""),
        _split_over_time(ids["volume"], _title("Volume by brand", prefix),
                         "Mentions per brand over time.", mentions, "volume", "created_at", "brand", "Brand", 10,
                         "bar_stacked"),
        _split_over_time(ids["sentiment"], _title("Sentiment over time", prefix),
                         "Mentions per sentiment label over time.", mentions, "sentiment", "created_at",
                         "enrichment.sentiment.label", "Sentiment", 5, "bar_stacked"),
        _negative_share(ids["negative_share"], _title("Negative share by brand", prefix), mentions),
        _top_values_bar(ids["hashtags"], _title("Top hashtags", prefix), "Most frequent hashtags in mentions.",
                        mentions, "hashtags", "enrichment.hashtags", "Hashtag", 15),
        _top_values_bar(ids["keywords"], _title("Top keywords", prefix),
                        "Most frequent keywords the enrichment extracted.", mentions, "keywords",
                        "enrichment.keywords", "Keyword", 15),
        _language_split(ids["languages"], _title("Language split", prefix), mentions),
        _split_over_time(ids["alerts_timeline"], _title("Alerts timeline", prefix),
                         "Alerts per severity, by the start of the window they fired for.", alerts,
                         "alerts-timeline", "window_start", "severity", "Severity", 5, "bar_stacked"),
        _map(ids["map"], _title("Mention locations", prefix), mentions),
        _by_group_and_brand(ids["sov_volume"], _title("Share of voice", prefix),
                            "Each brand's share of its competitor group's mentions.", mentions, "sov-volume",
                            _count(), "bar_percentage_stacked"),
        _negative_share(ids["sov_negative"], _title("Negative share beside competitors", prefix), mentions,
                        by_group=True),
        _by_group_and_brand(ids["sov_stories"], _title("Stories beside competitors", prefix),
                            "Distinct stories (reposts, copies and same-link posts count once) per brand.",
                            mentions, "sov-stories", _unique_stories(), "bar"),
        _top_values_bar(ids["stories"], _title("Largest stories", prefix),
                        "The stories with the most mentions (filter by brand to see one brand's).", mentions,
                        "stories", "enrichment.story_id", "Story", 15),
    ]
    types = {key: next(o["type"] for o in objects if o["id"] == obj_id) for key, obj_id in ids.items()
             if key not in ("dashboard", "sov_dashboard")}
    objects.append(_dashboard(
        ids["dashboard"], _title("BrandPulse — brand listening", prefix),
        "Mention volume, sentiment, negative share, hashtags, keywords, languages and places per "
        "brand; the latest negative mentions with links; the alerts the detector raised.",
        ids, types, LAYOUT, CONTROLS))
    objects.append(_dashboard(
        ids["sov_dashboard"], _title("BrandPulse — share of voice", prefix),
        "Brands beside their competitors (the competitors: groups of the config): share of the group's "
        "mentions, negative share, distinct stories; the largest stories.",
        ids, types, SOV_LAYOUT, SOV_CONTROLS))
    return objects


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(_dumps(obj) + "\n" for obj in objects)


def main() -> None:
    NDJSON_PATH.write_text(to_ndjson(build()), encoding="utf-8")
    print(f"wrote {NDJSON_PATH}")


if __name__ == "__main__":
    main()
