"""What a pipeline stage gives the application: one :class:`Stage` per stage package.

Each stage (``ingest/``, ``enrich/``, ``index/``, ``alerts/``) exposes ``STAGE`` in its
``stage.py``; the application (``app/``) loops over them to build the CLI, to validate the
configuration and to run workers, so it never wires a stage by hand. A consuming stage only
describes its handler (:class:`ConsumerSpec`); :func:`run_consumer` owns the Kafka clients, the
consume loop and the shutdown order, the same for every stage.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from brandpulse.errors import OnMalformed
from brandpulse.kafkaio import group_id, make_consumer, make_producer, wait_for_broker
from brandpulse.loop import ConsumeLoop, StageHandler, StageResult, StopFlag, close_quietly
from brandpulse.metrics import WorkerMetrics
from brandpulse.settings import Settings

__all__ = ["Command", "ConsumerSpec", "Problem", "Stage", "WorkerContext", "run_consumer"]

log = logging.getLogger(__name__)

# A configuration problem a stage found: (dotted key, what is wrong and how to fix it).
Problem = tuple[str, str]


@dataclass(frozen=True)
class WorkerContext:
    """Everything a worker process gets from the application: settings, metrics, the stop flag and
    the stage's own command-line options (``argparse`` attributes; empty in tests)."""

    settings: Settings
    metrics: WorkerMetrics
    stop: StopFlag
    options: argparse.Namespace = field(default_factory=argparse.Namespace)


def _no_problems(settings: Settings) -> list[Problem]:
    return []


@dataclass(frozen=True)
class Command:
    """A one-shot operator command a stage contributes to the CLI (``brandpulse feeds status``).

    ``configure`` adds its arguments; ``run`` gets the parsed arguments and a loader of the
    validated settings (called when the command needs them, so a command can work without a
    config file) and returns the exit code.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Callable[[], Settings]], int]


@dataclass(frozen=True)
class Stage:
    """One stage as the application sees it.

    ``run`` is the worker (blocks until ``ctx.stop`` is set or the stage is done); ``check``
    validates what the stage owns in the configuration (its plug-ins' options, its queries);
    ``setup`` creates what the stage needs outside Kafka (index templates) and returns a line
    for the operator; ``add_arguments`` adds the worker's own CLI flags; ``actions`` are
    alternatives to running the worker under the stage's own command (``alerts backtest``);
    ``commands`` are the stage's operator commands.
    """

    name: str
    help: str
    run: Callable[[WorkerContext], None]
    check: Callable[[Settings], list[Problem]] = _no_problems
    setup: Callable[[Settings], str] | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    actions: Mapping[str, Callable[[argparse.Namespace, Callable[[], Settings]], int]] = field(default_factory=dict)
    commands: tuple[Command, ...] = ()


@dataclass
class ConsumerSpec:
    """A consuming stage's parts: what it reads, its handler and its lifecycle hooks.

    ``listener`` gets partition assignments; ``bind`` receives the consumer once it exists (for a
    handler that seeks or reads end offsets); ``closers`` run at shutdown, before the Kafka clients
    close, in order; ``on_malformed`` is what happens to a record the handler fails
    (brandpulse/errors.py), the same for every stage; ``linger_seconds`` is how long a partial
    batch waits for more records before it is handled.
    """

    topics: list[str]
    handler: StageHandler
    max_poll_records: int
    listener: ConsumerRebalanceListener | None = None
    bind: Callable[[KafkaConsumer], None] | None = None
    after_commit: Callable[[], None] | None = None
    on_idle: Callable[[], StageResult] | None = None
    closers: list[Callable[[], Any]] = field(default_factory=list)
    on_malformed: OnMalformed = "dead_letter"
    linger_seconds: float = 0.0


def run_consumer(ctx: WorkerContext, build: Callable[[KafkaProducer], ConsumerSpec]) -> None:
    """Run a consuming stage: producer, the stage's parts, consumer, the loop, then an orderly close.

    ``build`` gets the producer (a stage may share it, e.g. for its state store) and returns the
    spec. The consumer group is ``<workers.group_prefix>-<stage>``.
    """
    s = ctx.settings
    wait_for_broker(s)
    stage = None
    producer = make_producer(s.kafka, ctx.metrics.worker)
    consumer: KafkaConsumer | None = None
    spec: ConsumerSpec | None = None
    try:
        spec = build(producer)
        stage = spec.handler.stage
        group = group_id(s, stage)
        consumer = make_consumer(s.kafka, stage, group, spec.topics, listener=spec.listener,
                                 max_poll_records=spec.max_poll_records)
        if spec.bind is not None:
            spec.bind(consumer)
        loop = ConsumeLoop(consumer=consumer, producer=producer, handler=spec.handler,
                           dead_letter_topic=s.topics.dead_letter, metrics=ctx.metrics, stop=ctx.stop,
                           after_commit=spec.after_commit, on_idle=spec.on_idle, on_malformed=spec.on_malformed,
                           max_records=spec.max_poll_records, linger_seconds=spec.linger_seconds)
        log.info("%s worker consuming %s as group %s", stage, ",".join(spec.topics), group)
        loop.run()
    finally:
        for close in spec.closers if spec is not None else ():
            try:
                close()
            except Exception:  # shutting down: one failing closer must not keep the others open
                log.exception("closing %s failed", stage or "stage")
        if consumer is not None:
            close_quietly(consumer)
        producer.flush()
        close_quietly(producer)

