"""Console: the alert as a few readable lines on stdout (or stderr), for demos and local runs."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from brandpulse.schema import AlertRecord

from .base import ChannelBase, ChannelOptions, Record, new_terms_line, story_lines
from .digest import format_digest_console

# Several console channels (or a console channel and the worker's own prints) may write at once;
# one lock keeps each multi-line alert contiguous.
_WRITE_LOCK = threading.Lock()


class ConsoleOptions(ChannelOptions):
    stream: Literal["stdout", "stderr"] = "stdout"


class ConsoleChannel(ChannelBase):
    kind: ClassVar[str] = "console"
    Options: ClassVar[type[ChannelOptions]] = ConsoleOptions

    def __init__(self, name: str, options: ChannelOptions, *, base_dir: Path = Path("."), **kwargs: Any) -> None:
        super().__init__(name, options, base_dir=base_dir, clock=kwargs.get("clock"))
        assert isinstance(options, ConsoleOptions)
        self.opts = options

    def send(self, alert: Record) -> None:
        self.write(format_console(alert) if isinstance(alert, AlertRecord) else format_digest_console(alert))

    def write(self, text: str) -> None:
        """Print already formatted text (a digest job's summary) as one contiguous block."""
        # Looked up per call so that redirected/captured streams (tests, daemons) are honoured.
        stream = sys.stdout if self.opts.stream == "stdout" else sys.stderr
        with _WRITE_LOCK:
            print(text, file=stream, flush=True)


def format_console(alert: AlertRecord) -> str:
    reason = alert.reason if alert.reason.startswith(alert.brand) else f"{alert.brand}: {alert.reason}"
    lines = [
        f"ALERT [{alert.severity.upper()}] {reason}",
        f"  {alert.event} · window {alert.window_start.isoformat()} .. {alert.window_end.isoformat()}"
        f" · id {alert.alert_id}",
        f"  negatives {alert.observed_negative} (expected {alert.expected_negative:.1f}) · "
        f"negative share {alert.negative_share:.0%} (usual {alert.expected_share or 0:.0%})",
    ]
    if alert.stories:
        lines.append(f"  stories ({len(alert.stories)} biggest by negative mentions):")
        lines.extend(f"    {line}" for line in story_lines(alert.stories, text_chars=120, limit=5))
    new = new_terms_line(alert.new_terms)
    if new:
        lines.append(f"  new: {new}")
    if alert.top_hashtags:
        lines.append("  hashtags: " + " ".join("#" + h.lstrip("#") for h in alert.top_hashtags))
    if alert.top_keywords:
        lines.append("  keywords: " + ", ".join(alert.top_keywords))
    if alert.languages:
        lines.append("  languages: " + ", ".join(f"{k} {v}" for k, v in alert.languages.items()))
    if alert.locations:
        lines.append("  places: " + ", ".join(alert.locations))
    for m in alert.top_mentions[:3]:
        who = f"@{m.author}" if m.author else "?"
        lines.append(f"  - {who} ({m.followers or 0} followers): {m.text[:140]!s}  {m.url or ''}")
    if alert.chart_url:
        lines.append(f"  chart: {alert.chart_url}")
    if alert.kibana_url:
        lines.append(f"  kibana: {alert.kibana_url}")
    return "\n".join(lines)
