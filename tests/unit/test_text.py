"""The core text conventions (brandpulse/text.py): patterns, script folding, hashtag splitting."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brandpulse.text import HASHTAG_RE, URL_RE, fold_script, normalize, split_hashtag

# ------------------------------------------------------------------------------------ hashtag splitter


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("#WorstServiceEver", ["worst", "service", "ever"]),
        ("#worst_service_ever", ["worst", "service", "ever"]),
        ("AcmeFail", ["acme", "fail"]),
        ("#NASAIsCool", ["nasa", "is", "cool"]),
        ("#iPhone15Pro", ["i", "phone", "15", "pro"]),
        ("#پاکستان_زندہ_باد", ["پاکستان", "زندہ", "باد"]),
        ("#საქართველო", ["საქართველო"]),
        ("#worstserviceever", ["worstserviceever"]),
    ],
)
def test_split_hashtag(tag: str, words: list[str]) -> None:
    assert split_hashtag(tag) == words


def test_split_hashtag_with_vocabulary_segments_lowercase_runs() -> None:
    vocab = {"worst", "service", "ever", "wor", "st", "serv", "ice"}
    assert split_hashtag("#worstserviceever", vocab) == ["worst", "service", "ever"]
    # no full cover -> left whole
    assert split_hashtag("#worstxyzever", vocab) == ["worstxyzever"]


def test_a_long_lowercase_run_is_not_segmented_and_stays_cheap() -> None:
    vocab = {"a", "aa", "aaa"}
    start = time.perf_counter()
    assert split_hashtag("#" + "a" * 100_000, vocab) == ["a" * 100_000]
    assert time.perf_counter() - start < 0.5


# ------------------------------------------------------------------------------------ folding


def test_arabic_and_urdu_spellings_fold_together() -> None:
    # Arabic yeh/kaf vs Farsi yeh/keheh, teh marbuta vs heh, hamza-alef, tatweel, harakat, digits
    assert fold_script("كيف") == fold_script("کیف") == "کیف"
    assert fold_script("مدرسة") == fold_script("مدرسه")
    assert fold_script("أحمد") == fold_script("احمد")
    assert fold_script("مـــلتان") == "ملتان"
    assert fold_script("مُلتان") == "ملتان"
    assert fold_script("٢٠٢٦ ۲۰۲۶") == "2026 2026"
    assert fold_script("Tbilisi თბილისი") == "Tbilisi თბილისი"


def test_normalize_casefolds_and_folds() -> None:
    assert normalize("ACME") == "acme"
    assert normalize("ＡＣＭＥ") == "acme"
    assert normalize("Straße") == "strasse"
    assert normalize("ايكمي") == normalize("ایکمی")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_folding_is_idempotent(s: str) -> None:
    assert fold_script(fold_script(s)) == fold_script(s)
    assert normalize(normalize(s)) == normalize(s)


# ------------------------------------------------------------------------------------ patterns


def test_patterns() -> None:
    assert [m.group(1) for m in HASHTAG_RE.finditer("#AcmeFail &#39; x/#frag ##no #مُلتان")] == ["AcmeFail", "مُلتان"]
    # trailing punctuation stays on the match; the entity extractor trims it (test_entities.py)
    assert URL_RE.findall("see https://acme.com/x and www.acme.org, ok") == ["https://acme.com/x", "www.acme.org,"]
    assert URL_RE.findall("file:///etc/passwd hxxp no") == ["file:///etc/passwd"]
