"""Behaviour of the rule-based evidence (enrich.sentiment.lexicon): real analyzers, no mocks."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from brandpulse.schema import Sentiment
from enrich.emoji_sentiment import EmojiTable
from enrich.sentiment.lexicon import LexiconAnalyzer as SentimentAnalyzer
from enrich.sentiment.lexicon import SentimentConfig


@pytest.fixture(scope="module")
def sa() -> SentimentAnalyzer:
    return SentimentAnalyzer()


@pytest.fixture(scope="module")
def vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _valid(s: Sentiment) -> None:
    assert isinstance(s, Sentiment)
    assert s.label in ("negative", "neutral", "positive", "unknown")
    assert -1.0 <= s.score <= 1.0 and 0.0 <= s.confidence <= 1.0 and s.method


# ---------------------------------------------------------------- negation
@pytest.mark.parametrize(
    ("lang", "plain", "negated"),
    [
        ("en", "The service is good", "The service is not good"),
        ("es", "El servicio es bueno", "El servicio no es bueno"),
        ("ur", "سروس اچھی ہے", "سروس اچھی نہیں ہے"),
        ("ur", "service achi hai", "service achi nahi hai"),
        ("ka", "სერვისი კარგია", "სერვისი არ არის კარგი"),
        ("ka", "ცუდი იყო", "ცუდი არ იყო"),
        ("ar", "الخدمة ممتازة", "الخدمة ليست ممتازة"),
        ("ar", "المنتج جيد", "المنتج مش جيد"),
    ],
)
def test_negation_flips_polarity(sa: SentimentAnalyzer, lang: str, plain: str, negated: str) -> None:
    a, b = sa.analyze(plain, lang), sa.analyze(negated, lang)
    assert a.score * b.score < 0, (a, b)
    assert a.label != b.label


def test_negation_does_not_cross_a_clause(sa: SentimentAnalyzer) -> None:
    # "no" closes its clause at the comma: "excelente" stays positive
    assert sa.analyze("No, el servicio fue excelente", "es").label == "positive"


# ---------------------------------------------------------------- intensifiers
@pytest.mark.parametrize(
    ("lang", "base", "boosted"),
    [
        ("en", "The food was good", "The food was very good"),
        ("es", "Es bueno", "Es muy bueno"),
        ("ur", "کھانا اچھا تھا", "کھانا بہت اچھا تھا"),
        ("ur", "khana bura tha", "khana bohat bura tha"),
        ("ka", "კარგი სერვისია", "ძალიან კარგი სერვისია"),
        ("ar", "الخدمة سيئة", "الخدمة سيئة جدا"),
    ],
)
def test_intensifiers_strengthen(sa: SentimentAnalyzer, lang: str, base: str, boosted: str) -> None:
    a, b = sa.analyze(base, lang), sa.analyze(boosted, lang)
    assert abs(b.score) > abs(a.score) > 0
    assert a.label == b.label


def test_contrast_word_weights_the_second_clause(sa: SentimentAnalyzer) -> None:
    assert sa.analyze("La comida es buena pero el servicio es horrible", "es").label == "negative"
    assert sa.analyze("کھانا برا تھا لیکن سروس بہترین تھی", "ur").label == "positive"


# ---------------------------------------------------------------- emojis
def test_emoji_table_fixes_vader_fire_and_thumbs_up(
    sa: SentimentAnalyzer, vader: SentimentIntensityAnalyzer
) -> None:
    # the weak spots we fix: plain VADER reads 🔥🔥🔥 as negative and 👍 as neutral
    assert vader.polarity_scores("🔥🔥🔥")["compound"] < 0
    assert vader.polarity_scores("👍")["compound"] == 0
    fire, thumbs = sa.analyze("🔥🔥🔥", "en"), sa.analyze("👍", "en")
    assert fire.label == "positive" and fire.score > 0
    assert thumbs.label == "positive" and thumbs.score > 0
    assert "emoji" in fire.method


def test_emojis_are_language_independent_and_repeats_add_up(sa: SentimentAnalyzer) -> None:
    assert sa.analyze("😡😡", "ka").label == "negative"
    assert sa.analyze("🤮", "ur").label == "negative"
    assert sa.analyze("😍", "ar").label == "positive"
    assert sa.analyze("🔥🔥🔥", "en").score > sa.analyze("🔥", "en").score


def test_emoji_table_basics() -> None:
    table = EmojiTable()
    assert len(table) > 700
    assert table.score("👍🏽") == table.score("👍")  # skin tones do not matter
    assert table.score("❤️") == table.score("❤")  # nor does the variation selector
    assert table.score("x") is None
    text, found = table.split("ok 🔥 then 🙄")
    assert "🔥" not in text and [e for e, _ in found] == ["🔥", "🙄"]


# ---------------------------------------------------------------- languages
@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ur", "یہ کمپنی بالکل فراڈ ہے، پیسے ضائع ہو گئے"),
        ("ur", "انتہائی گھٹیا سروس، کوئی جواب نہیں دیتا"),
        ("ur", "bakwas service, bilkul bekar app"),
        ("ur", "یہ سروس worst ہے"),
        ("ka", "საშინელი მომსახურებაა, აღარასდროს"),
        ("ka", "აპლიკაცია არ მუშაობს, ძალიან ცუდია"),
        ("es", "Pésimo servicio, nunca más compro aquí"),
        ("es", "El pedido llegó roto y nadie responde"),
        ("ar", "خدمة سيئة جدا ولا أنصح بها"),
        ("ar", "التطبيق فاشل والتوصيل متأخر"),
        ("en", "Still waiting for my refund, this is a scam"),
        ("en", "#WorstServiceEver"),
    ],
)
def test_negative_posts_detected(sa: SentimentAnalyzer, lang: str, text: str) -> None:
    s = sa.analyze(text, lang)
    assert s.label == "negative", s
    assert s.method.startswith(("lexicon:" + lang, "vader"))


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ur", "بہت زبردست سروس، شکریہ"),
        ("ur", "yaar ye phone zabardast hai"),
        ("ka", "შესანიშნავი მომსახურება, დიდი მადლობა"),
        ("es", "Excelente atención, me encanta"),
        ("ar", "خدمة ممتازة وسريعة، شكرا"),
    ],
)
def test_positive_posts_detected(sa: SentimentAnalyzer, lang: str, text: str) -> None:
    assert sa.analyze(text, lang).label == "positive"


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ur", "کل نیا اسٹور کھلے گا"),
        ("ka", "მაღაზია ხვალ ათ საათზე გაიხსნება"),
        ("es", "La tienda abre mañana a las diez"),
        ("ar", "المحل يفتح بكرة الساعة عشرة"),
    ],
)
def test_plain_statements_are_neutral_not_unknown(sa: SentimentAnalyzer, lang: str, text: str) -> None:
    s = sa.analyze(text, lang)
    assert s.label == "neutral" and s.method == f"lexicon:{lang}" and s.confidence > 0


def test_hashtags_are_split_into_words(sa: SentimentAnalyzer) -> None:
    assert sa.analyze("Flight landed", "en").label == "neutral"
    assert sa.analyze("Flight landed", "en", hashtags=["WorstServiceEver"]).label == "negative"
    assert sa.analyze("Flight landed", "en", hashtags=["#worstserviceever"]).label == "negative"
    assert sa._split_hashtag("WorstServiceEver") == "worst service ever"  # the core splitter casefolds
    assert sa._split_hashtag("worstserviceever") == "worst service ever"
    # a hashtag already in the text is not counted twice
    once = sa.analyze("#SkyJetFail", "en")
    assert sa.analyze("#SkyJetFail", "en", hashtags=["SkyJetFail"]) == once


# ---------------------------------------------------------------- unknown languages
def test_uncovered_language_is_unknown_never_silent_neutral(sa: SentimentAnalyzer) -> None:
    for lang in ("de", "und", "", "xx-YY"):
        s = sa.analyze("Das ist wirklich schlecht", lang)
        assert (s.label, s.score, s.confidence, s.method) == ("unknown", 0.0, 0.0, "none")


def test_uncovered_language_gets_emoji_only_label(sa: SentimentAnalyzer) -> None:
    s = sa.analyze("Das ist super 😍😍", "de")
    assert s.label == "positive" and s.method == "emoji" and 0 < s.confidence < 1
    assert sa.analyze("Das ist schlecht 😡", "und").label == "negative"


def test_region_subtags_are_accepted(sa: SentimentAnalyzer) -> None:
    assert sa.analyze("Es muy malo", "es-MX").method == "lexicon:es"
    assert sa.analyze("Very bad", "EN_us").label == "negative"


# ---------------------------------------------------------------- robustness
@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "📦",
        "🔥🔥",
        "https://example.com/a?b=c",
        "https://t.co/x https://t.co/y",
        "@acme",
        "#",
        "\ud800broken\udfff surrogate",
        "control\x00chars\x01\x1b[31m here\x7f",
        "tab\tand\r\nnewlines",
        "ﷺ \u200f\u200e rtl marks",
        "a" * 100_000,
        ("bad service " * 9_000)[:100_000],
        "😡" * 50_000,
    ],
)
@pytest.mark.parametrize("lang", ["en", "ur", "ka", "es", "ar", "und"])
def test_odd_input_gives_valid_sentiment(sa: SentimentAnalyzer, text: str, lang: str) -> None:
    _valid(sa.analyze(text, lang, hashtags=("#x", "")))


def test_empty_and_url_only_are_unknown(sa: SentimentAnalyzer) -> None:
    for text in ("", "https://example.com/x", "📦"):
        assert sa.analyze(text, "en").label == "unknown"


def test_long_text_is_capped_and_fast(sa: SentimentAnalyzer) -> None:
    import time

    text = "The service was terrible. " * 4_000  # 104 KB
    t0 = time.perf_counter()
    s = sa.analyze(text, "en")
    assert time.perf_counter() - t0 < 2.0
    assert s.label == "negative"


# ---------------------------------------------------------------- determinism, config, cache
def test_deterministic_across_instances_and_cache() -> None:
    texts = [("Great service 👍", "en"), ("بہت برا", "ur"), ("ცუდი", "ka"), ("genial", "es"), ("زفت", "ar")]
    a = SentimentAnalyzer()
    b = SentimentAnalyzer(SentimentConfig(cache_size=0))
    first = [a.analyze(t, lang) for t, lang in texts]
    assert [a.analyze(t, lang) for t, lang in texts] == first  # cached
    assert [b.analyze(t, lang) for t, lang in texts] == first  # uncached, fresh instance
    assert a.analyze_many(texts + texts) == first + first


def test_cache_is_bounded() -> None:
    sa = SentimentAnalyzer(SentimentConfig(cache_size=3))
    for i in range(10):
        sa.analyze(f"good {i}", "en")
    assert len(sa._cache) == 3


def test_thresholds_are_configurable() -> None:
    strict = SentimentAnalyzer(
        SentimentConfig(vader_positive_threshold=0.9, lexicon_negative_threshold=-0.95)
    )
    assert strict.analyze("The food was good", "en").label == "neutral"
    assert strict.analyze("الخدمة سيئة", "ar").label == "neutral"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def _refuse(*_a: object, **_k: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    yield


def test_loads_and_runs_without_network(no_network: None) -> None:
    sa = SentimentAnalyzer()
    assert sa.analyze("bohat bura", "ur").label == "negative"


@pytest.mark.parametrize("text", ["ـ", "ـ ـ ـ", "الخدمـــة ســيئة ـ", "جيد ـ جدا", "ٌ ـ", "ـ!"])
@pytest.mark.parametrize("lang", ["ar", "ur"])
def test_tatweel_and_lone_marks_do_not_crash(sa: SentimentAnalyzer, text: str, lang: str) -> None:
    # a token that is only U+0640 (or a diacritic) normalises to "": IndexError once (issue #11)
    _valid(sa.analyze(text, lang))


def test_tatweel_inside_words_is_ignored(sa: SentimentAnalyzer) -> None:
    assert sa.analyze("الخدمـــة ســيئة", "ar").label == sa.analyze("الخدمة سيئة", "ar").label == "negative"


@pytest.mark.parametrize(
    ("lang", "plain", "negated"),
    [
        ("es", "El servicio es bueno", "El servicio no es bueno"),
        ("ur", "سروس اچھی ہے", "سروس اچھی نہیں ہے"),
        ("ur", "service achi hai", "service achi nahi hai"),
        ("ar", "الخدمة ممتازة", "الخدمة ليست ممتازة"),
    ],
)
def test_quick_score_follows_the_full_rules_on_words_and_negation(
    sa: SentimentAnalyzer, lang: str, plain: str, negated: str
) -> None:
    assert sa.quick_score(plain, lang) > 0 > sa.quick_score(negated, lang)
    assert sa.quick_score(plain, lang) == pytest.approx(sa.analyze(plain, lang).score, abs=1e-4)  # analyze rounds


def test_quick_score_edge_cases(sa: SentimentAnalyzer) -> None:
    assert sa.quick_score("Das ist schlecht", "de") == 0.0  # no lexicon for the language
    assert sa.quick_score("", "es") == 0.0
    assert sa.quick_score("ـ ـ ـ", "ar") == 0.0  # tatweel-only tokens are dropped, not indexed
    assert sa.quick_score("Pésimo servicio, nunca más compro aquí", "es") < -0.5  # phrases count
