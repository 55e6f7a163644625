"""End-to-end throughput and latency on real text, through the real workers on the local stack
(issue #15).

    .venv/bin/python bench/bench_e2e.py [--mentions 30000] [--enrich-processes N] [--index-processes M]
        [--paced-rate 1000] [--paced-seconds 60] [--skip-paced] [--check] [--keep]

What it does (its own topics, index prefix and consumer groups; deleted at the end unless --keep):

1. **Texts.** ``--mentions`` + warm-up + paced texts from ``../shared/data/sentiment/`` (real
   public posts, nine languages, ``bench/realtext.py``): no text repeats anywhere in the run, each
   carries one invented brand name, and the real brand matcher confirms it matches exactly that
   brand — one post, one mention. The enrichment's per-text cache therefore never helps.
2. **Workers.** ``brandpulse setup``, then the real enrich (×N), index (×M) and alerts workers as
   processes (``app.supervisor.Supervisor``, as ``brandpulse run`` starts them) on a generated
   config; 200 warm-up mentions are produced to the raw topic and awaited in Elasticsearch, so
   model loading and group joins are done before anything is timed.
3. **Throughput.** The real ingest worker is started on a replay feed holding the ``--mentions``
   posts (as fast as possible). The bench counts the documents in Elasticsearch (``_count`` every
   0.25 s, so documents that are *searchable*) and reports the **steady rate** between 10 % and
   90 % of them (crossings interpolated between samples), plus the raw and enriched topics' rates
   over the same share, so the slowest stage shows.
4. **Paced latency** (unless ``--skip-paced``): ``--paced-rate`` raw mentions/s for
   ``--paced-seconds`` are produced straight to the raw topic (what ingest would produce; ingest's
   own cost is in step 3), and each one's **produce → searchable** latency is measured: a thread
   asks Elasticsearch every ~100 ms for the still-missing ids (an ``ids`` query on ``_search``,
   so a document counts only once a refresh has made it visible). p50/p95/p99/max are printed;
   the poll period bounds their resolution (~0.1 s).
5. **Exact counts.** Raw and enriched topics and the mentions index each hold exactly warm-up +
   mentions + paced records (the replay feed's documents, too), the dead-letter topic none (its
   first entries are printed otherwise); a worker that exits fails the run at once (the bench
   does not restart workers).
6. **Per process**: CPU seconds (``utime + stime`` from ``/proc/<pid>/stat``) in the throughput
   phase and per 1,000 mentions, and peak RSS (``VmHWM``); the shared Kafka broker and
   Elasticsearch node are listed too (their CPU includes anything else using the stack).
7. **Ceiling, same run**: the workers are stopped, the throughput phase's documents are read
   back from the index and written with ``elasticsearch.helpers.bulk`` (``chunk_size`` =
   ``index.batch_size``) into a fresh index set with the same template; its rate, and
   steady / ceiling (target >= 0.5).

Exit status: 1 when a count is not exact, a worker died or a phase timed out (each with a message
saying which); with ``--check``, 2 when only a target was missed; else 0. The machine is usually
shared (Kafka, Elasticsearch and other jobs on the same cores): print ``uptime`` beside the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import yaml  # noqa: E402
from elasticsearch import ApiError, Elasticsearch, helpers  # noqa: E402
from kafka import KafkaConsumer  # noqa: E402
from kafka.structs import TopicPartition  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from realtext import BRANDS, DATA, RealText, mix_summary, sample  # noqa: E402

from app import stack  # noqa: E402
from app.setup import setup  # noqa: E402
from app.supervisor import Supervisor, replicas_for  # noqa: E402
from brandpulse.esclient import alerts_index, make_es, mentions_alias  # noqa: E402
from brandpulse.kafkaio import client_kwargs, delete_topics, make_producer  # noqa: E402
from brandpulse.schema import Author, Mention  # noqa: E402
from brandpulse.settings import Settings, load_settings  # noqa: E402
from index.templates import apply_templates  # noqa: E402
from ingest.query import MatchDoc  # noqa: E402
from ingest.worker import brand_matcher  # noqa: E402

WARMUP = 200
RATIO_TARGET = 0.5
P99_TARGET = 2.0
FEED, WARM_FEED, PACED_FEED = "bench-e2e", "bench-warmup", "bench-paced"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A phase failed (timeout, a worker died, a count is off): the message says which and why."""


# ---------------------------------------------------------------- /proc
def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_cpu_seconds(pgid: int) -> float | None:
    """CPU of every process in a process group (the stack's launcher and its JVM)."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            found = True
    return total if found else None


def vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def uptime() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


# ---------------------------------------------------------------- statistics
def crossing(samples: Sequence[tuple[float, int]], level: float) -> float | None:
    """When a monotone count first reached ``level``, interpolated linearly between samples."""
    prev: tuple[float, int] | None = None
    for t, n in samples:
        if n >= level:
            if prev is None or n == prev[1]:
                return t
            t0, n0 = prev
            return t0 + (t - t0) * (level - n0) / (n - n0)
        prev = (t, n)
    return None


def steady_rate(samples: Sequence[tuple[float, int]], total: int, lo: float = 0.1, hi: float = 0.9) -> float:
    a, b = crossing(samples, lo * total), crossing(samples, hi * total)
    if a is None or b is None or b <= a:
        return math.nan
    return (hi - lo) * total / (b - a)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ---------------------------------------------------------------- configuration
def plain(value: Any) -> Any:
    """A settings dump with secrets as their values (the generated config is private to the run)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def bench_config(base: Settings, run: str, replay: Path, args: argparse.Namespace) -> dict[str, Any]:
    kafka = plain(base.kafka.model_dump())
    es = plain(base.elasticsearch.model_dump())
    es["index_prefix"] = run
    return {
        "kafka": kafka,
        "elasticsearch": es,
        "topics": {**base.topics.model_dump(), **{k: f"{run}.{k}" for k in ("raw", "enriched", "alerts",
                                                                               "dead_letter", "state")}},
        "brands": [{"name": b} for b in BRANDS],
        # A short interval so that the replay, not the schedule, sets ingest's pace.
        "feeds": [{"name": FEED, "kind": "replay", "path": str(replay), "interval_seconds": 0.1,
                   "jitter_seconds": 0, "batch_size": args.replay_batch}],
        "enrich": base.enrich.model_dump(mode="json"),
        "index": base.index.model_dump(mode="json"),
        "alerts": {**base.alerts.model_dump(mode="json"), "console": False, "channels": [], "routes": []},
        "workers": {**base.workers.model_dump(mode="json"), "group_prefix": run, "log_level": "WARNING",
                    **{f"{w}_metrics_port": 0 for w in ("ingest", "enrich", "index", "alerts")}},
        "stack": base.stack.model_dump(mode="json"),
    }


# ---------------------------------------------------------------- data
def replay_record(t: RealText, i: int, created: datetime) -> dict[str, Any]:
    return {"source": "replay", "native_id": f"e{i}", "text": t.text,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "url": f"https://social.example/{t.lang}/e{i}", "author": {"handle": f"user{i % 7919}"}}


def raw_mention(t: RealText, feed: str, i: int, created: datetime) -> Mention:
    """A raw mention as the ingest worker makes it (one matched brand)."""
    return Mention.new(source="replay", feed=feed, native_id=f"{feed}-{i}", brand=t.brand, text=t.text,
                       created_at=created, fetched_at=created, matched_brands=(t.brand,),
                       url=f"https://social.example/{t.lang}/{feed}-{i}",
                       author=Author(handle=f"user{i % 7919}"))


# ---------------------------------------------------------------- the run
@dataclass
class Workers:
    supervisors: list[Supervisor] = field(default_factory=list)

    def children(self) -> list[tuple[str, int]]:
        return [(c.stage, c.proc.pid) for s in self.supervisors for c in s.children if c.proc is not None]

    def check(self) -> None:
        for sup in self.supervisors:
            for child in sup.children:
                if child.proc is not None and child.proc.poll() is not None:
                    raise BenchError(f"the {child.stage} worker exited with code {child.proc.returncode} "
                                     "(see the worker log)")

    def stop(self) -> None:
        for sup in reversed(self.supervisors):
            sup.stop(timeout=60)


class Counts:
    """Records on the run's topics (end offsets) and searchable documents in its index."""

    def __init__(self, s: Settings, es: Elasticsearch) -> None:
        self.s, self.es = s, es
        self.consumer = KafkaConsumer(**client_kwargs(s.kafka, "bench-probe"))
        self.alias = mentions_alias(s.elasticsearch.index_prefix)
        self._tps: dict[str, list[TopicPartition]] = {}

    def topic(self, topic: str) -> int:
        if topic not in self._tps:
            parts = self.consumer.partitions_for_topic(topic) or set()
            if not parts:
                return 0
            self._tps[topic] = [TopicPartition(topic, p) for p in parts]
        return int(sum(self.consumer.end_offsets(self._tps[topic]).values()))

    def docs(self, **term: str) -> int:
        query = {"term": term} if term else {"match_all": {}}
        for attempt in range(10):
            try:
                resp = self.es.count(index=self.alias, query=query, ignore_unavailable=True, allow_no_indices=True)
                return int(resp["count"])
            except ApiError as exc:
                # 503 while a just-created index's shard starts; anything else is a real error.
                if exc.meta.status != 503 or attempt == 9:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.consumer.close()


def wait_docs(counts: Counts, workers: Workers, target: int, *, what: str, stall: float,
              on_sample: Callable[[float, int], None] | None = None, period: float = 0.25) -> None:
    """Until every one of ``target`` records is accounted for: searchable in the index, or a dead
    letter (those fail the exact-count check later, with their reasons, but must not hide the
    figures). BenchError after ``stall`` seconds without progress, naming where records are stuck."""
    last_n, last_change = -1, time.monotonic()
    dead, dead_checked = 0, 0.0
    while True:
        workers.check()
        n = counts.docs()
        now = time.monotonic()
        if now - dead_checked >= 1.0:
            dead, dead_checked = counts.topic(counts.s.topics.dead_letter), now
        if on_sample:
            on_sample(now, n)
        if n + dead >= target:
            return
        if n + dead != last_n:
            last_n, last_change = n + dead, now
        elif now - last_change > stall:
            t = counts.s.topics
            raise BenchError(
                f"{what}: no progress for {stall:.0f}s at {n}/{target} documents (raw topic "
                f"{counts.topic(t.raw)}, enriched {counts.topic(t.enriched)}, dead letters {dead}); "
                "see the worker log")
        time.sleep(period)


def dead_letter_summary(s: Settings, limit: int = 3) -> list[str]:
    """The first few dead letters of the run: stage, error class, reason and the text."""
    consumer = KafkaConsumer(s.topics.dead_letter, **client_kwargs(s.kafka, "bench-dlq"), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000)
    out: list[str] = []
    try:
        for rec in consumer:
            d = json.loads(rec.value)
            text = ""
            try:
                text = json.loads(d.get("value_text") or "{}").get("text", "")
            except ValueError:
                pass
            out.append(f"{d.get('stage')}/{d.get('error_class')}: {d.get('error', '')[:120]} -- text {text[:100]!r}")
            if len(out) >= limit:
                break
    finally:
        consumer.close()
    return out


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]


def snapshot(procs: Sequence[tuple[str, int]], shared: Sequence[tuple[str, int]]) -> Snapshot:
    cpu: dict[str, float] = {}
    for name, pid in procs:
        c = cpu_seconds(pid)
        if c is not None:
            cpu[name] = c
    for name, pgid in shared:
        c = group_cpu_seconds(pgid)
        if c is not None:
            cpu[name] = c
    return Snapshot(time.monotonic(), cpu)


class PacedPhase:
    """Produce at a fixed rate; a second thread finds each id by search and stamps it."""

    CHUNK = 10_000  # index.max_result_window: one search returns at most this many hits

    def __init__(self, s: Settings, es: Elasticsearch, records: list[tuple[str, bytes, bytes]], rate: float,
                 poll: float = 0.1) -> None:
        self.s, self.es, self.records, self.rate, self.poll = s, es, records, rate, poll
        self.alias = mentions_alias(s.elasticsearch.index_prefix)
        self.sent_at: dict[str, float] = {}
        self.found_at: dict[str, float] = {}
        self.pending: dict[str, None] = {}  # insertion-ordered: oldest first
        self.lock = threading.Lock()
        self.sending = True
        self.error: BaseException | None = None
        self.max_pending = 0
        self.searches = 0
        self.dead = 0

    def search_loop(self, deadline: Callable[[], float]) -> None:
        rotation = 0
        try:
            while time.monotonic() < deadline():
                started = time.monotonic()
                with self.lock:
                    ids = list(self.pending)
                    self.max_pending = max(self.max_pending, len(ids))
                if not ids:
                    if not self.sending:
                        return
                else:
                    # Round-robin over chunks when more than one search's worth is missing.
                    chunks = [ids[k:k + self.CHUNK] for k in range(0, len(ids), self.CHUNK)]
                    chunk = chunks[rotation % len(chunks)]
                    rotation += 1
                    resp = self.es.options(request_timeout=30).search(
                        index=self.alias, query={"ids": {"values": chunk}}, size=len(chunk), source=False,
                        track_total_hits=False)
                    now = time.monotonic()
                    self.searches += 1
                    with self.lock:
                        for hit in resp["hits"]["hits"]:
                            if hit["_id"] in self.pending:
                                del self.pending[hit["_id"]]
                                self.found_at[hit["_id"]] = now
                time.sleep(max(0.0, self.poll - (time.monotonic() - started)))
        except BaseException as exc:  # handed to the main thread, which reports it
            self.error = exc

    def run(self, drain_timeout: float, workers: Workers, dead_letters: Callable[[], int]) -> tuple[float, float]:
        """Returns (seconds spent producing, offered rate achieved). Mentions that became dead
        letters instead are left out of the latencies (the exact-count check reports them)."""
        dead_before = dead_letters()
        producer = make_producer(self.s.kafka, "bench-paced", linger_ms=5)
        end = [math.inf]
        finder = threading.Thread(target=self.search_loop, args=(lambda: end[0],), daemon=True)
        finder.start()
        raw = self.s.topics.raw
        t0 = time.monotonic()
        i, n = 0, len(self.records)
        last_check = t0
        try:
            while i < n:
                now = time.monotonic()
                due = min(n, int((now - t0) * self.rate) + 1)
                while i < due:
                    mid, key, value = self.records[i]
                    at = time.monotonic()
                    with self.lock:
                        self.sent_at[mid] = at
                        self.pending[mid] = None
                    producer.send(raw, key=key, value=value)
                    i += 1
                if now - last_check > 1.0:
                    workers.check()
                    if self.error:
                        raise BenchError(f"paced phase: searching failed: {self.error!r}")
                    last_check = now
                time.sleep(0.005)
            producer.flush(timeout=60)
        finally:
            producer.close()
        produced_for = time.monotonic() - t0
        self.sending = False
        end[0] = time.monotonic() + drain_timeout
        while finder.is_alive():
            finder.join(1.0)
            workers.check()
            with self.lock:
                missing = len(self.pending)
            self.dead = dead_letters() - dead_before
            if 0 < missing <= self.dead:  # nothing else is coming: every one missing is a dead letter
                end[0] = 0.0
        if self.error:
            raise BenchError(f"paced phase: searching failed: {self.error!r}")
        if len(self.pending) > self.dead:
            raise BenchError(f"paced phase: {len(self.pending)} of {n} mentions were not searchable "
                             f"{drain_timeout:.0f}s after the last was produced")
        return produced_for, n / produced_for

    def latencies(self) -> list[float]:
        return [self.found_at[m] - self.sent_at[m] for m in self.sent_at if m in self.found_at]


def read_back(es: Elasticsearch, alias: str, feed: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(index, id, _source) of every document of ``feed``."""
    out = []
    for hit in helpers.scan(es, index=alias, query={"query": {"term": {"feed": feed}}}, size=2000,
                            scroll="5m", preserve_order=False):
        out.append((hit["_index"], hit["_id"], hit["_source"]))
    return out


def ceiling(es: Elasticsearch, s: Settings, docs: list[tuple[str, str, dict[str, Any]]], prefix: str) -> float:
    """docs/s of plain ``helpers.bulk`` of ``docs`` into a fresh index set with the same template."""
    apply_templates(es, prefix)
    old, new = mentions_alias(s.elasticsearch.index_prefix), mentions_alias(prefix)

    def actions() -> Iterator[dict[str, Any]]:
        for index, doc_id, source in docs:
            yield {"_index": new + index.removeprefix(old), "_id": doc_id, "_source": source}

    t0 = time.perf_counter()
    _, errors = helpers.bulk(es, actions(), chunk_size=s.index.batch_size, refresh=False, raise_on_error=False,
                              max_chunk_bytes=100 * 1024 * 1024)
    elapsed = time.perf_counter() - t0
    if isinstance(errors, list) and errors:
        raise BenchError(f"ceiling: helpers.bulk refused {len(errors)} documents, e.g. {errors[0]}")
    es.indices.refresh(index=f"{new}-*")
    n = int(es.count(index=new)["count"])
    if n != len(docs):
        raise BenchError(f"ceiling: the fresh index holds {n} documents, expected {len(docs)}")
    return len(docs) / elapsed


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def cleanup(es: Elasticsearch, s: Settings, prefixes: Sequence[str]) -> None:
    for prefix in prefixes:
        es.indices.delete(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
        for name in (mentions_alias(prefix), alerts_index(prefix)):
            es.options(ignore_status=404).indices.delete_index_template(name=name)
    t = s.topics
    delete_topics(s, [t.raw, t.enriched, t.alerts, t.dead_letter, t.state])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--mentions", type=int, default=30_000, help="posts (= mentions) in the throughput phase")
    ap.add_argument("--enrich-processes", type=int, help="default: the config's, else half the cores")
    ap.add_argument("--index-processes", type=int, help="default: the config's (1)")
    ap.add_argument("--paced-rate", type=float, default=1000.0, help="raw mentions/s in the paced phase")
    ap.add_argument("--paced-seconds", type=float, default=60.0)
    ap.add_argument("--skip-paced", action="store_true")
    ap.add_argument("--replay-batch", type=int, default=1000, help="the replay feed's posts per poll")
    ap.add_argument("--stall-timeout", type=float, default=180.0,
                    help="fail when the index gains nothing for this long")
    ap.add_argument("--drain-timeout", type=float, default=300.0,
                    help="paced phase: how long after the last send every mention must be searchable")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared posts.jsonl.gz")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--config", help="base config (default: $BRANDPULSE_CONFIG or config/brandpulse.yaml)")
    ap.add_argument("--check", action="store_true", help="exit 2 when a target is missed")
    ap.add_argument("--keep", action="store_true", help="keep the topics, indices and worker log")
    args = ap.parse_args(argv)
    if args.mentions < 100:
        ap.error("--mentions must be at least 100")

    base = load_settings(args.config)
    run = f"bench-e2e-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix=f"{run}-"))
    n_paced = 0 if args.skip_paced else int(args.paced_rate * args.paced_seconds)
    n = args.mentions

    print(f"== bench_e2e {run}: {n} mentions + {WARMUP} warm-up"
          + (f" + paced {args.paced_rate:g}/s for {args.paced_seconds:g}s" if n_paced else "") + f"; {uptime()}",
          flush=True)
    t0 = time.perf_counter()
    matcher = brand_matcher(Settings.model_validate({"brands": [{"name": b} for b in BRANDS]}).brands)
    texts = sample(n + WARMUP + n_paced, path=args.data, seed=args.seed,
                   matcher=lambda text: matcher.match(MatchDoc(text=text)))
    warm, main_texts, paced_texts = texts[:WARMUP], texts[WARMUP:WARMUP + n], texts[WARMUP + n:]
    print(f"   {len(texts)} unique real texts ({mix_summary(texts)}), one of {len(BRANDS)} brands each, "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)

    # The throughput phase's posts: the last one an hour ago at most, spread over the hour before.
    replay = work / "posts.jsonl"
    end = datetime.now(UTC) - timedelta(minutes=1)
    step = 3600.0 / n
    with replay.open("w", encoding="utf-8") as fh:
        for i, t in enumerate(main_texts):
            created = end - timedelta(seconds=(n - i) * step)
            fh.write(json.dumps(replay_record(t, i, created), ensure_ascii=False) + "\n")

    cfg_path = work / "bench.yaml"
    cfg_path.touch(mode=0o600)
    cfg_path.write_text(yaml.safe_dump(bench_config(base, run, replay, args), sort_keys=False, allow_unicode=True))
    s = load_settings(cfg_path, environ={})
    replicas = replicas_for(s)
    if args.enrich_processes:
        replicas["enrich"] = args.enrich_processes
    if args.index_processes:
        replicas["index"] = args.index_processes
    print(f"   workers: ingest 1, enrich {replicas['enrich']}, index {replicas['index']}, alerts 1; "
          f"{s.topics.partitions} partitions; index.batch_size {s.index.batch_size}; {os.cpu_count()} cores",
          flush=True)

    # Children read only the generated config: an override in this shell must not redirect them.
    for key in [k for k in os.environ if k.startswith("BRANDPULSE_")]:
        os.environ.pop(key)
    es = make_es(s.elasticsearch, request_timeout=120)
    workers = Workers()
    log_path = work / "workers.log"
    log: IO[bytes] = log_path.open("ab")
    ceiling_prefix = f"{run}-ceiling"
    failures: list[str] = []
    missed: list[str] = []
    evaluated = False
    counts: Counts | None = None
    shared = [(f"{st.name} (shared)", st.pid) for st in stack.status(s.stack) if st.pid]
    previous_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)  # a killed bench still stops its workers and cleans up
    try:
        setup(s, quiet=True)
        counts = Counts(s, es)
        pipeline = Supervisor(config=str(cfg_path), stages=("enrich", "index", "alerts"), replicas=replicas,
                              stdout=log, stderr=log)
        pipeline.start()
        workers.supervisors.append(pipeline)

        # -- warm-up: models loaded, groups joined, first requests made
        t_warm = time.monotonic()
        producer = make_producer(s.kafka, "bench-warmup")
        now = datetime.now(UTC)
        for i, t in enumerate(warm):
            m = raw_mention(t, WARM_FEED, i, now)
            producer.send(s.topics.raw, key=m.kafka_key, value=m.to_bytes())
        producer.flush()
        producer.close()
        wait_docs(counts, workers, WARMUP, what="warm-up", stall=max(args.stall_timeout, 300))
        print(f"   warm-up: {WARMUP} mentions through enrich/index/alerts in {time.monotonic() - t_warm:.1f}s "
              "(worker start-up included)", flush=True)

        # -- throughput
        ingest = Supervisor(config=str(cfg_path), stages=("ingest",), stdout=log, stderr=log)
        before = snapshot(workers.children(), shared)
        t_start = time.monotonic()
        ingest.start()
        workers.supervisors.append(ingest)
        es_samples: list[tuple[float, int]] = [(t_start, 0)]
        raw_samples: list[tuple[float, int]] = [(t_start, 0)]
        enr_samples: list[tuple[float, int]] = [(t_start, 0)]
        last_topics = [0.0]
        last_print = [t_start]

        def on_sample(now: float, docs: int) -> None:
            es_samples.append((now, docs - WARMUP))
            if now - last_topics[0] >= 0.5:
                raw_samples.append((now, counts.topic(s.topics.raw) - WARMUP))
                enr_samples.append((now, counts.topic(s.topics.enriched) - WARMUP))
                last_topics[0] = now
            if now - last_print[0] >= 5:
                last_print[0] = now
                print(f"   t={now - t_start:5.1f}s  raw {raw_samples[-1][1]:>7}  enriched {enr_samples[-1][1]:>7}  "
                      f"searchable {docs - WARMUP:>7}  ({uptime()})", flush=True)

        wait_docs(counts, workers, WARMUP + n, what="throughput phase", stall=args.stall_timeout,
                  on_sample=on_sample)
        after = snapshot(workers.children(), shared)
        wall = after.at - t_start
        rate = steady_rate(es_samples, n)
        raw_rate, enr_rate = steady_rate(raw_samples, n), steady_rate(enr_samples, n)
        print(f"== throughput: {n} mentions searchable {wall:.1f}s after ingest started "
              f"({n / wall:.0f}/s overall, ingest start-up included)", flush=True)
        print(f"   steady end-to-end rate (10 % -> 90 % of documents searchable): {rate:8.0f} mentions/s", flush=True)
        print(f"   same share on the raw topic (ingest out): {raw_rate:.0f}/s; on the enriched topic (enrich out): "
              f"{enr_rate:.0f}/s", flush=True)

        # -- paced latency
        lat: list[float] = []
        if n_paced:
            t_build = time.monotonic()
            start = datetime.now(UTC) + timedelta(seconds=5)
            records = []
            for i, t in enumerate(paced_texts):
                m = raw_mention(t, PACED_FEED, i, start + timedelta(seconds=i / args.paced_rate))
                records.append((m.id, m.kafka_key, m.to_bytes()))
            print(f"== paced: {n_paced} raw mentions built in {time.monotonic() - t_build:.1f}s; producing "
                  f"{args.paced_rate:g}/s for {args.paced_seconds:g}s ({uptime()})", flush=True)
            paced = PacedPhase(s, es, records, args.paced_rate)
            produced_for, offered = paced.run(args.drain_timeout, workers,
                                              lambda: counts.topic(s.topics.dead_letter) if counts else 0)
            lat = paced.latencies()
            print(f"   offered {offered:.0f} mentions/s for {produced_for:.1f}s; {paced.searches} searches, at most "
                  f"{paced.max_pending} ids pending"
                  + (" (over 10,000: latencies coarser than the 0.1 s poll)" if paced.max_pending > paced.CHUNK
                     else "")
                  + (f"; {paced.dead} dead-lettered (left out of the latencies)" if paced.dead else ""), flush=True)
            print(f"   produce -> searchable latency: p50 {percentile(lat, 0.5):.2f}s  p95 {percentile(lat, 0.95):.2f}s  "
                  f"p99 {percentile(lat, 0.99):.2f}s  max {max(lat):.2f}s  (mean {statistics.fmean(lat):.2f}s)",
                  flush=True)
        paced_end = snapshot(workers.children(), shared)

        # -- exact counts
        es.indices.refresh(index=f"{mentions_alias(run)}-*")
        expected = WARMUP + n + n_paced
        tp = s.topics
        got = {"raw topic": counts.topic(tp.raw), "enriched topic": counts.topic(tp.enriched),
               "documents": counts.docs(), f"documents of {FEED}": counts.docs(feed=FEED),
               "dead letters": counts.topic(tp.dead_letter)}
        want = {"raw topic": expected, "enriched topic": expected, "documents": expected,
                f"documents of {FEED}": n, "dead letters": 0}
        for what, value in got.items():
            if value != want[what]:
                failures.append(f"{what}: {value}, expected {want[what]}")
        if got["dead letters"]:
            failures.extend(f"dead letter: {line}" for line in dead_letter_summary(s))
        print("== counts: " + ", ".join(f"{k} {v}" for k, v in got.items())
              + ("  (exact)" if not failures else "  MISMATCH"), flush=True)

        # -- per process
        hwm = {name: vm_hwm_mb(pid) for name, pid in workers.children()}
        print(f"== CPU seconds (utime+stime, /proc/<pid>/stat) and peak RSS; throughput phase = {n} mentions "
              f"in {wall:.1f}s:", flush=True)
        print(f"   {'process':26} {'throughput':>10} {'per 1k':>7}" + (f" {'paced':>8}" if n_paced else "")
              + f" {'peak RSS':>9}", flush=True)
        stage_cpu: dict[str, float] = {}
        for name in sorted(after.cpu, key=lambda k: -(after.cpu[k] - before.cpu.get(k, after.cpu[k]))):
            if name not in before.cpu:
                continue
            used = after.cpu[name] - before.cpu[name]
            if "shared" not in name:
                stage = name.split("#")[0]
                stage_cpu[stage] = stage_cpu.get(stage, 0.0) + used
            line = f"   {name:26} {used:9.1f}s {used / n * 1000:6.2f}s"
            if n_paced:
                line += f" {paced_end.cpu.get(name, math.nan) - after.cpu[name]:7.1f}s"
            mem = hwm.get(name)
            line += f" {mem:7.0f}MB" if mem is not None else f" {'':>9}"
            print(line, flush=True)
        for name, _ in workers.children():
            if name not in before.cpu:  # ingest started with the phase: all of its CPU counts
                used = (after.cpu.get(name) or 0.0)
                stage_cpu[name.split("#")[0]] = stage_cpu.get(name.split("#")[0], 0.0) + used
                print(f"   {name:26} {used:9.1f}s {used / n * 1000:6.2f}s"
                      + (f" {paced_end.cpu.get(name, math.nan) - used:7.1f}s" if n_paced else "")
                      + (f" {hwm[name]:7.0f}MB" if hwm.get(name) is not None else ""), flush=True)
        print("   one core per stage would sustain (mentions per CPU-second of the stage, all its processes): "
              + ", ".join(f"{st} {n / c:.0f}/s" for st, c in sorted(stage_cpu.items(), key=lambda kv: -kv[1])
                          if c > 0), flush=True)
        print("   (ingest's figure includes its start-up; the shared broker and node serve anything else on the "
              "stack too)", flush=True)

        # -- ceiling, same run, workers stopped
        workers.stop()
        workers.supervisors.clear()
        docs = read_back(es, mentions_alias(run), FEED)
        es_pg = [pg for name, pg in shared if name.startswith("elasticsearch")]
        es_before = group_cpu_seconds(es_pg[0]) if es_pg else None
        top = ceiling(es, s, docs, ceiling_prefix)
        es_after = group_cpu_seconds(es_pg[0]) if es_pg else None
        ratio = rate / top
        print(f"== ceiling: helpers.bulk of the same {len(docs)} documents (chunk_size {s.index.batch_size}) into a "
              f"fresh index with the same template: {top:.0f} docs/s ({uptime()})", flush=True)
        if es_before is not None and es_after is not None and docs:
            print(f"   elasticsearch CPU in the ceiling: {es_after - es_before:.1f}s, "
                  f"{(es_after - es_before) / len(docs) * 1000:.2f}s per 1k documents", flush=True)
        print(f"   steady end-to-end / ceiling = {ratio:.2f}  (target >= {RATIO_TARGET})", flush=True)
        if not ratio >= RATIO_TARGET:
            missed.append(f"end-to-end/ceiling {ratio:.2f} < {RATIO_TARGET}")
        if lat and not percentile(lat, 0.99) <= P99_TARGET:
            missed.append(f"paced p99 {percentile(lat, 0.99):.2f}s > {P99_TARGET:g}s")
        evaluated = True
    except BenchError as exc:
        failures.append(str(exc))
    except KeyboardInterrupt:
        failures.append("interrupted")
    except Exception as exc:  # an unexpected error still stops the workers and cleans up
        traceback.print_exc()
        failures.append(f"unexpected error: {exc!r}")
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        workers.stop()
        log.close()
        if counts is not None:
            counts.close()
        if args.keep or failures:
            print(f"   worker log and config kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            try:
                cleanup(es, s, [run, ceiling_prefix])
            except Exception as exc:  # report, but the figures above stand
                print(f"   cleanup failed: {exc!r}", file=sys.stderr)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not evaluated:
        print(f"targets: not evaluated (the run failed)  ({uptime()})")
    else:
        print("targets: " + ("met" if not missed else "NOT met: " + "; ".join(missed)) + f"  ({uptime()})")
    if failures:
        return 1
    return 2 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
