"""The shipped sentiment model: a fastText classifier and the calibrated stackers on top.

Files (``enrich/models/``, see ``MODEL_CARD.md`` there for data, licences and figures):

* ``sentiment.ftz`` -- fastText supervised (product-quantised), trained on the three-class
  sources (plus the two-class ones for languages that have nothing else);
* ``sentiment.json`` -- the model languages, the stackers (one multinomial logistic regression
  per route, over the log of the fastText probabilities, the lexicon score and the emoji
  valence), the transfer temperature, and the training recipe's fingerprint.

The classifier reads ``__lang_<code> <model_text(text)>``; Urdu in Arabic script reads
``__lang_urs <urdu_skeleton(...)>`` (trained on the consonant skeletons of the Roman-Urdu data) and
a language the model was not trained on reads ``__lang_und`` (trained on a random tenth of all rows).

The predictor is ``fasttext-predict`` (C++ inference only) at run time, and the ``fasttext``
training build inside ``make train-sentiment``; both read the same ``.ftz`` format.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brandpulse.schema import SentimentLabel

__all__ = [
    "CLASSES",
    "FEATURES",
    "MODEL_DIR",
    "FastTextPair",
    "LexiconCalibration",
    "ModelError",
    "Stacker",
    "load_meta",
]

MODEL_DIR = Path(__file__).resolve().parents[1] / "models"
MODEL_FILES = ("sentiment.ftz",)
META_FILE = "sentiment.json"
CLASSES: tuple[SentimentLabel, SentimentLabel, SentimentLabel] = ("negative", "neutral", "positive")
# Stacker inputs, in this order: log p(class) of the classifier(s) (averaged), the lexicon score
# (plain VADER's compound for English, the hand-made lexicons for ur/es/ar/ka; 0 where there is none)
# and the emoji valence (Emoji Sentiment Ranking, squashed to -1..1).
FEATURES = ("lp_negative", "lp_neutral", "lp_positive", "lexicon", "emoji")
_P_FLOOR = 1e-4


class ModelError(RuntimeError):
    """The model files are missing or do not match this code."""


def _softmax(z: Sequence[float]) -> tuple[float, float, float]:
    m = max(z)
    e0, e1, e2 = math.exp(z[0] - m), math.exp(z[1] - m), math.exp(z[2] - m)
    s = e0 + e1 + e2
    return (e0 / s, e1 / s, e2 / s)


@dataclass(frozen=True, slots=True)
class Stacker:
    """Multinomial logistic regression over :data:`FEATURES` (``coef`` is 3 x len(features))."""

    features: tuple[str, ...]
    coef: tuple[tuple[float, ...], ...]
    intercept: tuple[float, float, float]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Stacker:
        feats = tuple(str(f) for f in d["features"])
        unknown = set(feats) - set(FEATURES)
        if unknown:
            raise ModelError(f"stacker uses unknown features {sorted(unknown)}")
        coef = tuple(tuple(float(v) for v in row) for row in d["coef"])
        icpt = tuple(float(v) for v in d["intercept"])
        if len(coef) != 3 or any(len(r) != len(feats) for r in coef) or len(icpt) != 3:
            raise ModelError("stacker coefficients do not match its features")
        return cls(feats, coef, (icpt[0], icpt[1], icpt[2]))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "coef": [list(r) for r in self.coef],
                "intercept": list(self.intercept)}

    def proba(self, x: Mapping[str, float], temperature: float = 1.0) -> tuple[float, float, float]:
        """Class probabilities; ``temperature`` > 1 flattens them (transfer routes)."""
        vals = [x[f] for f in self.features]
        (r0, r1, r2), (b0, b1, b2) = self.coef, self.intercept
        z0, z1, z2 = b0, b1, b2
        for i, v in enumerate(vals):  # a 3 x 5 product: plain floats beat numpy's call overhead
            z0 += r0[i] * v
            z1 += r1[i] * v
            z2 += r2[i] * v
        if temperature != 1.0:
            z0, z1, z2 = z0 / temperature, z1 / temperature, z2 / temperature
        return _softmax((z0, z1, z2))


@dataclass(frozen=True, slots=True)
class LexiconCalibration:
    """How often the rule-based lexicon is right, by the strength of its score.

    Measured on the calibration rows of the languages with hand-made lexicons (es, ar, ur): for
    each ``|score|`` bin, the class-balanced share of rows whose gold class is the lexicon's own
    polarity (``same``), neutral, or the opposite polarity. The first bin is the lexicon's
    neutral zone (no polarity): there ``same`` and ``opposite`` are the two polar classes.
    """

    edges: tuple[float, ...]  # ascending upper bounds of |score| bins; the last is >= 1
    rows: tuple[tuple[float, float, float], ...]  # (same, neutral, opposite) per bin

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LexiconCalibration:
        edges = tuple(float(e) for e in d["edges"])
        rows = tuple((float(a), float(b), float(c)) for a, b, c in d["rows"])
        if len(edges) != len(rows) or not edges or list(edges) != sorted(edges) or edges[-1] < 1.0:
            raise ModelError("lexicon calibration: edges and rows do not match")
        return cls(edges, rows)

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "rows": [list(r) for r in self.rows]}

    def proba(self, score: float, temperature: float = 1.0) -> tuple[float, float, float]:
        a = abs(score)
        i = next((k for k, e in enumerate(self.edges) if a < e), len(self.edges) - 1)
        same, neutral, other = self.rows[i]
        z = [math.log(max(v, _P_FLOOR)) / temperature for v in (same, neutral, other)]
        ps, pn, po = _softmax(z)
        return (po, pn, ps) if score > 0 else (ps, pn, po)


class FastTextPair:
    """The classifier(s) of ``MODEL_FILES``, averaged. Thread-safe (predict is guarded by a lock)."""

    def __init__(self, model_dir: Path | None = None, files: Sequence[str] = MODEL_FILES) -> None:
        import fasttext  # fasttext-predict at run time: C++ inference, no network code

        base = model_dir or MODEL_DIR
        self._models: list[Any] = []
        for name in files:
            path = base / name
            if not path.is_file():
                raise ModelError(f"sentiment model file missing: {path} (make train-sentiment builds it)")
            self._models.append(fasttext.load_model(str(path)))
        self._lock = threading.Lock()

    def proba(self, line: str) -> tuple[float, float, float]:
        """Averaged p(negative), p(neutral), p(positive) of one model input line."""
        acc = {"__label__neg": 0.0, "__label__neu": 0.0, "__label__pos": 0.0}
        with self._lock:
            outs = [m.predict(line, k=3, threshold=0.0) for m in self._models]
        for labels, probs in outs:
            for label, p in zip(labels, probs, strict=False):
                acc[label] += float(p)
        n = len(outs)
        return (acc["__label__neg"] / n, acc["__label__neu"] / n, acc["__label__pos"] / n)

    @staticmethod
    def log_features(p: Sequence[float]) -> dict[str, float]:
        return {"lp_negative": math.log(max(p[0], _P_FLOOR)), "lp_neutral": math.log(max(p[1], _P_FLOOR)),
                "lp_positive": math.log(max(p[2], _P_FLOOR))}


def load_meta(model_dir: Path | None = None) -> dict[str, Any]:
    path = (model_dir or MODEL_DIR) / META_FILE
    if not path.is_file():
        raise ModelError(f"sentiment model metadata missing: {path} (make train-sentiment builds it)")
    meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != 1:
        raise ModelError(f"{path}: format {meta.get('format')!r} is not the format 1 this code reads")
    return meta
