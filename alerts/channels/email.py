"""Email over SMTP: STARTTLS (587), implicit TLS (465) or plain (25; local relays and tests).

One message per alert event with a text and an HTML part; when the alert carries chart data, the
HTML part is ``multipart/related`` with the chart as an inline PNG (``cid:``), so it shows without
remote images being allowed. The ``Message-ID`` is derived from the idempotency key, so a message
re-sent after a crash carries the same id and mail systems that dedupe on it show it once. Threads:
the ``opened`` mail of an episode (``seq`` 0) is the thread's first message; every later mail of the
episode answers it (``In-Reply-To`` its Message-ID, ``References`` the episode root and it), so
mail clients show one conversation per incident. Records without ``seq`` (older ones) all point at
an episode root derived from the alert id. ``Auto-Submitted: auto-generated`` keeps vacation
responders from answering.

SMTP replies decide retries: 4xx (and dropped connections, timeouts) are temporary, 5xx permanent.
If some recipients are refused and others accepted the message counts as delivered, because
retrying would send it again to everyone who already has it; the refusals are logged.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from alerts.chartlinks import record_png
from brandpulse.schema import AlertRecord

from .base import (
    ChannelBase,
    ChannelConfigError,
    ChannelOptions,
    DeliveryError,
    Record,
    SecretRef,
    author_label,
    clip,
    counts_line,
    fmt_number,
    fmt_window,
    followers_label,
    key_digest,
    new_term_text,
    one_line,
    resolve_secret,
    safe_url,
    severity_label,
    status_emoji,
    story_summary,
    top_mentions,
    topics,
    window_minutes,
)
from .digest import email_html as email_digest_html
from .digest import email_subject as email_digest_subject
from .digest import email_text as email_digest_text

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
MENTION_TEXT_MAX = 500
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _address(value: str) -> str:
    _, addr = parseaddr(value)
    if "@" not in addr or any(c.isspace() for c in addr):
        raise ValueError(f"{value!r} is not an email address")
    return value


class EmailOptions(ChannelOptions):
    model_config = ConfigDict(populate_by_name=True)

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)  # default from security: 587, 465 or 25
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    sender: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    subject_prefix: str = "[BrandPulse]"
    max_mentions: int = Field(5, ge=0, le=10)
    timeout_seconds: float = Field(15.0, gt=0, le=120)
    ca_file: str | None = None  # extra CA bundle, e.g. for an internal relay's private CA

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        return _address(v)

    @field_validator("to")
    @classmethod
    def _to(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(a) for a in v)

    @model_validator(mode="after")
    def _auth(self) -> EmailOptions:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.password is not None and self.security == "none" and self.host not in _LOCAL_HOSTS:
            raise ValueError("refusing to send a password over an unencrypted connection; "
                             "use security: starttls or tls")
        return self


def subject(alert: AlertRecord, prefix: str = "[BrandPulse]") -> str:
    """``[BrandPulse][HIGH] Nimbus Air: 43 negative mentions in 10 min (expected ~12)``."""
    brand = one_line(alert.brand) or "?"
    label = severity_label(alert)
    minutes = window_minutes(alert)
    n = fmt_number(alert.observed_negative)
    if alert.event == "resolved":
        what = f"negative spike over (peak {n} negative mentions)"
    else:
        what = (f"{n} negative mentions" + (f" in {minutes} min" if minutes else "")
                + f" (expected ~{fmt_number(alert.expected_negative)})")
        if alert.event == "updated":
            what += " — update"
    return clip(one_line(f"{prefix}[{label}] {brand}: {what}"), 250)


def text_body(alert: AlertRecord, max_mentions: int = 5, *, chart_inline: bool = False) -> str:
    lines = [
        f"{status_emoji(alert)} {severity_label(alert)} · {one_line(alert.brand)}",
        "",
        one_line(alert.reason),
        counts_line(alert),
        f"Window: {fmt_window(alert)}",
        f"Alert: {alert.alert_id} ({alert.event})",
    ]
    kibana = safe_url(alert.kibana_url)
    if kibana:
        lines.append(f"Kibana: {kibana}")
    chart = safe_url(alert.chart_url)
    if chart:
        lines.append(f"Chart: {chart}")
    elif chart_inline:
        lines.append("Chart: in the HTML version of this message")
    if alert.stories:
        lines += ["", "Stories (most negative mentions first):"]
        for st in alert.stories:
            lines.append(f"- {story_summary(st)}")
            lines.append(f"  first: {author_label(st.first)}: {clip(one_line(st.first.text), MENTION_TEXT_MAX)}")
            url = safe_url(st.first.url)
            if url:
                lines.append(f"  {url}")
    if alert.new_terms:
        lines += ["", "New against the usual talk:"]
        lines.extend(f"- {kind}: {', '.join(items)}" for kind, items in _new_terms(alert))
    rows = topics(alert)
    if rows:
        lines.append("")
        lines.extend(f"{t}: {', '.join(v)}" for t, v in rows)
    mentions = top_mentions(alert, max_mentions)
    if mentions:
        lines += ["", "Top negative mentions (by reach):"]
        for m in mentions:
            meta = " · ".join(x for x in (followers_label(m), one_line(m.lang) or None) if x)
            lines.append(f"- {author_label(m)}" + (f" ({meta})" if meta else ""))
            lines.append(f"  {clip(one_line(m.text), MENTION_TEXT_MAX)}")
            url = safe_url(m.url)
            if url:
                lines.append(f"  {url}")
    lines += ["", "-- ", "BrandPulse alerts"]
    return "\n".join(lines) + "\n"


NEW_TERM_TITLES = {"term": "terms", "hashtag": "hashtags", "handle": "handles", "place": "places",
                   "language": "languages"}


def _new_terms(alert: AlertRecord) -> list[tuple[str, list[str]]]:
    out = []
    for kind, title in NEW_TERM_TITLES.items():
        items = [new_term_text(t) for t in alert.new_terms if t.kind == kind]
        if items:
            out.append((title, items))
    return out


def html_body(alert: AlertRecord, max_mentions: int = 5, *, chart_cid: str | None = None) -> str:
    e = html.escape
    resolved = alert.event == "resolved"
    colour = "#2e7d32" if resolved else {"low": "#1565c0", "medium": "#f9a825", "high": "#ef6c00",
                                         "critical": "#c62828"}.get(alert.severity, "#c62828")
    parts = [
        '<!DOCTYPE html><html><body style="font-family:Arial,Helvetica,sans-serif;color:#222">',
        f'<h2 style="margin:0 0 8px;color:{colour}">{e(status_emoji(alert))} {e(severity_label(alert))} · '
        f"{e(one_line(alert.brand))}</h2>",
        f"<p style=\"margin:0 0 4px\"><strong>{e(one_line(alert.reason))}</strong></p>",
        f'<p style="margin:0 0 4px">{e(counts_line(alert))}</p>',
        f'<p style="margin:0 0 12px;color:#666">Window {e(fmt_window(alert))} · alert '
        f"<code>{e(alert.alert_id)}</code> ({e(alert.event)})</p>",
    ]
    if chart_cid:
        parts.append(f'<p><img src="cid:{e(chart_cid)}" width="480" height="200" '
                     f'alt="negative and total mentions of the last hours against the expected band"></p>')
    kibana = safe_url(alert.kibana_url)
    if kibana:
        parts.append(f'<p><a href="{e(kibana)}" style="background:{colour};color:#fff;padding:6px 12px;'
                     f'text-decoration:none;border-radius:4px">Open in Kibana</a></p>')
    if alert.stories:
        parts.append("<h3 style=\"margin:12px 0 4px\">Stories (most negative mentions first)</h3>")
        for st in alert.stories:
            url = safe_url(st.first.url)
            who = e(author_label(st.first))
            who = f'<a href="{e(url)}">{who}</a>' if url else who
            parts.append(f'<div style="margin:0 0 10px"><div><strong>{e(story_summary(st))}</strong></div>'
                         f"<div>first: {who}: {e(clip(one_line(st.first.text), MENTION_TEXT_MAX))}</div></div>")
    new = _new_terms(alert)
    rows = [(f"New {title}", ", ".join(items)) for title, items in new]
    rows += [(t, ", ".join(v)) for t, v in topics(alert)]
    if rows:
        parts.append('<table style="border-collapse:collapse;margin:0 0 12px">')
        for t, v in rows:
            parts.append(f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{e(t)}</th><td>{e(v)}</td></tr>')
        parts.append("</table>")
    mentions = top_mentions(alert, max_mentions)
    if mentions:
        parts.append("<h3 style=\"margin:12px 0 4px\">Top negative mentions (by reach)</h3>")
        for m in mentions:
            url = safe_url(m.url)
            who = e(author_label(m))
            who = f'<a href="{e(url)}">{who}</a>' if url else who
            meta = " · ".join(x for x in (followers_label(m), one_line(m.lang) or None) if x)
            parts.append(
                f'<div style="margin:0 0 10px;padding-left:8px;border-left:3px solid {colour}">'
                f"<div><strong>{who}</strong>{' · ' + e(meta) if meta else ''}</div>"
                f"<div>{e(clip(one_line(m.text), MENTION_TEXT_MAX))}</div></div>"
            )
    parts.append('<p style="color:#999;font-size:12px">BrandPulse alerts</p></body></html>')
    return "\n".join(parts)


# SMTP policy: CRLF line endings, and it refuses CR/LF inside header values (a second line of
# defence against header injection after one_line()). Lines may run to RFC 5322's hard limit of
# 998: with the default 78, CPython folds a subject ending in "(...)" right after "Subject:",
# which some parsers then read back with a leading space. Our subjects are clipped to 250 chars.
_POLICY = SMTP_POLICY.clone(max_line_length=998)


def _domain(sender: str) -> str:
    addr = parseaddr(sender)[1]
    return addr.rsplit("@", 1)[1] if "@" in addr else "brandpulse.local"


def message_id(key: str, domain: str) -> str:
    return f"<{key_digest(key)}@{domain}>"


def build_message(record: Record, opts: EmailOptions, *, now: float) -> EmailMessage:
    key = record.idempotency_key
    domain = _domain(opts.sender)
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = opts.sender
    msg["To"] = ", ".join(opts.to)
    msg["Date"] = formatdate(now, usegmt=True)
    msg["Message-ID"] = message_id(key, domain)
    msg["Auto-Submitted"] = "auto-generated"
    if not isinstance(record, AlertRecord):
        msg["Subject"] = email_digest_subject(record, opts.subject_prefix)
        msg["X-BrandPulse-Event"] = record.event
        msg["X-BrandPulse-Idempotency-Key"] = one_line(key)
        msg.set_content(email_digest_text(record))
        msg.add_alternative(email_digest_html(record), subtype="html")
        return msg
    alert = record
    msg["Subject"] = subject(alert, opts.subject_prefix)
    root = f"<alert-{key_digest(alert.alert_id, 24)}@{domain}>"
    if alert.seq is None:  # an older record: every mail of the episode points at the root
        msg["References"] = root
        msg["In-Reply-To"] = root
    elif alert.seq > 0:  # answers the episode's opened mail (seq 0), whose id it can derive
        first = message_id(f"{alert.alert_id}:0", domain)
        msg["In-Reply-To"] = first
        msg["References"] = f"{root} {first}"
    msg["X-BrandPulse-Alert-Id"] = one_line(alert.alert_id)
    msg["X-BrandPulse-Event"] = alert.event
    msg["X-BrandPulse-Severity"] = one_line(alert.severity)
    msg["X-BrandPulse-Idempotency-Key"] = one_line(key)
    png = record_png(alert)
    cid = f"chart-{key_digest(key, 16)}@{domain}" if png is not None else None
    msg.set_content(text_body(alert, opts.max_mentions, chart_inline=png is not None))
    msg.add_alternative(html_body(alert, opts.max_mentions, chart_cid=cid), subtype="html")
    if png is not None and cid is not None:
        # The HTML part becomes multipart/related: the image travels with it, shown without
        # the reader allowing remote content.
        html_part = list(msg.iter_parts())[1]
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename="chart.png",
                              disposition="inline")
    return msg


class EmailChannel(ChannelBase):
    kind: ClassVar[str] = "email"
    Options: ClassVar[type[ChannelOptions]] = EmailOptions

    def __init__(self, name: str, options: ChannelOptions, *, base_dir: Path = Path("."), **kwargs: Any) -> None:
        super().__init__(name, options, base_dir=base_dir, clock=kwargs.get("clock"))
        assert isinstance(options, EmailOptions)
        self.opts = options
        self._password: SecretStr | None = (
            resolve_secret(options.password, base_dir, "password") if options.password else None
        )
        self.port = options.port or DEFAULT_PORTS[options.security]
        # The system trust store plus, optionally, a private CA (an internal relay); passing
        # cafile to create_default_context would replace the system store instead of adding to it.
        self._tls = ssl.create_default_context()
        if options.ca_file:
            path = Path(options.ca_file)
            cafile = path if path.is_absolute() else base_dir / path
            try:
                self._tls.load_verify_locations(cafile=str(cafile))
            except (OSError, ssl.SSLError) as exc:
                raise ChannelConfigError("ca_file", f"cannot load CA bundle {cafile}: {exc}") from exc

    def send(self, alert: Record) -> None:
        msg = build_message(alert, self.opts, now=self.clock())
        recipients = [parseaddr(a)[1] for a in self.opts.to]
        sender = parseaddr(self.opts.sender)[1]
        try:
            refused = self._deliver(msg, sender, recipients)
        except smtplib.SMTPNotSupportedError as exc:
            # Never fall back to plaintext when encryption was asked for.
            raise DeliveryError(f"{self.opts.host}: {exc}", retryable=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"{self.opts.host} refused every recipient ({sorted(set(codes))})",
                                retryable=all(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, auth failed, ...
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise DeliveryError(f"{self.opts.host} answered {exc.smtp_code}: {one_line(text)[:200]}",
                                retryable=400 <= exc.smtp_code < 500, status=exc.smtp_code) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"{self.opts.host}: TLS certificate not trusted ({exc.verify_message})",
                                retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts
            raise DeliveryError(f"{self.opts.host}:{self.port}: {type(exc).__name__}: {exc}",
                                retryable=True) from None
        if refused:
            log.warning("some recipients refused the alert email",
                        extra={"channel": self.name, "refused": sorted(refused)})

    def _deliver(self, msg: EmailMessage, sender: str, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
        timeout = self.opts.timeout_seconds
        smtp: smtplib.SMTP
        if self.opts.security == "tls":
            smtp = smtplib.SMTP_SSL(self.opts.host, self.port, timeout=timeout, context=self._tls)
        else:
            smtp = smtplib.SMTP(self.opts.host, self.port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if self.opts.security == "starttls":
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if self.opts.username and self._password is not None:
                smtp.login(self.opts.username, self._password.get_secret_value())
            return smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
