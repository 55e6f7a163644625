"""The offline gazetteer: GeoNames-derived places (see README.md), their lookup keys, and the index.

``norm`` is the one key function: names are indexed by it and tokens looked up by it, so any
folding it does can never make a place unreachable. A package so the TSV files ship in wheels.
"""

from __future__ import annotations

import functools
import math
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from brandpulse.text import fold_script

GAZETTEER_DIR = Path(__file__).parent
NEAREST_CITY_KM = 50.0
MAX_NGRAM = 3  # longest place name matched, in words
REGION_PSEUDO_POPULATION = 1_000_000

# ---------------------------------------------------------------------------------------------
# normalisation

# On top of the core's script folding (brandpulse/text.py): place names are also written with
# Urdu yeh barree/Pashto yeh for yeh, Sindhi kaf, do-chashmi heh for heh, and with apostrophes,
# dots and hyphens that readers ignore ("Guinea-Bissau", "Xi'an", "St. Louis").
_PLACE_FOLD = str.maketrans(
    {
        "ې": "ی", "ے": "ی", "ۍ": "ی", "ڪ": "ک", "ھ": "ه",
        "'": None, "’": None, "ʼ": None, "‘": None, "`": None, ".": None, "ʻ": None,
        "-": " ", "‐": " ", "_": " ", "\u00a0": " ",
    }
)


_DROP_MARKS = {cp: None for cp in range(0x300, 0x10000) if unicodedata.combining(chr(cp))}


@functools.lru_cache(maxsize=200_000)
def norm(text: str) -> str:
    """The lookup key of a name or token: casefolded, accents/harakat dropped, letters folded.

    >>> norm("Mérida") == norm("MERIDA"), norm("لاہور") == norm("لاھور"), norm("Guinea-Bissau")
    (True, True, 'guinea bissau')
    """
    s = text.casefold()
    if not s.isascii():
        s = fold_script(unicodedata.normalize("NFD", s).translate(_DROP_MARKS))
    return " ".join(s.translate(_PLACE_FOLD).split())


# ---------------------------------------------------------------------------------------------
# gazetteer


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    country_code: str
    kind: str  # "city" | "region" | "country"
    population: int
    lat: float | None = None
    lon: float | None = None


class Entry(NamedTuple):
    place: int  # index into Gazetteer.places
    main: bool  # matched the main name or a curated name (not a GeoNames alternate)
    exact: str | None = None  # case-sensitive form required (abbreviations like "US")


@dataclass
class Gazetteer:
    places: list[Place] = field(default_factory=list)
    index: dict[str, list[Entry]] = field(default_factory=dict)
    grid: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    country_by_code: dict[str, int] = field(default_factory=dict)
    us_state_codes: set[str] = field(default_factory=set)
    multi_first: dict[str, int] = field(default_factory=dict)  # first word -> most words in a name
    # every leading run of two or more words of a multi-word key ("new york" for "new york city"):
    # a word pair that is none of these starts no multi-word name, whatever follows
    multi_prefixes: set[str] = field(default_factory=set)

    def add(self, place: Place, names: Iterable[tuple[str, bool]]) -> int:
        idx = len(self.places)
        self.places.append(place)
        seen: set[str] = set()
        for name, main in names:
            exact = None
            if name.startswith("="):
                name = name[1:]
                exact = name
            key = norm(name)
            if not key or (key in seen and exact is None):
                continue
            seen.add(key)
            self.index.setdefault(key, []).append(Entry(idx, main, exact))
            if " " in key:
                parts = key.split(" ")
                first = parts[0]
                self.multi_first[first] = max(self.multi_first.get(first, 1), min(len(parts), MAX_NGRAM))
                for end in range(2, len(parts) + 1):
                    self.multi_prefixes.add(" ".join(parts[:end]))
        if place.kind == "city" and place.lat is not None and place.lon is not None:
            self.grid.setdefault((math.floor(place.lat), math.floor(place.lon)), []).append(idx)
        return idx

    def lookup(self, key: str) -> list[Entry]:
        return self.index.get(key, [])

    def nearest_city(self, lat: float, lon: float) -> tuple[Place, float] | None:
        """The city that best names a point, and its distance in km.

        Searches the 1-degree cells around the point; among cities within NEAREST_CITY_KM a larger
        city may beat a nearer suburb: score = log10(population) - 3 * log10(1 + km / 5). With no
        city that close, the nearest one is returned.
        """
        best: tuple[Place, float] | None = None
        best_named: tuple[float, Place, float] | None = None
        cy, cx = math.floor(lat), math.floor(lon)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                cell_x = (cx + dx + 180) % 360 - 180
                for idx in self.grid.get((cy + dy, cell_x), ()):
                    p = self.places[idx]
                    d = _haversine_km(lat, lon, p.lat or 0.0, p.lon or 0.0)
                    if best is None or d < best[1]:
                        best = (p, d)
                    if d <= NEAREST_CITY_KM:
                        score = math.log10(p.population + 10) - 3 * math.log10(1 + d / 5)
                        if best_named is None or score > best_named[0]:
                            best_named = (score, p, d)
        if best_named is not None:
            return best_named[1], best_named[2]
        return best


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _rows(name: str) -> Iterable[list[str]]:
    with (GAZETTEER_DIR / name).open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            yield line.rstrip("\n").split("\t")


def _split_names(cell: str) -> list[str]:
    return [n.strip() for n in cell.split("|") if n.strip()]


def build_gazetteer() -> Gazetteer:
    """Read the shipped TSV files into a fresh gazetteer (use ``get_gazetteer`` for the shared one)."""
    gaz = Gazetteer()
    aliases: dict[str, list[str]] = {}
    for row in _rows("city_aliases.tsv"):
        aliases.setdefault(row[0], []).extend(_split_names(row[2]))
    for row in _rows("cities.tsv"):
        gid, name, cc, lat, lon, pop = row[:6]
        alts = _split_names(row[6]) if len(row) > 6 else []
        names = [(name, True)] + [(a, False) for a in alts] + [(a, True) for a in aliases.get(gid, [])]
        gaz.add(Place(name, cc, "city", int(pop), float(lat), float(lon)), names)
    extra: dict[str, list[str]] = {}
    for row in _rows("country_names.tsv"):
        extra.setdefault(row[0], []).extend(_split_names(row[1]))
    for row in _rows("countries.tsv"):
        cc, name, population = row[0], row[1], int(row[2] or 0)
        names = [(name, True)] + [(n, True) for n in extra.get(cc, [])]
        gaz.country_by_code[cc] = gaz.add(Place(name, cc, "country", max(population, 1)), names)
    for row in _rows("us_states.tsv"):
        gaz.us_state_codes.add(row[0])
        gaz.add(Place(row[1], "US", "region", REGION_PSEUDO_POPULATION), [(row[1], True)])
    for row in _rows("regions.tsv"):
        names = [(n, True) for n in _split_names(row[2])]
        gaz.add(Place(row[1], row[0], "region", REGION_PSEUDO_POPULATION), names)
    return gaz


_GAZ: Gazetteer | None = None
_GAZ_LOCK = threading.Lock()


def get_gazetteer() -> Gazetteer:
    """The process-wide gazetteer, loaded on first use."""
    global _GAZ
    if _GAZ is None:
        with _GAZ_LOCK:
            if _GAZ is None:
                _GAZ = build_gazetteer()
    return _GAZ
