"""The PNG chart (alerts/chart.py), checked by decoding it back with a small independent decoder."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.chart import (
    BAND,
    BG,
    HIGHLIGHT,
    NEG,
    PALETTE,
    TOTAL,
    ChartData,
    encode_indexed_png,
    layout_for,
    render_png,
)

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
RGB = {name: PALETTE[i] for name, i in {"bg": BG, "band": BAND, "neg": NEG, "total": TOTAL,
                                       "highlight": HIGHLIGHT}.items()}


@dataclass
class Image:
    width: int
    height: int
    rgb: list[list[tuple[int, int, int]]]

    def at(self, x: int, y: int) -> tuple[int, int, int]:
        return self.rgb[y][x]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def decode_png(data: bytes) -> Image:
    """A minimal PNG reader written from the specification: every chunk's CRC is checked, IDAT
    chunks are joined and inflated, the five row filters are undone, and palette (type 3) or
    truecolour (type 2) 8-bit pixels become RGB tuples. Anything else is rejected."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, payload))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, comp, filt, interlace) == (8, 0, 0, 0) and ctype in (2, 3)
    palette = None
    if ctype == 3:
        plte = next(p for k, p in chunks if k == b"PLTE")
        palette = [tuple(plte[i:i + 3]) for i in range(0, len(plte), 3)]
    raw = zlib.decompress(b"".join(p for k, p in chunks if k == b"IDAT"))
    bpp = 1 if ctype == 3 else 3
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            add = {0: 0, 1: a, 2: b, 3: (a + b) // 2, 4: _paeth(a, b, c)}[ftype]
            line[i] = (line[i] + add) & 0xFF
        rows.append(line)
        prev = line
    rgb: list[list[tuple[int, int, int]]]
    if palette is not None:
        rgb = [[(palette[v][0], palette[v][1], palette[v][2]) for v in row] for row in rows]
    else:
        rgb = [[(row[i], row[i + 1], row[i + 2]) for i in range(0, stride, 3)] for row in rows]
    return Image(width, height, rgb)


def spike_data(**kw: object) -> ChartData:
    n = 36
    neg = [20.0] * n
    neg[30:35] = [30, 45, 60, 80, 70]
    total = [50.0 + (i % 5) for i in range(n)]
    args: dict[str, object] = dict(start=START, bucket_seconds=600, negative=neg, total=total,
                                   expected_low=[2.0] * n, expected_high=[8.0] * n,
                                   highlight=(START + timedelta(minutes=300), START + timedelta(minutes=350)),
                                   title="Nimbus Air")
    args.update(kw)
    return ChartData(**args)  # type: ignore[arg-type]


def test_png_is_valid_small_and_deterministic() -> None:
    data = spike_data()
    png = render_png(data)
    img = decode_png(png)
    assert (img.width, img.height) == (480, 200)
    assert len(png) < 4096
    assert render_png(spike_data()) == png


def test_the_band_fills_each_bucket_between_the_expected_low_and_high() -> None:
    data = spike_data()
    lay = layout_for(data)
    img = decode_png(render_png(data))
    y_hi, y_lo = lay.y_neg(8.0), lay.y_neg(2.0)
    for i in range(lay.n):
        x0, x1 = lay.x_span(i)
        for y in (y_hi, lay.y_neg(3.5), y_lo):  # the dotted middle (5.0) is a row of its own
            assert img.at(x0, y) == img.at(x1, y) == RGB["band"], (i, y)
        # just outside the band: background or the alert-window shade, never band
        assert img.at(x1, y_hi - 2) in (RGB["bg"], RGB["highlight"])
        assert img.at(x1, y_lo + 2) in (RGB["bg"], RGB["highlight"])


def test_the_negative_line_passes_at_each_bucket_value() -> None:
    data = spike_data()
    lay = layout_for(data)
    img = decode_png(render_png(data))
    assert lay.neg_max == 100.0  # the peak of 80 rounds up to a nice 100
    for i, v in enumerate(data.negative):
        x, y = lay.x_mid(i), lay.y_neg(v)
        assert RGB["neg"] in (img.at(x, y), img.at(x, y + 1)), (i, v)
    # The peak is high in the panel, the flat part lower, and nothing red far from the line.
    assert lay.y_neg(80) < lay.y_neg(20) - 50
    x_flat = lay.x_mid(5)
    column = [img.at(x_flat, y) for y in range(lay.neg_top, lay.neg_bottom)]
    red_rows = [y for y, c in zip(range(lay.neg_top, lay.neg_bottom), column, strict=True) if c == RGB["neg"]]
    assert red_rows and max(red_rows) - min(red_rows) <= 2 and abs(min(red_rows) - lay.y_neg(20)) <= 1


def test_total_bars_reach_their_value() -> None:
    data = spike_data()
    lay = layout_for(data)
    img = decode_png(render_png(data))
    for i, v in enumerate(data.total):
        x = lay.x_mid(i)
        top = lay.y_total(v)
        assert img.at(x, top) == RGB["total"] and img.at(x, lay.total_bottom - 1) == RGB["total"]
        assert img.at(x, top - 1) != RGB["total"]


def test_the_alert_window_is_shaded_and_nothing_else_is() -> None:
    data = spike_data()
    lay = layout_for(data)
    img = decode_png(render_png(data))
    y = lay.y_neg(95)  # above everything but the grid line at 100 and the spike line
    for i in range(lay.n):
        x0, _ = lay.x_span(i)
        expected = RGB["highlight"] if 30 <= i < 35 else RGB["bg"]
        assert img.at(x0, y) == expected, i


def test_without_a_band_or_window_there_is_no_band_colour() -> None:
    data = spike_data(expected_low=None, expected_high=None, highlight=None)
    img = decode_png(render_png(data))
    colours = {c for row in img.rgb for c in row}
    assert RGB["band"] not in colours and RGB["highlight"] not in colours
    assert RGB["neg"] in colours and RGB["total"] in colours


def test_one_bucket_and_all_zero_series_still_render() -> None:
    img = decode_png(render_png(ChartData(start=START, bucket_seconds=60, negative=[0], total=[0])))
    assert img.width == 480


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200), st.integers(120, 700),
       st.integers(100, 400))
def test_any_series_and_size_gives_a_decodable_png(values: list[float], width: int, height: int) -> None:
    data = ChartData(start=START, bucket_seconds=300, negative=values, total=[v * 3 for v in values],
                     expected_low=[v / 2 for v in values], expected_high=[v * 2 for v in values])
    img = decode_png(render_png(data, width=width, height=height))
    assert (img.width, img.height) == (width, height)


def test_invalid_input_is_rejected_with_a_reason() -> None:
    with pytest.raises(ValueError, match="at least one bucket"):
        ChartData(start=START, bucket_seconds=60, negative=[], total=[])
    with pytest.raises(ValueError, match="total has 1 values"):
        ChartData(start=START, bucket_seconds=60, negative=[1, 2], total=[1])
    with pytest.raises(ValueError, match="both expected_low and expected_high"):
        ChartData(start=START, bucket_seconds=60, negative=[1], total=[1], expected_low=[1])
    with pytest.raises(ValueError, match="timezone"):
        ChartData(start=datetime(2026, 1, 1), bucket_seconds=60, negative=[1], total=[1])
    with pytest.raises(ValueError, match="120 × 100"):
        render_png(spike_data(), width=50)
    with pytest.raises(ValueError, match="palette"):
        encode_indexed_png(bytes([9]), 1, 1, PALETTE)


def test_count_band_is_the_central_interval_of_the_detectors_count_model() -> None:
    from alerts.chart import count_band

    assert count_band(10.0) == (5.0, 15.0)  # Poisson(10): P(X<=4)=.029 < .05 <= P(X<=5), P(X<=15)=.951
    lo, hi = count_band(10.0, alpha=0.5)
    assert lo < 5.0 and hi > 15.0  # over-dispersed: wider
    assert count_band(0.0) == (0.0, 0.0)
    assert count_band(699.0, alpha=0.1) == (377.0, 1101.0)  # exact walk, checked in log space
    lo, hi = count_band(5000.0)
    assert abs(lo - (5000 - 1.645 * 5000**0.5)) <= 2 and abs(hi - (5000 + 1.645 * 5000**0.5)) <= 2
    with pytest.raises(ValueError):
        count_band(1.0, coverage=1.0)


def test_module_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("alerts.chart"))
    assert result.attempted > 0 and result.failed == 0
