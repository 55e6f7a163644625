"""Every connector kind against its local fixture server AND through the real Kafka (issue #4).

One real ingest worker process (``brandpulse ingest --config X``, the code path of production)
runs a feed of every kind at once, plus a deliberately broken one, against the fixture servers of
``feedserver.py`` (HTTP APIs, a local Jetstream over WebSocket, a webhook we POST to, a replay
file). The test then reads the real raw topic and the state topic and checks:

* exactly the expected mentions per feed — the expectation is derived from the fixture files by
  an independent reading of each format here (not by the connectors), one record per (post,
  brand), ids by the schema's rule, keyed by brand, source/native id/url/author/created_at
  carried through;
* no duplicates after further poll cycles of every feed (the cursors and seen windows work),
  including new Mastodon statuses that appear only after the first poll (``min_id``) and the
  second Reddit/Bluesky page read only by the second poll;
* the cursors and the feed health saved in the state topic (read as ``brandpulse feeds status``
  reads them), the broken feed unhealthy and every other feed healthy: a broken feed never stops
  the others.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest
import requests
import yaml
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from brandpulse.kafkaio import client_kwargs, ensure_topics
from brandpulse.schema import Mention, mention_id
from brandpulse.settings import Settings
from brandpulse.signing import signed_headers
from brandpulse.state import StateStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedserver import (
    FIXTURES,
    FeedServer,
    JetstreamServer,
    Reply,
    conditional,
    fixture_bytes,
    fixture_json,
    html_error_page,
    mastodon_timeline,
    paged,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BRANDPULSE = REPO / ".venv" / "bin" / "brandpulse"
BRANDS: list[dict[str, Any]] = [
    {"name": "Acme", "aliases": ["acme", "ایکمی", "აკმე"]},
    {"name": "Globex", "aliases": ["globex"]},
]
ATOM = "application/atom+xml; charset=utf-8"
ETAG = '"alerts-v1"'
HOOK_SECRET = "hook-secret-all-kinds"
UA = "test:brandpulse:0.1 (by /u/brandpulse-tests)"
DEADLINE = 75.0  # generous: a loaded 2-core machine; the test normally takes ~20 s


# ============================================================== the expectation, from the fixtures
@dataclass(frozen=True)
class Want:
    """A post as the fixture data says it must come out, read independently of the connectors."""

    source: str
    native_id: str
    created_at: datetime
    url: str | None
    handle: str | None
    author_id: str | None
    text: str  # where the brand terms are (title and body)

    @property
    def brands(self) -> tuple[str, ...]:
        folded = self.text.casefold()
        return tuple(b["name"] for b in BRANDS if any(a.casefold() in folded for a in b["aliases"]))


def _ts(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    iso = re.sub(r"(\.\d{6})\d+", r"\1", str(value)).replace("Z", "+00:00")
    dt = datetime.fromisoformat(iso)
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _strip(markup: str | None) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", markup or ""))


def want_replay(lines: list[str], default_source: str = "replay") -> list[Want]:
    out = []
    for line in lines:
        try:
            obj = json.loads(line)
            created = _ts(obj["created_at"])
        except (ValueError, KeyError, TypeError):
            continue  # not JSON, no/bad created_at: an item error
        geo = obj.get("geo") or {"lat": 0, "lon": 0}
        if not isinstance(obj.get("text"), str) or not (-90 <= geo["lat"] <= 90 and -180 <= geo["lon"] <= 180):
            continue
        author = obj.get("author") or {}
        out.append(Want(obj.get("source", default_source), obj["native_id"], created, obj.get("url"),
                        author.get("handle"), author.get("id"), f"{obj.get('title', '')} {obj['text']}"))
    return out


def want_atom(body: bytes) -> list[Want]:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    out = []
    for entry in ElementTree.fromstring(body).findall("a:entry", ns):  # noqa: S314 - our own fixture file
        link = entry.find("a:link", ns)
        href = link.get("href", "") if link is not None else ""
        real = parse_qs(urlsplit(href).query).get("url", [href])[0]  # Google's redirect unwrapped
        out.append(Want("rss", entry.findtext("a:id", "", ns), _ts(entry.findtext("a:published", "", ns)), real,
                        None, None, _strip(entry.findtext("a:title", "", ns)) + " "
                        + _strip(entry.findtext("a:content", "", ns))))
    return out


def want_reddit(*pages: dict[str, Any]) -> list[Want]:
    out = []
    for page in pages:
        for child in page["data"]["children"]:
            d = child["data"]
            gone = d["author"] in ("[deleted]", "[removed]")  # documented: no author
            out.append(Want("reddit", d["name"], _ts(d["created_utc"]), f"https://www.reddit.com{d['permalink']}",
                            None if gone else d["author"], None if gone else d.get("author_fullname"),
                            f"{d.get('title') or d.get('link_title') or ''} {d.get('selftext') or d.get('body') or ''}"))
    return out


def want_mastodon(instances: list[tuple[str, list[dict[str, Any]]]]) -> list[Want]:
    """The same post reaches several instances: one post per status ``uri``, boosts skipped."""
    out: dict[str, Want] = {}
    for host, statuses in instances:
        for s in statuses:
            if s.get("reblog") or s["uri"] in out:
                continue
            acct = s["account"]["acct"]
            out[s["uri"]] = Want("mastodon", s["uri"], _ts(s["created_at"]), s["url"],
                                 acct if "@" in acct else f"{acct}@{host}", s["account"]["url"],
                                 f"{s.get('spoiler_text') or ''} {_strip(s['content'])}")
    return list(out.values())


def want_jetstream(lines: list[str]) -> list[Want]:
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        commit = event.get("commit") or {}
        record = commit.get("record") or {}
        if (event.get("kind") != "commit" or commit.get("operation") != "create"
                or commit.get("collection") != "app.bsky.feed.post" or not isinstance(record.get("text"), str)):
            continue
        try:
            created = _ts(record["createdAt"])
        except ValueError:
            created = datetime.fromtimestamp(event["time_us"] / 1e6, tz=UTC)  # documented fallback
        did, rkey = event["did"], commit["rkey"]
        out.append(Want("bluesky", f"at://{did}/app.bsky.feed.post/{rkey}", created,
                        f"https://bsky.app/profile/{did}/post/{rkey}", None, did, record["text"]))
    return out


def want_bsky_search(*pages: dict[str, Any]) -> list[Want]:
    out = []
    for page in pages:
        for view in page["posts"]:
            record = view.get("record") or {}
            if not isinstance(record.get("text"), str):
                continue
            created = min(_ts(record["createdAt"]), _ts(view["indexedAt"]))  # Bluesky's sortAt
            handle = view["author"]["handle"]
            out.append(Want("bluesky", view["uri"], created,
                            f"https://bsky.app/profile/{handle}/post/{view['uri'].rsplit('/', 1)[-1]}",
                            handle, view["author"]["did"], record["text"]))
    return out


def want_hn(page: dict[str, Any]) -> list[Want]:
    return [
        Want("hackernews", h["objectID"], _ts(h["created_at_i"]), f"https://news.ycombinator.com/item?id={h['objectID']}",
             h["author"], None, f"{h.get('title') or h.get('story_title') or ''} "
             f"{_strip(h.get('story_text') or h.get('comment_text'))}")
        for h in page["hits"] if h.get("objectID")
    ]


def want_vendor(*pages: dict[str, Any]) -> list[Want]:
    return [
        Want("vendor", str(item["uid"]), _ts(item["ts"]), item.get("link"), item["user"].get("screen"),
             item["user"].get("id"), _strip(item["body"]))
        for page in pages for item in page["data"]["results"] if isinstance(item.get("body"), str)
    ]


HOOK_ITEMS: list[dict[str, Any]] = [
    {"native_id": "crm-1", "text": "Acme support sorted my refund in minutes", "created_at": "2026-11-20T12:00:00Z",
     "url": "https://crm.example/t/1", "author": {"id": "c-1", "handle": "maria"}},
    {"native_id": "crm-2", "text": "ایکمی اور globex دونوں کی سروس", "created_at": "2026-11-20T17:00:01+05:00",
     "author": {"handle": "zain"}, "lang": "ur"},
    {"native_id": "crm-3", "text": "nothing about any brand here", "created_at": 1795176002},
]
HOOK_BAD = {"native_id": "crm-4", "text": "no timestamp"}


# ============================================================== servers, config, worker process
@dataclass
class Fixtures:
    srv: FeedServer
    jetstream: JetstreamServer
    masto_a: list[dict[str, Any]]  # the 127.0.0.1 instance's hashtag timeline (grows during the test)
    masto_b: list[dict[str, Any]]  # the "localhost" instance's


@pytest.fixture
def fixtures() -> Iterator[Fixtures]:
    srv = FeedServer()
    jet = JetstreamServer((FIXTURES / "jetstream_events.jsonl").read_text(encoding="utf-8").splitlines())
    fx = Fixtures(srv, jet, list(fixture_json("mastodon_tag_a.json")), list(fixture_json("mastodon_tag_b.json")))
    srv.route("/alerts/feed.xml", conditional(fixture_bytes("google_alerts.atom.xml"), ATOM, ETAG))
    srv.route("/search.json", paged("after", {None: Reply(body=fixture_json("reddit_search_page1.json")),
                                              "t3_1b9vv01": Reply(body=fixture_json("reddit_search_page2.json"))}))
    timeline_a, timeline_b = mastodon_timeline(fx.masto_a), mastodon_timeline(fx.masto_b)
    # two instances on one server, told apart by the Host header (as in test_connectors.py)
    srv.route("/api/v1/timelines/tag/acme",
              lambda req: timeline_a(req) if req.headers["host"].startswith("127.") else timeline_b(req))
    srv.route("/xrpc/com.atproto.server.createSession", Reply(body=fixture_json("bluesky_session.json")))
    srv.route("/xrpc/app.bsky.feed.searchPosts",
              paged("cursor", {None: Reply(body=fixture_json("bluesky_search_page1.json")),
                               "3": Reply(body=fixture_json("bluesky_search_page2.json"))}))
    srv.route("/api/v1/search_by_date", Reply(body=fixture_json("hn_search_by_date.json")))
    srv.route("/v1/mentions", paged("page_token", {None: Reply(body=fixture_json("vendor_api_page1.json")),
                                                   "tok-2": Reply(body=fixture_json("vendor_api_page2.json"))}))
    # the broken feed: a proxy's HTML error page with 200, then 500s (retried, then a FeedError)
    srv.route("/broken/mentions", html_error_page(200), html_error_page(500, "Internal Server Error"))
    yield fx
    jet.close()
    srv.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _feeds(fx: Fixtures, hook_port: int) -> list[dict[str, Any]]:
    srv = fx.srv
    every = {"interval_seconds": 1, "jitter_seconds": 0}
    return [
        {"name": "replay", "kind": "replay", "path": "replay.jsonl", "batch_size": 4, **every},
        {"name": "alerts", "kind": "rss", "url": srv.url("/alerts/feed.xml"), **every},
        # lookback a day: the second poll walks back to the second page (the first reads one page)
        {"name": "reddit", "kind": "reddit", "query": "acme", "base_url": srv.url(""), "user_agent": UA,
         "lookback_seconds": 86400, **every},
        {"name": "masto", "kind": "mastodon", "hashtag": "acme",
         "instances": [srv.url(""), f"http://localhost:{srv.port}"], **every},
        {"name": "firehose", "kind": "bluesky_jetstream", "url": fx.jetstream.url, "rewind_seconds": 0, **every},
        {"name": "bsky", "kind": "bluesky_search", "query": "acme", "identifier": "brandpulse.bsky.social",
         "app_password": {"file": "bsky.pw"}, "service": srv.url(""), **every},
        {"name": "hn", "kind": "hackernews", "query": "acme", "base_url": srv.url("/api/v1"), **every},
        {"name": "vendor", "kind": "json", "url": srv.url("/v1/mentions"), "items_path": "data.results",
         "fields": {"id": "uid", "text": "body", "created_at": "ts", "url": "link", "author_id": "user.id",
                    "author_handle": "user.screen"},
         "text_is_html": True, "cursor_param": "page_token", "cursor_path": "meta.next_token", "max_pages": 3,
         "source": "vendor", **every},
        {"name": "hook", "kind": "webhook", "port": hook_port, "secret": {"file": "hook.secret"},
         "source": "crm", **every},
        {"name": "broken", "kind": "json", "url": srv.url("/broken/mentions"), "items_path": "data.results",
         "fields": {"id": "uid", "text": "body", "created_at": "ts"}, **every},
    ]


def _expected(fx: Fixtures) -> dict[str, list[Want]]:
    return {
        "replay": want_replay((FIXTURES / "replay.jsonl").read_text(encoding="utf-8").splitlines()),
        "alerts": want_atom(fixture_bytes("google_alerts.atom.xml")),
        "reddit": want_reddit(fixture_json("reddit_search_page1.json"), fixture_json("reddit_search_page2.json")),
        "masto": want_mastodon([(f"127.0.0.1:{fx.srv.port}", fx.masto_a + fixture_json("mastodon_tag_a_newer.json")),
                                (f"localhost:{fx.srv.port}", fx.masto_b)]),
        "firehose": want_jetstream((FIXTURES / "jetstream_events.jsonl").read_text(encoding="utf-8").splitlines()),
        "bsky": want_bsky_search(fixture_json("bluesky_search_page1.json"), fixture_json("bluesky_search_page2.json")),
        "hn": want_hn(fixture_json("hn_search_by_date.json")),
        "vendor": want_vendor(fixture_json("vendor_api_page1.json"), fixture_json("vendor_api_page2.json")),
        "hook": want_replay([json.dumps(item) for item in HOOK_ITEMS], "crm"),
        "broken": [],
    }


def _write_config(s: Settings, tmp: Path, feeds: list[dict[str, Any]]) -> Path:
    shutil.copy(FIXTURES / "replay.jsonl", tmp / "replay.jsonl")
    (tmp / "bsky.pw").write_text("abcd-efgh-ijkl-mnop\n")
    (tmp / "hook.secret").write_text(HOOK_SECRET)
    config = {
        "kafka": {"bootstrap_servers": s.kafka.bootstrap_servers},
        "topics": s.topics.model_dump(mode="json"),
        "workers": {"group_prefix": s.workers.group_prefix, "ingest_metrics_port": 0},
        "brands": BRANDS,
        "feeds": feeds,
    }
    path = tmp / "brandpulse.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _post_hook(port: int, items: list[dict[str, Any]], deadline: float) -> requests.Response:
    """POST once the listener is up (the worker starts it on the feed's first poll)."""
    body = json.dumps(items, ensure_ascii=False).encode()
    while True:
        try:
            return requests.post(f"http://127.0.0.1:{port}/ingest", data=body, timeout=30, headers={
                "Content-Type": "application/json", **signed_headers(HOOK_SECRET.encode(), body)})
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class TopicReader:
    """Reads a topic from its beginning, keeping up as records arrive."""

    def __init__(self, s: Settings, topic: str) -> None:
        self.consumer = KafkaConsumer(**client_kwargs(s.kafka, "check"), enable_auto_commit=False)
        self.tps = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_beginning(*self.tps)
        self.records: list[Any] = []

    def poll(self, timeout_ms: int = 500) -> list[Any]:
        for recs in self.consumer.poll(timeout_ms).values():
            self.records.extend(recs)
        return self.records

    def drain(self, deadline: float) -> list[Any]:
        """Everything up to the topic's current end."""
        ends = self.consumer.end_offsets(self.tps)
        while any(self.consumer.position(tp) < ends[tp] for tp in self.tps):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            self.poll()
        return self.records

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def worker_proc() -> Iterator[Callable[[Path, Path], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as fh:
            proc = subprocess.Popen([str(BRANDPULSE), "--config", str(config), "--log-format", "json", "ingest"],
                                    stdout=fh, stderr=subprocess.STDOUT, cwd=str(config.parent),
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:  # only if the test failed before stopping its worker
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# ============================================================== the test
def test_every_connector_kind_through_kafka_in_one_worker(
    make_settings: Callable[..., Settings], tmp_path: Path, fixtures: Fixtures,
    worker_proc: Callable[[Path, Path], subprocess.Popen[bytes]],
) -> None:
    fx = fixtures
    t_start = time.monotonic()
    deadline = t_start + DEADLINE
    hook_port = _free_port()
    feeds = _feeds(fx, hook_port)
    s = make_settings(brands=BRANDS, feeds=feeds)  # unique topics, deleted afterwards
    ensure_topics(s)
    config = _write_config(s, tmp_path, feeds)
    expected = _expected(fx)
    want_ids = {name: sorted(mention_id(w.source, w.native_id, b) for w in wants for b in w.brands)
                for name, wants in expected.items()}
    all_ids = {i for ids in want_ids.values() for i in ids}
    assert all(want_ids[f["name"]] for f in feeds if f["name"] != "broken"), "a feed's fixture matches no brand"

    log = tmp_path / "ingest.log"
    proc = worker_proc(config, log)

    def explain() -> str:
        return f"worker exit={proc.poll()}; log tail:\n" + log.read_text(errors="replace")[-4000:]

    resp = _post_hook(hook_port, [*HOOK_ITEMS, HOOK_BAD], deadline)
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 3, "rejected": [{"index": 3, "reason": "missing created_at"}]}

    raw = TopicReader(s, s.topics.raw)
    store = StateStore(s)
    try:
        # 1. every expected mention arrives; Mastodon gets new statuses once its min_id cursor is in use
        published_newer = False
        while True:
            got = {Mention.from_bytes(r.value).id for r in raw.poll()}
            if not published_newer and any(r.arg("min_id") for r in fx.srv.hits("/api/v1/timelines/tag/acme")):
                fx.masto_a.extend(fixture_json("mastodon_tag_a_newer.json"))
                published_newer = True
            if published_newer and all_ids <= got:
                break
            assert proc.poll() is None, explain()
            assert time.monotonic() < deadline, f"missing {len(all_ids - got)} mentions: " + ", ".join(
                f"{n}: {len(set(i) - got)}" for n, i in want_ids.items() if set(i) - got) + "\n" + explain()

        # 2. one more completed poll of every feed that still polls, so a repeat would show
        caught_up = datetime.now(UTC).isoformat()
        while True:
            health = store.load("feed-health/")
            behind = [f["name"] for f in feeds if f["name"] not in ("replay", "broken")
                      and (health.get(f"feed-health/{f['name']}") or {}).get("last_poll", "") <= caught_up]
            if not behind:
                break
            assert time.monotonic() < deadline, f"feeds not polled again: {behind}\n" + explain()
            time.sleep(0.5)

        # 3. stop the worker like an operator would (SIGTERM: in-flight polls finish and persist)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, explain()
        records = raw.drain(deadline)
        health = store.load("feed-health/")
        cursors = store.load("cursor/")
        dlq = TopicReader(s, s.topics.dead_letter)
        try:
            dead_feeds = {r.key.decode() for r in dlq.drain(deadline)}
        finally:
            dlq.close()
    finally:
        raw.close()
        store.close()

    # ---- the raw topic: exactly the expected records, nothing twice
    mentions: dict[str, list[Mention]] = {f["name"]: [] for f in feeds}
    for rec in records:
        m = Mention.from_bytes(rec.value)
        assert rec.key == m.brand.encode(), f"{m.feed}/{m.native_id}: keyed {rec.key!r}, brand {m.brand!r}"
        mentions[m.feed].append(m)
    for name, ids in want_ids.items():
        assert sorted(m.id for m in mentions[name]) == ids, (
            f"feed {name}: got {Counter(m.native_id for m in mentions[name])}, "
            f"want {Counter(w.native_id for w in expected[name] for _ in w.brands)}")
    for name, wants in expected.items():
        by_native = {w.native_id: w for w in wants}
        for m in mentions[name]:
            w = by_native[m.native_id]
            assert m.id == mention_id(w.source, w.native_id, m.brand)
            assert (m.source, m.url, m.author.handle, m.author.id, m.created_at) == (
                w.source, w.url, w.handle, w.author_id, w.created_at), f"{name}/{m.native_id}"
            assert set(m.matched_brands) == set(w.brands), f"{name}/{m.native_id}"

    # ---- feed health in the state topic (what `brandpulse feeds status` shows)
    bad = health["feed-health/broken"]
    assert bad["consecutive_failures"] >= 1 and bad["last_success"] is None and bad["posts_total"] == 0, bad
    assert "HTML" in bad["last_error"] or "500" in bad["last_error"], bad
    assert len(fx.srv.hits("/broken/mentions")) >= 2  # the HTML page, then 500s (each poll retried)
    for f in feeds:
        if f["name"] == "broken":
            continue
        h = health[f"feed-health/{f['name']}"]
        assert h["consecutive_failures"] == 0 and h["last_error"] is None and h["last_success"], h
        # counted once each: no post was read twice across the polls
        assert (h["posts_total"], h["mentions_total"]) == (len(expected[f["name"]]), len(want_ids[f["name"]])), h
    assert health["feed-health/replay"]["done"] is True

    # ---- cursors in the state topic, derived from the fixtures
    assert "cursor/broken" not in cursors and "cursor/hook" not in cursors  # a webhook has no cursor
    newest_ts = {n: max(w.created_at for w in expected[n]).timestamp() for n in expected if expected[n]}
    assert cursors["cursor/replay"]["line"] == len((FIXTURES / "replay.jsonl").read_text().splitlines())
    assert cursors["cursor/alerts"]["etag"] == ETAG
    assert cursors["cursor/reddit"]["watermark"] == newest_ts["reddit"]
    assert cursors["cursor/masto"]["instances"] == {
        f"127.0.0.1:{fx.srv.port}": {"min_id": max((s["id"] for s in fx.masto_a), key=int)},
        f"localhost:{fx.srv.port}": {"min_id": max((s["id"] for s in fx.masto_b), key=int)},
    }
    jet_times = [json.loads(line)["time_us"] for line in
                 (FIXTURES / "jetstream_events.jsonl").read_text().splitlines() if _is_json(line)]
    assert cursors["cursor/firehose"] == {"time_us": max(jet_times)}
    assert _ts(cursors["cursor/bsky"]["since"]).timestamp() == newest_ts["bsky"]
    assert cursors["cursor/hn"]["since"] >= newest_ts["hn"]
    assert cursors["cursor/vendor"]["token"] == "tok-2"
    # item errors went to the dead-letter topic, keyed by feed: the fixtures' bad items, and the
    # webhook's rejected one; the broken feed's failed polls are not item errors
    assert dead_feeds == {"replay", "firehose", "bsky", "hn", "vendor", "hook"}
    # the operator's view reads the same state: `brandpulse feeds status`
    status = subprocess.run([str(BRANDPULSE), "--config", str(config), "feeds", "status"], capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path))
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
    assert set(rows) == {f["name"] for f in feeds}
    assert "never" in rows["broken"] and bad["last_error"] in rows["broken"] and "cursor" not in rows["broken"]
    for name in set(rows) - {"broken", "hook"}:
        assert rows[name].endswith("(cursor stored)"), rows[name]
    # conditional GET: the later polls presented the ETag and got 304s
    assert any(r.headers.get("if-none-match") == ETAG for r in fx.srv.hits("/alerts/feed.xml"))
    assert time.monotonic() - t_start < DEADLINE


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
