"""Reading times from feeds, HTTP headers and the command line (brandpulse/timeparse.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brandpulse.timeparse import parse_reset, parse_retry_after, parse_timestamp, parse_when

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T12:00:00Z", T0),
        ("2026-03-01T12:00:00.123456789Z", T0.replace(microsecond=123456)),
        ("2026-03-01 17:30:00+05:30", T0),
        ("2026-03-01T12:00:00", T0),  # naive: taken as UTC
        ("Sun, 01 Mar 2026 07:00:00 -0500", T0),
        ("Sun, 01 Mar 2026 12:00:00 GMT", T0),
        (1772366400, T0),
        (1772366400000, T0),  # milliseconds
        ("1772366400", T0),
        (1772366400.0, T0),
    ],
)
def test_parse_timestamp_formats(value: object, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-45T00:00:00Z", None, True, [], float("nan")])
def test_parse_timestamp_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


# --- HTTP header parsing ------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = T0.timestamp()
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None


def test_parse_reset() -> None:
    now = T0.timestamp()
    assert parse_reset("42", now=now) == 42.0  # Reddit: seconds until reset
    assert parse_reset(str(int(now) + 60), now=now) == 60.0  # Bluesky: epoch seconds
    assert parse_reset("2026-03-01T12:05:00.000Z", now=now) == 300.0  # Mastodon: ISO timestamp
    assert parse_reset("later", now=now) is None


# --- relative times (CLI) ---------------------------------------------------------------------


def test_relative_and_absolute_times() -> None:
    assert parse_when("24h", NOW) == datetime(2026, 11, 19, 18, 0, tzinfo=UTC)
    assert parse_when("7d", NOW) == datetime(2026, 11, 13, 18, 0, tzinfo=UTC)
    assert parse_when("2026-11-20T10:00:00Z", NOW) == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="24h"):
        parse_when("yesterday", NOW)
