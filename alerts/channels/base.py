"""The channel contract and the helpers every channel shares.

A channel turns one record (a ``brandpulse.schema.AlertRecord``, built by ``alerts/record.py``, or
a ``DigestRecord``) into one message on one destination. It does exactly one attempt per ``send``: retries, backoff,
idempotency and isolation belong to :class:`alerts.channels.delivery.Dispatcher`, so that every
channel gets the same, tested behaviour. A channel says how a failure should be treated by
raising :class:`DeliveryError` with ``retryable`` and, when the destination told us, ``retry_after``.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from brandpulse.plugins import OptionError, PluginOptions, SecretRef
from brandpulse.schema import (
    ALERT_EVENTS,
    ALERT_SEVERITIES,
    AlertNewTerm,
    AlertRecord,
    AlertSample,
    AlertStory,
    DigestRecord,
)
from brandpulse.text import http_url
from brandpulse.timeparse import parse_retry_after

__all__ = [
    "EVENTS",
    "SEVERITIES",
    "Channel",
    "ChannelBase",
    "ChannelConfigError",
    "ChannelOptions",
    "DeliveryError",
    "Record",
    "SecretRef",
    "ThreadedChannel",
    "idempotency_key",
]

# The core's lists (brandpulse/schema.py): what an alert event can carry and route on.
SEVERITIES = ALERT_SEVERITIES
EVENTS = ALERT_EVENTS

Record = AlertRecord | DigestRecord

USER_AGENT = "BrandPulse-Alerts/0.1 (+https://github.com/brandpulse)"
# Bytes of an error response we keep for the log line: enough to read Slack's "invalid_blocks",
# not enough for a misbehaving endpoint to flood logs or memory.
MAX_ERROR_BODY = 2048


class DeliveryError(Exception):
    """One delivery attempt failed.

    ``retryable`` is False when trying again cannot help (bad payload, revoked webhook, wrong
    credentials): the dispatcher then gives up at once instead of hammering the destination.
    ``retry_after`` is the destination's own wait hint (HTTP Retry-After) in seconds.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class ChannelConfigError(OptionError):
    """A channel's options are wrong; ``key`` is the dotted path inside the options (``webhook_url.env``)."""


@runtime_checkable
class Channel(Protocol):
    """What the dispatcher needs from a channel. ``send`` is only ever called from one thread."""

    name: str

    @property
    def kind(self) -> str: ...  # a property so a ClassVar on the implementing class satisfies it

    def send(self, alert: Record) -> None: ...


@runtime_checkable
class ThreadedChannel(Channel, Protocol):
    """A channel whose destination threads messages (Slack with a bot token): the dispatcher passes
    the thread of the alert's first message (from the delivery log), and keeps the reference the
    first message returns."""

    def send_in_thread(self, alert: AlertRecord, thread: str | None) -> str | None: ...


class ChannelOptions(PluginOptions):
    """Base of every channel's ``Options``: unknown keys are config errors, not silently ignored."""


class ChannelBase:
    """Shared constructor: name, validated options, where relative secret files live, a clock.

    Subclasses set ``kind`` and ``Options`` and resolve their secrets in ``__init__``, so a missing
    secret fails when the dispatcher is built (at startup), not on the first alert at 3 a.m.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[ChannelOptions]]

    def __init__(self, name: str, options: ChannelOptions, *, base_dir: Path = Path("."),
                 clock: Callable[[], float] | None = None) -> None:
        if not isinstance(options, self.Options):
            raise TypeError(f"{type(self).__name__} needs {self.Options.__name__}, got {type(options).__name__}")
        self.name = name
        self.options = options
        self.base_dir = base_dir
        self.clock = clock or time.time

    def send(self, alert: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the dispatcher calls it once when it shuts down."""

    def __repr__(self) -> str:  # never the options: they may hold resolved URLs with tokens
        return f"{type(self).__name__}(name={self.name!r})"


def resolve_secret(ref: SecretRef, base_dir: Path, key: str) -> SecretStr:
    try:
        return ref.resolve(base_dir)
    except ValueError as exc:
        raise ChannelConfigError(key, str(exc)) from exc


# --- idempotency -------------------------------------------------------------------------------


def idempotency_key(record: Record | Mapping[str, Any]) -> str:
    """Identity of one *message-worthy* state of an alert (or of a digest): the record's own key.

    An alert's is ``alert_id:seq`` (older records: ``alert_id:event:observed_negative``): the same
    event re-emitted after a crash/replay maps to the same key (sent once), while an ``updated``
    event is a new message. A mapping is read as an alert record first (ValueError if it is not one).
    """
    if isinstance(record, Mapping):
        record = AlertRecord.from_dict(dict(record))
    return record.idempotency_key


def key_digest(key: str, length: int = 32) -> str:
    """A fixed-size, header-safe token for a key (Message-IDs, log lines)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:length]


# --- rendering helpers (plain text; each channel escapes for its own markup) ---------------------

SEVERITY_EMOJI = {"low": "🔵", "medium": "🟡", "high": "🟠", "critical": "🔴"}
RESOLVED_EMOJI = "✅"


def severity_rank(severity: Any) -> int:
    """Position in SEVERITIES; an unknown severity ranks highest so a typo over-delivers, never hides."""
    try:
        return SEVERITIES.index(str(severity).lower())
    except ValueError:
        return len(SEVERITIES)


def severity_label(alert: AlertRecord) -> str:
    return "RESOLVED" if alert.event == "resolved" else alert.severity.upper()


def status_emoji(alert: AlertRecord) -> str:
    if alert.event == "resolved":
        return RESOLVED_EMOJI
    return SEVERITY_EMOJI.get(alert.severity.lower(), "⚠️")


def event_phrase(alert: AlertRecord) -> str:
    return {"opened": "negative spike", "updated": "negative spike (update)",
            "resolved": "negative spike resolved"}.get(alert.event, "negative spike")


def one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def fmt_number(value: Any) -> str:
    """Counts with thousands separators; expectations rounded the way people read them (~12, ~3.4)."""
    if value is None or isinstance(value, bool):
        return "?"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "?"
    if x.is_integer() and abs(x) >= 10:
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.1f}"


def fmt_share(value: float | None) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return f"{value * 100:.0f}%"


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def fmt_window(alert: AlertRecord) -> str:
    """``2026-03-01 12:00–12:10 UTC`` (date repeated only when the window crosses midnight)."""
    start, end = alert.window_start.astimezone(UTC), alert.window_end.astimezone(UTC)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def window_minutes(alert: AlertRecord) -> int | None:
    if alert.window_end <= alert.window_start:
        return None
    return max(1, round((alert.window_end - alert.window_start).total_seconds() / 60))


def counts_line(alert: AlertRecord) -> str:
    """``43 negative mentions in 10 min (expected ~12) · negative share 61% (usual 18%)``."""
    minutes = window_minutes(alert)
    parts = [f"{fmt_number(alert.observed_negative)} negative mentions"
             + (f" in {minutes} min" if minutes else "")
             + f" (expected ~{fmt_number(alert.expected_negative)})"]
    share, usual = fmt_share(alert.negative_share), fmt_share(alert.expected_share)
    if share is not None:
        parts.append(f"negative share {share}" + (f" (usual {usual})" if usual is not None and
                                                  alert.expected_share else ""))
    if alert.observed_total is not None:
        parts.append(f"{fmt_number(alert.observed_total)} mentions in total")
    return " · ".join(parts)


def top_mentions(alert: AlertRecord, limit: int) -> list[AlertSample]:
    """The worker's quoted negative mentions, already ordered by reach (followers)."""
    return [m for m in alert.top_mentions if m.text][:limit]


def safe_url(value: Any) -> str | None:
    """Only http(s) links: a ``javascript:`` URL from a feed must never become a button.

    The project's one link check (``brandpulse.text.http_url``), which every source's ``url``
    already passed at ingest; applied again here because alert records also carry links that
    did not come through ingest (``kibana_url``).
    """
    return http_url(value)


def author_label(mention: AlertSample) -> str:
    author = one_line(mention.author)
    if not author:
        return "unknown author"
    return author if author.startswith("@") or " " in author else "@" + author


def followers_label(mention: AlertSample) -> str | None:
    if mention.followers is None:
        return None
    return f"{mention.followers:,} follower" + ("" if mention.followers == 1 else "s")


def str_list(values: Any, limit: int = 5) -> list[str]:
    if not isinstance(values, list | tuple):
        return []
    return [one_line(v) for v in values if one_line(v)][:limit]


def hashtags(alert: AlertRecord) -> list[str]:
    return ["#" + h.lstrip("#") for h in str_list(alert.top_hashtags)]


def languages(alert: AlertRecord, limit: int = 5) -> list[str]:
    return [f"{one_line(code)} {fmt_number(n)}" for code, n in list(alert.languages.items())[:limit]]


def topics(alert: AlertRecord) -> list[tuple[str, list[str]]]:
    """The titled lists every channel shows: hashtags, keywords, languages, places (non-empty only)."""
    rows = (("Top hashtags", hashtags(alert)), ("Top keywords", str_list(alert.top_keywords)),
            ("Languages", languages(alert)), ("Locations", str_list(alert.locations)))
    return [(title, values) for title, values in rows if values]


# --- stories and new terms (the same words in every channel) -----------------------------------

TREND_ARROW = {"new": "★", "growing": "↑", "steady": "→", "fading": "↓"}
NEW_TERM_LABEL = {"term": "", "hashtag": "", "handle": "", "place": "places ", "language": "lang "}


TREND_MIN_SIZE = 3  # a trend compares the window's thirds: one or two mentions have none


def story_summary(story: AlertStory) -> str:
    """``×14 (12 negative) ↑ growing · 6 authors · reach 12,400 · en 10, es 4``."""
    neg = f" ({story.negative} negative)" if story.negative else ""
    trend = f" {TREND_ARROW[story.trend]} {story.trend}" if story.size >= TREND_MIN_SIZE else ""
    langs = ", ".join(f"{one_line(k)} {v}" for k, v in list(story.languages.items())[:4])
    return (f"×{story.size}{neg}{trend} · {story.authors} author"
            + ("" if story.authors == 1 else "s") + f" · reach {story.reach:,}" + (f" · {langs}" if langs else ""))


def story_lines(stories: Sequence[AlertStory], text_chars: int = 100, limit: int = 3) -> list[str]:
    """One line per top story: its summary and its first post, clipped."""
    return [f"{story_summary(s)}: “{clip(one_line(s.first.text), text_chars)}”" for s in stories[:limit]]


def new_terms_line(terms: Sequence[AlertNewTerm], per_kind: int = 5) -> str:
    """``#refund ×14 (z 5.9), delayed ×9 (z 3.5) · lang ur ×6``: by kind, best first."""
    parts = []
    for kind in ("term", "hashtag", "handle", "place", "language"):
        items = [t for t in terms if t.kind == kind][:per_kind]
        if items:
            parts.append(NEW_TERM_LABEL[kind] + ", ".join(new_term_text(t) for t in items))
    return " · ".join(parts)


def new_term_text(term: AlertNewTerm) -> str:
    return f"{one_line(term.term)} ×{term.count} (z {term.z:.1f})"


# --- HTTP --------------------------------------------------------------------------------------

_TEAMS_WRAPPED = re.compile(r"returned HTTP error (\d{3})")


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def post(session: requests.Session, url: str, body: bytes, headers: Mapping[str, str], *,
         timeout: float, now: Callable[[], float] = time.time, max_body: int = MAX_ERROR_BODY) -> str:
    """POST once; return the response text (its first ``max_body`` bytes) or raise DeliveryError.

    Error messages name the host only: webhook URLs *are* the credential for Slack and Teams, and
    requests' own exception text contains the full URL.
    """
    host = urlsplit(url).hostname or "?"
    try:
        resp = session.post(url, data=body, headers=dict(headers), timeout=timeout,
                            allow_redirects=False, stream=True)
    except requests.Timeout:
        raise DeliveryError(f"timed out after {timeout:g}s talking to {host}", retryable=True) from None
    except requests.ConnectionError:
        raise DeliveryError(f"cannot connect to {host}", retryable=True) from None
    except requests.RequestException as exc:
        raise DeliveryError(f"{type(exc).__name__} talking to {host}", retryable=False) from None
    try:
        text = resp.raw.read(max_body, decode_content=True).decode("utf-8", "replace")
    except Exception:  # the status line is what matters; a broken body must not hide it
        text = ""
    finally:
        resp.close()
    status = resp.status_code
    snippet = one_line(text)[:200]
    if 200 <= status < 300:
        return text
    retry_after = None
    if "retry-after" in resp.headers:
        retry_after = parse_retry_after(resp.headers["retry-after"], now=now())
    if status == 429:
        return _raise(f"{host} rate-limited us (429)", retryable=True, retry_after=retry_after, status=status)
    if status == 408 or status >= 500:
        return _raise(f"{host} answered {status}: {snippet}", retryable=True, retry_after=retry_after,
                      status=status)
    # 3xx (redirects are not followed: a POST must not silently turn into a GET) and other 4xx:
    # the request itself is wrong or the webhook is gone; repeating it cannot help.
    return _raise(f"{host} answered {status}: {snippet}", retryable=False, status=status)


def _raise(message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None) -> str:
    raise DeliveryError(message, retryable=retryable, retry_after=retry_after, status=status)


def wrapped_status(text: str) -> int | None:
    """Legacy Teams connectors answer 200 with ``...returned HTTP error 429 ...`` in the body."""
    if "delivery failed" not in text:
        return None
    match = _TEAMS_WRAPPED.search(text)
    return int(match.group(1)) if match else 0


def check_http_url(value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ChannelConfigError(key, "must be an http:// or https:// URL")
    return value
