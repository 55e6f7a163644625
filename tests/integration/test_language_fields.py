"""Real Elasticsearch: per-language sub-fields. The local node has no built-in language analysers,
so setup falls back to the light stop-word analysers; this exercises the whole path (probe →
template → document → analysed sub-field → search) plus the additive mapping upgrade."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from brandpulse.esclient import make_es, mentions_alias
from brandpulse.schema import Enrichment, Language, Mention, Sentiment
from brandpulse.settings import Settings
from index.analysis import probe_languages
from index.indexer import BulkIndexer
from index.search import build_query, search
from index.templates import MAPPING_VERSION, apply_templates, mention_index

pytestmark = pytest.mark.integration
T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
TEXTS = {
    "en": "The flights to Karachi are late again",
    "es": "Los vuelos de la aerolínea llegan tarde",
    "ar": "الرحلات في المطار متأخرة",
    "ur": "نمبس ایئر کی پرواز پھر لیٹ ہے",
    "ka": "ფრენა ისევ აგვიანებს",
}


def mention(i: int, lang: str, created_at: datetime = T) -> Mention:
    enrichment = Enrichment(version="t", language=Language(code=lang, confidence=0.9, method="t"),
                            sentiment=Sentiment(label="negative", score=-0.5, confidence=0.8, method="t"),
                            enriched_at=created_at)
    return Mention.new(source="replay", feed="t", native_id=f"n{i}", brand="Acme", text=TEXTS[lang],
                       created_at=created_at, enrichment=enrichment)


def rec(m: Mention, offset: int) -> ConsumerRecord:
    value = m.to_bytes()
    return ConsumerRecord("t", 0, -1, offset, 0, 0, b"k", value, [], None, 1, len(value), 0)


def tokens(es: Any, index: str, field: str, text: str) -> list[str]:
    return [t["token"] for t in es.indices.analyze(index=index, field=field, text=text)["tokens"]]


def test_language_sub_fields_are_analysed_and_searched(make_settings: Callable[..., Settings]) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    probed = probe_languages(es)
    # this node (integ-test-zip) lacks analysis-common: light analysers for the stop-listed languages
    assert probed["en"] == "brandpulse_light_english" and probed["ar"] == "brandpulse_light_arabic"
    assert "ur" not in probed and "ka" not in probed
    apply_templates(es, prefix)
    template = es.indices.get_index_template(name=f"{prefix}-mentions")["index_templates"][0]["index_template"]
    assert template["_meta"]["text_languages"] == probed and template["_meta"]["mapping_version"] == MAPPING_VERSION

    ix = BulkIndexer(es, prefix, s.index)
    assert ix.handle([rec(mention(i, lang), i) for i, lang in enumerate(TEXTS)]).failures == []
    index = mention_index(prefix, T, "month")
    es.indices.refresh(index=index)
    # the sub-field really uses the language's analyser: stop words go, scripts are kept
    assert tokens(es, index, "text_lang.en", "The flights ARE late") == ["flights", "late"]
    assert tokens(es, index, "text_lang.es", "Los vuelos de la aerolínea") == ["vuelos", "aerolínea"]
    assert tokens(es, index, "text_lang.ar", "الرحلات في المطار") == ["الرحلات", "المطار"]
    assert tokens(es, index, "text", "The flights ARE late") == ["the", "flights", "are", "late"]

    def count(query: dict[str, Any]) -> int:
        return int(es.count(index=mentions_alias(prefix), query=query)["count"])

    # each mention fills only its own language's sub-field; Urdu and Georgian have none
    for lang in ("en", "es", "ar"):
        assert count({"exists": {"field": f"text_lang.{lang}"}}) == 1
    assert count({"exists": {"field": "text_lang.ur"}}) == 0 and count({"exists": {"field": "text_lang.ka"}}) == 0
    assert count({"match": {"text_lang.en": "the"}}) == 0 and count({"match": {"text": "the"}}) == 1
    # `brandpulse search` words match through text and text_lang.*, in every script
    for words, lang in [("flights late", "en"), ("vuelos", "es"), ("المطار", "ar"), ("پرواز", "ur"),
                        ("ფრენა", "ka")]:
        rows = search(es, mentions_alias(prefix), build_query(text=words, brand=None, sentiment=None, since=None,
                                                              until=None), 10)
        assert [r["enrichment"]["language"]["code"] for r in rows] == [lang], words


def test_setup_adds_language_fields_to_existing_indices_without_losing_data(
    make_settings: Callable[..., Settings],
) -> None:
    s = make_settings()
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    apply_templates(es, prefix, languages={})  # as a v1 cluster had it: no text_lang fields
    ix = BulkIndexer(es, prefix, s.index)
    assert ix.handle([rec(mention(0, "en"), 0)]).failures == []
    index = mention_index(prefix, T, "month")

    # additive: a built-in analyser (here `simple`, which this node has) goes onto the old index
    apply_templates(es, prefix, languages={"en": "simple"})
    props = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert props["text_lang"]["properties"]["en"] == {"type": "text", "analyzer": "simple"}
    # a light analyser would need new index settings (closed index): skipped, logged, setup succeeds
    apply_templates(es, prefix)
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    assert set(mapping["properties"]["text_lang"]["properties"]) == {"en"}
    assert mapping["properties"]["text_lang"]["properties"]["en"]["analyzer"] == "simple"  # not changed in place
    assert mapping["_meta"]["text_languages"] == {"en": "simple"}
    # old data still there and searchable; new documents get the new field where it exists
    assert ix.handle([rec(mention(1, "en"), 1), rec(mention(2, "es"), 2)]).failures == []
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 3
    assert es.count(index=index, query={"exists": {"field": "text_lang.en"}})["count"] == 1  # the new one
    # a new period's index gets the whole current template
    new_index = mention_index(prefix, datetime(2026, 12, 1, tzinfo=UTC), "month")
    es.indices.create(index=new_index)
    new_props = es.indices.get_mapping(index=new_index)[new_index]["mappings"]["properties"]
    assert new_props["text_lang"]["properties"]["en"]["analyzer"] == "brandpulse_light_english"
