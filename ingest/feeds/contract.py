"""The connector contract: what a feed returns from one poll, what it may raise, and its base class.

A connector turns one source into brand-agnostic :class:`Post` objects. Brand matching, Kafka
production and cursor persistence belong to the worker; a connector only fetches, normalises and
reports what it could not read (:class:`ItemError`) or that the whole fetch failed (:class:`FeedError`).
Its neighbours: ``cleaning`` (HTML to text), ``cursor`` (the dedup window and the cursor bound),
``records`` (the JSON form of a Post and loose JSON access).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from brandpulse.plugins import OptionError, PluginOptions
from brandpulse.schema import MAX_TEXT_CHARS, Author, Engagement, Geo, Mention
from ingest.http import HttpClient, HttpError, Response

# How much of a bad item's raw bytes travel in an ItemError (enough to debug, not to flood logs).
MAX_RAW_BYTES = 4096


# Shared immutable defaults (frozen pydantic models), so every Post doesn't build its own.
NO_AUTHOR = Author()
NO_ENGAGEMENT = Engagement()


@dataclass(frozen=True, slots=True)
class Post:
    """A brand-agnostic normalised item from a source.

    ``created_at`` must be timezone-aware; it is converted to UTC. ``text`` is capped at the schema's
    limit here so that no connector can produce a post the schema would reject for length.
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
        if not self.source:
            raise ValueError("post source is empty")
        if not self.native_id:
            raise ValueError("post native_id is empty")
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("post created_at is not timezone-aware")
        # frozen+slots: normalising in place needs object.__setattr__
        object.__setattr__(self, "created_at", self.created_at.astimezone(UTC))
        if len(self.text) > MAX_TEXT_CHARS:
            object.__setattr__(self, "text", self.text[:MAX_TEXT_CHARS])
        if self.country is not None:
            object.__setattr__(self, "country", self.country.upper())

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
        return text

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

    def error(self, reason: str, native_id: str | None = None, raw: bytes | None = None) -> ItemError:
        return ItemError(feed=self.name, reason=self._scrub(reason), native_id=native_id, raw=raw)

    def fail(self, message: str, *, retry_after: float | None = None) -> FeedError:
        return FeedError(self.name, self._scrub(message), retry_after=retry_after)

