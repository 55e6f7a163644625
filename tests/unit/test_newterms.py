"""What is new (alerts/newterms.py): the log-odds ranking and the bounded, decayed baseline."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.channels.base import new_terms_line
from alerts.newterms import (
    NewTerm,
    TermBaseline,
    WindowCounts,
    rank_new_terms,
    sample_features,
)
from alerts.record import new_term_record

DAY = 86400.0


def z_of(terms: list[NewTerm], term: str) -> float | None:
    return next((t.z for t in terms if t.term == term), None)


# ------------------------------------------------------------------------------------- ranking


def test_frequent_everyday_terms_are_not_new_and_a_real_rise_is() -> None:
    # An airline: its name and "flight" top the raw counts of every window, every day.
    window = {"nimbus": 40, "flight": 25, "lost luggage": 12, "denver": 6}
    baseline = {"nimbus": 3800, "flight": 2300, "lost luggage": 20, "denver": 300, "lounge": 400}
    new = rank_new_terms(window, 40, baseline, 4000)
    # Denver doubled (15 % against 7.5 %), but six mentions are not enough to say so.
    assert [t.term for t in new] == ["lost luggage"]
    assert new[0].window_share == pytest.approx(12 / 40) and new[0].baseline_share == pytest.approx(20 / 4000)


def test_a_falling_or_steady_share_is_never_new() -> None:
    assert rank_new_terms({"refund": 5}, 100, {"refund": 500}, 1000) == []  # 5 % against 50 %
    assert rank_new_terms({"refund": 50}, 1000, {"refund": 500}, 10000) == []  # 5 % against 5 %


def test_more_evidence_gives_a_larger_z() -> None:
    zs = [z_of(rank_new_terms({"outage": k}, 50, {"outage": 2}, 2000, min_count=1, min_z=-99), "outage")
          for k in (2, 5, 10, 20)]
    assert all(z is not None for z in zs)
    assert zs == sorted(zs)  # type: ignore[type-var]


def test_the_prior_keeps_a_handful_of_never_seen_words_below_a_big_shift() -> None:
    window = {"brandnewword": 3, "refund": 30}
    baseline = {"refund": 200}
    new = rank_new_terms(window, 100, baseline, 10_000)
    assert new and new[0].term == "refund"


def test_min_count_and_top() -> None:
    window = {f"t{i}": 3 + i for i in range(20)}
    new = rank_new_terms(window, 60, {}, 5000, min_count=10, top=4)
    assert len(new) == 4 and all(t.window_count >= 10 for t in new)
    assert [t.term for t in new] == ["t19", "t18", "t17", "t16"]


def test_an_untracked_feature_counts_half_the_sketch_floor() -> None:
    untracked = rank_new_terms({"x": 10}, 50, {"y": 900}, 5000, baseline_floor=40.0)
    tracked = rank_new_terms({"x": 10}, 50, {"y": 900, "x": 20.0}, 5000)
    assert [t.to_dict() for t in untracked] == [t.to_dict() for t in tracked] != []


def test_a_never_seen_feature_is_new_and_ranks_by_its_evidence() -> None:
    new = rank_new_terms({"outage": 20, "refund": 6}, 50, {"flight": 3000}, 5000)
    assert [t.term for t in new] == ["outage", "refund"] and new[0].baseline_share == 0.0


def test_empty_inputs() -> None:
    assert rank_new_terms({}, 0, {"a": 1}, 10) == []
    assert rank_new_terms({"a": 5}, 5, {}, 0) == []  # no baseline yet: nothing to be new against


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers(0, 500), max_size=12),
       st.dictionaries(st.text(min_size=1, max_size=5), st.floats(0, 1e5, allow_nan=False), max_size=12),
       st.integers(0, 600), st.floats(0, 2e5, allow_nan=False), st.floats(0, 100, allow_nan=False))
def test_ranking_is_total_finite_and_sorted(window: dict[str, int], baseline: dict[str, float], n: int,
                                            m: float, floor: float) -> None:
    n = max(n, max(window.values(), default=0))
    new = rank_new_terms(window, n, baseline, m, baseline_floor=floor, min_count=1)
    assert all(math.isfinite(t.z) and math.isfinite(t.log_odds) and t.z > 1.96 for t in new)
    assert [t.z for t in new] == sorted((t.z for t in new), reverse=True)
    assert len({t.term for t in new}) == len(new)


# ------------------------------------------------------------------------------------ features


def test_sample_features_normalise_each_kind() -> None:
    f = sample_features({"keywords": ["Lost Luggage", "lost luggage"], "hashtags": ["NimbusFail"],
                         "handles": ["NimbusHelp"], "places": ["Denver"], "lang": "EN", "other": 1})
    assert f == {"term": {"lost luggage"}, "hashtag": {"#nimbusfail"}, "handle": {"@nimbushelp"},
                 "place": {"Denver"}, "language": {"en"}}


def test_window_counts_one_vote_per_mention() -> None:
    wc = WindowCounts.of([{"keywords": ["a", "a", "b"]}, {"keywords": ["a"]}, {}])
    assert wc.mentions == 3 and wc.counts["term"] == {"a": 2, "b": 1}


# ------------------------------------------------------------------------------------ baseline


def _everyday(tb: TermBaseline, n: int = 300, t0: float = 0.0) -> float:
    for i in range(n):
        tb.observe("nimbus", {"keywords": ["flight", "seat" if i % 2 else "crew"], "hashtags": ["#nimbus"],
                              "lang": "en" if i % 10 else "es"}, t0 + i * 120.0)
    return t0 + n * 120.0


def test_what_is_new_finds_the_burst_and_not_the_everyday_talk() -> None:
    tb = TermBaseline()
    t = _everyday(tb)
    burst = [{"keywords": ["flight", "lost luggage"], "hashtags": ["#nimbus", "#nimbuslostmybag"],
              "places": ["Denver"], "lang": "ur"} for _ in range(15)]
    for s in burst:
        tb.observe("nimbus", s, t)
    new = tb.what_is_new("nimbus", burst, t)
    assert [x.term for x in new["term"]] == ["lost luggage"]
    assert [x.term for x in new["hashtag"]] == ["#nimbuslostmybag"]
    assert [x.term for x in new["place"]] == ["Denver"]
    assert [x.term for x in new["language"]] == ["ur"]
    line = new_terms_line([new_term_record(t) for kind in new for t in new[kind]])  # as every channel shows it
    assert "lost luggage ×15" in line and "lang ur ×15" in line and "#nimbus ×" not in line


def test_excluding_the_window_equals_not_having_observed_it() -> None:
    burst = [{"keywords": ["refund"], "lang": "en"}] * 8
    a, b = TermBaseline(), TermBaseline()
    t = _everyday(a)
    _everyday(b)
    for s in burst:
        a.observe("nimbus", s, t)
    with_excl = a.what_is_new("nimbus", burst, t)
    without = b.what_is_new("nimbus", burst, t, exclude_window=False)
    assert [x.to_dict() for x in with_excl["term"]] == [x.to_dict() for x in without["term"]]


def test_counts_decay_with_the_half_life() -> None:
    tb = TermBaseline(half_life_seconds=DAY)
    tb.observe("b", {"keywords": ["x"]}, 0.0)
    table, mentions, _ = tb.counts("b", "term", 2 * DAY)
    assert table["x"] == pytest.approx(0.25) and mentions == pytest.approx(0.25)


def test_long_runs_rebase_without_overflow() -> None:
    tb = TermBaseline(half_life_seconds=60.0)
    for i in range(200):
        tb.observe("b", {"keywords": ["x"]}, i * 600.0)  # 10 half-lives between observations
    table, mentions, _ = tb.counts("b", "term", 199 * 600.0)
    assert math.isfinite(table["x"]) and table["x"] == pytest.approx(1.0, rel=1e-2)
    assert mentions == pytest.approx(table["x"])


def test_tables_stay_bounded_and_remember_a_floor() -> None:
    tb = TermBaseline(capacity={"term": 10})
    for i in range(500):
        tb.observe("b", {"keywords": ["common", f"rare{i}"]}, float(i))
    table, _, floor = tb.counts("b", "term", 500.0)
    assert len(table) < 20 and "common" in table
    assert 0 < floor < table["common"]


def test_snapshot_restore_round_trip_through_json() -> None:
    tb = TermBaseline()
    t = _everyday(tb)
    burst = [{"keywords": ["refund"], "lang": "en"}] * 6
    for s in burst:
        tb.observe("nimbus", s, t)
    other = TermBaseline()
    other.restore("nimbus", json.loads(json.dumps(tb.snapshot("nimbus"))))
    assert [x.to_dict() for x in other.what_is_new("nimbus", burst, t)["term"]] == \
        [x.to_dict() for x in tb.what_is_new("nimbus", burst, t)["term"]]
    with pytest.raises(ValueError, match="version"):
        other.restore("nimbus", {"v": 99})


def test_unknown_brand_has_an_empty_baseline() -> None:
    tb = TermBaseline()
    assert tb.counts("nobody", "term", 0.0) == ({}, 0.0, 0.0)
    assert tb.what_is_new("nobody", [{"keywords": ["x"]}] * 4, 0.0)["term"] == []


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        TermBaseline(half_life_seconds=0)
    with pytest.raises(ValueError):
        TermBaseline(capacity={"term": 0})


def test_module_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("alerts.newterms"))
    assert result.attempted > 0 and result.failed == 0
