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
4. fastText hyper-parameters: the usual settings for short texts (lr 0.5, 10 epochs,
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
7. Training runs in a child process (``_TRAIN_CHILD``): inside this process, once the data are
   loaded, fastText stopped with "Encountered NaN" within a second on lines that a fresh process
   trains on reproducibly.

Design check (``--dev``), how the second pass chose among designs without looking at val: a
second tenth of train (bucket 1) is also held out of the classifier, the stackers are fitted on
bucket 0 and scored on bucket 1 and the other way round, and the figures of both tenths are
printed (XLM-T macro-F1 per language and mean, the mean over the other sources, Roman-Urdu
negative F1, ECE). ``--models`` picks recipes from ``RECIPES`` (``sentiment_bin.ftz``: two-class
sources added at ``BINARY_SHARE``; ``sentiment_word.ftz``: a word 1-3-gram model to average;
``sentiment_skel.ftz``: romanised ur/hi with consonant skeletons appended), ``--stackers language``
adds a stacker per language (a per-language class-prior correction), ``--seed-offset`` reruns a
recipe on another line order to measure run-to-run noise. None of them was taken; the figures are
in MODEL_CARD.md ("Second pass").

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
import statistics
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
    LexiconCalibration,
    Stacker,
)
from enrich.sentiment.text import model_text, skeleton_tokens, urdu_skeleton  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sentiment" / "posts.jsonl.gz"
DEV_DIR = ROOT / "build" / "sentiment-dev"
SEED = 20261202
TRANSFER_TEMPERATURE = 1.5
UND_SHARE = 0.1
CALIB_MOD = 10
CALIB_BUCKET = 0
DEV_BUCKET = 1  # --dev only: a second tenth, held out of the classifier too, to choose among designs
FASTTEXT_PARAMS: dict[str, Any] = {
    "dim": 20, "wordNgrams": 2, "minn": 2, "maxn": 5, "epoch": 10, "lr": 0.5, "loss": "softmax",
    "minCount": 5, "bucket": 200_000, "thread": 1, "seed": 1, "verbose": 0,
}  # fmt: skip
QUANTIZE_PARAMS: dict[str, Any] = {"qnorm": False, "retrain": False, "cutoff": 0, "dsub": 4}
STACKER_C = 1.0
LEXICON_STACKER_LANGS = ("es", "ar", "ur")  # hand-made lexicons: what Georgian's lexicon resembles
LEXICON_ROUTE_LANGS = ("en", "es", "ar", "ur")  # languages whose route may consult the lexicon
LEXICON_MIN_GAIN = 0.0  # the lexicon stays on a route if it lowers the 5-fold CV log-loss there at all
LANG_STACKER_MIN_PER_CLASS = 50  # a language gets its own stacker with this many calibration rows per class
ROMANISED = ("ur", "hi")  # Roman Urdu and Hinglish: spelling varies, the consonant skeleton less
SKELETON_MODELS = ("sentiment_skel.ftz",)  # recipes that read romanised ur/hi with skeletons appended
BINARY_SHARE = 2 / 3  # two-class sources of a language with three-class data weigh 2/3 of those


def load_rows(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def bucket(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % CALIB_MOD  # noqa: S324


def is_calibration(text: str) -> bool:
    return bucket(text) == CALIB_BUCKET


def three_class_sources(rows: Sequence[dict[str, Any]]) -> set[str]:
    return {r["source"] for r in rows if r["label"] == "neutral"}


def three_class_subset(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of three-class sources, plus two-class sources only for languages with nothing else."""
    has_neutral = three_class_sources(rows)
    three_langs = {r["lang"] for r in rows if r["source"] in has_neutral}
    return [r for r in rows if r["source"] in has_neutral or r["lang"] not in three_langs]


def balance_weights(rows: Sequence[dict[str, Any]]) -> list[float]:
    """Per-row weights that give every class of a language the same total (the language keeps its size)."""
    per_lang = collections.Counter(r["lang"] for r in rows)
    per_class = collections.Counter((r["lang"], r["label"]) for r in rows)
    k = collections.Counter(lang for lang, _ in per_class)
    return [per_lang[r["lang"]] / (k[r["lang"]] * per_class[(r["lang"], r["label"])]) for r in rows]


def binary_weighted(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[float]]:
    """All rows. Three-class rows as :func:`balance_weights`; where a language also has two-class
    sources, those are class-balanced among themselves and weigh ``BINARY_SHARE`` of the language's
    three-class rows in all, i.e. as much as its two polar classes: they add polarity evidence (more
    words seen with a sign) while the neutral share of the training mix drops only from 1/3 to 1/5,
    a prior shift the language's stacker (fitted on three-class calibration rows) undoes."""
    has_neutral = three_class_sources(rows)
    three_langs = {r["lang"] for r in rows if r["source"] in has_neutral}
    three = [r for r in rows if r["source"] in has_neutral or r["lang"] not in three_langs]
    two = [r for r in rows if r["source"] not in has_neutral and r["lang"] in three_langs]
    n_three = collections.Counter(r["lang"] for r in three)
    w_two = balance_weights(two)
    n_two = collections.Counter(r["lang"] for r in two)
    scaled = [w * BINARY_SHARE * n_three[r["lang"]] / n_two[r["lang"]] for r, w in zip(two, w_two, strict=True)]
    return [*three, *two], [*balance_weights(three), *scaled]


def default_weighting(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[float]]:
    sub = three_class_subset(rows)
    return sub, balance_weights(sub)


def all_rows_weighting(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[float]]:
    return list(rows), balance_weights(rows)


Weighting = Callable[[Sequence[dict[str, Any]]], tuple[list[dict[str, Any]], list[float]]]
# model file -> (training rows and weights from the fit split, fastText parameters, seed)
RECIPES: dict[str, tuple[Weighting, dict[str, Any], int]] = {
    "sentiment.ftz": (default_weighting, FASTTEXT_PARAMS, SEED),
    "sentiment_all.ftz": (all_rows_weighting, FASTTEXT_PARAMS, SEED + 1),
    "sentiment_bin.ftz": (binary_weighted, FASTTEXT_PARAMS, SEED),
    "sentiment_skel.ftz": (default_weighting, FASTTEXT_PARAMS, SEED),
    "sentiment_word.ftz": (default_weighting, {**FASTTEXT_PARAMS, "minn": 0, "maxn": 0, "wordNgrams": 3,
                                               "dim": 20, "epoch": 10}, SEED + 2),
}


def training_lines(rows: Sequence[dict[str, Any]], weights: Sequence[float], rng: random.Random,
                   skeleton: bool = False) -> list[str]:
    lines: list[str] = []
    for r, w in zip(rows, weights, strict=True):
        reps = int(w) + (1 if rng.random() < w - int(w) else 0)
        label = "__label__" + r["label"][:3]
        norm = model_text(r["text"])
        own = norm
        if skeleton and r["lang"] in ROMANISED and r.get("script") == "latin":
            own = f"{norm} {skeleton_tokens(norm)}"
        for _ in range(reps):
            lines.append(f"{label} __lang_{r['lang']} {own}")
            if r["lang"] == "ur" and r.get("script") == "latin":
                lines.append(f"{label} __lang_urs {urdu_skeleton(norm)}")
            if rng.random() < UND_SHARE:
                lines.append(f"{label} __lang_und {norm}")
    rng.shuffle(lines)
    return lines


_TRAIN_CHILD = """
import json, sys
import fasttext  # the training build (build/train-lib, first on PYTHONPATH: see the module docstring)
train_file, out, params, quantize = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
model = fasttext.train_supervised(train_file, **params)
model.quantize(input=train_file, **quantize)
model.save_model(out)
"""


def train_fasttext(lines: Sequence[str], params: dict[str, Any], out: Path, workdir: Path) -> None:
    """Train and quantise one classifier in a fresh Python process.

    In this process, after the data are loaded, fastText's training stopped with "Encountered
    NaN" within a second, every time, on lines that a fresh process trains on without trouble
    (same file, same parameters): something in fastText reads memory it did not set. A child
    process with nothing else in it trains reproducibly.
    """
    train_file = workdir / (out.stem + ".txt")
    train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _TRAIN_CHILD, str(train_file), str(out), json.dumps(params),
                    json.dumps(QUANTIZE_PARAMS)], check=True)
    print(f"  {out.name}: {len(lines):,} lines, trained and quantised in {time.perf_counter() - t0:.0f} s, "
          f"{out.stat().st_size / 1e6:.1f} MB", flush=True)


ROUTE_STACKERS = ("model", "untrained", "ur-script", *LEXICON_ROUTE_LANGS)
NO_LEXICON = (*FEATURES[:3], "emoji")
LEXICON_BIN_EDGES = (0.05, 0.25, 0.5, 0.75, 1.01)  # |score| bins; 0.05 = the lexicon's own neutral cut


def provisional_meta(languages: Iterable[str], models: Sequence[str], per_language: bool) -> dict[str, Any]:
    """Metadata with every candidate stacker present (all zero), so routing picks the real stacker names."""
    def zero(features: Sequence[str]) -> dict[str, Any]:
        return Stacker(tuple(features), tuple((0.0,) * len(features) for _ in range(3)), (0.0, 0.0, 0.0)).to_dict()

    stackers = {n: zero(FEATURES) for n in ROUTE_STACKERS}
    if per_language:
        stackers.update({lg: zero(NO_LEXICON) for lg in languages if lg not in stackers})
    flat = LexiconCalibration(LEXICON_BIN_EDGES, tuple((1 / 3, 1 / 3, 1 / 3) for _ in LEXICON_BIN_EDGES))
    return {"format": 1, "models": list(models), "languages": sorted(languages),
            "transfer_temperature": TRANSFER_TEMPERATURE, "stackers": stackers,
            "lexicon_calibration": flat.to_dict(), "romanised_skeleton": skeleton_langs(models)}


def skeleton_langs(models: Sequence[str]) -> list[str]:
    if any(m in SKELETON_MODELS for m in models):
        if not all(m in SKELETON_MODELS for m in models):
            raise SystemExit("--models: skeleton and plain recipes read different inputs; do not mix them")
        return list(ROMANISED)
    return []


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


# stacker name -> (features, labels, languages) of its calibration rows
Groups = dict[str, tuple[list[dict[str, float]], list[str], list[str]]]


def calibration_groups(analyzer: SentimentAnalyzer, rows: Sequence[dict[str, Any]], three: set[str],
                       lang_rows: str) -> Groups:
    """Stacker inputs of the calibration rows, grouped by the stacker that will be fitted on them.

    A per-language stacker (``analyzer`` has a provisional one for the language) gets the rows of
    that language, only those of three-class sources where it has any when ``lang_rows`` is
    ``three-class``; the shared ``model`` stacker gets every row of the languages without a
    lexicon route (it answers the languages that end up without a stacker of their own).
    """
    groups: Groups = collections.defaultdict(lambda: ([], [], []))
    three_langs = {r["lang"] for r in rows if r["source"] in three}

    def add(group: str, x: dict[str, float], r: dict[str, Any]) -> None:
        g = groups[group]
        g[0].append(x)
        g[1].append(r["label"])
        g[2].append(r["lang"])

    for r in rows:
        text = r["text"][: analyzer.config.max_chars]
        route = analyzer.route(text, r["lang"])
        if route is None:
            continue
        x = analyzer.features(text, route)
        own_rows = lang_rows == "all" or r["source"] in three or r["lang"] not in three_langs
        if route.stacker == "model":
            add("model", x, r)
        elif route.stacker in LEXICON_ROUTE_LANGS:
            if own_rows:
                add(route.stacker, x, r)
        else:  # a language's own stacker
            add("model", x, r)
            if own_rows:
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
    return groups


def fit_stackers(groups: Groups, verbose: bool = True) -> tuple[dict[str, Any], LexiconCalibration]:
    feature_sets: dict[str, tuple[str, ...]] = {"ur-script": FEATURES}
    for lang in LEXICON_ROUTE_LANGS:
        # The lexicon costs time (VADER for English): a route keeps it only where it earns its keep.
        xs, ys, langs = groups[lang]
        with_lex, without = cv_log_loss(xs, ys, langs, FEATURES), cv_log_loss(xs, ys, langs, NO_LEXICON)
        keep = without - with_lex >= LEXICON_MIN_GAIN
        feature_sets[lang] = FEATURES if keep else NO_LEXICON
        if verbose:
            print(f"  {lang}: 5-fold CV log-loss on calibration rows {without:.4f} without the lexicon, "
                  f"{with_lex:.4f} with it -> {'keep' if keep else 'drop'} the lexicon")
    stackers: dict[str, Any] = {}
    own: list[str] = []
    for name, (xs, ys, langs) in sorted(groups.items()):
        if name == "lexicon":
            continue
        if name not in ROUTE_STACKERS and min(collections.Counter(ys).get(c, 0) for c in
                                              ("negative", "neutral", "positive")) < LANG_STACKER_MIN_PER_CLASS:
            continue  # too few rows of some class for a stacker of its own: the shared one answers
        st = fit_stacker(xs, ys, langs, feature_sets.get(name, NO_LEXICON))
        stackers[name] = st.to_dict()
        if name in ROUTE_STACKERS:
            if verbose:
                print(f"  stacker {name:<10} {len(xs):>6,} rows  features {','.join(st.features)}")
        else:
            own.append(f"{name} {len(xs)}")
    if own and verbose:
        print(f"  per-language stackers (calibration rows): {', '.join(own)}")
    lx, ly, ll = groups["lexicon"]
    return stackers, fit_lexicon_calibration([x["lexicon"] for x in lx], ly, ll)


def provisional_analyzer(model_dir: Path, models: Sequence[str], languages: Sequence[str],
                         per_language: bool, work: Path) -> SentimentAnalyzer:
    """The run-time analyzer over ``models`` with all-zero stackers: it computes the stacker inputs."""
    scratch = Path(tempfile.mkdtemp(dir=work))
    for name in models:
        (scratch / name).symlink_to((model_dir / name).resolve())
    (scratch / META_FILE).write_text(json.dumps(provisional_meta(languages, models, per_language)),
                                     encoding="utf-8")
    return SentimentAnalyzer(SentimentConfig(cache_size=0), model_dir=scratch)


def dev_report(dev_rows: Sequence[dict[str, Any]], predictions: Sequence[Any]) -> None:
    """Figures on the dev tenths of train (``--dev``): what the designs are chosen on, never val."""
    sys.path.insert(0, str(ROOT / "bench"))
    from eval_sentiment import XLMT, XLMT_LANGS, score

    by_src: dict[str, list[int]] = collections.defaultdict(list)
    for i, r in enumerate(dev_rows):
        by_src[f"{r['source']} {r['lang']}"].append(i)
    res = {}
    for name, idx in sorted(by_src.items()):
        gold = [dev_rows[i]["label"] for i in idx]
        res[name] = score(gold, [predictions[i].label for i in idx], [predictions[i].confidence for i in idx])
    xl = {lg: res[f"{XLMT} {lg}"].macro_f1 for lg in XLMT_LANGS}
    others = [s.macro_f1 for n, s in res.items() if not n.startswith(XLMT) and s.n >= 100]
    allsc = score([r["label"] for r in dev_rows], [p.label for p in predictions], [p.confidence for p in predictions])
    ur = res["Smat26/Roman-Urdu-Dataset ur"]
    print("dev (train buckets 0+1, stackers cross-fitted):")
    print("  XLM-T macro-F1 " + " ".join(f"{k} {v:.3f}" for k, v in xl.items())
          + f" | mean {statistics.fmean(xl.values()):.3f}")
    print(f"  mean macro-F1 over the {len(others)} other source/language groups {statistics.fmean(others):.3f}; "
          f"Roman-Urdu neg F1 {ur.neg_f1:.3f}; all rows macro-F1 {allsc.macro_f1:.3f}, ECE {allsc.ece:.3f}")
    for name, s in res.items():
        print(f"    {name:<52} n {s.n:>5}  mF1 {s.macro_f1:.3f}  negF1 {s.neg_f1:.3f}")


def build_meta(stackers: dict[str, Any], lexicon_calibration: LexiconCalibration, models: Sequence[str],
               languages: Sequence[str], training: dict[str, Any]) -> dict[str, Any]:
    return {"format": 1, "models": list(models), "languages": list(languages),
            "transfer_temperature": TRANSFER_TEMPERATURE, "stackers": stackers,
            "lexicon_calibration": lexicon_calibration.to_dict(), "romanised_skeleton": skeleton_langs(models),
            "training": training}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="posts.jsonl.gz (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=MODEL_DIR, help="model directory (default: %(default)s)")
    ap.add_argument("--no-eval", action="store_true", help="skip the val report at the end")
    ap.add_argument("--reuse-model", action="store_true",
                    help="keep existing model files and only refit the stackers (a .ftz of the same "
                         "recipe is identical: training is seeded and single-threaded)")
    ap.add_argument("--models", default=",".join(SHIPPED_MODELS),
                    help=f"model files to train and average, from {', '.join(RECIPES)} (default: %(default)s)")
    ap.add_argument("--stackers", choices=("route", "language"), default=SHIPPED_STACKERS,
                    help="route: one stacker per route (en/es/ar/ur, Urdu script, untrained, one shared); "
                         "language: also one per language with enough calibration rows (default: %(default)s)")
    ap.add_argument("--lang-rows", choices=("all", "three-class"), default=SHIPPED_LANG_ROWS,
                    help="calibration rows of a language's own stacker: all, or only its three-class "
                         "sources where it has any (default: %(default)s)")
    ap.add_argument("--dev", action="store_true",
                    help=f"design check: also hold bucket {DEV_BUCKET} out of the classifier, train into "
                         f"{DEV_DIR.relative_to(ROOT)}, and print figures on buckets {CALIB_BUCKET}+{DEV_BUCKET} "
                         "with stackers cross-fitted between the two (nothing is written to --out)")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="added to every recipe's seed (to measure run-to-run noise with --dev)")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if not models or set(models) - set(RECIPES):
        raise SystemExit(f"--models: choose from {', '.join(RECIPES)}")
    if not args.data.is_file():
        raise SystemExit(f"training data not found: {args.data} (pass --data)")
    per_language = args.stackers == "language"
    t_start = time.perf_counter()
    rows = load_rows(args.data)
    train = [r for r in rows if r["split"] == "train"]
    held = {CALIB_BUCKET, DEV_BUCKET} if args.dev else {CALIB_BUCKET}
    buckets = [bucket(r["text"]) for r in train]
    fit = [r for r, b in zip(train, buckets, strict=True) if b not in held]
    calib = [r for r, b in zip(train, buckets, strict=True) if b == CALIB_BUCKET]
    dev = [r for r, b in zip(train, buckets, strict=True) if b == DEV_BUCKET] if args.dev else []
    languages = sorted({r["lang"] for r in train})
    three = three_class_sources(train)
    print(f"data: {len(rows):,} rows; train {len(train):,} = fit {len(fit):,} + calibration {len(calib):,}"
          f"{f' + dev {len(dev):,}' if dev else ''}; {len(languages)} languages", flush=True)
    model_dir = DEV_DIR if args.dev else args.out
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in models:
            weighting, params, seed = RECIPES[name]
            if not (args.reuse_model and (model_dir / name).is_file()):
                sel, weights = weighting(fit)
                lines = training_lines(sel, weights, random.Random(seed + args.seed_offset),
                                       skeleton=name in SKELETON_MODELS)
                train_fasttext(lines, params, model_dir / name, work)
        # The features come from the run-time analyzer itself, loaded from a scratch directory with
        # provisional (all-zero) stackers: the shipped sentiment.json is only replaced at the end.
        analyzer = provisional_analyzer(model_dir, models, languages, per_language, work)
        t0 = time.perf_counter()
        groups = calibration_groups(analyzer, calib, three, args.lang_rows)
        print(f"calibration features in {time.perf_counter() - t0:.0f} s", flush=True)
        if args.dev:
            dev_groups = calibration_groups(analyzer, dev, three, args.lang_rows)
            preds: list[Any] = []
            for fit_on, score_on in ((groups, dev), (dev_groups, calib)):
                stackers, lexcal = fit_stackers(fit_on, verbose=fit_on is groups)
                d = Path(tempfile.mkdtemp(dir=work))
                for name in models:
                    (d / name).symlink_to((model_dir / name).resolve())
                (d / META_FILE).write_text(json.dumps(build_meta(stackers, lexcal, models, languages, {})),
                                           encoding="utf-8")
                fold = SentimentAnalyzer(SentimentConfig(cache_size=0), model_dir=d)
                preds += [fold.analyze(r["text"], r["lang"]) for r in score_on]
            dev_report([*dev, *calib], preds)
            print(f"done in {time.perf_counter() - t_start:.0f} s")
            return 0
    stackers, lexicon_calibration = fit_stackers(groups)
    print("  lexicon calibration (same, neutral, opposite) by |score| bin: " + "; ".join(
        f"<{e}: " + "/".join(f"{v:.2f}" for v in r)
        for e, r in zip(lexicon_calibration.edges, lexicon_calibration.rows, strict=True)))
    training = {
        "data_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
        "rows_fit": len(fit), "rows_calibration": len(calib), "seed": SEED,
        "models": {name: {"weighting": RECIPES[name][0].__name__, "fasttext": RECIPES[name][1],
                          "seed": RECIPES[name][2]} for name in models},
        "quantize": QUANTIZE_PARAMS, "stacker_C": STACKER_C, "stackers": args.stackers,
        "lang_rows": args.lang_rows, "und_share": UND_SHARE,
        "calibration": f"sha1(text) % {CALIB_MOD} == {CALIB_BUCKET}",
    }
    meta = build_meta(stackers, lexicon_calibration, models, languages, training)
    (args.out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    total = sum((args.out / n).stat().st_size for n in (*models, META_FILE))
    print(f"wrote {args.out} ({total / 1e6:.1f} MB) in {time.perf_counter() - t_start:.0f} s", flush=True)
    if args.no_eval:
        return 0
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.call([sys.executable, str(ROOT / "bench" / "eval_sentiment.py"), "--val-only",
                            "--data", str(args.data), "--model-dir", str(args.out)], env=env)


SHIPPED_MODELS = ("sentiment.ftz",)
SHIPPED_STACKERS = "route"
SHIPPED_LANG_ROWS = "all"

if __name__ == "__main__":
    raise SystemExit(main())
