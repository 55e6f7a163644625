"""Story clustering quality and cost: ``enrich/stories.py`` on real public posts.

    .venv/bin/python bench/eval_stories.py [--data PATH] [--orders N] [--stream N] [--errors]

1. **Quality** on ``bench/data/stories_eval.jsonl`` (901 real posts from
   ``../shared/data/sentiment/posts.jsonl.gz``, labelled by hand; see ``bench/data/README.md``).
   All posts go through one ``StoryIndex`` as one brand (the hardest setting: every post can be
   merged with every other), 20 s apart, in a shuffled order; ``--orders`` repeats that with other
   shuffles, since a streaming clusterer depends on arrival order. Hashtags and URLs come from the
   pipeline's own entity extractor. Printed: pairwise precision / recall / F1 against the strict
   ``story`` labels (same content travelling) and against the looser ``event`` labels (same specific
   event, different posts), and how each merge was decided.
2. **Cost**: µs per mention on the labelled set, and on a stream of ``--stream`` unique real texts
   from the shared file (default 20,000), best of three passes each on a fresh index, with the
   index size at the end. Timed as this process's CPU time (other processes share the machine).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enrich.entities import extract_entities
from enrich.stories import StoryIndex

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "bench" / "data" / "stories_eval.jsonl"
SHARED_POSTS = ROOT.parent / "shared" / "data" / "sentiment" / "posts.jsonl.gz"


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_prf(pred: Sequence[str], gold: Sequence[str]) -> tuple[float, float, float, int, int, int]:
    """Pairwise precision, recall, F1 (and true/predicted/gold pair counts) of a clustering.

    A pair of items is predicted positive when both got the same cluster, gold positive when
    both have the same label; counted from the contingency table, not by listing pairs.

    >>> pairwise_prf(["a", "a", "b", "b"], ["x", "x", "x", "y"])[:3]
    (0.5, 0.3333333333333333, 0.4)
    """
    cells = Counter(zip(pred, gold, strict=True))
    tp = sum(pairs(n) for n in cells.values())
    pp = sum(pairs(n) for n in Counter(pred).values())
    gp = sum(pairs(n) for n in Counter(gold).values())
    p = tp / pp if pp else 1.0
    r = tp / gp if gp else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, tp, pp, gp


def to_mentions(items: Sequence[dict[str, Any]], order_seed: int) -> list[dict[str, Any]]:
    order = list(items)
    random.Random(order_seed).shuffle(order)
    out = []
    for k, it in enumerate(order):
        ents = extract_entities(it["text"])
        out.append({**it, "brand": "eval", "created_at": float(k * 20), "hashtags": ents.hashtags,
                    "urls": ents.urls})
    return out


def run(index: StoryIndex, mentions: Sequence[dict[str, Any]]) -> tuple[list[str], Counter[str], float]:
    evidence: Counter[str] = Counter()
    # CPU time of this process: other processes share the machine, and waiting for a core is
    # not a cost of the clustering.
    t0 = time.process_time()
    ids = []
    for m in mentions:
        a = index.assign_detail(brand=m["brand"], mention_id=m["id"], created_at=m["created_at"], text=m["text"],
                                urls=m.get("urls", ()), hashtags=m.get("hashtags", ()))
        ids.append(a.story_id)
        evidence[a.evidence] += 1
    return ids, evidence, time.process_time() - t0


def best_us(mentions: Sequence[dict[str, Any]], passes: int = 3) -> tuple[float, dict[str, int]]:
    best = float("inf")
    stats: dict[str, int] = {}
    for _ in range(passes):
        index = StoryIndex()
        _, _, dt = run(index, mentions)
        best = min(best, dt)
        stats = index.stats()
    return best / len(mentions) * 1e6, stats


def stream_texts(n: int, exclude: set[str]) -> list[dict[str, Any]]:
    """``n`` unique real texts from the shared file, spread evenly over it (every language)."""
    with gzip.open(SHARED_POSTS, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    uniq = list(dict.fromkeys(t for t in texts if t not in exclude))
    step = max(1, len(uniq) // n)
    chosen = uniq[::step][:n]
    random.Random(20000).shuffle(chosen)
    out = []
    for k, text in enumerate(chosen):
        ents = extract_entities(text)
        out.append({"id": f"s{k}", "brand": "stream", "created_at": float(k * 5), "text": text,
                    "hashtags": ents.hashtags, "urls": ents.urls})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--orders", type=int, default=5, help="arrival orders to average over")
    ap.add_argument("--stream", type=int, default=20_000, help="unique texts in the cost stream (0: skip)")
    ap.add_argument("--errors", action="store_true", help="list wrong merges and missed pairs (first order)")
    args = ap.parse_args(argv)

    items = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    n_story = sum(1 for n in Counter(i["story"] for i in items).values() if n > 1)
    n_event = sum(1 for n in Counter(i["event"] for i in items).values() if n > 1)
    print(f"labelled set: {len(items)} posts, {len(Counter(i['lang'] for i in items))} languages, "
          f"{n_story} multi-post stories, {n_event} multi-post events")

    totals = {"story": [0, 0, 0], "event": [0, 0, 0]}
    evidence_all: Counter[str] = Counter()
    first: tuple[list[dict[str, Any]], list[str]] | None = None
    for seed in range(args.orders):
        mentions = to_mentions(items, seed)
        ids, evidence, _ = run(StoryIndex(), mentions)
        evidence_all.update(evidence)
        if first is None:
            first = (mentions, ids)
        for level in ("story", "event"):
            _, _, _, tp, pp, gp = pairwise_prf(ids, [m[level] for m in mentions])
            acc = totals[level]
            acc[0] += tp
            acc[1] += pp
            acc[2] += gp
    print(f"pairwise, summed over {args.orders} arrival orders:")
    for level, (tp, pp, gp) in totals.items():
        p = tp / pp if pp else 1.0
        r = tp / gp if gp else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        print(f"  {level:5s} labels: precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}  "
              f"(true pairs {tp / args.orders:.1f} of predicted {pp / args.orders:.1f}, gold {gp / args.orders:.0f} per order)")
    print("  decisions: " + ", ".join(f"{k} {v / args.orders:.1f}" for k, v in sorted(evidence_all.items())))

    if args.errors and first is not None:
        mentions, ids = first
        by_pred: dict[str, list[dict[str, Any]]] = {}
        for m, sid in zip(mentions, ids, strict=True):
            by_pred.setdefault(sid, []).append(m)
        print("\nwrong merges (predicted story holding more than one gold story):")
        for sid, ms in by_pred.items():
            if len({m["story"] for m in ms}) > 1:
                print(f"  {sid}:")
                for m in ms:
                    print(f"    [{m['story']}] {m['text'][:120]!r}")
        print("\nmissed (gold story split over predicted stories):")
        by_gold: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for m, sid in zip(mentions, ids, strict=True):
            by_gold.setdefault(m["story"], []).append((sid, m))
        for gold, members in by_gold.items():
            if len({sid for sid, _ in members}) > 1:
                print(f"  {gold}:")
                for sid, mention in members:
                    print(f"    <{sid}> {mention['text'][:120]!r}")

    us, stats = best_us(to_mentions(items, 0))
    print(f"\ncost on the labelled set: {us:.1f} µs/mention (best of 3), index {stats}")
    if args.stream:
        if not SHARED_POSTS.exists():
            print(f"cost stream skipped: {SHARED_POSTS} not found")
            return 0
        stream = stream_texts(args.stream, {i["text"] for i in items})
        us, stats = best_us(stream)
        merged = Counter(run(StoryIndex(), stream)[1])
        print(f"cost on {len(stream)} unique real texts: {us:.1f} µs/mention (best of 3), index {stats}")
        print("  decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(merged.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
