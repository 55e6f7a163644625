"""Hacker News through the Algolia search API (``search_by_date``), stories and/or comments.

The cursor is a ``created_at_i`` watermark. Algolia serves at most 1,000 hits per query however
many pages there are, so a window with more hits is split by moving its upper time bound down to
the oldest hit seen and starting again at page 0. A poll has a request budget; what it could not
reach is kept in the cursor as a ``gap`` window and finished by later polls, so nothing between
the watermarks is skipped. A short lookback re-reads the last minutes because Algolia indexes
items with a delay; the seen window drops the repeats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from brandpulse.schema import Author, Engagement
from brandpulse.timeparse import parse_timestamp

from .cleaning import html_to_text
from .contract import FeedBase, FeedOptions, ItemError, PollResult, Post
from .cursor import SeenWindow
from .records import as_count, as_str, raw_json

ALGOLIA_HIT_CAP = 1000

HnTag = Literal["story", "comment", "poll", "pollopt", "show_hn", "ask_hn", "front_page"]


class HackerNewsOptions(FeedOptions):
    query: str = Field(min_length=1, max_length=512)
    tags: tuple[HnTag, ...] = Field(default=("story", "comment"), min_length=1)
    hits_per_page: int = Field(default=100, ge=1, le=1000)
    max_pages: int = Field(default=5, ge=1, le=50, description="requests per poll")
    lookback_seconds: int = Field(default=300, ge=0, le=86_400)
    backfill_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    seen_window: int = Field(default=2000, ge=10, le=3000)
    base_url: str = "https://hn.algolia.com/api/v1"


class HackerNewsFeed(FeedBase):
    kind: ClassVar[str] = "hackernews"
    Options: ClassVar[type[FeedOptions]] = HackerNewsOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, HackerNewsOptions)
        self.options = options
        tags = options.tags
        self._tags = tags[0] if len(tags) == 1 else "(" + ",".join(tags) + ")"  # Algolia OR-group

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        cursor = cursor if isinstance(cursor, dict) else {}
        now = int(self.clock())
        since = cursor.get("since")
        since = int(since) if isinstance(since, int | float) and not isinstance(since, bool) else None
        gap = cursor.get("gap")
        gap_window = (int(gap[0]), int(gap[1])) if (
            isinstance(gap, list) and len(gap) == 2 and all(isinstance(g, int) for g in gap)) else None
        seen = SeenWindow(cursor.get("seen") or [], max_entries=self.options.seen_window)

        lower = (since - self.options.lookback_seconds) if since is not None \
            else now - int(self.options.backfill_hours * 3600)
        budget = self.options.max_pages
        hits: list[Any] = []
        budget, unfinished_top = self._walk(lower, None, budget, hits)
        pending: tuple[int, int] | None = unfinished_top
        if gap_window is not None:
            if budget > 0:
                budget, rest = self._walk(gap_window[0], gap_window[1], budget, hits)
                gap_window = rest
            # two pending windows cannot both be kept compactly; their union re-reads a little
            if pending and gap_window:
                pending = (min(pending[0], gap_window[0]), max(pending[1], gap_window[1]))
            else:
                pending = pending or gap_window

        posts: list[Post] = []
        errors: list[ItemError] = []
        newest = since
        for hit in hits:
            item = self.guarded(self._hit_to_post, hit)
            if isinstance(item, ItemError):
                errors.append(item)
                continue
            ts = int(item.created_at.timestamp())
            newest = ts if newest is None or ts > newest else newest
            if item.native_id in seen:
                continue
            seen.add(item.native_id)
            posts.append(item)
        if unfinished_top is None:
            # the top window was read completely up to now: nothing older than now-lookback is new
            newest = max(newest or 0, now - self.options.lookback_seconds)
        new_cursor: dict[str, Any] = {"since": newest, "seen": seen.to_list()}
        if pending:
            new_cursor["gap"] = list(pending)
        return PollResult(posts, new_cursor, errors)

    def _walk(
        self, lo: int, hi: int | None, budget: int, out: list[Any]
    ) -> tuple[int, tuple[int, int] | None]:
        """Read every hit with lo < created_at_i <= hi into ``out``; returns (budget left, unread window)."""
        upper = hi
        page = 0
        oldest: int | None = None
        while budget > 0:
            filters = [f"created_at_i>{lo}"] + ([f"created_at_i<={upper}"] if upper is not None else [])
            params = {"query": self.options.query, "tags": self._tags, "numericFilters": ",".join(filters),
                      "hitsPerPage": str(self.options.hits_per_page), "page": str(page)}
            url = f"{self.options.base_url.rstrip('/')}/search_by_date"
            data, _ = self.request_json("GET", url, params=params)
            budget -= 1
            if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
                raise self.fail("response has no hits array")
            page_hits = data["hits"]
            out.extend(page_hits)
            for hit in page_hits:
                ts = hit.get("created_at_i") if isinstance(hit, dict) else None
                if isinstance(ts, int) and (oldest is None or ts < oldest):
                    oldest = ts
            if not page_hits:
                return budget, None
            page += 1
            nb_pages = as_count(data.get("nbPages"))
            if page < nb_pages:
                continue
            reachable = nb_pages * as_count(data.get("hitsPerPage") or self.options.hits_per_page)
            if as_count(data.get("nbHits")) > reachable and oldest is not None and oldest != upper:
                upper, page = oldest, 0  # hit the 1,000-hit cap: narrow the window and go on
                continue
            return budget, None
        if oldest is None:
            return budget, (lo, hi) if hi is not None else None
        return budget, (lo, oldest)

    def _hit_to_post(self, hit: Any) -> Post | ItemError:
        if not isinstance(hit, dict):
            return self.error("hit is not an object", raw=raw_json(hit))
        object_id = as_str(hit.get("objectID"))
        if not object_id:
            return self.error("hit has no objectID", raw=raw_json(hit))
        ts = hit.get("created_at_i")
        try:
            created = datetime.fromtimestamp(ts, tz=UTC) if isinstance(ts, int) and not isinstance(ts, bool) \
                else parse_timestamp(hit.get("created_at"))
        except (ValueError, OverflowError, OSError) as exc:
            return self.error(f"bad created_at: {exc}", native_id=object_id, raw=raw_json(hit))
        title = as_str(hit.get("title")) or as_str(hit.get("story_title"))
        body = as_str(hit.get("story_text")) or as_str(hit.get("comment_text"))
        text = html_to_text(body) or title or ""
        return Post(
            source="hackernews",
            native_id=object_id,
            text=text,
            title=title,
            created_at=created,
            url=f"https://news.ycombinator.com/item?id={object_id}",
            author=Author(handle=as_str(hit.get("author"))),
            engagement=Engagement(likes=as_count(hit.get("points")),
                                  replies=as_count(hit.get("num_comments"))),
        )
