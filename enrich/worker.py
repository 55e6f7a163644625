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
from brandpulse.schema import Enrichment, Mention, SchemaError, TaggerFailure
from brandpulse.settings import Settings
from enrich.pipeline import Enricher, EnrichmentFailure
from enrich.sentiment import supported_languages
from enrich.stories import StoryConfig, StoryIndex


def make_stories(settings: Settings) -> StoryIndex | None:
    """The story index of one enrich process, or None with ``enrich.stories: false``.

    ``enrich.story_budget`` live stories in all (about 4 KB each) are shared out between the
    configured brands, so memory stays bounded however many brands there are.
    """
    e = settings.enrich
    if not e.stories:
        return None
    per_brand = max(200, min(StoryConfig().max_stories, e.story_budget // max(1, len(settings.brands))))
    return StoryIndex(StoryConfig(max_stories=per_brand))


def make_enricher(settings: Settings) -> Enricher:
    brand_terms = {b.name: [b.name, *b.aliases] for b in settings.brands}
    languages = settings.enrich.languages
    if languages is None:
        languages = supported_languages()
    return Enricher(languages=languages or None, brand_terms=brand_terms)


class EnrichStage:
    stage = "enrich"

    def __init__(self, enricher: Enricher, out_topic: str, metrics: WorkerMetrics | None = None,
                 stories: StoryIndex | None = None) -> None:
        self.enricher = enricher
        self.out_topic = out_topic
        self.stories = stories
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
            if self.stories is not None and out.enrichment is not None:
                out = self._with_story(out, out.enrichment)
            result.outputs.append(Output(self.out_topic, out.kafka_key, out.to_bytes()))
        return result

    def _with_story(self, m: Mention, e: Enrichment) -> Mention:
        """The mention with its story: per mention, in partition order (one brand's mentions are on
        one partition, so one process sees them in order), never from the per-text cache."""
        assert self.stories is not None
        text = f"{m.title}\n{m.text}" if m.title else m.text
        try:
            story = self.stories.assign(brand=m.brand, mention_id=m.id, created_at=m.created_at, text=text,
                                        urls=e.urls, hashtags=e.hashtags)
        except Exception as exc:  # like any tagger: the mention goes on, the failure is on it
            failure = TaggerFailure(tagger="stories", error=f"{type(exc).__name__}: {str(exc)[:200]}")
            if self.tagger_failures is not None:
                self.tagger_failures.labels("stories", type(exc).__name__).inc()
            return m.model_copy(update={"enrichment": e.model_copy(update={"failures": (*e.failures, failure)})})
        return m.model_copy(update={"enrichment": e.model_copy(update={"story_id": story})})
