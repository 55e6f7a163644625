"""The enrichment pipeline (Enricher) and the text CLI (run_enrich_text)."""

from __future__ import annotations

import doctest
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from brandpulse.schema import Author, Geo, Mention
from enrich.pipeline import (
    ENRICHMENT_VERSION,
    MAX_PROCESS_CHARS,
    Enricher,
    EnrichmentFailure,
    prepare_text,
)
from enrich.textcli import mention_from_line, run_enrich_text

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(brand_terms={"acme": ["Acme", "Acme Corp"]}, freeze_gc=False)


def mk(text: str, i: int = 0, **kw: Any) -> Mention:
    return Mention.new(source="test", feed="unit", native_id=str(i), brand=kw.pop("brand", "acme"),
                       text=text, created_at=T0, fetched_at=T0, **kw)


def ok(result: Mention | EnrichmentFailure) -> Mention:
    assert isinstance(result, Mention), result
    assert result.enrichment is not None
    # the record must survive the trip through Kafka
    assert Mention.from_bytes(result.to_bytes()) == result
    return result


def test_enrich_one_result_per_input_in_order(enricher: Enricher) -> None:
    texts = ["Acme is great 😍", "Acme es pésimo en Madrid", "لاہور میں Acme کی سروس خراب ہے", "Acme-ის სერვისი კარგია"]
    out = enricher.enrich([mk(t, i) for i, t in enumerate(texts)])
    assert [ok(r).text for r in out] == texts
    e = [ok(r).enrichment for r in out]
    assert all(x is not None and x.version == ENRICHMENT_VERSION for x in e)
    assert [x.language.code if x and x.language else None for x in e] == ["en", "es", "ur", "ka"]
    assert all(x is not None and x.sentiment.label in ("negative", "neutral", "positive", "unknown") for x in e)


def test_enrichment_fields(enricher: Enricher) -> None:
    m = mk("Acme Corp support in Lahore is the worst, waited 3 hours 😡😡 #AcmeFail #پاکستان @AcmeHelp "
           "$ACME https://Acme.com/help/?utm_source=x#top",
           geo=Geo(lat=41.70, lon=44.80), author=Author(location="Tbilisi 🇬🇪"))
    e = ok(enricher.enrich([m])[0]).enrichment
    assert e is not None
    assert e.sentiment.label == "negative"
    assert e.hashtags == ("#acmefail", "#پاکستان")
    assert e.handles == ("@acmehelp",)
    assert e.cashtags == ("$ACME",)
    assert e.urls == ("https://acme.com/help",)
    assert e.emojis == ("😡",)
    assert e.keywords and all("acme" not in k for k in e.keywords)
    assert [(p.name, p.source) for p in e.locations] == [
        ("Tbilisi", "post_geo"), ("Tbilisi", "author_profile"), ("Lahore", "text"), ("Pakistan", "text"),
    ]
    assert e.enriched_at.tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😡😡😡🔥",
        "https://acme.com/a https://acme.com/b?fbclid=1",
        "Acme \x00\x07 control\x1b chars \x7f\x85 here",
        "mixed Acme لاہور თბილისი Madrid 東京 Москва 😡 #AcmeFail",
        "\u200b\ufeff zero width \u2060 junk",
        "#",
        "@",
        "$",
    ],
)
def test_bad_input_gives_a_valid_record(enricher: Enricher, text: str) -> None:
    out = ok(enricher.enrich([mk(text)])[0])
    assert out.enrichment is not None
    assert "\ud800" not in out.text


def test_surrogate_text_is_replaced_in_the_output_mention(enricher: Enricher) -> None:
    # pydantic refuses lone surrogates, but a mention copied without validation can carry them
    m = mk("x").model_copy(update={"text": "bad \ud83d end \udfff", "title": "t\udc00"})
    out = ok(enricher.enrich([m])[0])
    assert out.text == "bad \ufffd end \ufffd" and out.title == "t\ufffd"


def test_100kb_text_is_bounded(enricher: Enricher) -> None:
    big = ("Acme in Lahore is terrible #AcmeFail " * 3000)[:100_000]
    start = time.perf_counter()
    out = ok(enricher.enrich([mk(big)])[0])
    assert time.perf_counter() - start < 5.0
    assert out.text == big  # the record keeps its full text; only the analysis is bounded
    assert out.enrichment is not None and out.enrichment.hashtags == ("#acmefail",)
    assert len(prepare_text(big)) <= MAX_PROCESS_CHARS


@pytest.mark.parametrize("module", ["nlp", "entities", "keywords", "location", "pipeline"])
def test_module_docstring_examples(module: str) -> None:
    import importlib

    mod = importlib.import_module(f"enrich.{module}")
    result = doctest.testmod(mod)
    assert result.attempted > 0 and result.failed == 0


def test_prepare_text() -> None:
    assert prepare_text("a\x00b\x1fc\td\ne") == "a b c\td\ne"
    assert prepare_text("x\ud800y") == "x\ufffdy"
    assert prepare_text("e\u0301") == "\u00e9"  # NFC
    assert prepare_text("body", "Title") == "Title\nbody"
    assert prepare_text("Title and body", "Title") == "Title and body"
    long = "word " * 5000
    assert len(prepare_text(long)) <= MAX_PROCESS_CHARS
    assert not prepare_text(long).endswith("wor")  # cut at a space


def test_a_failing_tagger_keeps_the_mention_and_names_the_failure(
    enricher: Enricher, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = enricher.sentiment.analyze

    def flaky(text: str, lang: str, hashtags: Any = ()) -> Any:
        if "EXPLODE" in text:
            raise ValueError("lexicon exploded")
        return real(text, lang, hashtags)

    monkeypatch.setattr(enricher.sentiment, "analyze", flaky)
    before = enricher.stats["tagger_failures"]
    out = enricher.enrich([mk("fine one", 1), mk("EXPLODE now in #Lahore", 2), mk("fine two", 3)])
    assert ok(out[0]).enrichment.failures == () and ok(out[2]).enrichment.failures == ()  # type: ignore[union-attr]
    hit = ok(out[1])
    assert hit.native_id == "2"
    e = hit.enrichment
    assert e is not None
    assert [(f.tagger, f.error) for f in e.failures] == [("sentiment", "ValueError: lexicon exploded")]
    assert (e.sentiment.label, e.sentiment.method) == ("unknown", "failed")
    assert e.hashtags == ("#lahore",) and e.language is not None  # the other taggers still ran
    assert enricher.stats["tagger_failures"] == before + 1
    # a failed result is not cached: once the tagger works again the text gets a real answer
    monkeypatch.setattr(enricher.sentiment, "analyze", real)
    again = ok(enricher.enrich([mk("EXPLODE now in #Lahore", 4)])[0])
    assert again.enrichment is not None and again.enrichment.failures == ()


@pytest.mark.parametrize("tagger", ["langid", "entities", "keywords", "places"])
def test_every_tagger_failure_is_isolated(enricher: Enricher, monkeypatch: pytest.MonkeyPatch, tagger: str) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("boom")

    if tagger == "entities":
        monkeypatch.setattr("enrich.pipeline.extract_entities", boom)
    else:
        owner, name = {
            "langid": (enricher.langid, "identify"),
            "keywords": (enricher.keywords, "extract_words"),
            "places": (enricher.locations, "from_words"),
        }[tagger]
        monkeypatch.setattr(owner, name, boom)
    m = ok(enricher.enrich([mk(f"Acme in Lahore is awful, {tagger} test 😡")])[0])
    assert m.enrichment is not None
    assert [f.tagger for f in m.enrichment.failures] == [tagger]
    assert m.enrichment.failures[0].error == "KeyError: 'boom'"
    assert m.enrichment.sentiment.label in ("negative", "neutral", "positive")


def test_a_broken_tokenizer_falls_back_to_whitespace_words(
    enricher: Enricher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tokenizer crashed")

    monkeypatch.setattr("enrich.nlp.tokenize", broken)
    out = enricher.enrich([mk("never seen before text one", 1), mk("never seen before text two", 2)])
    for r in out:
        e = ok(r).enrichment
        assert e is not None
        assert [(f.tagger, f.error) for f in e.failures] == [("tokenizer", "RuntimeError: tokenizer crashed")]


def test_an_error_building_the_record_is_still_an_enrichment_failure(
    enricher: Enricher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("record build crashed")

    monkeypatch.setattr(Enricher, "_result", staticmethod(broken))
    out = enricher.enrich([mk("never seen before, build one", 1)])
    assert isinstance(out[0], EnrichmentFailure)
    assert out[0].reason == "RuntimeError: record build crashed"
    assert isinstance(out[0].mention, Mention) and out[0].mention.native_id == "1"


def test_tatweel_arabic_post_is_enriched(enricher: Enricher) -> None:
    # U+0640 alone is a "letter" to the tokenizer and vanished in normalisation: IndexError once
    m = ok(enricher.enrich([mk("الخدمـــة ســيئة جدا ـ ـ", 1, lang="ar")])[0])
    assert m.enrichment is not None and m.enrichment.failures == ()
    assert m.enrichment.language is not None and m.enrichment.language.code == "ar"
    assert m.enrichment.sentiment.label in ("negative", "neutral", "positive")


def test_non_mention_input_is_a_failure_not_an_exception(enricher: Enricher) -> None:
    out = enricher.enrich([mk("ok"), "not a mention"])  # type: ignore[list-item]
    assert isinstance(out[0], Mention)
    assert isinstance(out[1], EnrichmentFailure) and out[1].error_class == "TypeError"


def test_empty_batch(enricher: Enricher) -> None:
    assert enricher.enrich([]) == []


def test_duplicates_hit_the_cache_and_give_the_same_enrichment(enricher: Enricher) -> None:
    text = "Acme outage in Karachi again!! unique-marker-7731 😡"
    first = ok(enricher.enrich([mk(text, 1)])[0])
    hits = enricher.stats["cache_hits"]
    batch = enricher.enrich([mk(text, i) for i in range(2, 12)])
    assert enricher.stats["cache_hits"] - hits == 10
    for r in batch:
        e = ok(r).enrichment
        assert e is not None and first.enrichment is not None
        assert e.model_copy(update={"enriched_at": T0}) == first.enrichment.model_copy(update={"enriched_at": T0})


def test_duplicates_within_one_batch_are_analysed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    e = Enricher(cache_size=0, freeze_gc=False)
    calls: list[str] = []
    real = e.sentiment.analyze

    def counting(text: str, lang: str, hashtags: Any = ()) -> Any:
        calls.append(text)
        return real(text, lang, hashtags)

    monkeypatch.setattr(e.sentiment, "analyze", counting)
    out = e.enrich([mk("same text here", i) for i in range(5)] + [mk("other text", 9)])
    assert all(isinstance(r, Mention) for r in out)
    assert sorted(calls) == ["other text", "same text here"]


def test_cache_is_bounded() -> None:
    e = Enricher(cache_size=3, freeze_gc=False)
    e.enrich([mk(f"text number {i}", i) for i in range(10)])
    assert len(e._cache) == 3


def test_brand_decides_excluded_keywords(enricher: Enricher) -> None:
    a = ok(enricher.enrich([mk("Globex router keeps rebooting", brand="acme")])[0]).enrichment
    g = ok(enricher.enrich([mk("Globex router keeps rebooting", brand="globex")])[0]).enrichment
    assert a is not None and g is not None
    assert any("globex" in k for k in a.keywords)
    assert not any("globex" in k for k in g.keywords)


def test_language_hint_is_used_for_text_without_letters(enricher: Enricher) -> None:
    out = ok(enricher.enrich([mk("😍😍", lang="es")])[0]).enrichment
    assert out is not None and out.language is not None and out.language.code == "es"


# ------------------------------------------------------------------------------------ text CLI


def run_cli(enricher: Enricher, text: str, batch_size: int = 2) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    rc = run_enrich_text(io.StringIO(text), out, enricher, batch_size=batch_size)
    return rc, [json.loads(line) for line in out.getvalue().splitlines()]


def test_cli_json_and_plain_lines(enricher: Enricher) -> None:
    lines = [
        json.dumps({"id": 7, "text": "Acme in Lahore is great 😍"}),
        "plain text: Acme support in Tbilisi is awful",
        "",
        json.dumps({"id": "a1", "text": "hola", "brand": "acme", "author": {"location": "Madrid, España"}}),
    ]
    rc, rows = run_cli(enricher, "\n".join(lines) + "\n")
    assert rc == 0
    assert len(rows) == 3  # the blank line is skipped
    # JSON lines come back as given (no defaults written back), plus the enrichment
    assert {k: v for k, v in rows[0].items() if k != "enrichment"} == {"id": 7, "text": "Acme in Lahore is great 😍"}
    assert rows[2]["id"] == "a1" and rows[2]["author"] == {"location": "Madrid, España"}
    # a plain-text line is a whole Mention (native_id = line number)
    assert rows[1]["native_id"] == "2" and rows[1]["source"] == "cli" and rows[1]["feed"] == "stdin"
    assert all(r["enrichment"]["sentiment"]["label"] for r in rows)
    assert rows[0]["enrichment"]["sentiment"]["label"] == "positive"
    assert rows[1]["enrichment"]["sentiment"]["label"] == "negative"
    assert rows[2]["enrichment"]["locations"][0]["name"] == "Madrid"


@pytest.mark.parametrize("ident", [7, "a1", "x" * 40, None, 3.5, ["a", 1], {"k": "v"}, "0" * 32])
def test_cli_round_trips_the_input_id_and_every_field(enricher: Enricher, ident: Any) -> None:
    obj = {"id": ident, "text": "Acme is fine", "my_score": 5, "tags": ["a", "b"], "nested": {"x": [1, None]},
           "lang": "en", "brand": "acme", "created_at": "2026-01-01T00:00:00+00:00"}
    rc, rows = run_cli(enricher, json.dumps(obj) + "\n")
    assert rc == 0
    out = rows[0]
    assert {k: v for k, v in out.items() if k != "enrichment"} == obj
    assert out["enrichment"]["sentiment"]["label"] in ("negative", "neutral", "positive")


def test_cli_input_enrichment_is_replaced(enricher: Enricher) -> None:
    rc, rows = run_cli(enricher, json.dumps({"id": 1, "text": "Acme is awful", "enrichment": "old"}) + "\n")
    assert rc == 0 and rows[0]["id"] == 1 and isinstance(rows[0]["enrichment"], dict)


def test_cli_error_lines_carry_the_input_id(enricher: Enricher) -> None:
    lines = [json.dumps({"id": "row-9", "text": "x", "created_at": "not a time"}), json.dumps({"id": 3})]
    rc, rows = run_cli(enricher, "\n".join(lines) + "\n")
    assert rc == 1
    assert [(r["line"], r["id"]) for r in rows] == [(1, "row-9"), (2, 3)]
    assert "created_at" in rows[0]["error"] and rows[1]["error"] == "text: field required"


def test_cli_bad_lines_give_error_lines_with_line_numbers(enricher: Enricher) -> None:
    lines = [
        "good line about Acme",
        "{bad json",
        json.dumps({"text": 5}),
        json.dumps({"id": "x"}),
        json.dumps([1, 2]),
        json.dumps({"text": "x" * 100_001}),
        json.dumps({"text": "lone \ud800 surrogate"}),
        "last good line",
    ]
    rc, rows = run_cli(enricher, "\n".join(lines) + "\n", batch_size=3)
    assert rc == 1
    assert len(rows) == 8
    errors = {r["line"]: r["error"] for r in rows if "error" in r}
    assert sorted(errors) == [2, 3, 4, 6]
    assert errors[2].startswith("malformed JSON")
    assert errors[4] == "text: field required"
    assert "text" in errors[6]
    assert rows[4]["text"] == "[1, 2]"  # a JSON array line is plain text
    assert rows[6]["text"] == "lone \ufffd surrogate"
    assert rows[7]["text"] == "last good line"


def test_cli_keeps_a_full_mention_id(enricher: Enricher) -> None:
    m = mk("Acme rocks")
    rc, rows = run_cli(enricher, m.to_bytes().decode() + "\n")
    assert rc == 0 and rows[0]["id"] == m.id


def test_cli_enrichment_failure_becomes_error_line(enricher: Enricher, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(mentions: list[Mention]) -> list[Mention | EnrichmentFailure]:
        return [EnrichmentFailure(m, "ValueError", "boom") for m in mentions]

    monkeypatch.setattr(enricher, "enrich", broken)
    rc, rows = run_cli(enricher, "one\ntwo\n")
    assert rc == 1
    assert rows == [
        {"line": 1, "error": "ValueError: boom", "id": "1"},
        {"line": 2, "error": "ValueError: boom", "id": "2"},
    ]
    rc, rows = run_cli(enricher, json.dumps({"id": 42, "text": "three"}) + "\n")
    assert rc == 1 and rows == [{"line": 1, "error": "ValueError: boom", "id": 42}]


def test_cli_invalid_utf8_on_a_strict_stream(enricher: Enricher) -> None:
    raw = io.TextIOWrapper(io.BytesIO(b"fine\n\xff\xfe broken\n"), encoding="utf-8", errors="strict")
    out = io.StringIO()
    assert run_enrich_text(raw, out, enricher) == 2
    assert "not valid UTF-8" in out.getvalue().splitlines()[-1]


def test_cli_surrogateescape_stream_gets_per_line_handling(enricher: Enricher) -> None:
    raw = io.TextIOWrapper(io.BytesIO(b"fine\n\xff broken\n"), encoding="utf-8", errors="surrogateescape")
    out = io.StringIO()
    assert run_enrich_text(raw, out, enricher) == 0
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert rows[1]["text"] == "\ufffd broken"


def test_mention_from_line_defaults() -> None:
    m = mention_from_line('{"text": "hi"}', 42, now=T0)
    assert (m.source, m.feed, m.brand, m.native_id, m.created_at) == ("cli", "stdin", "-", "42", T0)


def _lines(n: int) -> Iterator[str]:
    for i in range(n):
        yield f"Acme line {i % 7}\n"


def test_cli_batches_preserve_order(enricher: Enricher) -> None:
    rc, rows = run_cli(enricher, "".join(_lines(23)), batch_size=5)
    assert rc == 0
    assert [r["text"] for r in rows] == [f"Acme line {i % 7}" for i in range(23)]


# ------------------------------------------------------------------------------------ stories


def _raw(native_id: str, text: str, brand: str = "acme", minute: int = 0) -> Any:
    from kafka.consumer.fetcher import ConsumerRecord

    m = Mention.new(source="replay", feed="f", native_id=native_id, brand=brand, text=text,
                    created_at=datetime(2026, 3, 1, 12, minute, tzinfo=UTC))
    value = m.to_bytes()
    return ConsumerRecord("raw", 0, -1, minute, 0, 0, None, value, [], None, 0, len(value), -1)


def test_the_enrich_stage_gives_reposts_one_story_and_other_posts_their_own() -> None:
    from enrich.stories import StoryIndex
    from enrich.worker import EnrichStage

    stage = EnrichStage(Enricher(brand_terms={"acme": ["Acme"]}), "enriched", stories=StoryIndex())
    text = "Acme cancelled every flight out of Denver tonight, no hotel, no food, nobody at the desk"
    result = stage.handle([_raw("1", text), _raw("2", f"RT @someone: {text}", minute=1),
                           _raw("3", "Acme's new lounge in Lisbon has great coffee", minute=2)])
    stories = [Mention.from_bytes(o.value).enrichment.story_id for o in result.outputs]  # type: ignore[union-attr]
    assert stories[0] == stories[1] and stories[2] not in (None, stories[0])


def test_a_failing_story_index_does_not_lose_the_mention() -> None:
    from enrich.stories import StoryIndex
    from enrich.worker import EnrichStage

    class Broken(StoryIndex):
        def assign(self, **kwargs: Any) -> str:
            raise RuntimeError("index corrupted")

    stage = EnrichStage(Enricher(brand_terms={"acme": ["Acme"]}), "enriched", stories=Broken())
    result = stage.handle([_raw("1", "Acme support is the worst")])
    assert not result.failures
    (out,) = [Mention.from_bytes(o.value) for o in result.outputs]
    assert out.enrichment is not None and out.enrichment.story_id is None
    assert [f.tagger for f in out.enrichment.failures] == ["stories"]
