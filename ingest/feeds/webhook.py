"""A webhook receiver for push sources: HTTP POST of one post (JSON object) or a list of them.

Bodies are posts in their JSON form (the same as replay lines). Requests are authenticated by an
HMAC-SHA256 signature over a timestamp and the raw body — the scheme BrandPulse's own alert
webhook signs with (``brandpulse/signing.py``): ``X-BrandPulse-Timestamp: <unix seconds>`` and
``X-BrandPulse-Signature: sha256=<hex HMAC(secret, "<timestamp>." + body)>``, compared in constant
time. A timestamp more than ``max_skew_seconds`` from the receiver's clock is refused, and so is a
signature already accepted within that window (409): a captured request cannot be replayed. A
shared token header (``auth: token``) remains for senders that cannot sign. The ``source`` of every
post is the configured one, whatever the body says: mention ids hash the source, so a sender that
could pick it could overwrite another source's documents.

The server is built for senders that may be hostile: every socket read has a timeout
(``read_timeout_seconds``, also the idle time of a kept-alive connection), the request head and
body must arrive within ``request_timeout_seconds``, at most ``max_connections`` connections are
served at once (more are answered 503 and closed without a thread), and a malformed request —
a ``Content-Length`` that is not ASCII digits, JSON nested too deeply — gets a 4xx, never a
traceback.

Durability: the ingest worker attaches a sink (:meth:`WebhookFeed.attach_sink`). Each request's
posts are then handed to it in the request thread, which matches brands, produces the mentions
and waits for Kafka's acks (``acks=all``) before the 202 goes out; if Kafka does not confirm within
``ack_timeout_seconds`` the answer is 503 with Retry-After, and the sender's retry (signed afresh)
is harmless because mention ids are deterministic. A 202 therefore never covers a post that only
lives in memory. The number of posts waiting for acks is bounded by ``queue_size`` (503 beyond it).

Without a sink (``brandpulse feeds test``, connector tests) accepted posts wait in a bounded
in-memory queue that ``poll`` drains; that mode is not durable and is never what the worker runs.
"""

from __future__ import annotations

import collections
import heapq
import hmac
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal

from pydantic import Field

from brandpulse.plugins import SecretRef
from brandpulse.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, timestamp_ok, verify_signature

from .contract import DeliverFn, FeedBase, FeedOptions, ItemError, PollResult, Post
from .records import loads_json, post_from_record, raw_json

log = logging.getLogger(__name__)

_MAX_PENDING_ERRORS = 1000
# Signatures accepted within the replay window are remembered up to this many; past it, requests
# are refused (503) rather than accepted without replay protection.
_MAX_REMEMBERED = 100_000
_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")  # ASCII digits: "²".isdigit() is True in Python


class WebhookOptions(FeedOptions):
    host: str = Field(default="127.0.0.1", description="bind address; expose through a reverse proxy")
    port: int = Field(default=8787, ge=0, le=65535, description="0 picks a free port (tests)")
    path: str = Field(default="/ingest", pattern=r"^/[\w./-]*$")
    auth: Literal["hmac", "token"] = "hmac"
    secret: SecretRef
    header: str | None = Field(default=None, description="default: X-BrandPulse-Signature|Token")
    timestamp_header: str = Field(default=TIMESTAMP_HEADER, pattern=r"^[A-Za-z0-9-]{1,64}$")
    max_skew_seconds: float = Field(default=300.0, ge=5, le=3600,
                                    description="hmac: refuse timestamps further than this from our clock")
    source: str = Field(default="webhook", min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$",
                        description="the source of every post received (a body's own `source` is ignored)")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, le=50_000_000)
    max_items_per_request: int = Field(default=1000, ge=1, le=100_000)
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000,
                            description="posts accepted but not yet acknowledged by Kafka; 503 beyond")
    max_batch: int = Field(default=5_000, ge=1, le=1_000_000)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)
    ack_timeout_seconds: float = Field(default=10.0, gt=0, le=120,
                                       description="how long a request waits for Kafka's acks before 503")
    max_connections: int = Field(default=64, ge=1, le=10_000,
                                 description="connections served at once; more get 503 and are closed")
    read_timeout_seconds: float = Field(default=10.0, gt=0, le=300,
                                        description="per socket read, and the idle time of a kept-alive connection")
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600,
                                           description="the request head and body must arrive within this")


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer with a connection cap and a deadline for reading each request."""

    daemon_threads = True
    # The listen backlog: a burst of connections (honest or not) waits in the kernel instead of
    # being dropped and retried by TCP seconds later; each is then served or refused at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
                 max_connections: int, retry_after: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self._retry_after = retry_after
        self._reading: dict[socket.socket, float] = {}  # connection -> monotonic deadline
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.refused_connections = 0
        self.timed_out_requests = 0
        super().__init__(address, handler)  # binds; on failure it calls server_close
        self._reaper = threading.Thread(target=self._reap, name="webhook-reaper", daemon=True)
        self._reaper.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Over the cap: answered here, on the accepting thread, without reading anything.
            self.refused_connections += 1
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Retry-After: %d\r\nConnection: close\r\n\r\n" % self._retry_after)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.unwatch(request)
            self._slots.release()

    def watch(self, conn: socket.socket, seconds: float) -> None:
        with self._lock:
            self._reading[conn] = time.monotonic() + seconds

    def unwatch(self, conn: socket.socket) -> None:
        with self._lock:
            self._reading.pop(conn, None)

    def _reap(self) -> None:
        """Shut connections whose request has not fully arrived by its deadline (slowloris)."""
        while not self._stop.wait(0.25):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._reading.items() if deadline <= now]
                for conn in late:
                    del self._reading[conn]
            for conn in late:
                self.timed_out_requests += 1
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A peer that hangs up mid-request is routine here; a traceback on stderr per occurrence
        # would let anyone flood the worker's log.
        log.debug("webhook connection failed", exc_info=True)

    def server_close(self) -> None:
        self._stop.set()
        super().server_close()


class _Replays:
    """Signatures accepted within the replay window; a second use of one is a replay."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def add(self, signature: str, expires: float, now: float) -> bool | None:
        """True if new (remembered now), False if seen before, None if the memory is full."""
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                self._seen.discard(heapq.heappop(self._expiry)[1])
            if signature in self._seen:
                return False
            if len(self._seen) >= _MAX_REMEMBERED:
                return None
            self._seen.add(signature)
            heapq.heappush(self._expiry, (expires, signature))
            return True

    def forget(self, signature: str) -> None:
        """A request that was not accepted (503: Kafka down) may be sent again as it is."""
        with self._lock:
            self._seen.discard(signature)


class WebhookFeed(FeedBase):
    kind: ClassVar[str] = "webhook"
    Options: ClassVar[type[FeedOptions]] = WebhookOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, WebhookOptions)
        self.options = options
        self._secret = options.secret.resolve(self.base_dir).get_secret_value().encode()
        self.redact(self._secret.decode())
        self.header = options.header or (SIGNATURE_HEADER if options.auth == "hmac" else "X-BrandPulse-Token")
        self._posts: collections.deque[Post] = collections.deque()
        self._errors: collections.deque[ItemError] = collections.deque(maxlen=_MAX_PENDING_ERRORS)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sink: DeliverFn | None = None
        self._in_flight = 0  # posts of requests waiting for the sink (Kafka acks)
        self._replays = _Replays()
        self.rejected_requests = 0
        self.last_delivery_error: str | None = None

    def attach_sink(self, deliver: DeliverFn) -> None:
        """Make every accepted request durable before it is answered (the worker's producer path).

        Call before the server starts serving; posts are never queued in memory afterwards.
        """
        self._sink = deliver

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Bind and serve (idempotent); returns the bound (host, port)."""
        if self._server is None:
            try:
                server = _Server((self.options.host, self.options.port), self._handler_class(),
                                 max_connections=self.options.max_connections,
                                 retry_after=self.options.retry_after_seconds)
            except OSError as exc:
                raise self.fail(f"cannot listen on {self.options.host}:{self.options.port}: {exc}") from exc
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                            name=f"webhook-{self.name}", daemon=True)
            self._thread.start()
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def address(self) -> tuple[str, int] | None:
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def server_stats(self) -> dict[str, int]:
        """Connections refused over the cap and requests cut off at their deadline (tests, health)."""
        server = self._server
        if server is None:
            return {"refused_connections": 0, "timed_out_requests": 0}
        return {"refused_connections": server.refused_connections, "timed_out_requests": server.timed_out_requests}

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        super().close()

    def poll(self, cursor: dict[str, Any] | None) -> PollResult:
        self.start()
        batch: list[Post] = []
        with self._lock:
            while self._posts and len(batch) < self.options.max_batch:
                batch.append(self._posts.popleft())
            errors = list(self._errors)
            self._errors.clear()
        # a sender re-sending an item (an edit, a retry) within one batch: the latest copy wins
        latest = {post.native_id: post for post in batch}
        posts = [post for post in batch if latest[post.native_id] is post]
        return PollResult(posts, None, errors)

    # -- request handling ------------------------------------------------------------------------

    def verify(self, body: bytes, presented: str | None, timestamp: str | None = None,
               now: float | None = None) -> str | None:
        """None when the request is authentic, else why not (the 401's message)."""
        if self.options.auth == "token":
            if presented and hmac.compare_digest(presented.strip().encode("utf-8", "replace"), self._secret):
                return None
            return f"missing or invalid {self.header}"
        if not presented:
            return f"missing {self.header}"
        tolerance = self.options.max_skew_seconds
        if not timestamp_ok(timestamp, tolerance=tolerance, now=now):
            # Also what a sender still on the old body-only signature gets: that scheme could be
            # replayed forever, so it is not accepted any more (ingest/FEEDS.md, "webhook").
            return (f"missing or stale {self.options.timestamp_header}: sign \"<unix seconds>.<body>\" and send "
                    f"the timestamp (at most {tolerance:g}s from our clock)")
        if not verify_signature(self._secret, body, timestamp, presented, tolerance=tolerance, now=now):
            return f"invalid {self.header}"
        return None

    def accept(self, body: bytes, *, signature: str | None = None,
               now: float | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Decide the response for an authenticated JSON body: (status, json reply, extra headers).

        ``signature`` (hmac requests) is remembered for the replay window: the same signed
        request a second time is a replay (409), unless the first one was not accepted (503).
        """
        if signature is not None:
            now = time.time() if now is None else now
            fresh = self._replays.add(signature.strip().lower(), now + 2 * self.options.max_skew_seconds, now)
            if fresh is False:
                return 409, {"error": "replayed request: this signature was already accepted"}, {}
            if fresh is None:
                return 503, {"error": "too many requests within the replay window, retry later"}, {
                    "Retry-After": str(self.options.retry_after_seconds)}
        status, payload, headers = self._accept(body)
        if status == 503 and signature is not None:
            self._replays.forget(signature.strip().lower())
        return status, payload, headers

    def _accept(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return 400, {"error": f"body is not UTF-8 (byte {exc.start})"}, {}
        try:
            data = loads_json(text)
        except ValueError as exc:
            return 400, {"error": str(exc)}, {}
        items = data if isinstance(data, list) else [data]
        if len(items) > self.options.max_items_per_request:
            limit = self.options.max_items_per_request
            return 413, {"error": f"{len(items)} items, over the {limit} limit"}, {}
        posts: list[Post] = []
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                # the configured source, always: see the module docstring
                posts.append(post_from_record(item, default_source=self.options.source, force_source=True))
            except Exception as exc:  # any way an item can be wrong is that item's rejection
                reason = str(exc) if isinstance(exc, ValueError) else f"unreadable item: {type(exc).__name__}"
                rejected.append({"index": index, "reason": reason[:300]})
        if self._sink is not None:
            return self._accept_durably(self._sink, items, posts, rejected)
        with self._lock:
            if posts and len(self._posts) + len(posts) > self.options.queue_size:
                # all or nothing: a partial accept would make the sender's retry duplicate the rest
                return 503, {"error": "queue full, retry later"}, {
                    "Retry-After": str(self.options.retry_after_seconds)}
            self._posts.extend(posts)
            self._errors.extend(self._item_errors(items, rejected))
        if not posts and rejected:
            return 400, {"error": "no valid items", "rejected": rejected}, {}
        return 202, {"accepted": len(posts), "rejected": rejected}, {}

    def _item_errors(self, items: list[Any], rejected: list[dict[str, Any]]) -> list[ItemError]:
        errors: list[ItemError] = []
        for rej in rejected:
            item = items[rej["index"]]
            native = item.get("native_id") if isinstance(item, dict) else None
            errors.append(self.error(f"webhook item {rej['index']}: {rej['reason']}",
                                     native_id=str(native)[:200] if native else None, raw=raw_json(item)))
        return errors

    def _accept_durably(
        self, sink: DeliverFn, items: list[Any], posts: list[Post], rejected: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Hand the request to the sink and answer only once Kafka has acknowledged it."""
        retry = {"Retry-After": str(self.options.retry_after_seconds)}
        with self._lock:
            if posts and self._in_flight + len(posts) > self.options.queue_size:
                return 503, {"error": "too many posts waiting for Kafka, retry later"}, retry
            self._in_flight += len(posts)
        # an item sent twice in one request: the latest copy wins, as in a poll
        latest = {post.native_id: post for post in posts}
        unique = [post for post in posts if latest[post.native_id] is post]
        try:
            if unique or rejected:
                sink(unique, self._item_errors(items, rejected), self.options.ack_timeout_seconds)
            self.last_delivery_error = None
        except Exception as exc:
            self.last_delivery_error = self._scrub(f"{type(exc).__name__}: {exc}")[:300]
            if posts:
                return 503, {"error": "not acknowledged by Kafka, retry later"}, retry
            # only rejected items: nothing to store; the sender must fix them, not retry them
        finally:
            with self._lock:
                self._in_flight -= len(posts)
        if not posts and rejected:
            return 400, {"error": "no valid items", "rejected": rejected}, {}
        return 202, {"accepted": len(posts), "rejected": rejected}, {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "BrandPulseWebhook"
            sys_version = ""
            # Every socket read waits at most this long; it is also how long a kept-alive
            # connection may sit idle (the standard handler closes it on the timeout).
            timeout = feed.options.read_timeout_seconds
            server: _Server

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the worker logs outcomes; per-request access logs would leak into its stream

            def handle_one_request(self) -> None:
                # The request line, the headers and the body must all arrive within the request
                # deadline: one byte per read_timeout would otherwise hold the thread forever.
                self.server.watch(self.connection, feed.options.request_timeout_seconds)
                try:
                    super().handle_one_request()
                finally:
                    self.server.unwatch(self.connection)

            def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None,
                       close: bool = False) -> None:
                self.server.unwatch(self.connection)
                body = json.dumps(payload, ensure_ascii=False).encode()
                if status >= 400:
                    feed.rejected_requests += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                try:
                    self._post()
                except OSError:
                    self.close_connection = True  # the peer left, or its deadline passed
                except Exception:
                    log.exception("webhook request failed", extra={"feed": feed.name})
                    self.close_connection = True
                    try:
                        self._reply(500, {"error": "internal error"}, close=True)
                    except OSError:
                        pass

            def _post(self) -> None:
                if self.path.split("?", 1)[0] != feed.options.path:
                    self._reply(404, {"error": "not found"}, close=True)
                    return
                if self.headers.get("Transfer-Encoding") is not None:
                    self._reply(411, {"error": "send a Content-Length; chunked bodies are not accepted"},
                                close=True)
                    return
                lengths = self.headers.get_all("Content-Length") or []
                if not lengths:
                    self._reply(411, {"error": "Content-Length required"}, close=True)
                    return
                if len(set(lengths)) > 1 or not _CONTENT_LENGTH.fullmatch(lengths[0].strip()):
                    self._reply(400, {"error": "Content-Length must be one number of ASCII digits"}, close=True)
                    return
                length = int(lengths[0])
                if length > feed.options.max_body_bytes:
                    # not read: closing is cheaper than draining an oversized body
                    self._reply(413, {"error": f"body over {feed.options.max_body_bytes} bytes"}, close=True)
                    return
                body = self.rfile.read(length)
                if len(body) < length:
                    self._reply(400, {"error": "body shorter than Content-Length"}, close=True)
                    return
                self.server.unwatch(self.connection)  # all in: delivery has its own timeout
                presented = self.headers.get(feed.header)
                reason = feed.verify(body, presented, self.headers.get(feed.options.timestamp_header))
                if reason is not None:
                    self._reply(401, {"error": reason})
                    return
                ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
                if ctype != "application/json" and not ctype.endswith("+json"):
                    self._reply(415, {"error": f"expected application/json, got {ctype[:100] or 'nothing'}"})
                    return
                signature = presented if feed.options.auth == "hmac" else None
                status, payload, headers = feed.accept(body, signature=signature)
                self._reply(status, payload, headers)

            def _method_not_allowed(self) -> None:
                self._reply(405, {"error": "use POST"}, {"Allow": "POST"})

            do_GET = _method_not_allowed
            do_PUT = _method_not_allowed
            do_DELETE = _method_not_allowed
            do_PATCH = _method_not_allowed

        return Handler
