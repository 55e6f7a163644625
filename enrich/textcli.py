"""Enrich text from standard input: one JSON object or one plain-text post per line.

Each input line becomes exactly one output line, in order:

* a JSON object line (starts with ``{``) is read as a ``Mention``: its fields that a Mention has
  are validated (an invalid one gives an error line), any other fields are carried along
  untouched. Missing required fields get defaults for the analysis only: ``source`` "cli",
  ``feed`` "stdin", ``brand`` "-", ``native_id`` = the object's ``id`` (as a string) or else the
  line number, ``created_at``/``fetched_at`` now, and an internal Mention id derived from
  source/native_id/brand. A ``text`` field is required;
* any other non-empty line is the text of a post (``native_id`` = line number);
* blank lines are skipped (no output line).

Output, so that output joins to input line by line and by id:

* for a JSON object line: **the input object itself, every field unchanged** (its own ``id``
  included, whatever its type), with ``enrichment`` added (replacing an ``enrichment`` field the
  input may have had). The defaults above are not written back;
* for a plain-text line: the enriched Mention as JSON (``id``, ``native_id`` = line number, ...);
* for a line that could not be read or enriched: ``{"line": N, "error": "...", "id": ...}``, with
  the input's own ``id`` when it had one (the line number for plain-text lines).

In both success cases ``enrichment.sentiment.label`` is there, and ``enrichment.failures`` names
any tagger that raised (the other taggers' results are still given).

Exit code: 0 when every line was enriched, 1 when at least one line produced an error line,
2 when the input could not be read at all (for example invalid UTF-8 on a strict stream: wrap
stdin with ``errors="surrogateescape"`` to get an error line per bad line instead).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
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


_MENTION_FIELDS = frozenset(Mention.model_fields)


@dataclass(frozen=True, slots=True)
class _Line:
    lineno: int
    mention: Mention
    original: dict[str, Any] | None  # the JSON object as read (None for a plain-text line)


def mention_from_line(line: str, lineno: int, now: datetime | None = None) -> Mention:
    """Build a Mention from one input line (JSON object or plain text). Raises SchemaError."""
    return _read_line(line, lineno, now).mention


def _read_line(line: str, lineno: int, now: datetime | None = None) -> _Line:
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
        if "text" not in obj:
            raise SchemaError("text: field required")
        obj = _clean(obj)
        data: dict[str, Any] = {k: v for k, v in obj.items() if k in _MENTION_FIELDS}
        data.pop("enrichment", None)  # ours replaces it; an input one is not validated
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
        return _Line(lineno, Mention.from_dict(data), obj)
    mention = Mention.from_dict(
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
    return _Line(lineno, mention, None)


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
    pending: list[_Line | str] = []

    def flush() -> None:
        nonlocal errors
        mentions = [item.mention for item in pending if isinstance(item, _Line)]
        results = iter(enricher.enrich(mentions)) if mentions else iter(())
        for item in pending:
            if isinstance(item, str):
                stdout.write(item + "\n")
                errors += 1
                continue
            res = next(results)
            if isinstance(res, EnrichmentFailure):
                ident = item.original.get("id") if item.original is not None else item.mention.native_id
                stdout.write(_error_line(item.lineno, res.reason, ident) + "\n")
                errors += 1
            elif item.original is not None and res.enrichment is not None:
                enrichment = res.enrichment.model_dump(mode="json", exclude_none=True)
                stdout.write(json.dumps({**item.original, "enrichment": enrichment}, ensure_ascii=False) + "\n")
            else:
                stdout.write(json.dumps(res.to_dict(), ensure_ascii=False) + "\n")
        pending.clear()
        stdout.flush()

    try:
        for lineno, line in _lines(stdin):
            try:
                pending.append(_read_line(line, lineno))
            except SchemaError as exc:
                pending.append(_error_line(lineno, exc.reason, _input_id(line)))
            if len(pending) >= batch_size:
                flush()
    except UnicodeDecodeError as exc:
        flush()
        stdout.write(_error_line(0, f"input is not valid UTF-8: {exc.reason} at byte {exc.start}") + "\n")
        return 2
    flush()
    return 1 if errors else 0


def _input_id(line: str) -> Any:
    """The ``id`` of a JSON object line that failed validation, so its error line joins back."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return None
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    return _clean(obj.get("id")) if isinstance(obj, dict) else None
