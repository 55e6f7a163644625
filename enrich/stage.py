"""The enrichment stage as the application runs it: the consuming worker and ``enrich-text``."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable

from kafka import KafkaProducer

from brandpulse.settings import Settings
from brandpulse.stage import Command, ConsumerSpec, Stage, WorkerContext, run_consumer

# The taggers (tokenizer rules, the language-ID and sentiment models) load only in the process that enriches:
# the CLI, the supervisor and the other workers import this module just to know the stage.


def _run(ctx: WorkerContext) -> None:
    from enrich.worker import EnrichStage, make_enricher, make_stories

    s = ctx.settings

    def build(producer: KafkaProducer) -> ConsumerSpec:
        return ConsumerSpec(topics=[s.topics.raw], handler=EnrichStage(make_enricher(s), s.topics.enriched, ctx.metrics, make_stories(s)),
                            max_poll_records=s.enrich.batch_size, on_malformed=s.enrich.on_malformed)

    run_consumer(ctx, build)


def cmd_enrich_text(args: argparse.Namespace, load: Callable[[], Settings]) -> int:
    from enrich.pipeline import Enricher
    from enrich.textcli import run_enrich_text
    from enrich.worker import make_enricher

    # Without --config or $BRANDPULSE_CONFIG it needs no config file: the default tagger set.
    configured = args.config or os.environ.get("BRANDPULSE_CONFIG")
    enricher = make_enricher(load()) if configured else Enricher()
    # Invalid UTF-8 on stdin becomes one error-free record per bad line (U+FFFD), not a stop.
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
    return run_enrich_text(stdin, sys.stdout, enricher)


STAGE = Stage(
    name="enrich",
    help="run the enrichment worker (raw → enriched topic)",
    run=_run,
    commands=(Command("enrich-text", "enrich JSON lines or text lines from stdin to stdout (no Kafka)",
                      lambda p: None, cmd_enrich_text),),
)
