"""Hostile links and oversized fields in posts from every source (issue #14, rows 11 and 7).

Before the fix, ``url: "javascript:alert(1)"`` from the webhook or the JSON poller was accepted
and indexed (Kibana renders ``url`` as a link; only RSS filtered it), and a post's title and
author fields had no length cap at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from brandpulse.schema import MAX_RECORD_BYTES, Author, Engagement
from ingest.feeds import build_feed
from ingest.feeds.contract import ItemError, Post
from ingest.feeds.cursor import SeenWindow
from ingest.feeds.records import post_from_record

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

HOSTILE_URLS = {
    "javascript:": "javascript:alert(document.cookie)",
    "JavaScript: in mixed case": "JaVaScRiPt:alert(1)",
    "javascript: after spaces": "   javascript:alert(1)",
    "data:": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:": "vbscript:msgbox(1)",
    "file:": "file:///etc/passwd",
    "scheme-relative": "//evil.example/x",
    "no host": "https://",
    "bad port": "https://acme.example:99999999/",
    "over 4096 characters": "https://acme.example/" + "a" * 5000,
}


def _webhook(url: str) -> Post | ItemError:
    return post_from_record({"native_id": "n1", "text": "acme", "created_at": "2026-03-02T09:00:00Z", "url": url},
                            default_source="crm", force_source=True)


def _replay(url: str) -> Post | ItemError:
    return post_from_record({"native_id": "n1", "text": "acme", "created_at": 1772442000, "url": url},
                            default_source="replay")


def _json_poller(url: str, tmp_path: Path) -> Post | ItemError:
    feed: Any = build_feed("vendor", "json", {"url": "https://api.example/v1", "items_path": "items",
                                              "fields": {"id": "id", "text": "t", "created_at": "c", "url": "link"}},
                           base_dir=tmp_path)
    try:
        return feed._to_post({"id": "n1", "t": "acme", "c": 1772442000, "link": url})
    finally:
        feed.close()


def _mastodon(url: str, tmp_path: Path) -> Post | ItemError:
    feed: Any = build_feed("m", "mastodon", {"instances": ["https://m.example"], "hashtag": "acme"},
                           base_dir=tmp_path)
    status = {"id": "1", "uri": "https://m.example/users/a/statuses/1", "url": url, "content": "<p>acme</p>",
              "created_at": "2026-03-02T09:00:00Z", "account": {"acct": "a"}}
    try:
        return feed._status_to_post(status, "m.example")
    finally:
        feed.close()


def _rss(url: str, tmp_path: Path) -> Post | ItemError:
    from xml.sax.saxutils import escape

    feed: Any = build_feed("news", "rss", {"url": "news.xml"}, base_dir=tmp_path)
    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>n</title><item><guid>n1</guid>'
            f"<title>acme</title><link>{escape(url)}</link></item></channel></rss>").encode()
    posts, errors = feed._parse(body, {}, SeenWindow(max_entries=10))
    return posts[0] if posts else errors[0]


SOURCES = {
    "webhook": lambda url, tmp: _webhook(url),
    "replay": lambda url, tmp: _replay(url),
    "json poller": _json_poller,
    "mastodon": _mastodon,
    "rss": _rss,
}


@pytest.mark.parametrize("source", SOURCES.values(), ids=SOURCES.keys())
@pytest.mark.parametrize("url", HOSTILE_URLS.values(), ids=HOSTILE_URLS.keys())
def test_row11_no_source_passes_a_non_http_link(source: Any, url: str, tmp_path: Path) -> None:
    post = source(url, tmp_path)
    assert isinstance(post, Post), post
    assert post.url is None, f"{post.url!r} would be rendered as a link"


@pytest.mark.parametrize("source", SOURCES.values(), ids=SOURCES.keys())
def test_row11_a_link_that_only_looks_like_the_brand_loses_its_userinfo(source: Any, tmp_path: Path) -> None:
    post = source("https://acme.com:login@evil.example/acme", tmp_path)
    assert isinstance(post, Post) and post.url == "https://evil.example/acme"
    ok = source("https://blog.acme.example/2026/03/launch?x=1#top", tmp_path)
    assert isinstance(ok, Post) and ok.url == "https://blog.acme.example/2026/03/launch?x=1#top"


def test_row7_the_largest_post_the_caps_allow_is_far_below_the_record_limit() -> None:
    # Control characters are the worst case for JSON: each one is written as \\u0001 (6 bytes).
    worst = "\x01"
    post = Post(
        source="s" * 64, native_id=worst * 4096, text=worst * 500_000, created_at=T0, title=worst * 50_000,
        url="https://acme.example/" + "a" * 4000, lang="x" * 35,
        author=Author(id=worst * 9000, handle=worst * 9000, name=worst * 9000, location=worst * 9000,
                      followers=10**40),
        engagement=Engagement(likes=10**40, shares=10**40, replies=10**40, views=10**40),
    )
    brands = tuple(f"brand-{i:03d}-" + "b" * 90 for i in range(100))
    mention = post.to_mention(feed="f" * 100, brand=brands[0], matched_brands=brands, fetched_at=T0)
    size = len(mention.to_bytes())
    assert size < MAX_RECORD_BYTES * 0.8, size
    assert post.engagement.likes == 2**63 - 1 and post.author.followers == 2**63 - 1
    json.loads(mention.to_bytes())  # and it is valid JSON


@pytest.mark.parametrize(("field", "value"), [("native_id", "x" * 5000), ("source", "s" * 65)])
def test_row7_ids_over_their_limit_are_rejected_not_cut(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        Post(**{"source": "rss", "native_id": "n1", "text": "t", "created_at": T0, field: value})  # type: ignore[arg-type]
