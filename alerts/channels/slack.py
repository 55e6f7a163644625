"""Slack incoming webhook with a Block Kit message.

The message is built to be acted on from a phone: severity and brand in the header, the reason and
the numbers first, then what people are talking about, then the loudest negative posts with a link
to each, and a button to the Kibana view. ``text`` is the notification/fallback line.

Slack answers 200 ``ok``; 429 with ``Retry-After`` when rate-limited (about one message per second
per webhook); 4xx such as ``invalid_payload`` / ``no_service`` / ``channel_is_archived`` when
retrying cannot help; 5xx when it can.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, field_validator

from .base import (
    ChannelBase,
    ChannelOptions,
    SecretRef,
    author_label,
    check_http_url,
    clip,
    counts_line,
    event_phrase,
    fmt_window,
    followers_label,
    hashtags,
    languages,
    new_session,
    one_line,
    parse_iso,
    post,
    resolve_secret,
    safe_url,
    severity_label,
    severity_rank,
    status_emoji,
    str_list,
    top_mentions,
)
from .digest import is_digest
from .digest import slack_payload as digest_slack_payload

# Block Kit limits (api.slack.com/reference/block-kit): exceeding them makes Slack reject the whole
# message with invalid_blocks, so every user-derived string is clipped below them.
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
BUTTON_URL_MAX = 3000
MENTION_TEXT_MAX = 300

_MENTION = re.compile(r"^<!(here|channel|everyone)>$|^<!subteam\^[A-Z0-9]+>$|^<@[UW][A-Z0-9]+>$")


def esc(text: str) -> str:
    """Slack mrkdwn escaping: only & < > are control characters.

    Without it a post containing ``<!channel>`` would ping the whole channel.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    # Inside <url|label> a raw | or > would end the URL early; percent-encoding keeps it valid.
    safe = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._").replace("&", "&amp;")
    return f"<{safe}|{esc(label).replace('|', '¦')}>"


def slack_window(alert: dict[str, Any]) -> str:
    """The window as ``<!date^epoch^format|fallback>``: Slack renders it in each reader's time zone."""
    start, end = parse_iso(alert.get("window_start")), parse_iso(alert.get("window_end"))
    if start is None or end is None:
        return esc(fmt_window(alert))
    end_fmt, end_fb = ("{time}", f"{end:%H:%M} UTC") if start.date() == end.date() else \
        ("{date_short_pretty} {time}", f"{end:%Y-%m-%d %H:%M} UTC")
    return (f"<!date^{int(start.timestamp())}^{{date_short_pretty}} {{time}}|{start:%Y-%m-%d %H:%M} UTC>"
            f"–<!date^{int(end.timestamp())}^{end_fmt}|{end_fb}>")


class SlackOptions(ChannelOptions):
    webhook_url: SecretRef
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    max_mentions: int = Field(3, ge=0, le=5)
    # e.g. "<!here>" or "<!subteam^S0123>": prepended to the notification of new/escalated alerts
    mention: str | None = None
    mention_min_severity: str = "high"

    @field_validator("mention")
    @classmethod
    def _mention_syntax(cls, v: str | None) -> str | None:
        if v is not None and not _MENTION.match(v):
            raise ValueError("use Slack syntax: <!here>, <!channel>, <!subteam^ID> or <@USERID>")
        return v

    @field_validator("mention_min_severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        if v not in ("low", "medium", "high", "critical"):
            raise ValueError("one of low, medium, high, critical")
        return v


def build_payload(alert: dict[str, Any], *, max_mentions: int = 3, mention: str | None = None,
                  mention_min_severity: str = "high") -> dict[str, Any]:
    if is_digest(alert):
        return digest_slack_payload(alert)
    brand = one_line(alert.get("brand")) or "?"
    label = severity_label(alert)
    emoji = status_emoji(alert)
    reason = one_line(alert.get("reason"))

    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "emoji": True,
                  "text": clip(f"{emoji} {label} · {brand} — {event_phrase(alert)}", HEADER_MAX)}},
        {"type": "section",
         "text": {"type": "mrkdwn",
                  "text": clip(f"*{esc(reason)}*\n{esc(counts_line(alert))}", SECTION_MAX)}},
    ]

    window = slack_window(alert)
    context = f"Window {window} · {esc(str(alert.get('event', '?')))} · alert `{esc(str(alert.get('alert_id', '?')))}`"
    key = one_line(alert.get("key"))
    if key and key != brand:
        context += f" · key `{esc(key)}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(context, SECTION_MAX)}]})

    fields = []
    for title, values in (("Top hashtags", hashtags(alert)), ("Top keywords", str_list(alert.get("top_keywords"))),
                          ("Languages", languages(alert)), ("Locations", str_list(alert.get("locations")))):
        if values:
            fields.append({"type": "mrkdwn", "text": clip(f"*{title}*\n{esc(', '.join(values))}", FIELD_MAX)})
    if fields:
        blocks.append({"type": "section", "fields": fields})

    mentions = top_mentions(alert, max_mentions)
    if mentions:
        blocks.append({"type": "divider"})
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"*Top negative mentions* (by reach, {len(mentions)} shown)"}]})
    for m in mentions:
        who = author_label(m)
        url = safe_url(m.get("url"))
        head = f"*{link(url, who)}*" if url else f"*{esc(who)}*"
        meta = [x for x in (followers_label(m), one_line(m.get("lang")) or None) if x]
        if meta:
            head += " · " + esc(" · ".join(meta))
        text = clip(one_line(m.get("text")), MENTION_TEXT_MAX)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n>{esc(text)}"}})

    kibana = safe_url(alert.get("kibana_url"))
    if kibana and len(kibana) <= BUTTON_URL_MAX:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": "brandpulse_open_kibana",
             "text": {"type": "plain_text", "text": "Open in Kibana", "emoji": True}, "url": kibana}]})

    fallback = f"{emoji} [{label}] {esc(brand)}: {esc(reason)}"
    if (mention and alert.get("event") in ("opened", "updated")
            and severity_rank(alert.get("severity")) >= severity_rank(mention_min_severity)):
        # Deliberately unescaped: this one comes from config, not from the internet.
        fallback = f"{mention} {fallback}"
    return {"text": clip(fallback, SECTION_MAX), "blocks": blocks}


class SlackChannel(ChannelBase):
    kind: ClassVar[str] = "slack"
    Options: ClassVar[type[ChannelOptions]] = SlackOptions

    def __init__(self, name: str, options: ChannelOptions, *, base_dir: Path = Path("."), **kwargs: Any) -> None:
        super().__init__(name, options, base_dir=base_dir, clock=kwargs.get("clock"))
        assert isinstance(options, SlackOptions)
        self.opts = options
        self._url = resolve_secret(options.webhook_url, base_dir, "webhook_url")
        check_http_url(self._url.get_secret_value(), "webhook_url")
        self.session = kwargs.get("session") or new_session()

    def send(self, alert: dict[str, Any]) -> None:
        payload = build_payload(alert, max_mentions=self.opts.max_mentions, mention=self.opts.mention,
                                mention_min_severity=self.opts.mention_min_severity)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        post(self.session, self._url.get_secret_value(), body,
             {"Content-Type": "application/json; charset=utf-8"},
             timeout=self.opts.timeout_seconds, now=self.clock)

    def close(self) -> None:
        self.session.close()
