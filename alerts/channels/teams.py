"""Microsoft Teams: an Adaptive Card posted to a Workflows (Power Automate) webhook or a legacy
incoming-webhook connector.

Both accept ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <card>}]}``. Workflows answer 202; legacy
connectors answer 200 even on failure, with ``...returned HTTP error 429...`` in the body, so the
body is checked too. The card uses schema 1.4, the highest version Workflows posts reliably.

Text from the internet (mention bodies, authors, hashtags) goes into ``RichTextBlock``/``TextRun``,
which Teams does not parse as Markdown: a post cannot inject links or formatting into the card.
The card shows the window's stories and what is new in them, and the chart as an ``Image`` whose
URL is the signed link the alert worker serves (``alerts.chart_url``; Teams fetches it). Incoming
webhooks and Workflows cannot reply in a thread: each event is a new card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from brandpulse.schema import AlertRecord

from .base import (
    ChannelBase,
    ChannelOptions,
    DeliveryError,
    Record,
    SecretRef,
    author_label,
    check_http_url,
    clip,
    counts_line,
    event_phrase,
    fmt_number,
    fmt_share,
    fmt_window,
    followers_label,
    new_session,
    new_terms_line,
    one_line,
    post,
    resolve_secret,
    safe_url,
    severity_label,
    status_emoji,
    story_summary,
    top_mentions,
    topics,
    wrapped_status,
)
from .digest import teams_card as teams_digest_card

CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MENTION_TEXT_MAX = 300
# Teams rejects messages over ~28 KB; clipped texts keep a full card around 6 KB.

_COLOR = {"low": "Accent", "medium": "Warning", "high": "Attention", "critical": "Attention"}


class TeamsOptions(ChannelOptions):
    webhook_url: SecretRef
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    max_mentions: int = Field(3, ge=0, le=5)


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*inlines: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(inlines), **props}


def build_card(alert: AlertRecord, *, max_mentions: int = 3) -> dict[str, Any]:
    brand = one_line(alert.brand) or "?"
    label = severity_label(alert)
    resolved = alert.event == "resolved"
    color = "Good" if resolved else _COLOR.get(alert.severity.lower(), "Attention")
    title = f"{status_emoji(alert)} {label} · {brand} — {event_phrase(alert)}"

    facts = [
        {"title": "Negative mentions", "value": f"{fmt_number(alert.observed_negative)} "
                                                 f"(expected ~{fmt_number(alert.expected_negative)})"},
    ]
    share, usual = fmt_share(alert.negative_share), fmt_share(alert.expected_share)
    if share is not None:
        facts.append({"title": "Negative share",
                      "value": share + (f" (usual {usual})" if usual and alert.expected_share else "")})
    if alert.observed_total is not None:
        facts.append({"title": "All mentions", "value": fmt_number(alert.observed_total)})
    facts.append({"title": "Window", "value": fmt_window(alert)})
    facts.append({"title": "Alert", "value": f"{alert.alert_id} ({alert.event})"})

    body: list[dict[str, Any]] = [
        # A plain TextBlock for the title: it is our own text, and TextBlock supports size/colour.
        {"type": "TextBlock", "text": clip(title, 200), "size": "Large", "weight": "Bolder",
         "color": color, "wrap": True},
        _rich(_run(one_line(alert.reason), weight="Bolder")),
        _rich(_run(counts_line(alert), isSubtle=True), spacing="None"),
        {"type": "FactSet", "facts": facts},
    ]
    chart = safe_url(alert.chart_url)
    if chart:
        body.append({"type": "Image", "url": chart, "altText": "negative and total mentions of the last hours "
                     "against the expected band", "size": "Stretch"})
    for label_, values in topics(alert):
        body.append(_rich(_run(label_ + ": ", weight="Bolder"), _run(", ".join(values)), spacing="Small"))
    if alert.stories:
        body.append({"type": "TextBlock", "text": "Stories (most negative mentions first)", "weight": "Bolder",
                     "separator": True, "spacing": "Medium", "wrap": True})
    for st in alert.stories[:3]:
        body.append({"type": "Container", "spacing": "Small", "items": [
            _rich(_run(story_summary(st), weight="Bolder")),
            _rich(_run(author_label(st.first) + ": ", isSubtle=True),
                  _run(clip(one_line(st.first.text), MENTION_TEXT_MAX), italic=True), spacing="None"),
        ]})
    new = new_terms_line(alert.new_terms)
    if new:
        body.append(_rich(_run("New against the usual talk: ", weight="Bolder"), _run(new), spacing="Small"))

    mentions = top_mentions(alert, max_mentions)
    if mentions:
        body.append({"type": "TextBlock", "text": "Top negative mentions", "weight": "Bolder",
                     "separator": True, "spacing": "Medium", "wrap": True})
    for m in mentions:
        url = safe_url(m.url)
        who = _run(author_label(m), weight="Bolder")
        if url:
            who["selectAction"] = {"type": "Action.OpenUrl", "url": url, "title": "Open post"}
            who["color"] = "Accent"
        meta = [x for x in (followers_label(m), one_line(m.lang) or None) if x]
        head = [who] + ([_run(" · " + " · ".join(meta), isSubtle=True)] if meta else [])
        body.append({"type": "Container", "spacing": "Small", "items": [
            _rich(*head),
            _rich(_run(clip(one_line(m.text), MENTION_TEXT_MAX), italic=True), spacing="None"),
        ]})

    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": clip(f"[{label}] {brand}: {one_line(alert.reason)}", 500),
        "body": body,
    }
    kibana = safe_url(alert.kibana_url)
    if kibana:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Kibana", "url": kibana}]
    return card


def build_payload(alert: Record, *, max_mentions: int = 3) -> dict[str, Any]:
    card = build_card(alert, max_mentions=max_mentions) if isinstance(alert, AlertRecord) else teams_digest_card(alert)
    return {
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


class TeamsChannel(ChannelBase):
    kind: ClassVar[str] = "teams"
    Options: ClassVar[type[ChannelOptions]] = TeamsOptions

    def __init__(self, name: str, options: ChannelOptions, *, base_dir: Path = Path("."), **kwargs: Any) -> None:
        super().__init__(name, options, base_dir=base_dir, clock=kwargs.get("clock"))
        assert isinstance(options, TeamsOptions)
        self.opts = options
        self._url = resolve_secret(options.webhook_url, base_dir, "webhook_url")
        check_http_url(self._url.get_secret_value(), "webhook_url")
        self.session = kwargs.get("session") or new_session()

    def send(self, alert: Record) -> None:
        body = json.dumps(build_payload(alert, max_mentions=self.opts.max_mentions),
                          ensure_ascii=False).encode("utf-8")
        text = post(self.session, self._url.get_secret_value(), body,
                    {"Content-Type": "application/json; charset=utf-8"},
                    timeout=self.opts.timeout_seconds, now=self.clock)
        wrapped = wrapped_status(text)
        if wrapped is not None:
            retryable = wrapped == 429 or wrapped >= 500
            raise DeliveryError(f"Teams accepted the request but failed delivery (HTTP {wrapped or '?'})",
                                retryable=retryable, status=wrapped or None)

    def close(self) -> None:
        self.session.close()
