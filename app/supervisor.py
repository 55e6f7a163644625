"""Runs the four workers as separate processes on one machine (``brandpulse run`` / ``demo``).

A worker that dies is restarted with a growing delay; SIGINT/SIGTERM stops them all gracefully
(each finishes its batch and commits). In containers, run each stage as its own service instead.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from app.stages import STAGE_NAMES as STAGES


@dataclass
class Child:
    stage: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    extra: list[str] = field(default_factory=list)


class Supervisor:
    def __init__(self, *, config: str | None, log_format: str | None = None, stages: tuple[str, ...] = STAGES,
                 extra_args: dict[str, list[str]] | None = None, stdout: IO[bytes] | None = None,
                 stderr: IO[bytes] | None = None) -> None:
        base = [sys.executable, "-m", "app.cli"]
        if config:
            base += ["--config", config]
        if log_format:
            base += ["--log-format", log_format]
        self.children = [Child(s, [*base, s, *(extra_args or {}).get(s, [])]) for s in stages]
        self.stdout = stdout
        self.stderr = stderr
        self._stop = threading.Event()

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, stdout=self.stdout, stderr=self.stderr)

    def check(self) -> list[str]:
        """Restart workers that died; returns human-readable notes about what happened."""
        notes = []
        now = time.monotonic()
        for child in self.children:
            if child.proc is None:
                if now >= child.next_start:
                    self._spawn(child)
                    notes.append(f"{child.stage} worker restarted (restart #{child.restarts})")
                continue
            code = child.proc.poll()
            if code is not None:
                child.restarts += 1
                child.proc = None
                delay = min(60.0, 2.0 ** min(child.restarts, 6))
                child.next_start = now + delay
                notes.append(f"{child.stage} worker exited with code {code}; restarting in {delay:.0f}s")
        return notes

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for child in self.children:
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()

    def run_forever(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stop.set())
        self.start()
        print("brandpulse: workers running (" + ", ".join(STAGES) + "); Ctrl-C to stop", flush=True)
        try:
            while not self._stop.wait(1.0):
                for note in self.check():
                    print(f"brandpulse: {note}", file=sys.stderr, flush=True)
        finally:
            self.stop()
        return 0
