"""Run every benchmark and evaluation in turn (`make bench`), printing each one's own figures.

The pure ones run first; the ones that need the real local Kafka + Elasticsearch start it
(`brandpulse stack up`, idempotent) and run after. Each benchmark is a separate process so one
cannot skew another's memory figures; the run ends with a table of exit codes and wall times,
and exits non-zero if any benchmark did.

    .venv/bin/python bench/run_all.py            # everything
    .venv/bin/python bench/run_all.py --only bench_indexer bench_alert_latency
    .venv/bin/python bench/run_all.py --quick    # smaller sizes where a benchmark offers them
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable

# (script, needs the local stack, extra args for --quick)
BENCHES: list[tuple[str, bool, list[str]]] = [
    ("eval_sentiment", False, []),
    ("eval_location", False, []),
    ("bench_query", False, []),
    ("bench_enrich", False, []),
    ("bench_detector", False, []),
    ("bench_nab", False, []),
    ("bench_alert_worker", False, ["--rounds", "1"]),
    ("bench_ingest_memory", True, ["--mentions", "100000"]),
    ("bench_indexer", True, []),
    ("bench_alert_latency", True, []),
    ("bench_e2e", True, ["--mentions", "10000", "--paced-seconds", "20"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", help="run only these (script names without .py)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes where a benchmark supports it")
    args = ap.parse_args()
    chosen = [b for b in BENCHES if not args.only or b[0] in args.only]
    unknown = set(args.only or ()) - {b[0] for b in BENCHES}
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if any(needs for _, needs, _ in chosen):
        up = subprocess.run([str(Path(PY).with_name("brandpulse")), "stack", "up"], cwd=REPO)
        if up.returncode != 0:
            print("bench: the local stack did not start; see the message above", file=sys.stderr)
            return up.returncode
    results: list[tuple[str, int, float]] = []
    for name, _, quick in chosen:
        script = HERE / f"{name}.py"
        if not script.exists():
            results.append((name, 127, 0.0))
            continue
        print(f"\n===== {name} =====", flush=True)
        t0 = time.monotonic()
        code = subprocess.run([PY, str(script), *(quick if args.quick else [])], cwd=REPO).returncode
        results.append((name, code, time.monotonic() - t0))
    print("\n===== summary =====")
    for name, code, secs in results:
        status = "ok" if code == 0 else ("missing" if code == 127 else f"exit {code}")
        print(f"{name:24} {status:10} {secs:7.1f}s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
