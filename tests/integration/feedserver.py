"""A scripted local HTTP server for connector tests (127.0.0.1, ephemeral port, threaded).

Routes map a path to a queue of replies; the last reply repeats. A reply can be a callable that
looks at the request (query, headers) so pagination, cursors and conditional GET behave like the
real APIs. Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line: makes the client's read timeout fire
    truncate_to: int | None = None  # send only this many body bytes but declare the full length

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


Responder = Reply | Callable[[Request], Reply]


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Responder]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = server._next(req)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.encoded()
                try:
                    self.send_response(reply.status)
                    if reply.content_type is not None:
                        self.send_header("Content-Type", reply.content_type)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    if reply.truncate_to is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if reply.status != 304 and self.command != "HEAD":
                        end = len(payload) if reply.truncate_to is None else reply.truncate_to
                        self.wfile.write(payload[:end])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)
                if reply.truncate_to is not None:
                    self.close_connection = True

            do_GET = _handle
            do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="feedserver", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *replies: Responder) -> None:
        with self._lock:
            self.routes[path] = list(replies)

    def _next(self, req: Request) -> Reply:
        with self._lock:
            self.requests.append(req)
            queue = self.routes.get(req.path)
            if not queue:
                return Reply(404, {"error": "not found", "path": req.path})
            responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(req) if callable(responder) else responder

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class JetstreamServer:
    """A local Jetstream: replays recorded events over WebSocket, honouring ``cursor`` like the real one.

    Without a cursor it sends every event (they stand for the live stream); with one it sends the
    events whose ``time_us`` is at or after it. ``drop_after`` closes the socket after that many
    messages to exercise reconnects.
    """

    def __init__(self, messages: list[str]) -> None:
        from websockets.sync.server import serve

        self.messages = list(messages)
        self.queries: list[dict[str, list[str]]] = []
        self.drop_after: int | None = None
        self._stop = threading.Event()
        self.server = serve(self._handler, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/subscribe"
        self._thread = threading.Thread(target=self.server.serve_forever, name="jetstream", daemon=True)
        self._thread.start()

    def _handler(self, ws: Any) -> None:
        query = parse_qs(urlsplit(ws.request.path).query)
        self.queries.append(query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        sent = 0
        for raw in self.messages:
            try:
                time_us = json.loads(raw).get("time_us")
            except json.JSONDecodeError:
                time_us = None
            if cursor is not None and isinstance(time_us, int) and time_us < cursor:
                continue
            if self.drop_after is not None and sent >= self.drop_after:
                return  # closes the connection mid-stream
            ws.send(raw)
            sent += 1
        while not self._stop.is_set():  # stay open like a live stream until the client leaves
            try:
                ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            except Exception:
                return

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()


class MastodonServer:
    """A local Mastodon instance for the streaming mode: instance discovery, the hashtag timeline
    (``min_id`` semantics: the statuses just newer than it, newest first) and the hashtag stream as
    server-sent events (``event: update`` / ``data: <status JSON>``, ``:`` heartbeats), behind a
    bearer token like Mastodon 4.2+.

    ``publish`` adds a status to the timeline and sends it to every open stream; ``drop_streams``
    cuts the open streams mid-response (no terminating chunk, as a network drop looks), and
    ``refuse_streams`` makes new stream requests fail with 503 until it is cleared.
    """

    def __init__(self, token: str, statuses: list[dict[str, Any]] | None = None) -> None:
        import queue

        self.token = token
        self.timeline: list[dict[str, Any]] = list(statuses or [])  # oldest first
        self.requests: list[Request] = []
        self.refuse_streams = False
        self.streams_opened = 0
        self._open: list[queue.Queue[dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                payload = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                req = Request("GET", parts.path, parse_qs(parts.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, b"")
                with server._lock:
                    server.requests.append(req)
                if parts.path == "/api/v2/instance":
                    self._json(200, {"domain": "127.0.0.1", "configuration": {
                        "urls": {"streaming": f"ws://127.0.0.1:{server.port}"}}})
                elif parts.path.startswith("/api/v1/timelines/tag/"):
                    min_id = int(req.arg("min_id") or 0)
                    limit = int(req.arg("limit") or 20)
                    with server._lock:
                        page = [s for s in server.timeline if int(s["id"]) > min_id][:limit]
                    self._json(200, list(reversed(page)))
                elif parts.path.startswith("/api/v1/streaming/hashtag"):
                    self._stream(req)
                else:
                    self._json(404, {"error": "Record not found"})

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _stream(self, req: Request) -> None:
                import queue

                if req.headers.get("authorization") != f"Bearer {server.token}":
                    self._json(401, {"error": "The access token is invalid"})
                    return
                if server.refuse_streams:
                    self._json(503, {"error": "streaming unavailable"})
                    return
                q: queue.Queue[dict[str, Any] | None] = queue.Queue()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    self._chunk(b":)\n")
                    with server._lock:
                        server._open.append(q)
                        server.streams_opened += 1
                    while not server._stop.is_set():
                        try:
                            status = q.get(timeout=0.3)
                        except queue.Empty:
                            self._chunk(b":thump\n")  # heartbeat, as the real server sends
                            continue
                        if status is None:
                            break  # dropped: close without the terminating chunk
                        data = json.dumps(status, ensure_ascii=False)
                        self._chunk(f"event: update\ndata: {data}\n\n".encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        if q in server._open:
                            server._open.remove(q)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mastodon", daemon=True)
        self._thread.start()

    def publish(self, status: dict[str, Any], *, stream: bool = True) -> None:
        with self._lock:
            self.timeline.append(status)
            queues = list(self._open) if stream else []
        for q in queues:
            q.put(status)

    def open_streams(self) -> int:
        with self._lock:
            return len(self._open)

    def drop_streams(self) -> None:
        with self._lock:
            queues = list(self._open)
        for q in queues:
            q.put(None)
        deadline = time.monotonic() + 5
        while self.open_streams() and time.monotonic() < deadline:
            time.sleep(0.02)

    def wait_for_stream(self, opened: int = 1, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.streams_opened >= opened and self._open:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"no stream connection #{opened} within {timeout}s")

    def hits(self, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# --- responders shared by connector tests -------------------------------------------------------


def paged(param: str, pages: dict[str | None, Reply]) -> Callable[[Request], Reply]:
    """A responder that picks the page by one query parameter (``None``: the parameter is absent)."""

    def respond(req: Request) -> Reply:
        return pages.get(req.arg(param), Reply(400, {"error": "unknown page", param: req.arg(param)}))

    return respond


def conditional(body: bytes, content_type: str, etag: str,
                last_modified: str = "Mon, 02 Mar 2026 10:12:33 GMT") -> Callable[[Request], Reply]:
    """A responder for conditional GET: 304 when the client presents the current ETag or date."""

    def respond(req: Request) -> Reply:
        validators = {"ETag": etag, "Last-Modified": last_modified}
        if req.headers.get("if-none-match") == etag or req.headers.get("if-modified-since") == last_modified:
            return Reply(304, b"", content_type=None, headers=validators)
        return Reply(body=body, content_type=content_type, headers=validators)

    return respond


def html_error_page(status: int = 200, title: str = "Service Unavailable") -> Reply:
    """What a proxy, captive portal or CDN sends instead of the API's JSON/XML."""
    return Reply(status, f"<!DOCTYPE html><html><head><title>{title}</title></head>"
                         "<body><h1>Oops</h1></body></html>", content_type="text/html; charset=utf-8")


def mastodon_timeline(statuses: list[dict[str, Any]]) -> Callable[[Request], Reply]:
    """A hashtag timeline with Mastodon's ``min_id`` semantics: the statuses just newer than it,
    newest first, at most ``limit``. ``statuses`` may grow while the server runs (new posts)."""

    def respond(req: Request) -> Reply:
        min_id = int(req.arg("min_id") or 0)
        limit = int(req.arg("limit") or 20)
        newer = sorted((s for s in list(statuses) if int(s["id"]) > min_id), key=lambda s: int(s["id"]))
        page = newer[:limit] if req.arg("min_id") else newer[-limit:]
        return Reply(body=list(reversed(page)))

    return respond
