"""Found by the fuzz suite: feedparser's e-mail regex is quadratic in an author element's length.

Every author-like element (author, dc:creator, managingEditor, webMaster) is searched for an
e-mail address with a regex that backtracks over the whole run when there is no ``@``: on the
code before the fix a 10 KB ``<author>`` cost 0.8 s and a 40 KB one 11 s, inside one poll. The
RSS connector now cuts the value to what a Post keeps of an author before that search.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.feeds import build_feed
from ingest.feeds.cursor import SeenWindow
from tests.hostile.bounds import measure

NS = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'


def _doc(element: str, value: str) -> bytes:
    channel_level = element in ("managingEditor", "webMaster")
    inner = f"<{element}>{value}</{element}>"
    item = f"<item><guid>g1</guid><title>Acme</title>{'' if channel_level else inner}</item>"
    return (f'<?xml version="1.0"?><rss version="2.0" {NS}><channel><title>t</title>'
            f"{inner if channel_level else ''}{item}</channel></rss>").encode()


@pytest.mark.parametrize("element", ["author", "dc:creator", "managingEditor", "webMaster"])
@pytest.mark.parametrize("run", ["a" * 40_000, "a." * 20_000, "1-" * 20_000, "x" * 200_000])
def test_a_long_author_element_costs_milliseconds(element: str, run: str, tmp_path: Path) -> None:
    feed = build_feed("news", "rss", {"url": "news.xml"}, base_dir=tmp_path)
    body = _doc(element, run)
    try:
        cost = measure(lambda: feed._parse(body, {"content-type": "application/xml"},  # type: ignore[attr-defined]
                                           SeenWindow(max_entries=10)), max_seconds=0.2, max_mb=20)
        posts, errors = feed._parse(body, {}, SeenWindow(max_entries=10))  # type: ignore[attr-defined]
    finally:
        feed.close()
    print(cost)
    assert [p.native_id for p in posts] == ["g1"] and errors == []
    if element in ("author", "dc:creator"):
        assert posts[0].author.name is not None and len(posts[0].author.name) <= 512


def test_a_short_author_with_an_email_reads_as_before(tmp_path: Path) -> None:
    feed = build_feed("news", "rss", {"url": "news.xml"}, base_dir=tmp_path)
    try:
        posts, _errors = feed._parse(_doc("author", "desk@acme.example (Acme Desk)"), {},  # type: ignore[attr-defined]
                                     SeenWindow(max_entries=10))
    finally:
        feed.close()
    assert posts[0].author.name == "desk@acme.example (Acme Desk)"  # feedparser's "name (email)", unchanged
