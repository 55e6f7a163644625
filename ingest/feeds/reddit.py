"""Reddit: site search (``/search.json?sort=new``) and subreddit ``new`` listings.

Each poll walks the newest-first listing backwards with ``after`` until it reaches posts older
than the last poll's ``created_utc`` watermark (minus a lookback, because search results surface
late), bounded by ``max_pages``. Anchoring on ``before=<fullname>`` alone is fragile: when that post is
deleted or removed, Reddit answers ``before`` with an empty listing forever. A seen window in the
cursor absorbs the overlap.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, model_validator

from brandpulse.plugins import SecretRef
from brandpulse.schema import Author, Engagement

from .cleaning import html_to_text
from .contract import FeedBase, FeedOptions, ItemError, PollResult, Post
from .cursor import SeenWindow
from .records import as_count, as_str, raw_json

DEFAULT_USER_AGENT = "python:brandpulse:0.1 (open-source social listening)"


class RedditOptions(FeedOptions):
    query: str | None = Field(default=None, min_length=1, max_length=512)
    subreddit: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_+]{2,200}$",
                                  description="name without r/; 'a+b' combines several")
    limit: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=3, ge=1, le=10)
    seen_window: int = Field(default=1000, ge=10, le=3000)
    user_agent: str = Field(default=DEFAULT_USER_AGENT, min_length=8,
                            description="Reddit asks for <platform>:<app id>:<version> (by /u/<name>)")
    client_id: SecretRef | None = None
    client_secret: SecretRef | None = None
    base_url: str = "https://www.reddit.com"
    oauth_base_url: str = "https://oauth.reddit.com"
    token_url: str = "https://www.reddit.com/api/v1/access_token"  # noqa: S105 - a URL, not a secret
    # Stop paging (and report next_poll_after) when fewer requests than this remain in the window.
    min_remaining: float = Field(default=5.0, ge=0)
    # Reddit's search index lags: posts can surface minutes after newer ones were already seen.
    lookback_seconds: int = Field(default=600, ge=0, le=86_400)

    @model_validator(mode="after")
    def _check(self) -> RedditOptions:
        if self.query is None and self.subreddit is None:
            raise ValueError("give a query, a subreddit, or both")
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError("client_id and client_secret go together")
        return self


class RedditFeed(FeedBase):
    kind: ClassVar[str] = "reddit"
    Options: ClassVar[type[FeedOptions]] = RedditOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, RedditOptions)
        self.options = options
        self._client_id = options.client_id.resolve(self.base_dir) if options.client_id else None
        self._client_secret = options.client_secret.resolve(self.base_dir) if options.client_secret else None
        if self._client_secret is not None:
            self.redact(self._client_secret.get_secret_value())
        self._token: str | None = None
        self._token_expires = 0.0
        self.make_http(user_agent=options.user_agent)

    # -- auth ------------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        if self._client_id is None or self._client_secret is None:
            return {}
        if self._token is None or self.clock() >= self._token_expires:
            basic = base64.b64encode(
                f"{self._client_id.get_secret_value()}:{self._client_secret.get_secret_value()}".encode()
            ).decode()
            data, _ = self.request_json("POST", self.options.token_url,
                                        data={"grant_type": "client_credentials"},
                                        headers={"Authorization": f"Basic {basic}",
                                                 "User-Agent": self.options.user_agent})
            token = as_str(data.get("access_token")) if isinstance(data, dict) else None
            if not token:
                error = data.get("error") if isinstance(data, dict) else None
                raise self.fail(f"token endpoint returned no access_token (error: {error or 'none'})")
            expires_in = data.get("expires_in")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
            self._token = token
            self.redact(token)
            # renew a minute early so a token never expires between check and use
            self._token_expires = self.clock() + max(lifetime - 60, 30)
        return {"Authorization": f"bearer {self._token}"}

    def _listing_url(self, authenticated: bool) -> tuple[str, dict[str, str]]:
        base = (self.options.oauth_base_url if authenticated else self.options.base_url).rstrip("/")
        params = {"limit": str(self.options.limit), "raw_json": "1"}
        sub = self.options.subreddit
        if self.options.query is not None:
            params.update(q=self.options.query, sort="new", type="link")
            if sub:
                params["restrict_sr"] = "on"
                return f"{base}/r/{sub}/search.json", params
            return f"{base}/search.json", params
        return f"{base}/r/{sub}/new.json", params

    # -- poll ------------------------------------------------------------------------------------

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        cursor = cursor if isinstance(cursor, dict) else {}
        seen = SeenWindow(cursor.get("seen") or [], max_entries=self.options.seen_window)
        watermark = cursor.get("watermark")
        watermark = float(watermark) if isinstance(watermark, int | float) else None
        newest_known = as_str(cursor.get("newest"))

        auth = self._auth_headers()
        url, params = self._listing_url(bool(auth))
        # per request, so the UA holds even with an injected, shared HTTP client
        headers = {"User-Agent": self.options.user_agent, **auth}
        posts: list[Post] = []
        errors: list[ItemError] = []
        newest_ts = watermark
        newest_name = newest_known
        next_poll_after: float | None = None
        after: str | None = None
        for _page in range(self.options.max_pages):
            page_params = dict(params, after=after) if after else params
            data, resp = self.request_json("GET", url, params=page_params, headers=headers)
            children, after = self._listing(data)
            reached_known = False
            for child in children:
                item = self.guarded(self._child_to_post, child)
                if isinstance(item, ItemError):
                    errors.append(item)
                    continue
                ts = item.created_at.timestamp()
                if watermark is not None and ts < watermark - self.options.lookback_seconds:
                    reached_known = True
                    continue
                if item.native_id in seen:
                    continue
                seen.add(item.native_id)
                posts.append(item)
                if newest_ts is None or ts > newest_ts:
                    newest_ts, newest_name = ts, item.native_id
            wait = self._rate_limit_wait(resp.headers)
            if wait is not None:
                next_poll_after = wait
                break
            if reached_known or not after or not children:
                break
            if watermark is None:
                break  # first poll ever: the newest page is backfill enough
        new_cursor: dict[str, Any] = {"seen": seen.to_list()}
        if newest_ts is not None:
            new_cursor["watermark"] = newest_ts
        if newest_name is not None:
            new_cursor["newest"] = newest_name
        return PollResult(posts, new_cursor, errors, next_poll_after=next_poll_after)

    def _rate_limit_wait(self, headers: Any) -> float | None:
        remaining = headers.get("x-ratelimit-remaining")
        reset = headers.get("x-ratelimit-reset")
        try:
            if remaining is not None and reset is not None and float(remaining) < self.options.min_remaining:
                return max(float(reset), 1.0)
        except ValueError:
            return None
        return None

    def _listing(self, data: Any) -> tuple[list[Any], str | None]:
        body = data.get("data") if isinstance(data, dict) and data.get("kind") == "Listing" else None
        if not isinstance(body, dict):
            raise self.fail("response is not a Reddit Listing")
        children = body.get("children")
        if not isinstance(children, list):
            raise self.fail("Listing has no children array")
        return children, as_str(body.get("after"))

    def _child_to_post(self, child: Any) -> Post | ItemError:
        if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
            return self.error("listing child is not an object", raw=raw_json(child))
        kind = child.get("kind")
        d = child["data"]
        name = as_str(d.get("name"))
        if kind not in ("t3", "t1"):
            return self.error(f"unexpected listing kind {kind!r}", native_id=name, raw=raw_json(child))
        if not name:
            return self.error("item has no fullname", raw=raw_json(d))
        created = d.get("created_utc")
        if not isinstance(created, int | float) or isinstance(created, bool):
            return self.error("item has no created_utc", native_id=name, raw=raw_json(d))
        permalink = as_str(d.get("permalink"))
        author = as_str(d.get("author"))
        if author in ("[deleted]", "[removed]"):
            author = None
        if kind == "t3":
            title = as_str(d.get("title"))
            text = as_str(d.get("selftext")) or ""
            if not text and d.get("selftext_html"):
                text = html_to_text(as_str(d.get("selftext_html")))
            text = text or title or ""
        else:
            title = as_str(d.get("link_title"))
            text = as_str(d.get("body")) or ""
        try:
            return Post(
                source="reddit",
                native_id=name,
                text=text,
                title=title,
                created_at=datetime.fromtimestamp(float(created), tz=UTC),
                url=f"https://www.reddit.com{permalink}" if permalink and permalink.startswith("/") else None,
                author=Author(id=as_str(d.get("author_fullname")) if author else None, handle=author),
                engagement=Engagement(likes=as_count(d.get("score")), replies=as_count(d.get("num_comments")),
                                      shares=as_count(d.get("num_crossposts"))),
            )
        except (ValueError, OverflowError) as exc:
            return self.error(f"unreadable item: {exc}", native_id=name, raw=raw_json(d))

