"""The text-processing backbone: one blank spaCy pipeline per language family, loaded once per process.

Only tokenizers are used (``spacy.blank``): nothing is downloaded, no trained model is needed.
Families: ``en``, ``es``, ``ar`` (also Persian), ``ur`` and ``xx`` (spaCy's multi-language
tokenizer, used for Georgian, which spaCy has no language class for, and for anything else).

The stock tokenizers are adjusted so that social-media entities stay whole and so that the
punctuation of Georgian, Urdu and Arabic text is split off words:

>>> [t.text for t in get_pipeline("xx")("თბილისში ვარ. #საქართველო")]
['თბილისში', 'ვარ', '.', '#საქართველო']
>>> [t.text for t in get_pipeline("ur")("لاہور میں ہوں۔ #پاکستان")]
['لاہور', 'میں', 'ہوں', '۔', '#پاکستان']
>>> [t.text for t in get_pipeline("en")("Ugh #AcmeFail! @acme_help $ACME fell, $5 gone https://acme.com/x.")]
['Ugh', '#AcmeFail', '!', '@acme_help', '$ACME', 'fell', ',', '$', '5', 'gone', 'https://acme.com/x', '.']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from brandpulse.text import WORD_CHAR

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "es", "ar", "ur", "ka")
FAMILIES: tuple[str, ...] = ("en", "es", "ar", "ur", "xx")

_FAMILY_OF: dict[str, str] = {"en": "en", "es": "es", "ar": "ar", "fa": "ar", "ur": "ur", "ka": "xx"}

# spaCy refuses texts longer than this; the pipeline truncates far below it anyway.
_MAX_LENGTH = 2_000_000
DEFAULT_BATCH_SIZE = 256


# Whole-token matchers used by the tokenizer (``fullmatch``): these tokens are never split.
_ENTITY_TOKEN_RE = re.compile(
    f"#{WORD_CHAR}+"
    r"|@\w{1,50}"
    r"|\$[A-Za-z][A-Za-z0-9]{0,5}(?:\.[A-Za-z]{1,2})?"
    r"|(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)\S*[^\s.,;:!?)\]}'\"…،۔؟»]",
    re.IGNORECASE,
)
# A string that starts like one of those entities must not lose its first character as a prefix.
_ENTITY_START_RE = re.compile(f"#{WORD_CHAR}|@\\w|\\$[A-Za-z]")

# Extra suffixes: sentence punctuation glued to the end of a word in any script (spaCy's rules
# only split a full stop after letters it knows, which excludes Georgian).
# A full stop is split only after a non-Latin character so "U.S." and "e.g." keep their stops.
_EXTRA_SUFFIX_RE = re.compile(r"(?:\.\.\.|…|(?<=[^\x00-\u024f])\.|[,;:!?۔،؟؛»\"'”’)\]])$")
_URL_TRAILING = frozenset(".,;:!?…،۔؟»\"'”’]")
# Extra infixes: Urdu/Arabic punctuation between two words with no space; Latin sentence
# punctuation between two Georgian or two Arabic-script words; a hyphen before a Georgian ending.
_EXTRA_INFIX_RE = re.compile(
    r"[۔،؟؛]"
    r"|(?<=[\u10a0-\u10ff\u1c90-\u1cbf])[.,!?:;](?=[\u10a0-\u10ff\u1c90-\u1cbf])"
    r"|(?<=[\u0620-\u064a\u066e-\u06d3])[.,!?:;](?=[\u0620-\u064a\u066e-\u06d3])"
    # Georgian case endings hyphenated onto a foreign word: "Acme-ის", "iPhone-ზე".
    r"|(?<=[^\W_])-(?=[\u10d0-\u10ff\u1c90-\u1cbf])"
)


class _Span:
    """The minimal match object spaCy's tokenizer needs (``start()``/``end()``)."""

    __slots__ = ("_end", "_start")

    def __init__(self, start: int, end: int) -> None:
        self._start = start
        self._end = end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self) -> str:  # pragma: no cover - not used by spaCy, kept for re.Match parity
        return ""


def _fix_tokenizer(nlp: Language) -> None:
    tok: Any = nlp.tokenizer
    base_prefix: Callable[[str], Any] | None = tok.prefix_search
    base_suffix: Callable[[str], Any] | None = tok.suffix_search
    base_infix: Callable[[str], Iterable[Any]] | None = tok.infix_finditer

    def prefix_search(text: str) -> Any:
        if _ENTITY_START_RE.match(text):
            return None
        return base_prefix(text) if base_prefix is not None else None

    def suffix_search(text: str) -> Any:
        if "://" in text or text[:4].lower() == "www.":
            # Sentence punctuation after a URL is not part of it ("see https://x.y/a.").
            last = text[-1]
            if last in _URL_TRAILING or (last == ")" and text.count(")") > text.count("(")):
                return _Span(len(text) - 1, len(text))
        m = base_suffix(text) if base_suffix is not None else None
        if m is not None:
            return m
        return _EXTRA_SUFFIX_RE.search(text)

    def infix_finditer(text: str) -> list[Any]:
        found = list(base_infix(text)) if base_infix is not None else []
        extra = list(_EXTRA_INFIX_RE.finditer(text))
        if not extra:
            return found
        spans = {(m.start(), m.end()) for m in found}
        for m in extra:
            if not any(a < m.end() and m.start() < b for a, b in spans):
                spans.add((m.start(), m.end()))
        return [_Span(a, b) for a, b in sorted(spans)]

    def token_match(text: str) -> bool:
        return _ENTITY_TOKEN_RE.fullmatch(text) is not None

    base_url: Callable[[str], Any] | None = tok.url_match

    def url_match(text: str) -> Any:
        # spaCy's URL pattern accepts Unicode "domains" without a scheme, which glues two
        # Arabic words around a full stop into one token; bare domains must be ASCII here.
        if base_url is None or not (text.isascii() or "://" in text):
            return None
        return base_url(text)

    tok.prefix_search = prefix_search
    tok.suffix_search = suffix_search
    tok.infix_finditer = infix_finditer
    tok.token_match = token_match
    tok.url_match = url_match


def family_for(lang: str | None) -> str:
    """The tokenizer family for a language code (``xx`` for Georgian and anything unknown)."""
    if not lang:
        return "xx"
    return _FAMILY_OF.get(lang.split("-")[0].lower(), "xx")


def make_pipeline(family: str) -> Language:
    """A fresh blank pipeline with the fixed tokenizer (no download, no model)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown language family {family!r}; expected one of {FAMILIES}")
    nlp = spacy.blank(family)
    nlp.max_length = _MAX_LENGTH
    _fix_tokenizer(nlp)
    return nlp


_PIPELINES: dict[str, Language] = {}
_LOCK = threading.Lock()


def get_pipeline(family: str) -> Language:
    """The process-wide pipeline for ``family``, created on first use and cached."""
    nlp = _PIPELINES.get(family)
    if nlp is None:
        with _LOCK:
            nlp = _PIPELINES.get(family)
            if nlp is None:
                nlp = make_pipeline(family)
                _PIPELINES[family] = nlp
    return nlp


def preload(languages: Iterable[str] | None = None) -> None:
    """Load the pipelines for ``languages`` (all families if None) so the first batch is not slow."""
    families = {family_for(lang) for lang in languages} if languages is not None else set(FAMILIES)
    families.add("xx")
    for fam in sorted(families):
        get_pipeline(fam)


def pipe_texts(
    texts: Sequence[str], langs: Sequence[str | None], *, batch_size: int = DEFAULT_BATCH_SIZE
) -> list[Doc]:
    """Tokenize ``texts`` (each with its language) through ``nlp.pipe``, grouped by family.

    Returns one ``Doc`` per text, in input order.
    """
    if len(texts) != len(langs):
        raise ValueError("texts and langs must have the same length")
    groups: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        groups.setdefault(family_for(lang), []).append(i)
    out: list[Doc | None] = [None] * len(texts)
    for fam, idxs in groups.items():
        nlp = get_pipeline(fam)
        for i, doc in zip(idxs, nlp.pipe((texts[i] for i in idxs), batch_size=batch_size), strict=True):
            out[i] = doc
    docs = [d for d in out if d is not None]
    if len(docs) != len(texts):  # pragma: no cover - nlp.pipe yields one Doc per text
        raise RuntimeError("nlp.pipe returned fewer docs than texts")
    return docs


def token_kind(text: str) -> str:
    """Classify a token's text: ``hashtag``, ``handle``, ``cashtag``, ``url`` or ``word``."""
    if not text:
        return "word"
    c = text[0]
    if c == "#" and len(text) > 1:
        return "hashtag"
    if c == "@" and len(text) > 1:
        return "handle"
    if c == "$" and len(text) > 1 and text[1].isalpha():
        return "cashtag"
    if "://" in text or text[:4].lower() == "www.":
        return "url"
    return "word"

