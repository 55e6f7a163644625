"""Which channels an alert goes to: a list of routes, each a filter plus channel names.

Every matching route contributes its channels (union, in config order, each name once), so a
catch-all ``brands: ["*"]`` route for the on-call email can sit next to per-brand Slack routes.
Kept free of I/O and of the channel registry so the alert worker and tests can call it directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from brandpulse.schema import AlertEventKind as EventKind
from brandpulse.schema import AlertRecord
from brandpulse.schema import AlertSeverity as Severity

from .base import severity_rank


class Route(BaseModel):
    """``brands`` are case-insensitive names or shell patterns (``*``, ``Nimbus*``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    brands: tuple[str, ...] = Field(("*",), min_length=1, description="brand names or patterns; * = all")
    min_severity: Severity = Field("low", description="lowest severity routed (resolved events carry theirs)")
    events: tuple[EventKind, ...] = Field(("opened", "updated", "resolved"), min_length=1,
                                          description="which lifecycle events are routed")
    channels: tuple[str, ...] = Field(min_length=1, description="channel names")

    @field_validator("brands")
    @classmethod
    def _non_empty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not b.strip() for b in v):
            raise ValueError("brand names must not be empty")
        return v

    def matches(self, alert: AlertRecord) -> bool:
        if alert.event not in self.events:
            return False
        if severity_rank(alert.severity) < severity_rank(self.min_severity):
            return False
        brand = alert.brand.casefold()
        return any(fnmatchcase(brand, pattern.casefold()) for pattern in self.brands)


def route(alert: AlertRecord, routes: Iterable[Route | Mapping[str, Any]]) -> list[str]:
    """Channel names for ``alert``: the union over matching routes, first occurrence first."""
    out: dict[str, None] = {}
    for r in routes:
        rt = r if isinstance(r, Route) else Route.model_validate(r)
        if rt.matches(alert):
            for name in rt.channels:
                out.setdefault(name, None)
    return list(out)
