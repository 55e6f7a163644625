"""Story clustering (enrich/stories.py): matching rules, bounds, determinism and checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.stories import (
    StoryConfig,
    StoryIndex,
    _Story,
    assign_all,
    link_key,
    normalize_text,
    shingle_hashes,
)

COMPLAINT = "Acme Air cancelled every flight out of Denver tonight and nobody at the desk will rebook us"
OTHER = [
    "The new Acme lounge in Lisbon has the best espresso I have had in an airport",
    "Is the Acme app down for anyone else? It keeps crashing when I open my boarding pass",
    "Acme baggage fees went up again, twenty dollars more for a carry on bag now",
    "Shoutout to the Acme crew on flight 88 who found my daughter's lost teddy bear",
]


def one(idx: StoryIndex, mid: str, text: str, t: float = 0.0, **kw: object) -> str:
    return idx.assign(brand="acme", mention_id=mid, created_at=t, text=text, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- normalisation


def test_normalize_drops_repost_prefix_handles_links_and_the_cut_word() -> None:
    assert normalize_text("RT @user: RT @AcmeHelp: Cancelled AGAIN!! https://t.co/x…") == "cancelled again"
    assert normalize_text("@acme @bob why is my bag in Oslo… http") == "why is my bag in"
    assert normalize_text("#AcmeFail_2026 is trending") == "acmefail 2026 is trending"


def test_normalize_keeps_words_of_every_script_whole() -> None:
    assert normalize_text("नेटवर्क नहीं है! #JioDown") == "नेटवर्क नहीं है jiodown"
    assert normalize_text("پرواز لغو شد، چرا؟") == "پرواز لغو شد چرا"
    assert normalize_text("ФЛАЙТ ОТМЕНЁН.") == "флайт отменён"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    norm = normalize_text(text)
    assert normalize_text(norm) == norm
    assert norm == norm.strip() and "  " not in norm
    assert "://" not in norm and "@" not in norm and "#" not in norm


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_shingles_are_deterministic_and_one_per_5_gram(text: str) -> None:
    norm = normalize_text(text)
    h = shingle_hashes(norm)
    assert h.dtype == np.uint64
    assert h.size == max(0, len(norm) + 2 - 4)
    assert np.array_equal(h, shingle_hashes(norm))


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=25, max_size=200).filter(lambda s: len(normalize_text(s)) >= 20))
def test_signature_of_a_text_matches_itself_and_its_repost(text: str) -> None:
    idx = StoryIndex()
    a, _ = idx.signature(text)
    b, _ = idx.signature("RT @someone: " + text)
    assert a is not None and b is not None and np.array_equal(a, b)


def test_link_key_treats_variants_of_one_article_as_one_link() -> None:
    base = link_key("https://news.example.org/2026/03/acme-grounds-fleet")
    assert base == "news.example.org/2026/03/acme-grounds-fleet"
    for variant in ["http://www.news.example.org/2026/03/acme-grounds-fleet/?utm_source=tw",
                    "https://m.news.example.org/2026/03/acme-grounds-fleet/amp",
                    "https://news.example.org/2026/03/acme-grounds-fleet#comments"]:
        assert link_key(variant) == base
    assert link_key("https://example.org/") is None
    assert link_key("https://example.org/?utm_source=x") is None
    assert link_key("localhost/x") is None


# ------------------------------------------------------------------------------------ matching


def test_reposts_truncated_copies_quotes_and_edits_join_the_first_post() -> None:
    idx = StoryIndex()
    first = one(idx, "m1", COMPLAINT)
    variants = [
        "RT @user: " + COMPLAINT[:90] + "…",  # a repost cut by the length limit
        "this is unacceptable 😡 " + COMPLAINT,  # a quote post adding a comment
        COMPLAINT.replace("tonight", "this evening").replace("nobody", "no one"),  # an edited copy
        COMPLAINT.upper() + "!!!",
    ]
    assert [one(idx, f"v{i}", v, i + 1) for i, v in enumerate(variants)] == [first] * len(variants)
    assert first == "st-m1"


def test_unrelated_posts_about_the_same_brand_stay_apart() -> None:
    idx = StoryIndex()
    ids = [one(idx, str(i), t, i) for i, t in enumerate([COMPLAINT, *OTHER])]
    assert len(set(ids)) == len(ids)


def test_short_texts_are_no_evidence() -> None:
    idx = StoryIndex()
    assert one(idx, "a", "thank you Acme!!") != one(idx, "b", "Thank you acme")


def test_the_same_link_joins_a_story_whatever_the_words() -> None:
    idx = StoryIndex()
    url = "https://news.example.org/2026/03/acme-grounds-fleet?utm_source=twitter"
    a = one(idx, "a", "Wow. Acme grounds its whole fleet", urls=[url])
    b = one(idx, "b", "completely different words about it here", 5, urls=["http://www.news.example.org/2026/03/acme-grounds-fleet/"])
    c = one(idx, "c", "a homepage link is not evidence of anything", 6, urls=["https://news.example.org/"])
    assert a == b != c


def test_the_same_complaint_in_two_scripts_joins_when_two_hashtags_agree() -> None:
    idx = StoryIndex()
    a = one(idx, "a", "जियो नेटवर्क पूरे दिन से बंद है #JioDown #MumbaiOutage", hashtags=["#jiodown", "#mumbaioutage"])
    b = one(idx, "b", "Jio network poore din se band hai #JioDown #MumbaiOutage", 1, hashtags=["#JioDown", "#MumbaiOutage"])
    c = one(idx, "c", "Jio ka naya plan mehenga hai yaar #JioDown", 2, hashtags=["#jiodown"])  # one tag, no text
    assert a == b != c


def test_one_hashtag_tips_a_near_miss_text_match() -> None:
    first = "Acme lost my bag on the Denver flight, third time this year #AcmeFail"
    second = "Acme lost a bag of mine again, on a flight to Denver. Third time this year"
    idx = StoryIndex()
    sim = idx._similarity(idx._features(second, (), ()), _story_of(idx, first))[0]
    assert StoryConfig().hashtag_jaccard <= sim < StoryConfig().min_jaccard  # a near miss on words alone
    assert one(idx, "b", second, 1) != "st-a"
    idx = StoryIndex()
    a = one(idx, "a", first, hashtags=["#acmefail"])
    assert one(idx, "b", second, 1, hashtags=["#AcmeFail"]) == a


def _story_of(idx: StoryIndex, text: str) -> _Story:
    one(idx, "a", text)
    return idx._brands["acme"].stories["st-a"]


def test_shared_hashtags_alone_do_not_join_posts_in_the_same_script() -> None:
    # One account's series (different proverbs, same tags) is a topic, not a story.
    idx = StoryIndex()
    tags = ["#oroiyanju", "#yoruba", "#subtitles"]
    a = one(idx, "a", "Kò sí òògùn aláròká, ẹ jẹ́ ká máa ṣọ́ra #oroiyanju #yoruba #subtitles", hashtags=tags)
    b = one(idx, "b", "Wojú àwon tó wà ní àyíká re lónìí #subtitles #oroiyanju #Yoruba", 1, hashtags=tags)
    assert a != b


def test_a_hashtag_in_many_stories_becomes_generic_and_links_nothing() -> None:
    idx = StoryIndex(StoryConfig(generic_tag_stories=3))
    tags = ["#acmedown", "#travel"]
    a = one(idx, "a", "एक्मे का ऐप सुबह से बंद है, टिकट नहीं मिल रहा", 0, hashtags=tags)
    # Two shared hashtags join texts in two scripts, which cannot be compared word for word.
    assert one(idx, "a2", "Acme app subah se band hai, ticket nahi mil raha", 1, hashtags=tags) == a
    # #travel alone (one tag, no shared words) joins nothing, and three more stories carry it...
    for i, t in enumerate(OTHER[:3]):
        assert one(idx, f"g{i}", t, 10 + i, hashtags=["#travel"]) == f"st-g{i}"
    # ...so it is generic now, and #acmedown + #travel is one specific tag: not enough any more.
    assert one(idx, "late", "Приложение Acme не работает с утра", 99, hashtags=tags) == "st-late"


def test_a_shared_link_outranks_similar_words() -> None:
    idx = StoryIndex()
    a = one(idx, "a", COMPLAINT)
    b = one(idx, "b", OTHER[1], 1, urls=["https://status.example.com/incidents/42"])
    c = one(idx, "c", COMPLAINT, 2, urls=["https://status.example.com/incidents/42"])
    assert a != b and c == b


def test_redelivered_mention_keeps_its_story_and_counts_once() -> None:
    idx = StoryIndex()
    a = one(idx, "x", "ok")  # too short for text evidence: it opens its own story
    assert one(idx, "x", "ok", 1) == a
    b = one(idx, "y", COMPLAINT, 2)
    one(idx, "z", "RT @user: " + COMPLAINT, 3)
    again = idx.assign_detail(brand="acme", mention_id="z", created_at=4, text="RT @user: " + COMPLAINT)
    assert (again.story_id, again.evidence, again.size) == (b, "seen", 2)


def test_datetimes_and_floats_are_both_accepted() -> None:
    idx = StoryIndex()
    t = datetime(2026, 3, 1, tzinfo=UTC)
    a = idx.assign(brand="b", mention_id="1", created_at=t, text=COMPLAINT)
    b = idx.assign(brand="b", mention_id="2", created_at=t + timedelta(minutes=1), text=COMPLAINT)
    assert a == b


def test_brands_are_separate() -> None:
    idx = StoryIndex()
    a = idx.assign(brand="acme", mention_id="1", created_at=0, text=COMPLAINT)
    b = idx.assign(brand="zing", mention_id="2", created_at=0, text=COMPLAINT)
    assert a != b


# -------------------------------------------------------------------------------------- bounds


def test_stories_quiet_past_the_horizon_are_evicted() -> None:
    idx = StoryIndex(StoryConfig(horizon_seconds=3600))
    a = one(idx, "a", COMPLAINT, 0)
    assert one(idx, "b", COMPLAINT, 3000) == a  # still live, and now last seen at 3000
    one(idx, "c", OTHER[0], 3000 + 3601)  # stream time moves on
    assert one(idx, "d", COMPLAINT, 3000 + 3602) == "st-d"
    assert idx.stats("acme")["stories"] == 2


def test_max_stories_evicts_the_least_recently_active() -> None:
    idx = StoryIndex(StoryConfig(max_stories=3))
    ids = [one(idx, str(i), t, i) for i, t in enumerate(OTHER[:3])]
    assert one(idx, "again", OTHER[0], 10) == ids[0]  # touch story 0: story 1 is now the oldest
    one(idx, "new", OTHER[3], 11)
    assert idx.stats("acme")["stories"] == 3
    assert one(idx, "back1", OTHER[1], 12) == "st-back1"  # story 1 was evicted
    assert one(idx, "back0", OTHER[0], 13) == ids[0]


def test_index_stays_bounded_on_a_long_stream() -> None:
    cfg = StoryConfig(max_stories=50, max_bucket=4)
    idx = StoryIndex(cfg)
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(300)]
    for i in range(2000):
        text = " ".join(rng.choice(words, size=12))
        one(idx, str(i), text, i, hashtags=[f"#t{i % 97}"])
    s = idx.stats("acme")
    assert s["stories"] == 50
    assert s["buckets"] <= 50 * cfg.max_representatives * cfg.bands
    assert s["hashtags"] <= 50 * 1 + 97
    brand = idx._brands["acme"]
    buckets = [[v] if isinstance(v, str) else v for v in brand.bands.values()]
    assert all(1 <= len(v) <= cfg.max_bucket for v in buckets)
    assert all(sid in brand.stories for v in buckets for sid in v)
    assert any(len(v) > 1 for v in buckets)  # shared buckets were exercised too


def test_config_rejects_inconsistent_bands() -> None:
    with pytest.raises(ValueError, match="num_perm"):
        StoryConfig(num_perm=60, bands=7, rows=3)


# ------------------------------------------------------------------------- determinism, restore


def _stream() -> list[dict[str, object]]:
    base = [COMPLAINT, *OTHER]
    out: list[dict[str, object]] = []
    for i in range(60):
        t = base[i % len(base)]
        text = t if i % 3 else "RT @user: " + t[: 40 + i] + "…"
        out.append({"brand": "acme" if i % 4 else "zing", "id": f"m{i}", "created_at": float(i * 30),
                    "text": text, "hashtags": ["#acmefail"] if i % 5 == 0 else []})
    return out


def test_same_input_order_gives_the_same_ids_in_a_fresh_index() -> None:
    stream = _stream()
    assert assign_all(StoryIndex(), stream) == assign_all(StoryIndex(), stream)


def test_snapshot_restore_continues_exactly() -> None:
    stream = _stream()
    straight = assign_all(StoryIndex(), stream)
    first = StoryIndex()
    head = assign_all(first, stream[:25])
    snaps = {b: json.loads(json.dumps(first.snapshot(b))) for b in first.brands()}
    second = StoryIndex()
    for b, snap in snaps.items():
        second.restore(b, snap)
    assert head + assign_all(second, stream[25:]) == straight


def test_restore_refuses_another_hash_family() -> None:
    a = StoryIndex()
    one(a, "1", COMPLAINT)
    b = StoryIndex(StoryConfig(seed=1))
    with pytest.raises(ValueError, match="num_perm/seed"):
        b.restore("acme", a.snapshot("acme"))


def test_a_much_reposted_story_with_unique_links_stays_bounded() -> None:
    cfg = StoryConfig(max_keys_per_story=5)
    idx = StoryIndex(cfg)
    first = one(idx, "0", COMPLAINT, 0, urls=["https://t.example/0"], hashtags=["#h0"])
    for i in range(1, 300):
        assert one(idx, str(i), "RT @user: " + COMPLAINT, i, urls=[f"https://t.example/{i}"],
                   hashtags=[f"#h{i}"]) == first
    s = idx.stats("acme")
    assert s["links"] == 5 and s["hashtags"] == 5


def test_module_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("enrich.stories"))
    assert result.attempted > 0 and result.failed == 0


def test_regression_floor_on_the_labelled_real_posts() -> None:
    """Not a quality claim (bench/eval_stories.py prints those): a guard that a change to the
    matching rules does not silently collapse precision or recall on bench/data/stories_eval.jsonl."""
    import random
    from collections import Counter
    from pathlib import Path

    from enrich.entities import extract_entities

    path = Path(__file__).resolve().parents[2] / "bench" / "data" / "stories_eval.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(0).shuffle(items)
    idx = StoryIndex()
    pred = [idx.assign(brand="eval", mention_id=it["id"], created_at=20.0 * k, text=it["text"],
                       hashtags=extract_entities(it["text"]).hashtags) for k, it in enumerate(items)]
    gold = [it["story"] for it in items]

    def pairs(counts: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    tp = pairs(Counter(zip(pred, gold, strict=True)))
    precision, recall = tp / pairs(Counter(pred)), tp / pairs(Counter(gold))
    assert precision >= 0.55 and recall >= 0.65, (precision, recall)
