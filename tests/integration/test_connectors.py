"""Connectors against a local HTTP server serving recorded-shape responses (no real APIs).

Each connector gets a contract scenario (the same checks for all) plus its own edge cases.
Sleeping is injected, so retries and Retry-After cost no wall time; only the timeout tests wait.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from ingest.feeds import FEEDS, build_feed
from ingest.feeds.contract import Feed, FeedError, PollResult, Post
from ingest.feeds.cursor import MAX_CURSOR_BYTES, SeenWindow
from ingest.http import HttpClient, HttpError, RetryPolicy

# The fixture server sits beside this file; importing it by path works whether or not tests/ is a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedserver import (
    FIXTURES,
    FeedServer,
    JetstreamServer,
    MastodonServer,
    Reply,
    Request,
    fixture_bytes,
    fixture_json,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
UA = "test:brandpulse:0.1 (by /u/brandpulse-tests)"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    yield srv
    srv.close()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def jetstream() -> Iterator[JetstreamServer]:
    srv = JetstreamServer((FIXTURES / "jetstream_events.jsonl").read_text(encoding="utf-8").splitlines())
    yield srv
    srv.close()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def http(sleeps: Sleeps) -> Iterator[HttpClient]:
    client = HttpClient(
        read_timeout=0.5,
        total_timeout=5.0,
        sleep=sleeps,
        now=lambda: NOW.timestamp(),
        retry=RetryPolicy(attempts=3, base_delay=0.5, max_retry_after=60),
    )
    yield client
    client.close()


class Clock:
    def __init__(self, start: datetime = NOW) -> None:
        self.t = start.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make(
    kind: str,
    options: dict[str, Any],
    *,
    base_dir: Path = FIXTURES,
    http: HttpClient | None = None,
    clock: Callable[[], float] | None = None,
    name: str | None = None,
) -> Feed:
    return build_feed(
        name or f"test-{kind}",
        kind,
        options,
        base_dir=base_dir,
        http=http,
        clock=clock or (lambda: NOW.timestamp()),
    )


def check_result(feed: Feed, result: PollResult) -> None:
    """What every poll of every connector must satisfy."""
    assert isinstance(result, PollResult)
    ids = [p.native_id for p in result.posts]
    assert len(ids) == len(set(ids)), "duplicate posts inside one poll"
    for post in result.posts:
        assert isinstance(post, Post)
        assert post.native_id and post.source
        assert post.created_at.tzinfo == UTC
        mention = post.to_mention(feed=feed.name, brand="acme", matched_brands=("acme",), fetched_at=NOW)
        assert mention.feed == feed.name
    for err in result.errors:
        assert err.feed == feed.name and err.reason
    if result.cursor is not None:
        encoded = json.dumps(result.cursor)
        assert len(encoded.encode()) <= MAX_CURSOR_BYTES
        assert json.loads(encoded) == result.cursor


# =================================================================================================
# contract: the same checks for every connector
# =================================================================================================


@dataclass
class Scenario:
    """How to point a connector at the local servers: a good source and a broken one."""

    options: Callable[[Ctx], dict[str, Any]]
    serve_good: Callable[[Ctx], None]
    serve_broken: Callable[[Ctx], None] | None  # malformed body -> FeedError (None: not HTTP-polled)
    min_posts: int
    push: bool = False  # push sources: the test delivers posts, then polls until they arrive
    deliver: Callable[[Feed, Ctx], None] | None = None


@dataclass
class Ctx:
    srv: FeedServer
    tmp: Path
    ws: JetstreamServer | None = None


SCENARIOS: dict[str, Scenario] = {}


def _route_paged(srv: FeedServer, path: str, param: str, pages: dict[str | None, Reply]) -> None:
    srv.route(path, lambda req: pages.get(req.arg(param), Reply(body={"error": "unknown page"}, status=400)))


def _truncated_json(ctx: Ctx, path: str) -> None:
    ctx.srv.route(path, Reply(body=b'{"kind": "Listing", "data": {"children": [{"kind": "t3", "da'))


SCENARIOS["replay"] = Scenario(lambda ctx: {"path": "replay.jsonl"}, lambda ctx: None, None, min_posts=6)
SCENARIOS["rss"] = Scenario(
    options=lambda ctx: {"url": ctx.srv.url("/alerts/feed.xml")},
    serve_good=lambda ctx: ctx.srv.route(
        "/alerts/feed.xml", Reply(body=fixture_bytes("google_alerts.atom.xml"), content_type=ATOM)
    ),
    serve_broken=lambda ctx: ctx.srv.route("/alerts/feed.xml", Reply(body=b"<<<not xml", content_type=ATOM)),
    min_posts=3,
)
SCENARIOS["reddit"] = Scenario(
    options=lambda ctx: {"query": "acme", "base_url": ctx.srv.url(""), "user_agent": UA},
    serve_good=lambda ctx: _route_paged(
        ctx.srv,
        "/search.json",
        "after",
        {
            None: Reply(body=fixture_json("reddit_search_page1.json")),
            "t3_1b9vv01": Reply(body=fixture_json("reddit_search_page2.json")),
        },
    ),
    serve_broken=lambda ctx: _truncated_json(ctx, "/search.json"),
    min_posts=3,
)
SCENARIOS["mastodon"] = Scenario(
    options=lambda ctx: {
        "instances": [ctx.srv.url(""), f"http://localhost:{ctx.srv.port}"],
        "hashtag": "acme",
    },
    serve_good=lambda ctx: ctx.srv.route(
        "/api/v1/timelines/tag/acme",
        lambda req: Reply(
            body=[]
            if req.arg("min_id")
            else fixture_json(
                "mastodon_tag_a.json" if req.headers["host"].startswith("127.") else "mastodon_tag_b.json"
            )
        ),
    ),
    serve_broken=lambda ctx: _truncated_json(ctx, "/api/v1/timelines/tag/acme"),
    min_posts=4,
)


def _bsky_opts(ctx: Ctx) -> dict[str, Any]:
    (ctx.tmp / "bsky.pw").write_text("abcd-efgh-ijkl-mnop\n")
    return {
        "query": "acme",
        "identifier": "brandpulse.bsky.social",
        "app_password": {"file": "bsky.pw"},
        "service": ctx.srv.url(""),
    }


def _bsky_serve(ctx: Ctx) -> None:
    ctx.srv.route("/xrpc/com.atproto.server.createSession", Reply(body=fixture_json("bluesky_session.json")))
    _route_paged(
        ctx.srv,
        "/xrpc/app.bsky.feed.searchPosts",
        "cursor",
        {
            None: Reply(body=fixture_json("bluesky_search_page1.json")),
            "3": Reply(body=fixture_json("bluesky_search_page2.json")),
        },
    )


def _bsky_serve_broken(ctx: Ctx) -> None:
    _bsky_serve(ctx)  # the login works; the search answer is cut short
    _truncated_json(ctx, "/xrpc/app.bsky.feed.searchPosts")


SCENARIOS["bluesky_search"] = Scenario(
    _bsky_opts,
    _bsky_serve,
    serve_broken=lambda ctx: _bsky_serve_broken(ctx),
    min_posts=3,
)
SCENARIOS["hackernews"] = Scenario(
    options=lambda ctx: {"query": "acme", "base_url": ctx.srv.url("/api/v1")},
    serve_good=lambda ctx: ctx.srv.route(
        "/api/v1/search_by_date", Reply(body=fixture_json("hn_search_by_date.json"))
    ),
    serve_broken=lambda ctx: _truncated_json(ctx, "/api/v1/search_by_date"),
    min_posts=3,
)
VENDOR_FIELDS = {
    "id": "uid",
    "text": "body",
    "created_at": "ts",
    "url": "link",
    "author_id": "user.id",
    "author_handle": "user.screen",
    "author_name": "user.display",
    "author_followers": "user.fans",
    "author_location": "user.where",
    "likes": "stats.hearts",
    "shares": "stats.echoes",
    "lang": "language",
    "country": "cc",
    "lat": "coords[0]",
    "lon": "coords[1]",
}
SCENARIOS["json"] = Scenario(
    options=lambda ctx: {
        "url": ctx.srv.url("/v1/mentions"),
        "items_path": "data.results",
        "fields": VENDOR_FIELDS,
        "text_is_html": True,
        "cursor_param": "page_token",
        "cursor_path": "meta.next_token",
        "max_pages": 3,
        "source": "vendor",
    },
    serve_good=lambda ctx: _route_paged(
        ctx.srv,
        "/v1/mentions",
        "page_token",
        {
            None: Reply(body=fixture_json("vendor_api_page1.json")),
            "tok-2": Reply(body=fixture_json("vendor_api_page2.json")),
        },
    ),
    serve_broken=lambda ctx: _truncated_json(ctx, "/v1/mentions"),
    min_posts=3,
)


def _webhook_opts(ctx: Ctx) -> dict[str, Any]:
    (ctx.tmp / "hook.secret").write_text("hook-secret-123")
    return {"port": 0, "secret": {"file": "hook.secret"}, "auth": "token"}


def _webhook_deliver(feed: Feed, ctx: Ctx) -> None:
    host, port = feed.start()  # type: ignore[attr-defined]
    body = [json.loads(line) for line in (FIXTURES / "replay.jsonl").read_text().splitlines()[:3]]
    resp = requests.post(
        f"http://{host}:{port}/ingest",
        json=body,
        timeout=5,
        headers={"X-BrandPulse-Token": "hook-secret-123"},
    )
    assert resp.status_code == 202, resp.text


SCENARIOS["webhook"] = Scenario(
    _webhook_opts, lambda ctx: None, None, min_posts=3, push=True, deliver=_webhook_deliver
)
SCENARIOS["bluesky_jetstream"] = Scenario(
    options=lambda ctx: {"url": ctx.ws.url if ctx.ws else "", "rewind_seconds": 0, "keywords": ["acme"]},
    serve_good=lambda ctx: None,
    serve_broken=None,
    min_posts=4,
    push=True,
)


def _first_poll(feed: Feed, sc: Scenario, timeout: float = 10.0) -> PollResult:
    """Pull sources: one poll. Push sources: poll until the delivered posts have arrived."""
    if not sc.push:
        return feed.poll(None)
    deadline = time.monotonic() + timeout
    posts: list[Post] = []
    errors: list[Any] = []
    cursor: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        result = feed.poll(cursor)
        posts += result.posts
        errors += result.errors
        cursor = result.cursor if result.cursor is not None else cursor
        if len(posts) >= sc.min_posts:
            break
        time.sleep(0.05)
    return PollResult(posts, cursor, errors)


def test_every_registered_kind_has_a_contract_scenario() -> None:
    assert set(FEEDS) == set(SCENARIOS)


@pytest.fixture
def ctx(server: FeedServer, tmp_path: Path, request: pytest.FixtureRequest) -> Ctx:
    shutil.copy(FIXTURES / "replay.jsonl", tmp_path / "replay.jsonl")
    c = Ctx(server, tmp_path)
    if "kind" in request.fixturenames and request.getfixturevalue("kind") == "bluesky_jetstream":
        c.ws = request.getfixturevalue("jetstream")
    return c


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_contract_poll_resume_and_close(kind: str, ctx: Ctx, http: HttpClient) -> None:
    sc = SCENARIOS[kind]
    sc.serve_good(ctx)
    feed = make(kind, sc.options(ctx), http=http, base_dir=ctx.tmp)
    try:
        assert feed.kind == kind and isinstance(feed, Feed)
        if sc.deliver:
            sc.deliver(feed, ctx)
        first = _first_poll(feed, sc)
        check_result(feed, first)
        assert len(first.posts) >= sc.min_posts
        if sc.push:
            return  # resumption of push sources has its own tests (rewind re-sends by design)
        # the cursor from the first poll, handed to a *new* instance (a restarted worker), must
        # not yield the same posts again
        feed2 = make(kind, sc.options(ctx), http=http, base_dir=ctx.tmp)
        try:
            again = feed2.poll(first.cursor)
            check_result(feed2, again)
            assert not {p.native_id for p in first.posts} & {p.native_id for p in again.posts}
        finally:
            feed2.close()
    finally:
        feed.close()


@pytest.mark.parametrize("kind", sorted(k for k, s in SCENARIOS.items() if s.serve_broken))
def test_contract_failures_raise_feed_error_with_name(
    kind: str, ctx: Ctx, http: HttpClient, sleeps: Sleeps
) -> None:
    sc = SCENARIOS[kind]
    assert sc.serve_broken is not None
    feed = make(kind, sc.options(ctx), http=http, base_dir=ctx.tmp, name="broken-feed")
    try:
        sc.serve_broken(ctx)
        with pytest.raises(FeedError) as exc:
            feed.poll(None)
        assert exc.value.feed == "broken-feed"
        # an HTML error page served with 200 (captive portal, CDN error) on every route
        for path in list(ctx.srv.routes):
            ctx.srv.route(
                path,
                Reply(
                    body="<!DOCTYPE html><html><head><title>Service Unavailable</title>"
                    "</head><body>oops</body></html>",
                    content_type="text/html",
                ),
            )
        with pytest.raises(FeedError, match="HTML"):
            feed.poll(None)
        # persistent 5xx: retried with backoff, then one FeedError
        for path in list(ctx.srv.routes):
            ctx.srv.route(path, Reply(503, {"error": "down"}))
        sleeps.clear()
        with pytest.raises(FeedError, match="503"):
            feed.poll(None)
        assert len(sleeps) >= 2
        # 429 with a long Retry-After: not slept through, handed to the worker
        for path in list(ctx.srv.routes):
            ctx.srv.route(path, Reply(429, {"error": "slow down"}, headers={"Retry-After": "600"}))
        with pytest.raises(FeedError) as exc:
            feed.poll(None)
        assert exc.value.retry_after == 600
        # slow responses: the read timeout (0.5 s in these tests) fires, then the retries give up
        for path in list(ctx.srv.routes):
            ctx.srv.route(path, Reply(body={}, delay=0.8))
        with pytest.raises(FeedError, match="timed out"):
            feed.poll(None)
    finally:
        feed.close()


# =================================================================================================
# ingest/http.py
# =================================================================================================


def test_http_retries_429_with_retry_after_then_succeeds(
    server: FeedServer, http: HttpClient, sleeps: Sleeps
) -> None:
    server.route(
        "/x",
        Reply(429, {"e": 1}, headers={"Retry-After": "7"}),
        Reply(502, b"bad gateway", content_type="text/plain"),
        Reply(body={"ok": True}),
    )
    resp = http.get(server.url("/x"), expect="json")
    assert resp.json() == {"ok": True}
    assert sleeps[0] == 7.0  # Retry-After honoured exactly
    assert 0 <= sleeps[1] <= 1.0  # then exponential backoff with full jitter (base 0.5 * 2)
    assert len(server.hits("/x")) == 3
    assert server.hits("/x")[0].headers["user-agent"].startswith("BrandPulse/")


def test_http_retry_after_as_http_date(server: FeedServer, http: HttpClient, sleeps: Sleeps) -> None:
    server.route(
        "/x", Reply(503, b"", headers={"Retry-After": "Mon, 02 Mar 2026 12:00:20 GMT"}), Reply(body={"ok": 1})
    )
    http.get(server.url("/x"), expect="json")
    assert sleeps == [20.0]


def test_http_4xx_not_retried(server: FeedServer, http: HttpClient, sleeps: Sleeps) -> None:
    server.route("/x", Reply(403, {"error": "forbidden"}))
    with pytest.raises(HttpError) as exc:
        http.get(server.url("/x"), expect="json")
    assert exc.value.status == 403 and "forbidden" in exc.value.message
    assert sleeps == [] and len(server.hits("/x")) == 1


def test_http_slow_response_times_out(server: FeedServer, sleeps: Sleeps) -> None:
    server.route("/slow", Reply(body={"ok": 1}, delay=1.0))
    client = HttpClient(read_timeout=0.2, sleep=sleeps, retry=RetryPolicy(attempts=2))
    try:
        with pytest.raises(HttpError, match=r"timed out.*after 2 attempt"):
            client.get(server.url("/slow"), expect="json")
    finally:
        client.close()


def test_http_size_limit_declared_and_streamed(server: FeedServer, sleeps: Sleeps) -> None:
    client = HttpClient(max_bytes=1000, sleep=sleeps)
    try:
        server.route("/big", Reply(body=b"x" * 5000, content_type="text/plain"))
        with pytest.raises(HttpError, match="over the 1000-byte limit"):
            client.get(server.url("/big"))
    finally:
        client.close()


def test_http_truncated_body_is_an_error(server: FeedServer, http: HttpClient) -> None:
    server.route("/t", Reply(body={"items": list(range(200))}, truncate_to=50))
    with pytest.raises(HttpError, match="response body failed"):
        http.get(server.url("/t"), expect="json")


def test_http_charsets(server: FeedServer, http: HttpClient) -> None:
    server.route(
        "/latin1",
        Reply(body='{"t": "café"}'.encode("latin-1"), content_type="application/json; charset=iso-8859-1"),
    )
    assert http.get(server.url("/latin1"), expect="json").json() == {"t": "café"}
    server.route("/bad", Reply(body=b'{"t": "caf\xe9"}', content_type="application/json"))
    with pytest.raises(HttpError, match="not valid utf-8"):
        http.get(server.url("/bad"), expect="json").json()
    server.route("/nocodec", Reply(body=b"{}", content_type="application/json; charset=klingon"))
    with pytest.raises(HttpError, match="unknown charset"):
        http.get(server.url("/nocodec"), expect="json").json()


def test_http_content_type_checks(server: FeedServer, http: HttpClient) -> None:
    server.route("/img", Reply(body=b"\x89PNG", content_type="image/png"))
    with pytest.raises(HttpError, match="expected JSON but got content type 'image/png'"):
        http.get(server.url("/img"), expect="json")
    # a feed mislabelled as text/html is still a feed
    server.route("/feed", Reply(body=fixture_bytes("news.rss.xml"), content_type="text/html"))
    assert http.get(server.url("/feed"), expect="xml").status == 200
    server.route("/trunc-json", Reply(body=b'{"a": [1, 2'))
    with pytest.raises(HttpError, match="malformed JSON"):
        http.get(server.url("/trunc-json"), expect="json").json()


def test_http_connection_refused(sleeps: Sleeps) -> None:
    srv = FeedServer()
    url = srv.url("/gone")
    srv.close()
    client = HttpClient(sleep=sleeps, retry=RetryPolicy(attempts=2))
    try:
        with pytest.raises(HttpError, match="connection failed"):
            client.get(url)
    finally:
        client.close()
    assert len(sleeps) == 1


def test_http_rate_limit_wait_headers(server: FeedServer, http: HttpClient) -> None:
    server.route(
        "/rl",
        Reply(
            body={},
            headers={"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "42", "X-Ratelimit-Used": "100"},
        ),
    )
    assert http.get(server.url("/rl")).rate_limit_wait() == 42.0
    server.route("/ok", Reply(body={}, headers={"X-Ratelimit-Remaining": "57", "X-Ratelimit-Reset": "42"}))
    assert http.get(server.url("/ok")).rate_limit_wait() is None


# =================================================================================================
# replay
# =================================================================================================


def test_replay_reads_posts_and_reports_bad_lines(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "replay.jsonl", tmp_path / "replay.jsonl")
    feed = make("replay", {"path": "replay.jsonl"}, base_dir=tmp_path)
    result = feed.poll(None)
    feed.close()
    check_result(feed, result)
    assert [p.native_id for p in result.posts] == ["r-001", "r-002", "r-003", "r-004", "r-006", "r-008"]
    reasons = [e.reason for e in result.errors]
    assert reasons[0].startswith("line 4: malformed JSON")
    assert reasons[1] == "line 7: missing created_at"
    assert reasons[2].startswith("line 9: geo.lat")
    assert result.errors[1].native_id == "r-005" and result.errors[0].raw == b"not json at all\n"
    by_id = {p.native_id: p for p in result.posts}
    assert by_id["r-002"].text.startswith("Acme کی") and by_id["r-002"].lang == "ur"
    assert by_id["r-002"].created_at == datetime(2026, 3, 1, 5, 0, 30, tzinfo=UTC)
    assert by_id["r-003"].geo is not None and by_id["r-003"].geo.lat == 41.7151
    assert by_id["r-004"].source == "reddit"  # incident replays keep the original source (same ids)
    assert by_id["r-001"].source == "replay" and by_id["r-001"].country == "GB"
    assert by_id["r-006"].created_at == datetime(2026, 3, 1, 6, 3, tzinfo=UTC)
    assert by_id["r-006"].engagement.likes == 7 and by_id["r-006"].engagement.views == 1000
    assert by_id["r-008"].created_at.microsecond == 123456
    assert result.cursor == {"line": 10, "shift_seconds": 0.0}
    assert result.done


def test_replay_batches_resume_after_restart(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "replay.jsonl", tmp_path / "replay.jsonl")
    got: list[str] = []
    cursor: dict[str, Any] | None = None
    lines: list[int] = []
    for _ in range(10):
        # a fresh instance per poll: what a worker restart between batches looks like
        feed = make("replay", {"path": "replay.jsonl", "batch_size": 2}, base_dir=tmp_path)
        result = feed.poll(cursor)
        feed.close()
        got += [p.native_id for p in result.posts]
        assert result.cursor is not None
        cursor = result.cursor
        lines.append(cursor["line"])
        if result.done:
            break
    assert got == ["r-001", "r-002", "r-003", "r-004", "r-006", "r-008"]
    assert lines == [2, 5, 10, 10]  # the last poll only discovers EOF
    # and the same feed instance reused across polls yields the same sequence
    feed = make("replay", {"path": "replay.jsonl", "batch_size": 2}, base_dir=tmp_path)
    seq: list[str] = []
    cursor = None
    for _ in range(10):
        result = feed.poll(cursor)
        cursor = result.cursor
        seq += [p.native_id for p in result.posts]
        if result.done:
            break
    feed.close()
    assert seq == got


def test_replay_rebase_to_now_is_persisted_in_cursor(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "replay.jsonl", tmp_path / "replay.jsonl")
    clock = Clock(NOW)
    feed = make(
        "replay",
        {"path": "replay.jsonl", "rebase_to_now": True, "batch_size": 1},
        base_dir=tmp_path,
        clock=clock,
    )
    first = feed.poll(None)
    feed.close()
    newest = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # r-001 is the newest record
    assert first.cursor is not None
    assert first.cursor["shift_seconds"] == (NOW - newest).total_seconds()
    assert first.posts[0].created_at == NOW
    # resumed an hour later by a new process: the shift must not change
    clock.advance(3600)
    feed = make(
        "replay",
        {"path": "replay.jsonl", "rebase_to_now": True, "batch_size": 10},
        base_dir=tmp_path,
        clock=clock,
    )
    rest = feed.poll(first.cursor)
    feed.close()
    assert rest.cursor is not None and rest.cursor["shift_seconds"] == first.cursor["shift_seconds"]
    by_id = {p.native_id: p for p in rest.posts}
    assert by_id["r-008"].created_at == datetime(2026, 3, 1, 6, 5, 0, 123456, tzinfo=UTC) + (NOW - newest)
    assert all(p.created_at <= NOW for p in rest.posts)


def test_replay_gzip_and_loop(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "demo.jsonl.gz", "wb") as fh:
        fh.write((FIXTURES / "replay.jsonl").read_bytes())
    feed = make("replay", {"path": "demo.jsonl.gz", "batch_size": 4, "loop": True}, base_dir=tmp_path)
    ids: list[str] = []
    cursor: dict[str, Any] | None = None
    passes = set()
    for _ in range(8):
        result = feed.poll(cursor)
        assert not result.done
        cursor = result.cursor
        assert cursor is not None
        passes.add(cursor.get("pass", 0))
        ids += [p.native_id for p in result.posts]
    feed.close()
    assert ids[:6] == ["r-001", "r-002", "r-003", "r-004", "r-006", "r-008"]
    assert ids[6:12] == ids[:6]  # second pass starts from the top
    assert passes >= {0, 1}


def test_replay_speed_paces_by_created_at(tmp_path: Path) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    lines = [
        json.dumps(
            {"native_id": f"p{i}", "text": "t", "created_at": (base + timedelta(minutes=i)).isoformat()}
        )
        for i in range(4)
    ]
    (tmp_path / "paced.jsonl").write_text("\n".join(lines) + "\n")
    clock = Clock()
    feed = make("replay", {"path": "paced.jsonl", "speed": 60}, base_dir=tmp_path, clock=clock)
    r1 = feed.poll(None)
    assert [p.native_id for p in r1.posts] == ["p0"]  # a minute of replay time is a second of wall time
    assert r1.next_poll_after == pytest.approx(1.0)
    r2 = feed.poll(r1.cursor)
    assert r2.posts == [] and r2.cursor == r1.cursor
    clock.advance(2.0)
    r3 = feed.poll(r2.cursor)
    assert [p.native_id for p in r3.posts] == ["p1", "p2"]
    clock.advance(1.0)
    r4 = feed.poll(r3.cursor)
    assert [p.native_id for p in r4.posts] == ["p3"] and r4.done
    feed.close()


def test_replay_missing_file_is_feed_error(tmp_path: Path) -> None:
    feed = make("replay", {"path": "nope.jsonl"}, base_dir=tmp_path, name="demo")
    with pytest.raises(FeedError) as exc:
        feed.poll(None)
    assert exc.value.feed == "demo" and "nope.jsonl" in exc.value.message


def test_replay_non_utf8_and_oversized_lines(tmp_path: Path) -> None:
    good = json.dumps({"native_id": "ok", "text": "fine", "created_at": "2026-03-01T00:00:00Z"})
    huge = json.dumps({"native_id": "huge", "text": "x" * 1_100_000, "created_at": "2026-03-01T00:00:00Z"})
    big_text = json.dumps({"native_id": "big", "text": "y" * 150_000, "created_at": "2026-03-01T00:00:00Z"})
    (tmp_path / "odd.jsonl").write_bytes(
        b'{"native_id": "l1", "text": "caf\xe9"}\n'
        + huge.encode()
        + b"\n"
        + big_text.encode()
        + b"\n"
        + good.encode()
        + b"\n"
    )
    feed = make("replay", {"path": "odd.jsonl"}, base_dir=tmp_path)
    result = feed.poll(None)
    feed.close()
    assert [p.native_id for p in result.posts] == ["big", "ok"]
    assert len(result.posts[0].text) == 100_000  # capped at the schema limit, not dropped
    assert result.errors[0].reason == "line 1: invalid UTF-8 at byte 32"
    assert result.errors[1].reason.startswith("line 2: record is over")
    assert result.cursor == {"line": 4, "shift_seconds": 0.0}


# =================================================================================================
# rss
# =================================================================================================


def test_rss_google_alerts(server: FeedServer, http: HttpClient) -> None:
    server.route("/alerts", Reply(body=fixture_bytes("google_alerts.atom.xml"), content_type=ATOM))
    feed = make("rss", {"url": server.url("/alerts")}, http=http)
    result = feed.poll(None)
    check_result(feed, result)
    posts = result.posts
    assert len(posts) == 3 and result.errors == []
    first = posts[0]
    assert first.native_id == "tag:google.com,2013:googlealerts/feed:11620062237183011950"
    assert first.title == "Acme recalls 40,000 kettles over overheating fears"
    assert first.url == "https://news.example.com/business/acme-kettle-recall?ref=rss"
    assert first.text.startswith("The Acme Corporation said on Monday") and "&amp;" not in first.text
    assert " & refund" in first.text
    assert first.created_at == datetime(2026, 3, 2, 9, 41, 7, tzinfo=UTC)
    assert first.author.name is None
    assert posts[1].title == "Acme کی نئی کیتلی پاکستان میں متعارف"
    assert posts[1].created_at == datetime(2026, 3, 2, 3, 15, tzinfo=UTC)  # +05:00 converted
    assert posts[2].url == "https://ge.example.ge/news/acme-tbilisi"
    assert posts[2].text == "კომპანია Acme-მა თბილისში ახალი მაღაზია გახსნა"
    feed.close()


def test_rss_conditional_get_and_seen_window(server: FeedServer, http: HttpClient) -> None:
    body = fixture_bytes("google_alerts.atom.xml")

    def respond(req: Request) -> Reply:
        if req.headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", content_type=None, headers={"ETag": '"v1"'})
        return Reply(
            body=body,
            content_type=ATOM,
            headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 10:12:33 GMT"},
        )

    server.route("/alerts", respond)
    feed = make("rss", {"url": server.url("/alerts")}, http=http)
    first = feed.poll(None)
    assert len(first.posts) == 3 and first.cursor is not None
    assert first.cursor["etag"] == '"v1"'
    assert first.cursor["last_modified"] == "Mon, 02 Mar 2026 10:12:33 GMT"
    second = feed.poll(first.cursor)
    assert second.posts == [] and second.cursor == first.cursor
    hit = server.hits("/alerts")[-1]
    assert hit.headers["if-none-match"] == '"v1"'
    assert hit.headers["if-modified-since"] == "Mon, 02 Mar 2026 10:12:33 GMT"
    # the server ignores validators and re-sends the same items: the seen window drops them
    server.route("/alerts", Reply(body=body, content_type=ATOM))
    third = feed.poll(first.cursor)
    assert third.posts == [] and third.errors == []
    assert third.cursor is not None and "etag" not in third.cursor
    feed.close()


def test_rss_news_feed_edge_cases(server: FeedServer, http: HttpClient) -> None:
    server.route("/news", Reply(body=fixture_bytes("news.rss.xml"), content_type=RSS))
    feed = make("rss", {"url": server.url("/news")}, http=http)
    result = feed.poll(None)
    check_result(feed, result)
    by_title = {p.title: p for p in result.posts}
    assert len(result.posts) == 4  # the in-page duplicate is dropped
    madrid = by_title["Acme abre su primera tienda en Madrid"]
    assert madrid.native_id == "noticias-2026-0001"
    # content:encoded preferred over the teaser; scripts and tags stripped
    assert (
        madrid.text == "La empresa Acme inauguró el lunes su primera tienda en Madrid.\n"
        "Los clientes hicieron cola desde las 7 h."
    )
    assert madrid.created_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert madrid.author.name == "María José Núñez" and madrid.lang == "es-es"
    assert by_title["شركة Acme تفتتح فرعا في دبي"].text == "افتتحت شركة Acme فرعا جديدا في دبي"
    odd = by_title["Acme: fecha en formato raro"]
    assert odd.native_id == "https://noticias.example.es/acme-fecha"  # no guid: the link
    assert odd.created_at == datetime(2026, 3, 2, 4, 15, tzinfo=UTC)
    undated = by_title["Acme sin fecha"]
    assert undated.created_at == NOW  # fetch time stands in for a missing date
    assert [e.reason for e in result.errors] == ["entry has no id, link or title"]
    feed.close()


def test_rss_local_files_and_non_utf8(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "latin1.rss.xml", tmp_path / "latin1.rss.xml")
    for url in ("latin1.rss.xml", (tmp_path / "latin1.rss.xml").as_uri()):
        feed = make("rss", {"url": url}, base_dir=tmp_path)
        result = feed.poll(None)
        feed.close()
        assert [p.title for p in result.posts] == ["Acme café réouvre à Montréal"]
        assert result.posts[0].created_at == datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # EST = -05:00
        assert result.cursor is not None and "etag" not in result.cursor
    with pytest.raises(FeedError, match="cannot read"):
        make("rss", {"url": "missing.xml"}, base_dir=tmp_path).poll(None)


def test_rss_truncated_feed_keeps_complete_entries(server: FeedServer, http: HttpClient) -> None:
    body = fixture_bytes("news.rss.xml")
    cut = body.index(b"<title>Acme: fecha") + 20
    server.route("/news", Reply(body=body[:cut], content_type=RSS))
    feed = make("rss", {"url": server.url("/news")}, http=http)
    result = feed.poll(None)
    check_result(feed, result)
    assert [p.native_id for p in result.posts] == ["noticias-2026-0001", "noticias-2026-0002"]
    assert len(result.errors) == 1 and "truncated" in result.errors[0].reason
    feed.close()


def test_rss_html_page_from_local_file_is_feed_error(tmp_path: Path) -> None:
    (tmp_path / "oops.xml").write_text("<html><body><h1>502 Bad Gateway</h1></body></html>")
    feed = make("rss", {"url": "oops.xml"}, base_dir=tmp_path, name="oops")
    with pytest.raises(FeedError, match="not an RSS or Atom document"):
        feed.poll(None)


# =================================================================================================
# reddit
# =================================================================================================


def _reddit_listing(children: list[Any], after: str | None = None) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {
            "after": after,
            "dist": len(children),
            "modhash": "",
            "geo_filter": "",
            "children": children,
            "before": None,
        },
    }


def test_reddit_search_maps_posts_and_walks_back_to_the_watermark(
    server: FeedServer, http: HttpClient
) -> None:
    page1 = fixture_json("reddit_search_page1.json")
    page2 = fixture_json("reddit_search_page2.json")
    newer = fixture_json("reddit_search_newer.json")
    server.route("/search.json", Reply(body=page1))
    feed = make("reddit", {"query": "acme", "base_url": server.url(""), "user_agent": UA}, http=http)
    first = feed.poll(None)
    check_result(feed, first)
    assert [p.native_id for p in first.posts] == ["t3_1b9xk2q", "t3_1b9wq7z", "t3_1b9vv01"]
    kettle, tetera, urdu = first.posts
    assert kettle.title == "Acme kettle died after two weeks"
    assert kettle.text.startswith("Bought the Acme K200")
    assert kettle.url == "https://www.reddit.com/r/kettles/comments/1b9xk2q/acme_kettle_died_after_two_wee/"
    assert kettle.created_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert kettle.author.handle == "kettle_guy" and kettle.author.id == "t2_1b9xk2qa"
    assert kettle.engagement.likes == 41 and kettle.engagement.replies == 17
    assert tetera.text == "La tetera de **Acme** hierve el agua en un minuto."  # selftext is markdown, kept
    assert urdu.text == "Acme کی کیتلی"  # link post without selftext: the title is the text
    assert urdu.author.handle is None and urdu.engagement.likes == 0  # [deleted], negative score
    req = server.hits("/search.json")[0]
    assert req.arg("q") == "acme" and req.arg("sort") == "new" and req.arg("limit") == "100"
    assert req.headers["user-agent"] == UA
    assert len(server.hits("/search.json")) == 1  # first poll: the newest page only
    # next poll: two new posts on top; the walk stops at the previous newest without paging on
    server.route("/search.json", lambda req: Reply(body=newer if req.arg("after") is None else page2))
    second = feed.poll(first.cursor)
    assert [p.native_id for p in second.posts] == ["t3_1ba0001", "t3_1b9zz99"]
    assert second.posts[1].text == "Acme-ის ჩაიდანი თბილისში იყიდება"
    assert len(server.hits("/search.json")) == 2
    assert second.cursor is not None and second.cursor["newest"] == "t3_1ba0001"
    feed.close()


def test_reddit_pages_back_when_more_new_posts_than_a_page(server: FeedServer, http: HttpClient) -> None:
    def t3(i: int) -> dict[str, Any]:
        return {
            "kind": "t3",
            "data": {
                "name": f"t3_p{i}",
                "id": f"p{i}",
                "title": f"Acme {i}",
                "selftext": "",
                "created_utc": 1772440000.0 + i,
                "author": "a",
                "permalink": f"/r/x/{i}/",
                "score": 1,
                "num_comments": 0,
            },
        }

    pages = {
        None: _reddit_listing([t3(i) for i in (9, 8, 7)], "t3_p7"),
        "t3_p7": _reddit_listing([t3(i) for i in (6, 5, 4)], "t3_p4"),
        "t3_p4": _reddit_listing([t3(i) for i in (3, 2, 1)], "t3_p1"),
    }
    server.route("/r/acme/new.json", lambda req: Reply(body=pages[req.arg("after")]))
    feed = make(
        "reddit",
        {"subreddit": "acme", "base_url": server.url(""), "limit": 3, "lookback_seconds": 0},
        http=http,
    )
    seen = SeenWindow(max_entries=100)
    seen.add("t3_p2")  # what the previous poll returned, as it would be in a real cursor
    cursor = {"watermark": 1772440000.0 + 2, "newest": "t3_p2", "seen": seen.to_list()}
    result = feed.poll(cursor)
    assert [p.native_id for p in result.posts] == [f"t3_p{i}" for i in (9, 8, 7, 6, 5, 4, 3)]
    assert [r.arg("after") for r in server.hits("/r/acme/new.json")] == [None, "t3_p7", "t3_p4"]
    feed.close()


def test_reddit_oauth_and_rate_limit_headers(
    server: FeedServer, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BP_REDDIT_ID", "my-client-id")
    monkeypatch.setenv("BP_REDDIT_SECRET", "my-client-secret")
    server.route(
        "/api/v1/access_token",
        Reply(body={"access_token": "tok-123", "token_type": "bearer", "expires_in": 86400, "scope": "*"}),
    )
    server.route(
        "/r/acme/new.json",
        Reply(
            body=fixture_json("reddit_search_page1.json"),
            headers={"X-Ratelimit-Used": "99", "X-Ratelimit-Remaining": "1.0", "X-Ratelimit-Reset": "42"},
        ),
    )
    feed = make(
        "reddit",
        {
            "subreddit": "acme",
            "client_id": {"env": "BP_REDDIT_ID"},
            "client_secret": {"env": "BP_REDDIT_SECRET"},
            "base_url": server.url("/www"),
            "oauth_base_url": server.url(""),
            "token_url": server.url("/api/v1/access_token"),
        },
        http=http,
    )
    result = feed.poll(None)
    assert len(result.posts) == 3
    assert result.next_poll_after == 42.0  # nearly out of quota: come back after the reset
    token_req = server.hits("/api/v1/access_token")[0]
    assert token_req.method == "POST" and token_req.body == b"grant_type=client_credentials"
    assert token_req.headers["authorization"].startswith("Basic ")
    assert server.hits("/r/acme/new.json")[0].headers["authorization"] == "bearer tok-123"
    feed.poll(result.cursor)
    assert len(server.hits("/api/v1/access_token")) == 1  # the token is reused until it expires
    # a failed token request never echoes the secret
    server.route(
        "/api/v1/access_token", Reply(401, {"message": "Unauthorized my-client-secret", "error": 401})
    )
    feed2 = make(
        "reddit",
        {
            "subreddit": "acme",
            "client_id": {"env": "BP_REDDIT_ID"},
            "client_secret": {"env": "BP_REDDIT_SECRET"},
            "token_url": server.url("/api/v1/access_token"),
        },
        http=http,
    )
    with pytest.raises(FeedError) as exc:
        feed2.poll(None)
    assert "401" in str(exc.value) and "my-client-secret" not in str(exc.value)
    feed.close()
    feed2.close()


def test_reddit_bad_items_are_item_errors(server: FeedServer, http: HttpClient) -> None:
    good = fixture_json("reddit_search_page1.json")["data"]["children"][0]
    server.route(
        "/search.json",
        Reply(
            body=_reddit_listing(
                [
                    good,
                    good,  # duplicate inside one page
                    {"kind": "t3", "data": {"name": "t3_nodate", "title": "x"}},
                    {"kind": "more", "data": {"count": 3}},
                    "garbage",
                    {
                        "kind": "t3",
                        "data": {
                            "name": "t3_big",
                            "title": "big",
                            "selftext": "é" * 200_000,
                            "created_utc": 1772440000,
                        },
                    },
                ]
            )
        ),
    )
    feed = make("reddit", {"query": "acme", "base_url": server.url("")}, http=http)
    result = feed.poll(None)
    check_result(feed, result)
    assert [p.native_id for p in result.posts] == ["t3_1b9xk2q", "t3_big"]
    assert len(result.posts[1].text) == 100_000
    assert [e.reason for e in result.errors] == [
        "item has no created_utc",
        "unexpected listing kind 'more'",
        "listing child is not an object",
    ]
    server.route("/search.json", Reply(body={"kind": "t3", "data": {}}))
    with pytest.raises(FeedError, match="not a Reddit Listing"):
        feed.poll(None)
    feed.close()


# =================================================================================================
# mastodon
# =================================================================================================


def test_mastodon_two_instances_dedup_by_uri_and_min_id_cursor(server: FeedServer, http: HttpClient) -> None:
    def timeline(req: Request) -> Reply:
        a = req.headers["host"].startswith("127.")
        if req.arg("min_id") is None:
            return Reply(body=fixture_json("mastodon_tag_a.json" if a else "mastodon_tag_b.json"))
        return Reply(body=fixture_json("mastodon_tag_a_newer.json") if a else [])

    server.route("/api/v1/timelines/tag/acme", timeline)
    feed = make(
        "mastodon",
        {"instances": [server.url(""), f"http://localhost:{server.port}"], "hashtag": "#acme", "local": True},
        http=http,
    )
    first = feed.poll(None)
    check_result(feed, first)
    uris = [p.native_id for p in first.posts]
    assert uris == [
        "https://mastodon.social/users/alice/statuses/113987654321000005",
        "https://mastodon.social/users/bilal/statuses/113987654321000004",
        "https://mastodon.social/users/lucia/statuses/113987654321000003",
        "https://fosstodon.org/users/nino/statuses/112000000000000700",
    ]  # alice's copy on B dropped
    alice, bilal, lucia, nino = first.posts
    assert alice.text == "Loving my new #acme kettle & its blue light"
    assert alice.author.handle == f"alice@127.0.0.1:{server.port}"  # local accounts get the instance host
    assert alice.engagement.likes == 11 and alice.engagement.shares == 5 and alice.engagement.replies == 2
    assert alice.url == "https://mastodon.social/@alice/113987654321000005"
    assert bilal.lang == "ur" and bilal.text == "#acme کی کیتلی بہت اچھی ہے"
    assert lucia.text == "queja\nMi tetera #acme se rompió\n¡Qué pena!"  # content warning kept as context
    assert (
        nino.author.handle == f"nino@localhost:{server.port}"
        and nino.text == "#acme-ის ჩაიდანი ძალიან კარგია"
    )
    assert first.cursor is not None
    hosts = first.cursor["instances"]
    assert hosts[f"127.0.0.1:{server.port}"] == {"min_id": "113987654321000005"}
    assert hosts[f"localhost:{server.port}"] == {"min_id": "112000000000000777"}
    req = server.hits("/api/v1/timelines/tag/acme")[0]
    assert req.arg("limit") == "40" and req.arg("local") == "true"
    second = feed.poll(first.cursor)
    assert [p.native_id.rsplit("/", 1)[-1] for p in second.posts] == [
        "113987654321000007",
        "113987654321000006",
    ]
    assert second.cursor is not None
    assert second.cursor["instances"][f"127.0.0.1:{server.port}"] == {"min_id": "113987654321000007"}
    min_ids = {
        r.headers["host"].split(":")[0]: r.arg("min_id")
        for r in server.hits("/api/v1/timelines/tag/acme")[2:]
    }
    assert min_ids == {"127.0.0.1": "113987654321000005", "localhost": "112000000000000777"}
    feed.close()


def test_mastodon_follows_link_prev_when_a_page_is_full(server: FeedServer, http: HttpClient) -> None:
    statuses = fixture_json("mastodon_tag_a.json") + fixture_json("mastodon_tag_a_newer.json")
    by_id = sorted(statuses, key=lambda s: int(s["id"]))  # oldest first

    def timeline(req: Request) -> Reply:
        min_id = int(req.arg("min_id") or 0)
        limit = int(req.arg("limit") or 40)
        page = [s for s in by_id if int(s["id"]) > min_id][:limit]  # immediately newer than min_id
        page.reverse()  # newest first, as the API presents it
        headers = {}
        if page:
            base = server.url("/api/v1/timelines/tag/acme")
            headers["Link"] = (
                f'<{base}?limit={limit}&max_id={page[-1]["id"]}>; rel="next", '
                f'<{base}?limit={limit}&min_id={page[0]["id"]}>; rel="prev"'
            )
        return Reply(body=page, headers=headers)

    server.route("/api/v1/timelines/tag/acme", timeline)
    feed = make(
        "mastodon", {"instances": [server.url("")], "hashtag": "acme", "limit": 2, "max_pages": 5}, http=http
    )
    cursor = {"instances": {f"127.0.0.1:{server.port}": {"min_id": "113987654321000002"}}}
    result = feed.poll(cursor)
    assert sorted(p.native_id[-1] for p in result.posts) == ["3", "4", "5", "6", "7"]
    # the pages after the first came from the Link header's rel="prev"
    assert [r.arg("min_id") for r in server.hits("/api/v1/timelines/tag/acme")] == [
        "113987654321000002",
        "113987654321000004",
        "113987654321000006",
    ]  # the last page was short
    assert result.cursor is not None
    assert result.cursor["instances"][f"127.0.0.1:{server.port}"]["min_id"] == "113987654321000007"
    feed.close()


def test_mastodon_search_and_one_instance_down(
    server: FeedServer, http: HttpClient, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BP_MASTO_TOKEN", "masto-token-1")

    def search(req: Request) -> Reply:
        if req.headers["host"].startswith("localhost"):
            return Reply(502, b"<html><title>502 Bad Gateway</title></html>", content_type="text/html")
        return Reply(body=fixture_json("mastodon_search.json"))

    server.route("/api/v2/search", search)
    feed = make(
        "mastodon",
        {
            "instances": [
                {"url": server.url(""), "access_token": {"env": "BP_MASTO_TOKEN"}},
                f"http://localhost:{server.port}",
            ],
            "query": "acme kettle",
        },
        http=http,
    )
    result = feed.poll(None)
    assert len(result.posts) == 2
    assert len(result.errors) == 1 and result.errors[0].reason.startswith(f"instance localhost:{server.port}")
    req = server.hits("/api/v2/search")[0]
    assert req.arg("type") == "statuses" and req.arg("q") == "acme kettle"
    assert req.headers["authorization"] == "Bearer masto-token-1"
    assert result.cursor is not None and f"localhost:{server.port}" not in result.cursor["instances"]
    feed.close()


# --- mastodon streaming (server-sent events) ---------------------------------------------------

MASTO_TOKEN = "masto-stream-token-9f3c"


def _status(n: int, text: str) -> dict[str, Any]:
    base = fixture_json("mastodon_tag_a_newer.json")[0]
    sid = str(5000 + n)
    return {**base, "id": sid, "uri": f"https://masto.example/users/ana/statuses/{sid}",
            "url": f"https://masto.example/@ana/{sid}", "content": f"<p>{text}</p>",
            "created_at": (NOW + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")}


@pytest.fixture
def masto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MastodonServer]:
    monkeypatch.setenv("BP_MASTO_STREAM_TOKEN", MASTO_TOKEN)
    srv = MastodonServer(MASTO_TOKEN, [_status(1, "#acme first")])
    yield srv
    srv.close()


def _stream_feed(srv: MastodonServer, http: HttpClient, **opts: Any) -> Any:
    return make("mastodon", {
        "instances": [{"url": srv.url, "access_token": {"env": "BP_MASTO_STREAM_TOKEN"}}],
        "hashtag": "acme", "streaming": True, "poll_fallback_seconds": 3600, **opts,
    }, http=http)


def _poll_until(feed: Any, cursor: dict[str, Any] | None, want: set[str],
                timeout: float = 10.0) -> tuple[list[str], dict[str, Any] | None]:
    """Poll like the worker does (cursor in, cursor out) until the wanted status ids arrived."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        result = feed.poll(cursor)
        check_result(feed, result)
        got += [p.native_id.rsplit("/", 1)[-1] for p in result.posts]
        cursor = result.cursor
        if want <= set(got) or time.monotonic() > deadline:
            return got, cursor
        time.sleep(0.05)


def _poll_until_gap_free(feed: Any, cursor: dict[str, Any] | None) -> dict[str, Any] | None:
    """Connected streams are trusted only after a timeline catch-up; poll until that happened."""
    deadline = time.monotonic() + 10
    while not all(r.gap_free for r in feed.streams.values()):
        assert time.monotonic() < deadline, "the stream never became gap-free"
        result = feed.poll(cursor)
        assert result.posts == []
        cursor = result.cursor
        time.sleep(0.05)
    return cursor


def test_mastodon_streaming_delivers_updates_and_min_id_fills_a_dropped_connection(
    masto: MastodonServer, http: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    feed = _stream_feed(masto, http)
    try:
        got, cursor = _poll_until(feed, None, {"5001"})  # first poll: the newest page as backfill
        assert got == ["5001"]
        masto.wait_for_stream()
        stream_req = masto.hits("/api/v1/streaming/hashtag")[0]
        assert stream_req.headers["authorization"] == f"Bearer {MASTO_TOKEN}"
        assert stream_req.arg("tag") == "acme" and stream_req.headers["accept"] == "text/event-stream"
        assert masto.hits("/api/v2/instance")  # the stream's URL was discovered, not guessed
        # connected: one catch-up from min_id makes the stream gap-free; after that, no REST
        cursor = _poll_until_gap_free(feed, cursor)
        rest_before = len(masto.hits("/api/v1/timelines/tag/acme"))
        masto.publish(_status(2, "#acme via the stream"))
        got, cursor = _poll_until(feed, cursor, {"5002"})
        assert got == ["5002"]
        assert len(masto.hits("/api/v1/timelines/tag/acme")) == rest_before  # it came over the stream
        assert cursor is not None
        host = f"127.0.0.1:{masto.port}"
        assert cursor["instances"][host] == {"min_id": "5002"}  # stream ids move the cursor once gap-free
        # the connection drops and stays down while two statuses are posted
        masto.refuse_streams = True
        masto.drop_streams()
        masto.publish(_status(3, "#acme while the stream was down"))
        masto.publish(_status(4, "#acme also missed by the stream"))
        got, cursor = _poll_until(feed, cursor, set(), timeout=0)
        assert got == [] and cursor is not None and cursor["instances"][host] == {"min_id": "5002"}
        # it reconnects by itself; the next polls read the gap from the timeline with min_id
        masto.refuse_streams = False
        masto.wait_for_stream(opened=2)
        masto.publish(_status(5, "#acme after the reconnect"))
        got, cursor = _poll_until(feed, cursor, {"5003", "5004", "5005"})
        assert sorted(got) == ["5003", "5004", "5005"]  # each once: the stream's copy is deduplicated
        catch_up = masto.hits("/api/v1/timelines/tag/acme")[rest_before:]
        assert catch_up and catch_up[0].arg("min_id") == "5002"
        assert cursor is not None and cursor["instances"][host] == {"min_id": "5005"}
    finally:
        feed.close()
    assert MASTO_TOKEN not in caplog.text


def test_mastodon_streaming_replays_what_the_worker_did_not_produce(
    masto: MastodonServer, http: HttpClient
) -> None:
    feed = _stream_feed(masto, http)
    try:
        _, cursor = _poll_until(feed, None, {"5001"})
        masto.wait_for_stream()
        cursor = _poll_until_gap_free(feed, cursor)
        masto.publish(_status(2, "#acme one"))
        got, _ = _poll_until(feed, cursor, {"5002"})
        assert got == ["5002"]
        # the worker could not produce that batch and polls again with its old cursor: the
        # status is no longer in the stream's queue, so it must come back from the timeline
        again, _ = _poll_until(feed, cursor, {"5002"})
        assert again == ["5002"]
        assert masto.hits("/api/v1/timelines/tag/acme")[-1].arg("min_id") == "5001"
    finally:
        feed.close()


def test_mastodon_streaming_ids_do_not_skip_a_catch_up_that_takes_several_polls(
    masto: MastodonServer, http: HttpClient
) -> None:
    feed = _stream_feed(masto, http, limit=2, max_pages=1)  # one page of two per poll
    try:
        _, cursor = _poll_until(feed, None, {"5001"})
        masto.wait_for_stream()
        cursor = _poll_until_gap_free(feed, cursor)
        reader = next(iter(feed.streams.values()))
        masto.refuse_streams = True
        masto.drop_streams()
        for n in range(2, 6):
            masto.publish(_status(n, f"#acme missed {n}"))
        masto.refuse_streams = False
        masto.wait_for_stream(opened=2)
        received = reader.statuses
        masto.publish(_status(6, "#acme streamed after the reconnect"))
        deadline = time.monotonic() + 5
        while reader.statuses == received and time.monotonic() < deadline:
            time.sleep(0.02)
        # the first poll after the reconnect reads only 5002-5003 and drains 5006 from the stream;
        # the cursor must stay at 5003 so that 5004-5005 are still read by the next polls
        first = feed.poll(cursor)
        assert sorted(p.native_id[-4:] for p in first.posts) == ["5002", "5003", "5006"]
        assert first.cursor is not None
        assert first.cursor["instances"][f"127.0.0.1:{masto.port}"] == {"min_id": "5003"}
        got, _ = _poll_until(feed, first.cursor, {"5004", "5005"})
        assert sorted(got) == ["5004", "5005"]
    finally:
        feed.close()


def test_mastodon_streaming_401_is_a_feed_error_without_the_token(
    masto: MastodonServer, http: HttpClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("BP_MASTO_STREAM_TOKEN", "revoked-token-77aa")
    feed = _stream_feed(masto, http, streaming_url=masto.url)
    try:
        feed.poll(None)  # the timeline is public: the first poll still works
        deadline = time.monotonic() + 10
        error: FeedError | None = None
        while error is None and time.monotonic() < deadline:
            try:
                feed.poll(None)
                time.sleep(0.05)
            except FeedError as exc:
                error = exc
        assert error is not None, "a refused token must fail the feed"
        assert error.feed == feed.name
        assert "HTTP 401" in error.message and "access token" in error.message
        assert "revoked-token-77aa" not in error.message
        assert not masto.hits("/api/v2/instance")  # streaming_url given: no discovery
        assert len(masto.hits("/api/v1/streaming/hashtag")) == 1  # no reconnect storm with a bad token
    finally:
        feed.close()
    assert "revoked-token-77aa" not in caplog.text


def test_mastodon_streaming_options_need_a_hashtag_and_tokens() -> None:
    from ingest.feeds import FeedConfigError, validate_options

    with pytest.raises(FeedConfigError, match="access_token"):
        validate_options("mastodon", {"instances": ["https://mastodon.social"], "hashtag": "acme", "streaming": True})
    with pytest.raises(FeedConfigError, match="hashtag"):
        validate_options("mastodon", {"instances": [{"url": "https://a.example", "access_token": {"env": "T"}}],
                                      "query": "acme", "streaming": True})


# =================================================================================================
# bluesky
# =================================================================================================


def _drain(
    feed: Feed, want: int, cursor: dict[str, Any] | None = None, timeout: float = 10.0
) -> tuple[list[Post], list[Any], dict[str, Any] | None]:
    posts: list[Post] = []
    errors: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = feed.poll(cursor)
        posts += result.posts
        errors += result.errors
        cursor = result.cursor if result.cursor is not None else cursor
        if len(posts) >= want:
            # one more poll settles the cursor past trailing filtered events
            time.sleep(0.2)
            result = feed.poll(cursor)
            posts += result.posts
            errors += result.errors
            cursor = result.cursor if result.cursor is not None else cursor
            break
        time.sleep(0.05)
    return posts, errors, cursor


BASE_US = 1772442000000000


def test_jetstream_events_to_posts(jetstream: JetstreamServer) -> None:
    feed = make("bluesky_jetstream", {"url": jetstream.url})
    posts, errors, cursor = _drain(feed, 4)
    feed.close()
    check_result(feed, PollResult(posts, cursor, errors))
    assert [p.native_id for p in posts] == [
        "at://did:plc:alice111/app.bsky.feed.post/3lkj0001",
        "at://did:plc:bob55555/app.bsky.feed.post/3lkj0002",
        "at://did:plc:bilal777/app.bsky.feed.post/3lkj0004",
        "at://did:plc:nino2222/app.bsky.feed.post/3lkj0005",
        "at://did:plc:lucia444/app.bsky.feed.post/3lkj0007",
    ]
    alice = posts[0]
    assert (
        alice.text == "Just got my Acme kettle"
        and alice.lang == "en"
        and alice.author.id == "did:plc:alice111"
    )
    assert alice.url == "https://bsky.app/profile/did:plc:alice111/post/3lkj0001"
    assert alice.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert posts[3].created_at == datetime.fromtimestamp((BASE_US + 7) / 1e6, tz=UTC)  # bad createdAt
    reasons = sorted(e.reason for e in errors)
    assert reasons[0].startswith("malformed Jetstream message") and reasons[1] == "post record has no text"
    assert cursor == {"time_us": BASE_US + 10}
    assert jetstream.queries[0]["wantedCollections"] == ["app.bsky.feed.post"]
    assert "cursor" not in jetstream.queries[0]


def test_jetstream_prefilter_and_resume_with_rewind(jetstream: JetstreamServer) -> None:
    feed = make(
        "bluesky_jetstream",
        {"url": jetstream.url, "keywords": ["ACME"], "langs": ["ur", "es"], "rewind_seconds": 2},
    )
    posts, _errors, cursor = _drain(feed, 2, cursor={"time_us": BASE_US + 3})
    feed.close()
    assert [p.text for p in posts] == ["ACME کی کیتلی بہت اچھی ہے", "Mi tetera acme se rompió"]
    assert jetstream.queries[0]["cursor"] == [str(BASE_US + 3 - 2_000_000)]  # rewound a little
    assert cursor == {"time_us": BASE_US + 10}


def test_jetstream_reconnects_without_duplicates(jetstream: JetstreamServer) -> None:
    jetstream.drop_after = 3  # the server hangs up after every third message
    feed = make("bluesky_jetstream", {"url": jetstream.url, "rewind_seconds": 0})
    posts, _errors, _cursor = _drain(feed, 5, timeout=15)
    connections = getattr(feed, "connections")  # noqa: B009
    feed.close()
    assert len(posts) == 5 and len({p.native_id for p in posts}) == 5
    assert connections >= 2
    # each reconnect resumes from the last event it read
    assert all("cursor" in q for q in jetstream.queries[1:])


def test_jetstream_bounded_queue_applies_backpressure(jetstream: JetstreamServer) -> None:
    feed = make("bluesky_jetstream", {"url": jetstream.url, "queue_size": 2, "max_batch": 2})
    sizes: list[int] = []
    posts: list[Post] = []
    deadline = time.monotonic() + 10
    cursor = None
    while len(posts) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
        result = feed.poll(cursor)
        cursor = result.cursor or cursor
        sizes.append(len(result.posts) + len(result.errors))
        posts += result.posts
    feed.close()
    assert len(posts) == 5  # nothing dropped
    assert max(sizes) <= 2  # the queue never held more than its bound


def test_jetstream_unreachable_is_feed_error() -> None:
    srv = FeedServer()
    url = f"ws://127.0.0.1:{srv.port}/subscribe"
    srv.close()
    feed = make("bluesky_jetstream", {"url": url, "connect_timeout": 1}, name="js")
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                feed.poll(None)
            except FeedError as exc:
                assert exc.feed == "js" and "not connected" in exc.message
                break
            time.sleep(0.05)
        else:
            pytest.fail("no FeedError while the firehose was unreachable")
    finally:
        feed.close()


def test_bluesky_search_session_paging_and_since(
    server: FeedServer, http: HttpClient, tmp_path: Path
) -> None:
    ctx = Ctx(server, tmp_path)
    _bsky_serve(ctx)
    feed = make("bluesky_search", _bsky_opts(ctx), http=http, base_dir=tmp_path)
    first = feed.poll(None)
    check_result(feed, first)
    assert [p.author.handle for p in first.posts] == [
        "alice.bsky.social",
        "nino.bsky.social",
        "omar.bsky.social",
    ]
    alice, nino, omar = first.posts
    assert alice.url == "https://bsky.app/profile/alice.bsky.social/post/3lk2aaaa5"
    assert alice.engagement.likes == 20 and alice.engagement.shares == 3 and alice.engagement.replies == 1
    assert nino.lang == "ka" and omar.text == "إبريق Acme رائع"
    assert omar.created_at == datetime(2026, 3, 2, 9, 3, 0, 500000, tzinfo=UTC)  # clock-skewed createdAt
    login = server.hits("/xrpc/com.atproto.server.createSession")[0]
    assert json.loads(login.body) == {
        "identifier": "brandpulse.bsky.social",
        "password": "abcd-efgh-ijkl-mnop",
    }
    search = server.hits("/xrpc/app.bsky.feed.searchPosts")[0]
    assert search.headers["authorization"] == "Bearer eyJhbGciOiJFUzI1NksifQ.access-1"
    assert search.arg("sort") == "latest" and search.arg("limit") == "100" and search.arg("since") is None
    assert first.cursor is not None and first.cursor["since"] == "2026-03-02T09:05:00Z"
    second = feed.poll(first.cursor)
    assert [p.native_id for p in second.posts] == ["at://did:plc:lucia444/app.bsky.feed.post/3lk2aaaa2"]
    assert [e.reason for e in second.errors] == ["post record has no text"]
    hits = server.hits("/xrpc/app.bsky.feed.searchPosts")
    assert hits[1].arg("since") == "2026-03-02T09:04:00Z"  # minus the 60 s overlap
    assert hits[2].arg("cursor") == "3"
    assert len(server.hits("/xrpc/com.atproto.server.createSession")) == 1
    feed.close()


def test_bluesky_search_relogs_in_on_expired_token(
    server: FeedServer, http: HttpClient, tmp_path: Path
) -> None:
    ctx = Ctx(server, tmp_path)
    _bsky_serve(ctx)
    feed = make("bluesky_search", _bsky_opts(ctx), http=http, base_dir=tmp_path)
    feed.poll(None)
    server.route(
        "/xrpc/app.bsky.feed.searchPosts",
        Reply(400, {"error": "ExpiredToken", "message": "Token has expired"}),
        Reply(body=fixture_json("bluesky_search_page2.json")),
    )
    result = feed.poll(None)
    assert len(result.posts) == 1
    assert getattr(feed, "sessions_created") == 2  # noqa: B009
    server.route(
        "/xrpc/com.atproto.server.createSession",
        Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}),
    )
    server.route("/xrpc/app.bsky.feed.searchPosts", Reply(401, {"error": "ExpiredToken"}))
    with pytest.raises(FeedError, match="Invalid identifier or password") as exc:
        feed.poll(None)
    assert "abcd-efgh-ijkl-mnop" not in str(exc.value)
    feed.close()


# =================================================================================================
# hacker news
# =================================================================================================


def test_hackernews_hits_and_cursor(server: FeedServer, http: HttpClient) -> None:
    server.route("/api/v1/search_by_date", Reply(body=fixture_json("hn_search_by_date.json")))
    feed = make("hackernews", {"query": "acme", "base_url": server.url("/api/v1")}, http=http)
    result = feed.poll(None)
    check_result(feed, result)
    comment, ask, story = result.posts
    assert comment.native_id == "43210009" and comment.title == "Acme recalls 40k kettles"
    assert (
        comment.text == "My Acme kettle lasted 6 years & counting.\nTheir support was great: "
        "https://acme.example/support"
    )
    assert comment.url == "https://news.ycombinator.com/item?id=43210009"
    assert ask.text == "Has anyone used the Acme API? Es muy lento en España." and ask.engagement.likes == 17
    assert story.text == "Acme recalls 40k kettles" and story.engagement.replies == 12
    assert story.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert [e.reason for e in result.errors] == ["hit has no objectID"]
    req = server.hits("/api/v1/search_by_date")[0]
    assert req.arg("tags") == "(story,comment)" and req.arg("query") == "acme"
    assert req.arg("numericFilters") == f"created_at_i>{int(NOW.timestamp()) - 24 * 3600}"
    assert result.cursor is not None and result.cursor["since"] == int(NOW.timestamp()) - 300
    again = feed.poll(result.cursor)
    assert again.posts == []
    assert (
        server.hits("/api/v1/search_by_date")[1].arg("numericFilters")
        == f"created_at_i>{int(NOW.timestamp()) - 600}"
    )
    feed.close()


class FakeAlgolia:
    """search_by_date over a synthetic index, with Algolia's 1,000-hit pagination cap."""

    def __init__(self, timestamps: list[int]) -> None:
        self.items: list[dict[str, Any]] = [
            {
                "objectID": str(i),
                "created_at_i": ts,
                "title": f"Acme {i}",
                "author": "a",
                "points": 1,
                "num_comments": 0,
                "_tags": ["story"],
            }
            for i, ts in enumerate(timestamps)
        ]

    def __call__(self, req: Request) -> Reply:
        lo, hi = -1, 2**62
        for f in (req.arg("numericFilters") or "").split(","):
            if f.startswith("created_at_i>") and not f.startswith("created_at_i>="):
                lo = int(f.split(">")[1])
            elif f.startswith("created_at_i<="):
                hi = int(f.split("<=")[1])
        matches = sorted(
            (h for h in self.items if lo < h["created_at_i"] <= hi), key=lambda h: -h["created_at_i"]
        )
        hpp, page = int(req.arg("hitsPerPage") or 20), int(req.arg("page") or 0)
        reachable = matches[:ALGOLIA_CAP]
        nb_pages = -(-len(reachable) // hpp)
        return Reply(
            body={
                "hits": reachable[page * hpp : (page + 1) * hpp],
                "nbHits": len(matches),
                "page": page,
                "nbPages": nb_pages,
                "hitsPerPage": hpp,
                "exhaustiveNbHits": True,
                "query": "acme",
            }
        )


ALGOLIA_CAP = 1000


def test_hackernews_past_the_1000_hit_cap_and_gap_resume(server: FeedServer, http: HttpClient) -> None:
    start = int(NOW.timestamp()) - 20 * 3600
    index = FakeAlgolia([start + i * 20 for i in range(2500)])  # 2,500 stories in the last 20 h
    server.route("/api/v1/search_by_date", index)
    feed = make(
        "hackernews",
        {
            "query": "acme",
            "base_url": server.url("/api/v1"),
            "hits_per_page": 500,
            "max_pages": 4,
            "lookback_seconds": 0,
        },
        http=http,
    )
    first = feed.poll(None)
    # 4 requests x 500 hits is the budget; the narrowed window re-reads its boundary hit once
    # (`<=` keeps same-second siblings), which the seen window drops
    assert len(first.posts) == 1999
    assert first.cursor is not None and "gap" in first.cursor
    second = feed.poll(first.cursor)
    ids = {p.native_id for p in first.posts} | {p.native_id for p in second.posts}
    assert len(ids) == 2500 == len(first.posts) + len(second.posts)  # gap finished, nothing twice
    assert second.cursor is not None and "gap" not in second.cursor
    filters = [r.arg("numericFilters") for r in server.hits("/api/v1/search_by_date")]
    assert any(f and "created_at_i<=" in f for f in filters[:4])  # the cap forced a narrowed window
    feed.close()


# =================================================================================================
# generic json
# =================================================================================================


def test_json_connector_field_mapping_cursor_and_secrets(
    server: FeedServer, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BP_VENDOR_KEY", "vendor-key-42")
    monkeypatch.setenv("BP_VENDOR_QKEY", "query-key-77")
    _route_paged(
        server,
        "/v1/mentions",
        "page_token",
        {
            None: Reply(body=fixture_json("vendor_api_page1.json")),
            "tok-2": Reply(body=fixture_json("vendor_api_page2.json")),
        },
    )
    opts = {
        "url": server.url("/v1/mentions"),
        "items_path": "data.results",
        "fields": VENDOR_FIELDS,
        "text_is_html": True,
        "cursor_param": "page_token",
        "cursor_path": "meta.next_token",
        "max_pages": 3,
        "source": "vendor",
        "params": {"q": "acme"},
        "secret_headers": {"Authorization": {"env": "BP_VENDOR_KEY", "prefix": "Bearer "}},
        "secret_params": {"api_key": {"env": "BP_VENDOR_QKEY"}},
    }
    feed = make("json", opts, http=http)
    result = feed.poll(None)
    check_result(feed, result)
    amira, nino, bilal = result.posts
    assert (amira.source, amira.native_id, amira.text) == ("vendor", "9001", "Acme is great")
    assert amira.created_at == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert (
        amira.author.name == "أميرة" and amira.author.followers == 1200 and amira.author.location == "Cairo"
    )
    assert amira.geo is not None and (amira.geo.lat, amira.geo.lon) == (30.04, 31.24)
    assert amira.engagement.likes == 10 and amira.engagement.shares == 2 and amira.country == "EG"
    assert nino.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC) and nino.engagement.likes == 3
    assert bilal.native_id == "9004" and bilal.lang == "ur"
    assert [e.reason for e in result.errors] == ["missing text (path 'body')"]
    assert result.cursor is not None and result.cursor["token"] == "tok-2"
    reqs = server.hits("/v1/mentions")
    assert reqs[0].headers["authorization"] == "Bearer vendor-key-42"
    assert reqs[0].arg("api_key") == "query-key-77" and reqs[0].arg("q") == "acme"
    assert reqs[1].arg("page_token") == "tok-2"
    server.route("/v1/mentions", Reply(body={"data": {"results": {"not": "a list"}}}))
    with pytest.raises(FeedError, match=r"no item list at 'data\.results'"):
        feed.poll(None)
    server.route("/v1/mentions", Reply(404, {"error": "no such key query-key-77"}))
    with pytest.raises(FeedError) as exc:
        feed.poll(None)
    assert "query-key-77" not in str(exc.value) and "***" in str(exc.value)
    feed.close()


def test_json_options_validation() -> None:
    from ingest.feeds import FeedConfigError, validate_options

    base = {"url": "https://api.example.com/x", "fields": {"id": "id", "text": "t", "created_at": "c"}}
    validate_options("json", base)
    with pytest.raises(FeedConfigError) as exc:
        validate_options("json", {**base, "cursor_param": "after"})
    assert "cursor_path" in exc.value.message
    with pytest.raises(FeedConfigError) as exc:
        validate_options("json", {**base, "fields": {"id": "a[x]", "text": "t", "created_at": "c"}})
    assert exc.value.key == "fields" and "unreadable path" in exc.value.message
    with pytest.raises(FeedConfigError) as exc:
        validate_options("json", {**base, "secret_headers": {"X-Key": {"env": "A", "file": "b"}}})
    assert exc.value.key.startswith("secret_headers.X-Key")


# =================================================================================================
# webhook
# =================================================================================================


def _hook(tmp_path: Path, **opts: Any) -> Any:
    (tmp_path / "hook.secret").write_text("hook-secret-123\n")
    feed = make("webhook", {"port": 0, "secret": {"file": "hook.secret"}, **opts}, base_dir=tmp_path)
    host, port = feed.start()  # type: ignore[attr-defined]
    assert host == "127.0.0.1"
    return feed, f"http://{host}:{port}/ingest"


def _sign(body: bytes, secret: bytes = b"hook-secret-123") -> dict[str, str]:
    """The signature and timestamp headers (brandpulse/signing.py: HMAC over "<ts>." + body)."""
    from brandpulse.signing import signed_headers

    return signed_headers(secret, body)


POSTS = [
    {"native_id": "w1", "text": "Acme کی کیتلی", "created_at": "2026-03-02T09:00:00+05:00", "lang": "ur"},
    {"native_id": "w2", "text": "Acme-ის ჩაიდანი", "created_at": 1772442000, "source": "crm"},
    {"native_id": "w3", "text": "tetera Acme", "created_at": "2026-03-02T09:00:00Z", "lang": "es"},
]


def test_webhook_hmac_accepts_posts_and_reports_bad_items(tmp_path: Path) -> None:
    feed, url = _hook(tmp_path)
    try:
        body = json.dumps([*POSTS, {"native_id": "bad", "text": "no time"}], ensure_ascii=False).encode()
        resp = requests.post(
            url,
            data=body,
            timeout=5,
            headers={"Content-Type": "application/json", **_sign(body)},
        )
        assert resp.status_code == 202
        assert resp.json() == {"accepted": 3, "rejected": [{"index": 3, "reason": "missing created_at"}]}
        single = json.dumps(POSTS[0]).encode()
        signed = _sign(single)
        resp = requests.post(
            url,
            data=single,
            timeout=5,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-BrandPulse-Timestamp": signed["X-BrandPulse-Timestamp"],
                "X-BrandPulse-Signature": signed["X-BrandPulse-Signature"][7:],
            },
        )
        assert resp.status_code == 202 and resp.json()["accepted"] == 1  # bare hex signature works too
        result = feed.poll(None)
        check_result(feed, result)
        assert result.cursor is None
        # w1 was sent twice: one poll carries it once, at its latest position
        assert [p.native_id for p in result.posts] == ["w2", "w3", "w1"]
        # the configured source, whatever the body says (w2 claims "crm")
        assert result.posts[2].source == "webhook" and result.posts[0].source == "webhook"
        assert result.posts[2].created_at == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
        assert [e.reason for e in result.errors] == ["webhook item 3: missing created_at"]
        assert feed.poll(None).posts == []
    finally:
        feed.close()


def test_webhook_rejections(tmp_path: Path) -> None:
    feed, url = _hook(tmp_path, max_body_bytes=2048)
    try:
        good = json.dumps(POSTS).encode()
        ok_headers = {"Content-Type": "application/json", **_sign(good)}

        def post(data: bytes, headers: dict[str, str]) -> requests.Response:
            return requests.post(url, data=data, headers=headers, timeout=5)

        assert post(good, {**ok_headers, **_sign(good, b"wrong")}).status_code == 401
        assert post(good, {"Content-Type": "application/json"}).status_code == 401
        assert post(good + b" ", ok_headers).status_code == 401  # signature covers the exact bytes
        r = post(good, {**ok_headers, "Content-Type": "text/plain"})
        assert r.status_code == 415 and "text/plain" in r.json()["error"]
        big = json.dumps([POSTS[0]] * 40).encode()
        r = post(big, {**ok_headers, **_sign(big)})
        assert r.status_code == 413
        bad = b'{"native_id": "x", "text": '
        r = post(bad, {**ok_headers, **_sign(bad)})
        assert r.status_code == 400 and r.json()["error"].startswith("malformed JSON")
        latin = '{"native_id": "x", "text": "café"}'.encode("latin-1")
        r = post(latin, {**ok_headers, **_sign(latin)})
        assert r.status_code == 400 and "UTF-8" in r.json()["error"]
        invalid = json.dumps([{"text": "no id"}]).encode()
        r = post(invalid, {**ok_headers, **_sign(invalid)})
        assert r.status_code == 400 and r.json()["rejected"][0]["reason"] == "missing native_id"
        assert requests.get(url, timeout=5).status_code == 405
        assert (
            requests.post(
                url.replace("/ingest", "/other"), data=good, headers=ok_headers, timeout=5
            ).status_code
            == 404
        )
        assert feed.poll(None).posts == []  # nothing leaked through any rejection
    finally:
        feed.close()


def test_webhook_token_auth_and_full_queue(tmp_path: Path) -> None:
    feed, url = _hook(tmp_path, auth="token", queue_size=3)
    try:
        headers = {"X-BrandPulse-Token": "hook-secret-123"}
        assert requests.post(url, json=POSTS[:2], headers=headers, timeout=5).status_code == 202
        r = requests.post(url, json=POSTS[:2], headers=headers, timeout=5)
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"  # all or nothing
        assert requests.post(url, json=POSTS[2], headers=headers, timeout=5).status_code == 202
        assert (
            requests.post(url, json=POSTS[:1], headers={"X-BrandPulse-Token": "nope"}, timeout=5).status_code
            == 401
        )
        assert len(feed.poll(None).posts) == 3
        assert requests.post(url, json=POSTS[:2], headers=headers, timeout=5).status_code == 202
    finally:
        feed.close()


def test_webhook_with_a_sink_answers_after_delivery_and_503_when_it_fails(tmp_path: Path) -> None:
    import threading

    feed, url = _hook(tmp_path, auth="token", queue_size=3, ack_timeout_seconds=7)
    headers = {"X-BrandPulse-Token": "hook-secret-123"}
    delivered: list[tuple[list[str], list[str], float]] = []
    release = threading.Event()
    mode = {"fail": False, "block": False}

    def sink(posts: list[Post], errors: list[Any], timeout: float) -> None:
        if mode["block"]:
            release.wait(10)
        if mode["fail"]:
            raise TimeoutError("no acks within the timeout")
        delivered.append(([p.native_id for p in posts], [e.reason for e in errors], timeout))

    feed.attach_sink(sink)
    try:
        r = requests.post(url, json=[POSTS[0], POSTS[1], POSTS[0], {"native_id": "x"}], headers=headers, timeout=5)
        assert r.status_code == 202 and r.json()["accepted"] == 3
        # delivered before the answer, deduplicated (latest copy wins), with the rejected item
        assert delivered == [(["w2", "w1"], ["webhook item 3: missing text"], 7.0)]
        assert feed.poll(None).posts == []  # nothing waits in memory
        mode["fail"] = True
        r = requests.post(url, json=POSTS[2], headers=headers, timeout=5)
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert "TimeoutError" in feed.last_delivery_error
        # posts waiting for acks are bounded by queue_size: a second request is refused meanwhile
        mode.update(fail=False, block=True)
        first: dict[str, int] = {}
        t = threading.Thread(target=lambda: first.setdefault(
            "status", requests.post(url, json=POSTS[:2], headers=headers, timeout=15).status_code))
        t.start()
        deadline = time.monotonic() + 5
        while feed._in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = requests.post(url, json=POSTS[:2], headers=headers, timeout=5)
        assert r.status_code == 503
        release.set()
        t.join(15)
        assert first["status"] == 202 and delivered[-1][0] == ["w1", "w2"]
    finally:
        release.set()
        feed.close()


def test_webhook_port_in_use_is_feed_error(tmp_path: Path) -> None:
    feed, url = _hook(tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    (tmp_path / "hook.secret").write_text("x" * 16)
    other = make(
        "webhook", {"port": port, "secret": {"file": "hook.secret"}}, base_dir=tmp_path, name="hook2"
    )
    try:
        with pytest.raises(FeedError, match="cannot listen"):
            other.poll(None)
    finally:
        other.close()
        feed.close()


def test_reddit_late_indexed_post_within_lookback_is_caught(server: FeedServer, http: HttpClient) -> None:
    page1 = fixture_json("reddit_search_page1.json")
    server.route("/search.json", Reply(body=page1))
    feed = make("reddit", {"query": "acme", "base_url": server.url(""), "lookback_seconds": 3600}, http=http)
    first = feed.poll(None)
    late = {
        "kind": "t3",
        "data": {
            "name": "t3_late",
            "title": "Acme late",
            "selftext": "surfaced late",
            "created_utc": 1772445600.0 - 1800,
            "author": "x",
            "permalink": "/r/x/late/",
        },
    }
    children = page1["data"]["children"]
    server.route("/search.json", Reply(body=_reddit_listing([children[0], late, *children[1:]])))
    second = feed.poll(first.cursor)
    assert [p.native_id for p in second.posts] == ["t3_late"]  # older than the watermark, yet new
    feed.close()


def test_jetstream_replays_when_the_worker_returns_an_older_cursor(jetstream: JetstreamServer) -> None:
    feed = make("bluesky_jetstream", {"url": jetstream.url, "rewind_seconds": 0})
    try:
        _posts, _errors, cursor = _drain(feed, 5)
        assert cursor == {"time_us": BASE_US + 10}
        # production of everything after BASE_US + 4 failed: the worker polls again from there
        again, _errors, cursor2 = _drain(feed, 3, cursor={"time_us": BASE_US + 4})
        assert [p.native_id.rsplit("/", 1)[-1] for p in again] == ["3lkj0004", "3lkj0005", "3lkj0007"]
        assert getattr(feed, "restarts") == 1  # noqa: B009
        assert jetstream.queries[-1]["cursor"] == [str(BASE_US + 4)]
        assert cursor2 == {"time_us": BASE_US + 10}
    finally:
        feed.close()
