"""How each channel renders a digest record (``brandpulse.schema.DigestRecord``, built by
``alerts.digest.build_digest``): one row per brand, then each competitor group's share of voice.

The webhook channel needs nothing here: it posts the record itself as JSON, signed, with its
``idempotency_key`` (``digest:<period>:<start>``).
"""

from __future__ import annotations

import html

from brandpulse.schema import DigestBrand, DigestRecord, VoiceGroup

from .base import clip, one_line

MAX_BRANDS = 20  # Slack allows 50 blocks; Teams cards get slow well before that
MAX_GROUPS = 10


def _brands(record: DigestRecord) -> list[DigestBrand]:
    return list(record.brands[:MAX_BRANDS])


def _groups(record: DigestRecord) -> list[VoiceGroup]:
    return list(record.share_of_voice[:MAX_GROUPS])


def row_text(row: DigestBrand) -> str:
    """``1,204 mentions · 180 negative (15%) · 40 stories · 1 alert opened (high) · keywords: refund``."""
    parts = [f"{row.volume:,} mentions", f"{row.negative:,} negative ({row.negative_share * 100:.0f}%)"]
    if row.stories:
        parts.append(f"{row.stories:,} stor{'ies' if row.stories != 1 else 'y'}")
    n = row.alerts_opened
    if n:
        parts.append(f"{n} alert{'s' if n != 1 else ''} opened ({row.worst_severity})")
    if row.top_keywords:
        parts.append("keywords: " + ", ".join(row.top_keywords))
    return " · ".join(parts)


def brand_line(row: DigestBrand) -> str:
    """``Acme: 1,204 mentions · 180 negative (15%) · 1 alert opened (high) · keywords: refund, delay``."""
    return f"{row.brand}: {row_text(row)}"


def voice_text(group: VoiceGroup) -> str:
    """``Nimbus Air 62% (1,204 mentions, 15% negative, 40 stories) · SkyJet 38% (…)``: side by side."""
    return " · ".join(f"{b.brand} {b.share_of_voice * 100:.0f}% ({b.volume:,} mentions, "
                      f"{b.negative_share * 100:.0f}% negative, {b.stories:,} stories)" for b in group.brands)


def format_digest_console(record: DigestRecord) -> str:
    lines = [f"DIGEST {record.title}: {record.summary}"]
    lines += [f"  {brand_line(r)}" for r in record.brands]
    if not record.brands:
        lines.append("  no mentions")
    lines += [f"  share of voice, {g.group}: {voice_text(g)}" for g in record.share_of_voice]
    return "\n".join(lines)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(record: DigestRecord) -> dict[str, object]:
    title, summary = one_line(record.title), one_line(record.summary)
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": clip(f"📊 {title}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(f"*{_esc(summary)}*", 3000)}},
    ]
    for row in _brands(record):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(
            f"*{_esc(one_line(row.brand))}*\n{_esc(row_text(row))}", 3000)}})
    if not _brands(record):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "No mentions in this period."}]})
    for g in _groups(record):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(
            f"*Share of voice · {_esc(one_line(g.group))}*\n{_esc(voice_text(g))}", 3000)}})
    return {"text": clip(f"📊 {_esc(title)}: {_esc(summary)}", 3000), "blocks": blocks}


def teams_card(record: DigestRecord) -> dict[str, object]:
    body: list[dict[str, object]] = [
        {"type": "TextBlock", "text": one_line(record.title), "weight": "Bolder", "size": "Medium",
         "wrap": True},
        {"type": "TextBlock", "text": one_line(record.summary), "wrap": True, "isSubtle": True},
    ]
    facts = [{"title": one_line(r.brand), "value": row_text(r)} for r in _brands(record)]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    for g in _groups(record):
        body.append({"type": "TextBlock", "text": f"Share of voice · {one_line(g.group)}", "weight": "Bolder",
                     "separator": True, "wrap": True})
        body.append({"type": "FactSet", "facts": [
            {"title": one_line(b.brand), "value": f"{b.share_of_voice * 100:.0f}% · {b.volume:,} mentions · "
                                                  f"{b.negative_share * 100:.0f}% negative · {b.stories:,} stories"}
            for b in g.brands]})
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}


def email_subject(record: DigestRecord, prefix: str) -> str:
    return clip(one_line(f"{prefix}[DIGEST] {record.title}: {record.summary}"), 250)


def email_text(record: DigestRecord) -> str:
    lines = [one_line(record.title), one_line(record.summary), ""]
    lines += [f"- {one_line(r.brand)}: {row_text(r)}" for r in _brands(record)]
    for g in _groups(record):
        lines += ["", f"Share of voice, {one_line(g.group)}:", f"  {voice_text(g)}"]
    return "\n".join(lines) + "\n"


def email_html(record: DigestRecord) -> str:
    e = html.escape
    rows = "".join(f"<tr><td><b>{e(one_line(r.brand))}</b></td><td>{e(row_text(r))}</td></tr>"
                   for r in _brands(record))
    parts = [f"<html><body><h2>{e(one_line(record.title))}</h2>",
             f"<p>{e(one_line(record.summary))}</p><table>{rows}</table>"]
    for g in _groups(record):
        cells = "".join(
            f"<tr><td><b>{e(one_line(b.brand))}</b></td><td>{b.share_of_voice * 100:.0f}%</td>"
            f"<td>{b.volume:,}</td><td>{b.negative_share * 100:.0f}%</td><td>{b.stories:,}</td></tr>"
            for b in g.brands)
        parts.append(f"<h3>Share of voice · {e(one_line(g.group))}</h3><table><tr><th>brand</th><th>share</th>"
                     f"<th>mentions</th><th>negative</th><th>stories</th></tr>{cells}</table>")
    parts.append("</body></html>")
    return "".join(parts)
