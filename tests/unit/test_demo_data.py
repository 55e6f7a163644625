"""The bundled demo feeds are exactly what tools/demo/make_demo.py generates from templates.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_feeds_are_regenerated_byte_for_byte() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "demo" / "make_demo.py"), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
