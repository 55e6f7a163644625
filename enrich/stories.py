"""Streaming story clustering: group one brand's near-duplicate and same-link mentions into stories.

A *story* is one piece of content travelling: a post and its reposts, quote posts and lightly
edited copies, several posts sharing the same news link, or the same complaint written in two
scripts when the link or the hashtags agree. Each mention gets a ``story_id``; the id of a story
is derived from its first mention's id, so it never changes while the story lives.

>>> idx = StoryIndex()
>>> a = idx.assign(brand="acme", mention_id="m1", created_at=0.0,
...                text="Acme Air cancelled every flight out of Denver tonight, no hotel, no food")
>>> b = idx.assign(brand="acme", mention_id="m2", created_at=60.0,
...                text="RT @user: Acme Air cancelled every flight out of Denver tonight, no hotel, no f…")
>>> c = idx.assign(brand="acme", mention_id="m3", created_at=90.0,
...                text="Loving the new Acme lounge in Lisbon, great coffee")
>>> a == b == "st-m1", c
(True, 'st-m3')

How a mention is matched (every step is a lookup in a bounded per-brand index, never a scan):

* **Text.** The text is normalised (NFKC, casefold, handles, URLs and repost prefixes removed,
  punctuation to spaces, a word cut by a trailing "…" dropped) and cut into character 5-gram
  shingles, which work the same in every script and survive small edits and inflections. A
  MinHash signature (``num_perm`` multiply-shift hashes) estimates the Jaccard similarity J of
  two shingle sets; LSH banding (``bands`` × ``rows``) finds the stories whose signature is
  likely to be similar. A candidate matches when J ≥ ``min_jaccard`` (edited copies), when the
  smaller text is contained in the larger one (containment ≥ ``min_containment``, the smaller
  text at least ``min_contained_chars`` long: truncated reposts, quote posts that add a
  comment), or when they share a passage of at least ``min_shared_chars`` characters' worth of
  shingles at J ≥ ``min_passage_jaccard`` (the same headline or quoted sentence with different
  comments around it). Texts shorter than ``min_text_chars`` after normalisation ("thank you",
  "lol") carry no text evidence: two people writing the same two words are not one story.
* **Links.** A canonical URL with a path (``link_key``: scheme, ``www.``/``m.``/``amp.`` host
  prefixes, ``/amp`` suffixes and tracking parameters removed) joins the story that already
  carries it; a bare domain (``https://acme.com``) is not evidence.
* **Hashtags.** A shared hashtag says "same topic", not "same story": one account's series of
  posts, a live event or a campaign all share tags while saying different things. So a hashtag
  only tips a near-miss text match (one shared tag and J ≥ ``hashtag_jaccard``), or stands in
  for the text when the two texts cannot be compared because they are written in different
  scripts (two shared tags: the same complaint in Devanagari and in Latin letters). A hashtag
  seen in more than ``generic_tag_stories`` live stories of the brand is generic for that brand
  (``#travel``, the brand's own tag) and links nothing more.

When several stories match, the strongest evidence wins (link, then text similarity, then
hashtags), ties going to the older story, so the result is deterministic for the same input
order. Stories are never merged after the fact: an id, once given, keeps meaning the same story.

Bounds (per brand): at most ``max_stories`` live stories (the least recently active is evicted
first) and a ``horizon_seconds`` of stream time (a story quiet for longer is evicted); each story
keeps at most ``max_representatives`` signatures (its first mention's, then those of the first
variants that matched it only loosely, below 0.8 similarity, so a chain of edits still finds it);
an LSH bucket and a link point to at most ``max_bucket`` stories (the newest), a hashtag to at
most ``generic_tag_stories`` + 1, and a story is findable by at most ``max_keys_per_story`` links
and as many hashtags; the last ``max_recent`` mention ids are remembered, so a
redelivered mention (Kafka delivers at least once) gets its story again without counting twice.
Stream time is the largest ``created_at`` seen for the brand, so
a replay evicts exactly as the live run did. ``snapshot``/``restore`` carry one brand's state as
JSON; a restore rebuilds the lookup tables from the stories, so a bucket that had overflowed may
afterwards hold a slightly different set of (old) stories.

Memory: about 4 KB per live story (21 MB for one brand at the default 5000-story cap, measured
with tracemalloc on real posts), most of it the LSH bucket table; lower ``max_stories`` for
many small brands.

Cost: measured by ``bench/eval_stories.py``: about 50–65 µs of CPU per mention on the 2-core
development machine (normalisation ~10, shingles + MinHash ~13, band keys ~5, index upkeep the
rest); a repeated text costs the same, so caching signatures per distinct text would save more.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

SNAPSHOT_VERSION = 1
SHINGLE = 5

Evidence = Literal["new", "link", "text", "hashtags", "seen"]

# ---------------------------------------------------------------------------------------------
# Normalisation

# URLs, "https…"/"http" stubs left where a repost cut a link (or a dataset masked it), handles.
# Each branch starts with a literal, so the engine skips ahead instead of trying every word.
_DROP_RE = re.compile(r"https?\b\S*|www\.\S+|(?:ftp|file|hxxps?)://\S*|(?<![\w@])@\w{1,50}:?")
# Repost and quote prefixes that add nothing to the content: "RT", "MT", "Repost", "Regram".
# Applied to the normalised words (so a control character before "RT" cannot hide it).
_REPOST_RE = re.compile(r"^(?:(?:rt|mt|repost|regram)(?: |$))+")
_TRUNCATED_RE = re.compile(r"\S*(?:…|\.\.\.)\s*$")
# Everything but letters, combining marks and digits separates words. ``\W`` alone would keep
# "_" and break Indic, Thai and Arabic words at their vowel signs, so those marks are kept.
_NON_WORD_RE = re.compile(r"[^\w\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
                          r"\u0900-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u1000-\u109f\u200c\u200d]+|_+")


def normalize_text(text: str) -> str:
    """The text a story is recognised by: what a reader would call "the same words".

    >>> normalize_text("RT @AcmeHelp: Flight #AC123 CANCELLED!!! see https://t.co/xyz…")
    'flight ac123 cancelled see'
    >>> normalize_text("Ｆｕｌｌ‐width  ｔｅｘｔ and a cut-off wo…")
    'full width text and a cut off'
    """
    s = text if text.isascii() else unicodedata.normalize("NFKC", text)
    s = _DROP_RE.sub(" ", s.casefold())
    if "…" in s or "..." in s:
        s = _TRUNCATED_RE.sub("", s)
    return _REPOST_RE.sub("", " ".join(_NON_WORD_RE.sub(" ", s).split())).strip()


_POLY = np.uint64(0x100000001B3)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(31)


def shingle_hashes(norm: str) -> np.ndarray:
    """64-bit hashes of the character 5-grams of `` norm `` (padded with spaces), repeats kept.

    Computed on the code points with numpy, so they are the same in every process (Python's own
    ``hash`` of a string is salted per process) and cost no Python loop per shingle. Repeats do
    not change a MinHash; they only make the shingle count an upper bound, which is harmless for
    the containment estimate on short posts.
    """
    codes = np.frombuffer(f" {norm} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = codes.size - SHINGLE + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = codes[0:n] * _POLY
    for i in range(1, SHINGLE):
        h += codes[i: i + n]
        if i < SHINGLE - 1:
            h *= _POLY
    h *= _MIX
    h ^= h >> _SHIFT
    return h


def link_key(url: str) -> str | None:
    """The identity of a link for story purposes, or None when it says nothing specific.

    Two posts about one article often carry it as http/https, with or without ``www.``, the
    mobile (``m.``) or AMP host or path, and with tracking parameters; those are one link. A bare
    domain or a homepage is not evidence of one story.

    >>> link_key("https://www.example.com/news/2026/acme-recall/amp?utm_source=tw&id=4#top")
    'example.com/news/2026/acme-recall?id=4'
    >>> link_key("http://m.example.com/news/2026/acme-recall/?id=4")
    'example.com/news/2026/acme-recall?id=4'
    >>> link_key("https://acme.com/") is None, link_key("not a url") is None
    (True, True)
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    for prefix in ("www.", "m.", "mobile.", "amp."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
            break
    path = parts.path.rstrip("/")
    for suffix in ("/amp", ".amp", "/index.html", "/index.htm"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith("utm_") and k.lower() not in _TRACKING]
    query = urlencode(kept)
    if not path and not query:
        return None
    return urlunsplit(("", host, path, query, "")).lstrip("/")


_TRACKING = frozenset({"fbclid", "gclid", "igshid", "mc_cid", "mc_eid", "ref", "ref_src", "s", "si",
                       "src", "cmpid", "ocid", "smid", "share"})


def dominant_script(norm: str, sample: int = 12) -> str:
    """The script most of the first ``sample`` letters of ``norm`` are written in ("" if none),
    named by the first word of their Unicode names: LATIN, CYRILLIC, ARABIC, DEVANAGARI, CJK...

    >>> dominant_script("jio network band"), dominant_script("जियो नेटवर्क"), dominant_script("2026 😡")
    ('LATIN', 'DEVANAGARI', '')
    """
    counts: dict[str, int] = {}
    seen = 0
    for ch in norm:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        script = name.split(" ", 1)[0] if name else ""
        if script:
            counts[script] = counts.get(script, 0) + 1
        seen += 1
        if seen >= sample:
            break
    return max(counts, key=lambda k: (counts[k], k)) if counts else ""


def _tag_key(tag: str) -> str | None:
    body = unicodedata.normalize("NFKC", tag).casefold().lstrip("#").strip()
    return body or None


# ---------------------------------------------------------------------------------------------
# Configuration and state


@dataclass(frozen=True, slots=True)
class StoryConfig:
    """Tuning of :class:`StoryIndex`; the defaults follow from the reasoning in the module doc.

    ``bands × rows`` must equal ``num_perm``. With 20 bands of 3 rows a pair at J = 0.5 becomes a
    candidate with probability 1 − (1 − 0.5³)²⁰ ≈ 0.93, a pair at J = 0.1 with ≈ 0.02.
    """

    num_perm: int = 60
    bands: int = 20
    rows: int = 3
    min_jaccard: float = 0.5
    min_containment: float = 0.75
    min_contained_chars: int = 30
    min_shared_chars: int = 50
    min_passage_jaccard: float = 0.25
    hashtag_jaccard: float = 0.3
    min_text_chars: int = 20
    generic_tag_stories: int = 8
    max_stories: int = 5000
    horizon_seconds: float = 48 * 3600.0
    max_representatives: int = 4
    max_bucket: int = 8
    max_recent: int = 2000  # mention ids remembered per brand, so a redelivery keeps its story
    max_keys_per_story: int = 16  # links, and hashtags, a story is findable by
    seed: int = 20260316

    def __post_init__(self) -> None:
        if self.bands * self.rows != self.num_perm:
            raise ValueError(f"bands × rows ({self.bands} × {self.rows}) must equal num_perm ({self.num_perm})")
        if self.max_stories < 1 or self.max_representatives < 1 or self.max_bucket < 1:
            raise ValueError("max_stories, max_representatives and max_bucket must be at least 1")
        if not 0.0 < self.min_jaccard <= 1.0 or not 0.0 < self.min_containment <= 1.0:
            raise ValueError("min_jaccard and min_containment must be in (0, 1]")


@dataclass(slots=True)
class _Rep:
    sig: np.ndarray  # uint32[num_perm]
    size: int  # shingles


@dataclass(slots=True)
class _Story:
    id: str
    seq: int  # creation order within the brand: the deterministic tie-break
    first_seen: float
    last_seen: float
    size: int = 1
    reps: list[_Rep] = field(default_factory=list)
    bands: list[bytes] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)  # scripts its texts were written in


@dataclass(slots=True)
class _Brand:
    stories: OrderedDict[str, _Story] = field(default_factory=OrderedDict)  # least recently active first
    # LSH buckets: most hold a single story, stored as the bare id (a list per key would be the
    # largest part of the index); a shared bucket holds a list.
    bands: dict[bytes, str | list[str]] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    clock: float = float("-inf")
    seq: int = 0
    recent: OrderedDict[str, str] = field(default_factory=OrderedDict)  # mention id -> story id


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a mention went: its story, whether it opened it, and the evidence that decided."""

    story_id: str
    new: bool
    evidence: Evidence
    similarity: float = 0.0  # the estimated Jaccard (or containment) that matched, 0 for links/new
    size: int = 1  # the story's size after this mention


@dataclass(frozen=True, slots=True)
class _Features:
    sig: np.ndarray | None
    size: int
    script: str
    keys: list[bytes]  # LSH band keys of ``sig`` (empty without one)
    links: tuple[str, ...]
    tags: tuple[str, ...]


def story_id_for(mention_id: str) -> str:
    return f"st-{mention_id}"


def _timestamp(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


class StoryIndex:
    """Assigns mentions to stories, per brand, in bounded memory. One instance per process;
    not thread-safe (the enrichment worker calls it from its one processing thread).

    >>> idx = StoryIndex(StoryConfig(max_stories=2))
    >>> posts = ["the app logs me out every hour", "refund still missing after two weeks",
    ...          "best pizza in town, thanks Acme"]
    >>> [idx.assign(brand="b", mention_id=str(i), created_at=i, text=t) for i, t in enumerate(posts)]
    ['st-0', 'st-1', 'st-2']
    >>> idx.stats("b")["stories"]
    2
    """

    def __init__(self, config: StoryConfig | None = None) -> None:
        self.config = config or StoryConfig()
        rng = np.random.default_rng(self.config.seed)
        # Permutations x -> a·x + b (mod 2³²) with odd a: bijections of 32-bit values. The input is
        # already a well-mixed hash, and 32-bit products are several times cheaper in numpy than
        # 64-bit ones (measured: 6 µs against 12 µs for 80 shingles × 60 permutations).
        self._a = (rng.integers(0, 2**31, size=self.config.num_perm, dtype=np.uint32) << np.uint32(1)) | np.uint32(1)
        self._b = rng.integers(0, 2**32, size=self.config.num_perm, dtype=np.uint32)
        self._brands: dict[str, _Brand] = {}

    # -- features ---------------------------------------------------------------------------

    def signature(self, text: str) -> tuple[np.ndarray | None, int]:
        """MinHash signature and shingle count of ``text``; no signature when it is too short."""
        return self._signature(normalize_text(text))

    def _signature(self, norm: str) -> tuple[np.ndarray | None, int]:
        if len(norm) < self.config.min_text_chars:
            return None, 0
        h = shingle_hashes(norm)
        mixed = np.multiply.outer((h >> np.uint64(32)).astype(np.uint32), self._a)
        mixed += self._b
        return mixed.min(axis=0), int(h.size)

    def _features(self, text: str, urls: Iterable[str], hashtags: Iterable[str]) -> _Features:
        norm = normalize_text(text)
        sig, size = self._signature(norm)
        links = tuple(dict.fromkeys(k for k in (link_key(u) for u in urls) if k))
        tags = tuple(dict.fromkeys(k for k in (_tag_key(t) for t in hashtags) if k))
        # The script only matters to the hashtag rule, so only mentions with hashtags pay for it.
        script = dominant_script(norm) if tags else ""
        return _Features(sig, size, script, self._band_keys(sig) if sig is not None else [], links, tags)

    def _band_keys(self, sig: np.ndarray) -> list[bytes]:
        """One key per band: the band's rows as bytes. Only ever used as dictionary keys, so
        Python's per-process salting of bytes hashes changes nothing that is returned. Bands are
        not tagged with their number: equal rows in two bands would need three hash functions
        to have the same minimum, which does not happen."""
        raw = sig.tobytes()
        width = 4 * self.config.rows
        return [raw[i:i + width] for i in range(0, len(raw), width)]

    # -- public API -------------------------------------------------------------------------

    def assign(self, *, brand: str, mention_id: str, created_at: datetime | float, text: str,
               urls: Iterable[str] = (), hashtags: Iterable[str] = ()) -> str:
        """The story id of this mention (opening a new story when nothing matches)."""
        return self.assign_detail(brand=brand, mention_id=mention_id, created_at=created_at, text=text,
                                  urls=urls, hashtags=hashtags).story_id

    def assign_detail(self, *, brand: str, mention_id: str, created_at: datetime | float, text: str,
                      urls: Iterable[str] = (), hashtags: Iterable[str] = ()) -> Assignment:
        """Like :meth:`assign`, also saying why (for tests, benches and debugging)."""
        st = self._brands.get(brand)
        if st is None:
            st = self._brands[brand] = _Brand()
        seen = st.recent.get(mention_id)
        if seen is not None and seen in st.stories:
            # At-least-once delivery: the same mention again changes nothing and keeps its story.
            return Assignment(seen, False, "seen", 1.0, st.stories[seen].size)
        t = _timestamp(created_at)
        if t > st.clock:
            st.clock = t
            self._evict_old(st)
        f = self._features(text, urls, hashtags)
        best = self._match(st, f)
        if best is None:
            story = self._open(st, mention_id, t, f)
            result = Assignment(story.id, True, "new", 0.0, 1)
        else:
            story, evidence, sim = best
            story.size += 1
            story.last_seen = max(story.last_seen, t)
            st.stories.move_to_end(story.id)
            self._learn(st, story, f, evidence, sim)
            result = Assignment(story.id, False, evidence, sim, story.size)
        st.recent[mention_id] = story.id
        if len(st.recent) > self.config.max_recent:
            st.recent.popitem(last=False)
        return result

    def stats(self, brand: str | None = None) -> dict[str, int]:
        """Sizes of the index (all brands, or one): stories, LSH buckets, links and hashtags kept."""
        brands = [self._brands[brand]] if brand is not None and brand in self._brands else (
            [] if brand is not None else list(self._brands.values()))
        return {
            "brands": len(brands),
            "stories": sum(len(b.stories) for b in brands),
            "buckets": sum(len(b.bands) for b in brands),
            "links": sum(len(b.links) for b in brands),
            "hashtags": sum(len(b.tags) for b in brands),
        }

    # -- matching ---------------------------------------------------------------------------

    def _match(self, st: _Brand, f: _Features) -> tuple[_Story, Evidence, float] | None:
        cfg = self.config
        # Link evidence is the strongest: the newest live story carrying the same link.
        for link in f.links:
            ids = st.links.get(link)
            if ids:
                return max((st.stories[sid] for sid in ids), key=lambda s: s.seq), "link", 1.0
        candidates: dict[str, None] = {}
        bands = st.bands
        for key in f.keys:
            hit = bands.get(key)
            if hit is None:
                continue
            if isinstance(hit, str):
                candidates[hit] = None
            else:
                for sid in hit:
                    candidates[sid] = None
        tag_hits: dict[str, int] = {}
        for tag in f.tags:
            ids = st.tags.get(tag)
            if ids and len(ids) <= cfg.generic_tag_stories:
                for sid in ids:
                    tag_hits[sid] = tag_hits.get(sid, 0) + 1
        # (rank, -seq): text beats hashtags, then the stronger similarity, then the older story.
        best: tuple[tuple[int, float, int], _Story, Evidence, float] | None = None
        for sid in list(candidates) + [s for s in tag_hits if s not in candidates]:
            story = st.stories[sid]
            sim, contained, shared = self._similarity(f, story)
            evidence: Evidence
            hits = tag_hits.get(sid, 0)
            if (sim >= cfg.min_jaccard or contained >= cfg.min_containment
                    or (shared >= cfg.min_shared_chars and sim >= cfg.min_passage_jaccard)):
                evidence, value, rank = "text", max(sim, contained), (2, max(sim, contained), -story.seq)
            elif (hits >= 1 and sim >= cfg.hashtag_jaccard) or (hits >= 2 and self._other_script(f, story)):
                evidence, value, rank = "hashtags", sim, (1, hits + sim, -story.seq)
            else:
                continue
            if best is None or rank > best[0]:
                best = (rank, story, evidence, value)
        if best is None:
            return None
        _, story, evidence, value = best
        return story, evidence, round(value, 4)

    def _similarity(self, f: _Features, story: _Story) -> tuple[float, float, float]:
        """Best estimated Jaccard, containment and shared shingle count of the mention against
        the story's signatures (the three text rules of the module doc)."""
        if f.sig is None or not story.reps:
            return 0.0, 0.0, 0.0
        sigs = np.stack([r.sig for r in story.reps])
        jac = (sigs == f.sig[None, :]).mean(axis=1)
        best_j, best_c, best_shared = 0.0, 0.0, 0.0
        min_small = self.config.min_contained_chars - SHINGLE + 3  # shingles of that many chars
        for j, rep in zip(jac.tolist(), story.reps, strict=True):
            best_j = max(best_j, j)
            if j <= 0:
                continue
            # |A ∩ B| = J (|A| + |B|) / (1 + J). A short text is "contained" in almost anything,
            # so containment needs the smaller text to be substantial too.
            inter = j * (rep.size + f.size) / (1.0 + j)
            best_shared = max(best_shared, inter)
            small = min(rep.size, f.size)
            if small >= min_small:
                best_c = max(best_c, min(1.0, inter / small))
        return best_j, best_c, best_shared

    @staticmethod
    def _other_script(f: _Features, story: _Story) -> bool:
        return bool(f.script) and bool(story.scripts) and f.script not in story.scripts

    # -- bookkeeping ------------------------------------------------------------------------

    def _open(self, st: _Brand, mention_id: str, t: float, f: _Features) -> _Story:
        sid = story_id_for(mention_id)
        if sid in st.stories:  # a redelivery older than ``recent`` remembers: it stays where it is
            story = st.stories[sid]
            st.stories.move_to_end(sid)
            return story
        st.seq += 1
        story = _Story(id=sid, seq=st.seq, first_seen=t, last_seen=t, scripts=[f.script] if f.script else [])
        st.stories[sid] = story
        if f.sig is not None:
            self._add_rep(st, story, f)
        for link in f.links[: self.config.max_keys_per_story]:
            self._index(st, st.links, link, sid, story.links)
        for tag in f.tags[: self.config.max_keys_per_story]:
            self._index_tag(st, tag, sid, story)
        while len(st.stories) > self.config.max_stories:
            self._evict(st, next(iter(st.stories)))
        return story

    def _learn(self, st: _Brand, story: _Story, f: _Features, evidence: Evidence, sim: float) -> None:
        """Let a story be found by its variants too: a link or hashtag it did not carry yet, and
        the signature of a text that matched it only loosely (a chain of edits drifts)."""
        # Bounded per story: a story reposted ten thousand times, each with its own short link,
        # must not grow the link table by ten thousand keys.
        cap = self.config.max_keys_per_story
        for link in f.links:
            if len(story.links) >= cap:
                break
            if link not in story.links:
                self._index(st, st.links, link, story.id, story.links)
        for tag in f.tags:
            if len(story.tags) >= cap:
                break
            if tag not in story.tags:
                self._index_tag(st, tag, story.id, story)
        if f.script and f.script not in story.scripts and len(story.scripts) < 4:
            story.scripts.append(f.script)
        if f.sig is None:
            return
        loose = evidence != "text" or sim < 0.8
        if loose and len(story.reps) < self.config.max_representatives:
            self._add_rep(st, story, f)

    def _add_rep(self, st: _Brand, story: _Story, f: _Features) -> None:
        assert f.sig is not None
        story.reps.append(_Rep(f.sig, f.size))
        sid, bands = story.id, st.bands
        if len(story.reps) == 1:  # a first signature's band keys are distinct: no membership test
            story.bands.extend(f.keys)
            for key in f.keys:  # the hot path of every new story
                hit = bands.get(key)
                if hit is None:
                    bands[key] = sid
                else:
                    self._add_to_bucket(st, key, hit, sid)
            return
        for key in f.keys:
            hit = bands.get(key)
            if hit is None:
                bands[key] = sid
            elif hit == sid or (not isinstance(hit, str) and sid in hit):
                continue
            else:
                self._add_to_bucket(st, key, hit, sid)
            story.bands.append(key)

    def _add_to_bucket(self, st: _Brand, key: bytes, hit: str | list[str], sid: str) -> None:
        if isinstance(hit, str):
            ids = [hit, sid]
        else:
            ids = hit
            ids.append(sid)
        if len(ids) > self.config.max_bucket:
            # Drop the oldest story (lowest seq), not the first inserted: the result then does not
            # depend on the order a restore rebuilds the table in. Its owner keeps the key in its
            # list; removal on eviction tolerates that.
            ids.remove(min(ids, key=lambda s: st.stories[s].seq if s in st.stories else -1))
        st.bands[key] = ids[0] if len(ids) == 1 else ids

    def _index(self, st: _Brand, table: dict[Any, list[str]], key: Any, sid: str, owned: list[Any]) -> None:
        ids = table.setdefault(key, [])
        if sid in ids:
            return
        ids.append(sid)
        owned.append(key)
        if len(ids) > self.config.max_bucket:
            # Drop the oldest story (lowest seq), not the first inserted: the result then does not
            # depend on the order a restore rebuilds the table in. Its owner keeps the key in its
            # list; removal on eviction tolerates that.
            ids.remove(min(ids, key=lambda s: st.stories[s].seq if s in st.stories else -1))

    def _index_tag(self, st: _Brand, tag: str, sid: str, story: _Story) -> None:
        # Tag lists may grow one past the generic limit so that "generic" can be recognised,
        # and no further: a brand's own hashtag would otherwise list every story it has.
        ids = st.tags.setdefault(tag, [])
        if sid in ids:
            return
        story.tags.append(tag)
        if len(ids) <= self.config.generic_tag_stories:
            ids.append(sid)

    def _evict_old(self, st: _Brand) -> None:
        limit = st.clock - self.config.horizon_seconds
        while st.stories:
            sid, story = next(iter(st.stories.items()))
            if story.last_seen >= limit:
                break
            self._evict(st, sid)

    def _evict(self, st: _Brand, sid: str) -> None:
        story = st.stories.pop(sid)
        bands = st.bands
        for key in story.bands:
            hit = bands.get(key)
            if hit is None:
                continue
            if isinstance(hit, str):
                if hit == sid:
                    del bands[key]
            elif sid in hit:
                hit.remove(sid)
                if len(hit) == 1:
                    bands[key] = hit[0]
        _unlist(st.links, story.links, sid)
        _unlist(st.tags, story.tags, sid)

    # -- checkpoints ------------------------------------------------------------------------

    def brands(self) -> list[str]:
        return list(self._brands)

    def snapshot(self, brand: str) -> dict[str, Any]:
        """JSON-ready state of one brand (the alert/enrich worker checkpoints it per brand)."""
        st = self._brands.get(brand) or _Brand()
        return {
            "v": SNAPSHOT_VERSION,
            "config": [self.config.num_perm, self.config.seed],
            "clock": st.clock if st.clock != float("-inf") else None,
            "seq": st.seq,
            "stories": [
                {"id": s.id, "seq": s.seq, "first": s.first_seen, "last": s.last_seen, "size": s.size,
                 "reps": [[base64.b64encode(r.sig.tobytes()).decode(), r.size] for r in s.reps],
                 "links": s.links, "tags": s.tags, "scripts": s.scripts}
                for s in st.stories.values()
            ],
            # Tag lists hold the generic-detection order, which the stories alone do not.
            "tag_lists": {k: v for k, v in st.tags.items()},
            "recent": list(st.recent.items()),
        }

    def restore(self, brand: str, snap: Mapping[str, Any]) -> None:
        """Replace one brand's state by a :meth:`snapshot` (same ``num_perm`` and ``seed``)."""
        if snap.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"story snapshot version {snap.get('v')!r} is not {SNAPSHOT_VERSION}")
        if list(snap.get("config", [])) != [self.config.num_perm, self.config.seed]:
            raise ValueError("story snapshot was taken with another num_perm/seed; it cannot be compared")
        st = _Brand(clock=float(snap["clock"]) if snap.get("clock") is not None else float("-inf"),
                    seq=int(snap["seq"]))
        for s in snap["stories"]:
            story = _Story(id=s["id"], seq=int(s["seq"]), first_seen=float(s["first"]),
                           last_seen=float(s["last"]), size=int(s["size"]), scripts=list(s.get("scripts", [])))
            st.stories[story.id] = story
            for raw, size in s["reps"]:
                sig = np.frombuffer(base64.b64decode(raw), dtype=np.uint32).copy()
                self._add_rep(st, story, _Features(sig, int(size), "", self._band_keys(sig), (), ()))
            for link in s["links"]:
                self._index(st, st.links, link, story.id, story.links)
            story.tags = list(s["tags"])
        st.tags = {k: list(v) for k, v in snap.get("tag_lists", {}).items()}
        st.recent = OrderedDict((str(m), str(sid)) for m, sid in snap.get("recent", []))
        self._brands[brand] = st

    def forget(self, brand: str) -> None:
        self._brands.pop(brand, None)


def _unlist(table: dict[Any, list[str]], keys: Iterable[Any], sid: str) -> None:
    for key in keys:
        ids = table.get(key)
        if ids is None:
            continue
        if sid in ids:
            ids.remove(sid)
        if not ids:
            del table[key]


def assign_all(index: StoryIndex, mentions: Sequence[Mapping[str, Any]]) -> list[str]:
    """Story ids for dict-like mentions (``brand``, ``id``, ``created_at``, ``text``, optional
    ``urls`` and ``hashtags``), in order: a convenience for benches and tests."""
    return [index.assign(brand=m["brand"], mention_id=m["id"], created_at=m["created_at"], text=m["text"],
                         urls=m.get("urls", ()), hashtags=m.get("hashtags", ())) for m in mentions]
