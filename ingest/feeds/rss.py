"""RSS / Atom feeds, including Google Alerts.

Polite by default: conditional GET (ETag / Last-Modified kept in the cursor, 304 = nothing new),
and a bounded window of seen ids in the cursor because feeds routinely slide old items back in.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit
from urllib.request import url2pathname

import feedparser
import feedparser.mixin
from pydantic import Field, field_validator

from brandpulse.schema import Author
from brandpulse.text import http_url
from brandpulse.timeparse import parse_timestamp
from ingest.http import DEFAULT_MAX_BYTES, HttpError

from .cleaning import html_to_text
from .contract import MAX_AUTHOR_CHARS, FeedBase, FeedOptions, ItemError, PollResult, Post
from .cursor import SeenWindow, short_hash
from .records import as_str, raw_json

_MAX_VALIDATOR_CHARS = 512  # an ETag/Last-Modified longer than this is not worth a cursor slot
_ROOT_CLOSERS = (b"</rss>", b"</feed>", b"</rdf:rdf>", b"</rdf>")


def _bounded_author_detail(original: Any) -> Any:
    """feedparser looks for an e-mail address in every author-like element (author, dc:creator,
    managingEditor, webMaster) with a regex that is quadratic in the element's length when it
    holds no ``@``: a 10 KB author cost 0.8 s, 40 KB 11 s, in one poll. The value is cut to what
    a Post keeps of an author (MAX_AUTHOR_CHARS) before that search."""

    def sync(self: Any, key: str = "author") -> Any:
        context = self._get_context()
        value = context.get(key)
        if isinstance(value, str) and len(value) > MAX_AUTHOR_CHARS:
            context[key] = value[:MAX_AUTHOR_CHARS]
        return original(self, key)

    return sync


if not getattr(feedparser.mixin._FeedParserMixin._sync_author_detail, "_brandpulse_bounded", False):
    _sync = _bounded_author_detail(feedparser.mixin._FeedParserMixin._sync_author_detail)
    _sync._brandpulse_bounded = True
    feedparser.mixin._FeedParserMixin._sync_author_detail = _sync


class RssOptions(FeedOptions):
    url: str = Field(min_length=1, description="http(s)/file:// URL or a path (relative: to the config)")
    seen_window: int = Field(default=1000, ge=10, le=3000)
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1024, le=100 * 1024 * 1024)
    user_agent: str | None = None
    unwrap_redirects: bool = Field(default=True, description="unwrap google.com/url?url=... links")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        scheme = urlsplit(v).scheme.lower()
        if scheme not in ("", "http", "https", "file") and not re.fullmatch(r"[a-z]", scheme):
            raise ValueError(f"unsupported URL scheme {scheme!r} (use http, https, file or a path)")
        return v


class RssFeed(FeedBase):
    kind: ClassVar[str] = "rss"
    Options: ClassVar[type[FeedOptions]] = RssOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, RssOptions)
        self.options = options
        scheme = urlsplit(options.url).scheme.lower()
        self.is_http = scheme in ("http", "https")
        self.local_path: Path | None = None
        self._headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                                   "text/xml;q=0.9, */*;q=0.1"}
        if options.user_agent:
            self._headers["User-Agent"] = options.user_agent
        if scheme == "file":
            self.local_path = Path(url2pathname(unquote(urlsplit(options.url).path)))
        elif not self.is_http:
            path = Path(options.url).expanduser()
            self.local_path = path if path.is_absolute() else self.base_dir / path

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        cursor = cursor if isinstance(cursor, dict) else {}
        etag = _validator(cursor.get("etag"))
        last_modified = _validator(cursor.get("last_modified"))
        seen = SeenWindow(cursor.get("seen") or [], max_entries=self.options.seen_window)
        next_poll_after: float | None = None

        if self.is_http:
            http = self.make_http(read_timeout=self.options.timeout_seconds, max_bytes=self.options.max_bytes)
            try:
                resp = http.get(self.options.url, expect="xml", etag=etag, last_modified=last_modified,
                                headers=self._headers)
            except HttpError as exc:
                raise self.fail(exc.message, retry_after=exc.retry_after) from exc
            next_poll_after = resp.rate_limit_wait()
            if resp.not_modified:
                return PollResult([], dict(cursor), [], next_poll_after=next_poll_after)
            body = resp.body
            headers = {"content-type": resp.headers.get("content-type", "application/xml")}
            etag = _validator(resp.etag)
            last_modified = _validator(resp.last_modified)
        else:
            body = self._read_local()
            headers = {}
            etag = last_modified = None

        posts, errors = self._parse(body, headers, seen)
        new_cursor: dict[str, Any] = {"seen": seen.to_list()}
        if etag:
            new_cursor["etag"] = etag
        if last_modified:
            new_cursor["last_modified"] = last_modified
        return PollResult(posts, new_cursor, errors, next_poll_after=next_poll_after)

    def _read_local(self) -> bytes:
        assert self.local_path is not None
        try:
            with self.local_path.open("rb") as fh:
                body = fh.read(self.options.max_bytes + 1)
        except OSError as exc:
            raise self.fail(f"cannot read {self.local_path}: {exc.strerror or exc}") from exc
        if len(body) > self.options.max_bytes:
            raise self.fail(f"{self.local_path} is over the {self.options.max_bytes}-byte limit")
        return body

    def _parse(
        self, body: bytes, headers: dict[str, str], seen: SeenWindow
    ) -> tuple[list[Post], list[ItemError]]:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                                  resolve_relative_uris=False)
        entries = list(parsed.entries)
        if not entries:
            if parsed.get("bozo"):
                raise self.fail(f"unparseable feed: {_bozo_reason(parsed)}")
            if not parsed.get("version"):
                raise self.fail("not an RSS or Atom document")
            return [], []
        errors: list[ItemError] = []
        if parsed.get("bozo") and _truncated(body):
            # the lenient parser recovers a prefix; its last entry may be cut mid-way
            dropped = entries.pop()
            errors.append(self.error(f"feed body is truncated ({_bozo_reason(parsed)}); last entry skipped",
                                     native_id=as_str(dropped.get("id")),
                                     raw=_entry_raw(dropped)))
        feed_lang = as_str(parsed.feed.get("language"))
        posts: list[Post] = []
        fetched = datetime.fromtimestamp(self.clock(), tz=UTC)
        for entry in entries:
            post = self.guarded(lambda e: self._entry(e, feed_lang, fetched), entry)
            if isinstance(post, ItemError):
                errors.append(post)
                continue
            if post.native_id in seen:
                continue
            seen.add(post.native_id)
            posts.append(post)
        return posts, errors

    def _entry(self, entry: Any, feed_lang: str | None, fetched: datetime) -> Post | ItemError:
        try:
            return self._entry_to_post(entry, feed_lang, fetched)
        except ValueError as exc:
            return self.error(str(exc), native_id=as_str(entry.get("id")), raw=_entry_raw(entry))

    def _entry_to_post(self, entry: Any, feed_lang: str | None, fetched: datetime) -> Post:
        link = http_url(as_str(entry.get("link")))
        if link and self.options.unwrap_redirects:
            link = unwrap_redirect(link)
        guid = as_str(entry.get("id"))
        title = html_to_text(as_str(entry.get("title"))) or None
        content = entry.get("content") or []
        body_html = as_str(content[0].get("value")) if content and isinstance(content[0], dict) else None
        summary_html = as_str(entry.get("summary"))
        # content:encoded is the full article, description often a teaser; prefer the longer one
        html_text = max((body_html or "", summary_html or ""), key=len)
        text = html_to_text(html_text) or title or ""
        native_id = guid or link
        if not native_id:
            if not title:
                raise ValueError("entry has no id, link or title")
            native_id = "title:" + short_hash(title + "\x1f" + text)
        lang = None
        if content and isinstance(content[0], dict):
            lang = as_str(content[0].get("language"))
        lang = (lang or feed_lang or "").strip().lower() or None
        author_name = as_str(entry.get("author"))
        author = Author(name=html_to_text(author_name) or None) if author_name else Author()
        return Post(
            source="rss",
            native_id=native_id,
            text=text,
            created_at=_entry_time(entry) or fetched,
            title=title,
            url=link,
            author=author,
            lang=lang,
        )


def unwrap_redirect(url: str) -> str:
    """The real target of a google.com/url?url=...|q=... redirect (Google Alerts); else ``url``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if (host == "google.com" or host.endswith(".google.com")) and parts.path == "/url":
        query = parse_qs(parts.query)
        for key in ("url", "q"):
            target = query.get(key)
            if target and http_url(target[0]):
                return target[0]
    return url


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    for key in ("published", "updated", "created"):
        raw = as_str(entry.get(key))
        if raw:
            try:
                return parse_timestamp(raw)
            except ValueError:
                continue
    return None  # undated entries: the caller stamps the fetch time


def _validator(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_VALIDATOR_CHARS:
        return value
    return None


def _bozo_reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return str(exc)[:200] if exc is not None else "malformed XML"


def _truncated(body: bytes) -> bool:
    tail = body[-64:].strip().lower()
    return not tail.endswith(_ROOT_CLOSERS)


def _entry_raw(entry: Any) -> bytes:
    return raw_json({k: entry.get(k) for k in ("id", "title", "link", "published")})
