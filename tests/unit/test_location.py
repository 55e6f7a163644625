"""Locations from post coordinates, profile strings and text (gazetteer + disambiguation)."""

from __future__ import annotations

import time

import pytest

from brandpulse.schema import Geo
from enrich.gazetteer import get_gazetteer, norm
from enrich.location import LocationTagger
from enrich.nlp import tokenize


@pytest.fixture(scope="module")
def tagger() -> LocationTagger:
    return LocationTagger()


def places(tagger: LocationTagger, text: str, lang: str) -> list[tuple[str, str | None]]:
    words = tokenize(text, lang)
    return [(p.name, p.country_code) for p in tagger.from_words(words, lang)]


def test_gazetteer_is_loaded_once_per_process() -> None:
    assert get_gazetteer() is get_gazetteer()
    assert LocationTagger().gaz is get_gazetteer()


def test_normalisation_folds_case_accents_and_arabic_letter_variants() -> None:
    assert norm("MÉRIDA") == norm("merida")
    assert norm("لاہور") == norm("لاھور") == norm("لاهور")
    assert norm("الأردن") == norm("الاردن")
    assert norm("Ciudad  de-México") == "ciudad de mexico"


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Power cut again in Lahore today", "en", [("Lahore", "PK")]),
        ("just landed in karachi and the lounge is closed", "en", [("Karachi", "PK")]),
        ("New York City subway ads everywhere", "en", [("New York City", "US")]),
        ("لاہور میں بجلی نہیں ہے اور کراچی میں بھی", "ur", [("Lahore", "PK"), ("Karachi", "PK")]),
        ("اسلام آباد میں سروس بند", "ur", [("Islamabad", "PK")]),
        ("انقطاع الانترنت في القاهرة", "ar", [("Cairo", "EG")]),
        ("بالرياض الجو حار", "ar", [("Riyadh", "SA")]),
        ("Vivo en Ciudad de México", "es", [("Mexico City", "MX")]),
        ("Tbilisi, Georgia is lovely in May", "en", [("Tbilisi", "GE"), ("Georgia", "GE")]),
        ("Atlanta, Georgia stores closed", "en", [("Atlanta", "US"), ("Georgia", "US")]),
        ("Acme support in the US is bad", "en", [("United States", "US")]),
        ("#KarachiRains flooded the store", "en", [("Karachi", "PK")]),
    ],
)
def test_places_in_text(tagger: LocationTagger, text: str, lang: str, expected: list[tuple[str, str]]) -> None:
    assert places(tagger, text, lang) == expected


@pytest.mark.parametrize(
    "word",
    ["თბილისი", "თბილისში", "თბილისის", "თბილისიდან", "თბილისთან", "თბილისზე", "თბილისამდე", "თბილისისკენ"],
)
def test_georgian_case_endings(tagger: LocationTagger, word: str) -> None:
    assert places(tagger, f"{word} ინტერნეტი არ მუშაობს", "ka") == [("Tbilisi", "GE")]


def test_georgian_endings_on_other_stems(tagger: LocationTagger) -> None:
    assert places(tagger, "ბათუმიდან ქუთაისამდე გზა ცუდია", "ka") == [("Batumi", "GE"), ("Kutaisi", "GE")]
    assert places(tagger, "საქართველოში ყველაფერი ძვირია", "ka") == [("Georgia", "GE")]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Nice phone, reading the manual now", "en"),
        ("Split decision by the board", "en"),
        ("Bath time with the new soap", "en"),
        ("Mobile data is down again", "en"),
        ("Reading is my favourite hobby", "en"),
        ("Michael Jordan wore the shoes", "en"),
        ("Turkey dinner was great", "en"),
        ("Paris Hilton loves it", "en"),
        ("Holiday sale at the store", "en"),
        ("us too, this app sucks", "en"),
        ("میری سم کام نہیں کر رہی اور بل بھی زیادہ ہے", "ur"),
        ("la paz sea contigo, el mar está tranquilo", "es"),
    ],
)
def test_common_words_that_are_also_places_are_not_places(tagger: LocationTagger, text: str, lang: str) -> None:
    assert places(tagger, text, lang) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I live in Nice, France", [("Nice", "FR"), ("France", "FR")]),
        ("Moving to Reading next month", [("Reading", "GB")]),
        ("Holiday in Split was great", [("Split", "HR")]),
        ("We flew into Jordan last week", [("Jordan", "JO")]),
    ],
)
def test_ambiguous_words_with_a_locative_cue_are_places(
    tagger: LocationTagger, text: str, expected: list[tuple[str, str]]
) -> None:
    assert places(tagger, text, "en") == expected


def test_merida_is_disambiguated_by_country_context_and_population(tagger: LocationTagger) -> None:
    assert places(tagger, "Estoy en Mérida y no hay señal", "es") == [("Mérida", "MX")]
    assert places(tagger, "Mérida, España: sin internet", "es") == [("Mérida", "ES"), ("Spain", "ES")]
    assert places(tagger, "Mérida, Venezuela sin luz", "es") == [("Mérida", "VE"), ("Venezuela", "VE")]


def test_confidence_reflects_evidence(tagger: LocationTagger) -> None:
    words = "Power cut in Lahore . Moving to Reading".split()
    got = {p.name: p.confidence for p in tagger.from_words(words, "en")}
    assert 0.0 < got["Reading"] < got["Lahore"] <= 1.0
    lahore = tagger.from_words(["Lahore"], "en")[0]
    assert lahore.source == "text" and lahore.lat is not None and lahore.lon is not None


def test_text_locations_are_capped_and_deduplicated(tagger: LocationTagger) -> None:
    text = "Lahore Karachi Lahore Tbilisi Madrid London Paris Dubai Cairo Riyadh Batumi"
    got = tagger.from_words(text.split(), "en")
    assert len(got) == 5
    assert len({(p.name, p.country_code) for p in got}) == 5


def test_optional_ner_model_absent_is_not_an_error() -> None:
    t = LocationTagger(ner_model="xx_no_such_model_package")
    assert t.ner_places("I live in Lahore") == []


# ------------------------------------------------------------------------------------ profile


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("Lahore, Pakistan", ("Lahore", "PK")),
        ("Tbilisi 🇬🇪", ("Tbilisi", "GE")),
        ("NYC", ("New York City", "US")),
        ("Karachi | Dubai", ("Karachi", "PK")),
        ("🇵🇰", ("Pakistan", "PK")),
        ("Reading, UK", ("Reading", "GB")),
        ("Paris, TX", ("Paris", "US")),
        ("Paris", ("Paris", "FR")),
        ("Mérida, Yucatán", ("Mérida", "MX")),
        ("کراچی، پاکستان", ("Karachi", "PK")),
        ("თბილისი", ("Tbilisi", "GE")),
    ],
)
def test_profile_locations(tagger: LocationTagger, profile: str, expected: tuple[str, str]) -> None:
    loc = tagger.from_profile(profile)
    assert loc is not None
    assert (loc.name, loc.country_code) == expected
    assert loc.source == "author_profile"
    assert 0.0 < loc.confidence <= 1.0


@pytest.mark.parametrize("profile", ["Earth", "she/her", "somewhere over the rainbow", "", None, "🙂", "the internet"])
def test_profiles_without_a_place(tagger: LocationTagger, profile: str | None) -> None:
    assert tagger.from_profile(profile) is None


def test_profile_with_agreeing_country_is_more_confident(tagger: LocationTagger) -> None:
    alone = tagger.from_profile("Lahore")
    both = tagger.from_profile("Lahore, Pakistan")
    assert alone is not None and both is not None
    assert both.confidence > alone.confidence


# ------------------------------------------------------------------------------------ coordinates


@pytest.mark.parametrize(
    ("lat", "lon", "name", "cc"),
    [
        (41.70, 44.80, "Tbilisi", "GE"),
        (31.50, 74.30, "Lahore", "PK"),
        (40.75, -73.99, "New York City", "US"),
        (-33.90, 151.20, "Sydney", "AU"),
    ],
)
def test_post_geo_is_named_after_the_city(tagger: LocationTagger, lat: float, lon: float, name: str, cc: str) -> None:
    loc = tagger.from_geo(Geo(lat=lat, lon=lon))
    assert loc is not None
    assert (loc.name, loc.country_code, loc.source) == (name, cc, "post_geo")
    assert (loc.lat, loc.lon) == (lat, lon)


def test_post_geo_far_from_any_city_keeps_coordinates_as_name(tagger: LocationTagger) -> None:
    loc = tagger.from_geo(Geo(lat=0.0, lon=-30.0))
    assert loc is not None
    assert loc.name == "0.0000,-30.0000" and loc.country_code is None
    assert tagger.from_geo(None) is None


def test_post_geo_near_the_antimeridian(tagger: LocationTagger) -> None:
    loc = tagger.from_geo(Geo(lat=-18.14, lon=178.44))  # Suva, Fiji
    assert loc is not None and loc.country_code == "FJ"


def test_lookups_are_fast(tagger: LocationTagger) -> None:
    words = "Power cut again in Lahore today and the Acme store in New York City is closed".split()
    tagger.from_words(words, "en")
    start = time.perf_counter()
    for _ in range(500):
        tagger.from_words(words, "en")
    per_text = (time.perf_counter() - start) / 500
    assert per_text < 0.002, f"{per_text * 1e6:.0f} us per text"
