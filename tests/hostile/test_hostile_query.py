"""Hostile input for the brand-query matcher and parser (issue #14, rows 1, 3 and 12).

Each test is a table of inputs an attacker can send (a post) or write (a query in a shared config),
with the cost bound the fix guarantees. Before the fixes: row 1, a 30k-character ``#aaaa…`` cost
4.7 s and 454 MB (100k: MemoryError); row 3, ``acme NEAR/5 (down OR outage)`` over 100k characters
cost seconds (all position pairs compared); row 12, 500 nested parentheses raised RecursionError.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest

from brandpulse.schema import Author
from ingest.feeds.contract import Post
from ingest.query import BrandMatcher, BrandSpec, MatchDoc, QuerySyntaxError, compile_query
from ingest.query._eval import Doc, Near, SpanNode
from ingest.worker import match_post
from tests.hostile.bounds import measure

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BRANDS = [
    BrandSpec("Acme", aliases=("acme", "acme corp")),
    BrandSpec("Globex", query='globex NEAR/3 (down OR outage) OR "globex support"'),
    BrandSpec("Initech", query="initech* AND NOT lang:fr"),
]
MATCHER = BrandMatcher(BRANDS)


# ---------------------------------------------------------------------- row 1: hashtag/handle prefixes
LONG_TAGS = {
    "hashtag 1k": "#" + "a" * 1_000,
    "hashtag 30k": "#" + "a" * 30_000,
    "hashtag 100k": "#" + "a" * 100_000,
    "handle 100k": "@" + "acme" * 25_000,
    "underscored tag 100k": "#" + "a_" * 50_000,
    "two tags 50k each": "#" + "a" * 50_000 + " #" + "b" * 49_990,
    "brand-prefixed tag 100k": "#acme" + "x" * 99_990,
}


@pytest.mark.parametrize("text", LONG_TAGS.values(), ids=LONG_TAGS.keys())
def test_row1_long_hashtag_costs_linear_time_and_little_memory(text: str) -> None:
    doc = MatchDoc(text)
    cost = measure(MATCHER.match, doc, max_seconds=0.5, max_mb=25)
    print(cost)
    expected = ["Acme"] if text.startswith(("#acme", "@acme")) else []
    assert MATCHER.match(doc) == expected  # the bound does not change the answer


def test_row1_every_text_field_of_a_post_is_capped_before_matching() -> None:
    huge = "#" + "a" * 3_000_000
    post = Post(source="rss", native_id="n1", text=huge, created_at=T0, title=huge, url="https://x.example/" + huge,
                author=_author(huge))
    assert len(post.text) <= 100_000 and post.title is not None and len(post.title) <= 2_000
    assert post.url is None  # over the URL limit: not a link anyone follows
    assert all(len(v or "") <= 512 for v in (post.author.id, post.author.handle, post.author.name,
                                             post.author.location))
    cost = measure(match_post, MATCHER, post, "feed", T0, max_seconds=0.5, max_mb=25)
    print(cost)


def _author(value: str) -> Author:
    return Author(id=value, handle=value, name=value, location=value)


# ---------------------------------------------------------------------- row 3: NEAR
def _near_text(chars: int) -> str:
    """Many occurrences of both operands, never within 5 words: every pair is a candidate."""
    half = chars // 2
    return ("acme " * (half // 5) + "filler " * 6 + "down " * (half // 5))[:chars]


NEAR_CASES = {
    "40k no match": (_near_text(40_000), False),
    "100k no match": (_near_text(100_000), False),
    "100k match at the end": (_near_text(99_000) + " outage acme", True),
    "100k interleaved": ("acme outage " * 8_000, True),
}


@pytest.mark.parametrize(("text", "expected"), NEAR_CASES.values(), ids=NEAR_CASES.keys())
@pytest.mark.parametrize("query", ["acme NEAR/5 (down OR outage)", "(acme NEAR/5 down) NEAR/2 (outage OR acme)",
                                   "acme ONEAR/5 (outage OR down)"])
def test_row3_near_is_bounded_on_long_text(query: str, text: str, expected: bool) -> None:
    q = compile_query(query)
    cost = measure(q.matches, MatchDoc(text), max_seconds=1.0, max_mb=60)
    print(cost)
    if query.startswith("acme NEAR"):
        assert q.matches(MatchDoc(text)) is expected


def _brute_force_near(near: Near, d: Doc, stream: str) -> list[tuple[int, int]]:
    out = set()
    for a0, a1 in near.left.spans(d, stream):
        for b0, b1 in near.right.spans(d, stream):
            if a1 < b0:
                gap = b0 - a1 - 1
            elif b1 < a0 and not near.ordered:
                gap = a0 - b1 - 1
            else:
                continue
            if gap <= near.n:
                out.add((min(a0, b0), max(a1, b1)))
    return sorted(out)


def test_row3_bounded_near_finds_exactly_what_comparing_all_pairs_finds() -> None:
    rng = random.Random(14)
    words = ["acme", "down", "outage", "x", "acme", "corp"]
    queries = ["acme NEAR/0 down", "acme NEAR/2 (down OR outage)", "acme ONEAR/1 (down OR \"acme corp\")",
               "(acme NEAR/1 down) NEAR/3 outage", "acme NEAR/4 acme", '"acme corp" ONEAR/2 (acme OR x)']
    for query, _ in itertools.product(queries, range(60)):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        node = compile_query(query).root
        assert isinstance(node, SpanNode) and isinstance(node, Near)
        d = Doc(MatchDoc(text))
        expected = _brute_force_near(node, d, "text")
        assert node.spans(d, "text") == expected, (query, text)
        assert node.matches(d) is bool(expected), (query, text)


# ---------------------------------------------------------------------- row 12: parser nesting
NESTED = {
    "500 parentheses": "(" * 500 + "acme" + ")" * 500,
    "5000 parentheses": "(" * 5_000 + "acme" + ")" * 5_000,
    "1000 NOTs": "NOT " * 1_000 + "acme",
    "parentheses and NOTs": "(NOT " * 400 + "acme" + ")" * 400,
    "unclosed 100k": "(" * 100_000,
    "NEAR chain in 300 parentheses": "(" * 300 + "a NEAR/1 b" + ")" * 300,
}


@pytest.mark.parametrize("query", NESTED.values(), ids=NESTED.keys())
def test_row12_deep_nesting_is_a_syntax_error_not_a_recursion_error(query: str) -> None:
    def compile_it() -> None:
        with pytest.raises(QuerySyntaxError, match="nested too deeply"):
            compile_query(query)

    measure(compile_it, max_seconds=1.0, max_mb=60)
    with pytest.raises(QuerySyntaxError) as exc:
        BrandMatcher([BrandSpec("Acme", query=query)])
    assert "brand 'Acme' query" in str(exc.value)  # what `config check` prints, with the brand


def test_row12_nesting_within_the_limit_still_compiles_and_matches() -> None:
    q = compile_query("(" * 31 + "acme" + ")" * 31)
    assert q.matches(MatchDoc("acme"))
    assert compile_query("NOT " * 32 + "acme").matches(MatchDoc("acme"))
