"""Pure logic of the training recipe (tools/train_sentiment.py) and the romanised-skeleton input.

The recipe's weights decide what the shipped classifier learns, so their invariants are checked
here on small made-up rows; training itself is run by ``make train-sentiment``, not by tests.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrich.sentiment import SentimentAnalyzer
from enrich.sentiment.text import latin_share, model_text, skeleton_tokens

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_sentiment", ROOT / "tools" / "train_sentiment.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_sentiment"] = mod
    spec.loader.exec_module(mod)
    return mod


def _rows(spec: dict[tuple[str, str], dict[str, int]]) -> list[dict[str, Any]]:
    out = []
    for (lang, source), counts in spec.items():
        for label, n in counts.items():
            out += [{"lang": lang, "source": source, "label": label, "text": f"{lang}{source}{label}{i}"}
                    for i in range(n)]
    return out


ROWS = _rows({
    ("de", "three"): {"negative": 10, "neutral": 30, "positive": 20},
    ("de", "two"): {"negative": 40, "positive": 160},
    ("bg", "two"): {"negative": 5, "positive": 15},
})  # fmt: skip


def _totals(rows: Sequence[dict[str, Any]], weights: Sequence[float], key: Any) -> dict[Any, float]:
    acc: dict[Any, float] = defaultdict(float)
    for r, w in zip(rows, weights, strict=True):
        acc[key(r)] += w
    return dict(acc)


def test_balance_weights_give_each_class_of_a_language_the_same_total(ts: ModuleType) -> None:
    w = ts.balance_weights(ROWS)
    by_class = _totals(ROWS, w, lambda r: (r["lang"], r["label"]))
    assert by_class[("de", "negative")] == pytest.approx(by_class[("de", "neutral")])
    assert by_class[("de", "neutral")] == pytest.approx(by_class[("de", "positive")])
    assert by_class[("bg", "negative")] == pytest.approx(by_class[("bg", "positive")])
    by_lang = _totals(ROWS, w, lambda r: r["lang"])
    assert by_lang == pytest.approx({"de": 260, "bg": 20})  # a language keeps its size


def test_three_class_subset_drops_two_class_sources_only_where_three_class_data_exist(ts: ModuleType) -> None:
    kept = {(r["lang"], r["source"]) for r in ts.three_class_subset(ROWS)}
    assert kept == {("de", "three"), ("bg", "two")}


def test_binary_weighting_adds_polar_evidence_at_a_fixed_share(ts: ModuleType) -> None:
    rows, w = ts.binary_weighted(ROWS)
    assert len(rows) == len(ROWS)
    by_group = _totals(rows, w, lambda r: (r["lang"], r["source"], r["label"]))
    # the two-class source of a three-class language: balanced, BINARY_SHARE of the 60 three-class rows
    assert by_group[("de", "two", "negative")] == pytest.approx(by_group[("de", "two", "positive")])
    assert by_group[("de", "two", "negative")] + by_group[("de", "two", "positive")] == pytest.approx(
        ts.BINARY_SHARE * 60)
    # the three-class rows and the binary-only language are weighted exactly as before
    assert by_group[("de", "three", "neutral")] == pytest.approx(20.0)
    assert by_group[("bg", "two", "negative")] == pytest.approx(10.0)


def test_training_lines_repeat_rows_by_weight_and_tag_the_language(ts: ModuleType) -> None:
    rows = [{"lang": "ur", "source": "s", "label": "negative", "text": "bohat bura", "script": "latin"}]
    plain = ts.training_lines(rows, [3.0], random.Random(1))
    own = [ln for ln in plain if ln.startswith("__label__neg __lang_ur ")]
    assert own == ["__label__neg __lang_ur bohat bura"] * 3
    assert sum(ln.startswith("__label__neg __lang_urs ") for ln in plain) == 3  # the Urdu-script bridge
    skel = ts.training_lines(rows, [1.0], random.Random(1), skeleton=True)
    assert "__label__neg __lang_ur bohat bura ~bt ~br" in skel


def test_buckets_are_stable_and_cover_ten_tenths(ts: ModuleType) -> None:
    seen = {ts.bucket(f"text {i}") for i in range(500)}
    assert seen == set(range(10))
    assert ts.bucket("same text") == ts.bucket("same text")
    assert ts.is_calibration("same text") == (ts.bucket("same text") == ts.CALIB_BUCKET)


def test_skeleton_recipes_are_not_mixed_with_plain_ones(ts: ModuleType) -> None:
    assert ts.skeleton_langs(["sentiment.ftz"]) == []
    assert ts.skeleton_langs(["sentiment_skel.ftz"]) == list(ts.ROMANISED)
    with pytest.raises(SystemExit, match="do not mix"):
        ts.skeleton_langs(["sentiment.ftz", "sentiment_skel.ftz"])


def test_skeleton_tokens_share_the_spelling_variants() -> None:
    variants = ["bohat acha", "bohot achha", "bht acha"]
    assert {skeleton_tokens(model_text(v)) for v in variants} == {"~bt ~c"}
    assert skeleton_tokens("!! 😍 123") == ""


def test_latin_share() -> None:
    assert latin_share("bohat acha") == 1.0
    assert latin_share("بہت اچھا") == 0.0
    assert latin_share("123 !!") == 0.0


@given(st.text(max_size=60))
def test_skeleton_tokens_never_raise(text: str) -> None:
    out = skeleton_tokens(model_text(text))
    assert all(t.startswith("~") for t in out.split())


def test_route_appends_skeletons_only_for_romanised_posts_of_those_languages() -> None:
    sa = SentimentAnalyzer()
    if not sa.skeleton_languages:  # the shipped model reads plain text: switch the input on to test it
        sa.skeleton_languages = frozenset({"ur", "hi"})
    roman = sa.route("bohat bura service hai", "ur")
    assert roman is not None and roman.line is not None and roman.line.endswith("hai ~bt ~br ~srvc ~h")
    script = sa.route("یہ سروس بہت خراب ہے", "ur")
    assert script is not None and script.line is not None and "~" not in script.line
    english = sa.route("bad service", "en")
    assert english is not None and english.line == "__lang_en bad service"
