"""Feed connectors and their registry.

The worker reads a feed entry from config, keeps the scheduling keys (name, kind, interval, jitter,
enabled) and hands everything else here as ``options``. :func:`validate_options` checks them at
config-load time (no secrets or network needed); :func:`build_feed` makes the live connector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from brandpulse.settings import first_option_error

from .base import (
    Feed,
    FeedBase,
    FeedError,
    FeedOptions,
    ItemError,
    PollResult,
    Post,
    SecretRef,
)
from .bluesky import BlueskySearchFeed, JetstreamFeed
from .hackernews import HackerNewsFeed
from .jsonapi import JsonApiFeed
from .mastodon import MastodonFeed
from .reddit import RedditFeed
from .replay import ReplayFeed
from .rss import RssFeed
from .webhook import WebhookFeed

if TYPE_CHECKING:
    from ingest.http import HttpClient

__all__ = [
    "FEED_KINDS",
    "Feed",
    "FeedConfigError",
    "FeedError",
    "ItemError",
    "PollResult",
    "Post",
    "SecretRef",
    "build_feed",
    "validate_options",
]

FEED_KINDS: dict[str, type[FeedBase]] = {
    cls.kind: cls
    for cls in (
        ReplayFeed,
        RssFeed,
        RedditFeed,
        MastodonFeed,
        JetstreamFeed,
        BlueskySearchFeed,
        HackerNewsFeed,
        JsonApiFeed,
        WebhookFeed,
    )
}


class FeedConfigError(ValueError):
    """A feed's options are wrong; ``key`` is the dotted path inside the options (e.g. ``auth.env``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


def _connector(kind: str) -> type[FeedBase]:
    try:
        return FEED_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(FEED_KINDS))
        raise FeedConfigError("kind", f"unknown feed kind {kind!r} (known: {known})") from None


def validate_options(kind: str, options: Mapping[str, Any]) -> BaseModel:
    """The connector's frozen ``Options`` model, or ``FeedConfigError`` naming the first bad key."""
    cls = _connector(kind)
    try:
        return cls.Options.model_validate(dict(options))
    except ValidationError as exc:
        key, message = first_option_error(exc, cls.Options, f"{kind} feeds")
        raise FeedConfigError(key, message) from exc


def build_feed(
    name: str,
    kind: str,
    options: Mapping[str, Any],
    *,
    base_dir: Path,
    http: HttpClient | None = None,
    clock: Callable[[], float] | None = None,
) -> Feed:
    """A ready connector. Secrets (env vars, secret files) are resolved here, not at validation.

    ``http`` and ``clock`` are for tests: a fetcher with a fake sleep, a controllable time source.
    """
    cls = _connector(kind)
    opts = validate_options(kind, options)
    assert isinstance(opts, FeedOptions)
    try:
        feed = cls(name, opts, base_dir=base_dir, http=http, clock=clock)
    except FeedConfigError:
        raise
    except ValueError as exc:  # secret resolution and similar build-time checks
        raise FeedConfigError(getattr(exc, "key", ""), str(exc)) from exc
    assert isinstance(feed, Feed)
    return feed
