"""The message that flows through every stage: a typed, versioned, frozen ``Mention``.

Kafka metadata (topic, partition, offset) travels beside a mention, never inside it.

>>> from datetime import UTC, datetime
>>> m = Mention.new(source="rss", feed="news", native_id="guid-1", brand="acme",
...                 text="Acme ships late again", created_at=datetime(2026, 1, 1, tzinfo=UTC))
>>> Mention.from_bytes(m.to_bytes()) == m
True
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from brandpulse.errors import Rejected

SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 100_000
MAX_RECORD_BYTES = 1_000_000


class SchemaError(Rejected, ValueError):
    """A record that cannot be read as a Mention; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Author(_Frozen):
    id: str | None = None
    handle: str | None = None
    name: str | None = None
    followers: int | None = Field(default=None, ge=0)
    location: str | None = Field(default=None, description="free-text profile location")


class Geo(_Frozen):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Engagement(_Frozen):
    likes: int = Field(default=0, ge=0)
    shares: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)
    views: int | None = Field(default=None, ge=0)


SentimentLabel = Literal["negative", "neutral", "positive", "unknown"]


class SentimentProbabilities(_Frozen):
    """Calibrated class probabilities (they sum to 1, up to rounding)."""

    negative: float = Field(ge=0.0, le=1.0)
    neutral: float = Field(ge=0.0, le=1.0)
    positive: float = Field(ge=0.0, le=1.0)


class Sentiment(_Frozen):
    label: SentimentLabel
    score: float = Field(ge=-1.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    method: str
    probabilities: SentimentProbabilities | None = Field(
        default=None, description="calibrated p(class); absent when nothing decided (label unknown)"
    )

    @property
    def negative_probability(self) -> float:
        """p(negative): the calibrated probability, else 1/0 from the label (older records)."""
        if self.probabilities is not None:
            return self.probabilities.negative
        return 1.0 if self.label == "negative" else 0.0


class Language(_Frozen):
    code: str
    confidence: float = Field(ge=0.0, le=1.0)
    method: str


class Location(_Frozen):
    name: str
    country_code: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    source: Literal["post_geo", "author_profile", "text"]
    confidence: float = Field(ge=0.0, le=1.0)


class TaggerFailure(_Frozen):
    """One enrichment step that raised for this mention; the others' results are still on it."""

    tagger: str = Field(min_length=1, description="langid, tokenizer, entities, keywords, places, sentiment")
    error: str = Field(description="exception class and first line of its message")


class Enrichment(_Frozen):
    version: str
    language: Language | None = None
    sentiment: Sentiment
    keywords: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    cashtags: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    emojis: tuple[str, ...] = ()
    locations: tuple[Location, ...] = ()
    failures: tuple[TaggerFailure, ...] = ()
    story_id: str | None = Field(
        default=None, max_length=64,
        description="the story this mention belongs to: reposts, copies and same-link posts share one",
    )
    enriched_at: AwareDatetime


def mention_id(source: str, native_id: str, brand: str) -> str:
    """Deterministic id: the same post seen twice for the same brand gets the same id.

    One record is emitted per matched brand (see README, "one record per brand"), so the brand
    is part of the id; replays and redeliveries overwrite instead of duplicating.
    """
    digest = hashlib.sha256(f"{source}\x1f{native_id}\x1f{brand}".encode()).hexdigest()
    return digest[:32]


class Mention(_Frozen):
    schema_version: int = SCHEMA_VERSION
    id: str
    source: str = Field(min_length=1, description="connector kind, e.g. rss, reddit, replay")
    feed: str = Field(min_length=1, description="configured feed name")
    native_id: str = Field(min_length=1)
    brand: str = Field(min_length=1, description="the brand this record is for")
    matched_brands: tuple[str, ...] = ()
    text: str = Field(max_length=MAX_TEXT_CHARS)
    title: str | None = None
    url: str | None = None
    author: Author = Author()
    created_at: AwareDatetime
    fetched_at: AwareDatetime
    geo: Geo | None = None
    engagement: Engagement = Engagement()
    lang: str | None = Field(default=None, description="language declared by the source, if any")
    enrichment: Enrichment | None = None

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v < 1 or v > SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not supported (this build reads 1..{SCHEMA_VERSION})")
        return v

    @classmethod
    def new(
        cls,
        *,
        source: str,
        feed: str,
        native_id: str,
        brand: str,
        text: str,
        created_at: datetime,
        fetched_at: datetime | None = None,
        **fields: Any,
    ) -> Mention:
        """Build a mention, deriving its deterministic id."""
        return cls(
            id=mention_id(source, native_id, brand),
            source=source,
            feed=feed,
            native_id=native_id,
            brand=brand,
            text=text,
            created_at=created_at,
            fetched_at=fetched_at or datetime.now(UTC),
            **fields,
        )

    @property
    def kafka_key(self) -> bytes:
        """Records are keyed by brand so one brand's mentions stay on one partition (alert state)."""
        return self.brand.encode()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Any) -> Mention:
        if not isinstance(data, dict):
            raise SchemaError(f"expected a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SchemaError(_first_error(exc)) from exc

    @classmethod
    def from_bytes(cls, raw: bytes) -> Mention:
        """Parse a Kafka record value; raises ``SchemaError`` with a one-line reason."""
        if len(raw) > MAX_RECORD_BYTES:
            raise SchemaError(f"record is {len(raw)} bytes, over the {MAX_RECORD_BYTES}-byte limit")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SchemaError(f"invalid UTF-8 at byte {exc.start}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        return cls.from_dict(data)


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "<record>"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more
