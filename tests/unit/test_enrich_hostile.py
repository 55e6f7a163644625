"""Hostile input through the whole Enricher (issue #14 row 2): no post may stall the consumer.

Row 2: long non-space runs cost quadratic time in spaCy's tokenizer. With the Enricher of the
commit before the string tokenizer, on this machine, the untraced bound test below failed for
😡 x 10,000 (11.3 s), ``!?.`` x 3,333 (21.6 s), brand + 😡 x 10,000 (11.0 s), 5,000 flags
(10.2 s), 10,000 ``(`` (9.4 s), ``،؟۔`` x 3,333 (9.8 s) and a URL + 9,000 ``!`` (0.42 s); the
other cases (mixed symbols, a 10,000-letter word, glued hashtags and handles, Georgian with
full stops) already passed and are kept as coverage. Now each is bounded in time and memory (all
under 25 ms), and a per-text time budget stops the taggers still to come on any text that has
used it up: the mention goes on with what was computed and the overrun named in
``enrichment.failures``.
"""

from __future__ import annotations

import functools
import time
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandpulse.schema import Author, Mention
from enrich.pipeline import Enricher

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# One record may cost at most this (issue #14: "no single input costs more than 200 ms").
RECORD_SECONDS = 0.2
RECORD_PEAK_BYTES = 32 * 1024 * 1024

_SYMBOLS = "!?.,;:()[]{}\"'*&%$#@😡…-/|<>«»"
HOSTILE = {
    "emoji x10000": "😡" * 10_000,
    "!?. x3333": "!?." * 3_333,
    "brand + emoji x10000": "Acme in Lahore is down " + "😡" * 10_000,
    "mixed symbols x10000": "".join(_SYMBOLS[(i * 7919) % len(_SYMBOLS)] for i in range(10_000)),
    "flags x5000": "🇬🇪" * 5_000,
    "url + 9000 !": "http://acme.com/" + "!" * 9_000,
    "10000 (": "(" * 10_000 + "Acme",
    "one 10000-letter word": "a" * 10_000,
    "hashtag chain": "#acme" * 2_000,
    "handles glued": "@acme" * 2_000,
    "Arabic punctuation": "،؟۔" * 3_333,
    "Georgian + dots": "თბილისი." * 1_250,
}


def mk(text: str, i: int = 0, **kw: Any) -> Mention:
    return Mention.new(source="test", feed="hostile", native_id=str(i), brand="acme", text=text,
                       created_at=T0, fetched_at=T0, **kw)


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    e = Enricher(brand_terms={"acme": ["Acme"]}, cache_size=0, freeze_gc=False)
    e.enrich([mk("warm up: Acme in Lahore 😡 #acme")])
    return e


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_record_is_bounded_in_time_and_memory(enricher: Enricher, name: str) -> None:
    text = HOSTILE[name]
    tracemalloc.start()
    start = time.perf_counter()
    [out] = enricher.enrich([mk(text)])
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(out, Mention) and out.enrichment is not None
    # tracemalloc slows allocation-heavy code down ~2x: the bound is the record's, doubled
    assert elapsed < 2 * RECORD_SECONDS, f"{name}: {elapsed:.3f} s"
    assert peak < RECORD_PEAK_BYTES, f"{name}: peak {peak / 1e6:.1f} MB"
    assert Mention.from_bytes(out.to_bytes()) == out


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_record_within_the_record_bound_untraced(enricher: Enricher, name: str) -> None:
    start = time.perf_counter()
    [out] = enricher.enrich([mk(HOSTILE[name], 1)])
    assert time.perf_counter() - start < RECORD_SECONDS, name
    assert isinstance(out, Mention)


def test_a_batch_of_hostile_records_is_bounded(enricher: Enricher) -> None:
    batch = [mk(text + f" {i}", i) for i, text in enumerate(HOSTILE.values())]
    start = time.perf_counter()
    out = enricher.enrich(batch)
    assert time.perf_counter() - start < RECORD_SECONDS * len(batch)
    assert all(isinstance(r, Mention) for r in out)


# ---------------------------------------------------------------------------------- time budget


def test_over_budget_text_skips_the_remaining_taggers_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    e = Enricher(brand_terms={"acme": ["Acme"]}, cache_size=100, freeze_gc=False, time_budget_ms=50)
    real = e.sentiment.analyze

    def slow_for_some(text: str, lang: str, hashtags: Any = ()) -> Any:
        if "SLOW" in text:
            time.sleep(0.08)  # the budget runs out inside this tagger
        return real(text, lang, hashtags)

    monkeypatch.setattr(e.sentiment, "analyze", slow_for_some)
    out = e.enrich([mk("Acme in Lahore is awful SLOW #acmefail 😡", 1), mk("Acme in Lahore is awful #acmefail", 2)])
    slow, fast = out
    assert isinstance(slow, Mention) and slow.enrichment is not None
    assert isinstance(fast, Mention) and fast.enrichment is not None
    assert fast.enrichment.failures == ()
    assert fast.enrichment.keywords and fast.enrichment.locations  # all taggers ran
    (failure,) = slow.enrichment.failures
    assert failure.tagger == "budget"
    assert failure.error.startswith("TimeBudgetExceeded: ")
    assert "budget 50 ms; skipped keywords, places" in failure.error
    # what was computed before the budget ran out is kept; the rest is empty
    assert slow.enrichment.sentiment.label == "negative"
    assert slow.enrichment.hashtags == ("#acmefail",) and slow.enrichment.emojis == ("😡",)
    assert slow.enrichment.keywords == () and slow.enrichment.locations == ()
    assert e.stats["over_budget"] == 1
    # an over-budget result is not cached: the same text later gets the full enrichment
    monkeypatch.setattr(e.sentiment, "analyze", real)
    [again] = e.enrich([mk("Acme in Lahore is awful SLOW #acmefail 😡", 3)])
    assert isinstance(again, Mention) and again.enrichment is not None
    assert again.enrichment.failures == () and again.enrichment.locations


def test_budget_overrun_in_the_last_tagger_is_recorded_without_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    e = Enricher(cache_size=0, freeze_gc=False, time_budget_ms=20)
    real = e.locations.from_words

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.03)
        return real(*args, **kwargs)

    monkeypatch.setattr(e.locations, "from_words", slow)
    [out] = e.enrich([mk("power cut in Lahore again")])
    assert isinstance(out, Mention) and out.enrichment is not None
    assert [f.tagger for f in out.enrichment.failures] == ["budget"]
    assert out.enrichment.failures[0].error.endswith("nothing skipped")
    assert [p.name for p in out.enrichment.locations] == ["Lahore"]


def test_a_zero_budget_still_identifies_the_language_and_forwards_the_mention() -> None:
    e = Enricher(cache_size=0, freeze_gc=False, time_budget_ms=0)
    [out] = e.enrich([mk("Acme is great", author=Author(location="Lahore, Pakistan"))])
    assert isinstance(out, Mention) and out.enrichment is not None
    assert out.enrichment.language is not None and out.enrichment.language.code == "en"
    assert out.enrichment.sentiment.method == "failed"
    (failure,) = out.enrichment.failures
    assert failure.tagger == "budget" and "skipped tokenizer, entities, sentiment, keywords, places" in failure.error
    # the per-mention parts (profile, coordinates) do not depend on the text and still run
    assert [p.source for p in out.enrichment.locations] == ["author_profile"]


# ---------------------------------------------------------------------------------- fuzz

_FUZZ_ALPHABET = st.characters(codec="utf-8")  # any encodable character: every script, emoji, controls


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    st.one_of(
        st.text(_FUZZ_ALPHABET, max_size=400),
        st.builds(lambda c, n: c * n, st.text(_FUZZ_ALPHABET, min_size=1, max_size=3), st.integers(1, 4000)),
        st.lists(st.sampled_from(["😡", "!?.", "#", "@a", "http://", "(", ")", "'", ".", "ب", "თ", " "]),
                 max_size=3000).map("".join),
    ),
    st.one_of(st.none(), st.sampled_from(["en", "ar", "ur", "ka", "es", "xx", "zz-ZZ", ""])),
)
def test_fuzz_enricher_never_raises_and_stays_bounded(text: str, lang: str | None) -> None:
    e = _fuzz_enricher()
    m = Mention.new(source="fuzz", feed="f", native_id="1", brand="acme", text=text, lang=lang or None,
                    created_at=T0)
    start = time.perf_counter()
    out = e.enrich([m])
    assert time.perf_counter() - start < RECORD_SECONDS
    assert len(out) == 1
    (r,) = out
    assert isinstance(r, Mention), r  # produced, not dead-lettered: nothing in the text can break it
    assert r.enrichment is not None
    assert Mention.from_bytes(r.to_bytes()) == r
    assert [f for f in r.enrichment.failures if f.tagger != "budget"] == []  # no tagger raised


@functools.cache
def _fuzz_enricher() -> Enricher:
    return Enricher(brand_terms={"acme": ["Acme"]}, cache_size=0, freeze_gc=False)
