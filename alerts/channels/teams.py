"""Microsoft Teams: an Adaptive Card posted to a Workflows (Power Automate) webhook or a legacy
incoming-webhook connector.

Both accept ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <card>}]}``. Workflows answer 202; legacy
connectors answer 200 even on failure, with ``...returned HTTP error 429...`` in the body, so the
body is checked too. The card uses schema 1.4, the highest version Workflows posts reliably.

Text from the internet (mention bodies, authors, hashtags) goes into ``RichTextBlock``/``TextRun``,
which Teams does not parse as Markdown: a post cannot inject links or formatting into the card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from .base import (
    ChannelBase,
    ChannelOptions,
    DeliveryError,
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
    hashtags,
    languages,
    new_session,
    one_line,
    post,
    resolve_secret,
    safe_url,
    severity_label,
    status_emoji,
    str_list,
    top_mentions,
    wrapped_status,
)
from .digest import is_digest
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


def build_card(alert: dict[str, Any], *, max_mentions: int = 3) -> dict[str, Any]:
    brand = one_line(alert.get("brand")) or "?"
    label = severity_label(alert)
    resolved = alert.get("event") == "resolved"
    color = "Good" if resolved else _COLOR.get(str(alert.get("severity")).lower(), "Attention")
    title = f"{status_emoji(alert)} {label} · {brand} — {event_phrase(alert)}"

    facts = [
        {"title": "Negative mentions", "value": f"{fmt_number(alert.get('observed_negative'))} "
                                                 f"(expected ~{fmt_number(alert.get('expected_negative'))})"},
    ]
    share, usual = fmt_share(alert.get("negative_share")), fmt_share(alert.get("expected_share"))
    if share is not None:
        facts.append({"title": "Negative share",
                      "value": share + (f" (usual {usual})" if usual and alert.get("expected_share") else "")})
    if alert.get("observed_total") is not None:
        facts.append({"title": "All mentions", "value": fmt_number(alert.get("observed_total"))})
    facts.append({"title": "Window", "value": fmt_window(alert)})
    facts.append({"title": "Alert", "value": f"{alert.get('alert_id', '?')} ({alert.get('event', '?')})"})

    body: list[dict[str, Any]] = [
        # A plain TextBlock for the title: it is our own text, and TextBlock supports size/colour.
        {"type": "TextBlock", "text": clip(title, 200), "size": "Large", "weight": "Bolder",
         "color": color, "wrap": True},
        _rich(_run(one_line(alert.get("reason")), weight="Bolder")),
        _rich(_run(counts_line(alert), isSubtle=True), spacing="None"),
        {"type": "FactSet", "facts": facts},
    ]
    for label_, values in (("Top hashtags", hashtags(alert)), ("Top keywords", str_list(alert.get("top_keywords"))),
                           ("Languages", languages(alert)), ("Locations", str_list(alert.get("locations")))):
        if values:
            body.append(_rich(_run(label_ + ": ", weight="Bolder"), _run(", ".join(values)), spacing="Small"))

    mentions = top_mentions(alert, max_mentions)
    if mentions:
        body.append({"type": "TextBlock", "text": "Top negative mentions", "weight": "Bolder",
                     "separator": True, "spacing": "Medium", "wrap": True})
    for m in mentions:
        url = safe_url(m.get("url"))
        who = _run(author_label(m), weight="Bolder")
        if url:
            who["selectAction"] = {"type": "Action.OpenUrl", "url": url, "title": "Open post"}
            who["color"] = "Accent"
        meta = [x for x in (followers_label(m), one_line(m.get("lang")) or None) if x]
        head = [who] + ([_run(" · " + " · ".join(meta), isSubtle=True)] if meta else [])
        body.append({"type": "Container", "spacing": "Small", "items": [
            _rich(*head),
            _rich(_run(clip(one_line(m.get("text")), MENTION_TEXT_MAX), italic=True), spacing="None"),
        ]})

    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": clip(f"[{label}] {brand}: {one_line(alert.get('reason'))}", 500),
        "body": body,
    }
    kibana = safe_url(alert.get("kibana_url"))
    if kibana:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Kibana", "url": kibana}]
    return card


def build_payload(alert: dict[str, Any], *, max_mentions: int = 3) -> dict[str, Any]:
    card = teams_digest_card(alert) if is_digest(alert) else build_card(alert, max_mentions=max_mentions)
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

    def send(self, alert: dict[str, Any]) -> None:
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
