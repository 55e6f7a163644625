"""Elasticsearch stopped mid-stream under the real index worker: every mention is indexed exactly
once, nothing is dead-lettered, the worker never exits, and its index maintenance fails quietly
while the node is down.

This stops and restarts the stack's Elasticsearch (the shared one in CI: tests run one at a time,
and the node is healthy again before the test ends). During development run it against a private
stack (BRANDPULSE_STACK__DIR/…_PORT plus BRANDPULSE_KAFKA__BOOTSTRAP_SERVERS and
BRANDPULSE_ELASTICSEARCH__URL; see docs/INDEXING.md).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from app import stack
from brandpulse.esclient import make_es, mentions_alias
from brandpulse.kafkaio import ensure_topics, group_lag, make_producer, topic_count
from brandpulse.schema import Mention
from brandpulse.settings import Settings, StackSettings
from index.templates import apply_templates

pytestmark = pytest.mark.integration
N = 1500
T = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
BRANDPULSE = Path(sys.executable).with_name("brandpulse")


def make(i: int) -> Mention:  # two brands (partitions) and two months (indices)
    return Mention.new(source="replay", feed="t", native_id=f"n{i}", brand=("Acme", "Globex")[i % 2],
                       text=f"acme outage test {i}", created_at=T - timedelta(days=31 * (i % 2)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    m = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def restart_elasticsearch(s: StackSettings, timeout: float = 300.0) -> None:
    """``stack.up`` (Kafka untouched), then wait for yellow health. On a loaded machine ``up`` can
    report a launcher caught mid-exec as "exited during start-up" (its /proc cmdline reads empty
    for a moment) while the node is in fact starting: what counts is that the node comes up."""
    deadline = time.monotonic() + timeout
    try:
        stack.up(s, timeout=timeout)
    except stack.StackError as exc:
        warnings.warn(f"stack.up: {exc}; waiting for the node's health instead", stacklevel=1)
    while not stack.es_healthy(s.es_port):
        if time.monotonic() > deadline:
            raise AssertionError(f"Elasticsearch not healthy {timeout:.0f}s after the restart")
        if not any(st.running for st in stack.status(s) if st.name == "elasticsearch"):
            stack.up(s, timeout=max(30.0, deadline - time.monotonic()))
        time.sleep(1)


def wait_until(cond: Callable[[], bool], what: str, timeout: float, alive: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_index_worker_survives_an_elasticsearch_outage_without_loss_or_duplicates(
    make_settings: Callable[..., Settings], local_stack: StackSettings, tmp_path: Path,
) -> None:
    s = make_settings(index={"batch_size": 200, "maintenance_interval_seconds": 5})
    ensure_topics(s)
    es = make_es(s.elasticsearch, request_timeout=10)
    prefix = s.elasticsearch.index_prefix
    alias = mentions_alias(prefix)
    apply_templates(es, prefix)
    cfg = tmp_path / "brandpulse.yaml"
    cfg.write_text(yaml.safe_dump(s.model_dump(mode="json", exclude={"base_dir"})))
    port = free_port()
    log_path = tmp_path / "index-worker.log"
    expected = {make(i).id for i in range(N)}

    def produce_stream() -> None:  # ~100 mentions/s over two months' indices, before/during/after the stop
        producer = make_producer(s.kafka, "test")
        try:
            for i in range(N):
                m = make(i)
                producer.send(s.topics.enriched, key=m.kafka_key, value=m.to_bytes())
                if i % 50 == 49:
                    producer.flush()
                    time.sleep(0.5)
            producer.flush()
        finally:
            producer.close()

    def indexed() -> int:
        try:
            es.indices.refresh(index=alias)
            return int(es.count(index=alias)["count"])
        except Exception:  # down or recovering
            return -1

    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [str(BRANDPULSE), "--config", str(cfg), "index", "--metrics-port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def alive() -> None:
        assert worker.poll() is None, f"index worker exited ({worker.returncode}):\n{log_path.read_text()[-3000:]}"

    producer_thread = threading.Thread(target=produce_stream, daemon=True)
    es_stopped = False
    try:
        producer_thread.start()
        wait_until(lambda: indexed() >= 200, "the first documents", 120, alive)
        assert stack.stop_service(local_stack, "elasticsearch"), "Elasticsearch is not this stack's process"
        es_stopped = True
        assert indexed() == -1
        producer_thread.join(120)
        assert not producer_thread.is_alive()
        assert topic_count(s, s.topics.enriched) == N  # all produced, a good part while the node was down
        # the worker backs off instead of skipping: what it has not indexed stays uncommitted
        wait_until(lambda: metric(port, 'brandpulse_index_maintenance_runs_total{outcome="error"}') >= 1,
                   "a failed maintenance pass", 60, alive)
        assert group_lag(s, f"{s.workers.group_prefix}-index", [s.topics.enriched]) > 0
        alive()
    finally:
        if es_stopped:
            restart_elasticsearch(local_stack)
    wait_until(lambda: indexed() == N, f"{N} documents after the restart", 300, alive)
    wait_until(lambda: group_lag(s, f"{s.workers.group_prefix}-index", [s.topics.enriched]) == 0,
               "all offsets committed", 120, alive)

    assert indexed() == N
    ids = [h["_id"] for h in es.search(index=alias, size=N + 100, source=False, query={"match_all": {}})["hits"]["hits"]]
    assert len(ids) == N and set(ids) == expected  # each mention once, none missing, none extra
    assert len(es.indices.get_alias(name=alias)) >= 2  # both months' indices behind the alias
    assert topic_count(s, s.topics.dead_letter) == 0
    assert metric(port, 'brandpulse_failed_total{reason="sink_unavailable",stage="index"}') > 0  # it did back off
    alive()
    worker.terminate()
    assert worker.wait(60) == 0
    assert stack.es_healthy(local_stack.es_port)
