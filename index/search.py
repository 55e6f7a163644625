"""``brandpulse search``: a quick look at indexed mentions without Kibana.

>>> build_query(text="refund", brand="Nimbus Air", sentiment="negative", since="24h", until=None,
...             now=datetime(2026, 11, 20, tzinfo=UTC))["bool"]["filter"][0]
{'term': {'brand': 'Nimbus Air'}}
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from elasticsearch import Elasticsearch

from brandpulse.esclient import mention_filters

SEARCH_FIELDS = ("text", "text_lang.*", "title", "author.handle")


def build_query(
    *,
    text: str | None,
    brand: str | None,
    sentiment: str | None,
    since: str | None,
    until: str | None,
    lang: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    filters = mention_filters(brand=brand, sentiment=sentiment, lang=lang, since=since, until=until, now=now)
    must: list[dict[str, Any]] = []
    if text:
        # simple_query_string never throws on user syntax errors, unlike query_string. Each word
        # may match the standard-analysed text or the language-analysed copy (text_lang.<code>,
        # stemmed where the cluster has the analyser); a pattern no index maps matches nothing.
        must.append({"simple_query_string": {"query": text, "fields": list(SEARCH_FIELDS),
                                             "default_operator": "and"}})
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}


def search(es: Elasticsearch, index: str, query: dict[str, Any], size: int) -> list[dict[str, Any]]:
    resp = es.search(index=index, query=query, size=size, sort=[{"created_at": "desc"}],
                     ignore_unavailable=True, allow_no_indices=True)
    return [h["_source"] | {"_index": h["_index"]} for h in resp["hits"]["hits"]]


def print_table(rows: Sequence[dict[str, Any]], out: TextIO, total: int | None = None) -> None:
    width = max(60, shutil.get_terminal_size((120, 20)).columns)
    fixed = 16 + 1 + 12 + 1 + 8 + 1 + 3 + 1 + 14 + 1
    text_w = max(20, width - fixed)
    out.write(f"{'created (UTC)':16} {'brand':12} {'senti':8} {'lng':3} {'author':14} text\n")
    for r in rows:
        e = r.get("enrichment") or {}
        created = str(r.get("created_at", ""))[:16].replace("T", " ")
        label = (e.get("sentiment") or {}).get("label", "-")
        lang = (e.get("language") or {}).get("code") or r.get("lang") or "-"
        author = (r.get("author") or {}).get("handle") or "-"
        text = " ".join(str(r.get("text", "")).split())
        if len(text) > text_w:
            text = text[: text_w - 1] + "…"
        out.write(f"{created:16} {r.get('brand', '')[:12]:12} {label:8} {lang:3} {author[:14]:14} {text}\n")
    shown = f"{len(rows)} shown" + (f" of {total}" if total is not None else "")
    out.write(f"-- {shown}\n")


def print_json(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    for r in rows:
        out.write(json.dumps(r, ensure_ascii=False) + "\n")
