"""Reading times from the outside world: every stage parses timestamps, HTTP dates and durations here.

>>> parse_timestamp("2026-03-01 12:00:00Z").isoformat()
'2026-03-01T12:00:00+00:00'
>>> parse_timestamp(1772366400000).isoformat()          # epoch milliseconds
'2026-03-01T12:00:00+00:00'
>>> parse_retry_after("120", now=0.0)
120.0
>>> parse_when("2h", datetime(2026, 3, 1, 12, tzinfo=UTC)).isoformat()
'2026-03-01T10:00:00+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["parse_iso", "parse_reset", "parse_retry_after", "parse_timestamp", "parse_when"]

# Epoch values past this are milliseconds (as seconds it would be the year 2286).
_EPOCH_MS_THRESHOLD = 10_000_000_000
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: Any) -> datetime:
    """A timezone-aware UTC datetime from the formats sources actually send.

    Accepts ISO-8601 (``Z``, offsets, fractional seconds, space separator), RFC 2822 / HTTP dates,
    and epoch seconds or milliseconds (int, float or numeric string). Naive values are taken as UTC,
    the convention of every API here that omits the offset. Raises ``ValueError`` with a reason.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    elif isinstance(value, int | float):
        dt = _from_epoch(float(value))
    elif isinstance(value, str):
        dt = _parse_timestamp_str(value.strip())
    else:
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is a valid local time but past datetime.max in UTC
        raise ValueError(f"timestamp out of range: {str(value)[:60]!r}") from None


def _from_epoch(seconds: float) -> datetime:
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError("timestamp is not a finite number")
    if abs(seconds) >= _EPOCH_MS_THRESHOLD:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"timestamp {seconds!r} out of range") from exc


def _parse_timestamp_str(text: str) -> datetime:
    if not text:
        raise ValueError("empty timestamp")
    if _NUMERIC.match(text):
        return _from_epoch(float(text))
    iso = text
    if iso.endswith(("z", "Z")):
        iso = iso[:-1] + "+00:00"
    iso = _FRACTION.sub(r"\1", iso)  # fromisoformat takes at most microseconds
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    raise ValueError(f"unrecognised timestamp format: {text[:60]!r}")


def parse_iso(value: Any) -> datetime | None:
    """An ISO-8601 string as aware UTC, or None for anything else (for display code that must not fail)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_retry_after(value: str, *, now: float) -> float | None:
    """HTTP Retry-After as delta-seconds or an HTTP-date; None if unreadable. Never negative."""
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def parse_reset(value: str, *, now: float) -> float | None:
    """A rate-limit reset header as seconds from now: a delta, epoch seconds or an ISO-8601 time."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number > 1_000_000_000:  # an epoch timestamp, not a delta
            return max(0.0, number - now)
        return max(0.0, number)
    try:
        return max(0.0, parse_timestamp(value).timestamp() - now)
    except ValueError:
        return None


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str, now: datetime) -> datetime:
    """``24h``, ``7d``, ``30m`` (that long before ``now``) or an ISO-8601 timestamp (naive = UTC)."""
    m = _RELATIVE.match(value.strip())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read time {value!r}: use e.g. 24h, 7d or 2026-11-20T18:00:00Z") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
