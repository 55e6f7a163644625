"""Per-language analysis of mention text: which analyser each detected language gets.

A mention's ``text`` is always indexed with the ``standard`` analyser (every language, every
script). In addition, ``to_document`` copies the text into ``text_lang.<code>`` for the
mention's language (detected, else declared) when that language is in :data:`LANGUAGE_ANALYZERS`;
the mapping decides what that sub-field does:

* a cluster with Elasticsearch's built-in language analysers (the default distribution,
  docker-compose) maps ``text_lang.en`` with ``english``, ``text_lang.ar`` with ``arabic``, …
  (tokenise, lowercase, stop words, stemming, language-specific normalisation);
* a cluster without them (the local ``integ-test-zip``, which lacks the analysis-common module)
  gets a *light* analyser per language, defined in the index settings from what the server
  core does have: ``standard`` tokenizer + ``lowercase`` + the language's named stop-word list
  (``_english_``, ``_arabic_``, … live in the server, not in analysis-common). No stemming.
* Urdu and Georgian have neither: no sub-field, they stay on ``text`` with ``standard``.

What the cluster can do is probed once, at ``brandpulse setup`` (:func:`probe_languages`), and
recorded in the template's ``_meta.text_languages``. The mapping is ``dynamic: false``, so a
``text_lang.<code>`` the mapping does not declare stays in ``_source`` but is not indexed — never
a rejected document.

>>> text_language_code("en-GB"), text_language_code("ur"), text_language_code(None)
('en', None, None)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError, Elasticsearch

log = logging.getLogger(__name__)

# ISO 639-1 (ckb: 639-3) → Elasticsearch 8.19 built-in language analyser.
LANGUAGE_ANALYZERS: dict[str, str] = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "bn": "bengali", "bg": "bulgarian",
    "ca": "catalan", "zh": "cjk", "ja": "cjk", "ko": "cjk", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "et": "estonian", "fi": "finnish", "fr": "french",
    "gl": "galician", "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian",
    "id": "indonesian", "ga": "irish", "it": "italian", "lv": "latvian", "lt": "lithuanian",
    "no": "norwegian", "nb": "norwegian", "fa": "persian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "ckb": "sorani", "es": "spanish", "sv": "swedish",
    "th": "thai", "tr": "turkish",
}
# Named stop-word lists of the Elasticsearch *server* (org.elasticsearch.index.analysis.Analysis),
# available without analysis-common. An unknown name would silently become a literal stop word,
# so only these are used. (There is no CJK list.)
SERVER_STOP_LISTS = frozenset(a for a in set(LANGUAGE_ANALYZERS.values()) if a != "cjk")
LIGHT_PREFIX = "brandpulse_light_"


def text_language_code(code: str | None) -> str | None:
    """The key of ``text_lang`` for a language code (``en-GB`` → ``en``), or None when no
    analyser exists for it (Urdu, Georgian, unknown)."""
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in LANGUAGE_ANALYZERS else None


def light_analyzer(builtin: str) -> str:
    return f"{LIGHT_PREFIX}{builtin}"


def _analyzes(es: Elasticsearch, **body: Any) -> bool:
    try:
        es.indices.analyze(text="probe", **body)
    except ApiError as exc:
        if exc.meta.status == 400:  # "failed to find global analyzer [english]"
            return False
        raise
    return True


def probe_languages(es: Elasticsearch) -> dict[str, str]:
    """ISO code → analyser name for ``text_lang.<code>``: the built-in analyser where the cluster
    has it, else the light one where the server has the language's stop list, else nothing."""
    builtin = {name for name in set(LANGUAGE_ANALYZERS.values()) if _analyzes(es, analyzer=name)}
    missing = sorted(set(LANGUAGE_ANALYZERS.values()) - builtin)
    light_ok = bool(missing) and _analyzes(
        es, tokenizer="standard", filter=["lowercase", {"type": "stop", "stopwords": "_english_"}])
    out: dict[str, str] = {}
    for code, name in sorted(LANGUAGE_ANALYZERS.items()):
        if name in builtin:
            out[code] = name
        elif light_ok and name in SERVER_STOP_LISTS:
            out[code] = light_analyzer(name)
    if missing:
        log.info("language analysers missing on this cluster: %s (%s)", ", ".join(missing),
                 "light stop-word analysers used instead" if light_ok else "standard analyser only")
    return out


def analysis_settings(languages: Mapping[str, str]) -> dict[str, Any]:
    """Index ``settings.analysis`` defining the light analysers ``languages`` refers to ({} if none)."""
    analyzers: dict[str, Any] = {}
    filters: dict[str, Any] = {}
    for name in sorted(set(languages.values())):
        if not name.startswith(LIGHT_PREFIX):
            continue
        lang = name.removeprefix(LIGHT_PREFIX)
        filters[f"{name}_stop"] = {"type": "stop", "stopwords": f"_{lang}_"}
        analyzers[name] = {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", f"{name}_stop"]}
    return {"analyzer": analyzers, "filter": filters} if analyzers else {}


def language_properties(languages: Mapping[str, str]) -> dict[str, Any]:
    """The ``text_lang`` object mapping: one analysed text field per available language."""
    return {
        "type": "object",
        "dynamic": False,  # explicit: an unmapped language is kept in _source, never rejected
        "properties": {code: {"type": "text", "analyzer": name} for code, name in sorted(languages.items())},
    }
