"""The enrichment stage: raw mentions → language, sentiment, entities, keywords, places → enriched topic.

Heavy models load once per process (``Enricher``); records go through in batches. A tagger that
raises for one mention does not lose it: the mention goes on with the other taggers' results and
the failure named in ``enrichment.failures``, counted in ``brandpulse_enrich_tagger_failures``
(labels: tagger, error class). Only a record that cannot be read, or whose enrichment record
itself cannot be built, is dead-lettered with its reason; the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter

from brandpulse.errors import EnrichmentError
from brandpulse.loop import Failure, Output, StageResult
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import Mention, SchemaError
from brandpulse.settings import Settings
from enrich.pipeline import Enricher, EnrichmentFailure
from enrich.sentiment import supported_languages


def make_enricher(settings: Settings) -> Enricher:
    brand_terms = {b.name: [b.name, *b.aliases] for b in settings.brands}
    languages = settings.enrich.languages
    if languages is None:
        languages = supported_languages()
    return Enricher(languages=languages or None, brand_terms=brand_terms)


class EnrichStage:
    stage = "enrich"

    def __init__(self, enricher: Enricher, out_topic: str, metrics: WorkerMetrics | None = None) -> None:
        self.enricher = enricher
        self.out_topic = out_topic
        self.tagger_failures: Counter | None = None
        if metrics is not None:
            self.tagger_failures = Counter(
                "brandpulse_enrich_tagger_failures",
                "taggers that raised for a mention (the mention was still enriched and forwarded)",
                ["tagger", "error"],
                registry=metrics.registry,
            )

    def handle(self, records: Sequence[ConsumerRecord]) -> StageResult:
        result = StageResult()
        parsed: list[tuple[ConsumerRecord, Mention]] = []
        for rec in records:
            try:
                parsed.append((rec, Mention.from_bytes(rec.value or b"")))
            except SchemaError as exc:
                result.failures.append(Failure(rec, exc))
        if not parsed:
            return result
        enriched = self.enricher.enrich([m for _, m in parsed])
        for (rec, _), out in zip(parsed, enriched, strict=True):
            if isinstance(out, EnrichmentFailure):
                result.failures.append(Failure(rec, EnrichmentError(f"{out.error_class}: {out.message}")))
                continue
            if self.tagger_failures is not None and out.enrichment is not None:
                for f in out.enrichment.failures:
                    self.tagger_failures.labels(f.tagger, f.error.split(":", 1)[0]).inc()
            result.outputs.append(Output(self.out_topic, out.kafka_key, out.to_bytes()))
        return result
