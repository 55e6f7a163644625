"""Evaluate BrandPulse sentiment and language ID on the team-written evaluation sets.

Run from the repository root::

    .venv/bin/python bench/eval_sentiment.py            # test split (the reported figures) + dev
    .venv/bin/python bench/eval_sentiment.py --errors   # also list *dev* mistakes (for tuning)

Per language it prints n, accuracy, macro-F1 and negative-class F1 for our tagger and for plain VADER
(compound with the standard +-0.05 thresholds, emojis handled by VADER itself) on the same texts, the
macro-F1 delta, and whether the targets are met. Sentiment is evaluated with the gold language, so
language-ID mistakes do not leak into the sentiment figures; language ID is evaluated separately on
``bench/data/langid_eval.jsonl`` without hints. Finally it times langid + sentiment per mention.
Macro-F1 is over the three gold classes; an ``unknown`` prediction counts as an error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enrich.langid import LanguageIdentifier  # noqa: E402
from enrich.sentiment import SentimentAnalyzer, SentimentConfig  # noqa: E402

DATA = ROOT / "bench" / "data"
LANGS = ("en", "ur", "ka", "es", "ar")
CLASSES = ("negative", "neutral", "positive")
TARGET_DELTA = 0.25
TARGET_NEG_F1 = 0.6


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def f1_scores(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in CLASSES:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out[c] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return out


def metrics(gold: Sequence[str], pred: Sequence[str]) -> tuple[float, float, float]:
    f1 = f1_scores(gold, pred)
    acc = sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / len(gold) if gold else 0.0
    return acc, statistics.fmean(f1.values()), f1["negative"]


def vader_label(compound: float) -> str:
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"


def sentiment_table(rows: list[dict[str, Any]], ours: SentimentAnalyzer, vader: Any, split: str) -> bool:
    sel = [r for r in rows if r["split"] == split]
    print(f"\n=== sentiment, {split} split ({len(sel)} items; gold language given) ===")
    head = (
        f"{'lang':<5}{'n':>4} | {'ours acc':>8} {'macroF1':>8} {'negF1':>6} | "
        f"{'VADER acc':>9} {'macroF1':>8} {'negF1':>6} | {'dF1':>6}  targets"
    )
    print(head)
    print("-" * len(head))
    all_ok = True
    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sel:
        by_lang[r["lang"]].append(r)
    for lang in LANGS:
        items = by_lang.get(lang, [])
        if not items:
            continue
        gold = [r["label"] for r in items]
        p_ours = [ours.analyze(r["text"], r["lang"]).label for r in items]
        p_vader = [vader_label(vader.polarity_scores(r["text"])["compound"]) for r in items]
        a1, m1, n1 = metrics(gold, p_ours)
        a2, m2, n2 = metrics(gold, p_vader)
        delta = m1 - m2
        need = 0.0 if lang == "en" else TARGET_DELTA
        ok_delta = delta >= need - 1e-9
        ok_neg = n1 >= TARGET_NEG_F1
        all_ok &= ok_delta and ok_neg
        flag = ("ok" if ok_delta else f"MISS dF1<{need:+.2f}") + ", " + ("ok" if ok_neg else "MISS negF1<0.6")
        print(
            f"{lang:<5}{len(items):>4} | {a1:>8.3f} {m1:>8.3f} {n1:>6.3f} | "
            f"{a2:>9.3f} {m2:>8.3f} {n2:>6.3f} | {delta:>+6.3f}  {flag}"
        )
    kinds: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in sel:
        kinds[r["kind"]].append((r["label"], ours.analyze(r["text"], r["lang"]).label))
    print(
        "accuracy by kind (ours, all languages): "
        + ", ".join(
            f"{k} {sum(g == p for g, p in v) / len(v):.2f} (n={len(v)})" for k, v in sorted(kinds.items())
        )
    )
    return all_ok


def print_errors(rows: list[dict[str, Any]], ours: SentimentAnalyzer) -> None:
    print("\n=== dev-split errors (for tuning; the test split is never listed) ===")
    for r in rows:
        if r["split"] != "dev":
            continue
        s = ours.analyze(r["text"], r["lang"])
        if s.label != r["label"]:
            print(
                f"{r['id']} gold={r['label']:<8} got={s.label:<8} {s.score:+.3f} {s.method:<18} {r['text']}"
            )


def langid_report(rows: list[dict[str, Any]]) -> None:
    for langs in (list(LANGS), None):
        lid = LanguageIdentifier(langs)
        ok: Counter[str] = Counter()
        tot: Counter[str] = Counter()
        ok_kind: Counter[str] = Counter()
        tot_kind: Counter[str] = Counter()
        for r in rows:
            got = lid.identify(r["text"]).code
            tot[r["lang"]] += 1
            tot_kind[r["kind"]] += 1
            if got == r["lang"]:
                ok[r["lang"]] += 1
                ok_kind[r["kind"]] += 1
        n, k = sum(tot.values()), sum(ok.values())
        label = "restricted to " + ",".join(langs) if langs else "unrestricted (176 fastText languages)"
        print(f"\n=== language ID, no hint, {label}: accuracy {k}/{n} = {k / n:.3f} ===")
        print("  by language: " + ", ".join(f"{lang} {ok[lang]}/{tot[lang]}" for lang in sorted(tot)))
        print("  by kind:     " + ", ".join(f"{kd} {ok_kind[kd]}/{tot_kind[kd]}" for kd in sorted(tot_kind)))


def timing(texts: Iterable[tuple[str, str]], rounds: int) -> None:
    items = list(texts)
    lid = LanguageIdentifier(list(LANGS))
    sa = SentimentAnalyzer(SentimentConfig(cache_size=0))  # no cache: every call does the full work
    for text, hint in items[:50]:  # warm-up
        sa.analyze(text, lid.identify(text, hint).code)
    n = 0
    t_lid = t_sent = 0.0
    wall0 = time.perf_counter()
    for _ in range(rounds):
        for text, hint in items:
            t0 = time.process_time()
            code = lid.identify(text, hint).code
            t1 = time.process_time()
            sa.analyze(text, code)
            t2 = time.process_time()
            t_lid += t1 - t0
            t_sent += t2 - t1
            n += 1
    wall = (time.perf_counter() - wall0) / n
    per = (t_lid + t_sent) / n
    print(
        f"\n=== timing: {n} mentions (eval texts x{rounds}, hint = item language), one thread, "
        "CPU time (process_time), sentiment cache off ==="
    )
    print(f"  langid    {t_lid / n * 1e6:8.1f} us/mention")
    print(f"  sentiment {t_sent / n * 1e6:8.1f} us/mention")
    print(f"  total     {per * 1e6:8.1f} us/mention  (= {1 / per:,.0f} mentions/s for these two steps)")
    print(f"  wall-clock {wall * 1e6:7.1f} us/mention  (incl. timer overhead and machine load)")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--errors", action="store_true", help="list dev-split mistakes")
    ap.add_argument("--rounds", type=int, default=5, help="timing repetitions over the eval texts")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--dev-only", action="store_true", help="tuning mode: dev split only, no test figures")
    args = ap.parse_args(argv)

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    rows = load(DATA / "sentiment_eval.jsonl")
    ours = SentimentAnalyzer()
    vader = SentimentIntensityAnalyzer()
    ok_test = True if args.dev_only else sentiment_table(rows, ours, vader, "test")
    sentiment_table(rows, ours, vader, "dev")
    if args.errors:
        print_errors(rows, ours)
    langid_report(load(DATA / "langid_eval.jsonl"))
    if not args.no_timing:
        timing(((r["text"], r["lang"]) for r in rows), args.rounds)
    if not args.dev_only:
        print(
            "\nsentiment targets on the test split: "
            + ("all met" if ok_test else "NOT all met (see MISS above)")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
