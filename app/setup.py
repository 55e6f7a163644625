"""``brandpulse setup``: the Kafka topics, then whatever each stage needs outside Kafka. Idempotent."""

from __future__ import annotations

from app.stages import STAGES
from brandpulse.kafkaio import ensure_topics, wait_for_broker
from brandpulse.settings import Settings


def setup(s: Settings, *, quiet: bool = False) -> None:
    wait_for_broker(s)
    created = ensure_topics(s)
    notes = [stage.setup(s) for stage in STAGES if stage.setup is not None]
    if not quiet:
        t = s.topics
        print(f"topics: {len(created)} created, others already present and updated "
              f"({t.raw}, {t.enriched}, {t.alerts}, {t.dead_letter}, {t.state})")
        for note in notes:
            print(note)
