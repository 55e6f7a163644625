"""Text normalisation for the trained sentiment model (shared by training and inference).

The model sees exactly what :func:`model_text` returns, so training (``tools/train_sentiment.py``)
and run time call the same function: a change here needs a retrain (``make train-sentiment``).

* lower-case; URLs -> ``http``, @handles -> ``@user`` (the convention of the training data, whose
  builder already did this); ``#NimbusAirFail`` -> ``#nimbusairfail nimbus air fail`` so the tag is
  seen whole and as its words (camel case and ``_`` mark the boundaries);
* emoji clusters become separate tokens (fastText splits on whitespace only), punctuation is split
  off words and runs are shortened (``!!!!`` -> ``!!``), letter runs are shortened (``soooo`` ->
  ``soo``) so elongations share n-grams;
* Arabic-script text is folded to one spelling of the letters that Arabic, Persian and Urdu write
  differently (ي/ی/ے, ك/ک, ه/ہ/ة/ھ ...), diacritics and the tatweel (U+0640) are removed: the three
  languages then share vocabulary and character n-grams, which is what lets Persian and Arabic
  training data speak for Urdu-script posts (there is no Urdu-script training data);
* :func:`urdu_skeleton` turns Urdu script and Roman Urdu into one consonant skeleton (``bohat`` and
  ``بہت`` -> ``bt``), the bridge from the Roman-Urdu training data to Urdu-script posts;
  :func:`skeleton_tokens` marks those skeletons (``~bt``) for appending to romanised Urdu/Hindi
  input, which only a model trained that way reads (``romanised_skeleton`` in ``sentiment.json``;
  the shipped model is not: see MODEL_CARD.md).

>>> model_text("Sooo GOOD!!!! 😍😍 @acme http://x.co #LoveIt")
'soo good !! 😍 😍 @user http #loveit love it'
>>> model_text("الخدمـــة ممتازة جداً")
'الخدمه ممتازه جدا'
>>> urdu_skeleton("bohat acha")
'bt c'
>>> urdu_skeleton(model_text("بہت اچھا"))
'bt c'
"""

from __future__ import annotations

import re

from brandpulse.text import HANDLE_RE, HASHTAG_RE, URL_RE, fold_script, split_hashtag

__all__ = ["arabic_script_share", "latin_share", "model_text", "skeleton_tokens", "urdu_skeleton"]

_UNPRINTABLE_RE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# emoji / pictographs / regional indicators / skin tones: one token per code point run boundary
_EMOJI_RE = re.compile(
    "([\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2900-\u2bff\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001faff])[\ufe0e\ufe0f\u200d]*"
)
_PUNCT_RE = re.compile(r"([!?.,;:()\[\]{}\"“”«»…،؟۔*~|/\\<>=+^])\1*")
# \w then a letter check in the callback: twice as fast as a [^\W\d_] class on every position
_REPEAT_RE = re.compile(r"(\w)\1\1+")
_ARABIC_LETTER_RE = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
# On top of the core's Arabic-script folding (brandpulse.text.fold_script: marks, tatweel, yeh/kaf/
# heh/alef variants, digits): the model also reads the hamza-carrying and Urdu-final forms of yeh,
# the other heh shapes and hamza-waw as their base letters, so Urdu, Persian and Arabic spellings of
# one word meet (the Urdu-script route reads Urdu through what the model learnt from the others).
_MODEL_FOLD = str.maketrans(
    {"ئ": "ی", "ے": "ی", "ۓ": "ی", "ۂ": "ه", "ھ": "ه", "ۀ": "ه", "ؤ": "و"}
)  # fmt: skip

# Urdu letters (after the fold above) -> the Latin letters Roman-Urdu writers use for them.
_URDU_TO_LATIN = str.maketrans(
    {
        "ا": "a", "ب": "b", "پ": "p", "ت": "t", "ٹ": "t", "ث": "s", "ج": "j", "چ": "ch", "ح": "h",
        "خ": "kh", "د": "d", "ڈ": "d", "ذ": "z", "ر": "r", "ڑ": "r", "ز": "z", "ژ": "zh", "س": "s",
        "ش": "sh", "ص": "s", "ض": "z", "ط": "t", "ظ": "z", "ع": "a", "غ": "gh", "ف": "f", "ق": "q",
        "ک": "k", "گ": "g", "ل": "l", "م": "m", "ن": "n", "ں": "n", "و": "o", "ه": "h", "ی": "i",
        "ء": "", "ٔ": "",
    }
)  # fmt: skip
# Short vowels are not written in Urdu script and Roman-Urdu spellings of vowels and of "h" vary
# wildly (acha/achha, bohat/bht, hai/hy/h), so the skeleton keeps consonants only.
_SKELETON_DROP_RE = re.compile(r"[aeiouyhw']+")
_SKELETON_SUBS = (("ch", "c"), ("q", "k"), ("x", "ks"))
_DOUBLE_RE = re.compile(r"([a-z])\1+")


def model_text(text: str) -> str:
    """The normalised text the sentiment model reads (see the module docstring)."""
    s = text
    if not s.isprintable():  # lone surrogates cannot cross into fastText's C++; controls are noise
        s = _UNPRINTABLE_RE.sub(_unprintable, s)
    if "#" in s:  # before lower-casing: the case marks the word boundaries of #NimbusAirFail
        s = HASHTAG_RE.sub(_hashtag, s)
    s = s.lower()
    if "://" in s or "www" in s:
        s = URL_RE.sub(" http ", s)
    if "@" in s:
        s = HANDLE_RE.sub(" @user ", s)
    if not s.isascii():
        s = _EMOJI_RE.sub(r" \1 ", s)
        if _ARABIC_LETTER_RE.search(s):
            s = fold_script(s).translate(_MODEL_FOLD)
    s = _PUNCT_RE.sub(_punct, s)
    s = _REPEAT_RE.sub(_repeat, s)
    return " ".join(s.split())


def _unprintable(m: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= m.group(0) <= "\udfff" else " "


def _hashtag(m: re.Match[str]) -> str:
    tag = m.group(1)
    return f" #{tag} {' '.join(split_hashtag(tag))} "


def _punct(m: re.Match[str]) -> str:
    run = m.group(0)
    return f" {run[:2]} "


def _repeat(m: re.Match[str]) -> str:
    ch = m.group(1)
    return m.group(0) if ch.isdigit() or ch == "_" else ch + ch


def urdu_skeleton(text: str) -> str:
    """Consonant skeleton of (normalised) Urdu script or Roman Urdu; other tokens pass through.

    Word by word: Urdu-script letters are transliterated to Roman-Urdu letters, then vowels, ``h``,
    ``y`` and ``w`` are dropped and doubled letters collapsed; a word that would vanish keeps its
    first letter. Tokens without letters (emojis, punctuation) are kept as they are.
    """
    out: list[str] = []
    for tok in text.split():
        latin = tok.translate(_URDU_TO_LATIN) if _ARABIC_LETTER_RE.search(tok) else tok
        if not latin.isascii() or not any(ch.isalpha() for ch in latin):
            out.append(tok)
            continue
        low = latin.lower()
        for a, b in _SKELETON_SUBS:
            low = low.replace(a, b) if a in low else low
        skel = _DOUBLE_RE.sub(r"\1", _SKELETON_DROP_RE.sub("", low))
        out.append(skel or low[:1])
    return " ".join(out)


def arabic_script_share(text: str) -> float:
    """Share of the letters in ``text`` that are Arabic-script (Urdu-script detection)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _ARABIC_LETTER_RE.match(ch)) / len(letters)


def skeleton_tokens(norm: str) -> str:
    """``~``-marked consonant skeletons of the words of (normalised) romanised Urdu or Hindi.

    Appended to the model input of romanised posts (when the model was trained so): Roman Urdu
    and Hinglish have no standard spelling (bohat/bohot/bht, acha/achha/accha), and the skeleton
    is what the variants share. The mark keeps ``bt`` the skeleton apart from a word ``bt``.
    """
    return " ".join(f"~{t}" for t in urdu_skeleton(norm).split() if t.isascii() and t.isalpha())


def latin_share(text: str) -> float:
    """Share of the letters in ``text`` that are basic Latin (romanised-post detection)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if ch.isascii()) / len(letters)
