from __future__ import annotations

import io
from datetime import UTC, datetime

from index.search import build_query, print_table

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def test_filters_are_exact_and_text_is_searched() -> None:
    q = build_query(text="lost bag", brand="Nimbus Air", sentiment="negative", lang="ur", since="1h",
                    until=None, now=NOW)["bool"]
    assert {"term": {"brand": "Nimbus Air"}} in q["filter"]
    assert {"term": {"enrichment.sentiment.label": "negative"}} in q["filter"]
    assert {"term": {"enrichment.language.code": "ur"}} in q["filter"]
    assert {"range": {"created_at": {"gte": "2026-11-20T17:00:00+00:00"}}} in q["filter"]
    assert q["must"][0]["simple_query_string"]["query"] == "lost bag"
    assert q["must"][0]["simple_query_string"]["fields"] == ["text", "text_lang.*", "title", "author.handle"]
    empty = build_query(text=None, brand=None, sentiment=None, since=None, until=None, now=NOW)["bool"]
    assert empty == {"must": [{"match_all": {}}], "filter": []}


def test_table_keeps_scripts_and_counts() -> None:
    out = io.StringIO()
    print_table([{"created_at": "2026-11-20T17:45:00+00:00", "brand": "Nimbus Air", "text": "نمبس ایئر بہت برا",
                  "author": {"handle": "zara"}, "enrichment": {"sentiment": {"label": "negative"},
                                                               "language": {"code": "ur"}}}], out, total=7)
    text = out.getvalue()
    assert "نمبس ایئر بہت برا" in text and "negative" in text and "1 shown of 7" in text
