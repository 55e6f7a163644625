"""Mastodon: hashtag timelines and status search across several instances.

Each instance keeps its own ``min_id`` in the cursor (ids are per instance). With ``min_id`` the
API returns the statuses immediately newer than it, so following ``Link: rel="prev"`` walks
forward without gaps. The same post federates to many instances under different local ids, so
``native_id`` is the status ``uri`` (its canonical ActivityPub id): one post, one id, whichever
instance delivered it.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic.types import SecretStr

from brandpulse.schema import Author, Engagement
from ingest.http import parse_link_header

from .base import (
    FeedBase,
    FeedError,
    FeedOptions,
    ItemError,
    PollResult,
    Post,
    SecretRef,
    SeenWindow,
    as_count,
    as_dict,
    as_str,
    html_to_text,
    parse_timestamp,
    raw_json,
)


class MastodonInstance(FeedOptions):
    url: str = Field(pattern=r"^https?://[^/\s]+/?$", description="instance base URL, e.g. https://mastodon.social")
    access_token: SecretRef | None = None


class MastodonOptions(FeedOptions):
    instances: list[str | MastodonInstance] = Field(min_length=1, max_length=20)
    hashtag: str | None = Field(default=None, pattern=r"^#?\w{1,100}$")
    query: str | None = Field(default=None, min_length=1, max_length=512)
    local: bool = Field(default=False, description="hashtag timelines: only the instance's own users")
    limit: int = Field(default=40, ge=1, le=40)
    max_pages: int = Field(default=3, ge=1, le=10)
    seen_window: int = Field(default=2000, ge=10, le=3000)

    @field_validator("instances")
    @classmethod
    def _urls(cls, v: list[str | MastodonInstance]) -> list[str | MastodonInstance]:
        for item in v:
            if isinstance(item, str):
                MastodonInstance(url=item)  # same URL rule as the long form
        return v

    @model_validator(mode="after")
    def _one_source(self) -> MastodonOptions:
        if (self.hashtag is None) == (self.query is None):
            raise ValueError("give exactly one of 'hashtag' or 'query'")
        return self


class MastodonFeed(FeedBase):
    kind: ClassVar[str] = "mastodon"
    Options: ClassVar[type[FeedOptions]] = MastodonOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, MastodonOptions)
        self.options = options
        self.instances: list[tuple[str, str, SecretStr | None]] = []  # (host key, base url, token)
        for item in options.instances:
            inst = item if isinstance(item, MastodonInstance) else MastodonInstance(url=item)
            base = inst.url.rstrip("/")
            host = urlsplit(base).netloc.lower()
            token = inst.access_token.resolve(self.base_dir) if inst.access_token else None
            if token is not None:
                self.redact(token.get_secret_value())
            self.instances.append((host, base, token))

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        cursor = cursor if isinstance(cursor, dict) else {}
        per_instance = as_dict(cursor.get("instances"))
        seen = SeenWindow(cursor.get("seen") or [], max_entries=self.options.seen_window)
        posts: list[Post] = []
        errors: list[ItemError] = []
        new_instances: dict[str, Any] = {}
        failures: list[FeedError] = []
        for host, base, token in self.instances:
            state = as_dict(per_instance.get(host))
            min_id = as_str(state.get("min_id"))
            try:
                statuses, new_min_id = self._fetch_instance(base, token, min_id)
            except FeedError as exc:
                # one unreachable instance must not starve the others; its cursor stays put
                failures.append(exc)
                errors.append(self.error(f"instance {host} failed: {exc.message}"))
                if min_id:
                    new_instances[host] = {"min_id": min_id}
                continue
            if new_min_id:
                new_instances[host] = {"min_id": new_min_id}
            for status in statuses:
                item = self._status_to_post(status, host)
                if item is None:
                    continue
                if isinstance(item, ItemError):
                    errors.append(item)
                    continue
                if item.native_id in seen:
                    continue
                seen.add(item.native_id)
                posts.append(item)
        if failures and len(failures) == len(self.instances):
            waits = [f.retry_after for f in failures if f.retry_after is not None]
            raise self.fail("; ".join(f.message for f in failures), retry_after=max(waits) if waits else None)
        return PollResult(posts, {"instances": new_instances, "seen": seen.to_list()}, errors)

    def _fetch_instance(
        self, base: str, token: SecretStr | None, min_id: str | None
    ) -> tuple[list[Any], str | None]:
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        if self.options.hashtag is not None:
            url = f"{base}/api/v1/timelines/tag/{quote(self.options.hashtag.lstrip('#'), safe='')}"
            params: dict[str, str] = {"limit": str(self.options.limit)}
            if self.options.local:
                params["local"] = "true"
        else:
            assert self.options.query is not None
            url = f"{base}/api/v2/search"
            params = {"q": self.options.query, "type": "statuses", "limit": str(self.options.limit),
                      "resolve": "false"}
        statuses: list[Any] = []
        newest = min_id
        next_url: str | None = url
        page_params: dict[str, str] | None = dict(params, min_id=min_id) if min_id else params
        for _ in range(self.options.max_pages):
            assert next_url is not None
            data, resp = self.request_json("GET", next_url, params=page_params, headers=headers)
            page = data.get("statuses") if self.options.query is not None and isinstance(data, dict) else data
            if not isinstance(page, list):
                raise self.fail(f"{urlsplit(url).netloc}: expected a list of statuses")
            statuses.extend(page)
            for status in page:
                sid = as_str(status.get("id")) if isinstance(status, dict) else None
                if sid and _id_greater(sid, newest):
                    newest = sid
            if min_id is None or len(page) < self.options.limit or newest is None:
                break  # first poll: the newest page is backfill enough; or we caught up
            prev = parse_link_header(resp.headers.get("link")).get("prev")
            if prev and parse_qs(urlsplit(prev).query).get("min_id"):
                next_url, page_params = prev, None
            else:
                next_url, page_params = url, dict(params, min_id=newest)
        return statuses, newest

    def _status_to_post(self, status: Any, host: str) -> Post | ItemError | None:
        if not isinstance(status, dict):
            return self.error(f"{host}: status is not an object", raw=raw_json(status))
        if status.get("reblog"):
            return None  # a boost: the original is what mentions the brand
        uri = as_str(status.get("uri")) or (f"{host}:{status['id']}" if as_str(status.get("id")) else None)
        if not uri:
            return self.error(f"{host}: status has no uri or id", raw=raw_json(status))
        try:
            created_at = parse_timestamp(status.get("created_at"))
        except ValueError as exc:
            return self.error(f"{host}: created_at: {exc}", native_id=uri, raw=raw_json(status))
        text = html_to_text(as_str(status.get("content")))
        spoiler = as_str(status.get("spoiler_text"))
        if spoiler:
            text = f"{spoiler}\n{text}" if text else spoiler
        account = as_dict(status.get("account"))
        acct = as_str(account.get("acct"))
        if acct and "@" not in acct:
            acct = f"{acct}@{host}"  # local accounts come without their domain
        return Post(
            source="mastodon",
            native_id=uri,
            text=text,
            created_at=created_at,
            url=as_str(status.get("url")) or uri,
            author=Author(id=as_str(account.get("url")), handle=acct,
                          name=as_str(account.get("display_name")),
                          followers=as_count(account.get("followers_count")) if "followers_count" in account
                          else None),
            engagement=Engagement(likes=as_count(status.get("favourites_count")),
                                  shares=as_count(status.get("reblogs_count")),
                                  replies=as_count(status.get("replies_count"))),
            lang=as_str(status.get("language")),
        )


def _id_greater(a: str, b: str | None) -> bool:
    """Mastodon ids are numeric strings (snowflake-like) but may be any string on forks."""
    if b is None:
        return True
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return (len(a), a) > (len(b), b)
