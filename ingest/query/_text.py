"""Unicode normalisation and tokenisation shared by queries and documents.

Queries and documents go through exactly the same functions, so whatever folding is applied here
can never make a query term unreachable: a term is just the token(s) its own text normalises to.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit


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


_W = _word_class()

# Plain words never contain "_" (it separates words in snake_case text), but a hashtag or handle
# keeps it, because "@acme_support" is one name. WORD_RE runs on text whose "_" were replaced by
# spaces; TOKEN_RE keeps them and splits plain runs itself.
WORD_RE = re.compile(f"[{_W}]+")
TAG_RE = re.compile(f"(?<![{_W}])([#@])([{_W}]+)")
TOKEN_RE = re.compile(f"(?<![{_W}])([#@])([{_W}]+)|([{_W}]+)")


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


def normalize(s: str) -> str:
    """NFKC + casefold (+ NFKC again, as casefold can denormalise) + script-specific folding."""
    if s.isascii():
        # For ASCII, NFKC is the identity and casefold() equals lower(); this path is O(1) to
        # detect and is taken by most English and Spanish-without-accents mentions.
        return s.lower()
    s = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())
    if _FOLD_TRIGGER.search(s) is not None:
        s = s.translate(_FOLD)
    return s


# Clitics written attached to Arabic nouns: the definite article and its fused forms with
# wa- "and", bi- "with", fa- "so", ka- "like" and li- "for" (li + al -> "لل"). Longest first.
AR_PREFIXES = ("وال", "بال", "فال", "کال", "لل", "ال")


def arabic_alternate(tok: str) -> str | None:
    """The token without a leading Arabic article clitic, if it has one and enough is left."""
    if tok.startswith(AR_PREFIXES):
        for p in AR_PREFIXES:
            if tok.startswith(p) and len(tok) - len(p) >= 2:
                return tok[len(p):]
    return None



def query_tokens(norm: str) -> list[tuple[str, str]]:
    """Tokens of already-normalised query text as (kind, text); kind is "", "#" or "@"."""
    out: list[tuple[str, str]] = []
    for m in TOKEN_RE.finditer(norm):
        kind, tag, word = m.group(1), m.group(2), m.group(3)
        if word is None:
            out.append((kind, tag))
        else:
            out.extend(("", part) for part in word.split("_") if part)
    return out


# Every ASCII character that is not a letter or digit (including "_") becomes a space, so that
# split() yields exactly what WORD_RE finds on "_"-free text; translate has a fast path for
# ASCII-to-ASCII tables, which makes this about twice as fast as the regex.
_ASCII_SPLIT = {i: " " for i in range(128) if not chr(i).isalnum()}


def plain_words(norm: str) -> list[str]:
    """Plain words of normalised text ("_" separates words; "#"/"@" are not special)."""
    if norm.isascii():
        return norm.translate(_ASCII_SPLIT).split()
    return WORD_RE.findall(norm.replace("_", " ") if "_" in norm else norm)


def norm_author(s: str) -> str:
    return " ".join(normalize(s).split()).lstrip("@")


def norm_lang(s: str) -> str:
    return normalize(s).strip().replace("_", "-")


# Metadata values come from a small vocabulary (language and country codes, a few thousand
# sites), so the normalised forms are memoised per raw value.
@lru_cache(maxsize=1024)
def lang_keys(s: str) -> tuple[str, ...]:
    """The language tag and its primary subtag, so ``lang:ur`` matches a document tagged ur-PK."""
    v = norm_lang(s)
    if not v:
        return ()
    primary = v.split("-", 1)[0]
    return (v,) if primary == v else (v, primary)


@lru_cache(maxsize=1024)
def norm_country(s: str) -> str:
    return normalize(s).strip()


_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_NETLOC_END_RE = re.compile(r"[/?#\\]")


def site_keys(url: str) -> tuple[str, ...]:
    """Host of ``url`` and all its parent domains (empty if there is no host)."""
    u = url.strip()
    m = _SCHEME_RE.match(u)
    if m is not None:
        u = u[m.end():]
    elif u.startswith("//"):
        u = u[2:]
    end = _NETLOC_END_RE.search(u)
    return _netloc_keys(u if end is None else u[:end.start()])


@lru_cache(maxsize=8192)
def _netloc_keys(netloc: str) -> tuple[str, ...]:
    try:
        host = urlsplit("//" + netloc).hostname  # drops userinfo and port, unwraps [IPv6]
    except ValueError:
        return ()
    if not host:
        return ()
    host = host.rstrip(".")
    if "xn--" in host:
        try:
            host = host.encode("ascii").decode("idna")
        except UnicodeError:
            pass
    return tuple(host_suffixes(normalize(host)))


def host_suffixes(host: str) -> list[str]:
    """``blog.acme.com`` -> [blog.acme.com, acme.com, com]: every domain a site: may name."""
    parts = host.split(".")
    return [".".join(parts[i:]) for i in range(len(parts)) if parts[i]]


def display_width(s: str) -> int:
    """Terminal columns of ``s``, so the caret under a query lines up after wide or combining chars."""
    w = 0
    for ch in s:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w
