"""Language-independent emoji sentiment table.

Scores come from ``lexicons/emoji_sentiment_ranking.tsv`` -- derived from the Emoji Sentiment Ranking
1.0 (Kralj Novak et al. 2015, CC BY-SA 4.0): score = p(+) - p(-) with Laplace smoothing, in [-1, 1] --
overlaid with ``lexicons/emoji_additions.tsv`` (hand-made entries for emojis newer than the ranking and
a few documented overrides). See ``lexicons/LICENSES.md``.

>>> table = EmojiTable()
>>> table.score("👍") > 0.4 and table.score("🔥") > 0
True
>>> [e for e, _ in table.find("so good 🔥🔥 👍🏽")]
['🔥', '🔥', '👍🏽']
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

__all__ = ["LEXICON_DIR", "EmojiTable"]

LEXICON_DIR = Path(__file__).with_name("lexicons")

_VS = "\ufe0e\ufe0f"
_SKIN = "\U0001f3fb-\U0001f3ff"
_ZWJ = "\u200d"
# Extended-pictographic ranges (approximation of Unicode's Extended_Pictographic property).
_PICTO_RANGES = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935\u2b05-\u2b07"
    "\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001f3fa\U0001f400-\U0001faff"
)
_REGIONAL = "\U0001f1e6-\U0001f1ff"


def _load_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def _key(cluster: str) -> str:
    """Lookup key: drop variation selectors and skin-tone modifiers."""
    return re.sub(f"[{_VS}{_SKIN}]", "", cluster)


class EmojiTable:
    """Emoji -> sentiment score in [-1, 1]; also finds and strips emoji clusters in text."""

    def __init__(self, lexicon_dir: Path | None = None) -> None:
        base = lexicon_dir or LEXICON_DIR
        picto = f"[{_PICTO_RANGES}]"
        is_picto = re.compile(picto).match
        scores: dict[str, float] = {}
        # The ranking also scores ~80 non-emoji symbols (box drawing, arrows, U+FFFD ...): ignored.
        for row in _load_tsv(base / "emoji_sentiment_ranking.tsv"):
            key = _key(row["emoji"])
            if key and is_picto(key):
                scores[key] = float(row["score"])
        for row in _load_tsv(base / "emoji_additions.tsv"):
            scores[_key(row["emoji"])] = float(row["score"])
        self._scores = scores
        unit = f"{picto}[{_VS}]?[{_SKIN}]?"
        self._cluster_re = re.compile(f"[{_REGIONAL}]{{2}}|{unit}(?:{_ZWJ}{unit})*|[{_SKIN}]")

    def __len__(self) -> int:
        return len(self._scores)

    def score(self, cluster: str) -> float | None:
        """Score of one emoji cluster, or ``None`` if the table does not know it."""
        key = _key(cluster)
        if key in self._scores:
            return self._scores[key]
        first = key.split(_ZWJ, 1)[0]  # ZWJ sequence not in the table: fall back to its first emoji
        return self._scores.get(first)

    def find(self, text: str) -> list[tuple[str, float | None]]:
        """All emoji clusters in ``text`` with their scores (``None`` when unknown)."""
        return [(m.group(0), self.score(m.group(0))) for m in self._cluster_re.finditer(text)]

    def strip(self, text: str) -> str:
        """``text`` with every emoji cluster replaced by a space."""
        return self._cluster_re.sub(" ", text)

    def split(self, text: str) -> tuple[str, list[tuple[str, float | None]]]:
        """(text without emojis, emojis found with their scores) in one pass."""
        found: list[tuple[str, float | None]] = []

        def _take(m: re.Match[str]) -> str:
            found.append((m.group(0), self.score(m.group(0))))
            return " "

        return self._cluster_re.sub(_take, text), found
