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
