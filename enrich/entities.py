"""Social-media entities found in raw text: hashtags, @handles, cashtags, URLs and emojis.

Everything here is regex work on the (already sanitised) text, independent of the language.
Output conventions, chosen so the same thing aggregates to one value in the index:

* hashtags: ``#`` + the tag casefolded (``#AcmeFail`` -> ``#acmefail``); Unicode tags kept whole
  (``#پاکستان``, ``#საქართველო``); a tag must contain a character that is not a digit/underscore.
* handles: ``@`` + the handle casefolded; an e-mail address is not a handle.
* cashtags: ``$`` + ticker upper-cased; ``$ACME`` and ``$acme.b`` are cashtags, ``$5``/``$5M`` are not.
* URLs: see :func:`normalize_url`.
* emojis: one string per emoji, variation selectors (U+FE0F/U+FE0E) removed, ZWJ sequences,
  skin-tone modifiers, keycaps, flags and tag sequences kept as one emoji.

Each kind is de-duplicated keeping first-seen order and capped at ``MAX_PER_KIND`` values.

>>> e = extract_entities("Worst. #AcmeFail 😡😡 @AcmeHelp $acme https://Acme.com:443/x/?utm_source=tw#top")
>>> e.hashtags, e.handles, e.cashtags, e.urls, e.emojis
(('#acmefail',), ('@acmehelp',), ('$ACME',), ('https://acme.com/x',), ('😡',))
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from brandpulse.text import CASHTAG_RE, HANDLE_RE, HASHTAG_RE, URL_RE

MAX_PER_KIND = 50

# ---------------------------------------------------------------------------------------------
# URLs

TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
        "_ga", "_gl", "ref_src", "ref_url", "si",
    }
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
_TRAILING_PUNCT = ".,;:!?'\"…،۔؟»”’*"
_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _trim_url(raw: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets glued to the end of a URL."""
    url = raw
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCT:
            url = url[:-1]
        elif last in _BRACKETS and url.count(last) > url.count(_BRACKETS[last]):
            url = url[:-1]
        else:
            break
    return url


def normalize_url(url: str) -> str | None:
    """A canonical form of ``url`` for counting and de-duplication, or None if it is not a URL.

    * scheme and host lower-cased; ``www.x`` without a scheme gets ``http://``;
    * default ports removed (``:80`` for http, ``:443`` for https);
    * user info kept out (``user:pass@`` is dropped: it is a credential, not an identity);
    * tracking parameters removed: every ``utm_*`` plus ``fbclid``, ``gclid`` and the others in
      ``TRACKING_PARAMS``; the remaining parameters keep their order;
    * fragment removed;
    * trailing-slash policy: a trailing ``/`` is removed from every path, so ``https://x.com/``
      and ``https://x.com`` are the same, as are ``/a/b/`` and ``/a/b``.

    >>> normalize_url("HTTP://www.Example.COM:80/a/b/?utm_medium=x&id=7&fbclid=abc#frag")
    'http://www.example.com/a/b?id=7'
    """
    url = _trim_url(url.strip())
    if not url:
        return None
    if url[:4].lower() == "www.":
        url = "http://" + url
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if not scheme or not host:
        return None
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    query = ""
    if parts.query:
        kept = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
        ]
        query = urlencode(kept, quote_via=quote, safe="/:@,")
    return urlunsplit((scheme, netloc, path, query, ""))


# ---------------------------------------------------------------------------------------------
# Emojis

# Characters that are emoji by default (Emoji_Presentation) or commonly rendered as emoji.
_EMOJI_BASE = (
    "\U0001f000-\U0001f0ff"  # mahjong, dominoes, playing cards
    "\U0001f10d-\U0001f1e5"  # enclosed alphanumerics (🅰 🆗), not the regional indicators
    "\U0001f200-\U0001f64f"  # enclosed ideographic, pictographs, emoticons, skin tones
    "\U0001f680-\U0001f6ff"  # transport and map
    "\U0001f7e0-\U0001f7ff"  # coloured circles and squares
    "\U0001f900-\U0001faff"  # supplemental pictographs, symbols and pictographs extended-A
    "\u2600-\u2712\u2714-\u2716\u2719-\u27bf"  # misc symbols, dingbats (☀ ☕ ✨ ❤ ✅ ❌ ➡), not ✓ ✗ ✘
    "\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa"
    "\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u2934\u2935\u3030\u303d\u3297\u3299"
)
# Text-default symbols that are emoji only when followed by U+FE0F (©️ ®️ ‼️ ™️ ↔️ ...).
_TEXT_DEFAULT = "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u24c2"
_SKIN = "\U0001f3fb-\U0001f3ff"
_ELEMENT = f"(?:[{_EMOJI_BASE}][\ufe0e\ufe0f]?[{_SKIN}]?|[{_TEXT_DEFAULT}]\ufe0f)"
EMOJI_RE = re.compile(
    "[\U0001f1e6-\U0001f1ff]{2}"  # flags
    "|[0-9#*]\ufe0f?\u20e3"  # keycaps
    "|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"  # tag sequences (England, Scotland, Wales)
    f"|{_ELEMENT}(?:\u200d{_ELEMENT})*"
)
_VARIATION_SELECTORS = str.maketrans("", "", "\ufe0e\ufe0f")


def extract_emojis(text: str) -> list[str]:
    """Every emoji in ``text`` in order (repeats included), variation selectors stripped.

    >>> extract_emojis("ok 👍🏽 ❤️ 👨‍👩‍👧 🇬🇪 1️⃣ ©")
    ['👍🏽', '❤', '👨\u200d👩\u200d👧', '🇬🇪', '1⃣']
    """
    out: list[str] = []
    for m in EMOJI_RE.finditer(text):
        emoji = m.group().translate(_VARIATION_SELECTORS)
        if emoji and emoji != "\u200d":
            out.append(emoji)
    return out


# ---------------------------------------------------------------------------------------------
# Hashtags, handles, cashtags


def _has_non_digit(tag: str) -> bool:
    return any(not (c.isdigit() or c == "_") for c in tag)


def extract_hashtags(text: str) -> list[str]:
    """Hashtag bodies as written (without ``#``), in order, repeats included."""
    return [m.group(1) for m in HASHTAG_RE.finditer(text) if _has_non_digit(m.group(1))]


def extract_handles(text: str) -> list[str]:
    return [m.group(1) for m in HANDLE_RE.finditer(text)]


def extract_cashtags(text: str) -> list[str]:
    return [m.group(1) for m in CASHTAG_RE.finditer(text)]


def extract_urls(text: str) -> list[str]:
    """Normalised URLs, in order, repeats included (see :func:`normalize_url`)."""
    out = []
    for m in URL_RE.finditer(text):
        norm = normalize_url(m.group())
        if norm is not None:
            out.append(norm)
    return out


def _dedupe(items: Iterable[str], limit: int = MAX_PER_KIND) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        if item not in seen:
            seen[item] = None
            if len(seen) >= limit:
                break
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Entities:
    hashtags: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    cashtags: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    emojis: tuple[str, ...] = ()
    raw_hashtags: tuple[str, ...] = ()  # bodies as written (case kept), for hashtag splitting


def extract_entities(text: str) -> Entities:
    """All entity kinds of ``text`` with the output conventions in the module docstring."""
    if not text:
        return Entities()
    raw_tags = extract_hashtags(text) if "#" in text else []
    return Entities(
        hashtags=_dedupe("#" + t.casefold() for t in raw_tags),
        handles=_dedupe("@" + h.casefold() for h in extract_handles(text)) if "@" in text else (),
        cashtags=_dedupe("$" + c.upper() for c in extract_cashtags(text)) if "$" in text else (),
        urls=_dedupe(extract_urls(text)) if ("://" in text or "www." in text.lower()) else (),
        emojis=_dedupe(extract_emojis(text)) if not text.isascii() else (),
        raw_hashtags=_dedupe(raw_tags),
    )


