"""Key phrases: the few (at most 5) phrases that say what a mention is about, in any language.

A RAKE-style scorer over the tokens of the shared tokenizer (``enrich/nlp.py``):

1. candidate phrases are maximal runs of content words, broken by stop words, punctuation,
   numbers, emojis, hashtags/handles/cashtags/URLs, brand terms and "words" longer than
   ``MAX_WORD_CHARS``; a run longer than
   ``max_words`` is cut into pieces of at most ``max_words`` words;
2. a word scores ``degree / frequency`` (degree = total length of the phrases it appears in),
   a phrase scores the sum of its words' scores;
3. the best ``max_keywords`` distinct phrases are returned (ties: earlier first), casefolded.

Stop words come from ``enrich/stopwords/<lang>.txt`` (en, es, ar, ur, ka; sources in the README
there). A text of another or unknown language uses the union of all lists. Brand names and
aliases passed by the caller are never keywords (the brand is what every mention is about).

>>> kx = KeywordExtractor(brand_terms={"acme": ["Acme", "Acme Corp", "@acme"]})
>>> kx.extract_words("Acme Corp battery life is terrible and the customer support never answers".split(),
...                  "en", brand="acme")
('battery life', 'customer support', 'terrible', 'answers')
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from enrich.nlp import SUPPORTED_LANGUAGES, token_kind

STOPWORDS_DIR = Path(__file__).with_name("stopwords")
MAX_KEYWORDS = 5
MAX_WORDS = 3
_MEMO_LIMIT = 200_000
MAX_WORD_CHARS = 40  # longer "words" are junk (base64, keyboard mashing), never keywords


@functools.cache
def load_stopwords(lang: str) -> frozenset[str]:
    """The stop-word set for ``lang`` (empty if none is shipped). Loaded once per process."""
    path = STOPWORDS_DIR / f"{lang}.txt"
    if not path.is_file():
        return frozenset()
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.add(unicodedata.normalize("NFC", word).casefold())
    return frozenset(words)


@functools.cache
def all_stopwords() -> frozenset[str]:
    """Union of every shipped list: used for unknown or unsupported languages."""
    out: set[str] = set()
    for lang in SUPPORTED_LANGUAGES:
        out |= load_stopwords(lang)
    return frozenset(out)


def stopwords_for(lang: str | None) -> frozenset[str]:
    if lang:
        words = load_stopwords(lang.split("-")[0].lower())
        if words:
            return words
    return all_stopwords()


def _term_tokens(term: str) -> tuple[str, ...]:
    words = []
    for w in term.replace("_", " ").split():
        w = w.lstrip("#@$").rstrip(".,!?")
        if w:
            words.append(unicodedata.normalize("NFC", w).casefold())
    return tuple(words)


class _BrandTerms:
    """Brand names/aliases as single words and multi-word sequences (casefolded)."""

    __slots__ = ("firsts", "max_len", "phrases", "words")

    def __init__(self, terms: Iterable[str]) -> None:
        self.words: set[str] = set()
        self.phrases: set[tuple[str, ...]] = set()
        self.max_len = 1
        for term in terms:
            toks = _term_tokens(term)
            if not toks:
                continue
            if len(toks) == 1:
                self.words.add(toks[0])
                # "Acme" also excludes the glued hashtag/handle spelling, e.g. "acmecorp" for "Acme Corp".
            else:
                self.phrases.add(toks)
                self.words.add("".join(toks))
                self.max_len = max(self.max_len, len(toks))
        self.firsts = frozenset(p[0] for p in self.phrases)

    def mask(self, low: Sequence[str]) -> list[bool]:
        """True at every position covered by a brand word or brand phrase."""
        words = self.words
        out = [w in words for w in low]
        if self.phrases:
            firsts = self.firsts
            n = len(low)
            for i, w in enumerate(low):
                if w not in firsts:  # a phrase can only start at its first word
                    continue
                for size in range(2, min(self.max_len, n - i) + 1):
                    if tuple(low[i : i + size]) in self.phrases:
                        for j in range(i, i + size):
                            out[j] = True
        return out


_NO_BRAND = _BrandTerms(())


class KeywordExtractor:
    """Extract key phrases from token sequences; construct once, call per text."""

    def __init__(
        self,
        *,
        brand_terms: Mapping[str, Sequence[str]] | None = None,
        max_keywords: int = MAX_KEYWORDS,
        max_words: int = MAX_WORDS,
    ) -> None:
        if not 1 <= max_keywords <= MAX_KEYWORDS:
            raise ValueError(f"max_keywords must be between 1 and {MAX_KEYWORDS}")
        self.max_keywords = max_keywords
        self.max_words = max(1, max_words)
        self._brands: dict[str, _BrandTerms] = {}
        # per language: token -> (casefolded, is a content word); bounded, reset when full
        self._memo: dict[str, dict[str, tuple[str, bool]]] = {}
        for brand, aliases in (brand_terms or {}).items():
            self._brands[brand] = _BrandTerms([brand, *aliases])

    def _brand(self, brand: str | None) -> _BrandTerms:
        if not brand:
            return _NO_BRAND
        found = self._brands.get(brand)
        if found is None:
            # An unconfigured brand still excludes its own name.
            found = _BrandTerms([brand])
            self._brands[brand] = found
        return found

    def extract(self, doc: Iterable[Any], lang: str | None, *, brand: str | None = None) -> tuple[str, ...]:
        """Key phrases of a spaCy ``Doc`` (or anything yielding objects with ``.text``)."""
        return self.extract_words([t.text for t in doc], lang, brand=brand)

    def extract_words(
        self, words: Sequence[str], lang: str | None, *, brand: str | None = None
    ) -> tuple[str, ...]:
        """Key phrases of an already tokenized text."""
        if not words:
            return ()
        memo = self._memo.get(lang or "")
        if memo is None or len(memo) > _MEMO_LIMIT:
            memo = self._memo[lang or ""] = {}
        stop = stopwords_for(lang)

        def classify(w: str) -> tuple[str, bool]:
            lw = w.casefold()
            ok = (
                1 < len(lw) <= MAX_WORD_CHARS
                and lw not in stop
                and token_kind(w) == "word"
                and any(c.isalpha() for c in lw)
            )
            hit = memo[w] = (lw, ok)
            return hit

        memo_get = memo.get
        hits = [memo_get(w) or classify(w) for w in words]
        terms = self._brand(brand)
        brand_mask = terms.mask([h[0] for h in hits]) if terms.phrases else None
        brand_words = terms.words
        phrases: list[tuple[str, ...]] = []
        run: list[str] = []
        max_words = self.max_words
        for i, (lw, ok) in enumerate(hits):
            keep = ok and (not brand_mask[i] if brand_mask is not None else lw not in brand_words)
            if keep:
                run.append(lw)
                if len(run) == max_words:
                    phrases.append(tuple(run))
                    run = []
            elif run:
                phrases.append(tuple(run))
                run = []
        if run:
            phrases.append(tuple(run))
        if not phrases:
            return ()
        freq: dict[str, int] = {}
        degree: dict[str, int] = {}
        for ph in phrases:
            size = len(ph)
            for w in ph:
                freq[w] = freq.get(w, 0) + 1
                degree[w] = degree.get(w, 0) + size
        ranked: list[tuple[float, int, tuple[str, ...]]] = []  # (-score, first position, phrase)
        seen: set[tuple[str, ...]] = set()
        for pos, ph in enumerate(phrases):
            if ph in seen:
                continue
            seen.add(ph)
            if len(ph) == 1:
                w = ph[0]
                ranked.append((-(degree[w] / freq[w]), pos, ph))
            else:
                ranked.append((-sum([degree[w] / freq[w] for w in ph]), pos, ph))
        ranked.sort()  # best score first, ties: earlier first (positions are unique)
        return tuple(" ".join(ph) for _, _, ph in ranked[: self.max_keywords])
