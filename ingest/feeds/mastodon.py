"""Mastodon: hashtag timelines and status search across several instances.

Each instance keeps its own ``min_id`` in the cursor (ids are per instance). With ``min_id`` the
API returns the statuses immediately newer than it, so following ``Link: rel="prev"`` walks
forward without gaps. The same post federates to many instances under different local ids, so
``native_id`` is the status ``uri`` (its canonical ActivityPub id): one post, one id, whichever
instance delivered it.

Streaming (``streaming: true``): one background thread per instance reads the server-sent events
stream ``/api/v1/streaming/hashtag[/local]?tag=…`` (with the instance's bearer token; Mastodon 4.2+
refuses anonymous streams) into a bounded queue, and ``poll`` drains it, so new statuses arrive
within one poll interval instead of one REST page per interval. Polling with ``min_id`` remains
the source of truth for completeness: whenever a stream (re)connects — at start, after a drop,
or when the worker hands back an older cursor because a batch was not produced — the next poll
reads the timeline from the cursor's ``min_id`` before the stream's statuses may move the cursor
on. A stream connection counts as *gap-free* only once such a catch-up, started after it had
connected, reached the newest status; until then the cursor advances by the REST results alone.
While a stream is down, the timeline is polled every ``poll_fallback_seconds``.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import requests
from pydantic import Field, field_validator, model_validator
from pydantic.types import SecretStr

from brandpulse.plugins import SecretRef
from brandpulse.schema import Author, Engagement
from brandpulse.timeparse import parse_timestamp
from ingest.http import DEFAULT_USER_AGENT, parse_link_header

from .cleaning import html_to_text
from .contract import FeedBase, FeedError, FeedOptions, ItemError, PollResult, Post
from .cursor import SeenWindow
from .records import as_count, as_dict, as_str, loads_json, raw_json


class MastodonInstance(FeedOptions):
    url: str = Field(pattern=r"^https?://[^/\s]+/?$", description="instance base URL, e.g. https://mastodon.social")
    access_token: SecretRef | None = None


class MastodonOptions(FeedOptions):
    instances: list[str | MastodonInstance] = Field(min_length=1, max_length=20)
    hashtag: str | None = Field(default=None, pattern=r"^#?\w{1,100}$")
    query: str | None = Field(default=None, min_length=1, max_length=512)
    local: bool = Field(default=False, description="hashtag timelines: only the instance's own users")
    limit: int = Field(default=40, ge=1, le=40)
    max_pages: int = Field(default=3, ge=1, le=10)
    seen_window: int = Field(default=2000, ge=10, le=3000)
    streaming: bool = Field(default=False, description="read new statuses from the streaming API (SSE)")
    streaming_url: str | None = Field(default=None, pattern=r"^(https?|wss?)://[^/\s]+/?$",
                                      description="streaming base URL; default: discovered from /api/v2/instance")
    poll_fallback_seconds: float = Field(default=60.0, ge=1, le=3600,
                                         description="timeline poll interval while a stream is down")
    reconnect_max_seconds: float = Field(default=60.0, ge=1, le=3600)
    stream_read_timeout: float = Field(default=90.0, ge=1, le=600,
                                       description="reconnect when not even a heartbeat came for this long")
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000)

    @field_validator("instances")
    @classmethod
    def _urls(cls, v: list[str | MastodonInstance]) -> list[str | MastodonInstance]:
        for item in v:
            if isinstance(item, str):
                MastodonInstance(url=item)  # same URL rule as the long form
        return v

    @model_validator(mode="after")
    def _one_source(self) -> MastodonOptions:
        if (self.hashtag is None) == (self.query is None):
            raise ValueError("give exactly one of 'hashtag' or 'query'")
        if self.streaming:
            if self.hashtag is None:
                raise ValueError("streaming follows a hashtag; status search ('query') cannot be streamed")
            if any(not isinstance(i, MastodonInstance) or i.access_token is None for i in self.instances):
                raise ValueError("streaming needs an access_token for every instance "
                                 "(Mastodon 4.2+ refuses anonymous streams): {url, access_token: {env|file}}")
        return self


class MastodonFeed(FeedBase):
    kind: ClassVar[str] = "mastodon"
    Options: ClassVar[type[FeedOptions]] = MastodonOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, MastodonOptions)
        self.options = options
        self.instances: list[tuple[str, str, SecretStr | None]] = []  # (host key, base url, token)
        for item in options.instances:
            inst = item if isinstance(item, MastodonInstance) else MastodonInstance(url=item)
            base = inst.url.rstrip("/")
            host = urlsplit(base).netloc.lower()
            token = inst.access_token.resolve(self.base_dir) if inst.access_token else None
            if token is not None:
                self.redact(token.get_secret_value())
            self.instances.append((host, base, token))
        # streaming mode: (host, connection generation, status) from the reader threads
        self._queue: queue.Queue[tuple[str, int, Any]] = queue.Queue(maxsize=options.queue_size)
        self.streams: dict[str, StreamReader] = {}
        self._handed_out: dict[str, str | None] = {}  # min_id per host returned by the last poll
        self._last_rest: dict[str, float] = {}  # monotonic time of the last timeline poll per host
        self.rest_polls = 0  # timeline requests made by polls (tests and metrics)

    def _start_streams(self) -> None:
        assert self.options.hashtag is not None
        for host, base, token in self.instances:
            if host not in self.streams:
                assert token is not None  # the options validator requires one per instance
                reader = StreamReader(self, host, base, token, self._queue)
                self.streams[host] = reader
                reader.start()

    def close(self) -> None:
        for reader in self.streams.values():
            reader.stop()
        for reader in self.streams.values():
            reader.join(timeout=5)
        super().close()

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        cursor = cursor if isinstance(cursor, dict) else {}
        per_instance = as_dict(cursor.get("instances"))
        seen = SeenWindow(cursor.get("seen") or [], max_entries=self.options.seen_window)
        posts: list[Post] = []
        errors: list[ItemError] = []
        new_instances: dict[str, Any] = {}
        failures: list[FeedError] = []
        if self.options.streaming:
            self._start_streams()
            refused = [r.auth_error for r in self.streams.values() if r.auth_error]
            if refused:
                raise self.fail("; ".join(refused))
        for host, base, token in self.instances:
            state = as_dict(per_instance.get(host))
            min_id = as_str(state.get("min_id"))
            reader = self.streams.get(host)
            if reader is not None:
                if host in self._handed_out and self._handed_out[host] != min_id:
                    # the worker is back at an older cursor: what we handed out was not produced,
                    # so the stream's part of it must be re-read from the timeline
                    reader.mark_gap()
                if not self._needs_rest(host, reader):
                    if min_id:
                        new_instances[host] = {"min_id": min_id}
                    continue
            try:
                live_gen = reader.live_generation() if reader is not None else None
                statuses, new_min_id, complete = self._fetch_instance(base, token, min_id)
                self._last_rest[host] = time.monotonic()
                if reader is not None and complete and live_gen is not None:
                    reader.mark_gap_free(live_gen)
            except FeedError as exc:
                # one unreachable instance must not starve the others; its cursor stays put
                failures.append(exc)
                errors.append(self.error(f"instance {host} failed: {exc.message}"))
                if min_id:
                    new_instances[host] = {"min_id": min_id}
                continue
            if new_min_id:
                new_instances[host] = {"min_id": new_min_id}
            for status in statuses:
                item = self.guarded(partial(self._status_to_post, host=host), status)
                if item is None:
                    continue
                if isinstance(item, ItemError):
                    errors.append(item)
                    continue
                if item.native_id in seen:
                    continue
                seen.add(item.native_id)
                posts.append(item)
        if failures and len(failures) == len(self.instances):
            waits = [f.retry_after for f in failures if f.retry_after is not None]
            raise self.fail("; ".join(f.message for f in failures), retry_after=max(waits) if waits else None)
        if self.streams:
            self._drain(seen, posts, errors, new_instances)
            self._handed_out = {host: as_str(as_dict(new_instances.get(host)).get("min_id"))
                                for host, _, _ in self.instances}
        return PollResult(posts, {"instances": new_instances, "seen": seen.to_list()}, errors)

    def _needs_rest(self, host: str, reader: StreamReader) -> bool:
        """Streaming mode: poll the timeline only to close a gap, or as the fallback while down."""
        if host not in self._handed_out:
            return True  # first poll of this process: backfill, or catch up from the stored cursor
        if reader.gap_free:
            return False
        if reader.live_generation() is not None:
            return True  # (re)connected: one catch-up from min_id makes the stream gap-free
        last = self._last_rest.get(host)
        return last is None or time.monotonic() - last >= self.options.poll_fallback_seconds

    def _drain(self, seen: SeenWindow, posts: list[Post], errors: list[ItemError],
               new_instances: dict[str, Any]) -> None:
        """Statuses from the streams; each moves its host's min_id only if its connection is gap-free."""
        while True:
            try:
                host, generation, status = self._queue.get_nowait()
            except queue.Empty:
                return
            item = self.guarded(partial(self._status_to_post, host=host), status)
            reader = self.streams[host]
            sid = as_str(status.get("id")) if isinstance(status, dict) else None
            if sid and reader.is_gap_free(generation):
                current = as_str(as_dict(new_instances.get(host)).get("min_id"))
                if _id_greater(sid, current):
                    new_instances[host] = {"min_id": sid}
            if item is None:
                continue
            if isinstance(item, ItemError):
                errors.append(item)
            elif item.native_id not in seen:
                seen.add(item.native_id)
                posts.append(item)

    def _fetch_instance(
        self, base: str, token: SecretStr | None, min_id: str | None
    ) -> tuple[list[Any], str | None, bool]:
        """Statuses newer than ``min_id``, the newest id, and whether the walk reached the newest."""
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        if self.options.hashtag is not None:
            url = f"{base}/api/v1/timelines/tag/{quote(self.options.hashtag.lstrip('#'), safe='')}"
            params: dict[str, str] = {"limit": str(self.options.limit)}
            if self.options.local:
                params["local"] = "true"
        else:
            assert self.options.query is not None
            url = f"{base}/api/v2/search"
            params = {"q": self.options.query, "type": "statuses", "limit": str(self.options.limit),
                      "resolve": "false"}
        statuses: list[Any] = []
        newest = min_id
        next_url: str | None = url
        page_params: dict[str, str] | None = dict(params, min_id=min_id) if min_id else params
        complete = False
        self.rest_polls += 1
        for _ in range(self.options.max_pages):
            assert next_url is not None
            data, resp = self.request_json("GET", next_url, params=page_params, headers=headers)
            page = data.get("statuses") if self.options.query is not None and isinstance(data, dict) else data
            if not isinstance(page, list):
                raise self.fail(f"{urlsplit(url).netloc}: expected a list of statuses")
            statuses.extend(page)
            for status in page:
                sid = as_str(status.get("id")) if isinstance(status, dict) else None
                if sid and _id_greater(sid, newest):
                    newest = sid
            if min_id is None or len(page) < self.options.limit or newest is None:
                complete = True
                break  # first poll: the newest page is backfill enough; or we caught up
            prev = parse_link_header(resp.headers.get("link")).get("prev")
            if prev and parse_qs(urlsplit(prev).query).get("min_id"):
                next_url, page_params = prev, None
            else:
                next_url, page_params = url, dict(params, min_id=newest)
        return statuses, newest, complete

    def _status_to_post(self, status: Any, host: str) -> Post | ItemError | None:
        if not isinstance(status, dict):
            return self.error(f"{host}: status is not an object", raw=raw_json(status))
        if status.get("reblog"):
            return None  # a boost: the original is what mentions the brand
        uri = as_str(status.get("uri")) or (f"{host}:{status['id']}" if as_str(status.get("id")) else None)
        if not uri:
            return self.error(f"{host}: status has no uri or id", raw=raw_json(status))
        try:
            created_at = parse_timestamp(status.get("created_at"))
        except ValueError as exc:
            return self.error(f"{host}: created_at: {exc}", native_id=uri, raw=raw_json(status))
        text = html_to_text(as_str(status.get("content")))
        spoiler = as_str(status.get("spoiler_text"))
        if spoiler:
            text = f"{spoiler}\n{text}" if text else spoiler
        account = as_dict(status.get("account"))
        acct = as_str(account.get("acct"))
        if acct and "@" not in acct:
            acct = f"{acct}@{host}"  # local accounts come without their domain
        return Post(
            source="mastodon",
            native_id=uri,
            text=text,
            created_at=created_at,
            url=as_str(status.get("url")) or uri,
            author=Author(id=as_str(account.get("url")), handle=acct,
                          name=as_str(account.get("display_name")),
                          followers=as_count(account.get("followers_count")) if "followers_count" in account
                          else None),
            engagement=Engagement(likes=as_count(status.get("favourites_count")),
                                  shares=as_count(status.get("reblogs_count")),
                                  replies=as_count(status.get("replies_count"))),
            lang=as_str(status.get("language")),
        )


def _id_greater(a: str, b: str | None) -> bool:
    """Mastodon ids are numeric strings (snowflake-like) but may be any string on forks."""
    if b is None:
        return True
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return (len(a), a) > (len(b), b)


# =================================================================================================
# Streaming: server-sent events
# =================================================================================================

log = logging.getLogger(__name__)

# Statuses arrive as `update` (new) and `status.update` (edited; same uri, so the same mention id).
_STATUS_EVENTS = frozenset({"update", "status.update"})
_MAX_EVENT_BYTES = 2_000_000


_EOL = re.compile(rb"\r\n?|\n")


def iter_sse(chunks: Iterable[bytes], max_event_bytes: int = _MAX_EVENT_BYTES) -> Iterator[tuple[str, str]]:
    """``(event, data)`` for each event of a text/event-stream body (WHATWG HTML, server-sent events).

    Lines end with LF, CRLF or CR; ``:`` starts a comment (Mastodon's heartbeats); ``data`` lines
    are joined with newlines; a blank line dispatches; an event without ``event:`` is ``message``.
    An event over ``max_event_bytes`` is dropped rather than held in memory.

    Linear in the bytes received however they are chunked: lines are found by one regex scan
    from where the last one ended, and the consumed part of the buffer is dropped once per
    chunk (re-slicing the buffer per line made one 2.4 MB chunk cost 8-19 s).
    """
    buffer = bytearray()
    pos = 0  # the start of the first unread line in buffer
    scan = 0  # no line ends in buffer[pos:scan]
    event = ""
    data: list[str] = []
    size = 0
    oversized = False
    for chunk in _with_eof(chunks):
        at_eof = chunk is None
        if chunk:
            buffer += chunk
        while True:
            m = _EOL.search(buffer, scan)
            if m is not None and m.group() == b"\r" and m.end() == len(buffer) and not at_eof:
                m = None  # a CR at the end may be the first half of CRLF: wait for the next byte
                scan = len(buffer) - 1
            elif m is None:
                scan = len(buffer)
            if m is None:
                if len(buffer) - pos > max_event_bytes:  # one endless line
                    pos = scan = len(buffer)
                    oversized = True
                break
            line = buffer[pos:m.start()].decode("utf-8", "replace")
            pos = scan = m.end()
            if not line:
                if data and not oversized:
                    yield event or "message", "\n".join(data)
                event, data, size, oversized = "", [], 0, False
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                size += len(value)
                if size > max_event_bytes:
                    oversized, data = True, []
                elif not oversized:
                    data.append(value)
        if pos:
            del buffer[:pos]
            scan -= pos
            pos = 0


def _with_eof(chunks: Iterable[bytes]) -> Iterator[bytes | None]:
    yield from chunks
    yield None


def streaming_base(instance: Any, fallback: str) -> str:
    """The streaming API's base URL from /api/v2/instance (``configuration.urls.streaming``) or
    /api/v1/instance (``urls.streaming_api``), as http(s) for server-sent events."""
    url = as_str(as_dict(as_dict(as_dict(instance).get("configuration")).get("urls")).get("streaming")) \
        or as_str(as_dict(as_dict(instance).get("urls")).get("streaming_api")) or fallback
    if url.startswith("wss://"):
        url = "https://" + url[6:]
    elif url.startswith("ws://"):
        url = "http://" + url[5:]
    return url.rstrip("/")


class StreamReader:
    """One instance's hashtag stream, read on a daemon thread into the feed's queue.

    ``generation`` counts connections. A connection becomes gap-free (``mark_gap_free``) when a
    timeline catch-up started after it connected has reached the newest status; a drop or
    ``mark_gap`` ends that. The token goes only into the Authorization header; nothing here
    logs headers, and error texts pass through the feed's redaction.
    """

    def __init__(self, feed: MastodonFeed, host: str, base: str, token: SecretStr,
                 out: queue.Queue[tuple[str, int, Any]]) -> None:
        self.feed = feed
        self.host = host
        self.base = base
        self._token = token
        self._out = out
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mastodon-stream-{feed.name}-{host}", daemon=True)
        self._response: requests.Response | None = None
        self.generation = 0
        self.connected = False
        self._gap_free_generation: int | None = None
        self.auth_error: str | None = None
        self.last_error: str | None = None
        self.statuses = 0  # statuses received over the stream (tests and metrics)

    # -- state shared with poll ----------------------------------------------------------------
    def live_generation(self) -> int | None:
        with self._lock:
            return self.generation if self.connected else None

    @property
    def gap_free(self) -> bool:
        with self._lock:
            return self.connected and self._gap_free_generation == self.generation

    def is_gap_free(self, generation: int) -> bool:
        with self._lock:
            return self._gap_free_generation == generation

    def mark_gap_free(self, generation: int) -> None:
        with self._lock:
            if self.connected and self.generation == generation:
                self._gap_free_generation = generation

    def mark_gap(self) -> None:
        with self._lock:
            self._gap_free_generation = None

    # -- thread --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.close()  # unblocks a read waiting for the next heartbeat
            except Exception:  # noqa: S110 - closing a half-dead socket may fail; the thread exits anyway
                pass

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        opts = self.feed.options
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}",
                   "User-Agent": DEFAULT_USER_AGENT}
        stream_base: str | None = opts.streaming_url.rstrip("/") if opts.streaming_url else None
        backoff = 1.0
        try:
            while not self._stop.is_set():
                if stream_base is None:
                    stream_base = self._discover(session, headers)
                    if stream_base is None:
                        stream_base = self.base  # try the API host itself, rediscover next time
                        discovered = False
                    else:
                        discovered = True
                else:
                    discovered = True
                if self._connect_and_read(session, headers, stream_base):
                    backoff = 1.0  # it did connect: a fresh outage starts with a short wait
                if self.auth_error is not None:
                    log.error("mastodon stream refused; feed disabled until the token is fixed",
                              extra={"feed": self.feed.name, "instance": self.host, "error": self.auth_error})
                    return
                if not discovered:
                    stream_base = None
                log.warning("mastodon stream disconnected; timeline polling covers the gap",
                            extra={"feed": self.feed.name, "instance": self.host, "error": self.last_error})
                if self._stop.wait(random.uniform(0.5, 1.0) * backoff):
                    return
                backoff = min(backoff * 2, opts.reconnect_max_seconds)
        finally:
            session.close()

    def _discover(self, session: requests.Session, headers: dict[str, str]) -> str | None:
        for path in ("/api/v2/instance", "/api/v1/instance"):
            try:
                resp = session.get(self.base + path, headers=headers, timeout=(5, 20))
                if resp.status_code == 200:
                    return streaming_base(resp.json(), self.base)
            except (requests.RequestException, ValueError):
                continue
        return None

    def _connect_and_read(self, session: requests.Session, headers: dict[str, str], stream_base: str) -> bool:
        """One connection; returns whether it got as far as an open stream."""
        opts = self.feed.options
        assert opts.hashtag is not None
        path = "/api/v1/streaming/hashtag/local" if opts.local else "/api/v1/streaming/hashtag"
        generation = 0
        try:
            resp = session.get(stream_base + path, params={"tag": opts.hashtag.lstrip("#")},
                               headers={**headers, "Accept": "text/event-stream"}, stream=True,
                               timeout=(10, opts.stream_read_timeout))
        except requests.RequestException as exc:
            self.last_error = self.feed._scrub(f"connection failed: {type(exc).__name__}")
            return False
        self._response = resp
        try:
            if resp.status_code in (401, 403):
                detail = resp.text[:200].strip() if resp.headers.get("content-length", "1") != "0" else ""
                self.auth_error = self.feed._scrub(
                    f"instance {self.host}: the streaming API refused the access token (HTTP {resp.status_code}"
                    + (f": {detail}" if detail else "") + "); Mastodon 4.2+ needs a valid token with read scope")
                return False
            if resp.status_code != 200:
                self.last_error = f"HTTP {resp.status_code} from {stream_base}{path}"
                return False
            with self._lock:
                self.generation += 1
                generation = self.generation
                self.connected = True
            log.info("mastodon stream connected", extra={"feed": self.feed.name, "instance": self.host})
            for event, data in iter_sse(resp.iter_content(chunk_size=None)):
                if self._stop.is_set():
                    break
                if event not in _STATUS_EVENTS:
                    continue  # delete, heartbeats, announcements: nothing to ingest
                try:
                    status = loads_json(data)
                except ValueError:
                    status = {"malformed": data[:1000]}
                self.statuses += 1
                if not self._put((self.host, generation, status)):
                    break
            self.last_error = "the server closed the stream"
        except Exception as exc:  # requests/urllib3 errors, or a socket closed under us by stop()
            self.last_error = self.feed._scrub(f"stream broke: {type(exc).__name__}")
        finally:
            self._response = None
            resp.close()
            with self._lock:
                self.connected = False
                if self._gap_free_generation == generation:
                    self._gap_free_generation = None
        return generation > 0

    def _put(self, item: tuple[str, int, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._out.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue  # backpressure: stop reading; the server buffers or drops us, and we catch up
        return False
