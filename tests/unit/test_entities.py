"""Entities (hashtags, handles, cashtags, URLs, emojis) and the tokenizer fixes."""

from __future__ import annotations

import pytest

from enrich.entities import (
    extract_emojis,
    extract_entities,
    normalize_url,
)
from enrich.nlp import family_for, get_pipeline, get_tokenizer, token_kind, tokenize_many


def toks(family: str, text: str) -> list[str]:
    return get_tokenizer(family)(text)


# ------------------------------------------------------------------------------------ tokenizer


@pytest.mark.parametrize("family", ["en", "es", "ar", "ur", "xx"])
def test_entities_stay_whole_in_every_family(family: str) -> None:
    out = toks(family, "Ugh #AcmeFail! #پاکستان، #საქართველო? @acme_help $ACME https://acme.com/a?b=1.")
    for tok in ["#AcmeFail", "#پاکستان", "#საქართველო", "@acme_help", "$ACME", "https://acme.com/a?b=1"]:
        assert tok in out, (family, out)


def test_georgian_full_stop_and_question_mark_are_split() -> None:
    assert toks("xx", "თბილისში ვარ. რა ხდება? კარგია!") == [
        "თბილისში", "ვარ", ".", "რა", "ხდება", "?", "კარგია", "!",
    ]


def test_urdu_full_stop_and_arabic_comma_are_split_even_without_spaces() -> None:
    assert toks("ur", "لاہور،کراچی اچھا ہے۔کیا؟") == ["لاہور", "،", "کراچی", "اچھا", "ہے", "۔", "کیا", "؟"]


def test_english_abbreviations_keep_their_stops_and_money_is_not_a_cashtag() -> None:
    out = toks("en", "The U.S. price is $5 now.")
    assert "U.S." in out
    assert out[-2:] == ["now", "."]
    assert "$5" not in out


def test_georgian_case_ending_after_a_hyphen_is_split_from_a_latin_brand() -> None:
    assert toks("xx", "Acme-ის სერვისი") == ["Acme", "-", "ის", "სერვისი"]


def test_tokenize_many_keeps_order_across_language_families() -> None:
    texts = ["hello world", "თბილისი", "لاہور میں", "hola", "مرحبا"]
    docs = tokenize_many(texts, ["en", "ka", "ur", "es", "ar"])
    assert [" ".join(d) for d in docs] == texts
    assert family_for("ka") == "xx" and family_for("und") == "xx" and family_for("es-MX") == "es"


def test_pipeline_is_cached_per_family() -> None:
    assert get_pipeline("ur") is get_pipeline("ur")
    assert get_tokenizer("ur") is get_tokenizer("ur")


def test_token_kind() -> None:
    assert [token_kind(t) for t in ["#a", "@b", "$ACME", "$5", "https://x.y", "www.x.y", "word"]] == [
        "hashtag", "handle", "cashtag", "word", "url", "url", "word",
    ]


# ------------------------------------------------------------------------------------ hashtags etc.


def test_unicode_hashtags_are_kept_whole_and_casefolded() -> None:
    e = extract_entities("Love #پاکستان and #საქართველო but #AcmeFail #acmefail #ACMEFAIL")
    assert e.hashtags == ("#پاکستان", "#საქართველო", "#acmefail")
    assert e.raw_hashtags[:3] == ("پاکستان", "საქართველო", "AcmeFail")


def test_hashtag_with_combining_marks_and_zwnj() -> None:
    assert extract_entities("#مُلتان #نیو‌یارک").hashtags == ("#مُلتان", "#نیو‌یارک")


def test_not_hashtags() -> None:
    e = extract_entities("issue#12 &#39; #123 https://x.com/#/route C# ##")
    assert e.hashtags == ()


def test_handles_are_not_emails() -> None:
    e = extract_entities("ping @AcmeHelp or mail help@acme.com, cc @acme_de")
    assert e.handles == ("@acmehelp", "@acme_de")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$ACME is up", ("$ACME",)),
        ("$acme and $BRK.B", ("$ACME", "$BRK.B")),
        ("costs $5 or $5M or $ 5", ()),
        ("US$100 and $ACME1", ("$ACME1",)),
    ],
)
def test_cashtags(text: str, expected: tuple[str, ...]) -> None:
    assert extract_entities(text).cashtags == expected


# ------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://Acme.COM/Path/", "https://acme.com/Path"),
        ("https://acme.com:443/x", "https://acme.com/x"),
        ("http://acme.com:80/x", "http://acme.com/x"),
        ("http://acme.com:8080/x", "http://acme.com:8080/x"),
        ("https://acme.com/x?utm_source=a&utm_medium=b&id=3&fbclid=z&gclid=q", "https://acme.com/x?id=3"),
        ("https://acme.com/x?b=2&a=1#section", "https://acme.com/x?b=2&a=1"),
        ("https://acme.com/", "https://acme.com"),
        ("https://acme.com", "https://acme.com"),
        ("www.acme.com/deals/", "http://www.acme.com/deals"),
        ("https://user:secret@acme.com/x", "https://acme.com/x"),
        ("https://acme.com/x).", "https://acme.com/x"),
        ("https://en.wikipedia.org/wiki/Acme_(company)", "https://en.wikipedia.org/wiki/Acme_(company)"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


def test_invalid_urls_are_dropped() -> None:
    assert normalize_url("http://") is None
    assert normalize_url("https://[::1") is None
    assert normalize_url("") is None


def test_urls_in_text_are_normalised_and_deduplicated() -> None:
    e = extract_entities("see https://acme.com/a?utm_campaign=x, (https://ACME.com/a/) and www.acme.com.")
    assert e.urls == ("https://acme.com/a", "http://www.acme.com")


# ------------------------------------------------------------------------------------ emojis


def test_emoji_sequences() -> None:
    text = "ok 👍🏽 ❤️ ❤ 👨‍👩‍👧 🇬🇪 1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿 🤦🏼‍♂️ © ™ ®️"
    assert extract_emojis(text) == [
        "👍🏽", "❤", "❤", "👨\u200d👩\u200d👧", "🇬🇪", "1⃣", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        "🤦🏼\u200d♂", "®",
    ]


def test_entities_emojis_deduplicated_without_variation_selectors() -> None:
    assert extract_entities("😡😡 ❤️❤ great").emojis == ("😡", "❤")


def test_no_emoji_in_plain_text_or_other_scripts() -> None:
    assert extract_emojis("plain text → arrows, ✓? لاہور თბილისი 123 #1") == []


def test_entity_lists_are_capped() -> None:
    text = " ".join(f"#tag{i}" for i in range(200))
    assert len(extract_entities(text).hashtags) == 50


