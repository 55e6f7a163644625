"""Story summaries of an alert window (alerts/stories_summary.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.channels.base import story_lines
from alerts.stories_summary import summarize_stories
from brandpulse.schema import AlertStory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = T0 + timedelta(minutes=30)


def sample(i: int, story: str | None, minute: float, author: str | None = "a", followers: int | None = 10,
           **kw: Any) -> dict[str, Any]:
    return {"id": f"m{i}", "story_id": story, "created_at": (T0 + timedelta(minutes=minute)).isoformat(),
            "author": author, "followers": followers, "text": f"post {i}", "lang": kw.pop("lang", "en"),
            "source": kw.pop("source", "mastodon"), **kw}


def test_reach_counts_each_author_once_with_their_largest_audience() -> None:
    s = [sample(0, "st-x", 1, "big", 5000), sample(1, "st-x", 2, "big", 5200), sample(2, "st-x", 3, "small", 40),
         sample(3, "st-x", 4, None, None)]
    [x] = summarize_stories(s, T0, END)
    assert (x.size, x.authors, x.reach) == (4, 3, 5240)


def test_first_post_sources_languages_and_ids() -> None:
    s = [sample(2, "st-x", 9, source="rss", lang="es"), sample(1, "st-x", 3, url="https://n.example/a"),
         sample(0, "st-x", 3, source="reddit")]
    [x] = summarize_stories(s, T0, END)
    assert x.first["id"] == "m0" and x.first["created_at"] == (T0 + timedelta(minutes=3)).isoformat()
    assert x.sources == {"reddit": 1, "mastodon": 1, "rss": 1}
    assert x.languages == {"en": 2, "es": 1}
    assert x.mention_ids == ("m0", "m1", "m2")


def test_growth_and_trend() -> None:
    growing = [sample(i, "st-g", 25 + i * 0.5) for i in range(6)] + [sample(10, "st-g", 2)]
    fading = [sample(20 + i, "st-f", i) for i in range(6)] + [sample(30, "st-f", 28)]
    new = [sample(40 + i, "st-n", 21 + i) for i in range(3)]
    steady = [sample(50 + i, "st-s", 3 * i + 1) for i in range(10)]
    by_id = {s.story_id: s for s in summarize_stories(growing + fading + new + steady, T0, END, top=None)}
    assert by_id["st-g"].trend == "growing" and by_id["st-g"].growth == (6 + 1) / (1 + 1)
    assert by_id["st-f"].trend == "fading"
    assert by_id["st-n"].trend == "new"
    assert by_id["st-s"].trend == "steady"


def test_ranking_size_then_reach_then_first_post_and_top() -> None:
    s = ([sample(i, "st-a", i, f"u{i}", 1) for i in range(3)]
         + [sample(10 + i, "st-b", i, f"v{i}", 100) for i in range(3)]
         + [sample(20 + i, "st-c", i) for i in range(5)])
    ranked = summarize_stories(s, T0, END, top=2)
    assert [x.story_id for x in ranked] == ["st-c", "st-b"]


def test_samples_without_story_or_outside_the_window() -> None:
    s = [sample(0, None, 1), sample(1, None, 2), sample(2, "st-z", -5), sample(3, "st-z", 31)]
    out = summarize_stories(s, T0, END)
    assert sorted(x.story_id for x in out) == ["st-m0", "st-m1"]
    assert summarize_stories(s, END, T0) == []


def test_to_dict_and_format_are_json_ready_and_short() -> None:
    import json

    [x] = summarize_stories([sample(0, "st-x", 1, text="word " * 80)], T0, END)
    assert json.loads(json.dumps(x.to_dict()))["size"] == 1
    [line] = story_lines([AlertStory.model_validate(x.to_dict())], text_chars=40)  # as every channel shows it
    assert line.startswith("×1 ") and len(line) < 120 and line.count("…") == 1


def test_created_at_may_be_datetimes_or_epoch_seconds() -> None:
    s = [{"id": "a", "story_id": "st", "created_at": T0 + timedelta(minutes=1)},
         {"id": "b", "story_id": "st", "created_at": (T0 + timedelta(minutes=2)).timestamp()}]
    [x] = summarize_stories(s, T0, END)
    assert x.size == 2 and x.authors == 2 and x.reach == 0


def test_module_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("alerts.stories_summary"))
    assert result.attempted > 0 and result.failed == 0
