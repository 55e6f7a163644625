"""``brandpulse demo``: the whole pipeline on the bundled demo feeds, with progress and a summary.

Starts the local stack, resets the demo's own topics and indices (so every run starts clean),
runs the four workers as processes, shows progress until every stage has caught up, and prints
what each stage did — the indexed figure is counted in Elasticsearch, not estimated — and what the
alert says: its stories and what is new in them. The alert channels are served by the demo itself:
a local webhook that checks every signature, and a local mailbox (SMTP on 127.0.0.1) that keeps
each alert email, with its inline chart, as an ``.eml`` file.
"""

from __future__ import annotations

import json
import re
import shutil
import socketserver
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import requests
from kafka.errors import KafkaError

from app import stack
from app.setup import setup
from app.stages import load_config
from app.supervisor import Supervisor
from brandpulse.esclient import alerts_index, make_es, mentions_alias, wait_for_es
from brandpulse.kafkaio import group_lag, make_admin, topic_count, wait_for_broker
from brandpulse.schema import AlertRecord, SchemaError
from brandpulse.settings import Settings
from brandpulse.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from brandpulse.state import StateStore
from brandpulse.text import redact_url


def reset_demo(s: Settings) -> None:
    """Delete the demo's topics, consumer groups and indices; recreate them empty."""
    admin = make_admin(s.kafka)
    try:
        t = s.topics
        names = [t.raw, t.enriched, t.alerts, t.dead_letter, t.state]
        existing = set(admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            admin.delete_topics(doomed, raise_errors=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and set(admin.list_topics()) & set(doomed):
            time.sleep(0.5)
        groups = [f"{s.workers.group_prefix}-{st}" for st in ("enrich", "index", "alerts")]
        existing_groups = {g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()}
        doomed_groups = [g for g in groups if g in existing_groups]
        if doomed_groups:
            try:
                admin.delete_groups(doomed_groups)
            except KafkaError as exc:  # e.g. a group still has a live member
                print(f"   (consumer groups not deleted: {exc})", flush=True)
    finally:
        admin.close()
    es = make_es(s.elasticsearch)
    wait_for_es(es)
    prefix = s.elasticsearch.index_prefix
    for pattern in (f"{mentions_alias(prefix)}-*", alerts_index(prefix)):
        es.indices.delete(index=pattern, ignore_unavailable=True, allow_no_indices=True)
    # Topic deletion is asynchronous in Kafka; retry creation until the names are free.
    for attempt in range(20):
        try:
            setup(s, quiet=True)
            return
        except Exception:
            if attempt == 19:
                raise
            time.sleep(1.5)


WEBHOOK_DEMO_FILE = Path("demo") / "feeds" / "webhook.jsonl"


def webhook_demo_items(s: Settings) -> list[dict[str, Any]]:
    """The demo's push items; ``_brands`` records which brands each was written to mention."""
    path = Path(s.base_dir) / WEBHOOK_DEMO_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def push_webhook(s: Settings, timeout: float = 90.0) -> int:
    """POST the demo's support-desk items to the demo webhook feed, signed like a real sender."""
    feed = next((f for f in s.feeds if f.kind == "webhook" and f.enabled), None)
    if feed is None:
        return 0
    from ingest.feeds import validate_options

    opts: Any = validate_options(feed.kind, feed.options)
    secret = opts.secret.resolve(Path(s.base_dir)).get_secret_value().encode()
    now = datetime.now(UTC)
    items = webhook_demo_items(s)
    posts = [{k: v for k, v in item.items() if k != "_brands"}
             | {"created_at": (now - timedelta(minutes=len(items) - i)).isoformat()}
             for i, item in enumerate(items)]
    body = json.dumps(posts, ensure_ascii=False).encode()
    url = f"http://127.0.0.1:{opts.port}{opts.path}"
    deadline = time.monotonic() + timeout
    while True:  # the ingest worker opens the port once it has started
        signed = signed_headers(secret, body)  # afresh per try: the receiver refuses stale timestamps
        try:
            resp = requests.post(url, data=body, timeout=10, headers={
                "Content-Type": "application/json", opts.timestamp_header: signed[TIMESTAMP_HEADER],
                opts.header or SIGNATURE_HEADER: signed[SIGNATURE_HEADER]})
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    if resp.status_code != 202:
        raise RuntimeError(f"demo webhook push refused: HTTP {resp.status_code} {resp.text[:300]}")
    return int(resp.json().get("accepted", 0))


DEMO_HOOK = "demo-alert-hook"  # the alerts.channels entry the demo serves itself


class AlertHook:
    """The demo's stand-in for the team's automation endpoint: a local HTTP server that receives
    the alert worker's signed webhook channel, checks every signature the way a real receiver
    must (alerts.channels.webhook.verify_signature) and prints what arrived."""

    def __init__(self, s: Settings) -> None:
        from alerts.channels import validate_channel_options

        spec = next((c for c in s.alerts.channels if c.get("name") == DEMO_HOOK and c.get("kind") == "webhook"), None)
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self._server: ThreadingHTTPServer | None = None
        if spec is None:
            return
        opts: Any = validate_channel_options("webhook", {k: v for k, v in spec.items()
                                                         if k not in ("name", "kind", "enabled")})
        self.key = opts.secret.resolve(Path(s.base_dir)).get_secret_value().encode()
        url = urlsplit(str(opts.url))
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from alerts.channels.webhook import verify_signature

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = verify_signature(hook.key, body, self.headers.get("X-BrandPulse-Timestamp", ""),
                                      self.headers.get("X-BrandPulse-Signature", ""))
                self.send_response(200 if ok else 401)
                self.end_headers()
                if not ok:
                    hook.bad_signatures += 1
                    print("   ! demo webhook: rejected a request with a bad signature", flush=True)
                    return
                alert = json.loads(body)
                hook.received.append(alert)
                print(f"== local webhook {url.path} got alert {alert.get('alert_id')} "
                      f"({alert.get('event')}, {alert.get('severity')}, {alert.get('brand')}); signature verified",
                      flush=True)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((url.hostname or "127.0.0.1", url.port or 80), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="demo-alert-hook").start()
        self.url = url.geturl()

    @property
    def enabled(self) -> bool:
        return self._server is not None

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.enabled and len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.2)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


DEMO_MAIL = "demo-alert-mail"  # the email channel the demo receives itself


class AlertMailbox:
    """The demo's stand-in for the team's mail server: a minimal SMTP receiver on 127.0.0.1 (the
    port of the ``demo-alert-mail`` channel) that keeps every alert email as an ``.eml`` file under
    the stack directory, so the inline chart can be opened (and the end-to-end test decodes it)."""

    def __init__(self, s: Settings) -> None:
        spec = next((c for c in s.alerts.channels if c.get("name") == DEMO_MAIL and c.get("kind") == "email"), None)
        self.mails: list[Path] = []
        self._server: socketserver.ThreadingTCPServer | None = None
        if spec is None:
            return
        self.dir = stack.stack_dir(s.stack) / "demo-mail" / s.elasticsearch.index_prefix
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        box = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                self.reply("220 brandpulse-demo ESMTP")
                sender: str | None = None
                rcpts: list[str] = []
                while True:
                    line = self.rfile.readline(4096).decode("utf-8", "replace").rstrip("\r\n")
                    if not line:
                        return
                    verb = line.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250-brandpulse-demo" if verb == "EHLO" else "250 brandpulse-demo")
                        if verb == "EHLO":
                            self.reply("250 8BITMIME")
                    elif verb == "MAIL":
                        sender, rcpts = line, []
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        rcpts.append(line)
                        self.reply("250 ok")
                    elif verb == "DATA" and sender and rcpts:
                        self.reply("354 end with .")
                        box.received(_read_data(self.rfile))
                        self.reply("250 queued")
                        sender, rcpts = None, []
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 ok")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not here")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((str(spec.get("host", "127.0.0.1")), int(spec.get("port") or 25)), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="demo-mailbox").start()
        self.address = f"smtp://{spec.get('host')}:{spec.get('port')}"

    def received(self, data: bytes) -> None:
        msg = message_from_bytes(data, policy=policy.default)
        path = self.dir / f"{len(self.mails) + 1:03d}-{re.sub(r'[^A-Za-z0-9.-]', '_', str(msg['X-BrandPulse-Alert-Id']))}.eml"
        path.write_bytes(data)
        self.mails.append(path)
        png = chart_of(msg)
        print(f"== local mailbox got \"{msg['Subject']}\""
              + (f" with its chart inline ({len(png):,}-byte PNG)" if png else "") + f"; saved as {path}", flush=True)

    @property
    def enabled(self) -> bool:
        return self._server is not None

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.enabled and len(self.mails) < n and time.monotonic() < deadline:
            time.sleep(0.2)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def chart_of(msg: Any) -> bytes | None:
    """The inline chart PNG of an alert email, if it has one."""
    if not isinstance(msg, EmailMessage):
        return None
    for part in msg.walk():
        if part.get_content_type() == "image/png":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def _read_data(rfile: IO[bytes] | Any) -> bytes:
    lines: list[bytes] = []
    while True:
        line = rfile.readline()
        if not line or line in (b".\r\n", b".\n"):
            return b"".join(lines)
        lines.append(line[1:] if line.startswith(b"..") else line)  # RFC 5321 dot-unstuffing


def counts(s: Settings, es: Any) -> dict[str, int]:
    prefix = s.elasticsearch.index_prefix
    es.indices.refresh(index=f"{mentions_alias(prefix)}*,{alerts_index(prefix)}", ignore_unavailable=True,
                       allow_no_indices=True)
    indexed = es.count(index=mentions_alias(prefix), ignore_unavailable=True, allow_no_indices=True)["count"]
    alert_docs = es.count(index=alerts_index(prefix), ignore_unavailable=True)["count"]
    return {
        "ingested": topic_count(s, s.topics.raw),
        "enriched": topic_count(s, s.topics.enriched),
        "indexed": int(indexed),
        "alerts": topic_count(s, s.topics.alerts),
        "alert_docs": int(alert_docs),
        "dead_letters": topic_count(s, s.topics.dead_letter),
    }


def feeds_finished(s: Settings, store: StateStore) -> bool:
    health = store.load("feed-health/")
    for f in s.feeds:
        if not f.enabled:
            continue
        h = health.get(f"feed-health/{f.name}")
        if not h or not h.get("last_success"):
            return False
        if f.kind == "replay" and not h.get("done"):
            return False
    return True


def caught_up(s: Settings) -> bool:
    g = s.workers.group_prefix
    return (
        group_lag(s, f"{g}-enrich", [s.topics.raw]) == 0
        and group_lag(s, f"{g}-index", [s.topics.enriched, s.topics.alerts]) == 0
        and group_lag(s, f"{g}-alerts", [s.topics.enriched]) == 0
    )


def run_demo(*, config: str, keep_running: bool = False, timeout: float = 600.0) -> int:
    t0 = time.monotonic()
    s = load_config(config)
    print(f"== BrandPulse demo ({config})", flush=True)
    took = stack.up(s.stack)
    print(f"== local stack ready in {took:.1f}s", flush=True)
    wait_for_broker(s)
    reset_demo(s)
    print(f"== topics and index templates ready; brands: {', '.join(b.name for b in s.brands)}", flush=True)
    log_path = stack.stack_dir(s.stack) / "logs" / "demo-workers.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"== starting workers (ingest, enrich, index, alerts); their logs: {log_path}", flush=True)
    print("== alerts appear below as the alert worker raises them", flush=True)
    hook = AlertHook(s)
    if hook.enabled:
        print(f"== a local webhook receives the signed alerts: {hook.url}", flush=True)
    mailbox = AlertMailbox(s)
    if mailbox.enabled:
        print(f"== a local mailbox receives the alert emails: {mailbox.address} (kept in {mailbox.dir})", flush=True)
    with Path(log_path).open("ab") as logfile:
        sup = Supervisor(config=config, stderr=logfile)
        sup.start()
        # The support desk pushes its posts once the replayed history is through every stage.
        # They are live (timestamped on arrival), so pushing them first would move each brand's
        # stream clock to "now" and make the replay's last 20 minutes — the burst — later than
        # alerts.allowed_lateness_seconds: the detector would rightly drop them as late.
        pushed: int | None = None
        es = make_es(s.elasticsearch)
        store = StateStore(s)
        stable = 0
        last: dict[str, int] = {}
        try:
            while True:
                time.sleep(2.0)
                for note in sup.check():
                    print(f"   ! {note}", flush=True)
                c = counts(s, es)
                elapsed = time.monotonic() - t0
                print(f"   [{elapsed:5.0f}s] ingested {c['ingested']:>5} · enriched {c['enriched']:>5} · "
                      f"indexed {c['indexed']:>5} · alerts {c['alerts']:>3} · dead letters {c['dead_letters']:>3}",
                      flush=True)
                # Lag 0 on every group means each record was indexed or dead-lettered.
                done = c["ingested"] > 0 and feeds_finished(s, store) and caught_up(s)
                if done and pushed is None:
                    pushed = push_webhook(s)
                    if pushed:
                        print(f"== pushed {pushed} support-desk posts to the demo webhook (HMAC-signed)", flush=True)
                    stable, last = 0, {}
                    continue
                stable = stable + 1 if done and c == last else 0
                last = c
                if stable >= 2:
                    break
                if elapsed > timeout:
                    print(f"demo: not finished after {timeout:.0f}s; see {log_path}", file=sys.stderr)
                    return 1
            hook.wait_for(last.get("alerts", 0))  # channel delivery runs after the commit
            mailbox.wait_for(last.get("alerts", 0))
        finally:
            store.close()
            if not keep_running:
                sup.stop()
    _summary(s, last, time.monotonic() - t0, config, keep_running, hook, mailbox)
    if not keep_running:
        hook.close()
        mailbox.close()
    return 0


def _summary(s: Settings, c: dict[str, int], elapsed: float, config: str, keep_running: bool,
             hook: AlertHook, mailbox: AlertMailbox) -> None:
    es = make_es(s.elasticsearch)
    prefix = s.elasticsearch.index_prefix
    events = es.search(index=alerts_index(prefix), size=100, sort=[{"window_start": "asc"}],
                       ignore_unavailable=True)["hits"]["hits"]
    episodes: dict[str, list[dict[str, Any]]] = {}
    for hit in events:
        episodes.setdefault(hit["_source"]["alert_id"], []).append(hit["_source"])
    per_brand = es.search(index=mentions_alias(prefix), size=0,
                          aggs={"b": {"terms": {"field": "brand", "size": 20}},
                                "s": {"terms": {"field": "enrichment.sentiment.label", "size": 5}},
                                "l": {"terms": {"field": "enrichment.language.code", "size": 10}}})["aggregations"]
    print()
    print(f"== Demo finished in {elapsed:.0f}s")
    print(f"   mentions ingested   {c['ingested']:>6}   (records on {s.topics.raw}; one per post and brand)")
    print(f"   enriched            {c['enriched']:>6}")
    print(f"   indexed             {c['indexed']:>6}   (counted in Elasticsearch: {mentions_alias(prefix)})")
    print(f"   dead letters        {c['dead_letters']:>6}")
    print(f"   alerts raised       {len(episodes):>6}   (events on {s.topics.alerts}: {c['alerts']}; an alert "
          "is opened, updated while it grows, resolved when it ends)")
    for alert_id, evs in episodes.items():
        last = evs[-1]
        print(f"     - {last.get('brand')} [{last.get('severity')}] {alert_id}: "
              + " → ".join(f"{e['event']} ({e['observed_negative']} negative in "
                           f"{s.alerts.bucket_seconds // 60} min)" for e in evs))
        for line in explain(evs[-1]):
            print(f"       {line}")
    if hook.enabled:
        print(f"   at the local webhook {len(hook.received):>4}   (signed alert events received and verified; "
              f"{hook.bad_signatures} bad signatures)")
    if mailbox.enabled:
        charts = sum(1 for p in mailbox.mails if chart_of(message_from_bytes(p.read_bytes(), policy=policy.default)))
        print(f"   at the local mailbox {len(mailbox.mails):>4}   (alert emails, {charts} with the chart inline; "
              f"in {mailbox.dir})")
    print("   by brand:     " + ", ".join(f"{b['key']} {b['doc_count']}" for b in per_brand["b"]["buckets"]))
    print("   by sentiment: " + ", ".join(f"{b['key']} {b['doc_count']}" for b in per_brand["s"]["buckets"]))
    print("   by language:  " + ", ".join(f"{b['key']} {b['doc_count']}" for b in per_brand["l"]["buckets"]))
    url = redact_url(s.elasticsearch.url.split(",")[0].rstrip("/"))
    print()
    print("Query the data:")
    print(f"   curl -s '{url}/{mentions_alias(prefix)}/_search?q=brand:%22Nimbus%20Air%22"
          "%20AND%20enrichment.sentiment.label:negative&size=3&pretty'")
    print(f"   curl -s '{url}/{alerts_index(prefix)}/_search?pretty'")
    print(f"   .venv/bin/brandpulse --config {config} feeds status")
    if keep_running:
        print("Workers are still running (Ctrl-C or `kill` the demo to stop them).")
    print("The local stack keeps running; stop it with: .venv/bin/brandpulse stack down")


def explain(doc: dict[str, Any]) -> list[str]:
    """What an alert document says about itself: its top stories and what is new in them."""
    from alerts.channels.base import new_terms_line, story_lines

    try:
        alert = AlertRecord.from_dict(doc)
    except SchemaError as exc:
        return [f"(not readable as an alert record: {exc.reason})"]
    lines = [f"story {line}" for line in story_lines(alert.stories, text_chars=90)] or ["no stories in the window"]
    new = new_terms_line(alert.new_terms)
    lines.append(f"new: {new}" if new else "new: nothing stands out against the brand's usual talk")
    return lines
