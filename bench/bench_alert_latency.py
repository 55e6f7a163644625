"""Alert latency on the real local stack: first spike mention produced → webhook receives the alert.

    .venv/bin/python bench/bench_alert_latency.py [--trials 12] [--controls 3] [--stagger 25]
        [--spike-per-min 30] [--history-hours 26] [--seed 7] [--keep]

Requirement (issue #7): p50 under 30 s, p95 under 60 s. Needs the local stack (``brandpulse
stack up``); it uses its own topics and consumer groups (``bench_latency_<id>``), deletes them at
the end, and starts the real workers as processes: ``brandpulse enrich`` and ``brandpulse
alerts``, with default alert settings (balanced, 5-minute buckets, one day of warm-up) and one
generic webhook channel (HMAC-signed) pointing at an HTTP receiver started here, which checks
every signature.

1. **History.** Every brand gets ``--history-hours`` of backdated, already-enriched mentions
   (seasonal Poisson volume, 20 % negative) on the enriched topic, ending now, so the detector
   has learned its one-day warm-up when the trials start.
2. **Live traffic.** From then on each brand gets normal traffic in real time, as *raw* mentions
   that go through the enrich worker (which decides their sentiment from the text).
3. **Trials.** ``--trials`` brands each get one negative spike (a Poisson stream of
   ``--spike-per-min`` negative posts, starting at a random phase of the 5-minute bucket, a
   trial every ``--stagger`` seconds) until their alert arrives or ``--spike-max`` seconds pass.
   ``--controls`` brands only ever get normal traffic and must not alert.

Per trial it prints the latency (first spike mention produced → "opened" received), and splits
it in two: the *detection floor*, when the detector fed the same mentions in-process (no Kafka)
first opens, measured from the first spike mention to the production of the mention that tipped
it, and the *pipeline* part, from that mention's production to the webhook. The floor depends
only on the data and the detector; the pipeline part is what the workers add. ``neg@open`` is
the window's negatives in the alert / in the in-process run (equal when the split is exact);
``phase`` is where in its 5-minute bucket the spike began (a spike that starts just before a
bucket ends has to fill the next bucket on its own, the usual cause of the slowest trials).

``--simulate N`` needs no stack: it runs the same traffic through the detector in-process over N
trials and prints the detection floor's p50/p95 per normal volume (the pipeline adds ~0.03 s).

Exit status: 0 when every spike alerted exactly once, nothing else alerted, every signature
verified and p50/p95 met the targets; 1 on a missed, duplicated or false alert or a bad
signature; 2 when only the latency targets were missed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import math
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from kafka import KafkaProducer  # noqa: E402
from receivers import HttpReceiver, Received, signature_checker  # noqa: E402

from alerts.detector import DetectorConfig, NegativeSpikeDetector  # noqa: E402
from alerts.worker import detector_config  # noqa: E402
from brandpulse.kafkaio import (  # noqa: E402
    delete_topics,
    ensure_topics,
    group_lag,
    make_producer,
    wait_for_broker,
)
from brandpulse.schema import Author, Enrichment, Language, Mention, Sentiment  # noqa: E402
from brandpulse.settings import Settings, load_settings  # noqa: E402

P50_TARGET = 30.0
P95_TARGET = 60.0
SECRET = secrets.token_hex(16)  # a fresh HMAC key per run
HOOK_PATH = "/hooks/brandpulse"
NEGATIVE_SHARE = 0.2
BUCKET = 300

NEGATIVE = [
    "{b} cancelled my order again, three hours on hold and no refund. Worst service ever #{tag}fail",
    "{b} lost my parcel and the support team is useless. Terrible, never again #{tag}fail",
    "{b} app is broken, payment failed twice and they charged me anyway. Awful. #{tag}down",
    "Disgusted with {b}: rude staff in Karachi and a broken product. Refund now! #{tag}fail",
    "{b} outage in Madrid for hours, horrible and nobody answers. #{tag}down",
]
NEUTRAL = [
    "{b} updated its timetable for the spring season",
    "Anyone ordering from {b} in Lisbon next week?",
    "{b} opens a new store downtown on Monday",
]
POSITIVE = [
    "Thanks {b}, the team was lovely and my order arrived early. Great experience!",
    "Really happy with {b} support today, quick and friendly",
]


def rate_per_bucket(base: float, t: float) -> float:
    """Normal volume: ``base`` mentions per 5 min, with a daily cycle (quiet at night UTC)."""
    hour = (t % 86400) / 3600.0
    return base * (1.0 + 0.35 * math.sin(2 * math.pi * (hour - 9.0) / 24.0))


def tag_of(brand: str) -> str:
    return brand.lower().replace(" ", "")


@dataclass
class Produced:
    brand: str
    created_at: datetime
    negative: bool
    spike: bool
    at: float  # time.monotonic() just before the send


@dataclass
class Trial:
    brand: str
    onset: float  # monotonic
    spike_rate: float  # per second
    next_at: float = 0.0
    first_at: float | None = None
    first_created: datetime | None = None
    sent: int = 0
    done_at: float | None = None  # alert received (monotonic)
    opened: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    stopped: bool = False


@dataclass
class Brand:
    name: str
    base: float  # mentions per 5 min
    next_at: float = 0.0


# ---------------------------------------------------------------- mentions
def enriched_history(brand: str, t: datetime, i: int, rng: random.Random) -> bytes:
    negative = rng.random() < NEGATIVE_SHARE
    tpl = rng.choice(NEGATIVE if negative else (NEUTRAL if rng.random() < 0.6 else POSITIVE))
    tag = tag_of(brand)
    label = "negative" if negative else "neutral"
    m = Mention.new(
        source="bench", feed="bench-history", native_id=f"h{i}", brand=brand, text=tpl.format(b=brand, tag=tag),
        created_at=t, fetched_at=t, url=f"https://social.example/{tag}/h{i}",
        author=Author(handle=f"user{rng.randrange(5000)}", followers=rng.randrange(20, 20000)), lang="en",
        enrichment=Enrichment(
            version="bench", language=Language(code="en", confidence=0.99, method="bench"),
            sentiment=Sentiment(label=label, score=-0.6 if negative else 0.1, confidence=0.9, method="bench"),
            keywords=("refund", "support") if negative else ("store",),
            hashtags=(f"#{tag}fail",) if negative else (), enriched_at=t,
        ),
    )
    return m.to_bytes()


def raw_mention(brand: str, native_id: str, negative: bool, rng: random.Random) -> Mention:
    tpl = rng.choice(NEGATIVE if negative else (NEUTRAL if rng.random() < 0.6 else POSITIVE))
    tag = tag_of(brand)
    now = datetime.now(UTC)
    return Mention.new(
        source="bench", feed="bench-live", native_id=native_id, brand=brand, text=tpl.format(b=brand, tag=tag),
        created_at=now, fetched_at=now, url=f"https://social.example/{tag}/{native_id}",
        author=Author(handle=f"user{rng.randrange(5000)}", followers=rng.randrange(20, 20000)),
    )


def history_events(brands: list[Brand], start: datetime, end: datetime,
                   rng: random.Random) -> list[tuple[datetime, str]]:
    out: list[tuple[datetime, str]] = []
    t = start.timestamp()
    stop = end.timestamp()
    while t < stop:
        span = min(BUCKET, stop - t)
        for b in brands:
            lam = rate_per_bucket(b.base, t) * span / BUCKET
            # Poisson arrivals within the bucket
            x = t + rng.expovariate(lam / span)
            while x < t + span:
                out.append((datetime.fromtimestamp(x, UTC), b.name))
                x += rng.expovariate(lam / span)
        t += span
    out.sort()
    return out


# ---------------------------------------------------------------- Kafka helpers
def start_worker(stage: str, config: Path, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "brandpulse"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    return subprocess.Popen([*argv, "--config", str(config), stage], env=env, stdout=log, stderr=log,
                            cwd=REPO)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- the detection floor
def detection_floor(settings: Settings, brand: str, history: list[datetime], history_neg: list[bool],
                    live: list[Produced], history_end: datetime) -> tuple[Produced, int] | None:
    """The live mention after which the detector, fed in-process, first opens for ``brand``."""
    det = NegativeSpikeDetector(detector_config(settings))
    last_bucket: int | None = None
    for t, neg in zip(history, history_neg, strict=True):
        idx = int(t.timestamp() // 60)
        if last_bucket is not None and idx != last_bucket:
            det.advance(t)
        last_bucket = idx
        det.observe(brand, t, negative=neg)
    det.advance(history_end)
    for p in live:
        det.observe(brand, p.created_at, negative=p.negative)
        for e in det.advance(p.created_at):
            if e.kind == "opened":
                return p, e.observed_negative
    return None


def simulate(config: DetectorConfig, trials: int, spike_per_min: float, bases: list[float], seed: int,
             history_hours: float = 26.0, spike_max: float = 180.0, controls: int = 0) -> dict[str, Any]:
    """The detection floor alone, in-process and without the stack, over many trials.

    The same traffic as the live run: ``history_hours`` of Poisson history, live Poisson background
    at ``rate_per_bucket``, 20 % negative, and from a random phase a Poisson stream of
    ``spike_per_min`` negative posts (the first one at the onset). The detector is advanced after
    every mention, as the worker does after every batch. Returns per-base and overall delays (first
    spike post to the post that opened the alert), misses, and openings on spike-free controls.
    """
    rng = random.Random(seed)
    end = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # fixed: runs compare
    snaps: dict[float, dict[str, Any]] = {}
    for base in sorted(set(bases)):
        det = NegativeSpikeDetector(config)
        last: int | None = None
        for t, _ in history_events([Brand("b", base)], end - timedelta(hours=history_hours), end, rng):
            idx = int(t.timestamp() // 60)
            if last is not None and idx != last:
                det.advance(t)
            last = idx
            det.observe("b", t, negative=rng.random() < NEGATIVE_SHARE)
        det.advance(end)
        snaps[base] = det.snapshot()

    def live(base: float, onset: float | None, until: float) -> tuple[float | None, bool]:
        det = NegativeSpikeDetector.restore(config, snaps[base])
        t0 = end.timestamp()
        nxt_bg = t0 + rng.expovariate(rate_per_bucket(base, t0) / BUCKET)
        nxt_sp = onset if onset is not None else math.inf
        while True:
            t = min(nxt_bg, nxt_sp)
            if t > until:
                return None, False
            if t == nxt_sp:
                negative = True
                nxt_sp = t + rng.expovariate(spike_per_min / 60.0)
            else:
                negative = rng.random() < NEGATIVE_SHARE
                nxt_bg = t + rng.expovariate(rate_per_bucket(base, t) / BUCKET)
            when = datetime.fromtimestamp(t, UTC)
            det.observe("b", when, negative=negative)
            if any(e.kind == "opened" for e in det.advance(when)):
                return t, onset is None or t < onset

    delays: dict[float, list[float]] = {base: [] for base in bases}
    missed = early = 0
    for i in range(trials):
        base = bases[i % len(bases)]
        onset = end.timestamp() + rng.uniform(30.0, 330.0)
        at, before = live(base, onset, onset + spike_max)
        if at is None:
            missed += 1
        elif before:
            early += 1
        else:
            delays[base].append(at - onset)
    false_opens = sum(1 for i in range(controls) if live(bases[i % len(bases)], None, end.timestamp() + 600)[0])
    every = [d for ds in delays.values() for d in ds]
    return {"delays": delays, "all": every, "missed": missed, "early": early, "false_opens": false_opens}


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    ap.add_argument("--trials", type=int, default=12, help="brands that get one spike each")
    ap.add_argument("--controls", type=int, default=3, help="brands with normal traffic only")
    ap.add_argument("--stagger", type=float, default=25.0, help="seconds between spike onsets (plus jitter)")
    ap.add_argument("--spike-per-min", type=float, default=30.0, help="negative posts per minute in a spike")
    ap.add_argument("--spike-max", type=float, default=180.0, help="longest a spike lasts without an alert")
    ap.add_argument("--history-hours", type=float, default=26.0, help="backdated history per brand")
    ap.add_argument("--base", default="8,16,32", help="normal mentions per 5 min, cycled over the brands")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--settle", type=float, default=20.0, help="seconds to wait for late duplicates")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bootstrap", default=os.environ.get("BRANDPULSE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    ap.add_argument("--keep", action="store_true", help="keep the topics and the worker logs")
    ap.add_argument("--simulate", type=int, metavar="N", default=0,
                    help="no stack: the detection floor alone, in-process, over N trials (and N/4 controls)")
    args = ap.parse_args(argv)
    if args.simulate:
        return print_simulation(args)
    rng = random.Random(args.seed)
    uid = f"bench_latency_{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix=f"{uid}_"))
    bases = [float(x) for x in args.base.split(",")]
    trial_brands = [Brand(f"Trialco {i:02d}", bases[i % len(bases)]) for i in range(args.trials)]
    control_brands = [Brand(f"Steadyco {i:02d}", bases[i % len(bases)]) for i in range(args.controls)]
    brands = trial_brands + control_brands

    receiver = HttpReceiver()
    receiver.script(HOOK_PATH, signature_checker(SECRET.encode()))
    config = {
        "kafka": {"bootstrap_servers": args.bootstrap},
        "topics": {"raw": f"{uid}.raw", "enriched": f"{uid}.enriched", "alerts": f"{uid}.alerts",
                   "dead_letter": f"{uid}.dlq", "state": f"{uid}.state", "partitions": args.partitions},
        "workers": {"group_prefix": uid, **{f"{w}_metrics_port": 0 for w in ("ingest", "enrich", "index", "alerts")}},
        "brands": [{"name": b.name, "aliases": [tag_of(b.name)]} for b in brands],
        "alerts": {
            "console": False,
            "channels": [{"name": "hook", "kind": "webhook", "url": receiver.url(HOOK_PATH),
                          "secret": {"env": "BENCH_WEBHOOK_SECRET"}}],
            "routes": [{"brands": ["*"], "channels": ["hook"]}],
        },
    }
    cfg_path = work / "bench.yaml"
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANDPULSE_") or k == "BRANDPULSE_STACK_DIR"}
    env["BENCH_WEBHOOK_SECRET"] = SECRET
    s = load_settings(cfg_path, environ=env)
    t = s.topics
    th = detector_config(s).thresholds()
    print(f"== alert latency bench {uid}: {args.trials} spike trials + {args.controls} control brands, "
          f"normal volume {args.base} mentions/5 min ({NEGATIVE_SHARE:.0%} negative), spikes of "
          f"{args.spike_per_min:g} negative posts/min; detector {s.alerts.sensitivity} "
          f"(open s>={th.open_surprise}, min {th.min_negative} negatives), bucket {s.alerts.bucket_seconds}s")
    wait_for_broker(s)
    ensure_topics(s)
    workers: dict[str, subprocess.Popen[bytes]] = {}
    logs: list[IO[bytes]] = []
    producer: KafkaProducer | None = None
    code = 1
    try:
        for stage in ("enrich", "alerts"):
            out = (work / f"{stage}.log").open("ab")
            logs.append(out)
            workers[stage] = start_worker(stage, cfg_path, env, out)

        # 1. history, already enriched, straight onto the enriched topic
        t_start = time.monotonic()
        history_end = datetime.now(UTC)
        events = history_events(brands, history_end - timedelta(hours=args.history_hours), history_end, rng)
        hist: dict[str, tuple[list[datetime], list[bool]]] = {b.name: ([], []) for b in brands}
        producer = make_producer(s.kafka, "bench", linger_ms=50, batch_size=256 * 1024)
        for i, (ts, name) in enumerate(events):
            value = enriched_history(name, ts, i, rng)
            hist[name][0].append(ts)
            hist[name][1].append(b'"label":"negative"' in value)
            producer.send(t.enriched, key=name.encode(), value=value)
        producer.flush()
        print(f"history: {len(events)} enriched mentions over {args.history_hours:g} h produced in "
              f"{time.monotonic() - t_start:.1f}s")
        producer.close()
        producer = make_producer(s.kafka, "bench-live", linger_ms=0)

        live: list[Produced] = []
        now = time.monotonic()
        for b in brands:
            b.next_at = now + rng.expovariate(rate_per_bucket(b.base, time.time()) / BUCKET)
        seq = 0

        def produce(brand: str, negative: bool, spike: bool) -> Produced:
            nonlocal seq
            seq += 1
            assert producer is not None
            m = raw_mention(brand, f"l{seq}", negative, rng)
            p = Produced(brand, m.created_at, negative, spike, time.monotonic())
            producer.send(t.raw, key=m.kafka_key, value=m.to_bytes())
            producer.flush()
            live.append(p)
            return p

        def tick(until: float) -> None:
            """Produce normal traffic (and due spike posts) until ``until`` (monotonic)."""
            while True:
                now = time.monotonic()
                nxt = min([b.next_at for b in brands] + [tr.next_at for tr in trials if not tr.stopped])
                if nxt > until:
                    time.sleep(max(0.0, min(until - now, 0.05)))
                    if time.monotonic() >= until:
                        return
                    continue
                if nxt > now:
                    time.sleep(min(nxt - now, 0.05))
                    continue
                for b in brands:
                    if b.next_at <= now:
                        produce(b.name, rng.random() < NEGATIVE_SHARE, False)
                        b.next_at = now + rng.expovariate(rate_per_bucket(b.base, time.time()) / BUCKET)
                for tr in trials:
                    if tr.stopped or tr.next_at > now:
                        continue
                    p = produce(tr.brand, True, True)
                    if tr.first_at is None:
                        tr.first_at, tr.first_created = p.at, p.created_at
                    tr.sent += 1
                    tr.next_at = now + rng.expovariate(tr.spike_rate)
                    if now - tr.onset >= args.spike_max:
                        tr.stopped = True
                collect_alerts()

        seen = 0
        bad_signatures = 0
        stray: list[tuple[str, str, float]] = []  # (brand, alert_id, at) opened outside a spike
        checker = signature_checker(SECRET.encode())

        def collect_alerts() -> None:
            nonlocal seen, bad_signatures
            hits = receiver.hits(HOOK_PATH)
            for req in hits[seen:]:
                handle_request(req)
            seen = len(hits)

        def handle_request(req: Received) -> None:
            nonlocal bad_signatures
            if checker(req).status != 200 or not verify(req):
                bad_signatures += 1
                return
            doc = req.json()
            if doc.get("event") != "opened":
                return
            tr = next((x for x in trials if x.brand == doc["brand"]), None)
            if tr is None or tr.first_at is None or req.at < tr.first_at:
                stray.append((doc["brand"], doc["alert_id"], req.at))
                return
            tr.opened.append((doc["alert_id"], req.at, doc))
            if tr.done_at is None:
                tr.done_at = req.at
                tr.stopped = True

        trials: list[Trial] = []
        # 2. live traffic until both workers have caught up (the alert worker has the history)
        deadline = time.monotonic() + 600
        while True:
            tick(time.monotonic() + 2.0)
            for stage, proc in workers.items():
                if proc.poll() is not None:
                    raise SystemExit(f"the {stage} worker exited with {proc.returncode}; see {work}/{stage}.log")
            # (the live posts keep the enrich group's lag at a post or two at most)
            if group_lag(s, f"{uid}-alerts", [t.enriched]) <= 3 and group_lag(s, f"{uid}-enrich", [t.raw]) <= 3:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"workers did not catch up within 600 s; see {work}")
        print(f"workers caught up {time.monotonic() - t_start:.1f}s after the start; spikes begin")

        # 3. trials: one spike per trial brand, onsets spread over the 5-minute bucket
        t0 = time.monotonic() + 2.0
        for i, b in enumerate(trial_brands):
            onset = t0 + i * args.stagger + rng.uniform(0.0, args.stagger)
            trials.append(Trial(b.name, onset, args.spike_per_min / 60.0, next_at=onset))
        last_onset = max(tr.onset for tr in trials)
        end = last_onset + args.spike_max + 60.0
        while time.monotonic() < end and not all(tr.done_at is not None for tr in trials):
            tick(min(end, time.monotonic() + 1.0))
            for stage, proc in workers.items():
                if proc.poll() is not None:
                    raise SystemExit(f"the {stage} worker exited with {proc.returncode}; see {work}/{stage}.log")
        tick(time.monotonic() + args.settle)  # duplicates, late openings on the controls
        collect_alerts()

        # 4. results
        print()
        print(f"{'brand':12} {'base/5m':>7} {'phase':>6} {'posts':>5} {'neg@open':>8} {'latency':>8} "
              f"{'floor':>6} {'pipeline':>8} {'alerts':>6}")
        latencies: list[float] = []
        pipelines: list[float] = []
        missed = dupes = 0
        base_of = {b.name: b.base for b in brands}
        for tr in trials:
            assert tr.first_created is not None
            phase = tr.first_created.timestamp() % BUCKET
            ids = {a for a, _, _ in tr.opened}
            if len(ids) > 1:
                dupes += 1
            if tr.done_at is None or tr.first_at is None:
                missed += 1
                print(f"{tr.brand:12} {base_of[tr.brand]:7.0f} {phase:5.0f}s {tr.sent:5d} {'-':>8} "
                      f"{'MISSED':>8}")
                continue
            lat = tr.done_at - tr.first_at
            latencies.append(lat)
            mine = [p for p in live if p.brand == tr.brand]
            tipped = detection_floor(s, tr.brand, *hist[tr.brand], mine, history_end)
            floor = pipe = math.nan
            floor_neg = "-"
            if tipped is not None:
                tip, n = tipped
                floor_neg = str(n)
                floor = tip.at - tr.first_at
                pipe = tr.done_at - tip.at
                pipelines.append(pipe)
            doc = tr.opened[0][2]
            neg = f"{doc['observed_negative']}/{floor_neg}"
            print(f"{tr.brand:12} {base_of[tr.brand]:7.0f} {phase:5.0f}s {tr.sent:5d} "
                  f"{neg:>8} {lat:7.1f}s {floor:5.1f}s {pipe:7.2f}s {len(ids):6d}")
        p50, p95 = pct(latencies, 0.5), pct(latencies, 0.95)
        print()
        print(f"alerts: {sum(1 for tr in trials if tr.opened)}/{len(trials)} spikes alerted; "
              f"{missed} missed, {dupes} with more than one alert id; "
              f"{len(stray)} opened outside a spike {sorted({b for b, _, _ in stray})}; "
              f"{bad_signatures} bad signatures; {len(receiver.hits(HOOK_PATH))} webhook requests in all")
        if latencies:
            print(f"latency: p50 {p50:.1f}s (target < {P50_TARGET:.0f}), p95 {p95:.1f}s (target < {P95_TARGET:.0f}), "
                  f"max {max(latencies):.1f}s, mean {statistics.fmean(latencies):.1f}s")
        if pipelines:
            print(f"pipeline part (tipping mention produced → webhook): p50 {pct(pipelines, 0.5):.2f}s, "
                  f"p95 {pct(pipelines, 0.95):.2f}s, max {max(pipelines):.2f}s")
        try:
            load = os.getloadavg()
            print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
        except OSError:
            pass
        if missed or dupes or stray or bad_signatures:
            code = 1
        elif not (p50 < P50_TARGET and p95 < P95_TARGET):
            code = 2
        else:
            code = 0
        print("RESULT:", {0: "OK", 1: "FAILED (missed/duplicate/false alerts or bad signatures)",
                          2: "latency target missed"}[code])
        return code
    finally:
        for proc in workers.values():
            stop_worker(proc)
        for f in logs:
            f.close()
        if producer is not None:
            producer.close()
        receiver.close()
        if args.keep:
            print(f"kept topics {uid}.* and worker logs in {work}")
        else:
            delete_topics(s, [t.raw, t.enriched, t.alerts, t.dead_letter, t.state])
            if code == 0:
                shutil.rmtree(work, ignore_errors=True)
            else:
                print(f"worker logs in {work}")


def print_simulation(args: argparse.Namespace) -> int:
    bases = [float(x) for x in args.base.split(",")]
    config = detector_config(Settings(brands=[{"name": "Simco", "aliases": ["simco"]}]))  # the default alert settings
    th = config.thresholds()
    t0 = time.monotonic()
    res = simulate(config, args.simulate, args.spike_per_min, bases, args.seed, args.history_hours, args.spike_max,
                   controls=max(1, args.simulate // 4))
    print(f"== detection floor, in-process: {args.simulate} trials, spikes of {args.spike_per_min:g} negative "
          f"posts/min from a random phase, normal volume {args.base} mentions/5 min; detector "
          f"{config.sensitivity} (open s>={th.open_surprise}, min {th.min_negative} negatives)")
    for base, ds in res["delays"].items():
        if ds:
            print(f"  base {base:4.0f}/5 min: {len(ds):4d} opened  p50 {pct(ds, 0.5):5.1f}s  p95 {pct(ds, 0.95):5.1f}s  "
                  f"max {max(ds):5.1f}s")
    every = res["all"]
    if every:
        print(f"  all:            {len(every):4d} opened  p50 {pct(every, 0.5):5.1f}s  p95 {pct(every, 0.95):5.1f}s  "
              f"max {max(every):5.1f}s")
    print(f"  missed (no alert within {args.spike_max:g} s): {res['missed']}; opened before the onset: {res['early']}; "
          f"spike-free controls that opened in 10 min: {res['false_opens']} of {max(1, args.simulate // 4)} "
          f"({time.monotonic() - t0:.0f} s)")
    return 0


def verify(req: Received) -> bool:
    """The documented scheme, computed here: sha256=HMAC(secret, timestamp + "." + raw body)."""
    ts = req.headers.get("x-brandpulse-timestamp", "")
    expected = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, req.headers.get("x-brandpulse-signature", ""))


if __name__ == "__main__":
    sys.exit(main())
