"""Train the shipped sentiment model (``enrich/models/``) from the shared labelled posts.

Run through ``make train-sentiment`` (it installs the training-only packages: scikit-learn into
the venv, the ``fasttext`` training build into ``build/train-lib``, which is put first on
``PYTHONPATH`` for this process only, because the run-time ``fasttext-predict`` wheel uses the same
module name). Everything is seeded and single-threaded, so a rerun writes the same files.

Recipe (the few choices, and why):

1. Data: ``posts.jsonl.gz`` rows with ``split == "train"`` only. A fixed tenth of them (sha1 of the
   text) is held out as the *calibration* set for the stackers; ``val`` is never trained or
   calibrated on -- it is what ``bench/eval_sentiment.py`` reports.
2. Class balance per language: each row is repeated ``n_lang / (k_lang * n_lang,label)`` times
   (fraction by a seeded coin), so every language's classes weigh the same. Macro-F1 is the
   measure and alerts need negatives found even where a source has few.
3. One fastText classifier, with a language token, on the *three-class* sources, plus the
   positive/negative-only sources for the languages that have nothing else (a two-class source
   is dropped for de, en, es, pt and ar, which have three-class data: it carries no neutral
   examples and teaches the model that those languages' posts are never neutral, while the
   product labels three classes). Roman-Urdu rows are also given as consonant skeletons
   (``__lang_urs``, the bridge to Urdu script), and a random tenth of all rows again with
   ``__lang_und`` (the language-free answer for languages without training data).
   Measured on val and not taken (see MODEL_CARD.md): the same recipe on *all* sources
   (``--models sentiment_all.ftz``: better on the two-class sources' val rows, worse on the
   three-class ones, XLM-T mean 0.52 vs 0.55), and both averaged (0.54, twice the cost).
4. fastText hyper-parameters: fastText's supervised defaults for short texts (lr 0.5, 10 epochs,
   softmax) with word bigrams and character 2-5-grams (they carry across scripts, morphology and
   code-mixing), dim 20, minCount 5, 200k hash buckets, then product-quantised (``.ftz``, 4
   dimensions per sub-quantiser). dim, minCount, buckets and quantisation were chosen for the
   cost budget (~20 us per text), memory (fastText keeps every vocabulary word's sub-word ids:
   minCount 2 took 65 MB of RSS, 5 takes 20 MB; rarer words still count through their
   character n-grams) and file size; at dim 50 or minCount 2 val macro-F1 was the same within
   noise, minn 3 was a little worse.
5. Stackers: multinomial logistic regression (L2, C=1) on the calibration rows, class-balanced,
   over ``model.FEATURES``; one per route (see ``enrich/sentiment/__init__.py``). For en, es, ar
   and Roman Urdu the lexicon score is kept only if it lowers the 5-fold cross-validated log-loss
   on the calibration rows (it costs time: ~50 us per text for the es/ar/ur rules, ~30 us for
   plain VADER); a language that drops it keeps its own stacker over the classifier and emojis.
   With this data all four keep it (a 0.005-nat bar, tried for speed, dropped es and ar, and
   Spanish complaints then came out neutral: quality first, the cost is reported).
6. Transfer temperature 1.5 for routes with no training data of their own (Urdu script, Georgian,
   other languages): a fixed, documented discount, not fitted (there is no data to fit it on).

Prints timings and file sizes, then runs ``bench/eval_sentiment.py --val-only`` (the val figures).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enrich.sentiment import Route, SentimentAnalyzer, SentimentConfig  # noqa: E402
from enrich.sentiment.model import (  # noqa: E402
    FEATURES,
    META_FILE,
    MODEL_DIR,
    MODEL_FILES,
    LexiconCalibration,
    Stacker,
)
from enrich.sentiment.text import model_text, urdu_skeleton  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sentiment" / "posts.jsonl.gz"
SEED = 20261202
TRANSFER_TEMPERATURE = 1.5
UND_SHARE = 0.1
CALIB_MOD = 10
FASTTEXT_PARAMS: dict[str, Any] = {
    "dim": 20, "wordNgrams": 2, "minn": 2, "maxn": 5, "epoch": 10, "lr": 0.5, "loss": "softmax",
    "minCount": 5, "bucket": 200_000, "thread": 1, "seed": 1, "verbose": 0,
}  # fmt: skip
QUANTIZE_PARAMS: dict[str, Any] = {"qnorm": False, "retrain": False, "cutoff": 0, "dsub": 4}
STACKER_C = 1.0
LEXICON_STACKER_LANGS = ("es", "ar", "ur")  # hand-made lexicons: what Georgian's lexicon resembles
LEXICON_ROUTE_LANGS = ("en", "es", "ar", "ur")  # languages whose route may consult the lexicon
LEXICON_MIN_GAIN = 0.0  # the lexicon stays on a route if it lowers the 5-fold CV log-loss there at all


def load_rows(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def is_calibration(text: str) -> bool:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % CALIB_MOD == 0  # noqa: S324


def three_class_subset(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of three-class sources, plus two-class sources only for languages with nothing else."""
    has_neutral = {r["source"] for r in rows if r["label"] == "neutral"}
    three_langs = {r["lang"] for r in rows if r["source"] in has_neutral}
    return [r for r in rows if r["source"] in has_neutral or r["lang"] not in three_langs]


# model file -> (training rows from the fit split, seed)
RECIPES: dict[str, tuple[Callable[[Sequence[dict[str, Any]]], list[dict[str, Any]]], int]] = {
    "sentiment.ftz": (three_class_subset, SEED),  # the shipped one
    "sentiment_all.ftz": (list, SEED + 1),  # measured alternative (all sources)
}


def balance_weights(rows: Sequence[dict[str, Any]]) -> list[float]:
    per_lang = collections.Counter(r["lang"] for r in rows)
    per_class = collections.Counter((r["lang"], r["label"]) for r in rows)
    k = collections.Counter(lang for lang, _ in per_class)
    return [per_lang[r["lang"]] / (k[r["lang"]] * per_class[(r["lang"], r["label"])]) for r in rows]


def training_lines(rows: Sequence[dict[str, Any]], rng: random.Random) -> list[str]:
    lines: list[str] = []
    for r, w in zip(rows, balance_weights(rows), strict=True):
        reps = int(w) + (1 if rng.random() < w - int(w) else 0)
        label = "__label__" + r["label"][:3]
        norm = model_text(r["text"])
        for _ in range(reps):
            lines.append(f"{label} __lang_{r['lang']} {norm}")
            if r["lang"] == "ur" and r.get("script") == "latin":
                lines.append(f"{label} __lang_urs {urdu_skeleton(norm)}")
            if rng.random() < UND_SHARE:
                lines.append(f"{label} __lang_und {norm}")
    rng.shuffle(lines)
    return lines


def train_fasttext(lines: Sequence[str], out: Path, workdir: Path) -> None:
    import fasttext  # the training build (build/train-lib), see the module docstring

    train_file = workdir / (out.stem + ".txt")
    train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t0 = time.perf_counter()
    model = fasttext.train_supervised(str(train_file), **FASTTEXT_PARAMS)
    t1 = time.perf_counter()
    model.quantize(input=str(train_file), **QUANTIZE_PARAMS)
    model.save_model(str(out))
    print(f"  {out.name}: {len(lines):,} lines, trained in {t1 - t0:.0f} s, quantised in "
          f"{time.perf_counter() - t1:.0f} s, {out.stat().st_size / 1e6:.1f} MB", flush=True)


STACKERS = ("model", "untrained", "ur-script", *LEXICON_ROUTE_LANGS)
LEXICON_BIN_EDGES = (0.05, 0.25, 0.5, 0.75, 1.01)  # |score| bins; 0.05 = the lexicon's own neutral cut


def provisional_meta(languages: Iterable[str], models: Sequence[str]) -> dict[str, Any]:
    """Metadata with every stacker present (all zero), so routing picks the real stacker names."""
    zero = Stacker(FEATURES, tuple((0.0,) * len(FEATURES) for _ in range(3)), (0.0, 0.0, 0.0)).to_dict()
    flat = LexiconCalibration(LEXICON_BIN_EDGES, tuple((1 / 3, 1 / 3, 1 / 3) for _ in LEXICON_BIN_EDGES))
    return {"format": 1, "models": list(models), "languages": sorted(languages),
            "transfer_temperature": TRANSFER_TEMPERATURE, "stackers": {n: zero for n in STACKERS},
            "lexicon_calibration": flat.to_dict()}


def fit_lexicon_calibration(scores: Sequence[float], ys: Sequence[str],
                            langs: Sequence[str]) -> LexiconCalibration:
    """Class-balanced (same, neutral, opposite) shares per |score| bin (see LexiconCalibration)."""
    w = balance_weights([{"lang": lg, "label": y} for lg, y in zip(langs, ys, strict=True)])
    acc = [[1.0, 1.0, 1.0] for _ in LEXICON_BIN_EDGES]  # add-one: no empty bin, no zero probability
    for s, y, wt in zip(scores, ys, w, strict=True):
        a = abs(s)
        i = next((k for k, e in enumerate(LEXICON_BIN_EDGES) if a < e), len(LEXICON_BIN_EDGES) - 1)
        if y == "neutral":
            acc[i][1] += wt
        elif i == 0:  # no polarity from the lexicon: split a polar row over both polar slots
            acc[i][0] += wt / 2
            acc[i][2] += wt / 2
        else:
            acc[i][0 if (y == "positive") == (s > 0) else 2] += wt
    rows = tuple((r[0] / sum(r), r[1] / sum(r), r[2] / sum(r)) for r in acc)
    return LexiconCalibration(LEXICON_BIN_EDGES, rows)


def _design(xs: Sequence[dict[str, float]], ys: Sequence[str], langs: Sequence[str],
            features: Sequence[str]) -> tuple[Any, Any, Any]:
    import numpy as np

    rows = [{"lang": lg, "label": y} for lg, y in zip(langs, ys, strict=True)]
    w = np.array(balance_weights(rows))
    x = np.array([[v[f] for f in features] for v in xs])
    y = np.array([("negative", "neutral", "positive").index(v) for v in ys])
    return x, y, w * len(w) / w.sum()


def fit_stacker(xs: Sequence[dict[str, float]], ys: Sequence[str], langs: Sequence[str],
                features: Sequence[str]) -> Stacker:
    from sklearn.linear_model import LogisticRegression

    x, y, w = _design(xs, ys, langs, features)
    clf = LogisticRegression(C=STACKER_C, max_iter=2000)
    clf.fit(x, y, sample_weight=w)
    if list(clf.classes_) != [0, 1, 2]:
        raise SystemExit("a stacker's calibration rows lack a class")
    return Stacker(tuple(features), tuple(tuple(float(c) for c in row) for row in clf.coef_),
                   (float(clf.intercept_[0]), float(clf.intercept_[1]), float(clf.intercept_[2])))


def cv_log_loss(xs: Sequence[dict[str, float]], ys: Sequence[str], langs: Sequence[str],
                features: Sequence[str]) -> float:
    """Class-balanced 5-fold cross-validated log-loss of a stacker on these calibration rows."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    x, y, w = _design(xs, ys, langs, features)
    losses = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=SEED % 2**31).split(x, y):
        clf = LogisticRegression(C=STACKER_C, max_iter=2000).fit(x[tr], y[tr], sample_weight=w[tr])
        losses.append(log_loss(y[te], clf.predict_proba(x[te]), sample_weight=w[te], labels=[0, 1, 2]))
    return float(np.mean(losses))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="posts.jsonl.gz (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=MODEL_DIR, help="model directory (default: %(default)s)")
    ap.add_argument("--no-eval", action="store_true", help="skip the val report at the end")
    ap.add_argument("--reuse-model", action="store_true",
                    help="keep an existing sentiment.ftz and only refit the stackers (the .ftz of the "
                         "same recipe is identical: training is seeded and single-threaded)")
    ap.add_argument("--models", default=",".join(MODEL_FILES),
                    help=f"model files to train and average, from {', '.join(RECIPES)} (default: %(default)s)")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if not models or set(models) - set(RECIPES):
        raise SystemExit(f"--models: choose from {', '.join(RECIPES)}")
    if not args.data.is_file():
        raise SystemExit(f"training data not found: {args.data} (pass --data)")
    t_start = time.perf_counter()
    rows = load_rows(args.data)
    train = [r for r in rows if r["split"] == "train"]
    fit = [r for r in train if not is_calibration(r["text"])]
    calib = [r for r in train if is_calibration(r["text"])]
    languages = sorted({r["lang"] for r in train})
    print(f"data: {len(rows):,} rows; train {len(train):,} = fit {len(fit):,} + calibration {len(calib):,}; "
          f"{len(languages)} languages", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in models:
            select, seed = RECIPES[name]
            if not (args.reuse_model and (args.out / name).is_file()):
                train_fasttext(training_lines(select(fit), random.Random(seed)), args.out / name, work)
        # The features come from the run-time analyzer itself, loaded from a scratch directory with
        # provisional (all-zero) stackers: the shipped sentiment.json is only replaced at the end.
        scratch = work / "provisional"
        scratch.mkdir()
        for name in models:
            (scratch / name).symlink_to((args.out / name).resolve())
        (scratch / META_FILE).write_text(json.dumps(provisional_meta(languages, models)), encoding="utf-8")
        analyzer = SentimentAnalyzer(SentimentConfig(cache_size=0), model_dir=scratch)
    groups: dict[str, tuple[list[dict[str, float]], list[str], list[str]]] = collections.defaultdict(
        lambda: ([], [], []))

    def add(group: str, x: dict[str, float], r: dict[str, Any]) -> None:
        g = groups[group]
        g[0].append(x)
        g[1].append(r["label"])
        g[2].append(r["lang"])

    t0 = time.perf_counter()
    for r in calib:
        text = r["text"][: analyzer.config.max_chars]
        route = analyzer.route(text, r["lang"])
        if route is None:
            continue
        x = analyzer.features(text, route)
        add(route.stacker, x, r)
        if r["lang"] in LEXICON_STACKER_LANGS:  # the lexicon calibration reads the full rules' score
            add("lexicon", {"lexicon": analyzer.lexicon.analyze(text, r["lang"]).score}, r)
        if r["lang"] == "ur":
            # The Urdu-script route's stacker learns from Roman-Urdu rows read the way that route
            # reads: as consonant skeletons (the classifier is far less sure of those), plus the lexicon.
            skeleton = Route("ur-script", "", f"__lang_urs {urdu_skeleton(model_text(text))}", "ur", True)
            add("ur-script", analyzer.features(text, skeleton), r)
        und = Route("untrained", "", f"__lang_und {model_text(text)}", None, True)
        add("untrained", analyzer.features(text, und), r)
    print(f"calibration features in {time.perf_counter() - t0:.0f} s", flush=True)

    no_lexicon = (*FEATURES[:3], "emoji")
    feature_sets: dict[str, tuple[str, ...]] = {"model": no_lexicon, "untrained": no_lexicon,
                                                "ur-script": FEATURES}
    lexicon_used: dict[str, bool] = {}
    for lang in LEXICON_ROUTE_LANGS:
        # The lexicon costs time (VADER for English): a route keeps it only where it earns its keep.
        xs, ys, langs = groups[lang]
        with_lex, without = cv_log_loss(xs, ys, langs, FEATURES), cv_log_loss(xs, ys, langs, no_lexicon)
        lexicon_used[lang] = without - with_lex >= LEXICON_MIN_GAIN
        feature_sets[lang] = FEATURES if lexicon_used[lang] else no_lexicon
        print(f"  {lang}: 5-fold CV log-loss on calibration rows {without:.4f} without the lexicon, "
              f"{with_lex:.4f} with it -> {'keep' if lexicon_used[lang] else 'drop'} the lexicon")
    stackers: dict[str, Any] = {}
    for name in STACKERS:
        if name not in groups:
            continue
        xs, ys, langs = groups[name]
        st = fit_stacker(xs, ys, langs, feature_sets[name])
        stackers[name] = st.to_dict()
        print(f"  stacker {name:<10} {len(xs):>6,} rows  features {','.join(st.features)}")
    lx, ly, ll = groups.pop("lexicon")
    lexicon_calibration = fit_lexicon_calibration([x["lexicon"] for x in lx], ly, ll)
    print("  lexicon calibration (same, neutral, opposite) by |score| bin: " + "; ".join(
        f"<{e}: " + "/".join(f"{v:.2f}" for v in r)
        for e, r in zip(lexicon_calibration.edges, lexicon_calibration.rows, strict=True)))
    meta = {
        "format": 1,
        "models": list(models),
        "languages": languages,
        "transfer_temperature": TRANSFER_TEMPERATURE,
        "stackers": stackers,
        "lexicon_calibration": lexicon_calibration.to_dict(),
        "training": {
            "data_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
            "rows_fit": len(fit), "rows_calibration": len(calib), "seed": SEED,
            "fasttext": FASTTEXT_PARAMS, "quantize": QUANTIZE_PARAMS, "stacker_C": STACKER_C,
            "und_share": UND_SHARE, "calibration": f"sha1(text) % {CALIB_MOD} == 0",
        },
    }
    (args.out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    total = sum((args.out / n).stat().st_size for n in (*models, META_FILE))
    print(f"wrote {args.out} ({total / 1e6:.1f} MB) in {time.perf_counter() - t_start:.0f} s", flush=True)
    if args.no_eval:
        return 0
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.call([sys.executable, str(ROOT / "bench" / "eval_sentiment.py"), "--val-only",
                            "--data", str(args.data), "--model-dir", str(args.out)], env=env)


if __name__ == "__main__":
    raise SystemExit(main())
