"""The alert's chart as a PNG (alerts/chart.py), and signed, expiring links to it that the alert
worker's HTTP port serves, for the channels that cannot carry an inline image (Slack, Teams,
webhooks; email attaches the PNG itself).

A link is::

    <alerts.chart_url>/charts/<alert_id>-<seq>.png?c=<chart>&e=<expires>&s=<signature>

* ``c``: the chart's data (counts, band, the alert window, a title) as compact JSON, deflated and
  base64url-encoded: the link carries the chart, so any alert worker — a restarted one, another
  replica — serves it without a store or a lookup. About 400–700 characters for six hours.
* ``e``: unix seconds after which the link is refused: the alert's ``raised_at`` plus
  ``alerts.chart_link_hours``, so a replayed alert gets the very same link.
* ``s``: hex HMAC-SHA256 with ``alerts.chart_secret`` over ``"<name>\\n<c>\\n<e>"``: nobody can make
  the worker draw a chart it did not issue, or extend a link's life.

The handler answers 200 ``image/png``, 403 for a bad signature, 410 for an expired link, 400 for a
malformed one, and decodes ``c`` only after the signature matched (and inflates at most 64 KB).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from alerts.chart import ChartData, render_png
from brandpulse.schema import AlertChart, AlertRecord

PATH = "/charts/"
MAX_TOKEN = 8192
MAX_INFLATED = 65536
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")

Response = tuple[int, str, bytes, dict[str, str]]


class LinkError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def chart_data(chart: AlertChart, highlight: tuple[datetime, datetime] | None = None, title: str = "") -> ChartData:
    return ChartData(start=chart.start, bucket_seconds=chart.bucket_seconds, negative=chart.negative,
                     total=chart.total, expected_low=chart.expected_low, expected_high=chart.expected_high,
                     highlight=highlight, title=title)


def record_png(alert: AlertRecord) -> bytes | None:
    """The alert's chart (its window shaded, the brand as the title), or None without chart data."""
    if alert.chart is None:
        return None
    return render_png(chart_data(alert.chart, (alert.window_start, alert.window_end), alert.brand))


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def encode_chart(chart: AlertChart, highlight: tuple[datetime, datetime], title: str) -> str:
    doc = {"s": int(chart.start.timestamp()), "b": chart.bucket_seconds, "n": list(chart.negative),
           "t": list(chart.total), "l": [_num(v) for v in chart.expected_low],
           "h": [_num(v) for v in chart.expected_high],
           "w": [highlight[0].timestamp(), highlight[1].timestamp()], "x": title}
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=").decode("ascii")


def decode_chart(token: str) -> ChartData:
    """The chart of a (verified) token; LinkError(400) when it is not one."""
    try:
        packed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise LinkError(400, "chart data too large")
        doc = json.loads(raw)
        chart = AlertChart(start=datetime.fromtimestamp(doc["s"], UTC), bucket_seconds=doc["b"], negative=doc["n"],
                           total=doc["t"], expected_low=doc["l"], expected_high=doc["h"])
        window = (datetime.fromtimestamp(float(doc["w"][0]), UTC), datetime.fromtimestamp(float(doc["w"][1]), UTC))
        return chart_data(chart, window, str(doc.get("x", ""))[:60])
    except LinkError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, zlib.error, ValidationError) as exc:
        raise LinkError(400, f"malformed chart data ({type(exc).__name__})") from None


class ChartLinks:
    """Issues and checks chart links (see the module doc)."""

    def __init__(self, base_url: str, secret: bytes, ttl_seconds: float, *,
                 clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("the chart link secret is empty")
        self.base_url = base_url.rstrip("/")
        self._key = secret
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def _sign(self, name: str, token: str, expires: str) -> str:
        return hmac.new(self._key, f"{name}\n{token}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, name: str, chart: AlertChart, highlight: tuple[datetime, datetime], title: str,
            issued: datetime) -> str:
        if not _NAME.match(name):
            raise ValueError(f"chart link name {name!r} is not [A-Za-z0-9_.-]")
        token = encode_chart(chart, highlight, title)
        expires = str(int(issued.timestamp() + self.ttl_seconds))
        return f"{self.base_url}{PATH}{name}.png?c={token}&e={expires}&s={self._sign(name, token, expires)}"

    def open(self, target: str) -> ChartData:
        """The chart behind a request target (path and query); LinkError when it must be refused."""
        if len(target) > MAX_TOKEN + 400:
            raise LinkError(400, "link too long")
        parts = urlsplit(target)
        if not parts.path.startswith(PATH) or not parts.path.endswith(".png"):
            raise LinkError(404, "not a chart link")
        name = parts.path[len(PATH):-len(".png")]
        query = parse_qs(parts.query)
        token, expires, signature = (query.get(k, [""])[0] for k in ("c", "e", "s"))
        if not _NAME.match(name) or not token or not expires.isdigit() or not signature:
            raise LinkError(400, "malformed chart link")
        expected = self._sign(name, token, expires)
        if not hmac.compare_digest(expected.encode(), signature.lower().encode("ascii", "replace")):
            raise LinkError(403, "bad signature")
        if int(expires) < self.clock():
            raise LinkError(410, "link expired")
        return decode_chart(token)

    def handle(self, target: str) -> Response:
        """For the worker's HTTP server: the PNG, or a short plain-text refusal."""
        try:
            png = render_png(self.open(target))
        except LinkError as exc:
            return exc.status, "text/plain; charset=utf-8", f"{exc.reason}\n".encode(), {}
        return 200, "image/png", png, {"Cache-Control": "public, max-age=86400"}
