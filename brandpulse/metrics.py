"""Per-worker Prometheus metrics and a ``/healthz`` endpoint on one small HTTP server.

Every worker counts what it processed, what failed and what it dead-lettered, and reports its
consumer lag; ``/healthz`` answers 200 while the worker loop is alive and its last cycle was
recent, 503 otherwise (so orchestrators restart a wedged worker). A stage may serve more on the
same port (:meth:`WorkerMetrics.add_route`: the alert worker's chart links).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class WorkerMetrics:
    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.registry = CollectorRegistry()
        self.processed = Counter("brandpulse_processed", "records processed", ["stage"], registry=self.registry)
        self.failed = Counter("brandpulse_failed", "records that failed", ["stage", "reason"], registry=self.registry)
        self.dead_lettered = Counter(
            "brandpulse_dead_lettered", "records sent to the dead-letter topic", ["stage"], registry=self.registry
        )
        self.produced = Counter("brandpulse_produced", "records produced", ["topic"], registry=self.registry)
        self.lag = Gauge("brandpulse_consumer_lag", "records behind the end of the topic", ["topic"],
                         registry=self.registry)
        self.last_cycle = Gauge("brandpulse_last_cycle_timestamp", "unix time of the last loop cycle",
                                registry=self.registry)
        self.stalled_seconds = 120.0
        self.extra_health: dict[str, Any] = {}
        # path prefix -> handler(request target) -> (status, content type, body, extra headers)
        self.routes: dict[str, Callable[[str], tuple[int, str, bytes, dict[str, str]]]] = {}
        self._server: ThreadingHTTPServer | None = None

    def add_route(self, prefix: str, handler: Callable[[str], tuple[int, str, bytes, dict[str, str]]]) -> None:
        """Serve GET requests under ``prefix`` with ``handler`` (from its own threads: make it thread-safe)."""
        self.routes[prefix] = handler

    def heartbeat(self) -> None:
        self.last_cycle.set(time.time())

    def health(self) -> tuple[bool, dict[str, Any]]:
        age = time.time() - self.last_cycle._value.get()
        ok = age < self.stalled_seconds
        return ok, {"worker": self.worker, "ok": ok, "last_cycle_age_seconds": round(age, 1), **self.extra_health}

    def serve(self, host: str, port: int) -> int:
        """Start the endpoint in a daemon thread; returns the bound port (0 = disabled)."""
        if port == 0 and host != "ephemeral":
            return 0
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers: dict[str, str] = {}
                route = next((h for p, h in metrics.routes.items() if self.path.startswith(p)), None)
                if route is not None:
                    code, ctype, body, headers = route(self.path)
                elif self.path.startswith("/metrics"):
                    body, ctype, code = generate_latest(metrics.registry), CONTENT_TYPE_LATEST, 200
                elif self.path.startswith("/healthz"):
                    ok, info = metrics.health()
                    body, ctype, code = json.dumps(info).encode(), "application/json", 200 if ok else 503
                else:
                    body, ctype, code = b"not found\n", "text/plain", 404
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host if host != "ephemeral" else "127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
