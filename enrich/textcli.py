"""Enrich text from standard input: one JSON object or one plain-text post per line.

Each input line becomes exactly one output line, in order:

* a JSON object line (starts with ``{``) is read as a ``Mention``; missing required fields get
  defaults: ``source`` "cli", ``feed`` "stdin", ``brand`` "-", ``native_id`` = the object's ``id`` (as
  a string) or else the line number, ``created_at``/``fetched_at`` now, and the Mention ``id``
  derived from source/native_id/brand (an explicit 32-hex ``id`` that already is a Mention id is
  kept). A ``text`` field is required;
* any other non-empty line is the text of a post (``native_id`` = line number);
* blank lines are skipped (no output line).

Output: the enriched Mention as JSON (so ``enrichment.sentiment.label`` is there), or, for a line
that could not be read or enriched, ``{"line": N, "error": "...", "id": ...}``.

Exit code: 0 when every line was enriched, 1 when at least one line produced an error line,
2 when the input could not be read at all (for example invalid UTF-8 on a strict stream: wrap
stdin with ``errors="surrogateescape"`` to get an error line per bad line instead).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from brandpulse.schema import Mention, SchemaError, mention_id
from enrich.pipeline import Enricher, EnrichmentFailure

DEFAULT_SOURCE = "cli"
DEFAULT_FEED = "stdin"
DEFAULT_BRAND = "-"
_MENTION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_SURROGATES_RE = re.compile(r"[\ud800-\udfff]")


def _clean(value: Any) -> Any:
    """Lone surrogates (from ``\\ud800`` escapes or surrogateescape'd bytes) -> U+FFFD."""
    if isinstance(value, str):
        return _SURROGATES_RE.sub("\ufffd", value) if not value.isascii() else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def mention_from_line(line: str, lineno: int, now: datetime | None = None) -> Mention:
    """Build a Mention from one input line (JSON object or plain text). Raises SchemaError."""
    now = now or datetime.now(UTC)
    stamp = now.isoformat()
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"malformed JSON: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(obj, dict):
            raise SchemaError(f"expected a JSON object, got {type(obj).__name__}")
        data: dict[str, Any] = _clean(obj)
        if "text" not in data:
            raise SchemaError("text: field required")
        raw_id = data.get("id")
        data.setdefault("source", DEFAULT_SOURCE)
        data.setdefault("feed", DEFAULT_FEED)
        data.setdefault("brand", DEFAULT_BRAND)
        if "native_id" not in data:
            data["native_id"] = str(raw_id) if raw_id not in (None, "") else str(lineno)
        data.setdefault("created_at", stamp)
        data.setdefault("fetched_at", stamp)
        if not (isinstance(raw_id, str) and _MENTION_ID_RE.match(raw_id)):
            data["id"] = mention_id(str(data["source"]), str(data["native_id"]), str(data["brand"]))
        return Mention.from_dict(data)
    return Mention.from_dict(
        {
            "id": mention_id(DEFAULT_SOURCE, str(lineno), DEFAULT_BRAND),
            "source": DEFAULT_SOURCE,
            "feed": DEFAULT_FEED,
            "native_id": str(lineno),
            "brand": DEFAULT_BRAND,
            "text": _clean(line.rstrip("\r\n")),
            "created_at": stamp,
            "fetched_at": stamp,
        }
    )


def _error_line(lineno: int, error: str, ident: Any = None) -> str:
    out: dict[str, Any] = {"line": lineno, "error": error}
    if ident is not None:
        out["id"] = ident
    return json.dumps(out, ensure_ascii=False)


def _lines(stdin: TextIO) -> Iterator[tuple[int, str]]:
    for lineno, line in enumerate(stdin, start=1):
        if line.strip():
            yield lineno, line


def run_enrich_text(stdin: TextIO, stdout: TextIO, enricher: Enricher, *, batch_size: int = 64) -> int:
    """Read lines from ``stdin``, write one enriched JSON object (or error object) per line."""
    batch_size = max(1, batch_size)
    errors = 0
    pending: list[tuple[int, Mention | str]] = []

    def flush() -> None:
        nonlocal errors
        mentions = [item for _, item in pending if isinstance(item, Mention)]
        results = iter(enricher.enrich(mentions)) if mentions else iter(())
        for lineno, item in pending:
            if isinstance(item, str):
                stdout.write(item + "\n")
                errors += 1
                continue
            res = next(results)
            if isinstance(res, EnrichmentFailure):
                stdout.write(_error_line(lineno, res.reason, item.native_id) + "\n")
                errors += 1
            else:
                stdout.write(json.dumps(res.to_dict(), ensure_ascii=False) + "\n")
        pending.clear()
        stdout.flush()

    try:
        for lineno, line in _lines(stdin):
            try:
                pending.append((lineno, mention_from_line(line, lineno)))
            except SchemaError as exc:
                pending.append((lineno, _error_line(lineno, exc.reason)))
            if len(pending) >= batch_size:
                flush()
    except UnicodeDecodeError as exc:
        flush()
        stdout.write(_error_line(0, f"input is not valid UTF-8: {exc.reason} at byte {exc.start}") + "\n")
        return 2
    flush()
    return 1 if errors else 0
