"""The alert worker's own cost: CPU per mention through ``AlertStage.handle`` + ``after_commit``, and
the checkpoint it writes (bytes per series key, bytes written to the state topic per mention).

    .venv/bin/python bench/bench_alert_worker.py [--n 6000] [--brands 3] [--cache /tmp/bench_alert_worker.jsonl]

The mentions are real public posts (``../shared/data/sentiment/posts.jsonl.gz`` through
``bench/realtext.py``) run once through the real ``Enricher`` and ``StoryIndex`` (so the keywords,
hashtags, places, languages, sentiment and story ids are what the pipeline gives them), with one
post in five reposted (``RT @user: ...``) so stories have more than one mention. They are laid on
a timeline: ``--hours`` of history spread over ``--brands`` brands, then a 20-minute burst of the
first brand's negative posts, so the detector warms up, alerts open and update, and the alert
records are built (stories, new terms, chart) inside the timed loop.

The worker runs against an in-memory state store that JSON-encodes every value as the real one
does (the encoding is part of the cost); no Kafka. CPU is this process's ``time.process_time``
(other load on the machine does not count), pinned to one core; best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from brandpulse.schema import Mention
from brandpulse.settings import Settings

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
TP = TopicPartition("enriched", 0)


def build_mentions(n: int, brands: int, seed: int) -> list[Mention]:
    from realtext import BRANDS, sample

    from enrich.pipeline import Enricher
    from enrich.stories import StoryIndex

    names = list(BRANDS[:brands])
    texts = sample(n, brands=names, seed=seed)
    rng = random.Random(seed)
    raw: list[Mention] = []
    for i, t in enumerate(texts):
        raw.append(Mention.new(source=rng.choice(["mastodon", "rss", "reddit"]), feed="bench", native_id=f"p{i}",
                               brand=t.brand, text=t.text, created_at=T0,
                               author={"handle": f"user{rng.randrange(2000)}", "followers": int(rng.paretovariate(1.2) * 50)},
                               url=f"https://social.example/p/{i}"))
        if rng.random() < 0.2:  # a repost of it: same story
            raw.append(Mention.new(source="mastodon", feed="bench", native_id=f"p{i}-rt", brand=t.brand,
                                   text=f"RT @user{i}: {t.text}", created_at=T0,
                                   author={"handle": f"user{rng.randrange(2000)}", "followers": rng.randrange(500)},
                                   url=f"https://social.example/p/{i}/rt"))
    enricher = Enricher(brand_terms={b: [b] for b in names})
    out: list[Mention] = []
    for k in range(0, len(raw), 256):
        out.extend(m for m in enricher.enrich(raw[k:k + 256]) if isinstance(m, Mention))
    stories = StoryIndex()
    with_story = []
    for m in out:
        assert m.enrichment is not None
        sid = stories.assign(brand=m.brand, mention_id=m.id, created_at=0.0, text=m.text,
                             urls=m.enrichment.urls, hashtags=m.enrichment.hashtags)
        with_story.append(m.model_copy(update={"enrichment": m.enrichment.model_copy(update={"story_id": sid})}))
    return with_story


def timeline(mentions: list[Mention], hours: float, seed: int) -> list[Mention]:
    """History spread evenly (with jitter) over ``hours``, then a 20-minute burst of the first
    brand's negatives; returned in time order."""
    rng = random.Random(seed)
    first = sorted({m.brand for m in mentions})[0]
    burst = [m for m in mentions if m.brand == first and m.enrichment is not None
             and m.enrichment.sentiment.label == "negative"][:400]
    burst_ids = {m.id for m in burst}
    history = [m for m in mentions if m.id not in burst_ids]
    span = hours * 3600
    timed: list[Mention] = []
    for i, m in enumerate(history):
        at = T0 + timedelta(seconds=span * i / len(history) + rng.uniform(0, 30))
        timed.append(m.model_copy(update={"created_at": at}))
    end = T0 + timedelta(seconds=span)
    for i, m in enumerate(burst):
        at = end + timedelta(seconds=1200 * i / len(burst))
        timed.append(m.model_copy(update={"created_at": at}))
    timed.sort(key=lambda m: m.created_at)
    return timed


class FakeProducer:
    def flush(self) -> None:
        pass


class CountingStore:
    """The compacted state topic in memory: latest value per key, JSON-encoded like StateStore.put."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.bytes_written = 0
        self.puts = 0
        self.producer = FakeProducer()

    def load(self, prefix: str = "") -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.data.items() if k.startswith(prefix)}

    def put(self, key: str, value: Any, *, flush: bool = True) -> None:
        self.puts += 1
        if value is None:
            self.data.pop(key, None)
            return
        payload = json.dumps(value, ensure_ascii=False, default=str).encode()
        self.bytes_written += len(payload) + len(key)
        self.data[key] = payload


def run_once(values: list[bytes], settings: Settings, batch: int) -> tuple[float, CountingStore, list[Any], Any]:
    from alerts.worker import AlertStage

    store = CountingStore()
    alerts: list[Any] = []
    wall = [T0.timestamp()]
    stage = AlertStage(settings, store, "bench", emit=alerts.append,  # type: ignore[arg-type]
                       wall=lambda: wall[0], monotonic=time.monotonic)
    stage.on_partitions_assigned([TP])
    recs = [ConsumerRecord(TP.topic, TP.partition, -1, off, 0, 0, b"k", v, [], None, 0, 0, -1)
            for off, v in enumerate(values)]
    c0 = time.process_time()
    for k in range(0, len(recs), batch):
        stage.handle(recs[k:k + batch])
        stage.after_commit()
    return time.process_time() - c0, store, alerts, stage


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=6000, help="unique real texts (default 6,000; +20%% reposts)")
    ap.add_argument("--brands", type=int, default=3)
    ap.add_argument("--hours", type=float, default=36.0, help="history before the burst (default 36)")
    ap.add_argument("--batch", type=int, default=256, help="records per handle() call (enrich.batch_size)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bench_alert_worker_mentions.jsonl"),
                    help="enriched mentions are kept here between runs (the enrichment is not timed)")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    tag = f"{args.n}-{args.brands}-{args.seed}"
    cache = args.cache.with_suffix(f".{tag}.jsonl")
    if cache.exists():
        mentions = [Mention.from_bytes(line.encode()) for line in cache.read_text(encoding="utf-8").splitlines()]
    else:
        t0 = time.perf_counter()
        mentions = build_mentions(args.n, args.brands, args.seed)
        cache.write_text("\n".join(m.to_bytes().decode() for m in mentions) + "\n", encoding="utf-8")
        print(f"enriched {len(mentions)} mentions in {time.perf_counter() - t0:.0f} s (cached in {cache})")
    values = [m.to_bytes() for m in timeline(mentions, args.hours, args.seed)]
    settings = Settings.model_validate({
        "brands": [{"name": b} for b in sorted({m.brand for m in mentions})],
        "topics": {"enriched": "enriched", "alerts": "alerts"},
        "alerts": {"console": False, "warmup_hours": 6},
    })
    negatives = sum(1 for m in mentions if m.enrichment and m.enrichment.sentiment.label == "negative")
    print(f"mentions: {len(values)} ({negatives} negative) over {args.hours:g} h + a 20-minute burst, "
          f"{args.brands} brands, batches of {args.batch}")
    cpus = []
    for _ in range(args.rounds):
        cpu, store, alerts, _ = run_once(values, settings, args.batch)
        cpus.append(cpu)
    best = min(cpus)
    print(f"CPU per mention (handle + after_commit, incl. JSON of the checkpoint): {best / len(values) * 1e6:.1f} us "
          f"(best of {args.rounds}: {', '.join(f'{c / len(values) * 1e6:.1f}' for c in cpus)}; "
          f"median {statistics.median(cpus) / len(values) * 1e6:.1f})")
    events = [str(a.get("event") if isinstance(a, dict) else a.event) for a in alerts]
    print(f"alerts emitted: {len(alerts)} ({', '.join(f'{e} {events.count(e)}' for e in sorted(set(events)))})")
    per_key: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for k, v in store.data.items():
        if k.startswith("alerts-series/"):
            series, _, part = k.split("/", 4)[-1].partition("|#")
            per_key[series]["baseline" if part == "baseline" else "window segments" if part else "series record"] += len(v)
    for key, parts in sorted(per_key.items()):
        print(f"  checkpoint of series {key!r}: {sum(parts.values()):,} B ("
              + ", ".join(f"{name} {size:,}" for name, size in sorted(parts.items())) + ")")
    print(f"state written: {store.bytes_written:,} B in {store.puts:,} puts "
          f"({store.bytes_written / len(values):,.0f} B per mention)")
    if alerts:
        a = alerts[-1]
        size = len(json.dumps(a) if isinstance(a, dict) else a.to_bytes())
        print(f"last alert record: {size:,} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
