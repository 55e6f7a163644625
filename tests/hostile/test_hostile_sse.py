"""A hostile Mastodon streaming server against the server-sent-events parser (issue #14, row 13).

Before the fix the buffer was re-sliced per line, so a chunk with many lines cost time quadratic
in its size: one 2.4 MB chunk took 19 s (7.6 s on the CI machine) where the same bytes in 16 KB
chunks took 0.1 s, and 2.4 MB of bare-CR heartbeats took 153 s.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.feeds.mastodon import iter_sse
from tests.hostile.bounds import measure

STATUS = json.dumps({"id": "1", "uri": "https://m.example/s/1", "content": "<p>acme</p>",
                     "created_at": "2026-03-02T09:00:00Z"})
EVENT = f"event: update\ndata: {STATUS}\n\n".encode()
STREAM = EVENT * (2_400_000 // len(EVENT))


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


CASES = {
    "one 2.4 MB chunk": ([STREAM], len(STREAM) // len(EVENT)),
    "the same in 16 KB chunks": (_chunks(STREAM, 16_384), len(STREAM) // len(EVENT)),
    "the same in 7-byte chunks": (_chunks(STREAM[:300_000], 7), 300_000 // len(EVENT)),
    "1.2 MB of bare-CR heartbeats": ([b":\r" * 600_000], 0),
    "CRLF heartbeats, one CR per chunk end": (_chunks(b":\r\n" * 200_000, 2), 0),
    "a 3 MB line without an end": (_chunks(b"data: " + b"z" * 3_000_000, 65_536), 0),
    "one 2.4 MB data line": ([b"event: update\ndata: " + b"w" * 2_400_000 + b"\n\n"], 0),  # over the 2 MB limit
}


@pytest.mark.parametrize(("chunks", "events"), CASES.values(), ids=CASES.keys())
def test_row13_sse_parsing_is_linear_however_the_bytes_are_chunked(chunks: list[bytes], events: int) -> None:
    def parse() -> None:
        assert sum(1 for _ in iter_sse(iter(chunks))) == events

    size_mb = sum(map(len, chunks)) / 1e6
    cost = measure(parse, max_seconds=2.0, max_mb=3 * size_mb + 10)
    print(cost)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=12),
       st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_row13_the_events_do_not_depend_on_the_chunking(cuts: list[int], eol: bytes) -> None:
    body = eol.join([b":hb", b"event: update", b"data: {\"a\":", b"data: 1}", b"", b"data: x", b"", b""])
    body = body * 8
    points = sorted({min(c, len(body)) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert list(iter_sse(iter(pieces))) == list(iter_sse(iter([body])))
