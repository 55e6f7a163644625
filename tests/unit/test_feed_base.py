"""Unit tests for the connector contract and its shared helpers (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from brandpulse.plugins import SecretRef
from brandpulse.schema import MAX_TEXT_CHARS, Author, Engagement, Mention, mention_id
from ingest.feeds import FEEDS, FeedConfigError, build_feed, validate_options
from ingest.feeds.cleaning import html_to_text
from ingest.feeds.contract import FeedError, ItemError, Post
from ingest.feeds.cursor import MAX_CURSOR_BYTES, SeenWindow, check_cursor_size
from ingest.feeds.records import post_from_record, post_to_record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- Post ---------------------------------------------------------------------------------------


def test_post_normalises_to_utc_and_caps_text() -> None:
    plus5 = timezone(timedelta(hours=5))
    post = Post(
        source="rss",
        native_id="g1",
        text="x" * (MAX_TEXT_CHARS + 50),
        created_at=datetime(2026, 3, 1, 17, 0, tzinfo=plus5),
        country="pk",
    )
    assert post.created_at == T0 and post.created_at.tzinfo == UTC
    assert len(post.text) == MAX_TEXT_CHARS
    assert post.country == "PK"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"native_id": ""}, "native_id"),
        ({"source": ""}, "source"),
        ({"created_at": datetime(2026, 3, 1)}, "timezone-aware"),
    ],
)
def test_post_rejects_invalid(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"source": "rss", "native_id": "g1", "text": "t", "created_at": T0}
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Post(**base)  # type: ignore[arg-type]


def test_to_mention_derives_deterministic_id_per_brand() -> None:
    post = Post(
        source="reddit",
        native_id="t3_abc",
        text="Acme rocks",
        created_at=T0,
        title="Hi",
        url="https://example.com/x",
        author=Author(handle="bob", followers=3),
        engagement=Engagement(likes=4),
        lang="en",
        country="GB",
    )
    fetched = T0 + timedelta(minutes=1)
    m = post.to_mention(feed="r-acme", brand="acme", matched_brands=("acme", "globex"), fetched_at=fetched)
    assert isinstance(m, Mention)
    assert m.id == mention_id("reddit", "t3_abc", "acme")
    assert (
        m.id
        != post.to_mention(
            feed="r-acme", brand="globex", matched_brands=("acme", "globex"), fetched_at=fetched
        ).id
    )
    assert (m.source, m.feed, m.native_id, m.brand) == ("reddit", "r-acme", "t3_abc", "acme")
    assert m.matched_brands == ("acme", "globex")
    assert m.author.handle == "bob" and m.engagement.likes == 4 and m.lang == "en"
    assert m.created_at == T0 and m.fetched_at == fetched
    assert Mention.from_bytes(m.to_bytes()) == m


def test_item_error_truncates_raw() -> None:
    err = ItemError(feed="f", reason="bad", raw=b"x" * 100_000)
    assert err.raw is not None and len(err.raw) == 4096


def test_feed_error_carries_feed_and_retry_after() -> None:
    err = FeedError("news", "HTTP 503", retry_after=12.0)
    assert err.feed == "news" and err.retry_after == 12.0 and "news: HTTP 503" in str(err)


# --- text ---------------------------------------------------------------------------------------


def test_html_to_text() -> None:
    html = (
        "<p>Hello <b>Acme</b> &amp; co&nbsp;!</p><script>evil()</script><style>p{}</style>"
        "<p>Second<br>line</p>"
    )
    assert html_to_text(html) == "Hello Acme & co !\nSecond\nline"
    assert html_to_text(None) == ""
    assert html_to_text("plain   text") == "plain text"
    assert html_to_text("<p>اردو <a href='x'>متن</a></p>") == "اردو متن"


# --- seen window / cursor bound -----------------------------------------------------------------


def test_seen_window_is_bounded_and_ordered() -> None:
    seen = SeenWindow(max_entries=3)
    for i in range(5):
        seen.add(f"https://example.com/{i}")
    assert len(seen) == 3
    assert "https://example.com/4" in seen and "https://example.com/1" not in seen
    restored = SeenWindow(seen.to_list(), max_entries=3)
    assert "https://example.com/2" in restored
    # re-adding moves an id to the young end instead of duplicating it
    restored.add("https://example.com/2")
    restored.add("https://example.com/5")
    assert "https://example.com/2" in restored and "https://example.com/3" not in restored


def test_largest_seen_window_fits_cursor_bound() -> None:
    seen = SeenWindow(max_entries=3000)
    for i in range(5000):
        seen.add("https://example.com/a/very/long/url/" + "x" * 500 + str(i))
    check_cursor_size("f", {"seen": seen.to_list(), "etag": "e" * 512, "last_modified": "l" * 512})
    with pytest.raises(FeedError, match="over"):
        check_cursor_size("f", {"blob": "x" * MAX_CURSOR_BYTES})


# --- JSON records -------------------------------------------------------------------------------


def test_post_record_round_trip() -> None:
    post = Post(
        source="replay",
        native_id="n1",
        text="سلام",
        created_at=T0,
        title="t",
        lang="ar",
        country="AE",
        author=Author(handle="h"),
        engagement=Engagement(likes=1, views=9),
    )
    record = post_to_record(post)
    assert json.loads(json.dumps(record)) == record
    assert post_from_record(record, default_source="x") == post


def test_post_from_record_accepts_exported_mentions() -> None:
    m = Post(source="rss", native_id="g", text="t", created_at=T0).to_mention(
        feed="f", brand="acme", matched_brands=("acme",), fetched_at=T0
    )
    post = post_from_record(m.to_dict(), default_source="replay")
    assert post.source == "rss" and post.native_id == "g"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([], "expected a JSON object"),
        ({"text": "t", "created_at": "2026-03-01T00:00:00Z"}, "missing native_id"),
        ({"native_id": "a", "created_at": "2026-03-01T00:00:00Z"}, "missing text"),
        ({"native_id": "a", "text": 5, "created_at": "2026-03-01T00:00:00Z"}, "text is int"),
        ({"native_id": "a", "text": "t"}, "missing created_at"),
        ({"native_id": "a", "text": "t", "created_at": "soon"}, "created_at: unrecognised"),
        ({"native_id": "a", "text": "t", "created_at": 0, "geo": {"lat": 95, "lon": 0}}, "geo.lat"),
        ({"native_id": "a", "text": "t", "created_at": 0, "author": {"followers": -1}}, "author.followers"),
        ({"native_id": "a", "text": "t", "created_at": 0, "country": "Pakistan"}, "country"),
        ({"native_id": "a", "text": "t", "created_at": 0, "url": 3}, "url must be a string"),
    ],
)
def test_post_from_record_reasons(record: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        post_from_record(record, default_source="replay")


# --- secrets ------------------------------------------------------------------------------------


def test_secret_ref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BP_TEST_SECRET", "s3cret")
    secret = SecretRef(env="BP_TEST_SECRET").resolve(tmp_path)
    assert secret.get_secret_value() == "s3cret" and "s3cret" not in repr(secret)
    (tmp_path / "pw").write_text("from-file\n")
    assert SecretRef(file="pw").resolve(tmp_path).get_secret_value() == "from-file"
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef()
    with pytest.raises(ValueError, match="not set"):
        SecretRef(env="BP_TEST_SECRET_MISSING").resolve(tmp_path)
    with pytest.raises(ValueError, match="cannot read"):
        SecretRef(file="nope").resolve(tmp_path)


# --- registry -----------------------------------------------------------------------------------


def test_registry_kinds_have_frozen_strict_options() -> None:
    assert {"replay", "rss"} <= set(FEEDS)
    for kind, cls in FEEDS.items():
        assert cls.kind == kind
        config = cls.Options.model_config
        assert config.get("frozen") is True and config.get("extra") == "forbid", kind


def test_validate_options_errors() -> None:
    with pytest.raises(FeedConfigError) as exc:
        validate_options("twitter", {})
    assert exc.value.key == "kind" and "replay" in exc.value.message and "rss" in exc.value.message
    with pytest.raises(FeedConfigError) as exc:
        validate_options("replay", {"path": "x.jsonl", "speed": -1})
    assert exc.value.key == "speed"
    with pytest.raises(FeedConfigError) as exc:
        validate_options("rss", {"url": "https://x", "interval_seconds": 5})
    assert exc.value.key == "interval_seconds" and "unknown option" in exc.value.message
    with pytest.raises(FeedConfigError) as exc:
        validate_options("rss", {"url": "ftp://example.com/feed"})
    assert exc.value.key == "url"
    opts = validate_options("replay", {"path": "demo.jsonl"})
    assert opts.model_dump()["batch_size"] == 500


def test_build_feed_resolves_relative_paths(tmp_path: Path) -> None:
    feed = build_feed("demo", "replay", {"path": "data/demo.jsonl"}, base_dir=tmp_path)
    try:
        assert feed.name == "demo" and feed.kind == "replay"
        assert getattr(feed, "path") == tmp_path / "data" / "demo.jsonl"  # noqa: B009
    finally:
        feed.close()


def test_every_feeds_md_example_validates() -> None:
    import re

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "ingest" / "FEEDS.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    kinds = set()
    for block in blocks:
        for entry in yaml.safe_load(block):
            options = {k: v for k, v in entry.items()
                       if k not in ("name", "kind", "interval_seconds", "jitter_seconds", "enabled")}
            validate_options(entry["kind"], options)
            kinds.add(entry["kind"])
    assert kinds == set(FEEDS)  # one example per connector
