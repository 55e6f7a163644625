"""How each channel renders a digest record (``alerts.digest.build_digest``: ``event == "digest"``).

The webhook channel needs nothing here: it posts the record itself as JSON, signed, with its
``idempotency_key`` (``digest:<period>:<start>``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from .base import clip, one_line

MAX_BRANDS = 20  # Slack allows 50 blocks; Teams cards get slow well before that


def is_digest(record: Mapping[str, Any]) -> bool:
    return record.get("event") == "digest"


def _brands(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = record.get("brands")
    return [r for r in rows if isinstance(r, Mapping)][:MAX_BRANDS] if isinstance(rows, list) else []


def row_text(row: Mapping[str, Any]) -> str:
    """``1,204 mentions · 180 negative (15%) · 1 alert opened (high) · keywords: refund, delay``."""
    line = brand_line(row)
    return line.split(": ", 1)[1] if ": " in line else line


def brand_line(row: Mapping[str, Any]) -> str:
    """``Acme: 1,204 mentions · 180 negative (15%) · 1 alert opened (high) · keywords: refund, delay``."""
    parts = [f"{row['volume']:,} mentions", f"{row['negative']:,} negative ({row['negative_share'] * 100:.0f}%)"]
    n = row["alerts_opened"]
    if n:
        parts.append(f"{n} alert{'s' if n != 1 else ''} opened ({row['worst_severity']})")
    if row.get("top_keywords"):
        parts.append("keywords: " + ", ".join(row["top_keywords"]))
    return f"{row['brand']}: " + " · ".join(parts)


def format_digest_console(record: Mapping[str, Any]) -> str:
    lines = [f"DIGEST {record['title']}: {record['summary']}"]
    lines += [f"  {brand_line(r)}" for r in record["brands"]]
    if not record["brands"]:
        lines.append("  no mentions")
    return "\n".join(lines)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(record: Mapping[str, Any]) -> dict[str, Any]:
    title, summary = one_line(record.get("title")), one_line(record.get("summary"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": clip(f"📊 {title}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(f"*{_esc(summary)}*", 3000)}},
    ]
    for row in _brands(record):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(
            f"*{_esc(one_line(row.get('brand')))}*\n{_esc(row_text(row))}", 3000)}})
    if not _brands(record):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "No mentions in this period."}]})
    return {"text": clip(f"📊 {_esc(title)}: {_esc(summary)}", 3000), "blocks": blocks}


def teams_card(record: Mapping[str, Any]) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": one_line(record.get("title")), "weight": "Bolder", "size": "Medium",
         "wrap": True},
        {"type": "TextBlock", "text": one_line(record.get("summary")), "wrap": True, "isSubtle": True},
    ]
    facts = [{"title": one_line(r.get("brand")), "value": row_text(r)} for r in _brands(record)]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}


def email_subject(record: Mapping[str, Any], prefix: str) -> str:
    return clip(one_line(f"{prefix}[DIGEST] {record.get('title')}: {record.get('summary')}"), 250)


def email_text(record: Mapping[str, Any]) -> str:
    lines = [one_line(record.get("title")), one_line(record.get("summary")), ""]
    lines += [f"- {one_line(r.get('brand'))}: {row_text(r)}" for r in _brands(record)]
    return "\n".join(lines) + "\n"


def email_html(record: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(one_line(r.get('brand')))}</b></td><td>{html.escape(row_text(r))}</td></tr>"
        for r in _brands(record))
    return (f"<html><body><h2>{html.escape(one_line(record.get('title')))}</h2>"
            f"<p>{html.escape(one_line(record.get('summary')))}</p><table>{rows}</table></body></html>")
