"""Document analysis and the query tree that is evaluated against it."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from brandpulse.text import normalize

from ._text import TOKEN_RE, arabic_alternate, lang_keys, norm_author, norm_country, site_keys

Span = tuple[int, int]
# A trigger is a set of index keys such that a document can only match the node if at least one
# key is present in it. Namespaces: "w" exact word (plain token or any prefix of a tag), "p3"/"p2"
# a wildcard prefix of 3+ or 2 characters, and the metadata fields. None means "no such set".
Key = tuple[str, str]
Trigger = frozenset[Key] | None

STREAMS: tuple[str, ...] = ("title", "text")

# The spans a NEAR hands on (to a chained NEAR) are cut to this many per field. A post is at most
# 100k characters, so an operand has at most ~50k spans, and a NEAR over two of them could pair
# every one with every other; this bounds what one document can cost. Cutting only matters for a
# chained NEAR over an operand found more than this many times in one post.
MAX_SPANS = 10_000

# Relative selectivity used to pick the cheapest child of an AND as its trigger: a brand word is
# rare, a 3-letter prefix much less so, and a language or country matches a large share of traffic.
_KEY_COST = {"w": 1, "p3": 4, "p2": 20, "author": 1, "site": 2, "country": 100, "lang": 200}


def trigger_cost(t: frozenset[Key]) -> int:
    return sum(_KEY_COST[ns] for ns, _ in t)


@dataclass(frozen=True)
class MatchDoc:
    text: str
    title: str | None = None
    author: str | None = None  # handle or name; matched case-insensitively, leading @ ignored
    url: str | None = None  # site: matches its host
    lang: str | None = None  # ISO 639-1, e.g. "ur"
    country: str | None = None  # ISO 3166 alpha-2


class Stream:
    """Positional tokens of one text field.

    A hashtag or handle is a single token (its text without "#"/"@"). Each position has one or
    more forms: the token itself, plus for tags the form without "_" (so the phrase "acme corp"
    can match @acme_corp) and, for Arabic-script tokens, the form without an article clitic.
    """

    __slots__ = ("forms", "index", "tags")

    def __init__(self, norm: str) -> None:
        forms_at: list[tuple[str, ...]] = []
        index: dict[str, list[int]] = {}
        tags: list[tuple[int, str, tuple[str, ...]]] = []
        for kind, tag, word in TOKEN_RE.findall(norm):
            if kind:
                forms = [tag]
                if "_" in tag and tag.replace("_", ""):
                    forms.append(tag.replace("_", ""))
                alt = arabic_alternate(tag)
                if alt is not None:
                    forms.append(alt)
                ftuple = tuple(forms)
                tags.append((len(forms_at), kind, ftuple))
                parts: list[tuple[str, ...]] = [ftuple]
            else:
                parts = []
                for part in word.split("_") if "_" in word else (word,):
                    if part:
                        alt = arabic_alternate(part)
                        parts.append((part,) if alt is None else (part, alt))
            for ftuple in parts:
                pos = len(forms_at)
                forms_at.append(ftuple)
                for f in ftuple:
                    ps = index.get(f)
                    if ps is None:
                        index[f] = [pos]
                    else:
                        ps.append(pos)
        self.forms = forms_at
        self.index = index
        self.tags = tags


class Doc:
    """A MatchDoc normalised once; positional streams and metadata are derived on first use."""

    __slots__ = ("_author", "_country", "_hosts", "_langs", "_streams", "doc", "norm_text",
                 "norm_title")

    def __init__(self, doc: MatchDoc) -> None:
        self.doc = doc
        self.norm_text = normalize(doc.text) if doc.text else ""
        self.norm_title = normalize(doc.title) if doc.title else ""
        self._streams: dict[str, Stream] = {}
        self._author: str | None = None
        self._country: str | None = None
        self._hosts: tuple[str, ...] | None = None
        self._langs: tuple[str, ...] | None = None

    def stream(self, name: str) -> Stream:
        s = self._streams.get(name)
        if s is None:
            s = Stream(self.norm_title if name == "title" else self.norm_text)
            self._streams[name] = s
        return s

    @property
    def author(self) -> str:
        if self._author is None:
            self._author = norm_author(self.doc.author) if self.doc.author else ""
        return self._author

    @property
    def country(self) -> str:
        if self._country is None:
            self._country = norm_country(self.doc.country) if self.doc.country else ""
        return self._country

    @property
    def hosts(self) -> tuple[str, ...]:
        if self._hosts is None:
            self._hosts = site_keys(self.doc.url) if self.doc.url else ()
        return self._hosts

    @property
    def langs(self) -> tuple[str, ...]:
        if self._langs is None:
            self._langs = lang_keys(self.doc.lang) if self.doc.lang else ()
        return self._langs


def _quote(s: str) -> str:
    return '"' + s + '"'


def _scoped(streams: tuple[str, ...], body: str) -> str:
    return body if streams == STREAMS else f"{streams[0]}:{body}"


class Node:
    """Boolean query node."""

    def matches(self, d: Doc) -> bool:
        raise NotImplementedError

    def trigger(self) -> Trigger:
        raise NotImplementedError


class SpanNode(Node):
    """A node that matches at token spans, so it can be an operand of NEAR/ONEAR."""

    streams: tuple[str, ...] = STREAMS

    def spans(self, d: Doc, stream: str) -> list[Span]:
        raise NotImplementedError

    def matches(self, d: Doc) -> bool:
        return any(self.spans(d, s) for s in self.streams)


class Term(SpanNode):
    """One word. A plain term also matches any hashtag/handle that starts with it; a term written
    with "#"/"@" matches only a hashtag/handle with exactly that text."""

    def __init__(self, text: str, kind: str, streams: tuple[str, ...]) -> None:
        self.text, self.kind, self.streams = text, kind, streams

    def spans(self, d: Doc, stream: str) -> list[Span]:
        if stream not in self.streams:
            return []
        st = d.stream(stream)
        t = self.text
        if self.kind:
            return [(p, p) for p, k, forms in st.tags if k == self.kind and t in forms]
        pos = set(st.index.get(t, ()))
        for p, _k, forms in st.tags:
            if any(f.startswith(t) for f in forms):
                pos.add(p)
        return [(p, p) for p in sorted(pos)]

    def trigger(self) -> Trigger:
        return frozenset({("w", self.text)})

    def __str__(self) -> str:
        return _scoped(self.streams, self.kind + self.text)


def _prefix_key(p: str) -> Key:
    # The whole prefix is kept; the matcher buckets "p3" keys by their first three characters.
    return ("p3", p) if len(p) >= 3 else ("p2", p)


class Prefix(SpanNode):
    """Suffix wildcard ``acm*``: any word (or tag, or tag of the given kind) starting with text."""

    def __init__(self, text: str, kind: str, streams: tuple[str, ...]) -> None:
        self.text, self.kind, self.streams = text, kind, streams

    def spans(self, d: Doc, stream: str) -> list[Span]:
        if stream not in self.streams:
            return []
        st = d.stream(stream)
        t = self.text
        if self.kind:
            return [(p, p) for p, k, forms in st.tags
                    if k == self.kind and any(f.startswith(t) for f in forms)]
        pos: set[int] = set()
        for form, ps in st.index.items():
            if form.startswith(t):
                pos.update(ps)
        return [(p, p) for p in sorted(pos)]

    def trigger(self) -> Trigger:
        return frozenset({_prefix_key(self.text)})

    def __str__(self) -> str:
        return _scoped(self.streams, self.kind + self.text + "*")


class Phrase(SpanNode):
    """Consecutive words; a word may end in a wildcard. Also matches a single hashtag/handle that
    starts with the words run together (``"acme corp"`` matches #AcmeCorpFail, @acme_corp)."""

    def __init__(self, words: tuple[tuple[str, bool], ...], streams: tuple[str, ...]) -> None:
        self.words, self.streams = words, streams
        # Concatenation only makes sense if every word but the last is literal.
        if all(not wild for _w, wild in words[:-1]):
            self.concat: str | None = "".join(w for w, _wild in words)
        else:
            self.concat = None

    @staticmethod
    def _word_at(forms: tuple[str, ...], word: str, wild: bool) -> bool:
        return any(f.startswith(word) for f in forms) if wild else word in forms

    def spans(self, d: Doc, stream: str) -> list[Span]:
        if stream not in self.streams:
            return []
        st = d.stream(stream)
        forms = st.forms
        words = self.words
        n = len(words)
        first, first_wild = words[0]
        if first_wild:
            starts = [p for p in range(len(forms)) if self._word_at(forms[p], first, True)]
        else:
            starts = st.index.get(first, [])
        out: list[Span] = []
        for p in starts:
            if p + n <= len(forms) and all(
                self._word_at(forms[p + i], w, wild) for i, (w, wild) in enumerate(words) if i
            ):
                out.append((p, p + n - 1))
        if self.concat is not None:
            c = self.concat
            for p, _k, tforms in st.tags:
                if any(f.startswith(c) for f in tforms):
                    out.append((p, p))
            out.sort()
        return out

    def trigger(self) -> Trigger:
        literal = [w for w, wild in self.words if not wild]
        if literal:
            # Longer words are rarer, so they make a more selective trigger.
            keys: set[Key] = {("w", max(literal, key=len))}
        else:
            keys = {_prefix_key(max((w for w, _ in self.words), key=len))}
        if self.concat is not None:
            keys.add(("w", self.concat))
        return frozenset(keys)

    def __str__(self) -> str:
        return _scoped(self.streams, _quote(" ".join(w + ("*" if wild else "") for w, wild in
                                                      self.words)))


class SpanOr(SpanNode):
    """An OR of span nodes, usable as a NEAR operand: its spans are the union of its children's."""

    def __init__(self, children: list[SpanNode]) -> None:
        self.children = children

    def spans(self, d: Doc, stream: str) -> list[Span]:
        out: list[Span] = []
        for c in self.children:
            out.extend(c.spans(d, stream))
        return out

    def matches(self, d: Doc) -> bool:
        return any(c.matches(d) for c in self.children)

    def trigger(self) -> Trigger:
        return _or_trigger(self.children)

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


class Near(SpanNode):
    """``a NEAR/n b``: a and b at non-overlapping spans with at most n words between them, in either
    order (ONEAR: a first). The resulting span covers both, so NEAR can be chained."""

    def __init__(self, left: SpanNode, right: SpanNode, n: int, ordered: bool) -> None:
        self.left, self.right, self.n, self.ordered = left, right, n, ordered

    def _pairs(self, d: Doc, stream: str) -> Iterator[Span]:
        """The combined span of every (a, b) pair close enough, in order of a.

        Both sides are sorted by start, so the b spans that can pair with one a span are found by
        bisection instead of comparing all pairs: a NEAR over two frequent words in a long post
        was quadratic (40k characters: 2.4 s; 100k: 15 s).
        """
        a = _sorted_spans(self.left.spans(d, stream))
        if not a:
            return
        b = _sorted_spans(self.right.spans(d, stream))
        if not b:
            return
        starts = [b0 for b0, _b1 in b]
        longest = max(b1 - b0 for b0, b1 in b)
        n = self.n
        for a0, a1 in a:
            # b after a, at most n words between: a1 < b0 <= a1 + 1 + n
            for i in range(bisect_left(starts, a1 + 1), bisect_right(starts, a1 + 1 + n)):
                yield a0, b[i][1]
            if self.ordered:
                continue
            # b before a: a0 - 1 - n <= b1 < a0, and b0 <= b1, so b0 is in this range
            for i in range(bisect_left(starts, a0 - 1 - n - longest), bisect_left(starts, a0)):
                b0, b1 = b[i]
                if a0 - 1 - n <= b1 < a0:
                    yield b0, a1

    def spans(self, d: Doc, stream: str) -> list[Span]:
        return sorted(set(islice(self._pairs(d, stream), MAX_SPANS)))

    def matches(self, d: Doc) -> bool:
        # the first pair decides: no spans are collected for a NEAR that is not chained
        return any(next(self._pairs(d, s), None) is not None for s in self.streams)

    def trigger(self) -> Trigger:
        return _and_trigger([self.left, self.right])

    def __str__(self) -> str:
        op = "ONEAR" if self.ordered else "NEAR"
        return f"({self.left} {op}/{self.n} {self.right})"


class And(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children

    def matches(self, d: Doc) -> bool:
        return all(c.matches(d) for c in self.children)

    def trigger(self) -> Trigger:
        return _and_trigger(self.children)

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


class Or(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children

    def matches(self, d: Doc) -> bool:
        return any(c.matches(d) for c in self.children)

    def trigger(self) -> Trigger:
        return _or_trigger(self.children)

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


class Not(Node):
    def __init__(self, child: Node) -> None:
        self.child = child

    def matches(self, d: Doc) -> bool:
        return not self.child.matches(d)

    def trigger(self) -> Trigger:
        return None

    def __str__(self) -> str:
        return f"NOT {self.child}"


class Meta(Node):
    """author:, site:, lang:, country: — compared with the document's metadata, not its text."""

    def __init__(self, field: str, value: str, prefix: bool = False) -> None:
        self.field, self.value, self.prefix = field, value, prefix

    def matches(self, d: Doc) -> bool:
        v = self.value
        if self.field == "author":
            return d.author.startswith(v) if self.prefix else d.author == v
        if self.field == "site":
            return v in d.hosts
        if self.field == "lang":
            return v in d.langs
        return d.country == v

    def trigger(self) -> Trigger:
        if self.prefix:
            return None
        return frozenset({(self.field, self.value)})

    def __str__(self) -> str:
        v = self.value
        if self.prefix:
            v += "*"
        if not v or any(c.isspace() or c in '()"' for c in v):
            v = _quote(v)
        return f"{self.field}:{v}"


def _sorted_spans(spans: list[Span]) -> list[Span]:
    """Spans sorted by start, without repeats (an OR of overlapping terms repeats them), cut to
    MAX_SPANS."""
    if all(spans[i] < spans[i + 1] for i in range(len(spans) - 1)):
        return spans[:MAX_SPANS]
    return sorted(set(spans))[:MAX_SPANS]


def _or_trigger(children: list[Node] | list[SpanNode]) -> Trigger:
    keys: set[Key] = set()
    for c in children:
        t = c.trigger()
        if t is None:
            return None
        keys |= t
    return frozenset(keys)


def _and_trigger(children: list[Node] | list[SpanNode]) -> Trigger:
    best: frozenset[Key] | None = None
    for c in children:
        t = c.trigger()
        if t is not None and (best is None or trigger_cost(t) < trigger_cost(best)):
            best = t
    return best
