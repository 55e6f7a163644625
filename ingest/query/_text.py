"""Tokenisation shared by queries and documents, on the core's normalisation (brandpulse/text.py).

Queries and documents go through exactly the same functions, so whatever folding is applied here
can never make a query term unreachable: a term is just the token(s) its own text normalises to.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

from brandpulse.text import WORD_CLASS, normalize

_W = WORD_CLASS

# Plain words never contain "_" (it separates words in snake_case text), but a hashtag or handle
# keeps it, because "@acme_support" is one name. WORD_RE runs on text whose "_" were replaced by
# spaces; TOKEN_RE keeps them and splits plain runs itself.
WORD_RE = re.compile(f"[{_W}]+")
TAG_RE = re.compile(f"(?<![{_W}])([#@])([{_W}]+)")
TOKEN_RE = re.compile(f"(?<![{_W}])([#@])([{_W}]+)|([{_W}]+)")


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
