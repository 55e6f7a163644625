"""Alert delivery channels: the registry, the ``alerts.channels`` / ``alerts.routes`` config, routing.

Config (see alerts/CHANNELS.md)::

    alerts:
      channels:
        - {name: social-slack, kind: slack, webhook_url: {env: SLACK_WEBHOOK_URL}}
        - {name: oncall-mail, kind: email, host: smtp.example.com, from: alerts@example.com,
           to: [oncall@example.com], username: alerts, password: {file: secrets/smtp}}
      routes:
        - {brands: ["*"], min_severity: medium, channels: [social-slack]}
        - {brands: ["Nimbus Air"], min_severity: high, events: [opened, resolved], channels: [oncall-mail]}

:func:`validate_channel_options` checks one channel's options at config-load time (no secrets or
network needed); :func:`build_channel` makes the live channel (resolving secrets);
:func:`build_dispatcher` builds every enabled channel and a :class:`Dispatcher`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from brandpulse.plugins import Registry

from .base import (
    EVENTS,
    SEVERITIES,
    Channel,
    ChannelBase,
    ChannelConfigError,
    ChannelOptions,
    DeliveryError,
    Record,
    SecretRef,
    ThreadedChannel,
    idempotency_key,
)
from .console import ConsoleChannel
from .delivery import (
    Backoff,
    DeliveryLog,
    DeliveryResult,
    Dispatcher,
    InMemoryDeliveryLog,
    state_store_hooks,
    state_store_thread_hooks,
)
from .email import EmailChannel
from .routing import Route, route
from .slack import SlackChannel
from .teams import TeamsChannel
from .webhook import WebhookChannel, verify_signature

__all__ = [
    "CHANNELS",
    "EVENTS",
    "SEVERITIES",
    "Backoff",
    "Channel",
    "ChannelConfigError",
    "ChannelSettings",
    "ChannelsConfig",
    "DeliveryError",
    "DeliveryLog",
    "DeliveryResult",
    "Dispatcher",
    "InMemoryDeliveryLog",
    "Record",
    "Route",
    "SecretRef",
    "ThreadedChannel",
    "build_channel",
    "build_dispatcher",
    "check_channels",
    "idempotency_key",
    "route",
    "state_store_hooks",
    "state_store_thread_hooks",
    "validate_channel_options",
    "verify_signature",
]

# The registry: a new channel is one module in this package plus one entry here.
CHANNELS: Registry[ChannelBase] = Registry(
    "channel",
    [SlackChannel, TeamsChannel, WebhookChannel, EmailChannel, ConsoleChannel],
    error=ChannelConfigError,
)


def validate_channel_options(kind: str, options: Mapping[str, Any]) -> ChannelOptions:
    """The channel's frozen ``Options``, or ``ChannelConfigError`` naming the first bad key."""
    opts = CHANNELS.validate(kind, options)
    assert isinstance(opts, ChannelOptions)
    return opts


def build_channel(name: str, kind: str, options: Mapping[str, Any] | ChannelOptions,
                  base_dir: Path = Path("."), **deps: Any) -> ChannelBase:
    """A ready channel; secrets (env vars, secret files) are resolved here, not at validation.

    ``deps`` are for tests: ``session`` (a requests.Session) and ``clock`` (epoch seconds).
    """
    cls = CHANNELS.get(kind)
    opts = options if isinstance(options, ChannelOptions) else validate_channel_options(kind, options)
    try:
        return cls(name, opts, base_dir=base_dir, **deps)
    except ChannelConfigError:
        raise
    except ValueError as exc:
        raise ChannelConfigError("", str(exc)) from exc


class ChannelSettings(BaseModel):
    """One entry of ``alerts.channels``: name, kind, enabled; every other key is the kind's option."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="unique channel name")
    kind: str = Field(min_length=1, description="slack, teams, webhook, email or console")
    enabled: bool = Field(True, description="false keeps the channel configured but silent")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def check_channels(channels: Sequence[ChannelSettings], routes: Sequence[Route]) -> None:
    """Cross-checks for a config loader: unique names, valid options per kind, routes name real channels.

    Raises ``ChannelConfigError`` whose key is the path under ``alerts`` (``channels[1].webhook_url``).
    """
    seen: set[str] = set()
    for i, ch in enumerate(channels):
        if ch.name.casefold() in seen:
            raise ChannelConfigError(f"channels[{i}].name", f"{ch.name!r} is used twice; names must be unique")
        seen.add(ch.name.casefold())
        try:
            validate_channel_options(ch.kind, ch.options)
        except ChannelConfigError as exc:
            sub = "kind" if exc.key == "kind" else exc.key
            raise ChannelConfigError(f"channels[{i}]" + (f".{sub}" if sub else ""), exc.message) from exc
    names = {ch.name for ch in channels}
    for i, r in enumerate(routes):
        for j, name in enumerate(r.channels):
            if name not in names:
                known = ", ".join(sorted(names)) or "none configured"
                raise ChannelConfigError(f"routes[{i}].channels[{j}]", f"no channel named {name!r} (known: {known})")


class ChannelsConfig(BaseModel):
    """``alerts.channels`` + ``alerts.routes``, validated together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[ChannelSettings, ...] = ()
    routes: tuple[Route, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ChannelsConfig:
        check_channels(self.channels, self.routes)
        return self


def build_dispatcher(config: ChannelsConfig | Mapping[str, Any], *, base_dir: Path = Path("."),
                     delivery_log: DeliveryLog | None = None, channel_deps: Mapping[str, Any] | None = None,
                     **dispatcher_options: Any) -> Dispatcher:
    """Build every enabled channel and a Dispatcher over them (secrets are resolved now).

    ``dispatcher_options`` go to :class:`Dispatcher` (max_attempts, backoff, on_result, ...).
    """
    cfg = config if isinstance(config, ChannelsConfig) else ChannelsConfig.model_validate(dict(config))
    built: list[Channel] = []
    for i, ch in enumerate(cfg.channels):
        if not ch.enabled:
            continue
        try:
            built.append(build_channel(ch.name, ch.kind, ch.options, base_dir, **dict(channel_deps or {})))
        except ChannelConfigError as exc:
            for b in built:  # do not leak sessions of the channels built before the bad one
                closer = getattr(b, "close", None)
                if callable(closer):
                    closer()
            raise ChannelConfigError(f"channels[{i}]" + (f".{exc.key}" if exc.key else ""), exc.message) from exc
    # No routes at all: every enabled channel gets every alert (a channel configured and never
    # routed would otherwise stay silent without a word). Any route turns this default off.
    routes = cfg.routes or ((Route(channels=tuple(b.name for b in built)),) if built else ())
    return Dispatcher(built, routes, delivery_log, **dispatcher_options)
