"""Cost bounds for the hostile-input suite: the wall time and the peak memory of one call.

Time is measured on a plain run, memory (tracemalloc's peak of Python allocations) on a second,
traced run, so tracing does not inflate the time. The bounds the tests assert are generous for a
loaded two-core CI machine and still far below what each row cost before its fix.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cost:
    seconds: float
    peak_mb: float

    def __str__(self) -> str:
        return f"{self.seconds * 1000:.1f} ms, {self.peak_mb:.1f} MB peak"


def measure(fn: Callable[..., Any], *args: Any, max_seconds: float, max_mb: float) -> Cost:
    """Run ``fn(*args)`` twice (timed, then traced) and assert both bounds.

    The time is asserted before the traced run, so a call that has become slow fails quickly
    instead of running again under tracemalloc.
    """
    gc.collect()
    started = time.perf_counter()
    fn(*args)
    seconds = time.perf_counter() - started
    assert seconds <= max_seconds, f"took {seconds:.2f}s, over the {max_seconds}s bound"
    gc.collect()
    tracemalloc.start()
    try:
        fn(*args)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert peak <= max_mb, f"peak {peak:.1f} MB, over the {max_mb} MB bound"
    return Cost(seconds, peak)
