"""A generic HTTP JSON poller whose field mapping lives in config.

For sources without a dedicated connector (a vendor API, an internal service): declare where the
items are, which fields hold id/text/time/..., and optionally where the response keeps a cursor
token that the next request sends back as a query parameter.

Paths use dots and indexes: ``data.items``, ``user.handle``, ``media[0].url`` (``items.0`` works too).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field, model_validator

from brandpulse.plugins import SecretRef
from brandpulse.schema import Author, Engagement, Geo
from brandpulse.timeparse import parse_timestamp

from .cleaning import html_to_text
from .contract import FeedBase, FeedOptions, ItemError, PollResult, Post
from .cursor import SeenWindow
from .records import as_count, as_str, raw_json

_PATH_TOKEN = re.compile(r"[^.\[\]]+|\[(\d+)\]")


def get_path(obj: Any, path: str) -> Any:
    """The value at a dotted/indexed path, or None when any step is missing."""
    if not path:
        return obj
    for match in _PATH_TOKEN.finditer(path):
        token = match.group(1) if match.group(1) is not None else match.group(0)
        if isinstance(obj, dict):
            obj = obj.get(token)
        elif isinstance(obj, list) and token.isdigit():
            index = int(token)
            obj = obj[index] if index < len(obj) else None
        else:
            return None
        if obj is None:
            return None
    return obj


_VALID_PATH = re.compile(r"[^.\[\]]+(\[\d+\])*(\.[^.\[\]]+(\[\d+\])*)*")


def _check_path(path: str) -> str:
    if path and not _VALID_PATH.fullmatch(path):
        raise ValueError(f"unreadable path {path!r} (use dots and [n], e.g. data.items[0].id)")
    return path


class FieldMap(FeedOptions):
    id: str
    text: str
    created_at: str
    title: str | None = None
    url: str | None = None
    author_id: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    author_followers: str | None = None
    author_location: str | None = None
    likes: str | None = None
    shares: str | None = None
    replies: str | None = None
    views: str | None = None
    lang: str | None = None
    country: str | None = None
    lat: str | None = None
    lon: str | None = None

    @model_validator(mode="after")
    def _paths(self) -> FieldMap:
        for value in self.model_dump().values():
            if value is not None:
                _check_path(value)
        return self


class HeaderSecret(SecretRef):
    prefix: str = Field(default="", description="e.g. 'Bearer ' for Authorization headers")


class JsonApiOptions(FeedOptions):
    url: str = Field(pattern=r"^https?://")
    params: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, HeaderSecret] = Field(default_factory=dict)
    secret_params: dict[str, SecretRef] = Field(default_factory=dict)
    items_path: str = Field(default="", description="where the item list is; empty = the response itself")
    fields: FieldMap
    text_is_html: bool = False
    source: str = Field(default="json", min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    cursor_param: str | None = None
    cursor_path: str | None = None
    max_pages: int = Field(default=1, ge=1, le=20)
    seen_window: int = Field(default=2000, ge=10, le=3000)
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="after")
    def _cursor_pair(self) -> JsonApiOptions:
        if (self.cursor_param is None) != (self.cursor_path is None):
            raise ValueError("cursor_param and cursor_path go together")
        _check_path(self.items_path)
        if self.cursor_path:
            _check_path(self.cursor_path)
        return self


class JsonApiFeed(FeedBase):
    kind: ClassVar[str] = "json"
    Options: ClassVar[type[FeedOptions]] = JsonApiOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, JsonApiOptions)
        self.options = options
        self._headers = dict(options.headers)
        self._params = dict(options.params)
        for header, ref in options.secret_headers.items():
            secret = ref.resolve(self.base_dir)
            self.redact(secret.get_secret_value())
            self._headers[header] = ref.prefix + secret.get_secret_value()
        for param, param_ref in options.secret_params.items():
            secret = param_ref.resolve(self.base_dir)
            self.redact(secret.get_secret_value())
            self._params[param] = secret.get_secret_value()
        self.make_http(read_timeout=options.timeout_seconds)

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        cursor = cursor if isinstance(cursor, dict) else {}
        seen = SeenWindow(cursor.get("seen") or [], max_entries=self.options.seen_window)
        token = as_str(cursor.get("token"))
        posts: list[Post] = []
        errors: list[ItemError] = []
        for _ in range(self.options.max_pages):
            params = dict(self._params)
            if token and self.options.cursor_param:
                params[self.options.cursor_param] = token
            data, _resp = self.request_json("GET", self.options.url, params=params, headers=self._headers)
            items = get_path(data, self.options.items_path)
            if not isinstance(items, list):
                where = f"at {self.options.items_path!r}" if self.options.items_path else "at the top level"
                raise self.fail(f"no item list {where} in the response")
            for raw in items:
                item = self.guarded(self._to_post, raw)
                if isinstance(item, ItemError):
                    errors.append(item)
                elif item.native_id not in seen:
                    seen.add(item.native_id)
                    posts.append(item)
            new_token = as_str(get_path(data, self.options.cursor_path)) if self.options.cursor_path else None
            if new_token is None or new_token == token or not items:
                break
            token = new_token
        new_cursor: dict[str, Any] = {"seen": seen.to_list()}
        if token:
            new_cursor["token"] = token[:2048]
        return PollResult(posts, new_cursor, errors)

    def _to_post(self, raw: Any) -> Post | ItemError:
        f = self.options.fields
        native_id = as_str(get_path(raw, f.id))
        if native_id is None:
            return self.error(f"missing id (path {f.id!r})", raw=raw_json(raw))
        text = get_path(raw, f.text)
        if not isinstance(text, str):
            return self.error(f"missing text (path {f.text!r})", native_id=native_id, raw=raw_json(raw))
        if self.options.text_is_html:
            text = html_to_text(text)
        try:
            created = parse_timestamp(get_path(raw, f.created_at))
        except ValueError as exc:
            return self.error(f"created_at (path {f.created_at!r}): {exc}", native_id=native_id,
                              raw=raw_json(raw))

        def opt(path: str | None) -> Any:
            return get_path(raw, path) if path else None

        geo = None
        lat, lon = opt(f.lat), opt(f.lon)
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                geo = Geo(lat=lat, lon=lon)
        followers = opt(f.author_followers)
        country = as_str(opt(f.country))
        title = as_str(opt(f.title))
        try:
            return Post(
                source=self.options.source,
                native_id=native_id,
                text=text,
                created_at=created,
                title=html_to_text(title) if title and self.options.text_is_html else title,
                url=as_str(opt(f.url)),
                author=Author(id=as_str(opt(f.author_id)), handle=as_str(opt(f.author_handle)),
                              name=as_str(opt(f.author_name)),
                              followers=as_count(followers) if followers is not None else None,
                              location=as_str(opt(f.author_location))),
                geo=geo,
                engagement=Engagement(likes=as_count(opt(f.likes)), shares=as_count(opt(f.shares)),
                                      replies=as_count(opt(f.replies)),
                                      views=as_count(opt(f.views)) if opt(f.views) is not None else None),
                lang=as_str(opt(f.lang)),
                country=country if country and len(country) == 2 and country.isalpha() else None,
            )
        except ValueError as exc:
            return self.error(f"unreadable item: {exc}", native_id=native_id, raw=raw_json(raw))
