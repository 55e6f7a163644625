"""Key phrases: RAKE-style scoring over the shared tokenizer's tokens, per-language stop words, brand exclusion."""

from __future__ import annotations

import unicodedata

import pytest

from enrich.keywords import STOPWORDS_DIR, KeywordExtractor, all_stopwords, load_stopwords
from enrich.nlp import SUPPORTED_LANGUAGES, tokenize

KX = KeywordExtractor(brand_terms={"acme": ["Acme", "Acme Corp", "@acme", "#AcmeCare"]})


def kw(text: str, lang: str, brand: str | None = "acme") -> tuple[str, ...]:
    return KX.extract_words(tokenize(text, lang), lang, brand=brand)


def test_english_phrases_without_stop_words_or_brand() -> None:
    out = kw("Acme Corp battery life is terrible and the customer support never answers", "en")
    assert out[:2] == ("battery life", "customer support")
    assert all("acme" not in k and "corp" not in k for k in out)
    assert not {"is", "and", "the", "never"} & {w for k in out for w in k.split()}


def test_at_most_five_keywords_and_at_most_three_words_each() -> None:
    text = ("delivery late again, refund denied, screen cracked, charger broken, battery drains fast, "
            "app crashes daily, support rude, warranty void, price doubled overnight without warning")
    out = kw(text, "en")
    assert 1 <= len(out) <= 5
    assert all(1 <= len(k.split()) <= 3 for k in out)
    assert len(set(out)) == len(out)


def test_repeated_word_ranks_higher_than_a_one_off() -> None:
    out = kw("refund please. refund now. the refund never came, unbelievable", "en")
    assert "refund" in out[0]


@pytest.mark.parametrize(
    ("text", "lang", "must", "never"),
    [
        ("El servicio de Acme en Madrid es pésimo, la conexión a internet se cae cada día", "es",
         {"conexión", "servicio"}, {"de", "en", "es", "la", "a", "se", "acme"}),
        ("لاہور میں Acme کی سروس بہت خراب ہے، انٹرنیٹ کنکشن بار بار بند ہو جاتا ہے۔", "ur",
         {"انٹرنیٹ کنکشن"}, {"میں", "کی", "ہے", "بہت", "ہو", "جاتا", "acme"}),
        ("თბილისში Acme-ის ინტერნეტი ძალიან ნელია და მომსახურება საშინელია", "ka",
         {"მომსახურება საშინელია"}, {"ძალიან", "და", "ის", "acme"}),
        ("خدمة Acme في القاهرة سيئة جدا والانترنت بطيء", "ar",
         {"خدمة"}, {"في", "جدا", "acme"}),
    ],
)
def test_other_languages(text: str, lang: str, must: set[str], never: set[str]) -> None:
    out = kw(text, lang)
    assert must <= set(out), out
    words = {w for k in out for w in k.split()}
    assert not (never & words), out


def test_brand_aliases_hashtags_handles_urls_and_numbers_are_not_keywords() -> None:
    out = kw("#AcmeCare @acme https://acme.com 2024 $ACME 😡😡 Acme Corp outage downtown", "en")
    assert out == ("outage downtown",)


def test_unconfigured_brand_still_excludes_its_own_name() -> None:
    kx = KeywordExtractor()
    assert kx.extract_words("Globex router keeps rebooting".split(), "en", brand="globex") == (
        "router keeps rebooting",
    )
    assert "globex" in kx.extract_words("Globex router keeps rebooting".split(), "en")[0]


@pytest.mark.parametrize(
    "text", ["", "😡😡😡", "https://acme.com/x", "!!! ??? ...", "the and of", "#AcmeFail", "x" * 500]
)
def test_nothing_to_say(text: str) -> None:
    assert kw(text, "en") == ()


def test_unknown_language_uses_all_lists() -> None:
    out = kw("la batería of the phone میں بہت خراب", "und", brand=None)
    words = {w for k in out for w in k.split()}
    assert not ({"la", "of", "the", "میں", "بہت"} & words)
    assert "batería" in words


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_stopword_files_exist_are_nfc_and_nonempty(lang: str) -> None:
    path = STOPWORDS_DIR / f"{lang}.txt"
    assert path.is_file()
    words = load_stopwords(lang)
    assert len(words) >= 100
    assert all(unicodedata.is_normalized("NFC", w) for w in words)
    assert words <= all_stopwords()


def test_handmade_urdu_and_georgian_lists_contain_core_function_words() -> None:
    assert {"اور", "میں", "ہے", "کی", "کے", "نہیں", "یہ", "وہ"} <= load_stopwords("ur")
    assert {"და", "არ", "რომ", "ეს", "ის", "მაგრამ", "ძალიან"} <= load_stopwords("ka")


def test_max_keywords_validation() -> None:
    with pytest.raises(ValueError):
        KeywordExtractor(max_keywords=6)
    assert len(KeywordExtractor(max_keywords=2).extract_words("aa bb, cc dd, ee ff, gg hh".split(), "en")) == 2
