"""Bluesky: the Jetstream firehose (push, WebSocket) and ``app.bsky.feed.searchPosts`` (poll).

Jetstream sends every post on the network; brand matching happens in the worker, so this
connector only bounds volume with an optional cheap keyword/language prefilter. A background
thread reads the socket into a bounded queue; when the queue is full the reader blocks, TCP
backpressure slows the server, and if the server drops us we reconnect from the last event
(minus a short rewind, which Jetstream recommends for gapless playback). ``poll`` drains the queue
and returns Jetstream's microsecond cursor, so a restarted worker resumes where production ended.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr

from brandpulse.plugins import SecretRef
from brandpulse.schema import Author, Engagement
from brandpulse.timeparse import parse_timestamp
from ingest.http import HttpError

from .contract import FeedBase, FeedOptions, ItemError, PollResult, Post
from .cursor import SeenWindow
from .records import as_count, as_dict, as_str, loads_json, raw_json

POST_COLLECTION = "app.bsky.feed.post"
# A createdAt this far after the event's own time is a client clock bug; the event time wins.
_MAX_FUTURE_SKEW = timedelta(hours=1)


def post_url(author: str, uri: str) -> str | None:
    rkey = uri.rsplit("/", 1)[-1] if uri.startswith("at://") else None
    return f"https://bsky.app/profile/{author}/post/{rkey}" if rkey else None


# =================================================================================================
# Jetstream
# =================================================================================================


class JetstreamOptions(FeedOptions):
    url: str = Field(default="wss://jetstream2.us-east.bsky.network/subscribe", pattern=r"^wss?://")
    keywords: tuple[str, ...] = Field(default=(), description="keep posts containing any (case-insensitive)")
    langs: tuple[str, ...] = Field(default=(), description="keep only posts declaring one of these languages")
    rewind_seconds: float = Field(default=5.0, ge=0, le=3600)
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    max_batch: int = Field(default=5_000, ge=1, le=1_000_000)
    connect_timeout: float = Field(default=10.0, gt=0, le=120)
    reconnect_max_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_message_bytes: int = Field(default=1_000_000, ge=1024)


class JetstreamFeed(FeedBase):
    kind: ClassVar[str] = "bluesky_jetstream"
    Options: ClassVar[type[FeedOptions]] = JetstreamOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, JetstreamOptions)
        self.options = options
        try:
            import websockets.sync.client  # noqa: F401 - fail at build time, not silently in the thread
        except ImportError as exc:
            raise ValueError("bluesky_jetstream needs the 'websockets' package (pip install websockets)") from exc
        self._keywords = tuple(k.casefold() for k in options.keywords if k)
        self._langs = tuple(lang.lower() for lang in options.langs if lang)
        self._queue: queue.Queue[tuple[int, Post | ItemError]] = queue.Queue(maxsize=options.queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handed_out: int | None = None  # the cursor returned by the last poll
        self._lock = threading.Lock()
        self._latest_us: int | None = None  # newest event read (matched or not), after it was queued
        self._connected = False
        self._ever_connected = False
        self._disconnected_at = 0.0  # monotonic time of the last disconnect
        self.last_error: str | None = None
        self.connections = 0  # how many times the socket was (re)opened; for tests and metrics
        self.restarts = 0

    # -- worker side -----------------------------------------------------------------------------

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        raw_start = cursor.get("time_us") if isinstance(cursor, dict) else None
        start = raw_start if isinstance(raw_start, int) and not isinstance(raw_start, bool) else None
        if self._thread is None:
            self._start(start)
        elif start is not None and self._handed_out is not None and start < self._handed_out:
            # The worker is back at an older cursor: what we handed out was not produced (a failed
            # send). The queue has forgotten it, so replay from the worker's position instead.
            self._restart(start)
        with self._lock:
            latest = self._latest_us
        posts: list[Post] = []
        errors: list[ItemError] = []
        drained_us: int | None = None
        exhausted = False
        while len(posts) + len(errors) < self.options.max_batch:
            try:
                time_us, item = self._queue.get_nowait()
            except queue.Empty:
                exhausted = True
                break
            drained_us = time_us if drained_us is None or time_us > drained_us else drained_us
            if isinstance(item, Post):
                posts.append(item)
            else:
                errors.append(item)
        # Everything read before `latest` was queued before it was recorded, so once the queue is
        # empty the cursor may move past filtered-out events too (a resume then skips them).
        position = drained_us
        if exhausted and latest is not None and (position is None or latest > position):
            position = latest
        if not posts and not errors and self._down_too_long():
            raise self.fail(f"jetstream not connected: {self.last_error}")
        prior = cursor.get("time_us") if isinstance(cursor, dict) else None
        if position is None:
            position = prior if isinstance(prior, int) else None
        self._handed_out = position
        return PollResult(posts, {"time_us": position} if position is not None else None, errors)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.connect_timeout + 2)
        super().close()

    @property
    def connected(self) -> bool:
        return self._connected

    def _down_too_long(self) -> bool:
        """A routine server-side close is followed by a reconnect within seconds: only report an
        outage when we never got in, or have been out for longer than a reconnect should take."""
        if self._connected or not self.last_error:
            return False
        if not self._ever_connected:
            return True
        return time.monotonic() - self._disconnected_at > self.options.connect_timeout + 5

    # -- reader thread ---------------------------------------------------------------------------

    def _start(self, cursor_us: int | None) -> None:
        self._stop = threading.Event()  # one per reader thread, so a slow old reader can't resume
        self._thread = threading.Thread(target=self._run, args=(cursor_us, self._stop),
                                        name=f"jetstream-{self.name}", daemon=True)
        self._thread.start()

    def _restart(self, cursor_us: int) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.connect_timeout + 2)
        with self._lock:
            self._latest_us = None
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self.restarts += 1
        self._start(cursor_us)

    def _subscribe_url(self, cursor_us: int | None) -> str:
        parts = urlsplit(self.options.url)
        query = [("wantedCollections", POST_COLLECTION)]
        if cursor_us is not None:
            query.append(("cursor", str(max(0, cursor_us - int(self.options.rewind_seconds * 1_000_000)))))
        extra = parts.query + "&" if parts.query else ""
        return urlunsplit((parts.scheme, parts.netloc, parts.path, extra + urlencode(query), ""))

    def _run(self, cursor_us: int | None, stop: threading.Event) -> None:
        from websockets.exceptions import ConnectionClosed, WebSocketException
        from websockets.sync.client import connect

        backoff = 1.0
        recent = SeenWindow(max_entries=50_000)  # absorbs the rewind's repeats within this process
        while not stop.is_set():
            try:
                with connect(self._subscribe_url(cursor_us), open_timeout=self.options.connect_timeout,
                             close_timeout=2, max_size=self.options.max_message_bytes,
                             user_agent_header="BrandPulse/0.1 (social listening)") as ws:
                    self._connected = True
                    self._ever_connected = True
                    self.connections += 1
                    self.last_error = None
                    backoff = 1.0
                    while not stop.is_set():
                        try:
                            message = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        event_us = self._handle(message, recent, stop)
                        if event_us is not None:
                            cursor_us = event_us
            except (OSError, ConnectionClosed, WebSocketException, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            except Exception as exc:  # a dead reader thread would stall the feed silently
                self.last_error = f"reader error: {type(exc).__name__}: {exc}"[:300]
            finally:
                if self._connected:
                    self._disconnected_at = time.monotonic()
                self._connected = False
            # jittered so that many feeds don't reconnect in lockstep after an outage
            if stop.wait(random.uniform(0.5, 1.0) * backoff):
                break
            backoff = min(backoff * 2, self.options.reconnect_max_seconds)

    def _put(self, time_us: int, item: Post | ItemError, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                self._queue.put((time_us, item), timeout=0.5)
                return True
            except queue.Full:
                continue  # backpressure: stop reading the socket until the worker drains
        return False

    def _handle(self, message: str | bytes, recent: SeenWindow, stop: threading.Event) -> int | None:
        """Queue what the message yields; returns the event's time_us once it is fully handled."""
        raw = message.encode("utf-8", "replace") if isinstance(message, str) else message
        try:
            event = loads_json(raw)
        except ValueError as exc:
            self._put(self._latest_us or 0, self.error(f"malformed Jetstream message: {exc}", raw=raw), stop)
            return None
        if not isinstance(event, dict):
            return None
        time_us = event.get("time_us")
        if not isinstance(time_us, int) or isinstance(time_us, bool):
            self._put(self._latest_us or 0, self.error("Jetstream event without time_us", raw=raw), stop)
            return None
        item = self.guarded(lambda e: self._event_to_item(e, time_us, raw), event)
        if item is not None:
            if isinstance(item, Post):
                if item.native_id in recent:
                    item = None
                else:
                    recent.add(item.native_id)
            if item is not None and not self._put(time_us, item, stop):
                return None
        if stop.is_set():
            return None  # a replaced reader must not move the shared position
        with self._lock:
            if self._latest_us is None or time_us > self._latest_us:
                self._latest_us = time_us
        return time_us

    def _event_to_item(self, event: dict[str, Any], time_us: int, raw: bytes) -> Post | ItemError | None:
        if event.get("kind") != "commit":
            return None  # identity / account events
        commit = as_dict(event.get("commit"))
        if commit.get("operation") != "create" or commit.get("collection") != POST_COLLECTION:
            return None
        did = as_str(event.get("did"))
        rkey = as_str(commit.get("rkey"))
        if not did or not rkey:
            return self.error("post event without did or rkey", raw=raw)
        uri = f"at://{did}/{POST_COLLECTION}/{rkey}"
        record = as_dict(commit.get("record"))
        text = record.get("text")
        if not isinstance(text, str):
            return self.error("post record has no text", native_id=uri, raw=raw)
        langs = [lang for lang in record.get("langs") or [] if isinstance(lang, str)]
        if self._keywords and not any(k in text.casefold() for k in self._keywords):
            return None
        if self._langs and not any(lang.lower().startswith(self._langs) for lang in langs):
            return None
        event_time = datetime.fromtimestamp(time_us / 1_000_000, tz=UTC)
        try:
            created = parse_timestamp(record.get("createdAt"))
            if created - event_time > _MAX_FUTURE_SKEW:
                created = event_time
        except ValueError:
            created = event_time
        return Post(source="bluesky", native_id=uri, text=text, created_at=created,
                    url=post_url(did, uri), author=Author(id=did), lang=langs[0] if langs else None)


# =================================================================================================
# searchPosts
# =================================================================================================


class BlueskySearchOptions(FeedOptions):
    query: str = Field(min_length=1, max_length=512)
    identifier: str = Field(min_length=1, description="handle (or DID/email) of the account that searches")
    app_password: SecretRef
    service: str = Field(default="https://bsky.social", pattern=r"^https?://")
    lang: str | None = None
    limit: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=3, ge=1, le=20)
    overlap_seconds: int = Field(default=60, ge=0, le=86_400)
    seen_window: int = Field(default=2000, ge=10, le=3000)


class BlueskySearchFeed(FeedBase):
    kind: ClassVar[str] = "bluesky_search"
    Options: ClassVar[type[FeedOptions]] = BlueskySearchOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, BlueskySearchOptions)
        self.options = options
        self._password: SecretStr = options.app_password.resolve(self.base_dir)
        self.redact(self._password.get_secret_value())
        self._access_jwt: str | None = None
        self.sessions_created = 0

    def _xrpc(self, method: str) -> str:
        return f"{self.options.service.rstrip('/')}/xrpc/{method}"

    def _login(self) -> str:
        data, _ = self.request_json("POST", self._xrpc("com.atproto.server.createSession"),
                                    json_body={"identifier": self.options.identifier,
                                               "password": self._password.get_secret_value()})
        token = as_str(as_dict(data).get("accessJwt"))
        if not token:
            raise self.fail("createSession returned no accessJwt")
        self.sessions_created += 1
        self.redact(token)
        self._access_jwt = token
        return token

    def _search(self, params: dict[str, str]) -> Any:
        http = self.make_http()
        for attempt in range(2):
            token = self._access_jwt or self._login()
            try:
                return http.get(self._xrpc("app.bsky.feed.searchPosts"), params=params, expect="json",
                                headers={"Authorization": f"Bearer {token}"}).json()
            except HttpError as exc:
                expired = exc.status == 401 or (exc.status == 400 and "Token" in exc.message)
                if expired and attempt == 0:
                    self._access_jwt = None  # access tokens live minutes; log in again once
                    continue
                raise self.fail(exc.message, retry_after=exc.retry_after) from exc
        raise self.fail("unreachable")

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        cursor = cursor if isinstance(cursor, dict) else {}
        seen = SeenWindow(cursor.get("seen") or [], max_entries=self.options.seen_window)
        since_raw = as_str(cursor.get("since"))
        params = {"q": self.options.query, "sort": "latest", "limit": str(self.options.limit)}
        if self.options.lang:
            params["lang"] = self.options.lang
        if since_raw:
            try:
                since = parse_timestamp(since_raw) - timedelta(seconds=self.options.overlap_seconds)
                params["since"] = since.isoformat().replace("+00:00", "Z")
            except ValueError:
                pass
        posts: list[Post] = []
        errors: list[ItemError] = []
        newest: datetime | None = None
        page_cursor: str | None = None
        for _ in range(self.options.max_pages if since_raw else 1):
            data = as_dict(self._search(dict(params, cursor=page_cursor) if page_cursor else params))
            page = data.get("posts")
            if not isinstance(page, list):
                raise self.fail("searchPosts response has no posts array")
            for view in page:
                item = self.guarded(self._view_to_post, view)
                if isinstance(item, ItemError):
                    errors.append(item)
                    continue
                sort_at = item.created_at
                newest = sort_at if newest is None or sort_at > newest else newest
                if item.native_id in seen:
                    continue
                seen.add(item.native_id)
                posts.append(item)
            page_cursor = as_str(data.get("cursor"))
            if not page or not page_cursor:
                break
        new_since = since_raw
        if newest is not None:
            prior = _try_parse(since_raw)
            if prior is None or newest > prior:
                new_since = newest.isoformat().replace("+00:00", "Z")
        new_cursor: dict[str, Any] = {"seen": seen.to_list()}
        if new_since:
            new_cursor["since"] = new_since
        return PollResult(posts, new_cursor, errors)

    def _view_to_post(self, view: Any) -> Post | ItemError:
        view = as_dict(view)
        uri = as_str(view.get("uri"))
        if not uri:
            return self.error("post view has no uri", raw=raw_json(view))
        record = as_dict(view.get("record"))
        text = record.get("text")
        if not isinstance(text, str):
            return self.error("post record has no text", native_id=uri, raw=raw_json(view))
        try:
            created = parse_timestamp(record.get("createdAt"))
        except ValueError:
            try:
                created = parse_timestamp(view.get("indexedAt"))
            except ValueError as exc:
                return self.error(f"no usable timestamp: {exc}", native_id=uri, raw=raw_json(view))
        indexed = _try_parse(as_str(view.get("indexedAt")))
        if indexed is not None and indexed < created:
            created = indexed  # sortAt = min(createdAt, indexedAt): guards against clock-skewed clients
        author = as_dict(view.get("author"))
        handle = as_str(author.get("handle"))
        did = as_str(author.get("did"))
        langs = [lang for lang in record.get("langs") or [] if isinstance(lang, str)]
        return Post(
            source="bluesky",
            native_id=uri,
            text=text,
            created_at=created,
            url=post_url(handle or did or "", uri) if (handle or did) else None,
            author=Author(id=did, handle=handle, name=as_str(author.get("displayName"))),
            engagement=Engagement(likes=as_count(view.get("likeCount")),
                                  shares=as_count(view.get("repostCount")) + as_count(view.get("quoteCount")),
                                  replies=as_count(view.get("replyCount"))),
            lang=langs[0] if langs else None,
        )


def _try_parse(value: str | None) -> datetime | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return parse_timestamp(value)
    return None
