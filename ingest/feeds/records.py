"""The JSON form of a Post (replay files, webhook bodies) and loose access to untrusted JSON."""

from __future__ import annotations

import json
import re
from typing import Any

from brandpulse.schema import Author, Engagement, Geo
from brandpulse.timeparse import parse_timestamp

# raw_json lives beside ItemError (the contract); re-exported here with the other JSON helpers.
from .contract import Post
from .contract import raw_json as raw_json


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_count(value: Any) -> int:
    """A non-negative int from a count field that may be missing, null, a string or negative."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def loads_json(data: str | bytes) -> Any:
    """``json.loads`` for bytes from outside: every way it can fail is a ``ValueError`` with a
    one-line reason, including the two that are not ``JSONDecodeError`` — nesting deeper than the
    interpreter's recursion limit (``[[[[…``) and an integer of more than 4300 digits."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"malformed JSON: {str(exc)[:200]}") from None


def post_from_record(obj: Any, *, default_source: str, force_source: bool = False) -> Post:
    """A Post from its JSON form; raises ``ValueError`` with a one-line reason.

    Unknown keys are ignored so that exported Mentions (which carry id, brand, enrichment, ...) can
    be replayed as they are. ``force_source`` ignores the record's own ``source`` (a webhook sender
    must not pick it: mention ids hash the source, so it could overwrite another source's posts).
    """
    from pydantic import ValidationError

    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    native_id = as_str(obj.get("native_id"))
    if native_id is None:
        raise ValueError("missing native_id")
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError("missing text" if text is None else f"text is {type(text).__name__}, not a string")
    if "created_at" not in obj:
        raise ValueError("missing created_at")
    try:
        created_at = parse_timestamp(obj["created_at"])
    except ValueError as exc:
        raise ValueError(f"created_at: {exc}") from exc
    source = default_source if force_source else obj.get("source", default_source)
    if not isinstance(source, str) or not source:
        raise ValueError("source must be a non-empty string")
    for key in ("title", "url", "lang", "country"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f"{key} must be a string")
    country = obj.get("country")
    if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
        raise ValueError(f"country must be an ISO 3166 alpha-2 code, got {country[:10]!r}")
    try:
        author = Author.model_validate(obj.get("author") or {})
        geo = Geo.model_validate(obj["geo"]) if obj.get("geo") is not None else None
        engagement = Engagement.model_validate(obj.get("engagement") or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        section = exc.title.lower()
        raise ValueError(f"{section}.{loc}: {err['msg']}" if loc else f"{section}: {err['msg']}") from exc
    return Post(
        source=source,
        native_id=native_id,
        text=text,
        created_at=created_at,
        title=obj.get("title") or None,
        url=obj.get("url") or None,
        author=author,
        geo=geo,
        engagement=engagement,
        lang=obj.get("lang") or None,
        country=country or None,
    )


def post_to_record(post: Post) -> dict[str, Any]:
    """The inverse of :func:`post_from_record` (used to write replay files and fixtures)."""
    record: dict[str, Any] = {
        "source": post.source,
        "native_id": post.native_id,
        "text": post.text,
        "created_at": post.created_at.isoformat().replace("+00:00", "Z"),
    }
    for key in ("title", "url", "lang", "country"):
        if getattr(post, key) is not None:
            record[key] = getattr(post, key)
    author = post.author.model_dump(exclude_none=True)
    if author:
        record["author"] = author
    if post.geo is not None:
        record["geo"] = post.geo.model_dump()
    if post.engagement != Engagement():
        record["engagement"] = post.engagement.model_dump(exclude_none=True)
    return record
