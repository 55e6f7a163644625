"""Hostile servers against the polite HTTP client (issue #14, rows 6, 8 and 10).

Before the fixes: row 8, a server sending one byte every 0.5 s held a request far past
``total_timeout`` (the deadline was only checked per 64 KB chunk); row 6, a 302/307/308 to another
host received the JSON poller's ``X-Api-Key`` and Bluesky's createSession password; row 10, a body
over the cap and a redirect to ``file://`` were each tried 4 times though nothing could change.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.feeds import build_feed
from ingest.feeds.contract import FeedError
from ingest.http import HttpClient, HttpError, RetryPolicy
from tests.hostile.servers import RawServer, dribble
from tests.integration.feedserver import FeedServer, Reply

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()
SECRET = "k3y-never-leaves-its-host"
PASSWORD = "app-password-for-bsky-only"


@pytest.fixture
def a() -> Iterator[FeedServer]:
    srv = FeedServer()
    yield srv
    srv.close()


@pytest.fixture
def b() -> Iterator[FeedServer]:
    srv = FeedServer()  # another port on 127.0.0.1: another origin
    yield srv
    srv.close()


def client(**kwargs: Any) -> HttpClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, base_delay=0.01))
    return HttpClient(sleep=lambda s: None, now=lambda: NOW, **kwargs)


# ---------------------------------------------------------------------- row 8: wall-clock deadline
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def _then_dribble(head: bytes, body: bytes, every: float) -> Callable[[socket.socket], None]:
    def behave(conn: socket.socket) -> None:
        conn.sendall(head)
        dribble(conn, body, every=every, for_at_most=6)  # then give up, so the old code ends too

    return behave


DRIBBLERS: dict[str, Callable[[socket.socket], None]] = {
    "body, declared length": _then_dribble(HEAD + b"Content-Length: 100000\r\n\r\n", b" " * 100_000, 0.2),
    "body until close": _then_dribble(HEAD + b"Connection: close\r\n\r\n", b" " * 100_000, 0.2),
    "chunked body": _then_dribble(HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"1\r\n \r\n" * 10_000, 0.05),
    "status line and headers": _then_dribble(b"", HEAD + b"X-Pad: " + b"a" * 60_000 + b"\r\n\r\n{}", 0.2),
}


@pytest.mark.parametrize("behaviour", DRIBBLERS.values(), ids=DRIBBLERS.keys())
def test_row8_total_timeout_is_a_real_deadline(behaviour: Callable[[socket.socket], None]) -> None:
    srv = RawServer(behaviour)
    http = client(read_timeout=1.0, total_timeout=1.5)
    try:
        started = time.monotonic()
        with pytest.raises(HttpError, match=r"longer than 1\.5s") as exc:
            http.get(srv.url("/slow"), expect="json")
        elapsed = time.monotonic() - started
    finally:
        http.close()
        srv.close()
    # the watchdog fires at 1.5 s; the rest is slack for a loaded machine (read_timeout is 1 s)
    assert elapsed < 3.0, f"held for {elapsed:.1f}s with total_timeout 1.5s"
    assert not exc.value.retryable and srv.connections == 1  # the budget is spent: not retried


def test_row8_a_fast_response_is_untouched_and_the_connection_is_reused(a: FeedServer) -> None:
    a.route("/ok", Reply(body={"ok": True}))
    http = client(total_timeout=0.5)
    try:
        for _ in range(3):
            assert http.get(a.url("/ok"), expect="json").json() == {"ok": True}
        time.sleep(0.7)  # past every attempt's deadline: no watchdog may shut a pooled connection
        assert http.get(a.url("/ok"), expect="json").json() == {"ok": True}
    finally:
        http.close()


# ---------------------------------------------------------------------- row 6: credentials and redirects
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_row6_json_poller_api_key_does_not_follow_a_cross_origin_redirect(
    status: int, a: FeedServer, b: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTILE_API_KEY", SECRET)
    a.route("/v1/mentions", Reply(status, b"", headers={"Location": b.url("/landing?page=1")}))
    b.route("/landing", Reply(body={"items": [{"id": "1", "text": "acme", "ts": 1772445600}]}))
    feed = build_feed("vendor", "json", {
        "url": a.url("/v1/mentions"), "items_path": "items",
        "fields": {"id": "id", "text": "text", "created_at": "ts"},
        "headers": {"Accept": "application/json", "X-Trace": "t-1"},
        "secret_headers": {"X-Api-Key": {"env": "HOSTILE_API_KEY"},
                           "Authorization": {"env": "HOSTILE_API_KEY", "prefix": "Bearer "}},
        "secret_params": {"api_key": {"env": "HOSTILE_API_KEY"}},
    }, base_dir=tmp_path, http=client())
    try:
        result = feed.poll(None)
    finally:
        feed.close()
    assert [p.native_id for p in result.posts] == ["1"]  # the redirect is still followed ...
    sent = a.hits("/v1/mentions")[0]
    assert sent.headers["x-api-key"] == SECRET and sent.arg("api_key") == SECRET
    landed = b.hits("/landing")[0]
    # ... but nothing secret goes with it: not the key header, not the bearer, not the query secret
    assert SECRET not in repr(landed), landed
    assert landed.headers["accept"] == "application/json" and "x-trace" not in landed.headers


def test_row6_same_origin_redirect_keeps_the_headers(a: FeedServer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTILE_API_KEY", SECRET)
    a.route("/old", Reply(308, b"", headers={"Location": "/new"}))
    a.route("/new", Reply(body={"items": []}))
    feed = build_feed("vendor", "json", {"url": a.url("/old"), "items_path": "items",
                                         "fields": {"id": "id", "text": "t", "created_at": "c"},
                                         "secret_headers": {"X-Api-Key": {"env": "HOSTILE_API_KEY"}}},
                      base_dir=tmp_path, http=client())
    try:
        feed.poll(None)
    finally:
        feed.close()
    assert a.hits("/new")[0].headers["x-api-key"] == SECRET


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_row6_bluesky_login_post_follows_no_redirect(status: int, a: FeedServer, b: FeedServer,
                                                     tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    a.route("/xrpc/com.atproto.server.createSession",
            Reply(status, b"", headers={"Location": b.url("/xrpc/com.atproto.server.createSession")}))
    b.route("/xrpc/com.atproto.server.createSession", Reply(body={"accessJwt": "jwt"}))
    feed = build_feed("bsky", "bluesky_search", {"query": "acme", "identifier": "me.bsky.social",
                                                 "app_password": {"file": "pw"}, "service": a.url("")},
                      base_dir=tmp_path, http=client())
    try:
        with pytest.raises(FeedError, match=f"HTTP {status} redirect of a POST .* not followed"):
            feed.poll(None)
    finally:
        feed.close()
    assert PASSWORD in a.hits("/xrpc/com.atproto.server.createSession")[0].body.decode()
    assert b.requests == []  # the password went to the configured service only


def test_row6_reddit_token_post_with_basic_auth_follows_no_redirect(a: FeedServer, b: FeedServer,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "id").write_text("client-id")
    (tmp_path / "secret").write_text(SECRET)
    a.route("/api/v1/access_token", Reply(307, b"", headers={"Location": b.url("/steal")}))
    feed = build_feed("r", "reddit", {"query": "acme", "client_id": {"file": "id"},
                                      "client_secret": {"file": "secret"},
                                      "token_url": a.url("/api/v1/access_token")},
                      base_dir=tmp_path, http=client())
    try:
        with pytest.raises(FeedError, match="not followed"):
            feed.poll(None)
    finally:
        feed.close()
    assert b.requests == []


# ---------------------------------------------------------------------- row 10: permanent errors
def _overflow(conn: socket.socket) -> None:
    conn.sendall(HEAD + b"Connection: close\r\n\r\n" + b"[" + b"0," * 3000 + b"0]")


PERMANENT: dict[str, tuple[Reply | None, str]] = {
    "declared body over the cap": (Reply(body=b"x" * 5000, content_type="text/plain"), "over the 1000-byte limit"),
    "streamed body over the cap": (None, "exceeded the 1000-byte limit"),
    "redirect to file://": (Reply(302, b"", headers={"Location": "file:///etc/passwd"}), r"non-http\(s\) URL \(file:\)"),
    "redirect to javascript:": (Reply(301, b"", headers={"Location": "javascript:alert(1)"}), "non-http"),
    "redirect loop": (Reply(302, b"", headers={"Location": "/x"}), "more than 5 redirects"),
    "404": (Reply(404, {"error": "gone"}), "HTTP 404"),
    "401": (Reply(401, {"error": "no"}), "HTTP 401"),
    "451": (Reply(451, {"error": "legal"}), "HTTP 451"),
}


@pytest.mark.parametrize(("reply", "message"), PERMANENT.values(), ids=PERMANENT.keys())
def test_row10_permanent_errors_are_not_retried(reply: Reply | None, message: str, a: FeedServer) -> None:
    http = client(max_bytes=1000)
    raw = RawServer(_overflow) if reply is None else None
    if reply is not None:
        a.route("/x", reply)
    url = raw.url("/x") if raw is not None else a.url("/x")
    try:
        with pytest.raises(HttpError, match=message) as exc:
            http.get(url)
    finally:
        http.close()
        if raw is not None:
            raw.close()
    tries = raw.connections if raw is not None else len(a.hits("/x"))
    expected = 6 if "redirects" in message else 1  # a loop: the first request and 5 redirects, once
    assert tries == expected and not exc.value.retryable, f"{tries} requests for a permanent error"


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_row10_transient_errors_are_still_retried(status: int, a: FeedServer) -> None:
    a.route("/x", Reply(status, {"error": "later"}))
    http = client()
    try:
        with pytest.raises(HttpError, match="after 3 attempt"):
            http.get(a.url("/x"))
    finally:
        http.close()
    assert len(a.hits("/x")) == 3
