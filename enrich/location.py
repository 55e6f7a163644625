"""Where a mention is from or about: coordinates, the author's profile location, places in the text.

Three sources, each giving ``brandpulse.schema.Location`` values:

* ``post_geo`` — coordinates carried by the post (``mention.geo``), named after the nearest
  gazetteer city within ``NEAREST_CITY_KM`` (a grid lookup; the coordinates themselves are kept);
* ``author_profile`` — the free-text profile location ("Lahore, Pakistan", "Tbilisi 🇬🇪");
* ``text`` — place names found in the text.

The gazetteer (``enrich/gazetteer/``) is loaded once per process: GeoNames cities of population
>= 15,000 (>= 1,000 in Georgia) with alternate names in Latin, Arabic-script and Georgian
spellings, countries and first-level regions with hand-made names in en/es/ar/ur/ka, and a few
curated aliases. Lookups go through a dictionary of normalised names (case, accents, Arabic/Urdu
letter variants, spaces and hyphens folded) over token n-grams of up to 3 tokens.

Disambiguation and false-positive control, in order:

1. stop words of the supported languages and a hand-made list of common words that are also
   place names (``LOCATION_STOPLIST``: "of", Urdu "مری", Arabic "امان"...) never match alone;
2. ambiguous common words (``AMBIGUOUS_WORDS``: Nice, Reading, Mobile, Split, Bath, Jordan,
   Turkey...) match only when written capitalised *and* with a locative cue ("in Nice",
   "Reading, UK") or a place of the same country elsewhere in the text;
3. lower-case Latin names match only for large places (population >= ``MIN_POP_LOWERCASE``);
   GeoNames alternate names of small places need a locative cue;
4. among candidates sharing a name: population, countries named or implied elsewhere in the same
   text (country context), the mention's language (``LANGUAGE_COUNTRIES``), and kind (a country
   name beats a village of the same name).

Georgian case endings are stripped (თბილისში, თბილისის, ბათუმიდან, საქართველოს -> the
nominative) and Arabic clitics (و، ب، ل، ف، ك، بال، وال، لل) are tried off; Urdu postpositions
are separate words (لاہور میں) and count as a locative cue. If a spaCy pipeline with an ``ner``
component is installed as a package and named in ``LocationTagger(ner_model=...)``, its
GPE/LOC entities count as locative cues (``ner_places`` + ``from_words(ner_texts=...)``);
nothing is ever downloaded.

>>> tagger = LocationTagger()
>>> [(p.name, p.country_code) for p in tagger.from_words("Power cut again in Lahore today".split(), "en")]
[('Lahore', 'PK')]
>>> [(p.name, p.country_code) for p in tagger.from_words("თბილისში ინტერნეტი არ მუშაობს".split(), "ka")]
[('Tbilisi', 'GE')]
>>> tagger.from_words("Nice phone, reading the manual now".split(), "en")
[]
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from brandpulse.schema import Geo, Location
from brandpulse.text import split_hashtag
from enrich.gazetteer import NEAREST_CITY_KM, Entry, Place, get_gazetteer, norm
from enrich.keywords import load_stopwords
from enrich.nlp import SUPPORTED_LANGUAGES, bound_runs

COUNTRY_CODE_KM = 150.0
MIN_POP_LOWERCASE = 100_000
MIN_POP_LOWERCASE_NO_CUE = 1_000_000
MIN_POP_STRONG_ALTERNATE = 1_000_000
MIN_POP_STRONG_SCRIPT = 100_000
MAX_TEXT_LOCATIONS = 5
MAX_MATCHES = 50  # candidate spans resolved per text (a 10,000-character post can name a place 1,000 times)

# Countries a language points at (a weak prior, used only to break ties between namesakes).
LANGUAGE_COUNTRIES: dict[str, frozenset[str]] = {
    "ka": frozenset({"GE"}),
    "ur": frozenset({"PK", "IN"}),
    "ar": frozenset(
        "SA AE EG JO LB SY IQ MA DZ TN LY QA KW BH OM YE SD PS MR".split()
    ),
    "es": frozenset("ES MX AR CO PE VE CL EC GT CU BO DO HN PY SV NI CR PA UY PR".split()),
    "en": frozenset("US GB CA AU IE NZ IN PK".split()),
}

# Common words that are also place names: a match needs capitalisation plus a locative cue or
# country context. Normalised like gazetteer keys (see ``norm``).
AMBIGUOUS_WORDS: frozenset[str] = frozenset(
    """
    nice reading mobile split bath deal march best sale hope police orange buffalo eagle normal
    independence enterprise commerce liberty union progress temple victoria florence chester
    jackson austin lincoln washington phoenix aurora salem columbia jersey kent york paris
    jordan chad turkey guinea niger mali georgia panama
    bar man male gap bra mandi gold opportunity surprise paradise friendship harmony
    energy mission eden story beacon globe sunrise liberal melody rugby derby crawley
    wells sandy pearl golden canton reno ogden laurel marion logan troy tyler hamilton
    wellington kingston regina santiago sale split reading date split mosta
    real mayor sol paz mar lima esperanza progreso libertad concepción trinidad
    dolores mercedes rosario florida pilar soledad caridad victoria paraíso
    عمان امان
    """.split()
)

# Never a place on its own (beyond the stop-word lists): words too common to be worth the noise.
LOCATION_STOPLIST: frozenset[str] = frozenset(
    """
    of the and for love good hi ok via new city man home world earth everywhere internet
    online worldwide global here there nowhere somewhere planet heaven hell usa us
    april may june august mobile
    مری امان قصور شہر ملک دنیا ہمارا کراچیکی
    مدينة بلد عالم عالية
    ქალაქი ქვეყანა სამყარო
    """.split()
)

# Words right before a place name that mark it as a place ("in Nice", "en Mérida", "في دبي").
_CUES_BEFORE: frozenset[str] = frozenset(
    """
    in at from to near around across outside inside visiting visit visited via toward towards
    into en desde hacia cerca hasta por para a de del
    في من إلى الى ب عن داخل خارج قرب حول
    شہر
    """.split()
)
# Words right after a place name that mark it (Urdu postpositions: "لاہور میں").
_CUES_AFTER: frozenset[str] = frozenset("میں سے تک پر کو کا کی کے والے والوں".split())

_GEORGIAN_SUFFIXES: tuple[str, ...] = tuple(
    sorted(
        """ისთვის ისკენ ისგან ისაგან იდან იდანაც ამდე ითურთ ივით ში შიც ზე ზეც თან თანაც დან ით ის ად
        ს მდე კენ თვის გან ვით""".split(),
        key=len,
        reverse=True,
    )
)
# Arabic clitics tried off a word (Arabic text only), and whether each one means "in/at/to".
_ARABIC_CLITICS: tuple[tuple[str, bool], ...] = (
    ("وبال", True), ("فبال", True), ("وال", False), ("بال", True), ("فال", False), ("كال", False),
    ("لل", True), ("وب", True), ("و", False), ("ب", True), ("ل", True), ("ف", False), ("ك", False),
)

_FLAG_RE = re.compile("[\U0001f1e6-\U0001f1ff]{2}")
_PROFILE_SPLIT_RE = re.compile(r"[,،;|/•·\-–—()\[\]]+|\s{2,}")
_WORD_RE = re.compile(r"[^\W\d_][\w'’\u200c\u0300-\u036f\u064b-\u065f\u0670]*")

def _is_georgian(word: str) -> bool:
    return bool(word) and "\u10a0" <= word[0] <= "\u10ff"


def _is_arabic(word: str) -> bool:
    return bool(word) and "\u0600" <= word[0] <= "\u06ff"


def _is_latin(word: str) -> bool:
    return bool(word) and (word[0].isascii() or "\u00c0" <= word[0] <= "\u024f")


@functools.cache
def _language_stop_keys() -> frozenset[str]:
    return frozenset(norm(w) for lang in SUPPORTED_LANGUAGES for w in load_stopwords(lang))


@functools.cache
def _stop_keys() -> frozenset[str]:
    return _language_stop_keys() | frozenset(norm(w) for w in LOCATION_STOPLIST)


_AMBIGUOUS_KEYS = frozenset(norm(w) for w in AMBIGUOUS_WORDS)
_CUE_BEFORE_KEYS = frozenset(norm(w) for w in _CUES_BEFORE)
_CUE_AFTER_KEYS = frozenset(norm(w) for w in _CUES_AFTER)


# ---------------------------------------------------------------------------------------------
# matching


class _Single(NamedTuple):
    """A word alone as a place name: its gazetteer entries after the stop-word and exact-spelling
    filters, and whether they were found with a case ending or clitic off (and that one is a
    locative cue). It depends only on the word (and, for Arabic clitics, the language), so it is
    computed once per word."""

    entries: tuple[Entry, ...] = ()
    inflected: bool = False
    cue: bool = False


_NO_SINGLE = _Single()


@dataclass(slots=True)
class _Word:
    text: str
    key: str
    variants: tuple[tuple[str, bool], ...]  # (key with a case ending/clitic removed, is a cue)
    hashtag: bool = False
    starts: bool = False  # may start a place name (alone, or as the first word of a longer one)
    single: _Single = _NO_SINGLE  # the word alone, Arabic clitics not tried
    single_clitic: _Single = _NO_SINGLE  # the word alone, Arabic clitics tried


@dataclass(slots=True)
class _Match:
    start: int
    end: int
    entries: list[Entry]
    surface: str
    capitalised: bool
    cue: bool
    inflected: bool
    hashtag: bool
    short_segment: bool = False  # a profile segment of at most 3 words ("Reading, UK")


def _georgian_variants(word: str) -> tuple[tuple[str, bool], ...]:
    out: list[str] = []
    for suf in _GEORGIAN_SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 2:
            stem = word[: -len(suf)]
            out.extend((stem, stem + "ი", stem + "ა", stem + "ე"))
    return tuple((k, True) for k in dict.fromkeys(norm(v) for v in out))


def _arabic_variants(word: str) -> tuple[tuple[str, bool], ...]:
    out: dict[str, bool] = {}
    for pre, cue in _ARABIC_CLITICS:
        if word.startswith(pre) and len(word) - len(pre) >= 3:
            rest = word[len(pre) :]
            forms = [rest]
            if pre.endswith("ال") or pre == "لل":
                forms.append("ال" + rest)
            for f in forms:
                k = norm(f)
                out[k] = out.get(k, False) or cue
    return tuple(out.items())


@functools.lru_cache(maxsize=100_000)
def _word(text: str) -> _Word:
    if text.isalpha():
        if text.isascii():
            return _make_word(text, text.lower(), ())  # text.lower() is what norm() gives here
    elif text[0] in "@$" or "://" in text or not any(ch.isalpha() for ch in text):
        return _Word(text, "", ())  # a separator: no place name spans it
    key = norm(text)
    variants: tuple[tuple[str, bool], ...] = ()
    if _is_georgian(text):
        variants = _georgian_variants(text)
    elif _is_arabic(text):
        variants = _arabic_variants(text)
    return _make_word(text, key, variants)


def _make_word(text: str, key: str, variants: tuple[tuple[str, bool], ...], hashtag: bool = False) -> _Word:
    multi = _start_tables()[0]
    single = _single(text, key, variants, clitics=False)
    arabic = bool(variants) and _is_arabic(text)
    single_clitic = _single(text, key, variants, clitics=True) if arabic else single
    # what _spans can match from here: the word alone, or a longer name whose first word is the
    # word's key or (Arabic, clitics tried) one of its variants
    starts = bool(key) and bool(
        single.entries or single_clitic.entries or key in multi or (arabic and any(v in multi for v, _ in variants))
    )
    return _Word(text, key, variants, hashtag, starts, single, single_clitic)


def _single(text: str, key: str, variants: tuple[tuple[str, bool], ...], *, clitics: bool) -> _Single:
    """The one-word lookup of ``_spans`` (see ``_Single``)."""
    index = _start_tables()[1]
    entries = index.get(key)
    inflected = cue = False
    if not entries and variants:
        if _is_georgian(text):
            for v, is_cue in variants:
                entries = index.get(v)
                if entries:
                    inflected, cue = True, is_cue
                    break
        if not entries and clitics and _is_arabic(text):
            for v, is_cue in variants:
                entries = index.get(v)
                if entries:
                    inflected, cue = True, is_cue
                    break
    if not entries:
        return _NO_SINGLE
    if not inflected and key in _stop_keys():
        entries = [e for e in entries if e.exact is not None]
    kept = tuple(e for e in entries if e.exact is None or e.exact == text)
    return _Single(kept, inflected, cue) if kept else _NO_SINGLE


@functools.lru_cache(maxsize=20_000)
def _hashtag_word(part: str) -> _Word:
    """A word of a split hashtag: as ``_word``, marked as coming from a hashtag."""
    w = _word(part)
    return _Word(w.text, w.key, w.variants, True, w.starts, w.single, w.single_clitic)


@functools.cache
def _start_tables() -> tuple[dict[str, int], dict[str, list[Entry]]]:
    gaz = get_gazetteer()  # the process-wide gazetteer every LocationTagger uses
    return gaz.multi_first, gaz.index


def _is_capitalised(surface: str) -> bool:
    first = surface[:1]
    return first.isupper() or (not first.isascii() and not ("\u00c0" <= first <= "\u024f"))


class LocationTagger:
    """Find places in text and profile strings, and name coordinates. Construct once per process."""

    def __init__(self, *, ner_model: str | None = None) -> None:
        self.gaz = get_gazetteer()
        self._stop = _stop_keys()
        self._edge_stop = _language_stop_keys()
        self._ner: Any = None
        if ner_model:
            self._ner = _load_optional_ner(ner_model)

    # -- tokens ------------------------------------------------------------------------------

    def _words(self, tokens: Sequence[str]) -> list[_Word]:
        words: list[_Word] = []
        append = words.append
        word = _word
        for tok in tokens:
            if not tok:
                continue
            if tok[0] == "#" and len(tok) > 1:
                for part in split_hashtag(tok):
                    append(_hashtag_word(part))
            else:
                append(word(tok))
        return words

    def _first_word_span(self, w: _Word, clitics: bool) -> int:
        """How many words a name starting with ``w`` can have (1 if no multi-word name does)."""
        multi = self.gaz.multi_first
        size = multi.get(w.key, 1)
        if clitics and w.variants and _is_arabic(w.text):
            for v, _cue in w.variants:
                size = max(size, multi.get(v, 1))
        return size

    def _may_continue(self, w: _Word, nxt: _Word, clitics: bool) -> bool:
        """Whether some multi-word lookup of ``_spans`` at ``w`` can succeed: its key starts with
        ``w``'s key (or, for Arabic, a clitic-free variant) then ``nxt``'s (or, for Georgian, a
        variant with the case ending off), and that must be a leading run of a gazetteer key."""
        if not nxt.key or nxt.hashtag != w.hashtag:
            return False  # every chunk of two or more words contains nxt: all are skipped
        prefixes = self.gaz.multi_prefixes
        if not w.variants and not nxt.variants:
            return f"{w.key} {nxt.key}" in prefixes
        seconds = [nxt.key]
        if nxt.variants and _is_georgian(nxt.text):
            seconds.extend(v for v, _cue in nxt.variants)
        firsts = [w.key]
        if clitics and w.variants and _is_arabic(w.text):
            firsts.extend(v for v, _cue in w.variants)
        return any(f"{a} {b}" in prefixes for a in firsts for b in seconds)

    def _spans(self, words: list[_Word], lang: str | None = None) -> list[_Match]:
        """Longest-first, non-overlapping matches over n-grams of up to MAX_NGRAM words."""
        out: list[_Match] = []
        clitics = lang in (None, "", "ar", "und")
        edge = self._edge_stop
        index = self.gaz.index
        n = len(words)
        i = 0
        while i < n:
            w = words[i]
            if not w.starts:
                i += 1  # the common case: a word that starts no name
                continue
            key = w.key
            found: _Match | None = None
            longest = min(self._first_word_span(w, clitics), n - i)
            if longest > 1 and not self._may_continue(w, words[i + 1], clitics):
                longest = 1  # no multi-word name starts with this pair: only the word alone can match
            for size in range(longest, 1, -1):  # longer names first; the word alone below
                chunk = words[i : i + size]
                if any(not c.key or c.hashtag != w.hashtag for c in chunk):
                    continue
                key = " ".join(c.key for c in chunk)
                entries = index.get(key)
                inflected = cue_affix = False
                if not entries:
                    last = chunk[-1]
                    first = chunk[0]
                    if last.variants and _is_georgian(last.text):
                        head = [c.key for c in chunk[:-1]]
                        for v, is_cue in last.variants:
                            entries = index.get(" ".join([*head, v]))
                            if entries:
                                inflected, cue_affix = True, is_cue
                                break
                    if not entries and clitics and first.variants and _is_arabic(first.text):
                        tail = [c.key for c in chunk[1:]]
                        for v, is_cue in first.variants:
                            entries = index.get(" ".join([v, *tail]))
                            if entries:
                                inflected, cue_affix = True, is_cue
                                break
                if not entries:
                    continue
                if not inflected:
                    if chunk[0].key in edge or chunk[-1].key in edge:
                        # "US is" -> a GeoNames alternate spelling of some city: not a name;
                        # "la paz" in lower case is "the peace", "La Paz" may be the city.
                        capitalised = all(_is_capitalised(c.text) for c in chunk if c.key not in edge)
                        entries = [
                            e for e in entries if e.exact is not None or (e.main and capitalised)
                        ]
                    if not entries:
                        continue
                surface = " ".join(c.text for c in chunk)
                entries = [e for e in entries if e.exact is None or e.exact == surface]
                if not entries:
                    continue
                prev = words[i - 1].key if i > 0 else ""
                nxt = words[i + size].key if i + size < n else ""
                cue = prev in _CUE_BEFORE_KEYS or nxt in _CUE_AFTER_KEYS or cue_affix
                found = _Match(
                    i, i + size, entries, surface, all(_is_capitalised(c.text) for c in chunk),
                    cue, inflected, w.hashtag,
                )
                break
            if found is None:
                single = w.single_clitic if clitics else w.single
                if single.entries:
                    prev = words[i - 1].key if i > 0 else ""
                    nxt = words[i + 1].key if i + 1 < n else ""
                    found = _Match(
                        i, i + 1, list(single.entries), w.text, _is_capitalised(w.text),
                        prev in _CUE_BEFORE_KEYS or nxt in _CUE_AFTER_KEYS or single.cue, single.inflected,
                        w.hashtag,
                    )
            if found is None:
                i += 1
            else:
                out.append(found)
                i = found.end
        return out

    # -- scoring -----------------------------------------------------------------------------

    def _admissible(
        self, m: _Match, e: Entry, *, profile: bool, context: set[str], prior: frozenset[str]
    ) -> float:
        """Evidence strength (0 = reject) of one candidate of a match."""
        place = self.gaz.places[e.place]
        if e.exact is not None:
            return 0.85
        profile = profile and m.short_segment
        single = m.end - m.start == 1
        ambiguous = single and norm(m.surface) in _AMBIGUOUS_KEYS
        in_context = place.country_code in context
        city = place.kind == "city"
        strong = 0.8
        if _is_latin(m.surface):
            if ambiguous:
                if profile and m.capitalised:
                    return 0.45
                return 0.55 if m.capitalised and (m.cue or in_context) else 0.0
            if profile:
                return strong if e.main or place.population >= MIN_POP_LOWERCASE else 0.6
            if single and len(m.surface) <= 3:
                return 0.0
            if not m.capitalised:
                # "karachi" is a place; "cerró" (closed) is not the Cuban town "Cerro"
                if place.kind == "region" or place.population < (
                    MIN_POP_LOWERCASE if m.cue else MIN_POP_LOWERCASE_NO_CUE
                ):
                    return 0.0
                strong = 0.6
            if city and single and place.population < MIN_POP_LOWERCASE and not (m.cue or in_context):
                return 0.0  # "Holiday", "Deal": a small town's name is usually just a word
            if city and not e.main and place.population < MIN_POP_STRONG_ALTERNATE:
                if not (m.cue or in_context):
                    return 0.0
                strong = min(strong, 0.6)
        else:
            if ambiguous and not (m.cue or profile or in_context):
                return 0.0
            if city and place.population < MIN_POP_STRONG_ALTERNATE:
                home = place.country_code in prior or in_context
                if place.population < MIN_POP_STRONG_SCRIPT:
                    if m.inflected and _is_arabic(m.surface):
                        return 0.0  # "بجودة" -> "جودة": a clitic off a word is weak evidence
                    if not (home and (m.cue or in_context or profile)):
                        return 0.0
                    strong = 0.6
                elif not (home or m.cue or profile):
                    return 0.0
            if ambiguous:
                strong = 0.6
        if m.hashtag:
            strong -= 0.1
        return strong

    def _resolve(
        self, matches: list[_Match], lang: str | None, *, profile: bool, extra_context: set[str]
    ) -> list[tuple[_Match, Place, float]]:
        prior = LANGUAGE_COUNTRIES.get((lang or "").split("-")[0], frozenset())
        # Country context: countries named in the text and places with a single candidate,
        # each contributed by one match; a match never counts as its own context.
        contrib: list[set[str]] = []
        for m in matches:
            # only candidates that stand on their own evidence give context ("next spring" does not)
            usable = [
                e for e in m.entries
                if self._admissible(m, e, profile=profile, context=set(extra_context), prior=prior) > 0
            ]
            ccs = {self.gaz.places[e.place].country_code for e in usable}
            countries = {
                self.gaz.places[e.place].country_code
                for e in usable
                if self.gaz.places[e.place].kind == "country"
            }
            weak = _is_latin(m.surface) and norm(m.surface) in _AMBIGUOUS_KEYS and not m.cue
            if weak:
                contrib.append(set())
            elif len(countries) == 1:
                contrib.append(countries)  # a country name: "Mérida, Venezuela"
            else:
                contrib.append(ccs if len(ccs) == 1 else set())
        votes: Counter[str] = Counter()
        for ccs in contrib:
            votes.update(ccs)
        out: list[tuple[_Match, Place, float]] = []
        for mi, m in enumerate(matches):
            own = contrib[mi]
            context = set(extra_context)
            context.update(cc for cc, n in votes.items() if n > (1 if cc in own else 0))
            scored: list[tuple[float, float, Place]] = []
            for e in m.entries:
                place = self.gaz.places[e.place]
                evidence = self._admissible(m, e, profile=profile, context=context, prior=prior)
                if evidence <= 0.0:
                    continue
                score = math.log10(place.population + 10)
                if place.country_code in context:
                    score += 3.0
                if place.country_code in prior:
                    score += 1.0
                if place.kind == "country":
                    score += 1.5
                if e.main:
                    score += 0.5
                scored.append((score, evidence, place))
            if not scored:
                continue
            scored.sort(key=lambda s: -s[0])
            score, evidence, place = scored[0]
            conf = evidence
            if m.cue:
                conf += 0.05
            if place.country_code in context and place.kind != "country":
                conf += 0.05
            if len(scored) > 1 and scored[1][2].country_code != place.country_code:
                margin = score - scored[1][0]
                if margin < 1.0:
                    conf *= 0.75
                elif margin < 2.0:
                    conf *= 0.9
            out.append((m, place, max(0.05, min(conf, 0.95))))
        return out

    # -- public API --------------------------------------------------------------------------

    def from_words(
        self, tokens: Sequence[str], lang: str | None = None, *, ner_texts: Sequence[str] = ()
    ) -> list[Location]:
        """Places named in a tokenized text (source ``text``), in order, at most MAX_TEXT_LOCATIONS.

        ``ner_texts``: GPE/LOC entity strings from an optional NER model; a gazetteer match on
        one of them counts as having a locative cue.
        """
        words = self._words(tokens)
        if not words:
            return []
        matches = self._spans(words, lang)[:MAX_MATCHES]
        if not matches:
            return []
        if ner_texts:
            ner_keys = {norm(t) for t in ner_texts}
            for m in matches:
                if norm(m.surface) in ner_keys:
                    m.cue = True
        resolved = self._resolve(matches, lang, profile=False, extra_context=set())
        seen: set[tuple[str, str]] = set()
        out: list[Location] = []
        for _m, place, conf in resolved:
            k = (place.name, place.country_code)
            if k in seen:
                continue
            seen.add(k)
            out.append(_location(place, "text", conf))
            if len(out) >= MAX_TEXT_LOCATIONS:
                break
        return out

    def from_text(self, text: str, lang: str | None = None) -> list[Location]:
        """Like ``from_words`` for a raw string (regex word split; the pipeline passes its tokens)."""
        tokens = re.findall(r"#?[\w\u200c\u0300-\u036f\u064b-\u065f\u0670'’.-]+|\S", text)
        return self.from_words([t.rstrip(".") or t for t in tokens], lang)

    def from_profile(self, profile: str | None) -> Location | None:
        """The single best place in an author's profile location string (source ``author_profile``)."""
        if not profile:
            return None
        return _profile_cached(self, profile.strip()[:200])

    def _from_profile(self, profile: str) -> Location | None:
        flags = set()
        for f in _FLAG_RE.findall(profile):
            cc = "".join(chr(ord(c) - 0x1F1E6 + 65) for c in f)
            if cc in self.gaz.country_by_code:
                flags.add(cc)
        best: tuple[int, float, Place] | None = None
        rank = {"city": 3, "region": 2, "country": 1}
        segments = [s.strip() for s in _PROFILE_SPLIT_RE.split(profile) if s and s.strip()]
        if any(seg in self.gaz.us_state_codes for seg in segments[1:]):
            flags.add("US")  # "Austin, TX"
        all_matches: list[_Match] = []
        for seg in segments:
            toks = _WORD_RE.findall(seg) or seg.split()
            words = self._words(toks)
            seg_matches = self._spans(words)
            for m in seg_matches:
                m.short_segment = len(words) <= 3
            all_matches.extend(seg_matches)
        if all_matches:
            resolved = self._resolve(all_matches, None, profile=True, extra_context=flags)
            named = {p.country_code for _, p, _ in resolved if p.kind == "country"} | flags
            for _m, place, conf in resolved:
                agree = place.kind != "country" and place.country_code in named
                conf = min(0.95, conf + (0.1 if agree else 0.0))
                cand = (rank[place.kind], conf, place)
                if best is None or cand[:2] > best[:2]:
                    best = cand
        if best is None and len(flags) == 1:
            cc = next(iter(flags))
            return _location(self.gaz.places[self.gaz.country_by_code[cc]], "author_profile", 0.6)
        if best is None:
            return None
        return _location(best[2], "author_profile", best[1] * 0.9)

    def from_geo(self, geo: Geo | None) -> Location | None:
        """The post's own coordinates, named after the nearest city when one is close."""
        if geo is None:
            return None
        near = self.gaz.nearest_city(geo.lat, geo.lon)
        name = f"{geo.lat:.4f},{geo.lon:.4f}"
        cc: str | None = None
        if near is not None:
            place, dist = near
            if dist <= NEAREST_CITY_KM:
                name = place.name
            if dist <= COUNTRY_CODE_KM:
                cc = place.country_code
        return Location(
            name=name, country_code=cc, lat=geo.lat, lon=geo.lon, source="post_geo", confidence=0.95
        )

    def ner_places(self, text: str) -> list[str]:
        """GPE/LOC entity strings from the optional NER pipeline ([] when none is installed)."""
        if self._ner is None:
            return []
        # the model's own spaCy tokenizer is quadratic in the length of a non-space run
        doc = self._ner(bound_runs(text))
        return [ent.text for ent in doc.ents if ent.label_ in ("GPE", "LOC")]


@functools.lru_cache(maxsize=20_000)
def _profile_cached(tagger: LocationTagger, profile: str) -> Location | None:
    return tagger._from_profile(profile)


LocationSource = Literal["post_geo", "author_profile", "text"]


def _location(place: Place, source: LocationSource, conf: float) -> Location:
    return Location(
        name=place.name,
        country_code=place.country_code,
        lat=place.lat,
        lon=place.lon,
        source=source,
        confidence=round(max(0.0, min(conf, 1.0)), 3),
    )


def _load_optional_ner(name: str) -> Any:
    """Load an installed spaCy pipeline package with NER, or None; never downloads."""
    import spacy
    from spacy.util import is_package

    if not is_package(name):
        return None
    nlp = spacy.load(name, exclude=["parser", "lemmatizer", "textcat"])
    return nlp if "ner" in nlp.pipe_names else None
