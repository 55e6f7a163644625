"""`brandpulse alerts backtest --csv`: the report and the --scores CSV, through the real CLI."""

from __future__ import annotations

import csv
import io
import random
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.cli import main

REPO = Path(__file__).resolve().parents[2]


def series(path: Path, *, spike: bool, header: str = "timestamp,total,negative") -> int:
    rnd = random.Random(7)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    rows = 12 * 24 * 3
    with path.open("w") as fh:
        fh.write(header + "\n")
        for i in range(rows):
            total = max(0, int(rnd.gauss(20, 4)))
            neg = sum(rnd.random() < 0.2 for _ in range(total))
            if spike and 12 * 24 * 2 + 60 <= i < 12 * 24 * 2 + 66:
                total, neg = total + 40, neg + 38
            if header.endswith("value"):
                fh.write(f"{t:%Y-%m-%d %H:%M:%S},{neg}\n")
            else:
                fh.write(f"{t.isoformat()},{total},{neg}\n")
            t += timedelta(minutes=5)
    return rows


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--config", str(REPO / "config" / "demo.yaml"), "alerts", "backtest", *argv])
    return code, out.getvalue()


def test_report_shows_the_injected_spike_and_nothing_else(tmp_path: Path) -> None:
    series(tmp_path / "s.csv", spike=True)
    code, out = run("--csv", str(tmp_path / "s.csv"))
    assert code == 0
    assert "alerts that would have fired: 1 " in out
    assert "2026-11-03 05:00" in out  # the spike's first bucket
    series(tmp_path / "q.csv", spike=False)
    code, out = run("--csv", str(tmp_path / "q.csv"))
    assert code == 0 and "alerts that would have fired: 0 " in out


def test_scores_csv_has_one_row_per_input_row_in_unit_interval(tmp_path: Path) -> None:
    n = series(tmp_path / "nab.csv", spike=True, header="timestamp,value")
    code, out = run("--csv", str(tmp_path / "nab.csv"), "--scores")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == n
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(0.0 <= x <= 1.0 for x in scores)
    spike_rows = scores[12 * 24 * 2 + 60: 12 * 24 * 2 + 66]
    assert max(spike_rows) > 0.5 > sorted(scores)[len(scores) // 2]
