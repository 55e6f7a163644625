"""The enrichment pipeline: language, sentiment, entities, keywords and places for a batch of mentions.

>>> from datetime import UTC, datetime
>>> enricher = Enricher(brand_terms={"acme": ["Acme"]})
>>> m = Mention.new(source="cli", feed="stdin", native_id="1", brand="acme",
...                 text="Acme support in Lahore is the worst #AcmeFail 😡",
...                 created_at=datetime(2026, 1, 1, tzinfo=UTC))
>>> [out] = enricher.enrich([m])
>>> out.enrichment.language.code, out.enrichment.sentiment.label, out.enrichment.hashtags
('en', 'negative', ('#acmefail',))
>>> [(p.name, p.source) for p in out.enrichment.locations]
[('Lahore', 'text')]

Design notes

* Everything heavy (language-ID model, sentiment model and lexicons, tokenizer rules, gazetteer)
  loads once, in ``Enricher.__init__``, which then calls ``gc.freeze()`` so the garbage collector
  stops re-scanning those long-lived objects, and raises the young-generation threshold to
  ``GC_YOUNG_THRESHOLD`` (``freeze_gc=False`` skips both): process-wide settings, meant for the
  worker process that owns the Enricher.
* ``enrich`` works on a batch: texts not in the cache (each distinct text once) go through language
  identification, then the tokenizer of their language family (``enrich/nlp.py``: spaCy's rules
  on plain strings, no ``Doc``), then each tagger in turn over the whole chunk (entities,
  sentiment, keywords, places).
* Each text has a time budget (``time_budget_ms``, default ``DEFAULT_TIME_BUDGET_MS``): once a
  text has used it, the taggers still to come are skipped for it (their empty values stand) and a
  ``budget`` entry in ``enrichment.failures`` says how long it took and what was skipped
  (``stats["over_budget"]``). The taggers are bounded on their own (the tokenizer on long runs,
  language ID and sentiment on a prefix); the budget is the backstop that keeps one post from
  stalling the consumer.
* Reposts are common, so per-text results (everything that depends only on the text, the source's
  language hint and the brand) are kept in a bounded LRU cache (``cache_size`` entries); a
  duplicate costs a dictionary lookup plus its per-mention parts (post coordinates, profile
  location, which is cached separately) and two pydantic copies.
* Bad input never raises out of ``enrich``: text is sanitised for analysis (lone surrogates ->
  U+FFFD, control characters -> space, NFC; lone surrogates are also replaced in the returned
  mention's ``text``/``title``, which could not be encoded as UTF-8 otherwise), and only the
  first ``MAX_PROCESS_CHARS`` characters (title + text) are analysed, so a 100 KB post costs the
  same as a 10 KB one; entities past that bound are not extracted.
* A tagger that raises (language ID, tokenizer, entities, keywords, places, sentiment) does not
  lose the mention: that tagger's part falls back to an empty/neutral value (sentiment ``unknown``
  with method ``failed``; language ``und``/the hint with method ``failed``; a whitespace split
  for the tokenizer), the failure is named in ``enrichment.failures`` (tagger + error), counted
  in ``stats["tagger_failures"]``, and the result is not cached. Only an error outside the
  taggers (building the record itself) becomes an ``EnrichmentFailure`` for that record only,
  which the worker dead-letters.
"""

from __future__ import annotations

import gc
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from brandpulse.schema import Enrichment, Language, Location, Mention, Sentiment, TaggerFailure
from enrich import nlp
from enrich.entities import Entities, extract_entities
from enrich.keywords import KeywordExtractor
from enrich.langid import LanguageIdentifier
from enrich.location import LocationTagger
from enrich.sentiment import SentimentAnalyzer, SentimentConfig

ENRICHMENT_VERSION = "1.0.0"
MAX_PROCESS_CHARS = 10_000
DEFAULT_CACHE_SIZE = 20_000
DEFAULT_BATCH_SIZE = 256
# Per-text time budget. A normal post costs well under a millisecond and the taggers are bounded,
# so this only trips on hostile or pathological input, or a stalled machine; 256 texts over budget
# still finish in a small fraction of the consumer's max_poll_interval_ms (600 s).
DEFAULT_TIME_BUDGET_MS = 100.0
GC_YOUNG_THRESHOLD = 50_000

_SURROGATES_RE = re.compile(r"[\ud800-\udfff]")
# C0 controls except tab/newline/CR, DEL, C1 controls -> space; invisible junk -> removed.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_INVISIBLE_RE = re.compile(r"[\u200b\u2060\ufeff\u00ad]")
_PLACEHOLDER_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class EnrichmentFailure:
    """One record that could not be enriched: the input and the error (class name + message)."""

    mention: Any
    error_class: str
    message: str

    @property
    def reason(self) -> str:
        return f"{self.error_class}: {self.message}"

    @classmethod
    def from_exception(cls, mention: Any, exc: BaseException) -> EnrichmentFailure:
        msg = str(exc).splitlines()[0] if str(exc) else ""
        return cls(mention, type(exc).__name__, msg[:500])


def prepare_text(text: str | None, title: str | None = None, *, limit: int = MAX_PROCESS_CHARS) -> str:
    """The string that is analysed: title + text, sanitised, NFC, cut to ``limit`` characters.

    >>> prepare_text("a\\x00b\\ud800c", "T")
    'T\\na b\\ufffdc'
    """
    s = text or ""
    if title and not s.startswith(title):
        s = f"{title}\n{s}"
    if len(s) > limit:
        cut = s.rfind(" ", limit - 200, limit)
        s = s[: cut if cut > 0 else limit]
    if not s.isascii():
        s = _SURROGATES_RE.sub("\ufffd", s)
        s = _INVISIBLE_RE.sub("", s)
        if not unicodedata.is_normalized("NFC", s):
            s = unicodedata.normalize("NFC", s)
    s = _CONTROL_RE.sub(" ", s)
    return s


@dataclass(frozen=True, slots=True)
class _TextResult:
    """Everything that depends only on (text, language hint, brand)."""

    template: Enrichment  # locations = text places; enriched_at = placeholder


class Enricher:
    """Enrich mentions in batches. Construct once per worker process; ``enrich`` is thread-safe."""

    def __init__(
        self,
        *,
        languages: Sequence[str] | None = None,
        brand_terms: Mapping[str, Sequence[str]] | None = None,
        sentiment: SentimentConfig | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        ner_model: str | None = None,
        freeze_gc: bool = True,
        time_budget_ms: float = DEFAULT_TIME_BUDGET_MS,
    ) -> None:
        self.languages = tuple(languages) if languages is not None else None
        self.langid = LanguageIdentifier(languages=self.languages)
        self.sentiment = SentimentAnalyzer(sentiment or SentimentConfig())
        self.keywords = KeywordExtractor(brand_terms=brand_terms)
        self.locations = LocationTagger(ner_model=ner_model)
        nlp.preload(self.languages)
        self.cache_size = max(0, cache_size)
        self.batch_size = max(1, batch_size)
        self.time_budget = max(0.0, time_budget_ms) / 1000.0
        self._cache: OrderedDict[tuple[str, str | None, str], _TextResult] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = {"texts": 0, "cache_hits": 0, "failures": 0, "tagger_failures": 0, "over_budget": 0}
        if freeze_gc:
            # The gazetteer, lexicons and vocabularies are ~400k long-lived objects; without this
            # every full garbage collection walks them all (measured: ~40% of enrichment time).
            gc.collect()
            gc.freeze()
            # A text allocates hundreds of short-lived containers that reference counting frees;
            # at the default threshold (700) the young collection ran every ~2 texts, rescanning
            # the batch's live objects and promoting them to full collections (measured on unique
            # real posts: ~30 us/text, a tenth of the enrichment; 3-4 us/text at 50,000).
            t0, t1, t2 = gc.get_threshold()
            gc.set_threshold(max(t0, GC_YOUNG_THRESHOLD), t1, t2)

    # -- cache -------------------------------------------------------------------------------

    def _cache_get(self, key: tuple[str, str | None, str]) -> _TextResult | None:
        if not self.cache_size:
            return None
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _cache_put(self, key: tuple[str, str | None, str], value: _TextResult) -> None:
        if not self.cache_size:
            return
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        """Forget every cached per-text result (for benchmarks and tests)."""
        with self._lock:
            self._cache.clear()

    # -- public API --------------------------------------------------------------------------

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention | EnrichmentFailure]:
        """One result per input, in order: the enriched mention, or a failure carrying the error."""
        try:
            return self._enrich_batch(mentions)
        except Exception:  # a bug in the batch path must not lose the batch: isolate per record
            out: list[Mention | EnrichmentFailure] = []
            for m in mentions:
                try:
                    out.extend(self._enrich_batch([m]))
                except Exception as exc:
                    out.append(EnrichmentFailure.from_exception(m, exc))
            return out

    def enrich_one(self, mention: Mention) -> Mention | EnrichmentFailure:
        return self.enrich([mention])[0]

    # -- batch path --------------------------------------------------------------------------

    def _enrich_batch(self, mentions: Sequence[Mention]) -> list[Mention | EnrichmentFailure]:
        n = len(mentions)
        results: list[Mention | EnrichmentFailure | None] = [None] * n
        keys: list[tuple[str, str | None, str] | None] = [None] * n
        texts: dict[tuple[str, str | None, str], _TextResult | BaseException | None] = {}
        for i, m in enumerate(mentions):
            try:
                if not isinstance(m, Mention):
                    raise TypeError(f"expected a Mention, got {type(m).__name__}")
                key = (prepare_text(m.text, m.title), m.lang, m.brand)
            except Exception as exc:
                results[i] = EnrichmentFailure.from_exception(m, exc)
                continue
            keys[i] = key
            if key not in texts:
                texts[key] = self._cache_get(key)
        misses = [k for k, v in texts.items() if v is None]
        self.stats["texts"] += n
        self.stats["cache_hits"] += n - len(misses) - sum(r is not None for r in results)
        for chunk_start in range(0, len(misses), self.batch_size):
            chunk = misses[chunk_start : chunk_start + self.batch_size]
            for key, res in zip(chunk, self._analyze_texts(chunk), strict=True):
                texts[key] = res
                # a failed tagger may have met a transient error: do not pin its fallback in the cache
                if isinstance(res, _TextResult) and not res.template.failures:
                    self._cache_put(key, res)
        now = datetime.now(UTC)
        for i, m in enumerate(mentions):
            mkey = keys[i]
            if results[i] is not None or mkey is None:
                continue
            done = texts.get(mkey)
            try:
                if isinstance(done, BaseException):
                    raise done
                if done is None:  # pragma: no cover - every miss is analysed above
                    raise RuntimeError("text was not analysed")
                results[i] = self._finish(m, done, now)
            except Exception as exc:
                results[i] = EnrichmentFailure.from_exception(m, exc)
        out = [r if r is not None else EnrichmentFailure(None, "RuntimeError", "no result") for r in results]
        self.stats["failures"] += sum(isinstance(r, EnrichmentFailure) for r in out)
        self.stats["tagger_failures"] += sum(
            len(r.enrichment.failures) for r in out if isinstance(r, Mention) and r.enrichment
        )
        return out

    def _finish(self, m: Mention, res: _TextResult, now: datetime) -> Mention:
        places: list[Location] = []
        geo = self.locations.from_geo(m.geo)
        if geo is not None:
            places.append(geo)
        prof = self.locations.from_profile(m.author.location) if m.author.location else None
        if prof is not None:
            places.append(prof)
        places.extend(res.template.locations)
        enrichment = res.template.model_copy(update={"locations": tuple(places), "enriched_at": now})
        update: dict[str, Any] = {"enrichment": enrichment}
        # A lone surrogate cannot be written as UTF-8: the record would fail downstream.
        for name in ("text", "title"):
            value = getattr(m, name)
            if value and not value.isascii() and _SURROGATES_RE.search(value):
                update[name] = _SURROGATES_RE.sub("\ufffd", value)
        return m.model_copy(update=update)

    def _analyze_texts(
        self, keys: Sequence[tuple[str, str | None, str]]
    ) -> list[_TextResult | BaseException]:
        n = len(keys)
        clock = time.perf_counter
        budget = self.time_budget
        spent = [0.0] * n  # seconds spent on each text so far
        skipped: list[list[str]] = [[] for _ in keys]
        langs: list[Language] = [_UND] * n
        failures: list[list[TaggerFailure]] = [[] for _ in keys]
        for i, (text, hint, _brand) in enumerate(keys):
            start = clock()
            try:
                langs[i] = self.langid.identify(text, hint)
            except Exception as exc:
                failures[i].append(_failure("langid", exc))
                code = (hint or "und").strip().lower().replace("_", "-").split("-", 1)[0] or "und"
                langs[i] = Language(code=code, confidence=0.0, method="failed")
            spent[i] += clock() - start
        codes = [lang.code for lang in langs]
        words: list[list[str]] = []
        for i, (text, _hint, _brand) in enumerate(keys):
            if spent[i] > budget:
                skipped[i].append("tokenizer")
                words.append(text.split())
                continue
            start = clock()
            try:
                words.append(nlp.tokenize(text, codes[i]))
            except Exception as exc:
                failures[i].append(_failure("tokenizer", exc))
                words.append(text.split())
            spent[i] += clock() - start
        # Stage-major: each tagger runs over the whole chunk before the next one starts (its
        # tables stay in the CPU caches). A tagger that raises costs only its own result for
        # that text: the mention goes on with a neutral fallback and the failure named on it.
        # A text that has used up its time budget skips the taggers still to come (sentiment
        # first: the alerts read it) and carries the overrun, so no post can stall the consumer.
        items: list[dict[str, Any]] = [{"words": words[i], "code": codes[i]} for i in range(n)]

        def stage(name: str, fn: Any, fallback: Any) -> None:
            for i, item in enumerate(items):
                if spent[i] > budget:
                    skipped[i].append(name)
                    item[name] = fallback
                    continue
                begin = clock()
                try:
                    item[name] = fn(keys[i], item)
                except Exception as exc:
                    failures[i].append(_failure(name, exc))
                    item[name] = fallback
                spent[i] += clock() - begin

        def places(key: tuple[str, str | None, str], item: dict[str, Any]) -> list[Location]:
            ner = self.locations.ner_places(key[0]) if item["code"] == "en" else []
            return self.locations.from_words(item["words"], item["code"], ner_texts=ner)

        stage("entities", lambda key, item: extract_entities(key[0]), Entities())
        stage("sentiment", lambda key, item: self.sentiment.analyze(key[0], item["code"]), _FAILED_SENTIMENT)
        stage(
            "keywords",
            lambda key, item: self.keywords.extract_words(item["words"], item["code"], brand=key[2]),
            (),
        )
        stage("places", places, [])
        out: list[_TextResult | BaseException] = []
        for i, item in enumerate(items):
            if spent[i] > budget:
                self.stats["over_budget"] += 1
                failures[i].append(_over_budget(spent[i], budget, skipped[i]))
            try:
                out.append(self._result(langs[i], item, failures[i]))
            except Exception as exc:
                out.append(exc)
        return out

    @staticmethod
    def _result(lang: Language, item: Mapping[str, Any], failures: Sequence[TaggerFailure]) -> _TextResult:
        ents: Entities = item["entities"]
        sentiment: Sentiment = item["sentiment"]
        template = Enrichment(
            version=ENRICHMENT_VERSION,
            language=lang,
            sentiment=sentiment,
            keywords=item["keywords"],
            hashtags=ents.hashtags,
            handles=ents.handles,
            cashtags=ents.cashtags,
            urls=ents.urls,
            emojis=ents.emojis,
            locations=tuple(item["places"]),
            failures=tuple(failures),
            enriched_at=_PLACEHOLDER_TIME,
        )
        return _TextResult(template)


def _over_budget(spent: float, budget: float, skipped: Sequence[str]) -> TaggerFailure:
    what = f"skipped {', '.join(skipped)}" if skipped else "nothing skipped"
    return TaggerFailure(
        tagger="budget",
        error=f"TimeBudgetExceeded: {spent * 1000:.0f} ms on this text, budget {budget * 1000:.0f} ms; {what}",
    )


def _failure(tagger: str, exc: BaseException) -> TaggerFailure:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return TaggerFailure(tagger=tagger, error=f"{type(exc).__name__}: {first}"[:300])


_UND = Language(code="und", confidence=0.0, method="no_text")
# What a mention carries when the sentiment tagger raised: nothing was decided.
_FAILED_SENTIMENT = Sentiment(label="unknown", score=0.0, confidence=0.0, method="failed")
