"""The trained sentiment analyzer (enrich.sentiment): routes, calibrated output, robustness.

These run the committed model (enrich/models/); they check behaviour and contracts, not the
quality figures (bench/eval_sentiment.py measures those on the shared val split).
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brandpulse.schema import Sentiment
from enrich.sentiment import ModelError, SentimentAnalyzer, SentimentConfig
from enrich.sentiment.model import FEATURES, META_FILE, MODEL_DIR, MODEL_FILES, Stacker, load_meta
from enrich.sentiment.text import arabic_script_share, model_text, urdu_skeleton


@pytest.fixture(scope="module")
def sa() -> SentimentAnalyzer:
    return SentimentAnalyzer()


def _contract(s: Sentiment) -> None:
    """label = argmax, score = p(pos) - p(neg), confidence = p(label), probabilities sum to 1."""
    assert isinstance(s, Sentiment)
    if s.label == "unknown":
        assert (s.score, s.confidence, s.method, s.probabilities) == (0.0, 0.0, "none", None)
        return
    p = s.probabilities
    assert p is not None
    values = {"negative": p.negative, "neutral": p.neutral, "positive": p.positive}
    assert abs(sum(values.values()) - 1.0) < 1e-3
    assert s.label == max(values, key=lambda k: values[k])
    assert s.confidence == pytest.approx(values[s.label], abs=1e-4)
    assert s.score == pytest.approx(p.positive - p.negative, abs=2e-4)
    assert s.negative_probability == p.negative


# ---------------------------------------------------------------- shipped files
def test_model_files_are_shipped_small_and_consistent() -> None:
    total = sum((MODEL_DIR / f).stat().st_size for f in (*MODEL_FILES, META_FILE))
    assert total <= 50_000_000, f"model files are {total / 1e6:.1f} MB, over the 50 MB budget"
    meta = load_meta()
    assert {"en", "es", "ar", "ur", "de", "fr", "it", "pt", "hi", "fa"} <= set(meta["languages"])
    assert "ka" not in meta["languages"]  # no Georgian training data: the lexicon route answers
    for name, d in meta["stackers"].items():
        st_ = Stacker.from_dict(d)
        assert set(st_.features) <= set(FEATURES), name
    assert (MODEL_DIR / "MODEL_CARD.md").is_file()


def test_missing_or_foreign_model_files_fail_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make train-sentiment"):
        SentimentAnalyzer(model_dir=tmp_path)
    (tmp_path / META_FILE).write_text(json.dumps({"format": 99}), encoding="utf-8")
    with pytest.raises(ModelError, match="format 99"):
        load_meta(tmp_path)


# ---------------------------------------------------------------- routes
@pytest.mark.parametrize(
    ("text", "lang", "method"),
    [
        ("The support team was really helpful", "en", "model+lexicon:en"),
        ("El servicio fue muy lento", "es", "model+lexicon:es"),
        ("الخدمة سيئة جدا", "ar", "model+lexicon:ar"),
        ("bohat bura service hai", "ur", "model+lexicon:ur"),
        ("Der Service war schlecht", "de", "model"),
        ("Usługa była okropna", "pl", "model"),
        ("یہ سروس بہت خراب ہے", "ur", "model:ur-translit+lexicon:ur"),
        ("მომსახურება ცუდია", "ka", "lexicon:ka"),
        ("Hizmet çok kötüydü", "tr", "model:untrained-language"),
        ("Das ist schlecht", "und", "model:untrained-language"),
        ("😡😡", "und", "model:untrained-language"),
    ],
)
def test_every_language_gets_a_real_answer_and_the_method_says_how(
    sa: SentimentAnalyzer, text: str, lang: str, method: str
) -> None:
    s = sa.analyze(text, lang)
    _contract(s)
    if method.startswith("model+lexicon:"):
        # training keeps the lexicon on a route only where it lowers calibration log-loss
        stacker = sa.stackers.get(lang)
        method = method if stacker is not None and "lexicon" in stacker.features else "model"
    assert s.label != "unknown" and s.method == method


@pytest.mark.parametrize("text", ["", "   ", "https://example.com/x", "@acme @other", "12345 !!! ...", "#"])
@pytest.mark.parametrize("lang", ["en", "ur", "ka", "de", "und"])
def test_unknown_only_without_any_signal(sa: SentimentAnalyzer, text: str, lang: str) -> None:
    s = sa.analyze(text, lang)
    assert (s.label, s.method) == ("unknown", "none")


def test_transfer_routes_are_less_confident_than_the_trained_route(sa: SentimentAnalyzer) -> None:
    # same text, same model: only the temperature differs between a trained and an untrained language tag
    text = "terrible service, never again, worst company ever"
    trained, untrained = sa.analyze(text, "en"), sa.analyze(text, "xx")
    assert trained.label == untrained.label == "negative"
    assert untrained.confidence < trained.confidence
    assert sa.transfer_temperature > 1.0


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("worst service ever, still waiting for my refund", "en", "negative"),
        ("I love this, thank you so much! 😍", "en", "positive"),
        ("bakwas service, bilkul bekar app", "ur", "negative"),
        ("yaar ye phone zabardast hai", "ur", "positive"),
        ("Pésimo servicio, nunca más compro aquí", "es", "negative"),
        ("خدمة ممتازة وسريعة، شكرا", "ar", "positive"),
        ("انتہائی گھٹیا سروس، کوئی جواب نہیں دیتا", "ur", "negative"),
        ("بہت زبردست سروس، شکریہ", "ur", "positive"),
        ("აპლიკაცია არ მუშაობს, ძალიან ცუდია", "ka", "negative"),
        ("შესანიშნავი მომსახურება, დიდი მადლობა", "ka", "positive"),
    ],
)
def test_clear_posts_get_the_obvious_label(sa: SentimentAnalyzer, text: str, lang: str, label: str) -> None:
    assert sa.analyze(text, lang).label == label


def test_region_subtags_and_case_are_accepted(sa: SentimentAnalyzer) -> None:
    assert sa.analyze("Es muy malo", "es-MX") == sa.analyze("Es muy malo", "es")
    assert sa.analyze("Very bad", "EN_us") == sa.analyze("Very bad", "en")
    assert sa.analyze("Very bad", "EN_us").method != "model:untrained-language"


# ---------------------------------------------------------------- robustness
@pytest.mark.parametrize(
    "text",
    [
        "📦", "🔥🔥", "\ud800broken\udfff surrogate", "control\x00chars\x01\x1b[31m here\x7f",
        "tab\tand\r\nnewlines", "ﷺ \u200f\u200e rtl marks", "ـ", "الخدمـــة ســيئة ـ ـ", "a" * 100_000,
        ("bad service " * 9_000)[:100_000], "😡" * 50_000, "__label__pos __lang_en fake tokens",
    ],
)
@pytest.mark.parametrize("lang", ["en", "ur", "ka", "es", "ar", "de", "und"])
def test_odd_input_gives_a_valid_sentiment(sa: SentimentAnalyzer, text: str, lang: str) -> None:
    _contract(sa.analyze(text, lang))


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300), lang=st.sampled_from(["en", "ur", "ka", "ar", "fa", "hi", "zz", "und"]))
def test_any_text_gives_a_valid_sentiment(text: str, lang: str) -> None:
    _contract(_ANALYZER.analyze(text, lang))


_ANALYZER = SentimentAnalyzer(SentimentConfig(cache_size=0))


def test_deterministic_across_instances_and_cache() -> None:
    texts = [("Great service 👍", "en"), ("بہت برا", "ur"), ("ცუდი", "ka"), ("genial", "es"), ("زفت", "ar")]
    a = SentimentAnalyzer()
    b = SentimentAnalyzer(SentimentConfig(cache_size=0))
    first = [a.analyze(t, lang) for t, lang in texts]
    assert [a.analyze(t, lang) for t, lang in texts] == first
    assert [b.analyze(t, lang) for t, lang in texts] == first
    assert a.analyze_many(texts + texts) == first + first


def test_cache_is_bounded() -> None:
    sa = SentimentAnalyzer(SentimentConfig(cache_size=3))
    for i in range(10):
        sa.analyze(f"good {i}", "en")
    assert len(sa._cache) == 3


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def _refuse(*_a: object, **_k: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    yield


def test_loads_and_runs_without_network(no_network: None) -> None:
    assert SentimentAnalyzer().analyze("bohat bura", "ur").label == "negative"


# ---------------------------------------------------------------- pure parts
def test_stacker_softmax_and_temperature() -> None:
    st_ = Stacker(("lexicon",), ((-2.0,), (0.0,), (2.0,)), (0.0, 0.5, 0.0))
    p = st_.proba({"lexicon": 1.0})
    assert sum(p) == pytest.approx(1.0) and p[2] > p[1] > p[0]
    flat = st_.proba({"lexicon": 1.0}, temperature=3.0)
    assert max(flat) < max(p) and min(flat) > min(p)
    assert st_.proba({"lexicon": 1e6})[2] == pytest.approx(1.0)  # no overflow
    with pytest.raises(ModelError):
        Stacker.from_dict({"features": ["nope"], "coef": [[1], [1], [1]], "intercept": [0, 0, 0]})
    with pytest.raises(ModelError):
        Stacker.from_dict({"features": ["emoji"], "coef": [[1, 2], [1], [1]], "intercept": [0, 0, 0]})
    assert Stacker.from_dict(st_.to_dict()) == st_


def test_model_text_normalisation() -> None:
    assert model_text("Sooo GOOD!!!! 😍😍 @acme http://x.co #LoveIt") == "soo good !! 😍 😍 @user http #loveit love it"
    assert model_text("الخدمـــة ممتازة جداً") == "الخدمه ممتازه جدا"
    # Arabic, Persian and Urdu spellings of the same letters fold together
    assert model_text("كيف") == model_text("کیف")
    assert model_text("ہے") == model_text("هی")


def test_urdu_skeleton_bridges_the_two_scripts() -> None:
    for roman, urdu in [("bohat bura", "بہت برا"), ("zabardast", "زبردست"), ("kharab", "خراب"),
                        ("shukriya", "شکریہ"), ("nahi hai", "نہیں ہے"), ("ghatiya", "گھٹیا")]:
        assert urdu_skeleton(model_text(roman)) == urdu_skeleton(model_text(urdu)), (roman, urdu)
    assert urdu_skeleton("😡 !!") == "😡 !!"  # tokens without letters pass through


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_text_functions_never_raise_and_are_stable(text: str) -> None:
    norm = model_text(text)
    assert norm == norm.strip() and "  " not in norm and "\n" not in norm  # fastText splits on spaces
    assert "\u0640" not in norm  # the tatweel never reaches the model
    skel = urdu_skeleton(norm)
    assert len(skel.split()) == len(norm.split())
    assert 0.0 <= arabic_script_share(text) <= 1.0


def test_urdu_script_share() -> None:
    assert arabic_script_share("یہ سروس worst ہے") > 0.5
    assert arabic_script_share("bohat bura") == 0.0
    assert math.isclose(arabic_script_share(""), 0.0)


def test_english_vader_pass_negates_and_boosts(sa: SentimentAnalyzer) -> None:
    good = sa._vader_sum("the service was good".split())
    assert good > 0
    assert sa._vader_sum("the service was not good".split()) < 0
    assert sa._vader_sum("the service wasn't good".split()) < 0
    assert sa._vader_sum("the service was very good".split()) > good
    assert sa._vader_sum("the service was terrible".split()) < 0
    assert sa._vader_sum("flight to dubai at noon".split()) == 0.0
    assert sa._vader_sum([]) == 0.0
