"""Unique real social posts for the throughput benchmarks (``bench_e2e.py``, ``bench_enrich.py``).

The texts come from ``../shared/data/sentiment/posts.jsonl.gz`` (public posts nobody on the team
wrote; sources and licences in its SOURCES.md). A template-generated set repeats itself, and the
enrichment's per-text cache then answers most of it: the figure says more about the cache than
about the taggers. Here every text is distinct (after NFKC, case folding and whitespace
collapsing), in several languages, and carries exactly one brand name, inserted at a random word
boundary — and, when a matcher is given, kept only if the real brand matcher finds exactly that
brand and no other, so one post is one mention.
"""

from __future__ import annotations

import gzip
import json
import random
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "sentiment" / "posts.jsonl.gz"

# Nine languages of the file, weighted towards the project's first-class ones (Georgian is not in
# it). Shares, not counts: a language that runs out is topped up from the others.
MIX: dict[str, float] = {"en": 0.35, "ar": 0.15, "ur": 0.15, "es": 0.10, "hi": 0.05, "de": 0.05,
                         "pt": 0.05, "fa": 0.05, "ru": 0.05}

# Invented names (checked against the texts by the matcher, not by hope).
BRANDS: tuple[str, ...] = ("Nimbus Air", "Kartuli Pay", "Lumora", "Zephyra Mobile", "Quillon Bank",
                           "Vantrix", "Orbelle", "Taskwell", "Brightloom", "Corvane Foods",
                           "Helixa Telecom", "Sundara Hotels")


@dataclass(frozen=True)
class RealText:
    text: str
    lang: str  # the language the dataset labels it with (the pipeline detects its own)
    brand: str


def text_key(text: str) -> str:
    """Equality key for "the same text": NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def read_texts(path: Path, langs: Iterable[str]) -> dict[str, list[str]]:
    """Every distinct text of ``langs`` in the file, in file order, per language."""
    wanted = set(langs)
    out: dict[str, list[str]] = {lang: [] for lang in wanted}
    seen: set[str] = set()
    if not path.exists():
        raise SystemExit(f"real-text data not found: {path} (the shared sentiment data set; pass --data)")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            lang, text = row.get("lang"), row.get("text")
            if lang not in wanted or not isinstance(text, str) or not text.strip():
                continue
            key = text_key(text)
            if key in seen:
                continue
            seen.add(key)
            out[lang].append(text)
    return out


def quotas(n: int, mix: Mapping[str, float], available: Mapping[str, int]) -> dict[str, int]:
    """How many texts to take per language: ``n`` split by ``mix``, a language short of texts
    gives its remainder to the others in proportion. Raises if the file has fewer than ``n``."""
    if sum(available.values()) < n:
        raise SystemExit(f"asked for {n} unique texts, the data has only {sum(available.values())} "
                         f"in {', '.join(sorted(mix))}")
    take = {lang: 0 for lang in mix}
    left = n
    open_langs = [lang for lang in mix if available.get(lang, 0) > 0]
    while left > 0 and open_langs:
        total = sum(mix[lang] for lang in open_langs)
        grant = {lang: max(1, int(left * mix[lang] / total)) for lang in open_langs}
        for lang in open_langs:
            g = min(grant[lang], available[lang] - take[lang], left)
            take[lang] += g
            left -= g
            if left == 0:
                break
        open_langs = [lang for lang in open_langs if take[lang] < available[lang]]
    return take


def insert_brand(text: str, brand: str, rng: random.Random) -> str:
    words = text.split(" ")
    words.insert(rng.randint(0, len(words)), brand)
    return " ".join(words)


def sample(n: int, *, path: Path = DATA, mix: Mapping[str, float] = MIX, brands: Sequence[str] = BRANDS,
           seed: int = 15, matcher: Callable[[str], Sequence[str]] | None = None) -> list[RealText]:
    """``n`` unique real texts, shuffled, one brand name each (see the module docstring).

    With ``matcher`` (text → names of the brands it matches), a text that does not match exactly
    its inserted brand is skipped and another one taken."""
    rng = random.Random(seed)
    by_lang = read_texts(path, mix)
    for texts in by_lang.values():
        rng.shuffle(texts)
    take = quotas(n, mix, {lang: len(t) for lang, t in by_lang.items()})
    out: list[RealText] = []
    seen: set[str] = set()
    cursor = {lang: 0 for lang in by_lang}
    pending = dict(take)
    while pending:
        for lang in list(pending):
            texts = by_lang[lang]
            while pending[lang] > 0 and cursor[lang] < len(texts):
                raw = texts[cursor[lang]]
                cursor[lang] += 1
                brand = brands[rng.randrange(len(brands))]
                text = insert_brand(raw, brand, rng)
                key = text_key(text)
                if key in seen or (matcher is not None and list(matcher(text)) != [brand]):
                    continue
                seen.add(key)
                out.append(RealText(text, lang, brand))
                pending[lang] -= 1
            if pending[lang] == 0 or cursor[lang] >= len(texts):
                short = pending.pop(lang)
                if short:  # this language ran dry: hand its remainder to one that has texts left
                    donor = next((x for x in by_lang if cursor[x] < len(by_lang[x])), None)
                    if donor is None:
                        raise SystemExit(f"ran out of usable texts ({len(out)} of {n})")
                    pending[donor] = pending.get(donor, 0) + short
    rng.shuffle(out)
    return out


def mix_summary(texts: Sequence[RealText]) -> str:
    counts: dict[str, int] = {}
    for t in texts:
        counts[t.lang] = counts.get(t.lang, 0) + 1
    return ", ".join(f"{lang} {c}" for lang, c in sorted(counts.items(), key=lambda kv: -kv[1]))
