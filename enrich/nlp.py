"""The tokenizer every tagger shares: spaCy's rules for five language families, run on plain strings.

Families: ``en``, ``es``, ``ar`` (also Persian), ``ur`` and ``xx`` (spaCy's multi-language rules,
used for Georgian, which spaCy has no language class for, and for anything else).

The rules are spaCy's (its prefixes, suffixes, infixes, tokenizer exceptions and URL pattern for
the family, from ``spacy.blank``: nothing is downloaded), adjusted so that social-media entities
stay whole and so that the punctuation of Georgian, Urdu and Arabic text is split off words:

>>> tokenize("თბილისში ვარ. #საქართველო", "ka")
['თბილისში', 'ვარ', '.', '#საქართველო']
>>> tokenize("لاہور میں ہوں۔ #پاکستان", "ur")
['لاہور', 'میں', 'ہوں', '۔', '#پاکستان']
>>> tokenize("Ugh #AcmeFail! @acme_help $ACME fell, $5 gone https://acme.com/x.", "en")
['Ugh', '#AcmeFail', '!', '@acme_help', '$ACME', 'fell', ',', '$', '5', 'gone', 'https://acme.com/x', '.']

Why not ``nlp.pipe``: the taggers only read token strings, and spaCy's ``Doc`` machinery costs far
more than the splitting itself on a stream of unique posts — every new word becomes a ``Lexeme``
in a vocabulary that grows for as long as the process lives, plus ``Token`` objects per word
(measured on unique real posts, CPU per text: ``nlp.pipe`` + token texts ~160 µs, this ~25 µs). :class:`Tokenizer` runs spaCy's own
algorithm (whitespace split, special cases, prefix/suffix stripping, infixes, the special-case
second pass) over strings, with a bounded memo of whitespace-free chunks and two exact shortcuts:
a chunk of letters only is never split by these rules (only a tokenizer exception can split it),
nor is the letters part of a chunk that ends in one of ``, ! ? ; :``. ``get_pipeline`` keeps the
equivalent spaCy pipeline as the reference the tests compare against (identical token lists on
all but 1 of 100,000 real post × family pairs; that one is a spaCy quirk, a special-case match
across a space blocking one inside a word).

Cost is bounded: spaCy's affix loop is quadratic in the length of a non-space run (10,000 emoji:
10-37 s). Here prefixes are matched at the start only, suffixes searched in the run's tail when
that is provably the same answer, a failed suffix search is not repeated while only prefixes
come off, and runs longer than ``MAX_RUN`` characters (``MAX_URL_RUN`` for a URL; a run of
letters only is one token however long) are cut into pieces before tokenising: at most 16 of the 348k
shared real posts have such a run, mostly glued hashtag chains. 10,000 emoji take ~1 ms.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import spacy
from spacy.attrs import ORTH
from spacy.language import Language

from brandpulse.text import WORD_CHAR

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "es", "ar", "ur", "ka")
FAMILIES: tuple[str, ...] = ("en", "es", "ar", "ur", "xx")

_FAMILY_OF: dict[str, str] = {"en": "en", "es": "es", "ar": "ar", "fa": "ar", "ur": "ur", "ka": "xx"}

# spaCy refuses texts longer than this; the pipeline truncates far below it anyway.
_MAX_LENGTH = 2_000_000

# A non-space run longer than this is cut into pieces before tokenising (see the module doc).
MAX_RUN = 100
MAX_URL_RUN = 1_000
_MEMO_LIMIT = 100_000  # chunks remembered per family; the memo is emptied when full
_SUFFIX_TAIL = 32  # the longest tail a suffix search may be limited to (see _exact_suffix_tail)


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
# Punctuation that spaCy's rules split off the end of a letters-only word in every family
# (checked for every letter of Unicode by tests/unit/test_tokenizer.py).
_PLAIN_SUFFIXES = frozenset(",!?;:")
# Whitespace other than single spaces between chunks: the text needs spaCy's whitespace tokens.
_ODD_SPACE_RE = re.compile(r"[^\S ]|  |^ | $")
_SPACE_RUN_RE = re.compile(r"\s+")
_WORD_CHAR_RE = re.compile(r"\w")
_LONG_RUN_RE = re.compile(f"\\S{{{MAX_RUN + 1},}}")


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


def _url_suffix(text: str) -> bool:
    """Sentence punctuation after a URL is not part of it ("see https://x.y/a.")."""
    if "://" in text or text[:4].lower() == "www.":
        last = text[-1]
        return last in _URL_TRAILING or (last == ")" and text.count(")") > text.count("("))
    return False


class _Rules:
    """One family's rules: spaCy's defaults plus the fixes above, as plain callables."""

    def __init__(self, family: str) -> None:
        tok: Any = spacy.blank(family).tokenizer
        self.base_prefix: Callable[[str], Any] | None = tok.prefix_search
        self.base_suffix: Callable[[str], Any] | None = tok.suffix_search
        self.base_infix: Callable[[str], Iterable[Any]] | None = tok.infix_finditer
        self.base_url: Callable[[str], Any] | None = tok.url_match
        self.specials: dict[str, tuple[str, ...]] = {
            key: tuple(str(piece[ORTH]) for piece in pieces) for key, pieces in tok.rules.items()
        }
        # Anchored alternatives (``^a|^b``): matching at the start is the same as searching.
        prefix_re = getattr(self.base_prefix, "__self__", None)
        self.prefix_match: Callable[[str], Any] | None = (
            prefix_re.match if isinstance(prefix_re, re.Pattern) and _all_anchored(prefix_re) else self.base_prefix
        )
        suffix_re = getattr(self.base_suffix, "__self__", None)
        pattern = suffix_re.pattern if isinstance(suffix_re, re.Pattern) else None
        self.suffix_tail = _exact_suffix_tail(pattern) if pattern is not None else 0
        # With only positive lookbehinds and no start anchors, taking a prefix off cannot create a
        # suffix match: a failed suffix search need not be repeated until a suffix comes off.
        self.prefix_keeps_suffix = pattern is not None and _suffix_context_free(pattern)

    # the fixed callables, in spaCy's calling conventions (also patched into the reference pipeline)
    def prefix_search(self, text: str) -> Any:
        if _ENTITY_START_RE.match(text):
            return None
        return self.base_prefix(text) if self.base_prefix is not None else None

    def suffix_search(self, text: str) -> Any:
        if _url_suffix(text):
            return _Span(len(text) - 1, len(text))
        m = self.base_suffix(text) if self.base_suffix is not None else None
        if m is not None:
            return m
        return _EXTRA_SUFFIX_RE.search(text)

    def infix_finditer(self, text: str) -> list[Any]:
        found = list(self.base_infix(text)) if self.base_infix is not None else []
        extra = list(_EXTRA_INFIX_RE.finditer(text))
        if not extra:
            return found
        spans = {(m.start(), m.end()) for m in found}
        for m in extra:
            if not any(a < m.end() and m.start() < b for a, b in spans):
                spans.add((m.start(), m.end()))
        return [_Span(a, b) for a, b in sorted(spans)]

    @staticmethod
    def token_match(text: str) -> bool:
        return _ENTITY_TOKEN_RE.fullmatch(text) is not None

    def url_match(self, text: str) -> Any:
        # spaCy's URL pattern accepts Unicode "domains" without a scheme, which glues two
        # Arabic words around a full stop into one token; bare domains must be ASCII here.
        if self.base_url is None or not (text.isascii() or "://" in text):
            return None
        return self.base_url(text)


def _all_anchored(pattern: re.Pattern[str]) -> bool:
    parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    items = list(parsed)
    if len(items) == 1 and items[0][0] is sre_parse.BRANCH:
        return all(
            len(branch) > 0 and branch[0] == (sre_parse.AT, sre_parse.AT_BEGINNING)
            for branch in items[0][1][1]
        )
    return bool(items) and items[0] == (sre_parse.AT, sre_parse.AT_BEGINNING)


def _exact_suffix_tail(pattern: str) -> int:
    """How many final characters a suffix search may look at and find what searching all would
    (0: it must search all).

    Every ``...$`` alternative must either match at most ``w`` characters or be a run of one
    repeated character (any tail of such a match is a match too), and no lookbehind may be longer
    than 2 characters nor negative. Then, with a tail of ``w + 2`` characters, a match found at
    tail position >= 2 is the leftmost match of the whole string, and no match in the tail means
    none at all; a match at position 0 or 1 (a long run of dots) needs the full search.
    """
    try:
        branches = _alternatives(sre_parse.parse(pattern))
    except Exception:  # pragma: no cover - an unparseable pattern: never take the shortcut
        return 0
    widest = 1
    for branch in branches:
        if not _lookbehinds_ok(branch):
            return 0
        if _is_char_run(branch):
            continue
        widest = max(widest, branch.getwidth()[1])
        if widest > _SUFFIX_TAIL - 2:
            return 0
    return widest + 2


def _suffix_context_free(pattern: str) -> bool:
    try:
        return all(_lookbehinds_ok(b) for b in _alternatives(sre_parse.parse(pattern)))
    except Exception:  # pragma: no cover
        return False


def _alternatives(parsed: Any) -> list[Any]:
    items = list(parsed)
    if len(items) == 1 and items[0][0] is sre_parse.BRANCH:
        out = []
        for branch in items[0][1][1]:
            sub = sre_parse.SubPattern(parsed.state, list(branch))
            out.append(sub)
        return out
    return [parsed]


def _is_char_run(branch: Any) -> bool:
    # e.g. \.\.+$ : one literal, the same literal repeated, end of string
    items = [i for i in branch if i != (sre_parse.AT, sre_parse.AT_END)]
    if not items or items[0][0] is not sre_parse.LITERAL:
        return False
    lit = items[0]
    for op, av in items[1:]:
        if op is sre_parse.MAX_REPEAT and list(av[2]) == [lit]:
            continue
        if (op, av) == lit:
            continue
        return False
    return True


def _lookbehinds_ok(branch: Any) -> bool:
    for op, av in branch:
        if op is sre_parse.ASSERT_NOT:
            return False
        if op is sre_parse.ASSERT and av[0] < 0 and av[1].getwidth()[1] > 2:
            return False
        if op is sre_parse.AT and av in (sre_parse.AT_BOUNDARY, sre_parse.AT_NON_BOUNDARY, sre_parse.AT_BEGINNING):
            return False
        if op in (sre_parse.SUBPATTERN, sre_parse.BRANCH, sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
            subs = av[1] if op is sre_parse.BRANCH else [av[-1]]
            if any(not _lookbehinds_ok(s) for s in subs):
                return False
    return True


class Tokenizer:
    """spaCy's tokenizer algorithm for one family, on plain strings. Thread-safe; one per family."""

    def __init__(self, family: str) -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown language family {family!r}; expected one of {FAMILIES}")
        self.family = family
        self.rules = rules = _Rules(family)
        self._specials = rules.specials
        self._memo: dict[str, tuple[str, ...]] = {}
        # spaCy's second pass re-applies a special case wherever the affix rules produced the
        # tokens of its string (e.g. ":)" split off a word); spaCy registers only the specials
        # that the affix rules would split, and so do we.
        self._patterns: dict[str, tuple[str, ...]] = {}
        self._spaced: dict[str, tuple[str, ...]] = {}
        for key in self._specials:
            if key.isspace():
                continue
            if not (
                rules.prefix_search(key) or rules.suffix_search(key) or rules.infix_finditer(key) or " " in key
            ):
                continue
            pattern = tuple(self._split_text(key, specials=False))
            (self._spaced if " " in key else self._patterns)[key] = pattern
        self._first = frozenset(p[0] for p in self._patterns.values() if p)
        self._max_pattern = max((len(p) for p in self._patterns.values()), default=1)

    def __call__(self, text: str) -> list[str]:
        if not text:
            return []
        toks = self._split_text(text)
        for key in self._spaced:  # special cases with a space inside ("EE. UU.")
            if key in text:
                toks = self._merge_spaced(toks, key)
        return toks

    # -- whitespace -----------------------------------------------------------------------

    def _split_text(self, text: str, specials: bool = True) -> list[str]:
        """Chunks between whitespace; as in spaCy, one space after a chunk belongs to it and any
        other whitespace run is a token of its own."""
        out: list[str] = []
        if _ODD_SPACE_RE.search(text) is None:
            special = self._specials.get
            for chunk in text.split(" "):
                if specials and chunk.isalpha():  # the common case, inlined: see _chunk
                    hit = special(chunk)
                    if hit is None:
                        out.append(chunk)
                    else:
                        out.extend(hit)
                else:
                    self._chunk(chunk, out, specials)
            return out
        pos = 0
        for m in _SPACE_RUN_RE.finditer(text):
            a, b = m.start(), m.end()
            if a > pos:
                self._chunk(text[pos:a], out, specials)
                if text[a] == " ":
                    a += 1
            if a < b:
                out.append(text[a:b])
            pos = b
        if pos < len(text):
            self._chunk(text[pos:], out, specials)
        return out

    def _chunk(self, chunk: str, out: list[str], specials: bool) -> None:
        if specials and chunk.isalpha():  # never split by the rules, however long
            hit = self._specials.get(chunk)
            if hit is None:
                out.append(chunk)
            else:
                out.extend(hit)
        elif len(chunk) > MAX_RUN:
            for piece in _pieces(chunk):
                self._chunk_bounded(piece, out, specials)
        else:
            self._chunk_bounded(chunk, out, specials)

    def _chunk_bounded(self, chunk: str, out: list[str], specials: bool) -> None:
        sp = self._specials
        if specials:
            last = chunk[-1]
            if last in _PLAIN_SUFFIXES:
                core = chunk[:-1]
                if core.isalpha() and chunk not in sp and core not in sp:
                    out.append(core)
                    out.append(last)
                    return
            toks = self._memo.get(chunk)
            if toks is None:
                toks = tuple(self._split(chunk, sp))
                if len(toks) > 1:
                    toks = tuple(self._merge_specials(list(toks)))
                if len(self._memo) >= _MEMO_LIMIT:
                    self._memo.clear()
                self._memo[chunk] = toks
            out.extend(toks)
        else:
            out.extend(self._split(chunk, {}))

    # -- one chunk: spaCy's _split_affixes + _attach_tokens -------------------------------

    def _prefix_len(self, s: str) -> int:
        if _ENTITY_START_RE.match(s):
            return 0
        match = self.rules.prefix_match
        m = match(s) if match is not None else None
        return m.end() - m.start() if m is not None else 0

    def _suffix_len(self, s: str) -> int:
        if _url_suffix(s):
            return 1
        search = self.rules.base_suffix
        if search is not None:
            n = len(s)
            tail_len = self.rules.suffix_tail
            if tail_len and n > tail_len:
                m = search(s[-tail_len:])
                if m is not None and m.start() >= 2:
                    return m.end() - m.start()
                if m is not None:
                    m = search(s)
            else:
                m = search(s)
            if m is not None:
                return m.end() - m.start()
        m = _EXTRA_SUFFIX_RE.search(s[-8:])
        return m.end() - m.start() if m is not None else 0

    def _split(self, chunk: str, sp: dict[str, tuple[str, ...]]) -> list[str]:
        hit = sp.get(chunk)
        if hit is not None:
            return list(hit)
        token_match = _ENTITY_TOKEN_RE.fullmatch
        prefixes: list[str] = []
        suffixes: list[str] = []
        string = chunk
        last = -1
        no_suffix = False  # the last suffix search failed and only prefixes came off since
        while string and len(string) != last:
            if token_match(string) is not None or string in sp:
                break
            last = len(string)
            pre_len = self._prefix_len(string)
            if pre_len:
                prefix = string[:pre_len]
                minus_pre = string[pre_len:]
                if minus_pre and minus_pre in sp:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            rest = string[pre_len:] if pre_len else string
            if no_suffix and self.rules.prefix_keeps_suffix and not _url_suffix(rest):
                suf_len = 0
            else:
                suf_len = self._suffix_len(rest) if rest else 0
            no_suffix = suf_len == 0
            if suf_len:
                suffix = string[-suf_len:]
                minus_suf = string[:-suf_len]
                if minus_suf and minus_suf in sp:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
                no_suffix = False
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        out = prefixes
        if string:
            hit = sp.get(string)
            if hit is not None:
                out.extend(hit)
            elif token_match(string) is not None or self.rules.url_match(string):
                out.append(string)
            else:
                start = 0
                for m in self.rules.infix_finditer(string):
                    a, b = m.start(), m.end()
                    if a == 0:
                        continue
                    if a != start:
                        out.append(string[start:a])
                    if a != b:
                        out.append(string[a:b])
                    start = b
                if start < len(string):
                    out.append(string[start:])
        if suffixes:
            out.extend(reversed(suffixes))
        return out

    # -- spaCy's special-case second pass -------------------------------------------------

    def _merge_specials(self, toks: list[str]) -> list[str]:
        first = self._first
        patterns = self._patterns
        n = len(toks)
        found: list[tuple[int, int]] = []
        for i in range(n):
            if toks[i] not in first:
                continue
            for j in range(i + 1, min(n, i + self._max_pattern) + 1):
                key = "".join(toks[i:j])
                pattern = patterns.get(key)
                if pattern is not None and tuple(toks[i:j]) == pattern:
                    found.append((i, j))
        if not found:
            return toks
        # spaCy's filter: longest first, then leftmost; a match touching a taken token is dropped
        found.sort(key=lambda s: (s[0] - s[1], s[0]))
        seen: set[int] = set()
        keep: list[tuple[int, int]] = []
        for a, b in found:
            if a not in seen and b - 1 not in seen:
                keep.append((a, b))
            seen.update(range(a, b))
        keep.sort()
        out: list[str] = []
        pos = 0
        for a, b in keep:
            out.extend(toks[pos:a])
            out.extend(self._specials["".join(toks[a:b])])
            pos = b
        out.extend(toks[pos:])
        return out

    def _merge_spaced(self, toks: list[str], key: str) -> list[str]:
        pattern = self._spaced[key]
        n = len(pattern)
        if not n:
            return toks
        out: list[str] = []
        i = 0
        while i < len(toks):
            if toks[i] == pattern[0] and tuple(toks[i : i + n]) == pattern:
                out.extend(self._specials[key])
                i += n
            else:
                out.append(toks[i])
                i += 1
        return out


def _pieces(chunk: str) -> list[str]:
    """A long non-space run cut into pieces of at most MAX_RUN characters (MAX_URL_RUN for a
    URL); each cut goes before a non-word character in the last quarter of the piece when there
    is one, so that words and hashtags are rarely cut in two."""
    limit = MAX_URL_RUN if ("://" in chunk[:MAX_RUN] or chunk[:4].lower() == "www.") else MAX_RUN
    out: list[str] = []
    start = 0
    n = len(chunk)
    while n - start > limit:
        end = start + limit
        cut = end
        for k in range(end - 1, end - limit // 4, -1):
            if _WORD_CHAR_RE.match(chunk, k) is None:
                cut = k
                break
        out.append(chunk[start:cut])
        start = cut
    out.append(chunk[start:])
    return out


def bound_runs(text: str) -> str:
    """``text`` with every non-space run longer than MAX_RUN cut into pieces by spaces (for a
    spaCy pipeline of its own, such as an optional NER model)."""
    if len(text) <= MAX_RUN or not _LONG_RUN_RE.search(text):
        return text
    return _LONG_RUN_RE.sub(lambda m: " ".join(_pieces(m.group())), text)


def family_for(lang: str | None) -> str:
    """The tokenizer family for a language code (``xx`` for Georgian and anything unknown)."""
    if not lang:
        return "xx"
    return _FAMILY_OF.get(lang.split("-")[0].lower(), "xx")


_TOKENIZERS: dict[str, Tokenizer] = {}
_PIPELINES: dict[str, Language] = {}
_LOCK = threading.Lock()


def get_tokenizer(family: str) -> Tokenizer:
    """The process-wide tokenizer for ``family``, created on first use and cached."""
    tok = _TOKENIZERS.get(family)
    if tok is None:
        with _LOCK:
            tok = _TOKENIZERS.get(family)
            if tok is None:
                tok = Tokenizer(family)
                _TOKENIZERS[family] = tok
    return tok


def tokenize(text: str, lang: str | None) -> list[str]:
    """The tokens of ``text`` with the rules of ``lang``'s family."""
    return get_tokenizer(family_for(lang))(text)


def tokenize_many(texts: Sequence[str], langs: Sequence[str | None]) -> list[list[str]]:
    """One token list per text, each with its own language's rules, in input order."""
    if len(texts) != len(langs):
        raise ValueError("texts and langs must have the same length")
    return [tokenize(t, lang) for t, lang in zip(texts, langs, strict=True)]


def preload(languages: Iterable[str] | None = None) -> None:
    """Build the tokenizers for ``languages`` (all families if None) so the first batch is not slow."""
    families = {family_for(lang) for lang in languages} if languages is not None else set(FAMILIES)
    families.add("xx")
    for fam in sorted(families):
        get_tokenizer(fam)


def make_pipeline(family: str) -> Language:
    """A blank spaCy pipeline with the same fixed rules: the reference :class:`Tokenizer` is
    tested against (tests/unit/test_tokenizer.py); the pipeline itself does not use it."""
    if family not in FAMILIES:
        raise ValueError(f"unknown language family {family!r}; expected one of {FAMILIES}")
    nlp = spacy.blank(family)
    nlp.max_length = _MAX_LENGTH
    rules = _Rules(family)
    tok: Any = nlp.tokenizer
    tok.prefix_search = rules.prefix_search
    tok.suffix_search = rules.suffix_search
    tok.infix_finditer = rules.infix_finditer
    tok.token_match = rules.token_match
    tok.url_match = rules.url_match
    return nlp


def get_pipeline(family: str) -> Language:
    """The process-wide reference spaCy pipeline for ``family``, created on first use and cached."""
    nlp = _PIPELINES.get(family)
    if nlp is None:
        with _LOCK:
            nlp = _PIPELINES.get(family)
            if nlp is None:
                nlp = make_pipeline(family)
                _PIPELINES[family] = nlp
    return nlp


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
