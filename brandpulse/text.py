"""Text conventions every stage shares: what a URL, a handle, a hashtag and a word are, in any script,
how Arabic-script spelling variants fold together, and how a hashtag splits into words.

The brand-query matcher (ingest) and every tagger (enrich) use these, so a query term, a keyword,
a place and a sentiment cue agree on what the same text says.

>>> [m.group(1) for m in HASHTAG_RE.finditer("#AcmeFail! visit acme.com/#top &#39; #مُلتان")]
['AcmeFail', 'مُلتان']
>>> fold_script("كيف") == fold_script("کیف"), fold_script("مـــلتان")
(True, 'ملتان')
>>> split_hashtag("#WorstServiceEver"), split_hashtag("#پاکستان_زندہ_باد")
(['worst', 'service', 'ever'], ['پاکستان', 'زندہ', 'باد'])
>>> http_url("javascript:alert(1)"), http_url("https://acme.com@evil.example/x")
(None, 'https://evil.example/x')
>>> redact_url("https://elastic:pw@es.example:9200,http://es2:9200")
'https://es.example:9200,http://es2:9200'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "CASHTAG_RE",
    "HANDLE_RE",
    "HASHTAG_RE",
    "MARKS",
    "URL_RE",
    "WORD_CHAR",
    "WORD_CLASS",
    "fold_script",
    "http_url",
    "normalize",
    "redact_url",
    "split_hashtag",
]


def _mark_ranges() -> str:
    """A regex character-class body with every combining mark in the BMP (categories Mn, Mc, Me).

    Python's ``\\w`` does not match combining marks, yet they are part of words in Urdu, Arabic
    (harakat), Devanagari and others; a hashtag like ``#مُلتان`` must not stop at the damma.
    """
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


def _word_class() -> str:
    """Regex class body for word characters: letters, numbers, combining marks and "_".

    ``\\w`` in :mod:`re` covers letters and numbers but not marks, which would cut Devanagari,
    Bengali etc. words in two at every vowel sign, so marks are added. The BMP is listed
    explicitly so that ``re`` compiles it to one bitmap (25-35% faster on Arabic-script text than
    a category test); astral letters and numbers are left to the trailing ``\\w``. Astral marks
    are not listed: any character above U+FFFF in the list stops ``re`` from building the bitmap
    and made tokenising 2.5x slower. Variation selectors are left out so that an emoji's U+FE0F
    does not become a one-character "word".
    """
    ranges: list[tuple[int, int]] = []
    category = unicodedata.category
    for cp in range(0x10000):
        if (category(chr(cp))[0] in "LNM" or cp == 0x5F) and not 0xFE00 <= cp <= 0xFE0F:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    body = "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)
    return body + r"\w"


MARKS = _mark_ranges()
# Character-class body of a word character for matching (letters, numbers, marks, "_").
WORD_CLASS = _word_class()
# A word character inside a hashtag or handle: \w, combining marks, ZWNJ/ZWJ (Persian/Urdu words).
WORD_CHAR = f"[\\w{MARKS}\\u200c\\u200d]"

# The "#" comes first so the regex engine can skip ahead to it; the look-behind then checks the
# character before it (no hashtag inside a word, an HTML entity "&#39;", a URL path or "##").
HASHTAG_RE = re.compile(f"#(?<![\\w&/#{MARKS}]#)({WORD_CHAR}+)")
HANDLE_RE = re.compile(r"@(?<![\w@.]@)(\w{1,50})")
CASHTAG_RE = re.compile(r"\$(?<![\w$]\$)([A-Za-z][A-Za-z0-9]{0,5}(?:\.[A-Za-z]{1,2})?)(?![\w$])")
# A URL as people paste it: a scheme (any, so javascript: and file: are seen, not hidden) or www.
URL_RE = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]*://|\bwww\.)[^\s<>\"'`\u200b]+", re.IGNORECASE)


# --------------------------------------------------------------------------- script folding
def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    # Invisible formatting characters that can sit inside a word without changing it: tatweel
    # (kashida) stretches Arabic letters, ZWJ/soft hyphen/bidi controls are layout hints.
    for cp in (0x0640, 0x200D, 0x00AD, 0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F),
               *range(0x2066, 0x206A)):
        table[cp] = None
    # Arabic-script vowel marks and Quranic annotation marks are optional in normal writing, so
    # the same word appears with and without them; drop them on both sides.
    for cp in (*range(0x064B, 0x0660), 0x0670, *range(0x06D6, 0x06DD), *range(0x06DF, 0x06E5),
               0x06E7, 0x06E8, *range(0x06EA, 0x06EE)):
        table[cp] = None
    # ZWNJ keeps two parts of an Urdu/Persian compound visually unjoined; the parts are separate
    # morphemes (brand + suffix, e.g. "ایکمی‌کا"), so it is treated as a word boundary.
    # ZWSP is an invisible space by definition.
    table[0x200C] = " "
    table[0x200B] = " "
    # Letters that Urdu and Arabic keyboards encode differently but readers see as the same
    # letter: Arabic yeh/alef maksura vs Farsi yeh, Arabic kaf vs keheh, heh variants, teh
    # marbuta, and hamza/madda-carrying alefs (standard light normalisation in Arabic search).
    # Everything folds to the Perso-Urdu form (Farsi yeh, keheh) and plain heh/alef.
    for src, dst in (("ي", "ی"), ("ى", "ی"), ("ك", "ک"), ("ہ", "ه"), ("ە", "ه"), ("ۃ", "ه"),
                     ("ة", "ه"), ("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ٱ", "ا")):
        table[ord(src)] = dst
    # Arabic-Indic and Extended Arabic-Indic (Urdu) digits are not NFKC-folded to ASCII.
    for i in range(10):
        table[0x0660 + i] = str(i)
        table[0x06F0 + i] = str(i)
    return table


_FOLD_MAP = _fold_table()
_FOLD_TRIGGER = re.compile("[" + "".join(f"\\u{cp:04x}" for cp in sorted(_FOLD_MAP)) + "]")
# str.translate with a list is 2x faster than with a dict (no hashing). Characters past the end
# raise IndexError, which translate treats as "unchanged", so the list stops after the last entry.
_FOLD: list[int | str | None] = [_FOLD_MAP.get(cp, cp) for cp in range(max(_FOLD_MAP) + 1)]


def fold_script(s: str) -> str:
    """Arabic-script light normalisation: tatweel, harakat and invisible marks dropped, letter
    variants folded (yeh, kaf, heh, alef), Arabic-Indic digits to ASCII. Other scripts unchanged."""
    if s.isascii() or _FOLD_TRIGGER.search(s) is None:
        return s
    return s.translate(_FOLD)


def normalize(s: str) -> str:
    """NFKC + casefold (+ NFKC again, as casefold can denormalise) + :func:`fold_script`."""
    if s.isascii():
        # For ASCII, NFKC is the identity and casefold() equals lower(); this path is O(1) to
        # detect and is taken by most English and Spanish-without-accents mentions.
        return s.lower()
    return fold_script(unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold()))


# --------------------------------------------------------------------------- hashtag splitting
_CAMEL_RE = re.compile(
    f"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z{MARKS}]+|[A-Z]+|\\d+|[^\\W\\d_A-Za-z][\\w{MARKS}]*"
)
_MAX_SEGMENT = 20
# Longer all-lower-case runs are not segmented: the dynamic programme is O(n * _MAX_SEGMENT), and
# no real hashtag word-run is this long, while an attacker's 100k-char "#aaaa…" would be.
_MAX_SEGMENT_RUN = 64


def _segment(word: str, vocabulary: Container[str]) -> list[str] | None:
    """Split a run of lower-case letters into vocabulary words (fewest pieces), or None."""
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_SEGMENT), end):
            prev = best[start]
            if prev is None:
                continue
            piece = word[start:end]
            if piece in vocabulary and (best[end] is None or len(prev) + 1 < len(best[end] or ())):
                best[end] = [*prev, piece]
    return best[n]


def split_hashtag(tag: str, vocabulary: Container[str] | None = None) -> list[str]:
    """The words of a hashtag, lower-cased (casefolded).

    Splits on ``_``, on case changes (``#WorstServiceEver``), on letter/digit boundaries, and,
    when ``vocabulary`` is given, splits an all-lower-case run into vocabulary words
    (``#worstserviceever`` -> worst service ever) if it can be covered entirely.

    >>> split_hashtag("#worst_service_ever"), split_hashtag("#iPhone15Pro")
    (['worst', 'service', 'ever'], ['i', 'phone', '15', 'pro'])
    >>> split_hashtag("#worstserviceever", {"worst", "service", "ever", "worse"})
    ['worst', 'service', 'ever']
    """
    body = tag[1:] if tag.startswith("#") else tag
    words: list[str] = []
    for chunk in body.split("_"):
        if not chunk:
            continue
        for piece in _CAMEL_RE.findall(chunk):
            low = piece.casefold()
            if (vocabulary is not None and piece.islower() and low not in vocabulary
                    and 3 < len(low) <= _MAX_SEGMENT_RUN):
                parts = _segment(low, vocabulary)
                if parts:
                    words.extend(parts)
                    continue
            words.append(low)
    return words


# --------------------------------------------------------------------------- URLs
# Longer "links" are not links a person follows; browsers and CDNs cut around 2-8k characters.
MAX_URL_CHARS = 4096
_USERINFO_RE = re.compile(r"(?<![\w+.-])([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")


def http_url(value: object) -> str | None:
    """The one check every source's links pass: an absolute http(s) URL with a host, or None.

    A feed, an API or a webhook sender decides what ``url`` says, and Kibana and the alert
    channels render it as a link, so ``javascript:``, ``data:``, ``file:`` and scheme-relative
    values are dropped rather than passed on. Userinfo is removed: ``https://acme.com@evil.example``
    is a link to evil.example that only looks like acme.com (and a real ``user:password@`` has no
    business in an indexed document). Stray whitespace is percent-encoded, not rejected: a
    hand-built link with a space in its query is still the right link, but HTML and Slack would
    cut it at the space.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS:
        return None
    if any(ch.isspace() for ch in url):
        url = re.sub(r"\s", lambda m: quote(m.group()), url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url


def redact_url(text: str) -> str:
    """``text`` with the ``user:password@`` part of every URL in it removed.

    For anything a person or a log shipper will read: ``brandpulse config check`` prints the
    Elasticsearch URL(s) as configured (``BRANDPULSE_ELASTICSEARCH__URL=https://elastic:pw@…`` is a
    valid way to give credentials), error messages name endpoints. Works on a comma-separated
    list and on URLs inside a sentence.
    """
    return _USERINFO_RE.sub(r"\1", text) if "@" in text else text
