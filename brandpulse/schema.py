"""The records that flow between the stages: typed, versioned and frozen.

* ``Mention``: one post for one brand, from ingest through enrichment to the index and the alerts;
* ``AlertRecord``: one alert lifecycle event as the alert worker publishes it (alerts topic,
  alerts index, every channel), with its quoted mentions (``AlertSample``), stories
  (``AlertStory``), new terms (``AlertNewTerm``) and chart data (``AlertChart``);
* ``DigestRecord``: the hourly or daily digest the channels render.

Kafka metadata (topic, partition, offset) travels beside a record, never inside it. Each record
reads itself from bytes with one-line reasons (``SchemaError``) and refuses a ``schema_version``
newer than this build's.

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
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from brandpulse.errors import Rejected

SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 100_000
MAX_RECORD_BYTES = 1_000_000


class SchemaError(Rejected, ValueError):
    """A record that cannot be read as its type; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_R = TypeVar("_R", bound="_Record")


class _Record(_Frozen):
    """A top-level record: explicit (de)serialisation, one-line reasons on bad input."""

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls: type[_R], data: Any) -> _R:
        if not isinstance(data, dict):
            raise SchemaError(f"expected a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SchemaError(_first_error(exc)) from exc

    @classmethod
    def from_bytes(cls: type[_R], raw: bytes) -> _R:
        """Parse a Kafka record value; raises ``SchemaError`` with a one-line reason."""
        return cls.from_dict(load_json(raw))


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


class Mention(_Record):
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


def load_json(raw: bytes) -> Any:
    """The JSON value of a Kafka record value, or ``SchemaError`` saying why it is not one."""
    if len(raw) > MAX_RECORD_BYTES:
        raise SchemaError(f"record is {len(raw)} bytes, over the {MAX_RECORD_BYTES}-byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"invalid UTF-8 at byte {exc.start}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "<record>"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


# ---------------------------------------------------------------------------------------------
# Alerts: what the alert worker publishes, the indexer stores, the digest reads and channels render

ALERT_SCHEMA_VERSION = 2  # 1: the untyped dict of alerts/worker.py (no schema_version field)
DIGEST_SCHEMA_VERSION = 1

# The one list of severities. "none" is below the open threshold (a detector evaluation, a digest
# row without alerts); an alert event carries one of the others, in rising order.
AlertSeverity = Literal["low", "medium", "high", "critical"]
Severity = Literal["none", AlertSeverity]
SEVERITIES: tuple[str, ...] = get_args(Severity)
ALERT_SEVERITIES: tuple[str, ...] = get_args(AlertSeverity)
AlertEventKind = Literal["opened", "updated", "resolved"]
ALERT_EVENTS: tuple[str, ...] = get_args(AlertEventKind)
NewTermKind = Literal["term", "hashtag", "handle", "place", "language"]
StoryTrend = Literal["new", "growing", "steady", "fading"]
MAX_CHART_BUCKETS = 1000
# Alert times are written as isoformat() ("+00:00"), as alert records always were on the topic, in
# the index and at webhook receivers.
Instant = Annotated[AwareDatetime, PlainSerializer(lambda t: t.isoformat(), return_type=str, when_used="json")]


def _known_version(v: int, newest: int) -> int:
    if v < 1 or v > newest:
        raise ValueError(f"schema_version {v} is not supported (this build reads 1..{newest})")
    return v


class AlertSample(_Frozen):
    """One mention as an alert quotes it: enough to show it and link to it, not the whole record."""

    id: str = Field(min_length=1)
    created_at: Instant
    text: str = Field("", max_length=MAX_TEXT_CHARS)
    url: str | None = None
    author: str | None = None
    followers: int | None = Field(default=None, ge=0)
    lang: str | None = None
    source: str | None = None
    story_id: str | None = None
    negative: bool = False
    hashtags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    places: tuple[str, ...] = ()


class AlertStory(_Frozen):
    """One story of the alert window (alerts/stories_summary.py): its first post, how big it is, how
    far it spread, whether it is still growing."""

    story_id: str = Field(min_length=1)
    size: int = Field(ge=1, description="its mentions in the window")
    negative: int = Field(0, ge=0, description="of which negative")
    authors: int = Field(ge=0)
    reach: int = Field(ge=0, description="followers summed over distinct authors")
    growth: float = Field(ge=0.0, description="(last third + 1) / (first third + 1) of the window")
    trend: StoryTrend
    sources: dict[str, int] = Field(default_factory=dict)
    languages: dict[str, int] = Field(default_factory=dict)
    first: AlertSample
    mention_ids: tuple[str, ...] = Field((), max_length=1000)


class AlertNewTerm(_Frozen):
    """A term, hashtag, handle, place or language whose share rose against the key's baseline
    (alerts/newterms.py: log-odds with an informative Dirichlet prior)."""

    kind: NewTermKind
    term: str = Field(min_length=1)
    count: int = Field(ge=0, description="window mentions carrying it")
    share: float = Field(ge=0.0, le=1.0)
    baseline_share: float = Field(ge=0.0)
    log_odds: float
    z: float


class AlertChart(_Frozen):
    """The chart's data: per bucket (oldest first) the negative and total counts and the expected
    band of the negative count (the detector's expectation and dispersion); the last bucket may be
    partial (counts so far against the expectation so far)."""

    start: Instant
    bucket_seconds: int = Field(gt=0)
    negative: tuple[int, ...] = Field(min_length=1, max_length=MAX_CHART_BUCKETS)
    total: tuple[int, ...]
    expected_low: tuple[float, ...]
    expected_high: tuple[float, ...]

    @model_validator(mode="after")
    def _same_length(self) -> AlertChart:
        n = len(self.negative)
        for name in ("total", "expected_low", "expected_high"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} values, negative has {n}")
        return self


# Keys of version-1 alert dicts that version 2 does not keep: "kind" repeated "event".
_V1_DROPPED = frozenset({"kind", "detector"})
_V1_TIMES = ("window_start", "window_end", "raised_at", "emitted_at")


class AlertRecord(_Record):
    """One alert lifecycle event (opened, updated, resolved) with what a social team needs to act.

    ``(alert_id, seq)`` identifies the event; ``idempotency_key`` is ``alert_id:seq`` (older
    records without ``seq``: ``alert_id:event:observed_negative``). ``severity`` is one of
    :data:`ALERT_SEVERITIES`; an unknown one (a newer detector) is kept, and routing ranks it
    highest. Version-1 records (the untyped dicts on the alerts topic and index from before) are
    read and upgraded.
    """

    schema_version: int = ALERT_SCHEMA_VERSION
    alert_id: str = Field(min_length=1)
    event: AlertEventKind
    key: str = Field(min_length=1, description="the series: brand, brand|lang=xx or brand|source=yy")
    brand: str = Field(min_length=1)
    severity: str = Field(min_length=1)
    window_start: Instant
    window_end: Instant
    raised_at: Instant
    emitted_at: Instant | None = None
    seq: int | None = Field(default=None, ge=0)
    idempotency_key: str = Field(min_length=1)
    observed_negative: int = Field(ge=0)
    expected_negative: float = Field(ge=0.0)
    observed_total: int | None = Field(default=None, ge=0)
    expected_total: float | None = Field(default=None, ge=0.0)
    negative_share: float = Field(0.0, ge=0.0, le=1.0)
    expected_share: float | None = Field(default=None, ge=0.0, le=1.0)
    score: float | None = None
    p_value: float | None = Field(default=None, ge=0.0, le=1.0)
    reason: str = ""
    top_mentions: tuple[AlertSample, ...] = Field((), max_length=50, description="negative mentions, by reach")
    mention_ids: tuple[str, ...] = Field((), max_length=1000, description="the window's negative mentions")
    top_hashtags: tuple[str, ...] = ()
    top_keywords: tuple[str, ...] = ()
    languages: dict[str, int] = Field(default_factory=dict)
    locations: tuple[str, ...] = ()
    stories: tuple[AlertStory, ...] = Field((), max_length=50)
    new_terms: tuple[AlertNewTerm, ...] = Field((), max_length=200)
    chart: AlertChart | None = None
    chart_url: str | None = Field(default=None, description="signed, expiring link to the chart PNG")
    kibana_url: str | None = None

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        return _known_version(v, ALERT_SCHEMA_VERSION)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "schema_version" not in data:  # version 1, read as (and written back as) the current version
            original = data
            data = {k: v for k, v in data.items() if k not in _V1_DROPPED} | {"schema_version": ALERT_SCHEMA_VERSION}
            if "event" not in data and "kind" in original:
                data["event"] = original["kind"]
            for name in _V1_TIMES:  # written by isoformat() of aware datetimes; older ones without a zone were UTC
                value = data.get(name)
                if isinstance(value, str) and len(value) == 19 and value[10] == "T":
                    data[name] = value + "+00:00"
            mentions = data.get("top_mentions")
            if isinstance(mentions, list):  # version 1 kept only negative mentions
                data["top_mentions"] = [{"negative": True, **m} if isinstance(m, dict) else m for m in mentions]
        if "raised_at" not in data:  # the worker's rule: when it was emitted, else the window's end
            data = {**data, "raised_at": data.get("emitted_at") or data.get("window_end")}
        if not data.get("idempotency_key") and data.get("alert_id"):
            seq = data.get("seq")
            data = {**data, "idempotency_key": f"{data['alert_id']}:{seq}" if seq is not None
                    else f"{data['alert_id']}:{data.get('event')}:{data.get('observed_negative')}"}
        return data


class DigestBrand(_Frozen):
    """One brand's row of a digest: the period's volume, negatives, stories and alerts."""

    brand: str = Field(min_length=1)
    volume: int = Field(ge=0)
    negative: int = Field(ge=0)
    negative_share: float = Field(ge=0.0, le=1.0)
    stories: int = Field(0, ge=0, description="distinct stories among the period's mentions")
    top_keywords: tuple[str, ...] = ()
    alerts_opened: int = Field(0, ge=0)
    alert_ids: tuple[str, ...] = ()
    worst_severity: str = "none"
    peak_negative: int = Field(0, ge=0)


class VoiceShare(_Frozen):
    """One brand inside a competitor group: its share of the group's volume, side by side."""

    brand: str = Field(min_length=1)
    volume: int = Field(ge=0)
    share_of_voice: float = Field(ge=0.0, le=1.0, description="its volume / the group's volume")
    negative: int = Field(ge=0)
    negative_share: float = Field(ge=0.0, le=1.0)
    stories: int = Field(ge=0)


class VoiceGroup(_Frozen):
    """A ``competitors:`` group of the config, with each brand's share of voice."""

    group: str = Field(min_length=1)
    volume: int = Field(ge=0)
    brands: tuple[VoiceShare, ...]


class DigestRecord(_Record):
    """The hourly or daily digest (alerts/digest.py): one row per brand, share of voice per
    competitor group. ``idempotency_key`` is ``digest:<period>:<start>``."""

    schema_version: int = DIGEST_SCHEMA_VERSION
    event: Literal["digest"] = "digest"
    digest: Literal["hourly", "daily"]
    period_start: Instant
    period_end: Instant
    idempotency_key: str = Field(min_length=1)
    title: str
    summary: str
    brands: tuple[DigestBrand, ...] = ()
    share_of_voice: tuple[VoiceGroup, ...] = ()

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        return _known_version(v, DIGEST_SCHEMA_VERSION)
