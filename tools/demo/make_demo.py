"""Generate the bundled BrandPulse demo feeds (synthetic, team-authored, CC0).

    .venv/bin/python tools/demo/make_demo.py          # writes config/demo/feeds/{mentions.jsonl,news.xml,expected.json}
    .venv/bin/python tools/demo/make_demo.py --check  # regenerates in memory, fails if the files differ

The post texts are hand-written templates per language, brand and sentiment (templates.yaml); slots such as
cities, flight numbers and emoji are filled, and timestamps, authors and engagement are drawn with a
fixed random seed, so the output is byte-identical on every run.

Every post carries its *intended* brand set (``Spec.brands``) inside this script only. ``expected.json``
is counted from that intent, never by running the pipeline's matcher. Before writing, the script checks
the intent against the text (see ``verify``): each intended brand has an alias present as a whole word
or as the start of a hashtag/@handle, no other brand's alias occurs even as a substring, and no-brand
posts contain no alias at all.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "config" / "demo" / "feeds"  # what the generator writes (and --check compares)
BRANDS_YAML = REPO / "config" / "demo" / "brands.yaml"
SEED = 20261120

END = datetime(2026, 11, 20, 18, 0, 0, tzinfo=UTC)
START = END - timedelta(hours=72)
BURST_START = datetime(2026, 11, 20, 17, 40, 0, tzinfo=UTC)
BURST_END = END

NA, KP, LU = "Nimbus Air", "Kartuli Pay", "Lumora"
BRAND_ORDER = (NA, KP, LU)
SHORT = {"NA": NA, "KP": KP, "LU": LU}

# Canonical aliases (must agree with ../brands.yaml; verify() checks it).
ALIASES: dict[str, tuple[str, ...]] = {
    NA: ("nimbus air", "nimbusair", "نمبس ایئر", "ნიმბუს ეარ", "نيمبس إير"),
    KP: ("kartuli pay", "kartulipay", "ქართული ფეი", "کارتولی پے"),
    LU: ("lumora", "لومورا", "ლუმორა"),
}
EXCLUDE_TERMS: dict[str, tuple[str, ...]] = {NA: ("nimbus cloud", "nimbus clouds"), KP: (), LU: ()}

# Internal language labels. "rur" = Roman Urdu / code-mixed Urdu-English (Latin script).
LANGS = ("en", "ur", "rur", "ka", "es", "ar")
DECLARED = {"en": "en", "ur": "ur", "ka": "ka", "es": "es", "ar": "ar"}  # rur: sources never declare it

# --------------------------------------------------------------------------------------------------
# The hand-written content lives in templates.yaml beside this script (its header says what each
# table holds); here it is read back into the shapes the generator draws from.
# --------------------------------------------------------------------------------------------------
W = list[tuple[str, float]]
_DATA: dict[str, Any] = yaml.safe_load((HERE / "templates.yaml").read_text(encoding="utf-8"))


def _weighted(rows: list[list[Any]]) -> W:
    return [(str(text), weight) for text, weight in rows]


def _per_lang_brand(table: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(lang, brand): value for lang, brands in table.items() for brand, value in brands.items()}


SURFACES: dict[tuple[str, str], W] = {k: _weighted(v) for k, v in _per_lang_brand(_DATA["surfaces"]).items()}
BURST_NA: W = _weighted(_DATA["burst_surfaces"])
CITY: dict[str, dict[str, str]] = _DATA["cities"]
ROUTES: list[tuple[str, str]] = [(a, b) for a, b in _DATA["routes"]]
SIMPLE_SLOTS: dict[str, list[str]] = _DATA["slots"]
MODELS: W = _weighted(_DATA["models"])
T: dict[tuple[str, str], dict[str, list[str]]] = _per_lang_brand(_DATA["templates"])
TWO_BRAND: list[tuple[str, tuple[str, ...], str, str]] = [
    (lang, tuple(brands), sentiment, text) for lang, brands, sentiment, text in _DATA["two_brand"]
]
NOISE: list[tuple[str, str]] = [(lang, text) for lang, text in _DATA["noise"]]
BURST: dict[str, list[str]] = _DATA["burst"]
BRAND_TAGS: dict[tuple[str, str], list[str]] = _per_lang_brand(_DATA["brand_tags"])
PLACE_TAGS: dict[str, tuple[str, str]] = {k: (a, b) for k, (a, b) in _DATA["place_tags"].items()}
LOC: dict[str, tuple[list[str], dict[str, list[str]], int, float, float]] = {
    k: (latin, native, tz, lat, lon) for k, (latin, native, tz, lat, lon) in _DATA["locations"].items()
}
NO_LOC: list[str] = _DATA["no_location"]
NAMES: dict[str, list[tuple[str, str]]] = {lang: [(n, h) for n, h in rows] for lang, rows in _DATA["names"].items()}
RSS_ITEMS: list[tuple[str, str, str, str, str, tuple[str, ...], str, bool]] = [
    (a, b, c, d, e, tuple(brands), g, bool(h)) for a, b, c, d, e, brands, g, h in _DATA["rss_items"]
]

# Nimbus Air's (fictional) network; each route is flown both ways.
GEORGIA = ("tbilisi", "batumi", "kutaisi")
HOME: dict[str, tuple[str, ...]] = {  # a route is used by a language if it touches one of these cities
    "ur": ("karachi", "lahore", "islamabad", "multan", "peshawar"),
    "rur": ("karachi", "lahore", "islamabad", "multan", "peshawar"),
    "ka": GEORGIA,
    "es": ("madrid", "buenosaires", "tbilisi", "batumi", "kutaisi"),
    "ar": ("dubai", "cairo", "sharjah", "jeddah"),
}

# The negative burst for Nimbus Air (17:40-18:00Z), (originals, reposts) per language; a repost
# copies an earlier burst post's text under another author.
BURST_PLAN = {"en": (17, 5), "ur": (11, 3), "rur": (5, 1), "ka": (4, 1), "es": (4, 1)}

# Background single-brand posts per (brand, language).
CELLS: dict[str, dict[str, int]] = {
    "NA": {"en": 35, "ur": 22, "rur": 14, "ka": 22, "es": 20, "ar": 17},
    "KP": {"en": 30, "ur": 12, "rur": 12, "ka": 38, "es": 12, "ar": 6},
    "LU": {"en": 30, "ur": 26, "rur": 14, "ka": 10, "es": 28, "ar": 12},
}
SENTIMENT_SHARE = {"neg": 0.18, "pos": 0.27}  # the rest is neutral

# --------------------------------------------------------------------------------------------------
# Authors.
# --------------------------------------------------------------------------------------------------
DEFAULT_TZ = {"en": 0, "ur": 5, "rur": 5, "ka": 4, "es": 1, "ar": 3}
LOC_WEIGHTS: dict[str, dict[str, float]] = {
    "en": {"karachi": 3, "lahore": 3, "islamabad": 2, "tbilisi": 3, "dubai": 3, "london": 3, "manchester": 1,
           "newyork": 2, "toronto": 1, "batumi": 1, "cairo": 1, "": 4},
    "ur": {"karachi": 4, "lahore": 4, "islamabad": 2, "rawalpindi": 1, "faisalabad": 1, "multan": 1,
           "tbilisi": 2, "dubai": 1, "": 2},
    "rur": {"karachi": 3, "lahore": 3, "islamabad": 2, "rawalpindi": 1, "tbilisi": 3, "dubai": 1, "": 2},
    "ka": {"tbilisi": 6, "batumi": 3, "kutaisi": 2, "rustavi": 1, "": 2},
    "es": {"madrid": 4, "barcelona": 2, "sevilla": 1, "valencia": 1, "buenosaires": 4, "cordoba": 1,
           "rosario": 1, "": 1},
    "ar": {"dubai": 4, "sharjah": 1, "cairo": 4, "alexandria": 1, "amman": 1, "": 1},
}
MEDIA_HANDLES = {"traveldeskpk", "caucasusnotes", "safarnama_pk", "mbbs_georgia_pk", "techno_ambebi",
                 "noticiasviajeras", "akhbar_safar"}

# Relative activity by local hour of day (quiet at night, evening peak).
LOCAL_ACTIVITY = [0.25, 0.15, 0.08, 0.05, 0.05, 0.08, 0.2, 0.45, 0.7, 0.85, 0.9, 0.95,
                  1.0, 1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.1, 1.15, 1.1, 0.9, 0.55]


@dataclass
class Author:
    id: str
    handle: str
    name: str
    followers: int
    location: str | None
    tz: int
    coords: tuple[float, float] | None
    lang: str
    loc_key: str


@dataclass
class Spec:
    lang: str
    brands: tuple[str, ...]  # intended brands (full names); () = noise
    sentiment: str  # "pos" | "neu" | "neg" | "mixed" (noise)
    text: str = ""
    author: Author | None = None
    created_at: datetime = START
    burst: bool = False
    repost_of: Spec | None = None
    forced_window: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Gen:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.text_counts: Counter[str] = Counter()
        self.authors: dict[str, list[Author]] = {}
        self.author_weights: dict[str, list[float]] = {}
        self.decks: dict[int, list[str]] = {}

    # ---------------------------------------------------------------- helpers
    def wchoice(self, items: W) -> str:
        return self.rng.choices([t for t, _ in items], weights=[w for _, w in items])[0]

    def choice(self, items: list[str]) -> str:
        return self.rng.choice(items)

    def choice_t(self, items: list[tuple[str, str]]) -> tuple[str, str]:
        return self.rng.choice(items)

    # ---------------------------------------------------------------- authors
    def build_authors(self) -> None:
        n = 0
        for lang in LANGS:
            pool: list[Author] = []
            locw = LOC_WEIGHTS[lang]
            keys = list(locw)
            for name, handle in NAMES[lang]:
                n += 1
                media = handle in MEDIA_HANDLES
                followers = max(3, int(self.rng.lognormvariate(5.6, 1.5)))
                if media:
                    followers = int(self.rng.uniform(40_000, 220_000))
                key = self.rng.choices(keys, weights=[locw[k] for k in keys])[0]
                if key:
                    latin, native, tz, lat, lon = LOC[key]
                    nat = native.get("ur" if lang == "rur" else lang, [])
                    if nat and lang != "rur" and self.rng.random() < 0.6:
                        location: str | None = self.choice(nat)
                    else:
                        location = self.choice(latin)
                    coords: tuple[float, float] | None = (lat, lon)
                else:
                    tz = DEFAULT_TZ[lang]
                    location = self.choice(NO_LOC) or None
                    coords = None
                if self.rng.random() < 0.25 and not media:
                    handle = f"{handle}{self.rng.randint(1, 99)}"
                pool.append(Author(f"u{n}", handle, name, followers, location, tz, coords, lang, key))
            self.authors[lang] = pool
            # mildly skewed activity: a few authors post a lot, most post a few times
            self.author_weights[lang] = [1.0 / (i + 1) ** 0.45 for i in range(len(pool))]
            perm = list(range(len(pool)))
            self.rng.shuffle(perm)
            self.author_weights[lang] = [self.author_weights[lang][p] for p in perm]

    def pick_author(self, lang: str, avoid: set[str] | None = None, *, personal: bool = False) -> Author:
        """An author writing in ``lang``; ``personal`` excludes news/community accounts."""
        pool = self.authors[lang]
        while True:
            a = self.rng.choices(pool, weights=self.author_weights[lang])[0]
            if personal and a.handle in MEDIA_HANDLES:
                continue
            if not avoid or a.id not in avoid:
                return a

    # ---------------------------------------------------------------- text
    def fill(self, template: str, lang: str, *, burst: bool = False) -> str:
        ctx: dict[str, str] = {}
        home = HOME.get(lang)
        routes = [r for r in ROUTES if home is None or r[0] in home or r[1] in home]
        if lang == "ka":
            routes = [r for r in routes if "ka_from" in CITY[r[0]] and "ka_to" in CITY[r[1]]]
        o, d = self.rng.choice(routes)
        if lang == "ka":
            # mostly departures from Georgia
            if (o in GEORGIA) != (self.rng.random() < 0.8):
                o, d = d, o
            ctx["from"], ctx["to"] = CITY[o]["ka_from"], CITY[d]["ka_to"]
        else:
            if self.rng.random() < 0.5:
                o, d = d, o
            names = "en" if lang == "rur" else lang
            wrong = self.rng.choice([c for c in CITY if c not in (o, d)])
            ctx["orig"], ctx["dest"], ctx["wrong"] = CITY[o][names], CITY[d][names], CITY[wrong][names]

        def slot(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in ctx:
                return ctx[name]
            if name in SHORT:
                if burst and name == "NA" and lang in ("en", "rur", "es"):
                    return self.wchoice(BURST_NA)
                return self.wchoice(SURFACES[lang, name])
            if name in SIMPLE_SLOTS:
                return self.choice(SIMPLE_SLOTS[name])
            if name == "model":
                return self.wchoice(MODELS)
            if name == "fl":
                return f"NM{'' if self.rng.random() < 0.5 else ' '}{self.rng.randint(101, 899)}"
            if name == "hours":
                return str(self.rng.randint(2, 7))
            if name == "hours_ar":
                return str(self.rng.randint(3, 7))
            if name == "seat":
                return f"{self.rng.randint(3, 38)}{self.choice(list('ACDF'))}"
            if name == "gate":
                return f"{self.choice(['', 'A', 'B', 'C'])}{self.rng.randint(1, 28)}"
            if name == "clock":
                return f"{self.rng.randint(0, 23):02d}:{self.choice(['05', '15', '25', '40', '50'])}"
            if name == "usd":
                return f"${self.rng.randint(18, 95) * 10}"
            if name == "gel":
                v = self.rng.choice([20, 35, 50, 80, 120, 150, 300, 500])
                return self.choice([f"{v} GEL", f"{v} ₾", f"₾{v}", f"{v} lari"])
            if name == "rate":
                return f"2.{self.rng.randint(62, 79)}"
            if name == "ars":
                return f"${self.rng.randint(9, 19)}.{self.rng.randint(0, 9)}00.000"
            if name == "eur":
                return f"{self.rng.choice([499, 649, 799, 899, 1099])} €"
            if name == "url":
                chars = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
                code = "".join(self.rng.choice(chars) for _ in range(6))
                return f"https://{self.choice(['lnk.example', 'news.example/s', 'status.example'])}/{code}"
            raise KeyError(f"unknown slot {name!r} in {template!r}")

        text = re.sub(r"\{(\w+)\}", slot, template)
        return re.sub(r" {2,}", " ", text).strip()

    def decorate(self, text: str, lang: str, codes: tuple[str, ...], author: Author) -> str:
        if codes and "#" not in text and self.rng.random() < 0.22:
            text += " " + self.choice(BRAND_TAGS[lang, self.choice(list(codes))])
        if author.loc_key and self.rng.random() < 0.15:
            latin, native = PLACE_TAGS[author.loc_key]
            use_native = native and (lang in ("ur", "ka", "ar") or self.rng.random() < 0.2)
            tag = native if use_native else latin
            if tag not in text:
                text += " " + tag
        return text

    def draw(self, templates: list[str]) -> str:
        """Deal templates like cards (reshuffled when used up), so a pool is used evenly."""
        deck = self.decks.setdefault(id(templates), [])
        if not deck:
            deck.extend(templates)
            self.rng.shuffle(deck)
        return deck.pop()

    def make_text(self, templates: list[str], lang: str, codes: tuple[str, ...], author: Author) -> str:
        text = ""
        for _ in range(40):
            text = self.decorate(self.fill(self.draw(templates), lang), lang, codes, author)
            if self.text_counts[text] < 2:
                break
        self.text_counts[text] += 1
        return text

    # ---------------------------------------------------------------- time
    def sample_time(self, author: Author, *, avoid_burst: bool) -> datetime:
        weights = [LOCAL_ACTIVITY[(START.hour + h + author.tz) % 24] for h in range(72)]
        while True:
            h = self.rng.choices(range(72), weights=weights)[0]
            t = START + timedelta(hours=h, seconds=self.rng.randint(0, 3599))
            if not (avoid_burst and t >= BURST_START):
                return t

    # ---------------------------------------------------------------- posts
    def background(self) -> list[Spec]:
        specs: list[Spec] = []
        for code, per_lang in CELLS.items():
            for lang, n in per_lang.items():
                n_neg = round(n * SENTIMENT_SHARE["neg"])
                n_pos = round(n * SENTIMENT_SHARE["pos"])
                sentiments = ["neg"] * n_neg + ["pos"] * n_pos + ["neu"] * (n - n_neg - n_pos)
                self.rng.shuffle(sentiments)
                for s in sentiments:
                    spec = Spec(lang, (SHORT[code],), s)
                    spec.author = self.pick_author(lang, personal=s != "neu")
                    spec.text = self.make_text(T[lang, code][s], lang, (code,), spec.author)
                    specs.append(spec)
        for lang, codes, s, template in TWO_BRAND:
            spec = Spec(lang, tuple(SHORT[c] for c in codes), s)
            spec.author = self.pick_author(lang, personal=s != "neu")
            spec.text = self.make_text([template], lang, codes, spec.author)
            specs.append(spec)
        # Make sure each Unicode-variant spelling (NFKC folds them to the alias) occurs at least once.
        variants = (
            (NA, "Nimbus Air", "Ｎｉｍｂｕｓ Ａｉｒ"),  # fullwidth
            (NA, "Nimbus Air", "Nimbus\u00a0Air"),  # no-break space
            (LU, "Lumora", "𝐋𝐔𝐌𝐎𝐑𝐀"),  # mathematical bold "font"
        )
        for brand, plain, variant in variants:
            if not any(variant in sp.text for sp in specs):
                sp = next(sp for sp in specs
                          if sp.lang == "en" and sp.brands == (brand,) and plain in sp.text)
                sp.text = sp.text.replace(plain, variant, 1)
        for lang, text in NOISE:
            spec = Spec(lang, (), "mixed")
            spec.author = self.pick_author(lang)
            spec.text = self.decorate(text, lang, (), spec.author)
            self.text_counts[spec.text] += 1
            specs.append(spec)
        return specs

    def place_background(self, specs: list[Spec]) -> None:
        for spec in specs:
            assert spec.author is not None
            spec.created_at = self.sample_time(spec.author, avoid_burst=NA in spec.brands)
        # The other brands keep their normal pace through the end of the window: make sure each has a
        # few ordinary (non-negative) posts during the Nimbus Air burst.
        for brand in (KP, LU):
            inside = [s for s in specs if brand in s.brands and s.created_at >= BURST_START]
            candidates = [s for s in specs if s.brands == (brand,) and s.sentiment != "neg"
                          and s.created_at < BURST_START and s.created_at.date() == END.date()]
            self.rng.shuffle(candidates)
            for s in candidates[: max(0, 3 - len(inside))]:
                s.created_at = BURST_START + timedelta(seconds=self.rng.randint(20, 1190))
                s.forced_window = True

    def burst(self) -> list[Spec]:
        originals: list[Spec] = []
        for lang, (n_orig, _) in BURST_PLAN.items():
            templates = BURST[lang]
            order = list(templates)
            self.rng.shuffle(order)
            for i in range(n_orig):
                spec = Spec(lang, (NA,), "neg", burst=True)
                for _ in range(40):
                    text = self.fill(order[i % len(order)] if i < len(order) else self.choice(templates),
                                     lang, burst=True)
                    if self.text_counts[text] == 0:
                        break
                self.text_counts[text] += 1
                spec.text = text
                spec.author = self.pick_author(lang, personal=True)
                # intensity ramps up through the 20 minutes
                spec.created_at = BURST_START + timedelta(seconds=int(1195 * math.sqrt(self.rng.random())))
                originals.append(spec)
        reposts: list[Spec] = []
        for lang, (_, n_rep) in BURST_PLAN.items():
            pool = sorted((s for s in originals if s.lang == lang), key=lambda s: s.created_at)
            viral = pool[: max(2, len(pool) // 3)]
            self.rng.shuffle(viral)
            for i in range(n_rep):
                src = viral[i % min(len(viral), 3)]  # a couple of posts go viral; reposts cluster on them
                assert src.author is not None
                author = self.pick_author(lang, avoid={src.author.id} | {
                    r.author.id for r in reposts if r.repost_of is src and r.author is not None})
                t = src.created_at + timedelta(seconds=self.rng.randint(25, 420))
                if t >= BURST_END:
                    t = BURST_END - timedelta(seconds=self.rng.randint(1, 30))
                as_rt = (lang == "en" and i < 2) or (lang == "ur" and i == 0)
                text = f"RT @{src.author.handle}: {src.text}" if as_rt else src.text
                reposts.append(Spec(lang, (NA,), "neg", text=text, author=author, created_at=t, burst=True,
                                    repost_of=src))
        return originals + reposts


# --------------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------------
def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def engagement(rng: random.Random, spec: Spec) -> dict[str, int]:
    assert spec.author is not None
    mu = math.log(spec.author.followers + 1) * 0.55 - 1.2
    likes = int(rng.lognormvariate(mu, 1.0))
    if spec.burst:
        likes = int(likes * rng.uniform(2.0, 5.0)) + rng.randint(2, 20)
    if spec.repost_of is not None:
        likes //= 3
    shares = int(likes * rng.uniform(0.0, 0.35 if not spec.burst else 0.9))
    replies = int(likes * rng.uniform(0.03, 0.3)) + (rng.randint(0, 6) if spec.sentiment == "neg" else 0)
    return {"likes": likes, "shares": shares, "replies": replies}


def build_posts(gen: Gen, specs: list[Spec]) -> list[dict[str, Any]]:
    rng = gen.rng
    ordered = sorted(enumerate(specs), key=lambda p: (p[1].created_at, p[0]))
    posts: list[dict[str, Any]] = []
    for n, (_, spec) in enumerate(ordered, start=1):
        a = spec.author
        assert a is not None
        spec.extra["native_id"] = f"demo-{n:06d}"
        post: dict[str, Any] = {
            "native_id": f"demo-{n:06d}",
            "source": "replay",
            "text": spec.text,
            "created_at": iso(spec.created_at),
        }
        if rng.random() < 0.05:
            post["title"] = None
        post["url"] = f"https://social.example/p/{n}"
        author: dict[str, Any] = {"id": a.id, "handle": a.handle, "name": a.name, "followers": a.followers}
        if a.location:
            author["location"] = a.location
        post["author"] = author
        if a.coords and rng.random() < 0.12:
            lat, lon = a.coords
            post["geo"] = {"lat": round(lat + rng.uniform(-0.06, 0.06), 4),
                           "lon": round(lon + rng.uniform(-0.06, 0.06), 4)}
        post["engagement"] = engagement(rng, spec)
        if spec.lang in DECLARED and rng.random() < 0.56:
            post["lang"] = DECLARED[spec.lang]
        posts.append(post)
    specs[:] = [s for _, s in ordered]
    return posts


# RSS items: (guid, pubDate, title, description-html, link, intended brands, language, cdata?)


def rss_xml() -> str:
    from email.utils import parsedate_to_datetime

    items = sorted(RSS_ITEMS, key=lambda it: parsedate_to_datetime(it[1]), reverse=True)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0">',
        "  <channel>",
        "    <title>Demo Wire: travel, payments &amp; phones</title>",
        "    <link>https://news.example/</link>",
        "    <description>Synthetic demo news feed for BrandPulse (CC0). Not real news.</description>",
        "    <language>en</language>",
        "    <lastBuildDate>Fri, 20 Nov 2026 17:30:00 GMT</lastBuildDate>",
    ]
    for guid, pub, title, desc, link, _brands, _lang, cdata in items:
        permalink = "true" if guid.startswith("https://") else "false"
        body = f"<![CDATA[{desc}]]>" if cdata else escape(desc)
        out += [
            "    <item>",
            f"      <title>{escape(title)}</title>",
            f"      <link>{escape(link)}</link>",
            f'      <guid isPermaLink="{permalink}">{escape(guid)}</guid>',
            f"      <pubDate>{pub}</pubDate>",
            f"      <description>{body}</description>",
            "    </item>",
        ]
    out += ["  </channel>", "</rss>", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Verification of intent against text.
# --------------------------------------------------------------------------------------------------
def _norm(s: str) -> str:
    return unicodedata.normalize("NFKC", s).casefold()


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def alias_hit(text: str, alias: str) -> bool:
    """Whole word/phrase, or the start of a #hashtag / @handle (the documented matching rule)."""
    t, a = _norm(text), _norm(alias)
    i = t.find(a)
    while i >= 0:
        before = t[i - 1] if i > 0 else ""
        after = t[i + len(a)] if i + len(a) < len(t) else ""
        if before in ("#", "@") and before:
            return True
        if not (before and _is_word(before)) and not (after and _is_word(after)):
            return True
        i = t.find(a, i + 1)
    return False


def brands_by_rule(text: str) -> tuple[str, ...]:
    return tuple(b for b in BRAND_ORDER if any(alias_hit(text, a) for a in ALIASES[b]))


def brands_by_substring(text: str) -> tuple[str, ...]:
    t = _norm(text)
    return tuple(b for b in BRAND_ORDER if any(_norm(a) in t for a in ALIASES[b]))


def verify(specs: list[Spec], posts: list[dict[str, Any]], rss: str) -> list[str]:
    problems: list[str] = []
    try:
        import yaml

        doc = yaml.safe_load(BRANDS_YAML.read_text(encoding="utf-8"))
        for b in doc["brands"]:
            if tuple(b["aliases"]) != ALIASES[b["name"]]:
                problems.append(f"brands.yaml aliases of {b['name']} differ from make_demo.ALIASES")
            if tuple(b.get("exclude_terms") or ()) != EXCLUDE_TERMS[b["name"]]:
                problems.append(f"brands.yaml exclude_terms of {b['name']} differ from EXCLUDE_TERMS")
    except ImportError:  # pragma: no cover - pyyaml is a project dependency
        problems.append("pyyaml missing: cannot cross-check brands.yaml")
    for spec, post in zip(specs, posts, strict=True):
        nid = post["native_id"]
        if brands_by_rule(spec.text) != spec.brands:
            problems.append(f"{nid}: rule match {brands_by_rule(spec.text)} != intent {spec.brands}")
        if brands_by_substring(spec.text) != spec.brands:
            problems.append(f"{nid}: substring match {brands_by_substring(spec.text)} != {spec.brands}")
        for b in spec.brands:
            for term in EXCLUDE_TERMS[b]:
                if _norm(term) in _norm(spec.text):
                    problems.append(f"{nid}: contains exclude term {term!r} of {b}")
        if not (START <= spec.created_at < END):
            problems.append(f"{nid}: outside the 72 h window")
        in_window = BURST_START <= spec.created_at < BURST_END
        if NA in spec.brands and in_window != spec.burst:
            problems.append(f"{nid}: Nimbus Air post in burst window that is not a burst post (or v.v.)")
        a = spec.author
        assert a is not None
        if brands_by_substring(f"{a.handle} {a.name} {a.location or ''}"):
            problems.append(f"{nid}: author fields contain a brand alias")
    counts = Counter(s.text for s in specs if not s.burst)
    for text, c in counts.items():
        if c > 2:
            problems.append(f"text repeated {c} times outside the burst: {text!r}")
    if [p["created_at"] for p in posts] != sorted(p["created_at"] for p in posts):
        problems.append("mentions are not sorted by created_at")
    for guid, _pub, title, desc, link, brands, _lang, _c in RSS_ITEMS:
        for part in (title, _html_text(desc), f"{title}\n{_html_text(desc)}"):
            if brands_by_rule(part) != brands or brands_by_substring(part) != brands:
                problems.append(f"rss {guid}: brands in {part[:40]!r} differ from intent {brands}")
        if brands_by_substring(link) or brands_by_substring(guid):
            problems.append(f"rss {guid}: link/guid contains a brand alias")
    from email.utils import parsedate_to_datetime

    for guid, pub, *_ in RSS_ITEMS:
        dt = parsedate_to_datetime(pub)
        if dt.strftime("%a") != pub[:3]:
            problems.append(f"rss {guid}: weekday of {pub} is wrong")
        if not (START <= dt < BURST_START):
            problems.append(f"rss {guid}: pubDate {pub} outside [window start, burst start)")
    import xml.etree.ElementTree as ET

    try:
        # our own generated string, not untrusted input
        if len(ET.fromstring(rss).findall("./channel/item")) != len(RSS_ITEMS):  # noqa: S314
            problems.append("rss item count mismatch")
    except ET.ParseError as exc:
        problems.append(f"news.xml is not well-formed: {exc}")
    return problems


def _html_text(markup: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]*>", "", markup))


# --------------------------------------------------------------------------------------------------
def generate() -> tuple[dict[str, str], list[Spec], list[dict[str, Any]]]:
    gen = Gen()
    gen.build_authors()
    specs = gen.background()
    gen.place_background(specs)
    specs += gen.burst()
    posts = build_posts(gen, specs)
    rss = rss_xml()

    per_brand = {b: 0 for b in BRAND_ORDER}
    for s in specs:
        for b in s.brands:
            per_brand[b] += 1
    for it in RSS_ITEMS:
        for b in it[5]:
            per_brand[b] += 1
    expected = {
        "mentions_lines": len(posts),
        "rss_items": len(RSS_ITEMS),
        "records_per_brand": per_brand,
        "records_total": sum(per_brand.values()),
        "no_brand_posts": sum(1 for s in specs if not s.brands) + sum(1 for it in RSS_ITEMS if not it[5]),
        "burst": {
            "brand": NA,
            "start": iso(BURST_START),
            "end": iso(BURST_END),
            "negative_posts": sum(1 for s in specs if s.burst and s.sentiment == "neg"
                                  and BURST_START <= s.created_at < BURST_END),
        },
    }
    files = {
        "mentions.jsonl": "".join(json.dumps(p, ensure_ascii=False, separators=(", ", ": ")) + "\n"
                                  for p in posts),
        "news.xml": rss,
        "expected.json": json.dumps(expected, ensure_ascii=False, indent=2) + "\n",
    }
    problems = verify(specs, posts, rss)
    if problems:
        raise SystemExit("demo data failed its checks:\n  " + "\n  ".join(problems))
    return files, specs, posts


def summary(specs: list[Spec], posts: list[dict[str, Any]]) -> str:
    lines = []
    lines.append(f"posts: {len(posts)}; authors: {len({p['author']['id'] for p in posts})}; "
                 f"geo: {sum('geo' in p for p in posts)}; declared lang: {sum('lang' in p for p in posts)}")
    by_lang = sorted(Counter(s.lang for s in specs).items())
    lines.append("by language: " + ", ".join(f"{k}={v}" for k, v in by_lang))
    kinds = Counter("burst" if s.burst else "noise" if not s.brands else "two" if len(s.brands) > 1 else "one"
                    for s in specs)
    lines.append("by kind: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    for b in BRAND_ORDER:
        bg = [s for s in specs if b in s.brands and not s.burst]
        sc = Counter(s.sentiment for s in bg)
        bl = sorted(Counter(s.lang for s in bg).items())
        sl = sorted(sc.items())
        lines.append(f"{b}: background records={len(bg)} " + ", ".join(f"{k}={v}" for k, v in sl)
                     + "; by lang " + ", ".join(f"{k}={v}" for k, v in bl))
        hourly = Counter(s.created_at.replace(minute=0, second=0) for s in bg)
        window = [s for s in specs if b in s.brands and s.created_at >= BURST_START]
        neg10 = Counter((s.created_at - START) // timedelta(minutes=10) for s in bg if s.sentiment == "neg")
        lines.append(f"  busiest hour={max(hourly.values())}, mean/hour={len(bg) / 72:.2f}, "
                     f"max negatives per 10-min bucket={max(neg10.values(), default=0)}, "
                     f"posts in final 20 min={len(window)}")
    burst = [s for s in specs if s.burst]
    lines.append(f"burst: {len(burst)} posts, reposts={sum(s.repost_of is not None for s in burst)}, by lang "
                 + ", ".join(f"{k}={v}" for k, v in sorted(Counter(s.lang for s in burst).items())))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    files, specs, posts = generate()
    if "--check" in argv:
        stale = [n for n, c in files.items() if (OUT / n).read_text(encoding="utf-8") != c]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("demo feeds are up to date")
        return 0
    for name, content in files.items():
        (OUT / name).write_text(content, encoding="utf-8", newline="\n")
    print(summary(specs, posts))
    print(files["expected.json"], end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
