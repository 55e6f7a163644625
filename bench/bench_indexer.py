"""Throughput of the real index worker against plain ``helpers.bulk`` on the same node (issue #6:
"the indexer should reach at least 80 % of a plain bulk load").

    .venv/bin/python bench/bench_indexer.py [--mentions 50000] [--batch-size N] [--config FILE] [--keep]

What it does, on the local stack the config (and ``BRANDPULSE_*`` variables) point at:
1. generates ``--mentions`` enriched multilingual mentions (English, Spanish, Urdu, Georgian,
   Arabic: the word lists of ``bench/bench_query.py``; authors, engagement, URLs, hashtags,
   keywords, places, two months of ``created_at``) as ``brandpulse.schema.Mention``;
2. **(a) plain bulk**: ``elasticsearch.helpers.bulk`` of ``to_document(mention)`` into a fresh
   index set (templates applied by ``apply_templates``, so the same mapping, analysers and
   ``refresh_interval``), ``chunk_size`` = ``index.batch_size``; timed from the first to the
   last request;
3. **(b) the index worker**: the same mentions are produced to a fresh enriched topic, then the
   real ``brandpulse index --config …`` runs as a subprocess (same ConsumeLoop + BulkIndexer,
   same ``index.batch_size``) from the beginning of the topic into a second fresh index set,
   until every record is indexed *and committed*. Its rate is taken from its ``/metrics``
   between the first committed batch and the last, so the process start and the consumer-group
   join (seconds, paid once) do not count; the wall time from spawn is printed as well;
4. prints docs/s of both, the ratio (target >= 0.80), and the worker's peak resident memory
   (VmHWM of the worker process, from ``/proc/<pid>/status``).

Exits 1 when either index does not hold exactly ``--mentions`` documents, the worker dead-lettered
anything or its group is not fully committed. The machine is usually shared (Kafka and
Elasticsearch on the same cores): figures are indicative; run it when the machine is quiet.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import yaml  # noqa: E402
from bench_query import COUNTRY, VOCAB  # noqa: E402
from elasticsearch import helpers  # noqa: E402

from brandpulse.esclient import alerts_index, make_es, mentions_alias  # noqa: E402
from brandpulse.kafkaio import delete_topics, ensure_topics, group_lag, make_producer, topic_count  # noqa: E402
from brandpulse.schema import Author, Engagement, Enrichment, Geo, Language, Location, Mention, Sentiment  # noqa: E402
from brandpulse.settings import Settings, load_settings  # noqa: E402
from index.templates import apply_templates, mention_index, to_document  # noqa: E402

T_END = datetime(2026, 11, 30, tzinfo=UTC)
BRANDS = ("Nimbus Air", "Kartuli Pay", "Lumora")
PLACES = {"en": ("Leeds", 53.8, -1.55), "es": ("Madrid", 40.42, -3.70), "ur": ("Karachi", 24.86, 67.01),
          "ka": ("Tbilisi", 41.72, 44.79), "ar": ("Cairo", 30.04, 31.24)}


def make_mentions(n: int, seed: int = 6) -> list[Mention]:
    rng = random.Random(seed)
    langs = list(VOCAB)
    out = []
    for i in range(n):
        lang = rng.choice(langs)
        words = [rng.choice(VOCAB[lang]) for _ in range(rng.randint(8, 40))]
        brand = BRANDS[i % len(BRANDS)]
        tags = tuple(f"#{rng.choice(VOCAB[lang])}" for _ in range(rng.randint(0, 2)))
        created = T_END - timedelta(seconds=rng.randint(0, 60 * 86400))
        label = rng.choice(("negative", "neutral", "positive"))
        place, lat, lon = PLACES[lang]
        locations = (Location(name=place, country_code=rng.choice(COUNTRY[lang]), lat=lat, lon=lon, source="text",
                              confidence=0.8),) if rng.random() < 0.3 else ()
        out.append(Mention.new(
            source=rng.choice(("replay", "rss", "mastodon", "reddit")), feed="bench", native_id=f"b{i}", brand=brand,
            text=f"{brand} " + " ".join(words) + " " + " ".join(tags), created_at=created,
            fetched_at=created + timedelta(seconds=30), url=f"https://social.example/{lang}/{i}",
            author=Author(id=f"u{i % 5000}", handle=f"user{i % 5000}", name=f"User {i % 5000}",
                          followers=rng.randint(0, 100_000), location=place if rng.random() < 0.5 else None),
            engagement=Engagement(likes=rng.randint(0, 500), shares=rng.randint(0, 50), replies=rng.randint(0, 50)),
            geo=Geo(lat=lat, lon=lon) if rng.random() < 0.05 else None, matched_brands=(brand,),
            enrichment=Enrichment(
                version="bench", language=Language(code=lang, confidence=0.9, method="script"),
                sentiment=Sentiment(label=label, score={"negative": -0.6, "neutral": 0.0, "positive": 0.6}[label],
                                    confidence=0.7, method="lexicon"),
                keywords=tuple(sorted(set(rng.sample(words, min(3, len(words)))))), hashtags=tags,
                locations=locations, enriched_at=created + timedelta(seconds=31)),
        ))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


_PROCESSED = re.compile(r'^brandpulse_processed_total\{stage="index"\} ([0-9.e+]+)$', re.M)
_DEAD = re.compile(r'^brandpulse_dead_lettered_total\{stage="index"\} ([0-9.e+]+)$', re.M)


def worker_counts(port: int) -> tuple[int, int] | None:
    """(processed, dead-lettered) from the worker's /metrics, None while it is not serving."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            body = resp.read().decode()
    except OSError:
        return None
    p, d = _PROCESSED.search(body), _DEAD.search(body)
    return int(float(p.group(1))) if p else 0, int(float(d.group(1))) if d else 0


def count(es: Any, prefix: str) -> int:
    es.indices.refresh(index=mentions_alias(prefix))
    return int(es.count(index=mentions_alias(prefix))["count"])


def bench_bulk(es: Any, s: Settings, prefix: str, mentions: list[Mention]) -> float:
    apply_templates(es, prefix)
    granularity = s.index.granularity

    def actions() -> Iterator[dict[str, Any]]:
        now = datetime.now(UTC)
        for m in mentions:
            yield {"_index": mention_index(prefix, m.created_at, granularity), "_id": m.id,
                   "_source": to_document(m, now)}

    t0 = time.perf_counter()
    _, errors = helpers.bulk(es, actions(), chunk_size=s.index.batch_size, refresh=False, raise_on_error=False,
                              max_chunk_bytes=100 * 1024 * 1024)
    elapsed = time.perf_counter() - t0
    if isinstance(errors, list) and errors:
        raise SystemExit(f"plain bulk: {len(errors)} errors, e.g. {errors[0]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mentions", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, help="index.batch_size for both (default: the config's)")
    ap.add_argument("--config", help="config file (default: $BRANDPULSE_CONFIG or config/brandpulse.yaml)")
    ap.add_argument("--timeout", type=float, default=900.0, help="give up on the worker after this long")
    ap.add_argument("--keep", action="store_true", help="keep the indices and topics")
    args = ap.parse_args(argv)

    base = load_settings(args.config)
    run = f"bench-indexer-{uuid.uuid4().hex[:8]}"
    data = base.model_dump(mode="json", exclude={"base_dir"})
    data["elasticsearch"]["index_prefix"] = f"{run}-b"
    data["topics"].update({k: f"{run}.{k}" for k in ("raw", "enriched", "alerts", "dead_letter", "state")})
    data["workers"].update({"group_prefix": run, "log_level": "WARNING"})
    data["index"]["maintenance_interval_seconds"] = 0
    if args.batch_size:
        data["index"]["batch_size"] = args.batch_size
    data["feeds"] = []
    s = Settings.model_validate(data)
    prefix_a, prefix_b = f"{run}-a", s.elasticsearch.index_prefix
    es = make_es(s.elasticsearch, request_timeout=120)
    m = args.mentions
    print(f"== bench_indexer: {m} mentions, batch {s.index.batch_size}, Elasticsearch {s.elasticsearch.url}, "
          f"Kafka {s.kafka.bootstrap_servers} ({s.topics.partitions} partitions)", flush=True)
    t0 = time.perf_counter()
    mentions = make_mentions(m)
    print(f"   generated in {time.perf_counter() - t0:.1f}s", flush=True)

    failures: list[str] = []
    worker: subprocess.Popen[bytes] | None = None
    tmp = Path(tempfile.mkdtemp(prefix="bench-indexer-"))
    try:
        # (a) plain bulk
        t_bulk = bench_bulk(es, s, prefix_a, mentions)
        n_a = count(es, prefix_a)
        rate_a = m / t_bulk
        print(f"(a) helpers.bulk      {m:>8} docs in {t_bulk:6.1f}s  = {rate_a:8.0f} docs/s   (indexed: {n_a})",
              flush=True)
        if n_a != m:
            failures.append(f"plain bulk indexed {n_a}, expected {m}")

        # (b) the real index worker
        ensure_topics(s)
        apply_templates(es, prefix_b)
        producer = make_producer(s.kafka, "bench", batch_size=512 * 1024, linger_ms=50)
        t0 = time.perf_counter()
        for mention in mentions:
            producer.send(s.topics.enriched, key=mention.kafka_key, value=mention.to_bytes())
        producer.flush()
        producer.close()
        produced = topic_count(s, s.topics.enriched)
        print(f"   produced {produced} records to {s.topics.enriched} in {time.perf_counter() - t0:.1f}s", flush=True)
        del mentions  # the worker is a separate process; free ours
        cfg = tmp / "brandpulse.yaml"
        cfg.write_text(yaml.safe_dump(s.model_dump(mode="json", exclude={"base_dir"})))
        port = free_port()
        log_path = tmp / "index-worker.log"
        t_spawn = time.perf_counter()
        with log_path.open("wb") as log:
            worker = subprocess.Popen([str(Path(sys.executable).with_name("brandpulse")), "--config", str(cfg),
                                       "index", "--metrics-port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                      env={**os.environ, "BRANDPULSE_CONFIG": str(cfg)})
        t_first = t_done = 0.0
        n_first = 0
        dead = 0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise SystemExit(f"the index worker exited ({worker.returncode}); see {log_path}:\n"
                                 + log_path.read_text()[-2000:])
            counts = worker_counts(port)
            now = time.perf_counter()
            if counts is not None:
                done, dead = counts
                if done > 0 and not t_first:
                    t_first, n_first = now, done
                if done + dead >= m:
                    t_done = now
                    break
            time.sleep(0.05)
        if not t_done:
            raise SystemExit(f"the index worker did not finish within {args.timeout:.0f}s; see {log_path}")
        hwm = vm_hwm_kb(worker.pid)
        lag = group_lag(s, f"{s.workers.group_prefix}-index", [s.topics.enriched])
        n_b = count(es, prefix_b)
        steady = (m - n_first) / (t_done - t_first) if t_done > t_first else float("nan")
        wall = m / (t_done - t_spawn)
        print(f"(b) index worker      {m:>8} docs in {t_done - t_first:6.1f}s  = {steady:8.0f} docs/s   "
              f"(first batch of {n_first} excluded; from spawn incl. start-up and group join: "
              f"{t_done - t_spawn:.1f}s = {wall:.0f} docs/s; indexed: {n_b}, committed lag {lag}, "
              f"dead letters {dead})", flush=True)
        print(f"    ratio (b)/(a) = {steady / rate_a:.2f}  (target >= 0.80; from spawn: {wall / rate_a:.2f})")
        print(f"    index worker peak RSS (VmHWM of the worker process) = {hwm / 1024:.0f} MB")
        if n_b != m:
            failures.append(f"index worker indexed {n_b}, expected {m}")
        if dead:
            failures.append(f"index worker dead-lettered {dead}")
        if lag:
            failures.append(f"index worker left {lag} records uncommitted")
        if produced != m:
            failures.append(f"produced {produced}, expected {m}")
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
        if not args.keep:
            for prefix in (prefix_a, prefix_b):
                es.indices.delete(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
                for name in (mentions_alias(prefix), alerts_index(prefix)):
                    es.options(ignore_status=404).indices.delete_index_template(name=name)
            t = s.topics
            delete_topics(s, [t.raw, t.enriched, t.alerts, t.dead_letter, t.state])
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
