"""Feed connectors and their registry.

The worker reads a feed entry from config, keeps the scheduling keys (name, kind, interval, jitter,
enabled) and hands everything else here as ``options``. :func:`validate_options` checks them at
config-load time (no secrets or network needed); :func:`build_feed` makes the live connector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brandpulse.plugins import PluginOptions, Registry, SecretRef

from .bluesky import BlueskySearchFeed, JetstreamFeed
from .contract import Feed, FeedBase, FeedConfigError, FeedError, FeedOptions, ItemError, PollResult, Post
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
    "FEEDS",
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

# The registry: a new connector is one module in this package plus one entry here.
FEEDS: Registry[FeedBase] = Registry(
    "feed",
    [
        ReplayFeed,
        RssFeed,
        RedditFeed,
        MastodonFeed,
        JetstreamFeed,
        BlueskySearchFeed,
        HackerNewsFeed,
        JsonApiFeed,
        WebhookFeed,
    ],
    error=FeedConfigError,
)


def validate_options(kind: str, options: Mapping[str, Any]) -> PluginOptions:
    """The connector's frozen ``Options`` model, or ``FeedConfigError`` naming the first bad key."""
    return FEEDS.validate(kind, options)


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
    cls = FEEDS.get(kind)
    opts = FEEDS.validate(kind, options)
    assert isinstance(opts, FeedOptions)
    try:
        feed = cls(name, opts, base_dir=base_dir, http=http, clock=clock)
    except FeedConfigError:
        raise
    except ValueError as exc:  # secret resolution and similar build-time checks
        raise FeedConfigError(getattr(exc, "key", ""), str(exc)) from exc
    assert isinstance(feed, Feed)
    return feed
