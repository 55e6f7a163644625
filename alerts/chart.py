"""A small PNG chart of a brand's last hours: negative mentions against the expected band, and the
total volume underneath. Written with ``zlib`` and ``struct`` only (no plotting library), so it
can be attached to an email, uploaded to Slack or served by the alert worker anywhere.

    ┌──────────────────────────────────────────────┐
    │ NEG ─ EXP ▒                          (title) │
    │ 40┤            ▒▒▒▒▒▒▒       ╱╲   alert  ░░░ │  top panel: negative mentions per bucket
    │   │ ▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒╱  ╲  window ░░░ │  (red line) over the expected band
    │  0┤────────────────────────────────────────  │  (pink), alert window shaded
    │ TOTAL  ▁▂▂▃▂▂▁▂▂▃▃▂▂▂▂▃▅▇█▆ (bars)           │  bottom panel: total mentions
    │   10:00     11:00     12:00     13:00   UTC  │
    └──────────────────────────────────────────────┘

>>> from datetime import UTC, datetime
>>> png = render_png(ChartData(start=datetime(2026, 3, 1, 10, 0, tzinfo=UTC), bucket_seconds=600,
...                            negative=[2, 3, 2, 9, 14], total=[40, 42, 38, 50, 61],
...                            expected_low=[1] * 5, expected_high=[5] * 5))
>>> png[:8] == PNG_SIGNATURE, len(png) < 4000
(True, True)

The image is an indexed-colour PNG (8-bit palette, one IDAT chunk, filter 0 on every row,
deflate level 9): flat colours compress to a few KB, and the same input always gives the same
bytes. ``Layout`` maps buckets and values to pixels; the tests decode the PNG and check pixels
through it. Labels use a 3×5 bitmap font (digits, ``:.-`` and capital letters).
``count_band`` turns the detector's expected count and over-dispersion into the band's low/high.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Palette indices.
BG, AXIS, GRID, BAND, NEG, TOTAL, HIGHLIGHT, EXPECTED = range(8)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 255, 255),  # background
    (60, 60, 60),  # axes and text
    (225, 225, 225),  # grid
    (250, 205, 205),  # expected band
    (205, 30, 30),  # negative mentions
    (120, 140, 170),  # total mentions
    (255, 244, 200),  # alert window
    (230, 150, 150),  # expected (middle of the band)
)

# 3×5 glyphs, rows top to bottom; "#" is ink.
_FONT: dict[str, tuple[str, ...]] = {
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"), "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"), "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "###"),
    ":": ("...", ".#.", "...", ".#.", "..."), ".": ("...", "...", "...", "...", ".#."),
    "-": ("...", "...", "###", "...", "..."), " ": ("...", "...", "...", "...", "..."),
    "A": (".#.", "#.#", "###", "#.#", "#.#"), "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"), "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"), "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"), "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"), "J": ("..#", "..#", "..#", "#.#", ".#."),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"), "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#.#", "###", "###", "#.#", "#.#"), "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."), "P": ("##.", "#.#", "##.", "#..", "#.."),
    "Q": (".#.", "#.#", "#.#", "##.", ".##"), "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."), "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"), "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#.#", "#.#", "###", "###", "#.#"), "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."), "Z": ("###", "..#", ".#.", "#..", "###"),
}


@dataclass(frozen=True, slots=True)
class ChartData:
    """One value per bucket, oldest first; ``start`` is the first bucket's start."""

    start: datetime
    bucket_seconds: int
    negative: Sequence[float]
    total: Sequence[float]
    expected_low: Sequence[float] | None = None
    expected_high: Sequence[float] | None = None
    highlight: tuple[datetime, datetime] | None = None  # the alert window, shaded
    title: str = ""
    more_highlights: tuple[tuple[datetime, datetime], ...] = ()  # other windows shaded alike (a backtest's alerts)

    def __post_init__(self) -> None:
        n = len(self.negative)
        if n == 0:
            raise ValueError("a chart needs at least one bucket")
        if self.bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        for name in ("total", "expected_low", "expected_high"):
            seq = getattr(self, name)
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} values, negative has {n}")
        if (self.expected_low is None) != (self.expected_high is None):
            raise ValueError("give both expected_low and expected_high, or neither")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value`` (at least 1).

    >>> [nice_ceiling(v) for v in (0, 0.4, 3, 7, 12, 26, 180)]
    [1.0, 1.0, 5.0, 10.0, 20.0, 50.0, 200.0]
    """
    if value <= 1:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= value - 1e-9:
            return float(m * exp)
    return float(10 * exp)  # pragma: no cover - the loop always returns


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things are drawn: panels, and the mapping from buckets/values to pixels."""

    width: int
    height: int
    n: int
    left: int = 30
    right: int = 8
    top: int = 14
    total_height: int = 36
    gap: int = 8
    bottom: int = 12
    neg_max: float = 1.0
    total_max: float = 1.0

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def neg_top(self) -> int:
        return self.top

    @property
    def neg_bottom(self) -> int:  # the zero line of the top panel
        return self.height - self.bottom - self.total_height - self.gap

    @property
    def total_top(self) -> int:
        return self.height - self.bottom - self.total_height

    @property
    def total_bottom(self) -> int:
        return self.height - self.bottom

    def x_span(self, i: int) -> tuple[int, int]:
        """First and last pixel column of bucket ``i``."""
        x0 = self.left + (i * self.plot_w) // self.n
        x1 = self.left + ((i + 1) * self.plot_w) // self.n - 1
        return x0, max(x0, x1)

    def x_mid(self, i: int) -> int:
        x0, x1 = self.x_span(i)
        return (x0 + x1) // 2

    def y_neg(self, value: float) -> int:
        """Row of ``value`` in the top panel (0 on the zero line, ``neg_max`` at the top)."""
        frac = min(max(value / self.neg_max, 0.0), 1.0)
        return self.neg_bottom - round(frac * (self.neg_bottom - self.neg_top))

    def y_total(self, value: float) -> int:
        frac = min(max(value / self.total_max, 0.0), 1.0)
        return self.total_bottom - round(frac * (self.total_bottom - self.total_top))


def layout_for(data: ChartData, width: int = 480, height: int = 200) -> Layout:
    peak = max([*data.negative, *(data.expected_high or ()), 1.0])
    if width < 120 or height < 100:
        raise ValueError("the chart needs at least 120 × 100 pixels")
    return Layout(width=width, height=height, n=len(data.negative), neg_max=nice_ceiling(peak),
                  total_max=nice_ceiling(max([*data.total, 1.0])))


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.px = bytearray(width * height)  # BG everywhere

    def set(self, x: int, y: int, c: int) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            self.px[y * self.w + x] = c

    def rect(self, x0: int, y0: int, x1: int, y1: int, c: int) -> None:
        """Fill the inclusive rectangle (corners in any order), clipped to the canvas."""
        xa, xb = sorted((max(0, x0), min(self.w - 1, x1)))
        ya, yb = sorted((y0, y1))
        ya, yb = max(0, ya), min(self.h - 1, yb)
        if xa > xb or ya > yb:
            return
        row = bytes([c]) * (xb - xa + 1)
        for y in range(ya, yb + 1):
            self.px[y * self.w + xa: y * self.w + xb + 1] = row

    def line(self, x0: int, y0: int, x1: int, y1: int, c: int, thick: int = 1) -> None:
        """Bresenham; ``thick`` 2 draws a second pixel below each one."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            for t in range(thick):
                self.set(x0, y0 + t, c)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, s: str, c: int) -> int:
        """Draw ``s`` with its top-left corner at (x, y); returns the x after it. Unknown
        characters are skipped, lower case is drawn as upper case."""
        for ch in s.upper():
            glyph = _FONT.get(ch)
            if glyph is None:
                continue
            for gy, row in enumerate(glyph):
                for gx, cell in enumerate(row):
                    if cell == "#":
                        self.set(x + gx, y + gy, c)
            x += 4
        return x


def text_width(s: str) -> int:
    return 4 * sum(1 for ch in s.upper() if ch in _FONT) - 1


def _fmt(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:.1f}"


def render_png(data: ChartData, *, width: int = 480, height: int = 200) -> bytes:
    """The chart as PNG bytes (see the module doc for what it shows)."""
    lay = layout_for(data, width, height)
    cv = _Canvas(width, height)
    n = lay.n
    # The alert window, under everything else.
    windows = ([data.highlight] if data.highlight is not None else []) + list(data.more_highlights)
    for h0, h1 in windows:
        first = max(0, math.floor((h0 - data.start).total_seconds() / data.bucket_seconds))
        last = min(n - 1, math.ceil((h1 - data.start).total_seconds() / data.bucket_seconds) - 1)
        for i in range(first, last + 1):
            x0, x1 = lay.x_span(i)
            cv.rect(x0, lay.neg_top, x1, lay.total_bottom, HIGHLIGHT)
    # Grid and y ticks of the top panel: 0, half, max.
    for frac in (0.5, 1.0):
        y = lay.y_neg(lay.neg_max * frac)
        cv.rect(lay.left, y, lay.left + lay.plot_w - 1, y, GRID)
    for v in (0.0, lay.neg_max / 2, lay.neg_max):
        label = _fmt(v)
        cv.text(lay.left - 3 - text_width(label), lay.y_neg(v) - 2, label, AXIS)
    # The expected band (per bucket, a step) and its middle.
    if data.expected_low is not None and data.expected_high is not None:
        for i in range(n):
            x0, x1 = lay.x_span(i)
            lo, hi = data.expected_low[i], data.expected_high[i]
            cv.rect(x0, lay.y_neg(hi), x1, lay.y_neg(lo), BAND)
        for i in range(n):
            x0, x1 = lay.x_span(i)
            mid = lay.y_neg((data.expected_low[i] + data.expected_high[i]) / 2)
            for x in range(x0, x1 + 1, 2):  # dotted
                cv.set(x, mid, EXPECTED)
    # Total volume: bars in the bottom panel.
    for i in range(n):
        x0, x1 = lay.x_span(i)
        if data.total[i] > 0:
            cv.rect(x0, lay.y_total(data.total[i]), max(x0, x1 - 1), lay.total_bottom - 1, TOTAL)
    total_label = _fmt(lay.total_max)
    cv.text(lay.left - 3 - text_width(total_label), lay.total_top, total_label, AXIS)
    # Axes.
    cv.rect(lay.left - 1, lay.neg_top, lay.left - 1, lay.neg_bottom, AXIS)
    cv.rect(lay.left - 1, lay.neg_bottom, lay.left + lay.plot_w - 1, lay.neg_bottom, AXIS)
    cv.rect(lay.left - 1, lay.total_top, lay.left - 1, lay.total_bottom, AXIS)
    cv.rect(lay.left - 1, lay.total_bottom, lay.left + lay.plot_w - 1, lay.total_bottom, AXIS)
    # Negative mentions: a 2-pixel line through the bucket middles (a dot for a single bucket).
    pts = [(lay.x_mid(i), lay.y_neg(v)) for i, v in enumerate(data.negative)]
    if len(pts) == 1:
        cv.rect(pts[0][0] - 1, pts[0][1] - 1, pts[0][0] + 1, pts[0][1] + 1, NEG)
    for (xa, ya), (xb, yb) in pairwise(pts):
        cv.line(xa, ya, xb, yb, NEG, thick=2)
    # Time ticks: about six labels, on whole buckets.
    step = max(1, math.ceil(n / 6))
    for i in range(0, n, step):
        t = (data.start + timedelta(seconds=i * data.bucket_seconds)).astimezone(UTC)
        x0, _ = lay.x_span(i)
        cv.rect(x0, lay.total_bottom + 1, x0, lay.total_bottom + 2, AXIS)
        cv.text(x0, lay.total_bottom + 4, f"{t:%H:%M}", AXIS)
    cv.text(width - lay.right - text_width("UTC"), lay.total_bottom + 4, "UTC", AXIS)
    # Legend and title.
    x = cv.text(lay.left, 3, "NEG", AXIS) + 2
    cv.rect(x, 5, x + 8, 6, NEG)
    x += 14
    if data.expected_low is not None:
        x = cv.text(x, 3, "EXPECTED", AXIS) + 2
        cv.rect(x, 3, x + 8, 7, BAND)
        x += 14
    x = cv.text(x, 3, "TOTAL", AXIS) + 2
    cv.rect(x, 3, x + 8, 7, TOTAL)
    if data.title:
        tw = text_width(data.title)
        cv.text(max(x + 16, width - lay.right - tw), 3, data.title, AXIS)
    return encode_indexed_png(cv.px, width, height, PALETTE)


def count_band(mean: float, alpha: float = 0.0, coverage: float = 0.9) -> tuple[float, float]:
    """The central ``coverage`` interval of a count with this mean: negative binomial with
    variance ``mean + alpha·mean²`` (Poisson at ``alpha = 0``), the model the spike detector tests
    against, so the band shows the counts it considers ordinary.

    Exact quantiles by walking the probabilities up to a mean of 700 (where e^-mean still fits a
    float); a normal approximation of the same mean and variance above, which is close for
    Poisson-like counts but symmetric where the true band is skewed (over-dispersed counts:
    at mean 701 and alpha 0.1 it gives 333..1069 against 378..1104 exact).

    >>> count_band(10.0), count_band(10.0, alpha=0.5), count_band(0.0)
    ((5.0, 15.0), (1.0, 25.0), (0.0, 0.0))
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError("coverage must be between 0 and 1")
    if mean <= 0:
        return 0.0, 0.0
    alpha = max(alpha, 0.0)
    lo_p, hi_p = (1.0 - coverage) / 2.0, 1.0 - (1.0 - coverage) / 2.0
    if mean > 700.0:
        sd = math.sqrt(mean + alpha * mean * mean)
        z = _normal_quantile(hi_p)
        return max(0.0, math.floor(mean - z * sd)), math.ceil(mean + z * sd)
    if alpha < 1e-9:
        p, step = math.exp(-mean), (lambda k: mean / (k + 1.0))
    else:
        r = 1.0 / alpha
        q = mean / (mean + r)
        p, step = math.exp(-r * math.log1p(mean / r)), (lambda k: (k + r) / (k + 1.0) * q)
    cdf, k, low = p, 0, None
    while True:
        if low is None and cdf >= lo_p:
            low = k
        if cdf >= hi_p:
            return float(low if low is not None else k), float(k)
        p *= step(k)
        k += 1
        cdf += p
        if k > 100_000:  # pragma: no cover - unreachable for means up to 700
            return float(low or 0), float(k)


def _normal_quantile(p: float) -> float:
    """Φ⁻¹(p) by bisection on ``erfc`` (no scipy): plenty for a chart."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_indexed_png(pixels: bytes | bytearray, width: int, height: int,
                       palette: Sequence[tuple[int, int, int]]) -> bytes:
    """An 8-bit indexed-colour PNG of ``pixels`` (row-major palette indices)."""
    if len(pixels) != width * height:
        raise ValueError(f"{len(pixels)} pixels for a {width}×{height} image")
    if not 1 <= len(palette) <= 256 or max(pixels, default=0) >= len(palette):
        raise ValueError("every pixel must index the palette (1..256 colours)")
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type 0 (None): flat colours compress well enough without one
        raw += pixels[y * width:(y + 1) * width]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    plte = b"".join(bytes(c) for c in palette)
    return (PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"PLTE", plte)
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b""))
