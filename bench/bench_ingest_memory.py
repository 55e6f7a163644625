"""Memory and speed of the real ingest worker over a large replay (issue #4: "report the figure
and the ingest worker's memory after 1 million replayed mentions").

    .venv/bin/python bench/bench_ingest_memory.py [--mentions 1000000] [--brands 100] [--batch-size 5000]
                                                  [--bootstrap 127.0.0.1:19092] [--keep]

What it does:
1. writes a JSONL replay of ``--mentions`` generated multilingual posts (English, Spanish, Urdu,
   Georgian, Arabic; the stream generator of ``bench/bench_query.py``, plus authors, engagement,
   URLs, titles, places and a few long article-like posts) into a temporary directory, and counts
   the records the brand matcher must produce from it (the worker's own ``match_post``);
2. writes a config with the three demo brands plus synthetic ones (``--brands`` in all), one
   replay feed at full speed, and topics with a unique name on the local Kafka, and creates them;
3. runs the real worker as a subprocess, ``.venv/bin/brandpulse ingest --config …``, and samples
   its resident memory (VmRSS, VmHWM from ``/proc/<pid>/status``) and its ``/metrics`` counters
   every 0.2 s until every line has been read and acknowledged;
4. prints mentions read, records produced, elapsed time, mentions/s, the RSS when 100k, 250k,
   500k and 1M mentions had been read, and the peak (VmHWM); deletes its topics and files
   (``--keep`` keeps them).

Exit status 1 when the records on the topic differ from what the matcher should produce (or the
worker fails), so a lost or duplicated batch cannot pass unnoticed. The machine this runs on is
usually shared: the speed is indicative, the memory figures are what this is for.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_query import COUNTRY, VOCAB, brand_words, make_brands, make_stream  # noqa: E402

from brandpulse.kafkaio import delete_topics, ensure_topics, topic_count  # noqa: E402
from brandpulse.settings import Settings  # noqa: E402
from ingest.feeds.records import post_from_record  # noqa: E402
from ingest.query import BrandSpec  # noqa: E402
from ingest.worker import brand_matcher, match_post  # noqa: E402

CHECKPOINTS = (100_000, 250_000, 500_000, 1_000_000)
T_END = datetime(2026, 11, 30, tzinfo=UTC)
CITIES = {"en": ("Leeds", "Austin", "Lahore"), "es": ("Madrid", "CDMX", "Rosario"), "ur": ("Karachi", "Lahore"),
          "ka": ("Tbilisi", "Batumi"), "ar": ("Cairo", "Riyadh", "Dubai")}
GEO = {"Tbilisi": (41.72, 44.79), "Karachi": (24.86, 67.01), "Madrid": (40.42, -3.70), "Cairo": (30.04, 31.24)}


def demo_brands() -> list[dict[str, Any]]:
    import yaml

    data = yaml.safe_load((ROOT / "config" / "demo" / "brands.yaml").read_text(encoding="utf-8"))
    return list(data["brands"])


def spec_to_config(spec: BrandSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec.name, "aliases": list(spec.aliases)}
    if spec.query:
        out["query"] = spec.query
    for key in ("exclude_terms", "exclude_authors", "languages"):
        if getattr(spec, key):
            out[key] = list(getattr(spec, key))
    return out


def write_replay(path: Path, n: int, brands: list[dict[str, Any]], words: list[str], seed: int) -> int:
    """Write ``n`` posts; return how many records the worker's matcher makes of them."""
    rng = random.Random(seed)
    settings = Settings.model_validate({"brands": brands})
    matcher = brand_matcher(settings.brands)
    demo_aliases = [a for b in brands[:3] for a in b["aliases"]]
    now = datetime.now(UTC)
    expected = 0
    chunk = 10_000
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < n:
            docs = make_stream(rng, words, min(chunk, n - written))
            lines: list[str] = []
            for doc in docs:
                i = written
                written += 1
                lang = doc.lang or "en"
                text = doc.text
                if rng.random() < 0.01:  # the demo brands too, in their own scripts
                    text = f"{text} {rng.choice(demo_aliases)}"
                if rng.random() < 0.02:  # a long, article-like post (news, blogs)
                    text += " " + " ".join(rng.choice(VOCAB[lang]) for _ in range(rng.randint(200, 600)))
                record: dict[str, Any] = {
                    "native_id": f"bench-{i}",
                    "text": text,
                    "created_at": (T_END - timedelta(seconds=rng.randrange(30 * 86400))).isoformat()
                    .replace("+00:00", "Z"),
                    "lang": lang,
                    "country": doc.country or rng.choice(COUNTRY[lang]),
                    "author": {"id": f"u{rng.randrange(200_000)}", "handle": doc.author,
                               "name": doc.author.title() if doc.author else None,
                               "followers": int(rng.paretovariate(1.2) * 50),
                               "location": rng.choice(CITIES[lang])},
                    "engagement": {"likes": rng.randrange(200), "shares": rng.randrange(30),
                                   "replies": rng.randrange(20), "views": rng.randrange(20_000)},
                    "source": "replay",
                }
                if doc.title:
                    record["title"] = doc.title
                if doc.url:
                    record["url"] = doc.url.replace("/p/1", f"/p/{i}")
                city = record["author"]["location"]
                if city in GEO and rng.random() < 0.1:
                    record["geo"] = {"lat": GEO[city][0], "lon": GEO[city][1]}
                post = post_from_record(record, default_source="replay")
                expected += len(match_post(matcher, post, "bench", now))
                lines.append(json.dumps(record, ensure_ascii=False))
            fh.write("\n".join(lines) + "\n")
    return expected


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


_METRIC = re.compile(r'^brandpulse_feed_posts_total\{feed="bench"\} ([0-9.e+]+)$', re.M)


def posts_read(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            body = resp.read().decode()
    except OSError:
        return None
    match = _METRIC.search(body)
    return int(float(match.group(1))) if match else 0


@dataclass
class Sample:
    t: float
    read: int
    rss_kb: int
    hwm_kb: int


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mentions", type=int, default=1_000_000)
    ap.add_argument("--brands", type=int, default=100, help="brand queries in all (3 demo + synthetic)")
    ap.add_argument("--batch-size", type=int, default=5000, help="replay records per poll")
    ap.add_argument("--bootstrap", default=os.environ.get("BRANDPULSE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir and the topics")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    uid = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    rng = random.Random(args.seed)
    brands = demo_brands()
    words = brand_words(rng, max(0, args.brands - len(brands)))
    brands += [spec_to_config(s) for s in make_brands(words)]
    topics = {"raw": f"{uid}.raw", "enriched": f"{uid}.enriched", "alerts": f"{uid}.alerts",
              "dead_letter": f"{uid}.dlq", "state": f"{uid}.state", "partitions": 3}
    metrics_port = free_port()
    config = {
        "kafka": {"bootstrap_servers": args.bootstrap},
        "topics": topics,
        "workers": {"ingest_metrics_port": metrics_port, "group_prefix": uid},
        "brands": brands,
        "feeds": [{"name": "bench", "kind": "replay", "path": "replay.jsonl", "speed": 0,
                   "batch_size": args.batch_size, "interval_seconds": 0.05, "jitter_seconds": 0}],
    }
    settings = Settings.model_validate(config)
    status = 1
    proc: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        expected = write_replay(tmp / "replay.jsonl", args.mentions, brands, words, args.seed)
        size = (tmp / "replay.jsonl").stat().st_size
        print(f"replay file: {args.mentions:,} mentions, {size / 1e6:.0f} MB, written in "
              f"{time.perf_counter() - t0:.0f} s; {len(brands)} brands; the matcher expects {expected:,} records")
        (tmp / "bench.yaml").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        ensure_topics(settings)

        exe = ROOT / ".venv" / "bin" / "brandpulse"
        cmd = [str(exe) if exe.exists() else "brandpulse", "--config", str(tmp / "bench.yaml"),
               "--log-level", "WARNING", "ingest"]
        log_path = tmp / "worker.log"
        with log_path.open("wb") as log_fh:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, cwd=ROOT)
            samples: list[Sample] = []
            read = 0
            while time.perf_counter() - start < args.timeout:
                if proc.poll() is not None:
                    print(f"worker exited early with status {proc.returncode}; log: {log_path}")
                    print(log_path.read_text(errors="replace")[-3000:])
                    return 1
                got = posts_read(metrics_port)
                read = got if got is not None else read
                rss, hwm = proc_mem(proc.pid)
                samples.append(Sample(time.perf_counter() - start, read, rss, hwm))
                if read >= args.mentions:
                    break
                time.sleep(0.2)
            elapsed = samples[-1].t if samples else 0.0
            final_rss, final_hwm = proc_mem(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        produced = topic_count(settings, settings.topics.raw)
        dead = topic_count(settings, settings.topics.dead_letter)

        print(f"mentions read       {read:>12,}")
        print(f"records produced    {produced:>12,}   (expected {expected:,}; dead letters {dead})")
        print(f"elapsed             {elapsed:>12.1f} s  (worker start to last mention acknowledged)")
        print(f"mentions/s          {read / elapsed if elapsed else 0:>12,.0f}")
        for mark in CHECKPOINTS:
            if mark > args.mentions:
                continue
            hit = next((s for s in samples if s.read >= mark), None)
            if hit is not None:
                print(f"RSS at {mark:>9,} read  {mb(hit.rss_kb):>9}   (t = {hit.t:.1f} s)")
        first = next((s for s in samples if s.read > 0), None)
        if first is not None:
            print(f"RSS at first batch  {mb(first.rss_kb):>9}")
        print(f"RSS at the end      {mb(final_rss):>9}")
        print(f"VmHWM (peak RSS)    {mb(final_hwm):>9}")
        ok = read == args.mentions and produced == expected and dead == 0
        if not ok:
            print("MISMATCH: the records on the topic are not what the matcher should produce", file=sys.stderr)
        status = 0 if ok else 1
        return status
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if args.keep:
            print(f"kept {tmp} and topics {uid}.*")
        else:
            try:
                t = settings.topics
                delete_topics(settings, [t.raw, t.enriched, t.alerts, t.dead_letter, t.state])
            except Exception as exc:  # the figures are printed; cleanup is best effort
                print(f"could not delete topics {uid}.*: {exc}", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
