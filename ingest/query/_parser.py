"""Lexer and recursive-descent parser for the brand query language (see ingest/QUERY.md)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from brandpulse.text import normalize

from ._eval import (
    STREAMS,
    And,
    Doc,
    MatchDoc,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    SpanNode,
    SpanOr,
    Term,
)
from ._text import display_width, norm_author, norm_lang, query_tokens

TEXT_FIELDS = ("title", "text")
META_FIELDS = ("author", "site", "lang", "country")
FIELDS = TEXT_FIELDS + META_FIELDS

MIN_WILDCARD_PREFIX = 2
# Parentheses and NOTs nest at most this deep. The parser and the evaluator recurse once per level;
# 500 nested parentheses used to end `config check` with a RecursionError traceback. No real
# query comes near it (a deep one has 3 or 4 levels).
MAX_NESTING = 32

# Straight and typographic double quotes all delimit phrases: queries get pasted from documents.
_QUOTES = frozenset('"“”„')
_NEAR_RE = re.compile(r"(O?NEAR)(?:/(\d+))?")
_FIELD_NAME_RE = re.compile(r"[^\W\d_]+")
_DOMAIN_RE = re.compile(r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*")
_LANG_RE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")
_COUNTRY_RE = re.compile(r"[a-z]{2}")


class QuerySyntaxError(ValueError):
    """A query (or a brand's alias/exclude term) that cannot be compiled.

    ``position`` is the 0-based character index into ``query``; ``reason`` is the bare message
    and ``str(err)`` adds the column and a caret line under the offending character.
    """

    def __init__(self, reason: str, query: str, position: int, brand: str | None = None,
                 source: str = "query") -> None:
        self.reason = reason
        self.query = query
        self.position = position
        self.brand = brand
        self.source = source
        super().__init__(self._format())

    def _format(self) -> str:
        q, pos = self.query, self.position
        line_start = q.rfind("\n", 0, pos) + 1
        line_end = q.find("\n", pos)
        if line_end == -1:
            line_end = len(q)
        line = q[line_start:line_end]
        col = pos - line_start
        where = f"column {col + 1}"
        if "\n" in q:
            where = f"line {q.count(chr(10), 0, pos) + 1}, {where}"
        head, sep, tail = self.reason.partition(": ")
        msg = f"{head} at {where}{sep}{tail}"
        if self.brand is not None:
            msg = f"brand {self.brand!r} {self.source}: {msg}"
        shown = line.replace("\t", " ")
        caret = " " * display_width(shown[:col]) + "^"
        return f"{msg}\n  {shown}\n  {caret}"

    def for_brand(self, brand: str, source: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.reason, self.query, self.position, brand, source)


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(" ")" "word" "phrase" "op" "near" "field" "eof"
    value: str
    pos: int
    n: int = 0  # NEAR distance
    content_pos: int = 0  # phrase: index of the first character inside the quotes


def _syn(c: str) -> str:
    """The syntax character ``c`` stands for: fullwidth （ ） ＂ ＊ count as ( ) " *."""
    return c if c.isascii() else unicodedata.normalize("NFKC", c)


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        s = _syn(c)
        if c.isspace():
            i += 1
        elif s in ("(", ")"):
            toks.append(_Tok(s, s, i))
            i += 1
        elif s in _QUOTES:
            j = i + 1
            while j < n and _syn(q[j]) not in _QUOTES:
                j += 1
            if j >= n:
                raise QuerySyntaxError("unterminated quoted phrase", q, i)
            toks.append(_Tok("phrase", q[i + 1:j], i, content_pos=i + 1))
            i = j + 1
        else:
            j = i
            while j < n and not q[j].isspace() and _syn(q[j]) not in ("(", ")") and \
                    _syn(q[j]) not in _QUOTES:
                j += 1
            _lex_run(q, i, j, toks)
            i = j
    toks.append(_Tok("eof", "", n))
    return toks


def _lex_run(q: str, i: int, j: int, toks: list[_Tok]) -> None:
    run = q[i:j]
    key = unicodedata.normalize("NFKC", run)
    if key in ("AND", "OR", "NOT"):
        toks.append(_Tok("op", key, i))
        return
    m = _NEAR_RE.fullmatch(key)
    if m is not None:
        if m.group(2) is None:
            raise QuerySyntaxError(f"missing {m.group(1)} distance: write {m.group(1)}/3, or quote "
                                   f"\"{m.group(1)}\" to search for the word", q, i)
        toks.append(_Tok("near", m.group(1), i, n=int(m.group(2))))
        return
    if key.startswith(("NEAR/", "ONEAR/")):
        raise QuerySyntaxError("invalid NEAR/ONEAR distance: must be a whole number, e.g. NEAR/3", q, i)
    colon = next((k for k, ch in enumerate(run) if _syn(ch) == ":"), -1)
    if colon > 0:
        name = unicodedata.normalize("NFKC", run[:colon]).lower()
        if name in FIELDS:
            toks.append(_Tok("field", name, i))
            if colon + 1 < len(run):
                if name in META_FIELDS:
                    # Taken verbatim: a site: value may itself contain "https:".
                    toks.append(_Tok("word", run[colon + 1:], i + colon + 1))
                else:
                    # Lexed again so that "title:NOT" or "title:text:x" get their own errors.
                    _lex_run(q, i + colon + 1, j, toks)
            elif j >= len(q) or (_syn(q[j]) != "(" and _syn(q[j]) not in _QUOTES):
                raise QuerySyntaxError(
                    f"missing field value: nothing follows '{name}:' (no space allowed)", q, j)
            return
        if _FIELD_NAME_RE.fullmatch(name):
            raise QuerySyntaxError(
                f"unknown field '{run[:colon]}:': use one of {', '.join(FIELDS)}, or quote the "
                f"text to search for it literally", q, i)
    toks.append(_Tok("word", run, i))


class _Parser:
    def __init__(self, q: str) -> None:
        self.q = q
        self.toks = _lex(q)
        self.i = 0
        self.streams: tuple[str, ...] = STREAMS
        self.meta: str | None = None  # inside author:/site:/lang:/country:
        self.depth = 0  # open parentheses and NOTs around the current position

    # -- helpers -------------------------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def err(self, reason: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(reason, self.q, pos)

    def enter(self, t: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.err(f"nested too deeply: at most {MAX_NESTING} levels of parentheses and NOT", t.pos)

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise self.err("empty query", 0)
        node = self.parse_or()
        t = self.peek()
        if t.kind == ")":
            raise self.err("unbalanced parenthesis: unexpected ')'", t.pos)
        if t.kind != "eof":  # pragma: no cover - parse_and consumes every operand start
            raise self.err(f"unexpected {t.value!r}", t.pos)
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.peek().kind == "op" and self.peek().value == "OR":
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else self._or(items)

    def _or(self, items: list[Node]) -> Node:
        if all(isinstance(c, SpanNode) for c in items):
            return SpanOr([c for c in items if isinstance(c, SpanNode)])
        return Or(items)

    def _starts_operand(self, t: _Tok) -> bool:
        return t.kind in ("word", "phrase", "(", "field") or (t.kind == "op" and t.value == "NOT")

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while True:
            t = self.peek()
            if t.kind == "op" and t.value == "AND":
                self.take()
                items.append(self.parse_not())
            elif self._starts_operand(t):
                items.append(self.parse_not())  # implicit AND
            else:
                break
        return items[0] if len(items) == 1 else And(items)

    def parse_not(self) -> Node:
        if self.peek().kind == "op" and self.peek().value == "NOT":
            self.enter(self.take())
            node = Not(self.parse_not())
            self.depth -= 1
            return node
        return self.parse_near()

    def parse_near(self) -> Node:
        start = self.peek().pos
        left = self.parse_primary()
        while self.peek().kind == "near":
            op = self.take()
            if self.meta is not None:
                raise self.err(f"misplaced {op.value}: cannot be used inside '{self.meta}:'", op.pos)
            rstart = self.peek().pos
            right = self.parse_primary()
            for node, pos in ((left, start), (right, rstart)):
                if not isinstance(node, SpanNode):
                    raise self.err(f"invalid {op.value} operand: must be a term, phrase, wildcard "
                                   f"or an OR-group of them", pos)
            assert isinstance(left, SpanNode) and isinstance(right, SpanNode)
            left = Near(left, right, op.n, op.value == "ONEAR")
        return left

    def parse_primary(self) -> Node:
        t = self.take()
        if t.kind == "(":
            if self.peek().kind == ")":
                raise self.err("empty parentheses", t.pos)
            self.enter(t)
            node = self.parse_or()
            if self.peek().kind != ")":
                raise self.err("unbalanced parenthesis: '(' is never closed", t.pos)
            self.take()
            self.depth -= 1
            return node
        if t.kind == "field":
            return self.parse_field(t)
        if t.kind == "word":
            return self.word(t.value, t.pos)
        if t.kind == "phrase":
            return self.phrase(t)
        if t.kind == ")":
            raise self.err("unbalanced parenthesis: unexpected ')'", t.pos)
        if t.kind == "eof":
            raise self.err("unexpected end of query: expected a term, phrase or '('", t.pos)
        what = f"{t.value}/{t.n}" if t.kind == "near" else t.value
        raise self.err(f"unexpected {what}: expected a term, phrase or '('", t.pos)

    def parse_field(self, t: _Tok) -> Node:
        if self.meta is not None or self.streams != STREAMS:
            raise self.err("nested field operator: fields cannot be nested", t.pos)
        saved = self.streams, self.meta
        if t.value in TEXT_FIELDS:
            self.streams = (t.value,)
        else:
            self.meta = t.value
        try:
            return self.parse_primary()
        finally:
            self.streams, self.meta = saved

    # -- leaves --------------------------------------------------------------------------------
    def word(self, raw: str, pos: int) -> Node:
        if self.meta is not None:
            return make_meta(self.q, self.meta, raw, pos)
        return make_term(self.q, raw, pos, self.streams)

    def phrase(self, t: _Tok) -> Node:
        if self.meta is not None:
            return make_meta(self.q, self.meta, t.value, t.content_pos, quoted=True)
        if not t.value.strip():
            raise self.err("empty phrase", t.pos)
        words: list[tuple[str, bool]] = []
        kinds: list[str] = []
        for m in re.finditer(r"\S+", t.value):
            chunk_words, chunk_kinds = _term_words(self.q, m.group(), t.content_pos + m.start())
            words.extend(chunk_words)
            kinds.extend(chunk_kinds)
        if not words:
            raise self.err("phrase has no letters or digits", t.pos)
        return _leaf(self.q, words, kinds, t.pos, self.streams)


def _term_words(q: str, raw: str, pos: int) -> tuple[list[tuple[str, bool]], list[str]]:
    """Normalised words of one whitespace-free chunk; a trailing * makes its last word a prefix."""
    star = next((k for k, ch in enumerate(raw) if _syn(ch) == "*"), -1)
    wild = False
    if star != -1:
        if star != len(raw) - 1:
            raise QuerySyntaxError("misplaced wildcard: '*' is only allowed at the end of a word", q,
                                   pos + star)
        raw = raw[:-1]
        wild = True
    toks = query_tokens(normalize(raw))
    if not toks:
        if wild:
            raise QuerySyntaxError(f"wildcard too short: needs at least {MIN_WILDCARD_PREFIX} "
                                   f"letters before '*'", q, pos)
        raise QuerySyntaxError("term has no letters or digits", q, pos)
    words = [(text, False) for _k, text in toks]
    if wild:
        words[-1] = (words[-1][0], True)
    return words, [k for k, _t in toks]


def _leaf(q: str, words: list[tuple[str, bool]], kinds: list[str], pos: int,
          streams: tuple[str, ...]) -> SpanNode:
    if len(words) == 1:
        text, wild = words[0]
        if wild:
            if len(text) < MIN_WILDCARD_PREFIX:
                raise QuerySyntaxError(f"wildcard too short: needs at least "
                                       f"{MIN_WILDCARD_PREFIX} letters before '*'", q, pos)
            return Prefix(text, kinds[0], streams)
        return Term(text, kinds[0], streams)
    return Phrase(tuple(words), streams)


def make_term(q: str, raw: str, pos: int, streams: tuple[str, ...] = STREAMS) -> SpanNode:
    """A literal term as written in a query word, alias or exclude term (no operators)."""
    words, kinds = _term_words(q, raw, pos)
    return _leaf(q, words, kinds, pos, streams)


def make_literal(q: str, streams: tuple[str, ...] = STREAMS) -> SpanNode:
    """An alias/exclude term: whitespace-separated words form a phrase, no operator syntax."""
    words: list[tuple[str, bool]] = []
    kinds: list[str] = []
    for m in re.finditer(r"\S+", q):
        w, k = _term_words(q, m.group(), m.start())
        words.extend(w)
        kinds.extend(k)
    if not words:
        raise QuerySyntaxError("term has no letters or digits", q, 0)
    return _leaf(q, words, kinds, 0, streams)


def make_meta(q: str, field: str, raw: str, pos: int, quoted: bool = False) -> Meta:
    prefix = False
    star = next((k for k, ch in enumerate(raw) if _syn(ch) == "*"), -1)
    if star != -1:
        if field != "author" or star != len(raw) - 1:
            hint = " (site: already matches subdomains)" if field == "site" else ""
            raise QuerySyntaxError(
                f"unsupported wildcard: only author: values may end in '*'{hint}", q, pos + star)
        raw, prefix = raw[:-1], True
    if field == "author":
        v = norm_author(raw)
        if not v:
            raise QuerySyntaxError("empty author", q, pos)
        return Meta(field, v, prefix)
    if field == "site":
        v = normalize(raw).strip()
        if "://" in v:
            v = v.split("://", 1)[1]
        v = v.rstrip("/")
        if v.startswith("www."):
            v = v[4:]
        if not _DOMAIN_RE.fullmatch(v):
            raise QuerySyntaxError("invalid site value: needs a domain name such as example.com (no path)",
                                   q, pos)
        return Meta(field, v)
    if field == "lang":
        v = norm_lang(raw)
        if not _LANG_RE.fullmatch(v):
            raise QuerySyntaxError(
                "invalid lang value: needs a language code such as en, ur or pt-br", q, pos)
        return Meta(field, v)
    v = normalize(raw).strip()
    if not _COUNTRY_RE.fullmatch(v):
        raise QuerySyntaxError("invalid country value: needs a two-letter country code such as PK", q, pos)
    return Meta(field, v)


class Query:
    """A compiled boolean query. ``str(query)`` is a canonical, fully parenthesised form."""

    __slots__ = ("root", "text")

    def __init__(self, text: str, root: Node) -> None:
        self.text = text
        self.root = root

    def matches(self, doc: MatchDoc) -> bool:
        return self.root.matches(Doc(doc))

    def __str__(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"Query({self.text!r})"


def compile_query(text: str) -> Query:
    """Parse ``text``; raises QuerySyntaxError with the 0-based position of the problem."""
    return Query(text, _Parser(text).parse())
