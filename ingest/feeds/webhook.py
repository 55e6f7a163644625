"""A webhook receiver for push sources: HTTP POST of one post (JSON object) or a list of them.

Bodies are posts in their JSON form (the same as replay lines). Requests are authenticated by a
shared token header or by an HMAC-SHA256 signature of the raw body (``sha256=<hex>``, as GitHub
and most senders do), compared in constant time.

Durability: the ingest worker attaches a sink (:meth:`WebhookFeed.attach_sink`). Each request's
posts are then handed to it in the request thread, which matches brands, produces the mentions
and waits for Kafka's acks (``acks=all``) before the 202 goes out; if Kafka does not confirm within
``ack_timeout_seconds`` the answer is 503 with Retry-After, and the sender's retry is harmless
because mention ids are deterministic. A 202 therefore never covers a post that only lives in
memory. The number of posts waiting for acks is bounded by ``queue_size`` (503 beyond it).

Without a sink (``brandpulse feeds test``, connector tests) accepted posts wait in a bounded
in-memory queue that ``poll`` drains; that mode is not durable and is never what the worker runs.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal

from pydantic import Field

from brandpulse.plugins import SecretRef

from .contract import DeliverFn, FeedBase, FeedOptions, ItemError, PollResult, Post
from .records import post_from_record, raw_json

_MAX_PENDING_ERRORS = 1000


class WebhookOptions(FeedOptions):
    host: str = Field(default="127.0.0.1", description="bind address; expose through a reverse proxy")
    port: int = Field(default=8787, ge=0, le=65535, description="0 picks a free port (tests)")
    path: str = Field(default="/ingest", pattern=r"^/[\w./-]*$")
    auth: Literal["hmac", "token"] = "hmac"
    secret: SecretRef
    header: str | None = Field(default=None, description="default: X-BrandPulse-Signature|Token")
    source: str = Field(default="webhook", min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, le=50_000_000)
    max_items_per_request: int = Field(default=1000, ge=1, le=100_000)
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000,
                            description="posts accepted but not yet acknowledged by Kafka; 503 beyond")
    max_batch: int = Field(default=5_000, ge=1, le=1_000_000)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)
    ack_timeout_seconds: float = Field(default=10.0, gt=0, le=120,
                                       description="how long a request waits for Kafka's acks before 503")


class WebhookFeed(FeedBase):
    kind: ClassVar[str] = "webhook"
    Options: ClassVar[type[FeedOptions]] = WebhookOptions

    def __init__(self, name: str, options: FeedOptions, **kwargs: Any) -> None:
        super().__init__(name, options, **kwargs)
        assert isinstance(options, WebhookOptions)
        self.options = options
        self._secret = options.secret.resolve(self.base_dir).get_secret_value().encode()
        self.redact(self._secret.decode())
        self.header = options.header or (
            "X-BrandPulse-Signature" if options.auth == "hmac" else "X-BrandPulse-Token")
        self._posts: collections.deque[Post] = collections.deque()
        self._errors: collections.deque[ItemError] = collections.deque(maxlen=_MAX_PENDING_ERRORS)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sink: DeliverFn | None = None
        self._in_flight = 0  # posts of requests waiting for the sink (Kafka acks)
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
                server = ThreadingHTTPServer((self.options.host, self.options.port), self._handler_class())
            except OSError as exc:
                raise self.fail(f"cannot listen on {self.options.host}:{self.options.port}: {exc}") from exc
            server.daemon_threads = True
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

    def verify(self, body: bytes, presented: str | None) -> bool:
        if not presented:
            return False
        if self.options.auth == "token":
            return hmac.compare_digest(presented.strip().encode(), self._secret)
        expected = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        value = presented.strip()
        if value.lower().startswith("sha256="):
            value = value[7:]
        return hmac.compare_digest(value.lower().encode(), expected.encode())

    def accept(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Decide the response for an authenticated JSON body: (status, json reply, extra headers)."""
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return 400, {"error": f"body is not UTF-8 (byte {exc.start})"}, {}
        except json.JSONDecodeError as exc:
            return 400, {"error": f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"}, {}
        items = data if isinstance(data, list) else [data]
        if len(items) > self.options.max_items_per_request:
            limit = self.options.max_items_per_request
            return 413, {"error": f"{len(items)} items, over the {limit} limit"}, {}
        posts: list[Post] = []
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                posts.append(post_from_record(item, default_source=self.options.source))
            except ValueError as exc:
                rejected.append({"index": index, "reason": str(exc)})
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
                                     native_id=str(native) if native else None, raw=raw_json(item)))
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

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the worker logs outcomes; per-request access logs would leak into its stream

            def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None,
                       close: bool = False) -> None:
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
                if self.path.split("?", 1)[0] != feed.options.path:
                    self._reply(404, {"error": "not found"})
                    return
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    self._reply(411, {"error": "send a Content-Length; chunked bodies are not accepted"},
                                close=True)
                    return
                length_header = self.headers.get("Content-Length")
                if length_header is None or not length_header.isdigit():
                    self._reply(411, {"error": "Content-Length required"}, close=True)
                    return
                length = int(length_header)
                if length > feed.options.max_body_bytes:
                    # not read: closing is cheaper than draining an oversized body
                    self._reply(413, {"error": f"body over {feed.options.max_body_bytes} bytes"}, close=True)
                    return
                body = self.rfile.read(length)
                if len(body) < length:
                    self._reply(400, {"error": "body shorter than Content-Length"}, close=True)
                    return
                if not feed.verify(body, self.headers.get(feed.header)):
                    self._reply(401, {"error": f"missing or invalid {feed.header}"})
                    return
                ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
                if ctype != "application/json" and not ctype.endswith("+json"):
                    self._reply(415, {"error": f"expected application/json, got {ctype or 'nothing'}"})
                    return
                status, payload, headers = feed.accept(body)
                self._reply(status, payload, headers)

            def _method_not_allowed(self) -> None:
                self._reply(405, {"error": "use POST"}, {"Allow": "POST"})

            do_GET = _method_not_allowed
            do_PUT = _method_not_allowed
            do_DELETE = _method_not_allowed
            do_PATCH = _method_not_allowed

        return Handler
