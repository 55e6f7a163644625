"""Generic signed webhook: the alert record (``AlertRecord.to_dict()``, with its stories, new terms,
chart data and, when ``alerts.chart_url`` is set, the signed ``chart_url``) as JSON, for your own
automation.

Request::

    POST <url>
    Content-Type: application/json; charset=utf-8
    Idempotency-Key: <alert_id>:<event>:<observed_negative>
    X-BrandPulse-Timestamp: <unix seconds>
    X-BrandPulse-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

    {...alert record..., "delivered_at": "<ISO-8601 UTC>", "idempotency_key": "..."}

The signed material is the ASCII timestamp, a dot, then the raw body bytes exactly as received
(verify *before* parsing JSON). Signing the timestamp lets a receiver reject replays: refuse
requests whose timestamp is more than a few minutes from its clock (:func:`verify_signature`
uses 5 minutes). Each retry is signed afresh with a new timestamp, so a retry after a long
backoff still verifies; ``Idempotency-Key`` stays the same across retries and restarts.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

# The scheme is the core's, shared with the ingest webhook receiver; re-exported for receivers.
from brandpulse.signing import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from brandpulse.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from brandpulse.signing import verify_signature as verify_signature

from .base import (
    ChannelBase,
    ChannelOptions,
    Record,
    SecretRef,
    check_http_url,
    new_session,
    post,
    resolve_secret,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 header-name characters
_RESERVED = {"content-type", "content-length", "host", "idempotency-key"}


class WebhookOptions(ChannelOptions):
    url: str | SecretRef  # a SecretRef when the URL itself carries a token
    secret: SecretRef  # HMAC key; required: an unsigned alert feed is an open door for forgeries
    signature_header: str = SIGNATURE_HEADER
    timestamp_header: str = TIMESTAMP_HEADER
    headers: dict[str, str | SecretRef] = Field(default_factory=dict)  # e.g. Authorization: {env: ...}
    timeout_seconds: float = Field(10.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | SecretRef) -> str | SecretRef:
        if isinstance(v, str):
            check_http_url(v, "")
        return v

    @field_validator("signature_header", "timestamp_header")
    @classmethod
    def _header_name(cls, v: str) -> str:
        if not _TOKEN.match(v):
            raise ValueError(f"{v!r} is not a valid HTTP header name")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str | SecretRef]) -> dict[str, str | SecretRef]:
        for name in v:
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if name.lower() in _RESERVED:
                raise ValueError(f"header {name!r} is set by BrandPulse")
        return v


class WebhookChannel(ChannelBase):
    kind: ClassVar[str] = "webhook"
    Options: ClassVar[type[ChannelOptions]] = WebhookOptions

    def __init__(self, name: str, options: ChannelOptions, *, base_dir: Path = Path("."), **kwargs: Any) -> None:
        super().__init__(name, options, base_dir=base_dir, clock=kwargs.get("clock"))
        assert isinstance(options, WebhookOptions)
        self.opts = options
        url = options.url
        self._url = resolve_secret(url, base_dir, "url") if isinstance(url, SecretRef) else SecretStr(url)
        check_http_url(self._url.get_secret_value(), "url")
        self._key = resolve_secret(options.secret, base_dir, "secret").get_secret_value().encode("utf-8")
        self._headers: dict[str, SecretStr] = {
            k: resolve_secret(v, base_dir, f"headers.{k}") if isinstance(v, SecretRef) else SecretStr(v)
            for k, v in options.headers.items()
        }
        self.session = kwargs.get("session") or new_session()

    def build_request(self, alert: Record) -> tuple[bytes, dict[str, str]]:
        """Body and headers of one attempt (exposed so tests can check the signing scheme)."""
        key = alert.idempotency_key
        now = self.clock()
        delivered_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        body = json.dumps({**alert.to_dict(), "delivered_at": delivered_at, "idempotency_key": key},
                          ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
        timestamp = str(int(now))
        headers = {k: v.get_secret_value() for k, v in self._headers.items()}
        headers.update({
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: key,
            self.opts.timestamp_header: timestamp,
            self.opts.signature_header: sign(self._key, timestamp, body),
        })
        return body, headers

    def send(self, alert: Record) -> None:
        body, headers = self.build_request(alert)
        post(self.session, self._url.get_secret_value(), body, headers,
             timeout=self.opts.timeout_seconds, now=self.clock)

    def close(self) -> None:
        self.session.close()
