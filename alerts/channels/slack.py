"""Slack: a Block Kit message through an incoming webhook, or through a bot token
(``chat.postMessage``), which can thread.

The message is built to be acted on from a phone: severity and brand in the header, the reason and
the numbers first, then what people are talking about, the stories of the window and what is new
in them, the chart (a signed link to the PNG the alert worker serves, when ``alerts.chart_url`` is
set), then the loudest negative posts with a link to each, and a button to the Kibana view.
``text`` is the notification/fallback line.

Threads: with ``bot_token`` + ``channel``, the first message of an alert is posted to the channel
and its ``ts`` is kept in the delivery log; the alert's updates and its resolution are posted with
``thread_ts``, so one incident is one conversation. An incoming webhook cannot thread (Slack's
webhooks accept no ``thread_ts`` and return no ``ts``): each event is a new message.

A webhook answers 200 ``ok``; 429 with ``Retry-After`` when rate-limited (about one message per
second per webhook); 4xx such as ``invalid_payload`` / ``no_service`` / ``channel_is_archived`` when
retrying cannot help; 5xx when it can. ``chat.postMessage`` answers 200 with ``{"ok": false,
"error": ...}`` on failure: ``ratelimited`` and Slack's internal errors are retried, the rest
(``channel_not_found``, ``not_in_channel``, ``invalid_auth``, ...) are not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from brandpulse.schema import ALERT_SEVERITIES, AlertRecord, AlertSeverity

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
    fmt_window,
    followers_label,
    new_session,
    new_terms_line,
    one_line,
    post,
    resolve_secret,
    safe_url,
    severity_label,
    severity_rank,
    status_emoji,
    story_summary,
    top_mentions,
    topics,
)
from .digest import slack_payload as digest_slack_payload

# Block Kit limits (api.slack.com/reference/block-kit): exceeding them makes Slack reject the whole
# message with invalid_blocks, so every user-derived string is clipped below them.
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
BUTTON_URL_MAX = 3000
IMAGE_URL_MAX = 3000
MENTION_TEXT_MAX = 300
STORY_TEXT_MAX = 200
API_RESPONSE_MAX = 512 * 1024  # chat.postMessage echoes the message back
RETRYABLE_API_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}

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


def slack_window(alert: AlertRecord) -> str:
    """The window as ``<!date^epoch^format|fallback>``: Slack renders it in each reader's time zone."""
    if alert.window_end < alert.window_start:
        return esc(fmt_window(alert))
    start, end = alert.window_start, alert.window_end
    end_fmt, end_fb = ("{time}", f"{end:%H:%M} UTC") if start.date() == end.date() else \
        ("{date_short_pretty} {time}", f"{end:%Y-%m-%d %H:%M} UTC")
    return (f"<!date^{int(start.timestamp())}^{{date_short_pretty}} {{time}}|{start:%Y-%m-%d %H:%M} UTC>"
            f"–<!date^{int(end.timestamp())}^{end_fmt}|{end_fb}>")


class SlackOptions(ChannelOptions):
    webhook_url: SecretRef | None = None  # an incoming webhook (cannot thread), or:
    bot_token: SecretRef | None = None  # a bot token (xoxb-...) with chat:write, and
    channel: str | None = None  # the channel ID (C0123...) or name it posts to
    api_url: str = "https://slack.com/api"
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    max_mentions: int = Field(3, ge=0, le=5)
    # e.g. "<!here>" or "<!subteam^S0123>": prepended to the notification of new/escalated alerts
    mention: str | None = None
    mention_min_severity: AlertSeverity = "high"

    @field_validator("mention")
    @classmethod
    def _mention_syntax(cls, v: str | None) -> str | None:
        if v is not None and not _MENTION.match(v):
            raise ValueError("use Slack syntax: <!here>, <!channel>, <!subteam^ID> or <@USERID>")
        return v

    @field_validator("mention_min_severity", mode="before")
    @classmethod
    def _severity(cls, v: object) -> object:
        if v not in ALERT_SEVERITIES:
            raise ValueError("one of " + ", ".join(ALERT_SEVERITIES))
        return v

    @field_validator("channel")
    @classmethod
    def _channel_needs_bot(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.data.get("bot_token") is None:
            raise ValueError("channel goes with bot_token; an incoming webhook posts to the channel it was made for")
        return v

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        return check_http_url(v.rstrip("/"), "")

    @model_validator(mode="after")
    def _one_way(self) -> SlackOptions:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("give exactly one of webhook_url or bot_token (with channel)")
        if self.bot_token is not None and not self.channel:
            raise ValueError("bot_token needs channel: the channel ID (C0123...) or name to post to")
        return self


def build_payload(alert: Record, *, max_mentions: int = 3, mention: str | None = None,
                  mention_min_severity: str = "high") -> dict[str, Any]:
    if not isinstance(alert, AlertRecord):
        return digest_slack_payload(alert)
    brand = one_line(alert.brand) or "?"
    label = severity_label(alert)
    emoji = status_emoji(alert)
    reason = one_line(alert.reason)

    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "emoji": True,
                  "text": clip(f"{emoji} {label} · {brand} — {event_phrase(alert)}", HEADER_MAX)}},
        {"type": "section",
         "text": {"type": "mrkdwn",
                  "text": clip(f"*{esc(reason)}*\n{esc(counts_line(alert))}", SECTION_MAX)}},
    ]

    window = slack_window(alert)
    context = f"Window {window} · {esc(alert.event)} · alert `{esc(alert.alert_id)}`"
    key = one_line(alert.key)
    if key and key != brand:
        context += f" · key `{esc(key)}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(context, SECTION_MAX)}]})

    fields = [{"type": "mrkdwn", "text": clip(f"*{title}*\n{esc(', '.join(values))}", FIELD_MAX)}
              for title, values in topics(alert)]
    if fields:
        blocks.append({"type": "section", "fields": fields})

    if alert.stories:
        lines = ["*Stories* (most negative mentions first)"]
        for st in alert.stories[:3]:
            url = safe_url(st.first.url)
            who = link(url, author_label(st.first)) if url else esc(author_label(st.first))
            lines.append(f"• {esc(story_summary(st))}\n   first: {who}: _{esc(clip(one_line(st.first.text), STORY_TEXT_MAX))}_")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip("\n".join(lines), SECTION_MAX)}})
    new = new_terms_line(alert.new_terms)
    if new:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": clip(f"*New against the usual talk*\n{esc(new)}", SECTION_MAX)}})
    chart = safe_url(alert.chart_url)
    if chart and len(chart) <= IMAGE_URL_MAX:
        blocks.append({"type": "image", "image_url": chart,
                       "alt_text": "negative and total mentions of the last hours against the expected band"})

    mentions = top_mentions(alert, max_mentions)
    if mentions:
        blocks.append({"type": "divider"})
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"*Top negative mentions* (by reach, {len(mentions)} shown)"}]})
    for m in mentions:
        who = author_label(m)
        url = safe_url(m.url)
        head = f"*{link(url, who)}*" if url else f"*{esc(who)}*"
        meta = [x for x in (followers_label(m), one_line(m.lang) or None) if x]
        if meta:
            head += " · " + esc(" · ".join(meta))
        text = clip(one_line(m.text), MENTION_TEXT_MAX)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n>{esc(text)}"}})

    kibana = safe_url(alert.kibana_url)
    if kibana and len(kibana) <= BUTTON_URL_MAX:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": "brandpulse_open_kibana",
             "text": {"type": "plain_text", "text": "Open in Kibana", "emoji": True}, "url": kibana}]})

    fallback = f"{emoji} [{label}] {esc(brand)}: {esc(reason)}"
    if (mention and alert.event in ("opened", "updated")
            and severity_rank(alert.severity) >= severity_rank(mention_min_severity)):
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
        self._url: SecretStr | None = None
        self._token: SecretStr | None = None
        if options.webhook_url is not None:
            self._url = resolve_secret(options.webhook_url, base_dir, "webhook_url")
            check_http_url(self._url.get_secret_value(), "webhook_url")
        if options.bot_token is not None:
            self._token = resolve_secret(options.bot_token, base_dir, "bot_token")
        self.session = kwargs.get("session") or new_session()

    def send(self, alert: Record) -> None:
        self._post(alert, None)

    def send_in_thread(self, alert: AlertRecord, thread: str | None) -> str | None:
        """Post ``alert`` (in ``thread`` if given); returns the ``ts`` of a new bot message, the
        thread the alert's later events reply to (None for a webhook: it cannot thread)."""
        return self._post(alert, thread)

    def _post(self, record: Record, thread: str | None) -> str | None:
        payload = build_payload(record, max_mentions=self.opts.max_mentions, mention=self.opts.mention,
                                mention_min_severity=self.opts.mention_min_severity)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._token is None:
            assert self._url is not None
            post(self.session, self._url.get_secret_value(), json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                 headers, timeout=self.opts.timeout_seconds, now=self.clock)
            return None
        payload |= {"channel": self.opts.channel, "unfurl_links": False, "unfurl_media": False}
        if thread:
            payload["thread_ts"] = thread
        headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        text = post(self.session, f"{self.opts.api_url}/chat.postMessage",
                    json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers,
                    timeout=self.opts.timeout_seconds, now=self.clock, max_body=API_RESPONSE_MAX)
        try:
            answer = json.loads(text)
        except ValueError:
            raise DeliveryError("Slack answered chat.postMessage with something that is not JSON",
                                retryable=True) from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = str(answer.get("error") if isinstance(answer, dict) else "?")
            raise DeliveryError(f"Slack chat.postMessage failed: {one_line(error)[:100]}",
                                retryable=error in RETRYABLE_API_ERRORS)
        ts = answer.get("ts")
        return None if thread else (str(ts) if ts else None)

    def close(self) -> None:
        self.session.close()
