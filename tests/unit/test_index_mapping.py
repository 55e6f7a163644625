"""The mentions mapping with per-language sub-fields, the probe that chooses them, the documents
that fill them, and the schema-version dead-letter reason — no Elasticsearch."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import BadRequestError
from kafka.consumer.fetcher import ConsumerRecord

from brandpulse.kafkaio import dead_letter_record
from brandpulse.schema import SCHEMA_VERSION, Enrichment, Language, Mention, SchemaError, Sentiment
from brandpulse.settings import IndexSettings
from index import analysis, templates
from index.indexer import BulkIndexer, NewerSchemaVersion

T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def mention(text: str = "The flights are late", *, detected: str | None = None, declared: str | None = None) -> Mention:
    enrichment = None
    if detected is not None:
        enrichment = Enrichment(version="t", language=Language(code=detected, confidence=0.9, method="t"),
                                sentiment=Sentiment(label="neutral", score=0, confidence=0.5, method="t"),
                                enriched_at=T)
    return Mention.new(source="replay", feed="t", native_id="n1", brand="Acme", text=text, created_at=T,
                       lang=declared, enrichment=enrichment)


def bad_request(message: str) -> BadRequestError:
    meta = ApiResponseMeta(status=400, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "localhost", 9200))
    return BadRequestError(message, meta, {"error": {"type": "illegal_argument_exception", "reason": message}})


class FakeIndices:
    def __init__(self, builtin: set[str], stop_filter: bool = True) -> None:
        self.builtin = builtin
        self.stop_filter = stop_filter
        self.calls: list[dict[str, Any]] = []

    def analyze(self, **body: Any) -> dict[str, Any]:
        self.calls.append(body)
        if "analyzer" in body and body["analyzer"] not in self.builtin:
            raise bad_request(f"failed to find global analyzer [{body['analyzer']}]")
        if "filter" in body and not self.stop_filter:
            raise bad_request("failed to find global filter under [lowercase]")
        return {"tokens": []}


class FakeEs:
    def __init__(self, builtin: set[str], stop_filter: bool = True) -> None:
        self.indices = FakeIndices(builtin, stop_filter)


# ------------------------------------------------------------------ probe → mapping


def test_full_distribution_gets_the_builtin_analysers_and_no_custom_analysis() -> None:
    every = set(analysis.LANGUAGE_ANALYZERS.values())
    langs = analysis.probe_languages(FakeEs(every))  # type: ignore[arg-type]
    assert langs["en"] == "english" and langs["ar"] == "arabic" and langs["es"] == "spanish"
    assert "ur" not in langs and "ka" not in langs  # no analyser exists: they stay on `text`
    body = templates.template_bodies("bp", langs)["bp-mentions"]
    mapping = body["template"]["mappings"]
    assert mapping["properties"]["text_lang"]["properties"]["en"] == {"type": "text", "analyzer": "english"}
    assert mapping["properties"]["text_lang"]["dynamic"] is False and mapping["dynamic"] is False
    assert "analysis" not in body["template"]["settings"]
    assert mapping["_meta"]["text_languages"] == langs == body["_meta"]["text_languages"]
    assert mapping["_meta"]["mapping_version"] == templates.MAPPING_VERSION == 3


def test_node_without_language_analysers_gets_light_stop_word_analysers() -> None:
    langs = analysis.probe_languages(FakeEs({"standard"}))  # type: ignore[arg-type]
    assert langs["en"] == "brandpulse_light_english" and langs["ar"] == "brandpulse_light_arabic"
    assert "zh" not in langs  # cjk has no server stop list: no sub-field rather than a wrong one
    body = templates.template_bodies("bp", langs)["bp-mentions"]["template"]
    an = body["settings"]["analysis"]
    assert an["analyzer"]["brandpulse_light_english"] == {
        "type": "custom", "tokenizer": "standard", "filter": ["lowercase", "brandpulse_light_english_stop"]}
    assert an["filter"]["brandpulse_light_english_stop"] == {"type": "stop", "stopwords": "_english_"}
    # every analyser a field refers to is defined
    used = {f["analyzer"] for f in body["mappings"]["properties"]["text_lang"]["properties"].values()}
    assert used == set(an["analyzer"])


def test_node_without_stop_filter_gets_no_language_fields() -> None:
    langs = analysis.probe_languages(FakeEs({"standard"}, stop_filter=False))  # type: ignore[arg-type]
    assert langs == {}
    body = templates.template_bodies("bp", langs)["bp-mentions"]["template"]
    assert body["mappings"]["properties"]["text_lang"]["properties"] == {}
    assert body["mappings"]["properties"]["text"]["analyzer"] == "standard"


def test_kibana_and_existing_callers_still_see_the_base_mapping() -> None:
    assert "text_lang" not in templates.MENTION_PROPERTIES
    assert templates.template_bodies("bp")["bp-mentions"]["_meta"]["text_languages"] == {}


# ------------------------------------------------------------------ documents


@pytest.mark.parametrize(("detected", "declared", "field"), [
    ("en", None, "en"), ("ar", "en", "ar"), (None, "en-GB", "en"), ("es", None, "es"),
    ("ur", None, None), ("ka", None, None), (None, None, None), ("xx", None, None),
])
def test_document_carries_the_text_once_more_for_its_language(detected: str | None, declared: str | None,
                                                              field: str | None) -> None:
    doc = templates.to_document(mention(detected=detected, declared=declared), T)
    if field is None:
        assert "text_lang" not in doc
    else:
        assert doc["text_lang"] == {field: "The flights are late"}


def test_additive_mapping_never_redefines_a_language_or_needs_a_missing_analyser() -> None:
    old = {"mappings": {"properties": {"text": {"type": "text"},
                                       "text_lang": {"properties": {"en": {"type": "text", "analyzer": "simple"}}}}},
           "settings": {"index": {"analysis": {"analyzer": {"brandpulse_light_arabic": {}}}}}}
    wanted = {"en": "english", "ar": "brandpulse_light_arabic", "es": "brandpulse_light_spanish", "fr": "french"}
    body = templates._additive_mention_mapping(old, wanted)
    added = body["properties"]["text_lang"]["properties"]
    assert set(added) == {"ar", "fr"}  # en exists (analysers cannot change); spanish light is not defined
    assert body["_meta"]["text_languages"] == {"en": "simple", "ar": "brandpulse_light_arabic", "fr": "french"}
    assert body["properties"]["text"] == templates.MENTION_PROPERTIES["text"]


# ------------------------------------------------------------------ newer schema


def rec(value: bytes, offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord("t", 0, -1, offset, 0, 0, b"k", value, [], None, 1, len(value), 0)


class NoBulk:
    def bulk(self, **_: Any) -> Any:
        raise AssertionError("nothing should be sent to Elasticsearch")


def test_newer_schema_version_is_dead_lettered_with_what_to_do() -> None:
    newer = json.loads(mention(detected="en").to_bytes())
    newer["schema_version"] = SCHEMA_VERSION + 1
    newer["a_field_from_the_future"] = {"x": 1}
    raw = json.dumps(newer).encode()
    ix = BulkIndexer(NoBulk(), "bp", IndexSettings())  # type: ignore[arg-type]
    (failure,) = ix.handle([rec(raw)]).failures
    assert isinstance(failure.error, NewerSchemaVersion) and isinstance(failure.error, SchemaError)
    assert str(failure.error).startswith(
        f"schema_version {SCHEMA_VERSION + 1} is newer than this indexer understands ({SCHEMA_VERSION}): "
        "upgrade the indexer, then replay the dead letters")
    letter = json.loads(dead_letter_record(stage="index", error=failure.error, value=raw, topic="t", partition=0,
                                           offset=0))
    assert letter["error_class"] == "NewerSchemaVersion" and "upgrade the indexer" in letter["error"]


@pytest.mark.parametrize("raw", [b"{broken", b'{"schema_version": 0}', b'{"schema_version": true}',
                                 b'{"schema_version": "9"}', b"[2]", b"\xff"])
def test_other_schema_errors_keep_their_own_reason(raw: bytes) -> None:
    ix = BulkIndexer(NoBulk(), "bp", IndexSettings())  # type: ignore[arg-type]
    (failure,) = ix.handle([rec(raw)]).failures
    assert type(failure.error) is SchemaError


@pytest.mark.parametrize("module", ["analysis", "retention"])
def test_module_docstring_examples(module: str) -> None:
    import importlib

    result = doctest.testmod(importlib.import_module(f"index.{module}"))
    assert result.attempted > 0 and result.failed == 0
