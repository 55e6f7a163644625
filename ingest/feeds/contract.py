"""The connector contract: what a feed returns from one poll, what it may raise, and its base class.

A connector turns one source into brand-agnostic :class:`Post` objects. Brand matching, Kafka
production and cursor persistence belong to the worker; a connector only fetches, normalises and
reports what it could not read (:class:`ItemError`) or that the whole fetch failed (:class:`FeedError`).
Its neighbours: ``cleaning`` (HTML to text), ``cursor`` (the dedup window and the cursor bound),
``records`` (the JSON form of a Post and loose JSON access).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from brandpulse.plugins import OptionError, PluginOptions
from brandpulse.schema import MAX_TEXT_CHARS, Author, Engagement, Geo, Mention
from brandpulse.text import http_url, redact_url
from ingest.http import HttpClient, HttpError, Response

# How much of a bad item's raw bytes travel in an ItemError (enough to debug, not to flood logs).
MAX_RAW_BYTES = 4096

# Caps on every text field of a Post. Anyone can write a post, so a field without a cap is an
# unbounded cost downstream (the matcher, enrichment, the Kafka record, the index). They are far
# above anything a real source sends (Reddit titles stop at 300 characters, Mastodon display
# names at 30), so they only ever cut what an attacker made long. With them a mention record
# stays well under the broker's limit: 100k characters of text is at most ~600 KB of JSON.
MAX_TITLE_CHARS = 2_000
MAX_AUTHOR_CHARS = 512  # each of author id, handle, name, location
MAX_LANG_CHARS = 35  # the longest BCP 47 tag in practical use; a longer "language" is not one
MAX_SOURCE_CHARS = 64  # the configured `source` option's own limit
# Ids are never cut: two different long ids cut to the same prefix would overwrite each other.
MAX_NATIVE_ID_CHARS = 4_096
# Elasticsearch `long`; a larger "like count" would make the whole document unindexable.
MAX_COUNT = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")

_Item = TypeVar("_Item", bound="Post | ItemError | None")


# Shared immutable defaults (frozen pydantic models), so every Post doesn't build its own.
NO_AUTHOR = Author()
NO_ENGAGEMENT = Engagement()


@dataclass(frozen=True, slots=True)
class Post:
    """A brand-agnostic normalised item from a source.

    ``created_at`` must be timezone-aware; it is converted to UTC. Every text field is capped here
    (``text`` at the schema's limit, the others at the ``MAX_*`` above), ``url`` passes the one
    http(s) check (anything else becomes None), and counts are clamped, so that no connector can
    produce a post the schema, the broker or the index would reject, whatever its source sent.
    An id or source over its limit is a ``ValueError``: connectors report it as an ItemError.
    """

    source: str
    native_id: str
    text: str
    created_at: datetime
    title: str | None = None
    url: str | None = None
    author: Author = NO_AUTHOR
    geo: Geo | None = None
    engagement: Engagement = NO_ENGAGEMENT
    lang: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        # frozen+slots: normalising in place needs object.__setattr__
        put = object.__setattr__
        if not self.source:
            raise ValueError("post source is empty")
        if len(self.source) > MAX_SOURCE_CHARS:
            raise ValueError(f"post source is over {MAX_SOURCE_CHARS} characters")
        if not self.native_id:
            raise ValueError("post native_id is empty")
        if len(self.native_id) > MAX_NATIVE_ID_CHARS:
            raise ValueError(f"post native_id is {len(self.native_id)} characters, over {MAX_NATIVE_ID_CHARS}")
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("post created_at is not timezone-aware")
        try:
            put(self, "created_at", self.created_at.astimezone(UTC))
        except OverflowError:  # 9999-12-31T23:00-05:00 is a valid local time but not a UTC one
            raise ValueError("post created_at is out of range") from None
        for name in ("source", "native_id", "text", "title", "url", "lang", "country"):
            value = getattr(self, name)
            if value is not None and not value.isascii():
                put(self, name, _clean(value))
        put(self, "text", self.text[:MAX_TEXT_CHARS])
        if self.title is not None:
            put(self, "title", self.title[:MAX_TITLE_CHARS] or None)
        # The one http(s) link check for every source: Kibana and the alert channels render it.
        put(self, "url", http_url(self.url))
        if self.lang is not None and not 0 < len(self.lang) <= MAX_LANG_CHARS:
            put(self, "lang", None)
        if self.country is not None:
            code = self.country.upper()
            put(self, "country", code if len(code) == 2 and code.isascii() and code.isalpha() else None)
        author = _capped_author(self.author)
        if author is not self.author:
            put(self, "author", author)
        engagement = _capped_engagement(self.engagement)
        if engagement is not self.engagement:
            put(self, "engagement", engagement)

    def to_mention(
        self, *, feed: str, brand: str, matched_brands: tuple[str, ...], fetched_at: datetime
    ) -> Mention:
        """One Mention for one matched brand.

        ``country`` is not carried: Mention (schema v1) has no field for it, and extra fields are
        forbidden. Enrichment derives locations itself.
        """
        return Mention.new(
            source=self.source,
            feed=feed,
            native_id=self.native_id,
            brand=brand,
            text=self.text,
            created_at=self.created_at,
            fetched_at=fetched_at,
            matched_brands=matched_brands,
            title=self.title,
            url=self.url,
            author=self.author,
            geo=self.geo,
            engagement=self.engagement,
            lang=self.lang,
        )


def _clean(value: str) -> str:
    """Lone UTF-16 surrogates (JSON allows ``"\\ud800"``) cannot be encoded as UTF-8: one would
    make the mention's Kafka record unwritable, so each becomes U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def _capped_author(author: Author) -> Author:
    fields = {"id": author.id, "handle": author.handle, "name": author.name, "location": author.location}
    changed: dict[str, object] = {}
    for key, value in fields.items():
        if value is not None and (len(value) > MAX_AUTHOR_CHARS or not value.isascii()):
            cleaned = _clean(value[:MAX_AUTHOR_CHARS])
            if cleaned != value:
                changed[key] = cleaned or None
    if author.followers is not None and author.followers > MAX_COUNT:
        changed["followers"] = MAX_COUNT
    return author.model_copy(update=changed) if changed else author


def _capped_engagement(engagement: Engagement) -> Engagement:
    counts = {"likes": engagement.likes, "shares": engagement.shares, "replies": engagement.replies,
              "views": engagement.views}
    over = {key: MAX_COUNT for key, value in counts.items() if value is not None and value > MAX_COUNT}
    return engagement.model_copy(update=over) if over else engagement


def raw_json(obj: Any) -> bytes:
    """A bad item's bytes for its ItemError, cut to MAX_RAW_BYTES; never raises."""
    try:
        return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8", "replace")[:MAX_RAW_BYTES]
    except (TypeError, ValueError, RecursionError):
        try:
            return repr(obj).encode("utf-8", "replace")[:MAX_RAW_BYTES]
        except (ValueError, RecursionError):
            return b"<unrepresentable item>"



@dataclass(frozen=True)
class ItemError:
    """One bad item that was skipped; the worker counts and logs it."""

    feed: str
    reason: str
    native_id: str | None = None
    raw: bytes | None = None

    def __post_init__(self) -> None:
        if self.raw is not None and len(self.raw) > MAX_RAW_BYTES:
            object.__setattr__(self, "raw", self.raw[:MAX_RAW_BYTES])


@dataclass(frozen=True)
class PollResult:
    posts: list[Post]
    cursor: dict[str, Any] | None
    errors: list[ItemError] = field(default_factory=list)
    # Seconds the source asked us to wait before the next poll (Retry-After, rate-limit reset, or a
    # paced replay's next due record). None = the configured interval applies.
    next_poll_after: float | None = None
    # The source will never produce anything again (a finished, non-looping replay).
    done: bool = False


class FeedError(Exception):
    """The whole poll failed (network, 5xx after retries, malformed body, ...).

    Nothing from the failed poll is returned, so the worker keeps the previous cursor.
    """

    def __init__(self, feed: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{feed}: {message}")
        self.feed = feed
        self.message = message
        self.retry_after = retry_after


@runtime_checkable
class Feed(Protocol):
    name: str
    kind: ClassVar[str]

    def poll(self, cursor: dict[str, Any] | None) -> PollResult: ...

    def close(self) -> None: ...


# A push feed hands each request's posts (and its rejected items) to this callable, which makes
# them durable (produces them to Kafka and waits for the acks) within ``timeout`` seconds, and
# raises on any failure. The feed answers its sender only after it returned.
DeliverFn = Callable[[list[Post], list[ItemError], float], None]


@runtime_checkable
class PushFeed(Protocol):
    """A feed that receives posts (a webhook) and can deliver them synchronously to the worker."""

    def attach_sink(self, deliver: DeliverFn) -> None: ...


class FeedOptions(PluginOptions):
    """Base of every connector's ``Options``: unknown keys are config errors, not silently ignored."""


class FeedConfigError(OptionError):
    """A feed's options are wrong; ``key`` is the dotted path inside the options (e.g. ``auth.env``)."""


class FeedBase:
    """Common constructor for connectors: ``cls(name, options, base_dir=..., http=..., clock=...)``.

    ``http`` and ``clock`` exist so tests (and the worker, if it wants shared settings) can inject a
    fetcher with a fake sleep and a controllable clock; production passes neither.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[FeedOptions]]

    def __init__(
        self,
        name: str,
        options: FeedOptions,
        *,
        base_dir: Path,
        http: HttpClient | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.name = name
        self.base_dir = base_dir
        self.clock: Callable[[], float] = clock or time.time
        self._http = http
        self._owns_http = http is None
        self._secrets: list[str] = []

    def redact(self, secret: str) -> None:
        """Never let this value reach a FeedError/ItemError message (URLs in errors carry params)."""
        if len(secret) >= 4:
            self._secrets.append(secret)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact_url(text)  # a configured URL may carry user:password@

    def make_http(self, **kwargs: Any) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(now=self.clock, **kwargs)
        return self._http

    def close(self) -> None:
        if self._http is not None and self._owns_http:
            self._http.close()

    def request_json(self, method: str, url: str, **kwargs: Any) -> tuple[Any, Response]:
        """Fetch and decode JSON; any HTTP/decoding failure becomes this feed's FeedError."""
        http = self.make_http()
        try:
            if method == "GET":
                resp = http.get(url, expect="json", **kwargs)
            else:
                resp = http.post(url, **kwargs)
            return resp.json(), resp
        except HttpError as exc:
            raise self.fail(exc.message, retry_after=exc.retry_after) from exc

    def guarded(self, convert: Callable[[Any], _Item], item: Any) -> _Item | ItemError:
        """``convert(item)``, with any exception it raises reported as the item's ItemError.

        One malformed item must never fail a whole poll: the same item would come back on the
        next poll and fail it again, and the feed's cursor would never move. ``convert`` checks
        what it knows to check; this catches what nobody thought of (a ``langs`` that is a
        number, a nested list where a string was expected), with the raw item for debugging.
        """
        try:
            return convert(item)
        except Exception as exc:
            return self.error(f"unreadable item: {type(exc).__name__}: {str(exc)[:300]}", raw=raw_json(item))

    def error(self, reason: str, native_id: str | None = None, raw: bytes | None = None) -> ItemError:
        return ItemError(feed=self.name, reason=self._scrub(reason), native_id=native_id, raw=raw)

    def fail(self, message: str, *, retry_after: float | None = None) -> FeedError:
        return FeedError(self.name, self._scrub(message), retry_after=retry_after)

