"""Console: the alert as a few readable lines on stdout (or stderr), for demos and local runs."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from .base import ChannelBase, ChannelOptions

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

    def send(self, alert: dict[str, Any]) -> None:
        # Imported here, not at module level: alerts.worker imports this package to dispatch, so a
        # top-level import would be circular.
        from alerts.digest import format_digest_console
        from alerts.worker import format_console

        text = format_digest_console(alert) if alert.get("event") == "digest" else format_console(alert)
        # Looked up per call so that redirected/captured streams (tests, daemons) are honoured.
        stream = sys.stdout if self.opts.stream == "stdout" else sys.stderr
        with _WRITE_LOCK:
            print(text, file=stream, flush=True)
