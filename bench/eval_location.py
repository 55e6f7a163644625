"""Precision/recall of the location tagger on ``bench/data/location_eval.jsonl``.

    .venv/bin/python bench/eval_location.py [--data PATH] [--split dev|test|all] [--errors]

Each item has ``lang``, ``kind`` (``text`` or ``profile``), ``text`` and ``expected`` places
(``name`` = the gazetteer's English name, ``country_code``), possibly none. Text items go through the
same tokenizer as the pipeline (``enrich.nlp.tokenize``) and ``LocationTagger.from_words`` with the
item's gold language; profile items through ``LocationTagger.from_profile``. A prediction is correct when name and
country both match (micro-averaged over places); the country-only figures count a place right
when its country is right. "no-place items" is the share of items expecting nothing that got
nothing (the stop-list traps).

Splits: ``dev`` items were written while the tagger was being built and some rules were adjusted
after looking at their errors; ``test`` items were written afterwards and not used for tuning.
Figures are printed for each split and for both together.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enrich.location import LocationTagger
from enrich.nlp import preload, tokenize

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "location_eval.jsonl"


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", choices=["dev", "test", "all"], default="all")
    ap.add_argument("--errors", action="store_true", help="list every item with a wrong answer")
    args = ap.parse_args(argv)

    items = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.split != "all":
        items = [i for i in items if i.get("split", "dev") == args.split]
    t0 = time.perf_counter()
    tagger = LocationTagger()
    preload()
    load_s = time.perf_counter() - t0

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp fp fn (name + country)
    ccounts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp fp fn (country only)
    empty: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # correct, total
    errors: list[str] = []
    start = time.perf_counter()
    for item in items:
        group = item["lang"] if item["kind"] == "text" else "profile"
        split = "split:" + item.get("split", "dev")
        if item["kind"] == "profile":
            loc = tagger.from_profile(item["text"])
            found = [loc] if loc is not None else []
        else:
            words = tokenize(item["text"], item["lang"])
            found = tagger.from_words(words, item["lang"])
        pred = {(p.name, p.country_code) for p in found}
        gold = {(e["name"], e["country_code"]) for e in item["expected"]}
        for g in (group, split, "all"):
            counts[g][0] += len(pred & gold)
            counts[g][1] += len(pred - gold)
            counts[g][2] += len(gold - pred)
            pc = [c for _, c in pred]
            gc = [c for _, c in gold]
            matched = sum(min(pc.count(c), gc.count(c)) for c in set(gc))
            ccounts[g][0] += matched
            ccounts[g][1] += len(pc) - matched
            ccounts[g][2] += len(gc) - matched
            if not gold:
                empty[g][1] += 1
                empty[g][0] += not pred
        if pred != gold:
            errors.append(f"{item['id']:12s} expected {sorted(gold)} got {sorted(pred)}  | {item['text']}")
    elapsed = time.perf_counter() - start

    print(f"{len(items)} items from {args.data.name}; load (gazetteer + tokenizers) {load_s:.2f} s; "
          f"tagging {elapsed / len(items) * 1e3:.2f} ms/item")
    print(f"{'group':10s} {'items':>5s} {'P':>6s} {'R':>6s} {'F1':>6s} | {'P(cc)':>6s} {'R(cc)':>6s} | no-place items")
    groups = [*sorted({k for k in counts if k != "all"}), "all"]
    n_items: dict[str, int] = defaultdict(int)
    for item in items:
        n_items[item["lang"] if item["kind"] == "text" else "profile"] += 1
        n_items["split:" + item.get("split", "dev")] += 1
        n_items["all"] += 1
    for g in groups:
        p, r, f = _prf(*counts[g])
        cp, cr, _ = _prf(*ccounts[g])
        ok, tot = empty[g]
        print(f"{g:10s} {n_items[g]:5d} {p:6.3f} {r:6.3f} {f:6.3f} | {cp:6.3f} {cr:6.3f} | {ok}/{tot}")
    tp, fp, fn = counts["all"]
    print(f"places: {tp} correct, {fp} wrong or spurious, {fn} missed; items fully right: "
          f"{len(items) - len(errors)}/{len(items)}")
    if args.errors:
        print("\nerrors:")
        for line in errors:
            print(" ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
