"""The channel contract and the helpers every channel shares.

A channel turns one alert record (``alerts.worker.alert_record``: a JSON-ready dict) into one
message on one destination. It does exactly one attempt per ``send``: retries, backoff,
idempotency and isolation belong to :class:`alerts.channels.delivery.Dispatcher`, so that every
channel gets the same, tested behaviour. A channel says how a failure should be treated by
raising :class:`DeliveryError` with ``retryable`` and, when the destination told us, ``retry_after``.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from brandpulse.plugins import OptionError, PluginOptions, SecretRef
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
    "SecretRef",
    "idempotency_key",
]

SEVERITIES = ("low", "medium", "high", "critical")
EVENTS = ("opened", "updated", "resolved")

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

    def send(self, alert: dict[str, Any]) -> None: ...


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

    def send(self, alert: dict[str, Any]) -> None:
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


def idempotency_key(alert: Mapping[str, Any]) -> str:
    """Identity of one *message-worthy* state of an alert.

    ``alert_id:event:observed_negative``: the same episode re-emitted after a crash/replay maps to
    the same key (sent once), while an ``updated`` event with new numbers is a new message. A
    record may carry its own ``idempotency_key`` (e.g. built from the detector's ``seq``).
    """
    own = alert.get("idempotency_key")
    if isinstance(own, str) and own:
        return own
    try:
        return f"{alert['alert_id']}:{alert['event']}:{alert['observed_negative']}"
    except KeyError as exc:
        raise ValueError(f"alert record has no {exc.args[0]!r}; cannot derive an idempotency key") from None


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


def severity_label(alert: Mapping[str, Any]) -> str:
    return "RESOLVED" if alert.get("event") == "resolved" else str(alert.get("severity") or "?").upper()


def status_emoji(alert: Mapping[str, Any]) -> str:
    if alert.get("event") == "resolved":
        return RESOLVED_EMOJI
    return SEVERITY_EMOJI.get(str(alert.get("severity")).lower(), "⚠️")


def event_phrase(alert: Mapping[str, Any]) -> str:
    return {"opened": "negative spike", "updated": "negative spike (update)",
            "resolved": "negative spike resolved"}.get(str(alert.get("event")), "negative spike")


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


def fmt_share(value: Any) -> str | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    return f"{x * 100:.0f}%"


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


def fmt_window(alert: Mapping[str, Any]) -> str:
    """``2026-03-01 12:00–12:10 UTC`` (date repeated only when the window crosses midnight)."""
    start, end = parse_iso(alert.get("window_start")), parse_iso(alert.get("window_end"))
    if start is None or end is None:
        return f"{alert.get('window_start', '?')} – {alert.get('window_end', '?')}"
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def window_minutes(alert: Mapping[str, Any]) -> int | None:
    start, end = parse_iso(alert.get("window_start")), parse_iso(alert.get("window_end"))
    if start is None or end is None or end <= start:
        return None
    return max(1, round((end - start).total_seconds() / 60))


def counts_line(alert: Mapping[str, Any]) -> str:
    """``43 negative mentions in 10 min (expected ~12) · negative share 61% (usual 18%)``."""
    minutes = window_minutes(alert)
    parts = [f"{fmt_number(alert.get('observed_negative'))} negative mentions"
             + (f" in {minutes} min" if minutes else "")
             + f" (expected ~{fmt_number(alert.get('expected_negative'))})"]
    share, usual = fmt_share(alert.get("negative_share")), fmt_share(alert.get("expected_share"))
    if share is not None:
        parts.append(f"negative share {share}" + (f" (usual {usual})" if usual is not None and
                                                  alert.get("expected_share") else ""))
    if alert.get("observed_total") is not None:
        parts.append(f"{fmt_number(alert.get('observed_total'))} mentions in total")
    return " · ".join(parts)


def top_mentions(alert: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
    """The worker's samples are negative mentions only, already ordered by reach (followers)."""
    raw = alert.get("top_mentions") or []
    return [m for m in raw if isinstance(m, dict) and m.get("text")][:limit]


def safe_url(value: Any) -> str | None:
    """Only http(s) links: a ``javascript:`` URL from a feed must never become a button.

    The project's one link check (``brandpulse.text.http_url``), which every source's ``url``
    already passed at ingest; applied again here because alert records also carry links that
    did not come through ingest (``kibana_url``).
    """
    return http_url(value)


def author_label(mention: Mapping[str, Any]) -> str:
    author = one_line(mention.get("author"))
    if not author:
        return "unknown author"
    return author if author.startswith("@") or " " in author else "@" + author


def followers_label(mention: Mapping[str, Any]) -> str | None:
    followers = mention.get("followers")
    if not isinstance(followers, int) or isinstance(followers, bool):
        return None
    return f"{followers:,} follower" + ("" if followers == 1 else "s")


def str_list(value: Any, limit: int = 5) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    return [one_line(v) for v in value if one_line(v)][:limit]


def hashtags(alert: Mapping[str, Any]) -> list[str]:
    return ["#" + h.lstrip("#") for h in str_list(alert.get("top_hashtags"))]


def languages(alert: Mapping[str, Any], limit: int = 5) -> list[str]:
    langs = alert.get("languages")
    if not isinstance(langs, dict):
        return []
    return [f"{one_line(code)} {fmt_number(n)}" for code, n in list(langs.items())[:limit]]


# --- HTTP --------------------------------------------------------------------------------------

_TEAMS_WRAPPED = re.compile(r"returned HTTP error (\d{3})")


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def post(session: requests.Session, url: str, body: bytes, headers: Mapping[str, str], *,
         timeout: float, now: Callable[[], float] = time.time) -> str:
    """POST once; return the (truncated) response text or raise DeliveryError.

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
        text = resp.raw.read(MAX_ERROR_BODY, decode_content=True).decode("utf-8", "replace")
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
