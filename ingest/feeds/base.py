"""The connector contract: what a feed returns from one poll, and the helpers every connector shares.

A connector turns one source into brand-agnostic :class:`Post` objects. Brand matching, Kafka
production and cursor persistence belong to the worker; a connector only fetches, normalises and
reports what it could not read (:class:`ItemError`) or that the whole fetch failed (:class:`FeedError`).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from brandpulse.schema import MAX_TEXT_CHARS, Author, Engagement, Geo, Mention

if TYPE_CHECKING:
    from ingest.http import HttpClient, Response

# The worker stores cursors next to offsets; the bound keeps a runaway seen-window from bloating it.
MAX_CURSOR_BYTES = 64 * 1024
# How much of a bad item's raw bytes travel in an ItemError (enough to debug, not to flood logs).
MAX_RAW_BYTES = 4096


# Shared immutable defaults (frozen pydantic models), so every Post doesn't build its own.
NO_AUTHOR = Author()
NO_ENGAGEMENT = Engagement()


@dataclass(frozen=True, slots=True)
class Post:
    """A brand-agnostic normalised item from a source.

    ``created_at`` must be timezone-aware; it is converted to UTC. ``text`` is capped at the schema's
    limit here so that no connector can produce a post the schema would reject for length.
    """

    source: str
    native_id: str
    text: str
    created_at: datetime
    title: str | None = None
    url: str | None = None
    author: Author = NO_AUTHOR
    geo: Geo | None = None
    engagement: Engagement = NO_ENGAGEMENT
    lang: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("post source is empty")
        if not self.native_id:
            raise ValueError("post native_id is empty")
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("post created_at is not timezone-aware")
        # frozen+slots: normalising in place needs object.__setattr__
        object.__setattr__(self, "created_at", self.created_at.astimezone(UTC))
        if len(self.text) > MAX_TEXT_CHARS:
            object.__setattr__(self, "text", self.text[:MAX_TEXT_CHARS])
        if self.country is not None:
            object.__setattr__(self, "country", self.country.upper())

    def to_mention(
        self, *, feed: str, brand: str, matched_brands: tuple[str, ...], fetched_at: datetime
    ) -> Mention:
        """One Mention for one matched brand.

        ``country`` is not carried: Mention (schema v1) has no field for it, and extra fields are
        forbidden. Enrichment derives locations itself.
        """
        return Mention.new(
            source=self.source,
            feed=feed,
            native_id=self.native_id,
            brand=brand,
            text=self.text,
            created_at=self.created_at,
            fetched_at=fetched_at,
            matched_brands=matched_brands,
            title=self.title,
            url=self.url,
            author=self.author,
            geo=self.geo,
            engagement=self.engagement,
            lang=self.lang,
        )


@dataclass(frozen=True)
class ItemError:
    """One bad item that was skipped; the worker counts and logs it."""

    feed: str
    reason: str
    native_id: str | None = None
    raw: bytes | None = None

    def __post_init__(self) -> None:
        if self.raw is not None and len(self.raw) > MAX_RAW_BYTES:
            object.__setattr__(self, "raw", self.raw[:MAX_RAW_BYTES])


@dataclass(frozen=True)
class PollResult:
    posts: list[Post]
    cursor: dict[str, Any] | None
    errors: list[ItemError] = field(default_factory=list)
    # Seconds the source asked us to wait before the next poll (Retry-After, rate-limit reset, or a
    # paced replay's next due record). None = the configured interval applies.
    next_poll_after: float | None = None
    # The source will never produce anything again (a finished, non-looping replay).
    done: bool = False


class FeedError(Exception):
    """The whole poll failed (network, 5xx after retries, malformed body, ...).

    Nothing from the failed poll is returned, so the worker keeps the previous cursor.
    """

    def __init__(self, feed: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{feed}: {message}")
        self.feed = feed
        self.message = message
        self.retry_after = retry_after


@runtime_checkable
class Feed(Protocol):
    name: str
    kind: ClassVar[str]

    def poll(self, cursor: dict[str, Any] | None) -> PollResult: ...

    def close(self) -> None: ...


# A push feed hands each request's posts (and its rejected items) to this callable, which makes
# them durable (produces them to Kafka and waits for the acks) within ``timeout`` seconds, and
# raises on any failure. The feed answers its sender only after it returned.
DeliverFn = Callable[[list[Post], list[ItemError], float], None]


@runtime_checkable
class PushFeed(Protocol):
    """A feed that receives posts (a webhook) and can deliver them synchronously to the worker."""

    def attach_sink(self, deliver: DeliverFn) -> None: ...


class FeedOptions(BaseModel):
    """Base of every connector's ``Options``: unknown keys are config errors, not silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(FeedOptions):
    """Where a secret lives: an environment variable or a file (relative paths: to the config file).

    The value is only read when the feed is built, so config can be validated without secrets present.
    """

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def resolve(self, base_dir: Path) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        assert self.file is not None
        path = Path(self.file)
        if not path.is_absolute():
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from exc
        if not value:
            raise ValueError(f"secret file {path} is empty")
        return SecretStr(value)


# --- text ---------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "section", "article", "header", "footer", "table", "hr", "dd", "dt"}
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_NEWLINES = re.compile(r"\s*\n\s*")


def html_to_text(markup: str | None) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, whitespace tidied.

    Paragraph-like tags become line breaks so sentences from different paragraphs don't fuse.
    """
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient, but markup must never kill a poll
        return _tidy(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text)
    return text.strip()


def cap_text(text: str) -> str:
    return text[:MAX_TEXT_CHARS]


# --- time ---------------------------------------------------------------------------------------

_EPOCH_MS_THRESHOLD = 10_000_000_000  # seconds past this are really milliseconds (year 2286+)


def parse_timestamp(value: Any) -> datetime:
    """A timezone-aware UTC datetime from the formats sources actually send.

    Accepts ISO-8601 (``Z``, offsets, fractional seconds, space separator), RFC 2822 / HTTP dates,
    and epoch seconds or milliseconds (int, float or numeric string). Naive values are taken as UTC,
    the convention of every API here that omits the offset. Raises ``ValueError`` with a reason.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    elif isinstance(value, int | float):
        dt = _from_epoch(float(value))
    elif isinstance(value, str):
        dt = _parse_timestamp_str(value.strip())
    else:
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError("timestamp is not a finite number")
    if abs(seconds) >= _EPOCH_MS_THRESHOLD:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"timestamp {seconds!r} out of range") from exc


_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _parse_timestamp_str(text: str) -> datetime:
    if not text:
        raise ValueError("empty timestamp")
    if _NUMERIC.match(text):
        return _from_epoch(float(text))
    iso = text
    if iso.endswith(("z", "Z")):
        iso = iso[:-1] + "+00:00"
    iso = _FRACTION.sub(r"\1", iso)  # fromisoformat takes at most microseconds
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    raise ValueError(f"unrecognised timestamp format: {text[:60]!r}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_epoch(dt: datetime) -> float:
    return dt.timestamp()


def shift(dt: datetime, seconds: float) -> datetime:
    return dt + timedelta(seconds=seconds)


# --- cursors ------------------------------------------------------------------------------------


def short_hash(value: str) -> str:
    """12 hex chars (48 bits): ample for a few thousand ids, and small enough to keep cursors tiny."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class SeenWindow:
    """A bounded, insertion-ordered set of hashed ids for dedup across polls.

    Feeds slide old items back in (edits, re-sorting, Google Alerts re-issuing); remembering the last
    N ids drops them. Ids are hashed so long URLs cannot blow the cursor's size budget; the oldest
    entries fall out first.
    """

    def __init__(self, entries: Iterable[Any] = (), *, max_entries: int) -> None:
        self.max_entries = max_entries
        self._ids: dict[str, None] = {}
        for e in entries:
            if isinstance(e, str):
                self._ids[e] = None
        self._trim()

    def __contains__(self, native_id: str) -> bool:
        return short_hash(native_id) in self._ids

    def add(self, native_id: str) -> None:
        h = short_hash(native_id)
        self._ids.pop(h, None)
        self._ids[h] = None
        self._trim()

    def _trim(self) -> None:
        excess = len(self._ids) - self.max_entries
        if excess > 0:
            for key in list(self._ids)[:excess]:
                del self._ids[key]

    def to_list(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def check_cursor_size(feed: str, cursor: Mapping[str, Any] | None) -> None:
    """Guard the contract's 64 KB bound; a bug here should fail loudly in tests, not in Kafka."""
    if cursor is None:
        return
    size = len(json.dumps(cursor, separators=(",", ":")).encode())
    if size > MAX_CURSOR_BYTES:
        raise FeedError(feed, f"cursor is {size} bytes, over the {MAX_CURSOR_BYTES}-byte bound")


# --- loose JSON access --------------------------------------------------------------------------


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_count(value: Any) -> int:
    """A non-negative int from a count field that may be missing, null, a string or negative."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def raw_json(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False, default=str).encode()[:MAX_RAW_BYTES]
    except (TypeError, ValueError):
        return repr(obj).encode()[:MAX_RAW_BYTES]


# --- connector base -----------------------------------------------------------------------------


class FeedBase:
    """Common constructor for connectors: ``cls(name, options, base_dir=..., http=..., clock=...)``.

    ``http`` and ``clock`` exist so tests (and the worker, if it wants shared settings) can inject a
    fetcher with a fake sleep and a controllable clock; production passes neither.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[FeedOptions]]

    def __init__(
        self,
        name: str,
        options: FeedOptions,
        *,
        base_dir: Path,
        http: HttpClient | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.name = name
        self.base_dir = base_dir
        self.clock: Callable[[], float] = clock or time.time
        self._http = http
        self._owns_http = http is None
        self._secrets: list[str] = []

    def redact(self, secret: str) -> None:
        """Never let this value reach a FeedError/ItemError message (URLs in errors carry params)."""
        if len(secret) >= 4:
            self._secrets.append(secret)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def make_http(self, **kwargs: Any) -> HttpClient:
        from ingest.http import HttpClient

        if self._http is None:
            self._http = HttpClient(now=self.clock, **kwargs)
        return self._http

    def close(self) -> None:
        if self._http is not None and self._owns_http:
            self._http.close()

    def request_json(self, method: str, url: str, **kwargs: Any) -> tuple[Any, Response]:
        """Fetch and decode JSON; any HTTP/decoding failure becomes this feed's FeedError."""
        from ingest.http import HttpError

        http = self.make_http()
        try:
            if method == "GET":
                resp = http.get(url, expect="json", **kwargs)
            else:
                resp = http.post(url, **kwargs)
            return resp.json(), resp
        except HttpError as exc:
            raise self.fail(exc.message, retry_after=exc.retry_after) from exc

    def error(self, reason: str, native_id: str | None = None, raw: bytes | None = None) -> ItemError:
        return ItemError(feed=self.name, reason=self._scrub(reason), native_id=native_id, raw=raw)

    def fail(self, message: str, *, retry_after: float | None = None) -> FeedError:
        return FeedError(self.name, self._scrub(message), retry_after=retry_after)


# --- the JSON form of a Post (replay files, webhook bodies) -------------------------------------


def post_from_record(obj: Any, *, default_source: str) -> Post:
    """A Post from its JSON form; raises ``ValueError`` with a one-line reason.

    Unknown keys are ignored so that exported Mentions (which carry id, brand, enrichment, ...) can
    be replayed as they are.
    """
    from pydantic import ValidationError

    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    native_id = as_str(obj.get("native_id"))
    if native_id is None:
        raise ValueError("missing native_id")
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError("missing text" if text is None else f"text is {type(text).__name__}, not a string")
    if "created_at" not in obj:
        raise ValueError("missing created_at")
    try:
        created_at = parse_timestamp(obj["created_at"])
    except ValueError as exc:
        raise ValueError(f"created_at: {exc}") from exc
    source = obj.get("source", default_source)
    if not isinstance(source, str) or not source:
        raise ValueError("source must be a non-empty string")
    for key in ("title", "url", "lang", "country"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f"{key} must be a string")
    country = obj.get("country")
    if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
        raise ValueError(f"country must be an ISO 3166 alpha-2 code, got {country[:10]!r}")
    try:
        author = Author.model_validate(obj.get("author") or {})
        geo = Geo.model_validate(obj["geo"]) if obj.get("geo") is not None else None
        engagement = Engagement.model_validate(obj.get("engagement") or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        section = exc.title.lower()
        raise ValueError(f"{section}.{loc}: {err['msg']}" if loc else f"{section}: {err['msg']}") from exc
    return Post(
        source=source,
        native_id=native_id,
        text=text,
        created_at=created_at,
        title=obj.get("title") or None,
        url=obj.get("url") or None,
        author=author,
        geo=geo,
        engagement=engagement,
        lang=obj.get("lang") or None,
        country=country or None,
    )


def post_to_record(post: Post) -> dict[str, Any]:
    """The inverse of :func:`post_from_record` (used to write replay files and fixtures)."""
    record: dict[str, Any] = {
        "source": post.source,
        "native_id": post.native_id,
        "text": post.text,
        "created_at": post.created_at.isoformat().replace("+00:00", "Z"),
    }
    for key in ("title", "url", "lang", "country"):
        if getattr(post, key) is not None:
            record[key] = getattr(post, key)
    author = post.author.model_dump(exclude_none=True)
    if author:
        record["author"] = author
    if post.geo is not None:
        record["geo"] = post.geo.model_dump()
    if post.engagement != Engagement():
        record["engagement"] = post.engagement.model_dump(exclude_none=True)
    return record
