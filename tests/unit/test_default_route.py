"""Channels without any route are not silently idle: with no routes, every enabled channel gets
every alert; one route switches that default off."""

from __future__ import annotations

from alerts.channels import build_dispatcher, route
from brandpulse.schema import AlertRecord

ALERT = {"alert_id": "a1", "seq": 0, "event": "opened", "severity": "low", "brand": "Acme", "key": "Acme",
         "window_start": "2026-03-01T12:00:00+00:00", "window_end": "2026-03-01T12:05:00+00:00",
         "observed_negative": 9, "expected_negative": 1.0}
CHANNELS = [{"name": "one", "kind": "console"}, {"name": "two", "kind": "console"},
            {"name": "off", "kind": "console", "enabled": False}]


def test_no_routes_means_every_enabled_channel() -> None:
    d = build_dispatcher({"channels": CHANNELS, "routes": []})
    try:
        assert route(AlertRecord.from_dict(ALERT), d.routes) == ["one", "two"]
    finally:
        d.close(timeout=1)


def test_any_route_replaces_the_default() -> None:
    d = build_dispatcher({"channels": CHANNELS, "routes": [{"brands": ["Globex"], "channels": ["one"]}]})
    try:
        assert route(AlertRecord.from_dict(ALERT), d.routes) == []
        assert route(AlertRecord.from_dict({**ALERT, "brand": "Globex"}), d.routes) == ["one"]
    finally:
        d.close(timeout=1)
