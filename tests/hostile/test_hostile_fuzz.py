"""Property-based fuzzing of everything that reads input from outside (issue #14).

The feed parsers (RSS/Atom, JSON API, Reddit, Mastodon, Bluesky search and Jetstream, Hacker
News, replay lines), the webhook body parser and request handling, the query parser, and the
ingest worker's match-and-produce step, fed with arbitrary JSON, arbitrary bytes and the
classic hostile values (huge runs, lone surrogates, deep nesting, wrong types, 4300-digit
numbers). For every input:

* no exception escapes, other than the contract's own ``FeedError`` for a whole response that is
  unusable (and ``QuerySyntaxError`` for a query);
* every item is either a ``Post`` that honours the contract (capped fields, an http(s) link or
  none, a mention record every consumer can read) or an ``ItemError`` with a reason (the worker
  dead-letters it), or is deliberately skipped (a boost, a non-post event, a blank line);
* no single input costs more than 200 ms: that is each test's hypothesis ``deadline``, which
  hypothesis enforces per example (and re-runs an example that overran, so one scheduler hiccup
  on a loaded machine is not reported as a failure).

``max_examples`` keeps the whole module well inside a minute on the two-core CI machine;
``BRANDPULSE_FUZZ_SCALE=20`` multiplies it for a longer campaign.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import MAX_RECORD_BYTES, MAX_TEXT_CHARS, Mention
from brandpulse.settings import Settings
from brandpulse.text import http_url
from ingest.feeds import FeedError, build_feed
from ingest.feeds.contract import (
    MAX_AUTHOR_CHARS,
    MAX_TITLE_CHARS,
    FeedBase,
    ItemError,
    PollResult,
    Post,
)
from ingest.feeds.cursor import SeenWindow
from ingest.feeds.mastodon import iter_sse
from ingest.http import Response
from ingest.query import BrandMatcher, BrandSpec, MatchDoc, QuerySyntaxError, compile_query
from ingest.worker import IngestWorker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PER_INPUT = timedelta(milliseconds=200)
SCALE = max(1, int(os.environ.get("BRANDPULSE_FUZZ_SCALE", "1")))


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(max_examples=examples * SCALE, deadline=PER_INPUT,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------------- hostile values
def _repeat(piece: str, n: int) -> str:
    return piece * n


RUNS = st.builds(_repeat, st.sampled_from(["a", "#", "@", "#a", "😡", "!?.", "\x00", "\ud800", "ـ", "\u200c",
                                           "acme ", "<p>", "&#39;", "\\", "%", " "]),
                 st.sampled_from([1, 10, 1_000, 20_000, 120_000]))
WORDS = st.sampled_from(["acme", "Acme", "#AcmeFail", "@acme_support", "ایکمی", "აკმე", "globex", "down",
                         "outage", "NEAR/3", "javascript:alert(1)", "https://acme.example/x",
                         "https://u:p@evil.example", "\ud800", "\x00", "", "1e309", "-0"])
SHORT_TEXT = st.one_of(st.text(max_size=40), st.lists(WORDS, max_size=12).map(" ".join))
STRINGS = st.one_of(SHORT_TEXT, RUNS)
NUMBERS = st.one_of(st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 2**63, 10**400]))
TIMESTAMPS = st.one_of(STRINGS, NUMBERS, st.sampled_from(
    ["2026-03-02T09:00:00Z", "2026-03-02 09:00:00+05:00", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00",
     "Mon, 02 Mar 2026 09:00:00 GMT", "1772442000", "1772442000000", "2026-13-45T99:99:99Z", "now"]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, STRINGS)
JSON = st.recursive(SCALARS, lambda children: st.one_of(st.lists(children, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), children, max_size=4)),
                    max_leaves=12)
ANY = st.one_of(JSON, STRINGS, TIMESTAMPS)


def maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict whose keys are each present or not, with hostile values."""
    return st.fixed_dictionaries({}, optional=fields)


def check_post(post: Post) -> None:
    """The contract, whatever the source sent."""
    assert post.created_at.tzinfo is UTC or post.created_at.utcoffset() == timedelta(0)
    assert len(post.text) <= MAX_TEXT_CHARS
    assert post.title is None or len(post.title) <= MAX_TITLE_CHARS
    for value in (post.author.id, post.author.handle, post.author.name, post.author.location):
        assert value is None or len(value) <= MAX_AUTHOR_CHARS
    assert post.url is None or http_url(post.url) == post.url, post.url
    mention = post.to_mention(feed="fuzz", brand="Acme", matched_brands=("Acme",), fetched_at=T0)
    raw = mention.to_bytes()
    assert len(raw) <= MAX_RECORD_BYTES
    assert Mention.from_bytes(raw) == mention  # the next stage can read what ingest produces


def check_item(item: Any, *, may_skip: bool = False) -> None:
    if item is None:
        assert may_skip, "an item vanished without a reason"
    elif isinstance(item, ItemError):
        assert item.reason and item.feed
    else:
        assert isinstance(item, Post), type(item)
        check_post(item)


# ---------------------------------------------------------------------- the connectors' item conversions
@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("fuzz-feeds")
    (base / "pw").write_text("app-password")
    (base / "hook.secret").write_text("hook-secret-fuzz")
    built = {
        "json": build_feed("vendor", "json", {
            "url": "https://api.example/v1", "items_path": "data.items", "text_is_html": True,
            "fields": {"id": "id", "text": "body", "created_at": "ts", "title": "title", "url": "link",
                       "author_id": "user.id", "author_handle": "user.handle", "author_name": "user.name",
                       "author_followers": "user.followers", "author_location": "user.loc", "likes": "stats.likes",
                       "views": "stats.views", "lang": "lang", "country": "cc", "lat": "geo[0]", "lon": "geo[1]"},
            "cursor_param": "page", "cursor_path": "next"}, base_dir=base),
        "reddit": build_feed("r", "reddit", {"query": "acme"}, base_dir=base),
        "mastodon": build_feed("m", "mastodon", {"instances": ["https://m.example"], "hashtag": "acme"}, base_dir=base),
        "bluesky": build_feed("b", "bluesky_search", {"query": "acme", "identifier": "me",
                                                      "app_password": {"file": "pw"}}, base_dir=base),
        "jetstream": build_feed("j", "bluesky_jetstream", {"keywords": []}, base_dir=base),
        "hackernews": build_feed("hn", "hackernews", {"query": "acme"}, base_dir=base),
        "replay": build_feed("rp", "replay", {"path": "none.jsonl"}, base_dir=base),
        "rss": build_feed("news", "rss", {"url": "news.xml"}, base_dir=base),
        "webhook": build_feed("hook", "webhook", {"port": 0, "secret": {"file": "hook.secret"}, "source": "crm",
                                                  "max_connections": 8, "read_timeout_seconds": 1,
                                                  "request_timeout_seconds": 2}, base_dir=base),
    }
    yield built
    for feed in built.values():
        feed.close()


STATUS = maybe(id=ANY, uri=ANY, url=ANY, content=ANY, spoiler_text=ANY, created_at=TIMESTAMPS, language=ANY,
               reblog=st.one_of(st.none(), JSON), favourites_count=NUMBERS, reblogs_count=ANY,
               account=st.one_of(JSON, maybe(acct=ANY, url=ANY, display_name=ANY, followers_count=ANY)))
REDDIT = st.one_of(JSON, st.fixed_dictionaries({"kind": st.sampled_from(["t3", "t1", "t5", 3]), "data": maybe(
    name=ANY, created_utc=NUMBERS, permalink=ANY, author=ANY, author_fullname=ANY, title=ANY, selftext=ANY,
    selftext_html=ANY, link_title=ANY, body=ANY, score=NUMBERS, num_comments=ANY, num_crossposts=ANY)}))
HIT = st.one_of(JSON, maybe(objectID=ANY, created_at_i=NUMBERS, created_at=TIMESTAMPS, title=ANY, story_title=ANY,
                            story_text=ANY, comment_text=ANY, author=ANY, points=NUMBERS, num_comments=ANY))
VIEW = st.one_of(JSON, maybe(uri=ANY, indexedAt=TIMESTAMPS, likeCount=NUMBERS, repostCount=ANY, quoteCount=ANY,
                             replyCount=ANY, author=st.one_of(JSON, maybe(handle=ANY, did=ANY, displayName=ANY)),
                             record=st.one_of(JSON, maybe(text=ANY, createdAt=TIMESTAMPS, langs=ANY))))
VENDOR = st.one_of(JSON, maybe(id=ANY, body=ANY, ts=TIMESTAMPS, title=ANY, link=ANY, lang=ANY, cc=ANY,
                               geo=st.one_of(ANY, st.lists(NUMBERS, max_size=3)),
                               user=st.one_of(JSON, maybe(id=ANY, handle=ANY, name=ANY, followers=ANY, loc=ANY)),
                               stats=st.one_of(JSON, maybe(likes=ANY, views=ANY))))
RECORD = st.one_of(JSON, maybe(native_id=ANY, text=ANY, created_at=TIMESTAMPS, source=ANY, title=ANY, url=ANY,
                               lang=ANY, country=ANY, author=st.one_of(JSON, maybe(id=ANY, handle=ANY, followers=ANY)),
                               geo=st.one_of(JSON, maybe(lat=NUMBERS, lon=NUMBERS)),
                               engagement=st.one_of(JSON, maybe(likes=NUMBERS, shares=ANY, views=ANY))))
JETSTREAM = st.one_of(JSON, st.fixed_dictionaries({"kind": st.sampled_from(["commit", "identity", 1]),
                                                   "time_us": NUMBERS, "did": ANY, "commit": maybe(
    operation=st.sampled_from(["create", "delete", 7]), collection=st.sampled_from(["app.bsky.feed.post", "x"]),
    rkey=ANY, record=st.one_of(JSON, maybe(text=ANY, createdAt=TIMESTAMPS, langs=ANY)))}))


# kind of feed, what a source sends, the conversion its poll applies, whether skipping is allowed
ITEM_CONVERSIONS: dict[str, tuple[str, st.SearchStrategy[Any], Callable[[Any], Callable[[Any], Any]], bool]] = {
    "mastodon status": ("mastodon", STATUS, lambda f: lambda s: f._status_to_post(s, "m.example"), True),
    "reddit listing child": ("reddit", REDDIT, lambda f: f._child_to_post, False),
    "hacker news hit": ("hackernews", HIT, lambda f: f._hit_to_post, False),
    "bluesky post view": ("bluesky", VIEW, lambda f: f._view_to_post, False),
    "json api item": ("json", VENDOR, lambda f: f._to_post, False),
}


@pytest.mark.parametrize("case", ITEM_CONVERSIONS.values(), ids=ITEM_CONVERSIONS.keys())
@fuzz(150)
@given(data=st.data())
def test_fuzz_item_conversions(feeds: dict[str, Any], case: Any, data: st.DataObject) -> None:
    kind, strategy, conversion, may_skip = case
    feed = feeds[kind]
    item = data.draw(strategy)
    check_item(feed.guarded(conversion(feed), item), may_skip=may_skip)


@fuzz(150)
@given(st.one_of(JETSTREAM.map(lambda e: json.dumps(e, default=str)), st.binary(max_size=200), STRINGS))
def test_fuzz_jetstream_message(feeds: dict[str, Any], message: str | bytes) -> None:
    feed = feeds["jetstream"]
    feed._handle(message, SeenWindow(max_entries=10), threading.Event())
    while True:  # what the reader queued: posts or item errors, nothing else
        try:
            _time_us, item = feed._queue.get_nowait()
        except queue.Empty:
            break
        check_item(item)


def _line(record: Any) -> bytes:
    try:
        return json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return repr(record).encode("utf-8", "surrogatepass")


@fuzz(200)
@given(st.one_of(RECORD.map(_line), st.binary(max_size=300), st.builds(lambda n: b"[" * n, st.integers(1, 200_000))))
def test_fuzz_replay_line(feeds: dict[str, Any], line: bytes) -> None:
    feed = feeds["replay"]
    check_item(feed.guarded(lambda raw: feed._parse(raw, 1), line), may_skip=True)


_XML_FIELDS = ("guid", "title", "link", "description", "pubDate", "author", "dc:creator")


def _xml(value: str, raw: bool) -> str:
    if raw:
        return value
    from xml.sax.saxutils import escape

    return escape(value)


# feedparser (strict, then its lenient parser when the XML is broken) costs about 5 µs per byte
# of tag soup: linear (test_rss_parsing_cost_is_linear_in_the_document below), but 10k "<p>" in
# one element already cost 150-270 ms on the loaded CI machine, and a 120k-run ~1.5 s. So the
# RSS documents here carry runs of up to 3k pieces (every other parser gets the 120k ones); the
# quadratic case it found (a long author) has its own test, test_hostile_rss.py.
RSS_STRINGS = st.one_of(SHORT_TEXT, st.builds(_repeat, st.sampled_from(["a", "#", "😡", "<p>", "&#39;", "\x00"]),
                                               st.sampled_from([1, 100, 1_000, 3_000])))


@st.composite
def rss_documents(draw: st.DrawFn) -> bytes:
    items = []
    for _ in range(draw(st.integers(0, 4))):
        fields = draw(st.dictionaries(st.sampled_from(_XML_FIELDS), RSS_STRINGS, max_size=5))
        raw = draw(st.booleans())
        items.append("<item>" + "".join(f"<{k}>{_xml(v, raw)}</{k}>" for k, v in fields.items()) + "</item>")
    atom = draw(st.booleans())
    if atom:
        body = "".join(i.replace("<item>", "<entry>").replace("</item>", "</entry>") for i in items)
        doc = f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{body}</feed>'
    else:
        doc = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{"".join(items)}</channel></rss>'
    data = doc.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=50))
    return data


@fuzz(120)
@given(rss_documents())
def test_fuzz_rss_and_atom(feeds: dict[str, Any], body: bytes) -> None:
    feed = feeds["rss"]
    try:
        posts, errors = feed._parse(body, {"content-type": "application/xml"}, SeenWindow(max_entries=100))
    except FeedError:
        return  # not a feed at all: the whole poll fails, the cursor stays
    for post in posts:
        check_item(post)
    for error in errors:
        check_item(error)


def test_rss_parsing_cost_is_linear_in_the_document(feeds: dict[str, Any]) -> None:
    import time

    def cost(n: int) -> float:
        body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>g</guid><title>'
                + "<p>" * n + "</title></item></channel></rss>").encode()
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            feeds["rss"]._parse(body, {"content-type": "application/xml"}, SeenWindow(max_entries=10))
            best = min(best, time.perf_counter() - started)
        return best

    small, large = cost(5_000), cost(20_000)
    assert large < 8 * small, f"4x the markup cost {large / small:.1f}x the time: not linear"


@fuzz(60)
@given(st.lists(st.one_of(st.binary(max_size=200), st.sampled_from(
    [b"event: update\n", b"data: {}\n", b"\n", b"\r", b"\r\n", b":hb\n", b"data: " + b"x" * 50_000]
)), max_size=30))
def test_fuzz_mastodon_stream(chunks: list[bytes]) -> None:
    for event, data in iter_sse(iter(chunks), max_event_bytes=100_000):
        assert isinstance(event, str) and isinstance(data, str)


# ---------------------------------------------------------------------- whole polls through a fake HTTP client
class FakeHttp:
    """Answers every request with the fuzzed body (what a hostile or broken API could send)."""

    def __init__(self) -> None:
        self.body = b""

    def _response(self, url: str) -> Response:
        return Response(url=url, status=200, body=self.body,
                        headers=CaseInsensitiveDict({"content-type": "application/json"}))

    def get(self, url: str, **kwargs: Any) -> Response:
        return self._response(url)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self._response(url)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def pollers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeHttp, dict[str, Any]]]:
    base = tmp_path_factory.mktemp("fuzz-pollers")
    (base / "pw").write_text("app-password")
    http = FakeHttp()
    kw: dict[str, Any] = {"base_dir": base, "http": http, "clock": lambda: T0.timestamp()}
    built = {
        "json": build_feed("vendor", "json", {"url": "https://api.example/v1", "items_path": "items",
                                              "fields": {"id": "id", "text": "body", "created_at": "ts", "url": "link"},
                                              "cursor_param": "page", "cursor_path": "next", "max_pages": 2}, **kw),
        "reddit": build_feed("r", "reddit", {"query": "acme", "max_pages": 2}, **kw),
        "hackernews": build_feed("hn", "hackernews", {"query": "acme", "max_pages": 2}, **kw),
        "mastodon": build_feed("m", "mastodon", {"instances": ["https://m.example"], "hashtag": "acme"}, **kw),
        "bluesky": build_feed("b", "bluesky_search", {"query": "acme", "identifier": "me",
                                                      "app_password": {"file": "pw"}}, **kw),
    }
    yield http, built
    for feed in built.values():
        feed.close()


def _body(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return b"{"


BODIES = st.one_of(
    st.fixed_dictionaries({"items": st.lists(VENDOR, max_size=5), "next": ANY}).map(_body),
    st.fixed_dictionaries({"kind": st.just("Listing"), "data": maybe(children=st.lists(REDDIT, max_size=5),
                                                                      after=ANY)}).map(_body),
    st.fixed_dictionaries({"hits": st.lists(HIT, max_size=5), "nbPages": NUMBERS, "nbHits": NUMBERS}).map(_body),
    st.lists(STATUS, max_size=5).map(_body),
    st.fixed_dictionaries({"posts": st.lists(VIEW, max_size=5), "cursor": ANY, "accessJwt": ANY}).map(_body),
    JSON.map(_body),
    st.binary(max_size=200),
    st.builds(lambda n: b"[" * n, st.integers(1, 100_000)),
)


@fuzz(200)
@given(st.sampled_from(["json", "reddit", "hackernews", "mastodon", "bluesky"]), BODIES, st.one_of(st.none(), JSON))
def test_fuzz_whole_polls(pollers: tuple[FakeHttp, dict[str, Any]], kind: str, body: bytes, cursor: Any) -> None:
    http, built = pollers
    http.body = body
    feed = built[kind]
    try:
        result = feed.poll(cursor if isinstance(cursor, dict) else None)
    except FeedError:
        return  # an unusable response: the poll fails as a whole and the cursor stays where it was
    assert isinstance(result, PollResult)
    json.dumps(result.cursor)  # the cursor can be stored
    for post in result.posts:
        check_item(post)
    for error in result.errors:
        check_item(error)


# ---------------------------------------------------------------------- the webhook
def _webhook_body(items: Any) -> bytes:
    return _body(items)


@fuzz(200)
@given(st.one_of(st.lists(RECORD, max_size=6).map(_webhook_body), RECORD.map(_webhook_body), JSON.map(_webhook_body),
                 st.binary(max_size=300), st.builds(lambda n: b"[" * n, st.integers(1, 400_000))))
def test_fuzz_webhook_body(feeds: dict[str, Any], body: bytes) -> None:
    feed = feeds["webhook"]
    status, payload, _headers = feed.accept(body)
    assert status in (202, 400, 413, 503), (status, payload)
    result = feed.poll(None)
    for post in result.posts:
        check_item(post)
        assert post.source == "crm"
    for error in result.errors:
        check_item(error)
    if status == 202:
        # every item of the request is accepted or rejected with its reason
        items = json.loads(body)
        count = len(items) if isinstance(items, list) else 1
        assert payload["accepted"] + len(payload["rejected"]) == count
        assert all(r["reason"] for r in payload["rejected"])


HEADER_VALUES = st.one_of(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=30),
                          st.sampled_from(["²", "0", "-1", "1e3", "99999999999999999999", " 12 ", "chunked",
                                           "sha256=", "", "1772442000"]))


@fuzz(80)
@given(st.dictionaries(st.sampled_from(["Content-Length", "Transfer-Encoding", "X-BrandPulse-Signature",
                                        "X-BrandPulse-Timestamp", "Content-Type", "Expect"]), HEADER_VALUES, max_size=5),
       st.binary(max_size=100), st.sampled_from(["POST /ingest", "POST /other", "GET /ingest", "POST /ingest?x=1"]))
def test_fuzz_webhook_requests_always_get_an_answer(feeds: dict[str, Any], headers: dict[str, str], body: bytes,
                                                    line: str) -> None:
    host, port = feeds["webhook"].start()
    head = f"{line} HTTP/1.1\r\nHost: x\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(head.encode("latin-1") + body)
        s.shutdown(socket.SHUT_WR)
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1."), answer[:100]  # always an answer, never a dropped connection
    assert int(answer[9:12]) < 500 or answer[9:12] == b"503"
    feeds["webhook"].poll(None)


# ---------------------------------------------------------------------- the query language
QUERY_ATOMS = st.sampled_from(["acme", "AND", "OR", "NOT", "NEAR/3", "ONEAR/0", "NEAR/", "(", ")", '"', "“", "*",
                               "acm*", "#acme", "@acme", "title:", "text:", "site:", "author:", "lang:", "country:",
                               "x:y", "（", "）", "ایکمی", "e\u0301", "\x00", "NEAR/99999999999", "_", ":", "\n"])
QUERIES = st.one_of(st.lists(QUERY_ATOMS, max_size=40).map(" ".join), st.lists(QUERY_ATOMS, max_size=40).map("".join),
                    st.text(max_size=80), st.builds(lambda n: "(" * n + "a" + ")" * n, st.integers(0, 2_000)),
                    st.builds(lambda n: "NOT " * n + "a", st.integers(0, 2_000)))


@fuzz(300)
@given(QUERIES, st.lists(WORDS, max_size=30).map(" ".join))
def test_fuzz_query_parser_and_matcher(query: str, text: str) -> None:
    try:
        compiled = compile_query(query)
    except QuerySyntaxError as exc:
        assert exc.reason and 0 <= exc.position <= len(query)
        return
    doc = MatchDoc(text, title=text[:50], author=text[:20], url=text, lang=text[:5], country=text[:2])
    assert compiled.matches(doc) in (True, False)
    str(compiled)


# ---------------------------------------------------------------------- the worker: every post produced or dead-lettered
class FakeFuture:
    def get(self, timeout: float | None = None) -> None:
        return None


class FakeProducer:
    """Records what the worker sends; applies the producer's own size check like kafka-python."""

    def __init__(self, max_request_size: int = 2_097_152) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.max_request_size = max_request_size

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> FakeFuture:
        from kafka.errors import MessageSizeTooLargeError

        if value is not None and len(value) > self.max_request_size:
            raise MessageSizeTooLargeError(f"The message is {len(value)} bytes")
        self.sent.append((topic, value))
        return FakeFuture()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class ListFeed(FeedBase):
    """A feed whose next poll returns the posts a test gives it."""

    kind = "fuzz"

    def __init__(self) -> None:
        self.name = "fuzz"
        self.next: list[Post] = []

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        return PollResult(self.next, {"n": len(self.next)})

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def worker() -> Iterator[tuple[IngestWorker, FakeProducer, ListFeed]]:
    producer = FakeProducer(max_request_size=300_000)
    s = Settings.model_validate({
        "brands": [{"name": "Acme", "aliases": ["acme", "ایکمی", "აკმე"]},
                   {"name": "Globex", "query": "globex NEAR/3 (down OR outage) OR #globexfail*"},
                   {"name": "Initech", "query": 'initech* OR "acme corp" NOT lang:fr'}],
        "feeds": [{"name": "fuzz", "kind": "replay", "path": "unused.jsonl"}],
    })
    w = IngestWorker(s, WorkerMetrics("ingest"), producer=producer)
    feed = ListFeed()
    w.feeds["fuzz"] = feed
    yield w, producer, feed


@st.composite
def posts(draw: st.DrawFn) -> Post | None:
    from brandpulse.schema import Author, Engagement

    def text() -> str:
        return str(draw(st.one_of(STRINGS, st.lists(WORDS, max_size=20).map(" ".join))))

    try:
        return Post(source=draw(st.sampled_from(["rss", "webhook", "x" * 64])), native_id=text() or "id",
                    text=text(), created_at=T0, title=draw(st.one_of(st.none(), STRINGS)),
                    url=draw(st.one_of(st.none(), STRINGS)), lang=draw(st.one_of(st.none(), STRINGS)),
                    author=Author(handle=draw(st.one_of(st.none(), STRINGS)), name=draw(st.one_of(st.none(), STRINGS))),
                    engagement=Engagement(likes=draw(st.integers(0, 10**30))))
    except ValueError:
        return None  # a connector would have reported this item as an ItemError


@fuzz(150)
@given(st.lists(posts(), min_size=1, max_size=4))
def test_fuzz_worker_produces_or_dead_letters_every_post(worker: tuple[IngestWorker, FakeProducer, ListFeed],
                                                         batch: list[Post | None]) -> None:
    w, producer, feed = worker
    feed.next = [p for p in batch if p is not None]
    producer.sent.clear()
    result = w.poll_feed("fuzz")
    assert result is not None, w.health["fuzz"].last_error  # the poll never fails on its content
    raw = [v for t, v in producer.sent if t == w.settings.topics.raw]
    letters = [json.loads(v or b"") for t, v in producer.sent if t == w.settings.topics.dead_letter]
    for value in raw:
        assert value is not None and len(value) <= MAX_RECORD_BYTES
        Mention.from_bytes(value)  # the enrich stage accepts it
    for letter in letters:
        assert letter["error_class"] in ("MalformedItem", "RecordTooLarge") and letter["error"]
    ids = {Mention.from_bytes(v).native_id for v in raw if v is not None} | {d["native_id"] for d in letters}
    matcher = BrandMatcher([BrandSpec(b.name, b.query, tuple(b.aliases)) for b in w.settings.brands])
    for post in feed.next:
        doc = MatchDoc(post.text, title=post.title, author=post.author.handle or post.author.name, url=post.url,
                       lang=post.lang)
        if matcher.match(doc):  # matched: produced, or dead-lettered with its reason
            assert post.native_id in ids
    assert any(t == w.settings.topics.state for t, _v in producer.sent)  # and the cursor moved on
