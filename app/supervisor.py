"""Runs the workers as separate processes on one machine (``brandpulse run`` / ``demo``).

A worker that dies is restarted with a growing delay; SIGINT/SIGTERM stops them all gracefully
(each finishes its batch and commits). A stage may run as several processes (``replicas``): they
join the stage's one consumer group, so Kafka splits the topic's partitions between them, and
replica *i* serves its metrics on the stage's port + 10·i. In containers, run each stage as its
own service instead and scale it there (docs/DEPLOY.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

from app.stages import STAGE_NAMES as STAGES
from brandpulse.settings import Settings


@dataclass
class Child:
    stage: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    extra: list[str] = field(default_factory=list)


REPLICA_PORT_STEP = 10


def default_enrich_processes(cpus: int | None = None) -> int:
    """Half the cores (at least one): enrichment is the CPU-bound stage, and Kafka, Elasticsearch
    and the other workers need the rest of a small box."""
    return max(1, (cpus if cpus is not None else (os.cpu_count() or 1)) // 2)


def replicas_for(settings: Settings) -> dict[str, int]:
    w = settings.workers
    return {"enrich": w.enrich_processes or default_enrich_processes(), "index": w.index_processes}


class Supervisor:
    def __init__(self, *, config: str | None, log_format: str | None = None, stages: tuple[str, ...] = STAGES,
                 extra_args: dict[str, list[str]] | None = None, stdout: IO[bytes] | None = None,
                 stderr: IO[bytes] | None = None, replicas: Mapping[str, int] | None = None,
                 metrics_ports: Mapping[str, int] | None = None) -> None:
        base = [sys.executable, "-m", "app.cli"]
        if config:
            base += ["--config", config]
        if log_format:
            base += ["--log-format", log_format]
        self.children = []
        for stage in stages:
            n = max(1, (replicas or {}).get(stage, 1))
            for i in range(n):
                args = list((extra_args or {}).get(stage, []))
                port = (metrics_ports or {}).get(stage)
                if n > 1 and port:  # every replica needs its own /metrics port
                    args += ["--metrics-port", str(port + REPLICA_PORT_STEP * i)]
                self.children.append(Child(stage if n == 1 else f"{stage}#{i + 1}", [*base, stage, *args]))
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
        print("brandpulse: workers running (" + ", ".join(c.stage for c in self.children) + "); Ctrl-C to stop",
              flush=True)
        try:
            while not self._stop.wait(1.0):
                for note in self.check():
                    print(f"brandpulse: {note}", file=sys.stderr, flush=True)
        finally:
            self.stop()
        return 0
