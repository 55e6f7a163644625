"""The Mastodon streaming mode's pure parts: server-sent events framing and endpoint discovery."""

from __future__ import annotations

import json

import pytest

from ingest.feeds.mastodon import iter_sse, streaming_base


def _events(*chunks: bytes, limit: int = 2_000_000) -> list[tuple[str, str]]:
    return list(iter_sse(iter(chunks), max_event_bytes=limit))


def test_update_events_with_heartbeats_and_split_chunks() -> None:
    status = {"id": "1", "content": "<p>#acme چائے</p>"}
    frame = f"event: update\ndata: {json.dumps(status, ensure_ascii=False)}\n\n".encode()
    # heartbeats (comments), a frame split in the middle of a UTF-8 character, then a delete
    cut = frame.index("چ".encode()) + 1
    got = _events(b":)\n", b":thump\n", frame[:cut], frame[cut:], b"event: delete\ndata: 1\n\n")
    assert got == [("update", json.dumps(status, ensure_ascii=False)), ("delete", "1")]
    assert json.loads(got[0][1]) == status


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings_multiline_data_and_default_event(newline: bytes) -> None:
    body = newline.join([b"event: status.update", b"data: {\"a\":", b"data: 1}", b"", b"data:x", b"", b""])
    # every byte on its own: a CR at a chunk's end must wait to see whether LF follows
    got = _events(*(body[i:i + 1] for i in range(len(body))))
    assert got == [("status.update", '{"a":\n1}'), ("message", "x")]


def test_an_event_without_data_and_an_unfinished_event_yield_nothing() -> None:
    assert _events(b"event: update\n\n", b"event: update\ndata: {}") == []


def test_oversized_events_are_dropped_not_buffered() -> None:
    big = b"event: update\ndata: " + b"x" * 5000 + b"\n\n"
    endless = b"data: " + b"y" * 5000  # no newline at all
    got = _events(big, b"event: update\ndata: ok\n\n", endless, limit=1000)
    assert got == [("update", "ok")]


def test_streaming_base_from_v2_v1_or_the_api_host() -> None:
    v2 = {"configuration": {"urls": {"streaming": "wss://streaming.example.social"}}}
    assert streaming_base(v2, "https://example.social") == "https://streaming.example.social"
    v1 = {"urls": {"streaming_api": "ws://127.0.0.1:4000/"}}
    assert streaming_base(v1, "https://example.social") == "http://127.0.0.1:4000"
    assert streaming_base({"configuration": {}}, "https://example.social/") == "https://example.social"
    assert streaming_base(["not", "an", "object"], "https://example.social") == "https://example.social"
