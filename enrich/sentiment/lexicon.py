"""Rule-based sentiment evidence: VADER for English, hand-made lexicons + rules for ur, ka, es, ar.

Since issue #11 this is no longer what labels a mention by itself: ``enrich.sentiment`` feeds its
``score`` as one feature, beside the trained model's probabilities, into a calibrated per-language
stacker, and it alone decides only for Georgian (no training data). Its methods, as reported by
:meth:`LexiconAnalyzer.analyze`:

* ``vader`` -- English. VADER (vaderSentiment 3.3.2) on the text with emojis removed and hashtags split
  into words, VADER's lexicon extended with ``lexicons/en.tsv``; multi-word complaint phrases
  ("still waiting", "never arrived") and Roman-Urdu words (code-mixed posts) added on top.
* ``lexicon:<lang>`` -- ur, ka, es, ar: hand-made lexicons (``lexicons/<lang>.tsv``, Roman Urdu in
  ``ur_roman.tsv``) with phrase matching, stem (prefix) matching, per-language negation
  (forward/backward scope, clause-bounded), intensifiers, contrast words ("but" halves what precedes it
  and boosts what follows) and exclamation emphasis. English words inside Urdu, Georgian and Arabic
  posts are scored with VADER's lexicon.
* ``+emoji`` suffix -- emojis contributed; they are always scored by our table (``emoji_sentiment.py``),
  never by VADER's emoji-to-description step.
* ``emoji`` -- no lexicon for the language (or ``und``), label from emojis only.
* ``none`` -- nothing to go on: ``label="unknown"``, score 0, confidence 0. A covered language whose text
  has words but no sentiment cue is a real ``neutral`` (the lexicon looked and found nothing).

All evidence is summed on VADER's valence scale and squashed like VADER's compound:
``score = x / sqrt(x*x + alpha)``. ``confidence`` is a heuristic (not calibrated): it grows with
``|score|`` and the amount of evidence.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from brandpulse.schema import Sentiment, SentimentLabel
from brandpulse.text import HANDLE_RE, HASHTAG_RE, URL_RE, fold_script, split_hashtag
from enrich.emoji_sentiment import LEXICON_DIR, EmojiTable

__all__ = ["LEXICON_LANGUAGES", "LexiconAnalyzer", "SentimentConfig"]

LEXICON_LANGUAGES = ("ur", "ka", "es", "ar")
_LATIN_SCRIPT_LANGS = frozenset({"es"})  # languages whose own words are Latin-script


@dataclass(frozen=True)
class SentimentConfig:
    """Tunable knobs. Defaults are the values evaluated in ``bench/eval_sentiment.py``.

    vader_positive_threshold / vader_negative_threshold: English label cut-offs on the final score
        (VADER's standard +-0.05) of :meth:`LexiconAnalyzer.analyze`; the trained analyzer reads the
        score, not this label, so they do not change its output.
    lexicon_positive_threshold / lexicon_negative_threshold: the same for the lexicon languages.
    emoji_weight: an emoji's table score (-1..1) times this is its valence on VADER's -4..4 scale.
    emoji_repeat_decay: the k-th repeat of the same emoji counts ``decay**k`` (so 🔥🔥🔥 > 🔥, bounded).
    negation_scalar: a negated sentiment word's valence is multiplied by this (VADER uses -0.74).
    negation_window: how many tokens a negator reaches (never across , . ! ? ; : ، ؟ ۔).
    intensifier_window: how many tokens an intensifier reaches.
    contrast_before_weight / contrast_after_weight: weights around the first "but"-word.
    exclamation_boost: added per "!" (up to 4) in the direction of the evidence (as VADER does).
    alpha: normalisation constant of ``x / sqrt(x*x + alpha)`` (VADER's 15).
    max_chars: only the first ``max_chars`` characters are analysed (100 KB posts stay fast).
    cache_size: LRU entries for repeated texts (reposts); 0 disables the cache.
    lexicon_dir: directory with the lexicon files (default: ``enrich/lexicons``).
    """

    vader_positive_threshold: float = 0.05
    vader_negative_threshold: float = -0.05
    lexicon_positive_threshold: float = 0.05
    lexicon_negative_threshold: float = -0.05
    emoji_weight: float = 3.0
    emoji_repeat_decay: float = 0.7
    negation_scalar: float = -0.74
    negation_window: int = 3
    intensifier_window: int = 2
    contrast_before_weight: float = 0.5
    contrast_after_weight: float = 1.5
    exclamation_boost: float = 0.292
    alpha: float = 15.0
    max_chars: int = 5000
    cache_size: int = 4096
    lexicon_dir: Path | None = field(default=None)


# --------------------------------------------------------------------------- text normalisation
_SURROGATE_OR_CONTROL_RE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2060\ufeff]")
_TOKEN_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[.!?;,:،؟۔]+")
_BOUNDARY_CHARS = frozenset(".!?;,:،؟۔")
_LATIN_TOKEN_RE = re.compile(r"^[a-z0-9'’-]+$")
# Urdu's hamza-above on heh/yeh (ۂ, ۓ) is spelling, not a different word; the rest of the Arabic-script
# folding is the core's (brandpulse.text.fold_script), applied to the lexicons and the text alike.
_UR_EXTRA = str.maketrans({"ۂ": "ه", "ٔ": ""})
# Arabic clitic prefixes, folded like the tokens they are stripped from.
_AR_PREFIXES = tuple(fold_script(p) for p in ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ف", "ب", "ل", "ك"))

# Small English word list so lower-case hashtags can be segmented (#worstserviceever).
_SEGMENT_WORDS = frozenset(
    """service customer care support delivery order orders refund money phone app update internet network
    flight airline airport food pizza burger coffee store shop bank card account price quality staff
    driver ever never again always still thanks thank you love hate best worst fail fails sucks good great
    bad awful terrible happy sad angry disappointed waste time day night week today new old fast slow late
    early free premium customer experience awesome amazing nice cool happy them this that what why how
    not no yes more most much very really just only all every first last one two three five stars star
    never again ftw win lose lost broken works working help please back my our your their team job done
    well""".split()
)


def _sanitize(text: str, limit: int) -> str:
    if not isinstance(text, str):
        return ""
    s = text[:limit]
    s = _SURROGATE_OR_CONTROL_RE.sub(" ", s)
    return s.replace("\r", " ").replace("\n", " ").replace("\t", " ")


def _strip_accents(s: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", s) if unicodedata.category(ch) != "Mn")


def _normalize(lang: str, token: str) -> str:
    t = token.lower().replace("’", "'")
    if lang == "es":
        return _strip_accents(t)
    if lang == "ar":
        return fold_script(t)
    if lang == "ur":
        return fold_script(t.translate(_UR_EXTRA)).replace(" ", "")
    return t


def _primary(lang: str | None) -> str:
    if not lang or not isinstance(lang, str):
        return "und"
    return lang.strip().lower().replace("_", "-").split("-", 1)[0] or "und"


# --------------------------------------------------------------------------- lexicon rules
@dataclass
class _Rules:
    """One language's lexicon: words, stems, phrases, negators, intensifiers, contrast words."""

    lang: str
    words: dict[str, float] = field(default_factory=dict)
    stems: dict[str, float] = field(default_factory=dict)
    # first token (exact) -> list of (pattern tokens, valence); a pattern token ending in * is a stem
    phrases: dict[str, list[tuple[tuple[str, ...], float]]] = field(default_factory=dict)
    stem_phrases: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    negators: dict[str, str] = field(default_factory=dict)
    intensifiers: dict[str, tuple[float, str]] = field(default_factory=dict)
    multi_intensifiers: dict[tuple[str, ...], tuple[float, str]] = field(default_factory=dict)
    contrast: set[str] = field(default_factory=set)
    max_stem: int = 0
    stem_lengths: tuple[int, ...] = ()

    def add_term(self, term: str, value: float) -> None:
        toks = tuple(_normalize(self.lang, t) for t in term.split())
        if not toks:
            return
        if len(toks) == 1:
            tok = toks[0]
            if tok.endswith("*") and len(tok) > 1:
                self.stems[tok[:-1]] = value
                self.max_stem = max(self.max_stem, len(tok) - 1)
            else:
                self.words[tok] = value
        elif toks[0].endswith("*"):
            self.stem_phrases.append((toks, value))
        else:
            self.phrases.setdefault(toks[0], []).append((toks, value))

    def finish(self) -> None:
        self.stem_lengths = tuple(sorted({len(k) for k in self.stems}, reverse=True))
        for pats in self.phrases.values():
            pats.sort(key=lambda pv: -len(pv[0]))
        self.stem_phrases.sort(key=lambda pv: -len(pv[0]))

    def lookup(self, tok: str) -> float | None:
        v = self.words.get(tok)
        if v is not None:
            return v
        v = self._stem(tok)
        if v is not None:
            return v
        if self.lang == "ar" and len(tok) > 3:
            for pre in _AR_PREFIXES:
                if tok.startswith(pre) and len(tok) - len(pre) >= 2:
                    rest = tok[len(pre) :]
                    v = self.words.get(rest)
                    if v is None:
                        v = self._stem(rest)
                    if v is not None:
                        return v
        return None

    def _stem(self, tok: str) -> float | None:
        size = len(tok)
        for n in self.stem_lengths:  # longest stem first
            if n <= size:
                v = self.stems.get(tok[:n])
                if v is not None:
                    return v
        return None


def _tok_matches(pattern: str, tok: str) -> bool:
    if pattern.endswith("*"):
        return tok.startswith(pattern[:-1])
    return tok == pattern


def _load_rules(path: Path, lang: str) -> _Rules:
    rules = _Rules(lang=lang)
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            kind, term = parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""
            value = parts[2].split("#", 1)[0].strip() if len(parts) > 2 else ""
            if kind in ("w", "p"):
                rules.add_term(term, float(value))
            elif kind == "neg":
                rules.negators[_normalize(lang, term)] = value or "fwd"
            elif kind == "int":
                pos = parts[3].strip() if len(parts) > 3 else "pre"
                toks = tuple(_normalize(lang, t) for t in term.split())
                if len(toks) == 1:
                    rules.intensifiers[toks[0]] = (float(value), pos)
                else:
                    rules.multi_intensifiers[toks] = (float(value), pos)
            elif kind == "but":
                rules.contrast.add(_normalize(lang, term))
            else:
                raise ValueError(f"{path.name}: unknown kind {kind!r} in line {line!r}")
    rules.finish()
    return rules


def _merge(primary: _Rules, secondary: _Rules) -> None:
    """Copy secondary's entries that primary lacks (used for Roman Urdu inside the ur rules)."""
    for k, v in secondary.words.items():
        primary.words.setdefault(k, v)
    for k, v in secondary.stems.items():
        primary.stems.setdefault(k, v)
    primary.max_stem = max(primary.max_stem, secondary.max_stem)
    for k, pats in secondary.phrases.items():
        primary.phrases.setdefault(k, []).extend(pats)
    primary.stem_phrases.extend(secondary.stem_phrases)
    for k, s in secondary.negators.items():
        primary.negators.setdefault(k, s)
    for k, b in secondary.intensifiers.items():
        primary.intensifiers.setdefault(k, b)
    for k2, b in secondary.multi_intensifiers.items():
        primary.multi_intensifiers.setdefault(k2, b)
    primary.contrast |= secondary.contrast
    primary.finish()


@dataclass
class _Item:
    start: int
    end: int
    valence: float
    negated: bool = False
    boosted: bool = False


@dataclass
class _Evidence:
    raw: float = 0.0
    hits: int = 0
    tokens: int = 0


# --------------------------------------------------------------------------- analyzer
class LexiconAnalyzer:
    """Load VADER, the lexicons and the emoji table once; ``analyze`` many texts. Thread-safe."""

    def __init__(self, config: SentimentConfig = SentimentConfig()) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.config = config
        base = config.lexicon_dir or LEXICON_DIR
        self._emoji = EmojiTable(base)
        self._vader = SentimentIntensityAnalyzer()
        self._vader_lexicon: dict[str, float] = dict(self._vader.lexicon)  # plain VADER, for code-mixing

        en = _load_rules(base / "en.tsv", "en")
        self._vader.lexicon.update(en.words)  # single English words go into VADER itself
        self._en_phrases = _Rules(lang="en", phrases=en.phrases, stem_phrases=en.stem_phrases)
        roman = _load_rules(base / "ur_roman.tsv", "ur")
        # Roman-Urdu words inside English-tagged posts (code-mixing), minus anything English already scores
        roman_only = {w: v for w, v in roman.words.items() if w not in self._vader.lexicon}
        self._en_roman = _Rules(lang="en", words=roman_only, phrases=dict(roman.phrases))
        self._rules: dict[str, _Rules] = {}
        for lang in LEXICON_LANGUAGES:
            rules = _load_rules(base / f"{lang}.tsv", lang)
            if lang == "ur":
                _merge(rules, roman)
            self._rules[lang] = rules
        self._segment_vocab = frozenset(
            w
            for w in (set(self._vader_lexicon) | _SEGMENT_WORDS | set(en.words))
            if len(w) >= 3 and w.isalpha()
        )
        self._cache: OrderedDict[tuple[str, str, tuple[str, ...]], Sentiment] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages with text coverage (others get emoji-only or ``unknown``)."""
        return ("en", *LEXICON_LANGUAGES)

    # ------------------------------------------------------------------ public API
    def analyze(self, text: str, lang: str, hashtags: Sequence[str] = ()) -> Sentiment:
        """Sentiment of one post. ``lang`` is an ISO 639-1 code (``und`` when unknown)."""
        key = (text if isinstance(text, str) else "", _primary(lang), tuple(str(h) for h in hashtags))
        if self.config.cache_size > 0:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        result = self._analyze(*key)
        if self.config.cache_size > 0:
            with self._lock:
                self._cache[key] = result
                if len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
        return result

    def analyze_many(self, items: Sequence[tuple[str, str]]) -> list[Sentiment]:
        """Batch form of :meth:`analyze` over ``(text, lang)`` pairs; duplicates are computed once."""
        local: dict[tuple[str, str], Sentiment] = {}
        out: list[Sentiment] = []
        for text, lang in items:
            k = (text, lang)
            if k not in local:
                local[k] = self.analyze(text, lang)
            out.append(local[k])
        return out

    # ------------------------------------------------------------------ internals
    def _analyze(self, text: str, lang: str, hashtags: tuple[str, ...]) -> Sentiment:
        cfg = self.config
        s = _sanitize(text, cfg.max_chars)
        emojis: list[tuple[str, float | None]] = []
        if not s.isascii():
            s, emojis = self._emoji.split(s)
        if "http" in s or "www" in s or "HTTP" in s or "WWW" in s:
            s = URL_RE.sub(" ", s)
        if "@" in s:
            s = HANDLE_RE.sub(" ", s)
        inline: set[str] = set()
        if "#" in s:
            inline = {m.lower() for m in HASHTAG_RE.findall(s)}
            s = HASHTAG_RE.sub(lambda m: " " + self._split_hashtag(m.group(1)) + " . ", s)
        extra = [h.lstrip("#") for h in hashtags if h and h.lstrip("#").lower() not in inline]
        if extra:
            s = s + " . " + " . ".join(self._split_hashtag(_sanitize(h, 200)) for h in extra)
        exclaims = min(s.count("!"), 4)

        emoji_raw, emoji_hits = self._emoji_valence(emojis)
        if lang == "en":
            ev = self._english(s)
            method = "vader"
        elif lang in self._rules:
            ev = self._lexicon(s, self._rules[lang])
            method = f"lexicon:{lang}"
        else:
            if emoji_hits == 0:
                return Sentiment(label="unknown", score=0.0, confidence=0.0, method="none")
            ev = _Evidence()
            method = "emoji"
        if ev.tokens == 0 and ev.hits == 0 and emoji_hits == 0:
            return Sentiment(label="unknown", score=0.0, confidence=0.0, method="none")
        if emoji_hits and method != "emoji":
            method += "+emoji"

        raw = ev.raw + emoji_raw
        if raw != 0.0 and exclaims and not method.startswith("vader"):  # VADER already counts "!"
            raw += math.copysign(exclaims * cfg.exclamation_boost, raw)
        score = raw / math.sqrt(raw * raw + cfg.alpha)
        score = max(-1.0, min(1.0, score))
        if lang == "en":
            pos_t, neg_t = cfg.vader_positive_threshold, cfg.vader_negative_threshold
        else:
            pos_t, neg_t = cfg.lexicon_positive_threshold, cfg.lexicon_negative_threshold
        label: SentimentLabel
        if score >= pos_t:
            label = "positive"
        elif score <= neg_t:
            label = "negative"
        else:
            label = "neutral"
        evidence = ev.hits + emoji_hits
        if method == "emoji":
            conf = 0.3 + 0.4 * abs(score)
        elif evidence == 0:
            conf = 0.5 if ev.tokens >= 3 else 0.35
        else:
            conf = 0.45 + 0.35 * abs(score) + 0.05 * min(evidence, 4)
            if label == "neutral":
                conf = min(conf, 0.5)
        return Sentiment(
            label=label, score=round(score, 4), confidence=round(min(conf, 1.0), 4), method=method
        )

    def quick_score(self, text: str, lang: str) -> float:
        """The lexicon's phrases, words and stems with clause-bounded negation, in one pass; -1..1.

        A cheap stand-in for :meth:`analyze`'s score as a stacker feature (about a third of its
        cost): no intensifiers, contrast words, hashtag splitting or emojis (the stacker has its
        own emoji feature). 0.0 for a language without a lexicon.
        """
        rules = self._rules.get(_primary(lang))
        if rules is None:
            return 0.0
        cfg = self.config
        s = _sanitize(text, cfg.max_chars)
        if "http" in s or "www" in s:
            s = URL_RE.sub(" ", s)
        toks = [t for t in (_normalize(rules.lang, raw) for raw in _TOKEN_RE.findall(s)) if t]
        negators = rules.negators
        n = len(toks)
        total = 0.0
        for it in self._match(toks, rules):
            v = it.valence
            if not it.negated:  # a phrase that spells out its own negation is not negated again
                for j in range(it.start - 1, max(-1, it.start - 1 - cfg.negation_window), -1):
                    t = toks[j]
                    if t[0] in _BOUNDARY_CHARS:
                        break
                    if negators.get(t) in ("fwd", "both"):
                        v *= cfg.negation_scalar
                        break
                else:
                    for j in range(it.end, min(n, it.end + cfg.negation_window)):  # after it (Urdu)
                        t = toks[j]
                        if t[0] in _BOUNDARY_CHARS:
                            break
                        if negators.get(t) in ("back", "both"):
                            v *= cfg.negation_scalar
                            break
            total += v
        return total / math.sqrt(total * total + cfg.alpha)

    def _emoji_valence(self, emojis: Iterable[tuple[str, float | None]]) -> tuple[float, int]:
        cfg = self.config
        seen: dict[str, int] = {}
        total = 0.0
        hits = 0
        for cluster, score in emojis:
            if score is None:
                continue
            k = seen.get(cluster, 0)
            seen[cluster] = k + 1
            total += score * cfg.emoji_weight * (cfg.emoji_repeat_decay**k)
            hits += 1
        return total, hits

    def _english(self, s: str) -> _Evidence:
        tokens = [t for t in _TOKEN_RE.findall(s) if t[0] not in _BOUNDARY_CHARS]
        ev = _Evidence(tokens=len(tokens))
        if not tokens:
            return ev
        compound = float(self._vader.polarity_scores(s)["compound"])
        c = max(-0.9999, min(0.9999, compound))
        raw = c * math.sqrt(self.config.alpha / (1.0 - c * c)) if c else 0.0
        hits = 1 if c else 0
        # multi-word complaint/praise phrases VADER cannot see, and Roman-Urdu words (code-mixing)
        low = [t.lower().replace("’", "'") for t in _TOKEN_RE.findall(s)]
        for rules in (self._en_phrases, self._en_roman):
            for item in self._match(low, rules):
                raw += item.valence
                hits += 1
        ev.raw, ev.hits = raw, hits
        return ev

    def _match(self, toks: list[str], rules: _Rules) -> list[_Item]:
        items: list[_Item] = []
        i, n = 0, len(toks)
        while i < n:
            tok = toks[i]
            if tok[0] in _BOUNDARY_CHARS:
                i += 1
                continue
            matched = 0
            first = rules.phrases.get(tok, ())
            if not first and rules.lang == "ar":  # "وحلوا المشكلة": try the phrase without the clitic
                for pre in ("و", "ف"):
                    if tok.startswith(pre) and len(tok) > 3:
                        first = [(pat, val) for pat, val in rules.phrases.get(tok[1:], ())]
                        first = [((tok, *pat[1:]), val) for pat, val in first]
                        break
            for pats in (first, rules.stem_phrases):
                for pat, val in pats:
                    L = len(pat)
                    if i + L <= n and all(_tok_matches(p, toks[i + j]) for j, p in enumerate(pat)):
                        # a phrase that spells out its own negation ("არ მუშაობს") is not negated again
                        has_neg = any(toks[i + j] in rules.negators for j in range(L))
                        items.append(_Item(i, i + L, val, negated=has_neg))
                        matched = L
                        break
                if matched:
                    break
            if matched:
                i += matched
                continue
            if rules.words or rules.stems:
                v = rules.lookup(tok)
                if v is not None:
                    items.append(_Item(i, i + 1, v))
            i += 1
        return items

    def _lexicon(self, s: str, rules: _Rules) -> _Evidence:
        cfg = self.config
        lang = rules.lang
        # A token can normalise to nothing (a lone tatweel U+0640 or diacritic is a "letter" to the
        # tokenizer but is removed by the Arabic/Urdu normalisation): drop it, later steps index t[0].
        toks = [t for t in (_normalize(lang, raw) for raw in _TOKEN_RE.findall(s)) if t]
        words = [t for t in toks if t[0] not in _BOUNDARY_CHARS]
        ev = _Evidence(tokens=len(words))
        if not words:
            return ev
        items = self._match(toks, rules)
        covered = {p for it in items for p in range(it.start, it.end)}
        # English words inside non-Latin-script posts (code-mixing): VADER's lexicon
        if lang not in _LATIN_SCRIPT_LANGS:
            for i, t in enumerate(toks):
                if i in covered or not _LATIN_TOKEN_RE.match(t):
                    continue
                if t in rules.negators or t in rules.intensifiers or t in rules.contrast:
                    continue
                v = self._vader_lexicon.get(t)
                if v is not None:
                    items.append(_Item(i, i + 1, v))
                    covered.add(i)
            items.sort(key=lambda it: it.start)
        if not items:
            return ev
        boundaries = [i for i, t in enumerate(toks) if t[0] in _BOUNDARY_CHARS]

        def same_clause(a: int, b: int) -> bool:
            lo, hi = (a, b) if a < b else (b, a)
            return not any(lo < x < hi for x in boundaries)

        # negation
        for j, t in enumerate(toks):
            scope = rules.negators.get(t)
            if scope is None or j in covered:
                continue
            target = None
            if scope in ("fwd", "both"):
                target = next(
                    (
                        it
                        for it in items
                        if j < it.start <= j + cfg.negation_window
                        and not it.negated
                        and same_clause(j, it.start)
                    ),
                    None,
                )
            if target is None and scope in ("back", "both"):
                target = next(
                    (
                        it
                        for it in reversed(items)
                        if j - cfg.negation_window <= it.end - 1 < j
                        and not it.negated
                        and same_clause(j, it.end - 1)
                    ),
                    None,
                )
            if target is not None:
                target.negated = True
                target.valence *= cfg.negation_scalar
        # intensifiers (single- and multi-token)
        for j, t in enumerate(toks):
            spec = rules.intensifiers.get(t)
            span = 1
            if spec is None and j + 1 < len(toks):
                spec = rules.multi_intensifiers.get((t, toks[j + 1]))
                span = 2
            if spec is None or j in covered:
                continue
            boost, pos = spec
            end = j + span - 1
            target = None
            if pos in ("pre", "both"):
                target = next(
                    (
                        it
                        for it in items
                        if end < it.start <= end + cfg.intensifier_window
                        and not it.boosted
                        and same_clause(end, it.start)
                    ),
                    None,
                )
            if target is None and pos in ("post", "both"):
                target = next(
                    (
                        it
                        for it in reversed(items)
                        if j - cfg.intensifier_window <= it.end - 1 < j
                        and not it.boosted
                        and same_clause(j, it.end - 1)
                    ),
                    None,
                )
            if target is not None:
                target.boosted = True
                target.valence *= 1.0 + boost
        # contrast: the first "but" halves what precedes it and boosts what follows
        cpos = next((j for j, t in enumerate(toks) if t in rules.contrast and j not in covered), None)
        if cpos is not None:
            for it in items:
                it.valence *= cfg.contrast_before_weight if it.start < cpos else cfg.contrast_after_weight
        ev.raw = sum(it.valence for it in items)
        ev.hits = len(items)
        return ev

    def _split_hashtag(self, tag: str) -> str:
        """#WorstServiceEver -> 'worst service ever'; #worstserviceever -> 'worst service ever'
        (the core's splitter, with VADER's and the lexicons' words as the vocabulary)."""
        return " ".join(split_hashtag(tag, self._segment_vocab))

