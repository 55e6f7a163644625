"""Matching one document against many brands through an inverted index of trigger keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter

from ._eval import Doc, MatchDoc, Node, Or, SpanNode, SpanOr, Trigger
from ._parser import QuerySyntaxError, _Parser, make_literal
from ._text import (
    AR_PREFIXES,
    TAG_RE,
    lang_keys,
    norm_author,
    plain_words,
)

_FIRST3 = itemgetter(slice(None, 3))
_FIRST2 = itemgetter(slice(None, 2))


@dataclass(frozen=True)
class BrandSpec:
    name: str
    query: str | None = None
    aliases: tuple[str, ...] = ()
    exclude_terms: tuple[str, ...] = ()
    exclude_authors: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


def _strings(brand: str, field: str, value: object) -> tuple[str, ...]:
    # A bare string would otherwise be iterated character by character into one-letter aliases.
    if not isinstance(value, str) and isinstance(value, Iterable):
        items = tuple(value)
        if all(isinstance(v, str) for v in items):
            return items
    raise TypeError(f"brand {brand!r}: {field} must be a list of strings, got {value!r}")


def _with_arabic_clitics(key: str) -> list[str]:
    """``key`` plus its forms with an Arabic article clitic attached.

    Documents match a term through the clitic-less alternate of a token (see Stream); indexing
    the prefixed forms instead lets the candidate scan skip computing alternates per token.
    """
    if key and "\u0600" <= key[0] <= "\u06ff":
        return [key, *(p + key for p in AR_PREFIXES)]
    return [key]


class _Brand:
    __slots__ = ("exclude_authors", "excludes", "languages", "name", "positive")

    def __init__(self, spec: BrandSpec) -> None:
        name = spec.name
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"brand name must be a non-empty string, got {name!r}")
        self.name = name
        parts: list[Node] = []
        if spec.query is not None and spec.query.strip():
            try:
                parts.append(_Parser(spec.query).parse())
            except QuerySyntaxError as e:
                raise e.for_brand(name, "query") from None
        for i, alias in enumerate(_strings(name, "aliases", spec.aliases)):
            parts.append(_literal(name, f"alias #{i + 1}", alias))
        if not parts:
            parts.append(_literal(name, "name", name))
        if len(parts) == 1:
            self.positive = parts[0]
        elif all(isinstance(p, SpanNode) for p in parts):
            self.positive = SpanOr([p for p in parts if isinstance(p, SpanNode)])
        else:
            self.positive = Or(parts)
        self.excludes = [_literal(name, f"exclude term #{i + 1}", t)
                         for i, t in enumerate(_strings(name, "exclude_terms", spec.exclude_terms))]
        self.exclude_authors = frozenset(
            a for a in map(norm_author, _strings(name, "exclude_authors", spec.exclude_authors)) if a)
        self.languages = frozenset(
            k for lang in _strings(name, "languages", spec.languages) for k in lang_keys(lang)[:1])

    def matches(self, d: Doc) -> bool:
        if self.languages and self.languages.isdisjoint(d.langs):
            return False
        if self.exclude_authors and d.author in self.exclude_authors:
            return False
        if not self.positive.matches(d):
            return False
        return not any(x.matches(d) for x in self.excludes)

    def trigger(self) -> Trigger:
        return self.positive.trigger()


def _literal(brand: str, source: str, text: str) -> SpanNode:
    try:
        return make_literal(text)
    except QuerySyntaxError as e:
        raise e.for_brand(brand, source) from None


class BrandMatcher:
    """Compiles every brand once; :meth:`match` returns the names of all brands a document matches.

    Only brands whose trigger keys occur in the document are evaluated (``use_index=False``
    evaluates every brand, which gives the same answer and exists to test exactly that).
    """

    def __init__(self, brands: Sequence[BrandSpec], *, use_index: bool = True) -> None:
        self._brands: list[_Brand] = []
        seen: set[str] = set()
        for spec in brands:
            b = _Brand(spec)
            if b.name in seen:
                raise ValueError(f"duplicate brand name {b.name!r}")
            seen.add(b.name)
            self._brands.append(b)
        self._use_index = use_index
        self._always = 0  # bit i set: brand i has no trigger and is evaluated for every document
        self._words: dict[str, int] = {}
        # Wildcard prefixes, bucketed by their first 3 (or only 2) characters: a document
        # produces one slice per token for the bucket lookup and only a bucket hit pays for the
        # exact startswith checks.
        self._p3: dict[str, list[tuple[str, int]]] = {}
        self._p2: dict[str, list[tuple[str, int]]] = {}
        self._meta: dict[str, dict[str, int]] = {"author": {}, "site": {}, "lang": {}, "country": {}}
        for i, b in enumerate(self._brands):
            bit = 1 << i
            trig = b.trigger()
            if trig is None:
                self._always |= bit
                continue
            for ns, key in trig:
                if ns in ("w", "p3", "p2"):
                    for k in _with_arabic_clitics(key):
                        if ns == "w":
                            self._words[k] = self._words.get(k, 0) | bit
                        elif len(k) >= 3:
                            self._p3.setdefault(k[:3], []).append((k, bit))
                        else:
                            self._p2.setdefault(k, []).append((k, bit))
                else:
                    table = self._meta[ns]
                    table[key] = table.get(key, 0) | bit
        self._word_keys = frozenset(self._words)
        # A tag can only contain a word key as a prefix of at most this length.
        self._longest_word = max(map(len, self._word_keys), default=0)
        self._p3_keys = frozenset(self._p3)
        self._p2_keys = frozenset(self._p2)
        self._all = (1 << len(self._brands)) - 1

    @property
    def brand_names(self) -> list[str]:
        return [b.name for b in self._brands]

    def candidates(self, d: Doc) -> int:
        """Bitmask of brands that may match: a superset of the true matches, usually empty."""
        mask = self._always
        words = self._words
        text, title = d.norm_text, d.norm_title
        # Only membership matters here, so title and text can be scanned as one string.
        s = f"{text}\n{title}" if title else text
        # Lists, not sets: building a set costs more than the membership tests it would save.
        toks = plain_words(s)
        for k in self._word_keys.intersection(toks):
            mask |= words[k]
        if "#" in s or "@" in s:
            tag_prefixes: set[str] = set()
            longest = self._longest_word
            for _kind, tag in TAG_RE.findall(s):
                for f in {tag, tag.replace("_", "")}:
                    # A plain term matches any tag it starts with, so every prefix is a key; none
                    # longer than the longest word key can be one. Unbounded, a 30k-character
                    # "#aaaa…" made 30k prefixes of up to 30k characters each (450 MB).
                    tag_prefixes.update(f[:k] for k in range(1, min(len(f), longest) + 1))
                    toks.append(f)
            for k in self._word_keys.intersection(tag_prefixes):
                mask |= words[k]
        if self._p3:
            for k in self._p3_keys.intersection(map(_FIRST3, toks)):
                for prefix, bit in self._p3[k]:
                    if not mask & bit and any(t.startswith(prefix) for t in toks):
                        mask |= bit
        if self._p2:
            for k in self._p2_keys.intersection(map(_FIRST2, toks)):
                for _prefix, bit in self._p2[k]:  # the key is the whole prefix
                    mask |= bit
        doc = d.doc
        meta = self._meta
        if doc.lang and meta["lang"]:
            for k in d.langs:
                mask |= meta["lang"].get(k, 0)
        if doc.country and meta["country"]:
            mask |= meta["country"].get(d.country, 0)
        if doc.author and meta["author"]:
            mask |= meta["author"].get(d.author, 0)
        if doc.url and meta["site"]:
            for h in d.hosts:
                mask |= meta["site"].get(h, 0)
        return mask

    def match(self, doc: MatchDoc) -> list[str]:
        """Names of all brands matching ``doc``, in configuration order."""
        d = Doc(doc)
        mask = self.candidates(d) if self._use_index else self._all
        out: list[str] = []
        brands = self._brands
        while mask:
            low = mask & -mask
            b = brands[low.bit_length() - 1]
            if b.matches(d):
                out.append(b.name)
            mask ^= low
        return out
