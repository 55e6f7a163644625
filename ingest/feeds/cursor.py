"""Cursors: the bounded dedup window connectors keep between polls, and the cursor size bound.

The worker stores each feed's cursor in the compacted state topic after the poll's records are
acknowledged; :func:`check_cursor_size` is enforced there, so no connector can bloat it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .contract import FeedError

# The worker stores cursors next to offsets; the bound keeps a runaway seen-window from bloating it.
MAX_CURSOR_BYTES = 64 * 1024


def short_hash(value: str) -> str:
    """12 hex chars (48 bits): ample for a few thousand ids, and small enough to keep cursors tiny."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class SeenWindow:
    """A bounded, insertion-ordered set of hashed ids for dedup across polls.

    Feeds slide old items back in (edits, re-sorting, Google Alerts re-issuing); remembering the last
    N ids drops them. Ids are hashed so long URLs cannot blow the cursor's size budget; the oldest
    entries fall out first.
    """

    def __init__(self, entries: Iterable[Any] = (), *, max_entries: int) -> None:
        self.max_entries = max_entries
        self._ids: dict[str, None] = {}
        for e in entries:
            if isinstance(e, str):
                self._ids[e] = None
        self._trim()

    def __contains__(self, native_id: str) -> bool:
        return short_hash(native_id) in self._ids

    def add(self, native_id: str) -> None:
        h = short_hash(native_id)
        self._ids.pop(h, None)
        self._ids[h] = None
        self._trim()

    def _trim(self) -> None:
        excess = len(self._ids) - self.max_entries
        if excess > 0:
            for key in list(self._ids)[:excess]:
                del self._ids[key]

    def to_list(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def check_cursor_size(feed: str, cursor: Mapping[str, Any] | None) -> None:
    """Guard the contract's 64 KB bound; a bug here should fail loudly in tests, not in Kafka."""
    if cursor is None:
        return
    size = len(json.dumps(cursor, separators=(",", ":")).encode())
    if size > MAX_CURSOR_BYTES:
        raise FeedError(feed, f"cursor is {size} bytes, over the {MAX_CURSOR_BYTES}-byte bound")

