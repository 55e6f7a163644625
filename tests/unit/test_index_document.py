"""The indexer's fast paths are the slow paths' twins: ``document_json`` parses to exactly
``to_document``'s dict, and ``read_mention`` accepts exactly what ``Mention.from_bytes`` accepts,
with the same result or the same reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandpulse.schema import (
    MAX_RECORD_BYTES,
    Author,
    Engagement,
    Enrichment,
    Geo,
    Language,
    Location,
    Mention,
    SchemaError,
    Sentiment,
)
from index.indexer import read_mention
from index.templates import document_json, to_document

T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
text = st.text(st.characters(codec="utf-8"), max_size=60)
opt_text = st.none() | text
lat = st.floats(-90, 90, allow_nan=False)
lon = st.floats(-180, 180, allow_nan=False)
unit = st.floats(0, 1, allow_nan=False)
# Codes the mapping knows (text_lang filled), does not know (no sub-field), and regional forms.
lang = st.none() | st.sampled_from(["en", "ar", "ur", "ka", "es", "en-GB", "pt-BR", "xx", "und", ""])


@st.composite
def mentions(draw: st.DrawFn) -> Mention:
    enrichment = None
    if draw(st.booleans()):
        code = draw(lang)
        locations = draw(st.lists(st.builds(
            Location, name=text.filter(bool), country_code=st.none() | st.sampled_from(["PK", "GE"]),
            lat=st.none() | lat, lon=st.none() | lon,
            source=st.sampled_from(["post_geo", "author_profile", "text"]), confidence=unit), max_size=3))
        enrichment = Enrichment(
            version="t", language=Language(code=code, confidence=0.5, method="t") if code else None,
            sentiment=Sentiment(label=draw(st.sampled_from(["negative", "neutral", "positive", "unknown"])),
                                score=draw(st.floats(-1, 1, allow_nan=False)), confidence=draw(unit), method="t"),
            keywords=tuple(draw(st.lists(text, max_size=3))), hashtags=tuple(draw(st.lists(text, max_size=2))),
            locations=tuple(locations), enriched_at=T + timedelta(seconds=draw(st.integers(0, 10**6))))
    url = draw(st.none() | st.sampled_from(["https://www.example.com/a?b=1", "http://EXAMPLE.org", "not a url",
                                            "https://[::1]/x", "mailto:someone@example.com"]) | text)
    return Mention.new(
        source="replay", feed="f", native_id=draw(text.filter(bool)), brand="Acme", text=draw(text),
        created_at=T - timedelta(seconds=draw(st.integers(0, 10**8))), title=draw(opt_text), url=url,
        author=Author(handle=draw(opt_text), followers=draw(st.none() | st.integers(0, 2**62)),
                      location=draw(opt_text)),
        geo=draw(st.none() | st.builds(Geo, lat=lat, lon=lon)),
        engagement=Engagement(likes=draw(st.integers(0, 10**9))), lang=draw(lang), enrichment=enrichment,
    )


@given(mentions())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_document_json_is_to_document(m: Mention) -> None:
    raw = document_json(m, T)
    assert json.loads(raw) == to_document(m, T)
    raw.decode("utf-8")  # strict UTF-8: what Elasticsearch will read
    groups = {"Acme": ("Airlines", "All")}
    doc = json.loads(document_json(m, T, groups))
    assert doc == to_document(m, T, groups) and doc["brand_groups"] == ["Airlines", "All"]
    assert "brand_groups" not in to_document(m, T, {"Globex": ("All",)})


def outcome(fn: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", fn(raw)
    except SchemaError as exc:
        return "error", str(exc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8)
FIELDS = ["schema_version", "id", "source", "feed", "native_id", "brand", "matched_brands", "text", "title", "url",
          "author", "created_at", "fetched_at", "geo", "engagement", "lang", "enrichment", "unknown_field"]


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """Mostly near-valid records (a valid mention with fields replaced, removed or added), some
    raw JSON or bytes: the ways a record can be wrong that a producer could actually emit."""
    kind = draw(st.sampled_from(["valid", "mutated", "mutated", "mutated", "json", "bytes", "spliced"]))
    base = draw(mentions()).to_dict()
    if kind == "valid":
        return json.dumps(base, ensure_ascii=draw(st.booleans())).encode()
    if kind == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from(FIELDS))
            if draw(st.booleans()):
                base.pop(key, None)
            else:
                base[key] = draw(json_values | st.sampled_from(["2026-11-20T17:00:00Z", "2026-11-20", "1700000000",
                                                                1700000000, 1.5, "1", ["a"], {"lat": 1, "lon": 2}]))
        return json.dumps(base).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "spliced":  # valid JSON text with extra bytes around or inside it
        raw = json.dumps(base).encode()
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(max_size=4)) + raw[at:]
    return draw(st.binary(max_size=80))


@given(records())
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_read_mention_accepts_what_from_bytes_accepts(raw: bytes) -> None:
    assert outcome(read_mention, raw) == outcome(Mention.from_bytes, raw)


def test_read_mention_keeps_the_size_limit_and_its_reason() -> None:
    m = Mention.new(source="replay", feed="f", native_id="1", brand="Acme", text="x" * 50_000, created_at=T)
    raw = json.dumps({**m.to_dict(), "title": "y" * MAX_RECORD_BYTES}).encode()
    expected = outcome(Mention.from_bytes, raw)
    assert expected[0] == "error" and "over the" in expected[1]
    assert outcome(read_mention, raw) == expected
