"""Throughput of BrandMatcher on a synthetic multilingual stream (single process, one core).

    .venv/bin/python bench/bench_query.py [--brands 100] [--mentions 200000] [--seed 7]

Builds ``--brands`` brand specs (aliases in Latin, Urdu, Arabic and Georgian script, phrases,
wildcards, NEAR/ONEAR, NOT, field operators, excludes, language allow-lists) and a generated
stream of English, Urdu, Georgian, Spanish and Arabic mentions in which only a few percent mention
any brand. Only the ``match()`` loop is timed. Nothing is downloaded; all data is generated here.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.query import BrandMatcher, BrandSpec, MatchDoc

VOCAB = {
    "en": (
        "the a and is it to of in for on this that my new phone love hate today great bad service "
        "day people just really like so what when time good more about out get can will not all one "
        "your with was have be from they we you at by or but if up store price battery screen "
        "delivery order support help broken fast slow thanks never again customer waiting still "
        "best worst review update app crashed team weekend coffee morning train city game win lost"
    ).split(),
    "es": (
        "el la de que y en un una es por con para no los las mi muy pero más hoy día nuevo teléfono "
        "servicio gracias malo bueno tienda compra precio calidad porque cuando también siempre "
        "nunca ahora mañana año pedido entrega batería pantalla atención cliente rápido lento "
        "esperando todavía mejor peor ciudad partido ganamos perdimos café semana"
    ).split(),
    "ur": (
        "میں ہے کا کی کے اور یہ وہ نے کو سے پر بہت اچھا برا آج کل نیا فون سروس لوگ کیا نہیں ہیں تھا "
        "ہم آپ ان اس جو کر رہا ہوں گا بھی اب ساتھ لیے پاکستان قیمت دکان خرید بیٹری اسکرین آرڈر "
        "شکریہ کبھی پھر انتظار بہترین بدترین شہر میچ جیت ہار چائے صبح"
    ).split(),
    "ka": (
        "და არის ეს რომ არ მე ის როგორ ახალი ტელეფონი კარგი ცუდი დღეს ხვალ მომსახურება ფასი "
        "მაღაზია ძალიან ყველა ჩვენ თქვენ მაგრამ თუ უკვე ისევ საქართველო თბილისი ხალხი დრო "
        "წელი შეკვეთა მიწოდება ბატარეა ეკრანი მადლობა არასოდეს ისევ ველოდები საუკეთესო უარესი "
        "ქალაქი მატჩი მოვიგეთ წავაგეთ ყავა დილა"
    ).split(),
    "ar": (
        "في من على إلى هذا هذه التي الذي كان مع عن لا ما هو هي اليوم جديد الهاتف الخدمة جيد سيء "
        "السعر المتجر شكرا جدا كل بعد قبل الناس الوقت العالم الطلب التوصيل البطارية الشاشة "
        "العملاء سريع بطيء ننتظر أفضل أسوأ المدينة المباراة فزنا خسرنا القهوة الصباح"
    ).split(),
}
PUNCT = {"en": ". , ! ?", "es": ". , ! ¿ ?", "ur": "، ۔ ؟", "ka": ". , !", "ar": "، . ؟ ؛"}
COUNTRY = {"en": ("US", "GB", "PK"), "es": ("ES", "MX", "AR"), "ur": ("PK",), "ka": ("GE",),
           "ar": ("EG", "SA", "AE")}
TAGS = ("monday", "news", "football", "tech", "deal", "travel", "food", "music")

_SYL = ("ka", "zen", "lu", "mor", "tri", "vo", "nex", "sa", "rin", "quo", "bel", "tor", "mi", "dax",
        "ly", "pra", "ven", "ox", "sil", "ta", "rum", "fi", "gal", "zor")
_GE = dict(zip("abcdefghijklmnopqrstuvwxyz",
               ["ა", "ბ", "კ", "დ", "ე", "ფ", "გ", "ჰ", "ი", "ჯ", "კ", "ლ", "მ", "ნ", "ო", "პ", "ქ",
                "რ", "ს", "ტ", "უ", "ვ", "ვ", "ქს", "ი", "ზ"], strict=True))
_UR = dict(zip("abcdefghijklmnopqrstuvwxyz",
               ["ا", "ب", "ک", "ڈ", "ی", "ف", "گ", "ہ", "ی", "ج", "ک", "ل", "م", "ن", "و", "پ", "ق",
                "ر", "س", "ٹ", "و", "و", "و", "کس", "ی", "ز"], strict=True))
_AR = dict(zip("abcdefghijklmnopqrstuvwxyz",
               ["ا", "ب", "ك", "د", "ي", "ف", "ج", "ه", "ي", "ج", "ك", "ل", "م", "ن", "و", "ب", "ق",
                "ر", "س", "ت", "و", "ف", "و", "كس", "ي", "ز"], strict=True))


def translit(word: str, table: dict[str, str]) -> str:
    return "".join(table[c] for c in word)


def brand_words(rng: random.Random, n: int) -> list[str]:
    vocab = {w for ws in VOCAB.values() for w in ws}
    out: list[str] = []
    while len(out) < n:
        w = "".join(rng.choice(_SYL) for _ in range(rng.choice((2, 3))))
        if w not in vocab and w not in out and len(w) >= 4:
            out.append(w)
    return out


def make_brands(words: list[str]) -> list[BrandSpec]:
    specs: list[BrandSpec] = []
    for i, w in enumerate(words):
        ur, ka, ar = translit(w, _UR), translit(w, _GE), translit(w, _AR)
        kind = i % 10
        if kind == 0:
            specs.append(BrandSpec(w.title(), aliases=(w, ur, ka, ar)))
        elif kind == 1:
            specs.append(BrandSpec(w.title(), query=f'{w} OR "{w} labs" OR #{w}',
                                   aliases=(ur,), exclude_terms=("job", "hiring")))
        elif kind == 2:
            specs.append(BrandSpec(w.title(), query=f'({w} OR {w[:4]}*) AND NOT (giveaway OR '
                                                    f'"free coins")', aliases=(ka,)))
        elif kind == 3:
            specs.append(BrandSpec(w.title(), query=f"({w} OR {ar}) NEAR/3 (phone OR battery OR "
                                                    f"screen OR الهاتف OR teléfono)"))
        elif kind == 4:
            specs.append(BrandSpec(w.title(), query=f'"{w}" ONEAR/2 (store OR shop OR tienda) OR '
                                                    f'"{ur} {VOCAB["ur"][40]}"'))
        elif kind == 5:
            specs.append(BrandSpec(w.title(), query=f"title:{w} OR ({w} AND site:{w}.com) OR "
                                                    f"text:{ka}"))
        elif kind == 6:
            specs.append(BrandSpec(w.title(), query=f"({w} OR {ur} OR {ar}) AND (lang:ur OR lang:ar "
                                                    f"OR lang:en)"))
        elif kind == 7:
            specs.append(BrandSpec(w.title(), query=f"author:{w}_support OR @{w}_support OR {w}",
                                   exclude_authors=(f"{w}_bot",)))
        elif kind == 8:
            specs.append(BrandSpec(w.title(), query=f"{w} AND country:PK OR {ur}",
                                   languages=("ur", "en")))
        else:
            specs.append(BrandSpec(w.title(), query=f'({w} OR "{w} corp" OR {ka} OR {ar}) '
                                                    f"NOT author:spambot"))
    return specs


def make_stream(rng: random.Random, words: list[str], n: int) -> list[MatchDoc]:
    docs: list[MatchDoc] = []
    langs = list(VOCAB)
    for _ in range(n):
        lang = rng.choice(langs)
        vocab = VOCAB[lang]
        toks = [rng.choice(vocab) for _ in range(rng.randint(8, 30))]
        punct = PUNCT[lang].split()
        for _ in range(rng.randint(1, 3)):
            k = rng.randrange(len(toks))
            toks[k] += rng.choice(punct)
        r = rng.random()
        if r < 0.04:
            # A genuine brand mention, written the way this language's users would write it.
            w = rng.choice(words)
            form = {"ur": translit(w, _UR), "ka": translit(w, _GE),
                    "ar": "ال" + translit(w, _AR)}.get(lang, rng.choice((w, w.title(), w.upper())))
            toks.insert(rng.randrange(len(toks) + 1), form)
        elif r < 0.06:
            w = rng.choice(words)
            toks.append(rng.choice((f"#{w.title()}Fail", f"@{w}_support", f"#{w}")))
        elif r < 0.10:
            # Near-misses: brand as a substring of a longer word, which must not match.
            w = rng.choice(words)
            toks.insert(rng.randrange(len(toks) + 1), "x" + w + "o")
        if rng.random() < 0.15:
            toks.append("#" + rng.choice(TAGS))
        url = f"https://{rng.choice(('twitter.com', 'news.example.org', 'blog.shop.pk'))}/p/1" \
            if rng.random() < 0.3 else None
        title = " ".join(rng.choice(vocab) for _ in range(6)) if rng.random() < 0.2 else None
        docs.append(MatchDoc(text=" ".join(toks), title=title,
                             author=f"user{rng.randrange(100000)}", url=url, lang=lang,
                             country=rng.choice(COUNTRY[lang])))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--brands", type=int, default=100)
    ap.add_argument("--mentions", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    words = brand_words(rng, args.brands)
    brands = make_brands(words)
    t0 = time.perf_counter()
    matcher = BrandMatcher(brands)
    compile_s = time.perf_counter() - t0
    docs = make_stream(rng, words, args.mentions)

    # The indexed path must agree with evaluating every brand; check a sample before timing.
    slow = BrandMatcher(brands, use_index=False)
    sample = docs[: min(2000, len(docs))]
    bad = sum(matcher.match(d) != slow.match(d) for d in sample)
    if bad:
        raise SystemExit(f"index disagrees with full evaluation on {bad} of {len(sample)} mentions")

    match = matcher.match
    t0, c0 = time.perf_counter(), time.process_time()
    hits = 0
    matched_docs = 0
    for d in docs:
        r = match(d)
        if r:
            matched_docs += 1
            hits += len(r)
    elapsed = time.perf_counter() - t0
    # CPU time of this process as well: on a shared machine wall time also counts the time the
    # scheduler gave to other processes.
    cpu = time.process_time() - c0

    print(f"compile: {len(brands)} brands in {compile_s * 1000:.1f} ms")
    print(f"cross-check vs unindexed evaluation on {len(sample):,} mentions: OK")
    print(f"matched: {matched_docs:,} mentions ({matched_docs / len(docs):.1%}), "
          f"{hits:,} brand records")
    print(f"query matching: {len(brands)} brands, {len(docs):,} mentions, {elapsed:.2f} s, "
          f"{len(docs) / elapsed:,.0f} mentions/s")
    print(f"  (process CPU time {cpu:.2f} s = {len(docs) / cpu:,.0f} mentions/s per core; "
          f"single process, one thread)")


if __name__ == "__main__":
    main()
