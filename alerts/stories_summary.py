"""The stories of an alert window: which stories the spike is made of, how far each spread, and
whether it is still growing.

Input is the window's mention samples (``alerts.context.Sample.as_dict()``: ``id``, ``created_at``,
``text``, ``url``, ``author``, ``followers``, ``lang``, ``source`` and the ``story_id`` the enrich
stage gives every mention, ``enrich/stories.py``); a sample without a ``story_id`` is a story of
its own. ``alerts/record.py`` turns the result into the alert record's ``AlertStory`` list.

* **first post**: the earliest sample of the story in the window (ties: the smaller id);
* **size**: its mentions in the window; **authors**: distinct authors;
* **reach**: followers summed over *distinct* authors (each author counted once, with the largest
  follower count seen), so one account reposting itself ten times does not multiply its audience;
* **sources** and **languages**: counts;
* **growth**: mentions in the last third of the window against the first third, as
  ``(last + 1) / (first + 1)`` (the +1 keeps a story that starts from nothing finite); ``trend``
  is ``new`` when the story's first mention is in the last third, else ``growing`` (growth ≥ 1.5),
  ``fading`` (≤ 1 / 1.5) or ``steady``.

Stories are ranked by size, then reach, then the earlier first post, so the order is deterministic.

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
>>> s = [{"id": f"m{i}", "story_id": "st-a", "created_at": (t0 + timedelta(minutes=3 * i)).isoformat(),
...       "author": f"u{i % 3}", "followers": 100 * (i % 3), "lang": "en", "source": "mastodon",
...       "text": "Nimbus lost my bag"} for i in range(10)]
>>> [top] = summarize_stories(s, t0, t0 + timedelta(minutes=30))
>>> top.size, top.authors, top.reach, top.growth, top.trend
(10, 3, 300, 0.8, 'steady')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Trend = Literal["new", "growing", "steady", "fading"]
GROWING = 1.5


@dataclass(frozen=True, slots=True)
class StorySummary:
    story_id: str
    size: int
    first: dict[str, Any]
    authors: int
    reach: int
    growth: float
    trend: Trend
    sources: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    mention_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the alert record and the channels."""
        return {"story_id": self.story_id, "size": self.size, "authors": self.authors, "reach": self.reach,
                "growth": round(self.growth, 2), "trend": self.trend, "sources": self.sources,
                "languages": self.languages, "first": self.first, "mention_ids": list(self.mention_ids)}


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_FIRST_FIELDS = ("id", "created_at", "text", "url", "author", "followers", "lang", "source")


def summarize_stories(samples: Iterable[Mapping[str, Any]], window_start: datetime | str,
                      window_end: datetime | str, *, top: int | None = 5) -> list[StorySummary]:
    """The window's stories, biggest first (see the module doc). Samples outside
    ``[window_start, window_end)`` are ignored."""
    start, end = _time(window_start), _time(window_end)
    span = (end - start).total_seconds()
    if span <= 0:
        return []
    third = span / 3.0
    groups: dict[str, list[tuple[datetime, Mapping[str, Any]]]] = {}
    for s in samples:
        t = _time(s["created_at"])
        if not start <= t < end:
            continue
        sid = str(s.get("story_id") or f"st-{s['id']}")
        groups.setdefault(sid, []).append((t, s))
    out: list[StorySummary] = []
    for sid, members in groups.items():
        members.sort(key=lambda ts: (ts[0], str(ts[1]["id"])))
        first_t, first = members[0]
        followers: dict[str, int] = {}
        for _, s in members:
            who = s.get("author") or f"id:{s['id']}"  # an unknown author is nobody else
            followers[str(who)] = max(followers.get(str(who), 0), int(s.get("followers") or 0))
        early = sum(1 for t, _ in members if (t - start).total_seconds() < third)
        late = sum(1 for t, _ in members if (t - start).total_seconds() >= 2 * third)
        growth = (late + 1) / (early + 1)
        trend: Trend
        if (first_t - start).total_seconds() >= 2 * third:
            trend = "new"
        elif growth >= GROWING:
            trend = "growing"
        elif growth <= 1 / GROWING:
            trend = "fading"
        else:
            trend = "steady"
        sources = Counter(str(s.get("source")) for _, s in members if s.get("source"))
        langs = Counter(str(s.get("lang")) for _, s in members if s.get("lang"))
        out.append(StorySummary(
            story_id=sid, size=len(members), authors=len(followers), reach=sum(followers.values()),
            growth=growth, trend=trend, sources=dict(sources.most_common()), languages=dict(langs.most_common()),
            first={k: (first_t.isoformat() if k == "created_at" else first.get(k)) for k in _FIRST_FIELDS
                   if first.get(k) is not None},
            mention_ids=tuple(str(s["id"]) for _, s in members),
        ))
    out.sort(key=lambda x: (-x.size, -x.reach, x.first.get("created_at", ""), x.story_id))
    return out if top is None else out[:top]
