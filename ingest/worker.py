"""The ingest worker: poll every configured feed on its schedule, match brands, produce.

Per poll: ``feed.poll(cursor)`` → brand matching (one record per matched brand, keyed by brand)
→ produce to the raw topic and wait for the acks → only then persist the new cursor to the
compacted state topic. A crash between the two re-polls from the old cursor; the mentions'
deterministic ids make that repeat harmless downstream. A broken feed is counted, backed off
and reported in ``brandpulse feeds status``; it never stops the others.

Push feeds (the webhook) do not wait for a poll: the worker attaches a sink to them, and each
request's posts go through the same matching and producing in the request's thread, which
waits for the acks before the sender gets its answer (see ``deliver_pushed``).

Whatever a post contains, the poll goes on and the cursor moves: a post that cannot be matched
or made into a mention is dead-lettered (``MalformedItem``) with the reason, and a mention record
bigger than every consumer accepts (``MAX_RECORD_BYTES``), or that the producer refuses for its
size, is dead-lettered as ``RecordTooLarge``. Otherwise that one post would fail
the poll again and again, and the feed would be stuck at its cursor forever.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError
from kafka.producer.future import FutureRecordMetadata
from prometheus_client import Counter, Gauge

from brandpulse.errors import MalformedItem, RecordTooLarge
from brandpulse.kafkaio import dead_letter_record, make_producer
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import MAX_RECORD_BYTES, Mention
from brandpulse.settings import BrandSettings, FeedSettings, Settings
from brandpulse.state import StateStore
from ingest.feeds import Feed, FeedError, ItemError, PollResult, Post, build_feed
from ingest.feeds.contract import MAX_RAW_BYTES, DeliverFn, PushFeed, raw_json
from ingest.feeds.cursor import check_cursor_size
from ingest.feeds.records import post_to_record
from ingest.query import BrandMatcher, BrandSpec, MatchDoc

log = logging.getLogger(__name__)

# How long producer.send() may block when Kafka is unreachable (metadata unknown, buffer full). The
# default 60 s would hold a webhook request far past its ack timeout; a poll just fails sooner.
PRODUCER_MAX_BLOCK_MS = 10_000
# How long a poll waits for the acks of what it produced.
POLL_ACK_TIMEOUT = 120.0


def brand_matcher(brands: Sequence[BrandSettings]) -> BrandMatcher:
    return BrandMatcher(
        [
            BrandSpec(
                name=b.name, query=b.query, aliases=tuple(b.aliases), exclude_terms=tuple(b.exclude_terms),
                exclude_authors=tuple(b.exclude_authors), languages=tuple(b.languages),
            )
            for b in brands
        ]
    )


def match_post(matcher: BrandMatcher, post: Post, feed: str, fetched_at: datetime) -> list[Mention]:
    """One Mention per matched brand (see README: "one record per brand")."""
    doc = MatchDoc(
        text=post.text, title=post.title, author=post.author.handle or post.author.name,
        url=post.url, lang=post.lang, country=post.country,
    )
    brands = tuple(matcher.match(doc))
    return [post.to_mention(feed=feed, brand=b, matched_brands=brands, fetched_at=fetched_at) for b in brands]


@dataclass
class FeedHealth:
    name: str
    kind: str
    last_poll: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    posts_total: int = 0
    mentions_total: int = 0
    item_errors_total: int = 0
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class IngestWorker:
    def __init__(self, settings: Settings, metrics: WorkerMetrics, *, feed_names: Sequence[str] | None = None,
                 producer: KafkaProducer | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.matcher = brand_matcher(settings.brands)
        self.producer = producer or make_producer(settings.kafka, "ingest", max_block_ms=PRODUCER_MAX_BLOCK_MS)
        self.state = StateStore(settings, self.producer)
        self.feed_settings = [f for f in settings.feeds if f.enabled and (not feed_names or f.name in feed_names)]
        base = Path(settings.base_dir)
        self.feeds: dict[str, Feed] = {f.name: build_feed(f.name, f.kind, f.options, base_dir=base)
                                       for f in self.feed_settings}
        self.cursors: dict[str, dict[str, Any] | None] = {}
        self.health = {f.name: FeedHealth(f.name, f.kind) for f in self.feed_settings}
        self._locks = {f.name: threading.Lock() for f in self.feed_settings}
        self._stats_lock = threading.Lock()  # health counters: push requests run on their own threads
        # APScheduler's shutdown(wait=True) holds its job-store lock while it waits for running
        # polls; a poll that then reschedules its job (get_job) would wait for that lock forever.
        # Rescheduling goes through this lock, and stops once shutdown has begun.
        self._schedule_lock = threading.Lock()
        self._stopping = False
        for name, feed in self.feeds.items():
            if isinstance(feed, PushFeed):
                feed.attach_sink(self._push_sink(name))
        reg = metrics.registry
        self.m_posts = Counter("brandpulse_feed_posts", "posts fetched", ["feed"], registry=reg)
        self.m_mentions = Counter("brandpulse_feed_mentions", "mentions produced", ["feed", "brand"], registry=reg)
        self.m_unmatched = Counter("brandpulse_feed_unmatched", "posts matching no brand", ["feed"], registry=reg)
        self.m_item_errors = Counter("brandpulse_feed_item_errors", "items skipped", ["feed"], registry=reg)
        self.m_poll_errors = Counter("brandpulse_feed_poll_errors", "failed polls", ["feed"], registry=reg)
        self.m_failures = Gauge("brandpulse_feed_consecutive_failures", "failed polls in a row", ["feed"],
                                registry=reg)
        self.m_last_success = Gauge("brandpulse_feed_last_success_timestamp", "unix time", ["feed"], registry=reg)
        self.scheduler = BackgroundScheduler(timezone=UTC)

    # ------------------------------------------------------------ lifecycle
    def restore(self) -> None:
        stored = self.state.load("cursor/")
        for name in self.feeds:
            self.cursors[name] = stored.get(f"cursor/{name}")
            if self.cursors[name] is not None:
                log.info("resuming feed from stored cursor", extra={"feed": name})

    def start(self) -> None:
        self.restore()
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        now = datetime.now(UTC)
        for f in self.feed_settings:
            self.scheduler.add_job(
                self.poll_feed, "interval", args=[f.name], id=f.name, name=f.name,
                seconds=f.interval_seconds, jitter=f.jitter_seconds or None,
                next_run_time=now, replace_existing=True, coalesce=True, max_instances=1,
                misfire_grace_time=max(30, int(f.interval_seconds)),
            )
        self.scheduler.start()
        log.info("ingest started", extra={"feeds": len(self.feeds), "brands": len(self.settings.brands)})

    def shutdown(self) -> None:
        with self._schedule_lock:
            self._stopping = True
        # wait=True lets in-flight polls finish (and persist their cursors) before we exit.
        self.scheduler.shutdown(wait=True)
        for feed in self.feeds.values():
            try:
                feed.close()
            except Exception:
                log.warning("closing feed failed", exc_info=True)
        self.producer.flush()
        self.producer.close()

    @property
    def all_done(self) -> bool:
        return bool(self.health) and all(h.done for h in self.health.values())

    # ------------------------------------------------------------ one poll
    def poll_feed(self, name: str) -> PollResult | None:
        with self._locks[name]:
            return self._poll(name)

    def _poll(self, name: str) -> PollResult | None:
        health = self.health[name]
        if health.done:
            return None
        feed = self.feeds[name]
        now = datetime.now(UTC)
        health.last_poll = now.isoformat()
        try:
            result = feed.poll(self.cursors.get(name))
            check_cursor_size(name, result.cursor)  # the state topic's bound, before anything is sent
        except FeedError as exc:
            self._failed(name, str(exc), exc.retry_after)
            return None
        except Exception as exc:  # a connector bug must not kill the worker or other feeds
            log.exception("feed crashed during poll", extra={"feed": name})
            self._failed(name, f"{type(exc).__name__}: {exc}", None)
            return None

        mentions, errors = self._match(name, result.posts, now)
        errors = [*result.errors, *errors]
        try:
            mentions, oversized = self._produce(name, mentions, errors, time.monotonic() + POLL_ACK_TIMEOUT,
                                                flush=True)
        except Exception as exc:
            # Not acknowledged: keep the old cursor so the next poll fetches these again.
            self._failed(name, f"producing to Kafka failed: {exc}", None)
            return None
        if result.cursor is not None:
            self.state.put(f"cursor/{name}", result.cursor)
            self.cursors[name] = result.cursor
        self._count(name, result.posts, mentions, len(errors) + oversized, now)
        health.consecutive_failures = 0
        health.last_error = None
        health.done = result.done
        self.m_failures.labels(name).set(0)
        self.m_last_success.labels(name).set(now.timestamp())
        self._publish_health(name)
        if result.posts or errors:
            log.info("polled", extra={"feed": name, "posts": len(result.posts), "mentions": len(mentions),
                                      "item_errors": len(errors) + oversized})
        if result.next_poll_after is not None:
            self._reschedule(name, result.next_poll_after)
        return result

    # ------------------------------------------------------------ shared by polls and pushes
    def _match(self, name: str, posts: Sequence[Post], now: datetime) -> tuple[list[Mention], list[ItemError]]:
        """The mentions of ``posts``, and an ItemError for each post that could not become any."""
        mentions: list[Mention] = []
        errors: list[ItemError] = []
        for post in posts:
            try:
                matched = match_post(self.matcher, post, name, now)
            except Exception as exc:  # a matcher or schema bug must not stall the feed at this post
                log.exception("matching a post failed", extra={"feed": name, "native_id": post.native_id})
                errors.append(ItemError(name, f"could not match the post or build its mention: "
                                              f"{type(exc).__name__}: {str(exc)[:300]}",
                                        native_id=post.native_id, raw=raw_json(post_to_record(post))))
                continue
            if not matched:
                self.m_unmatched.labels(name).inc()
            mentions.extend(matched)
        return mentions, errors

    def _produce(self, name: str, mentions: Sequence[Mention], errors: Sequence[ItemError], deadline: float,
                 *, flush: bool) -> tuple[list[Mention], int]:
        """Produce the mentions and the dead letters of ``errors``, and wait for every ack.

        A mention whose record is over MAX_RECORD_BYTES (what every consumer accepts, and below
        the broker's default message.max.bytes), or that the producer refuses for its size
        (max_request_size), is dead-lettered as RecordTooLarge instead and never sent. The size
        is checked before sending on purpose: after the broker refuses a record for its size,
        kafka-python's idempotent producer fails every later record to that partition too.
        Returns the mentions produced and how many were dead-lettered for their size; raises
        when anything is not acknowledged by ``deadline``.
        """
        raw_topic = self.settings.topics.raw
        futures: list[FutureRecordMetadata] = []
        sent: list[Mention] = []
        oversized = 0
        for m in mentions:
            value = m.to_bytes()
            reason = None
            if len(value) > MAX_RECORD_BYTES:
                reason = f"mention record is {len(value)} bytes, over the {MAX_RECORD_BYTES}-byte limit"
            else:
                try:
                    futures.append(self.producer.send(raw_topic, key=m.kafka_key, value=value))
                    sent.append(m)
                except MessageSizeTooLargeError as exc:  # send() checks max_request_size itself
                    reason = f"refused by the producer: {exc}"
            if reason is not None:
                oversized += 1
                log.warning("mention too large, dead-lettered", extra={"feed": name, "native_id": m.native_id,
                                                                       "brand": m.brand, "bytes": len(value)})
                futures.append(self._dead_letter(name, RecordTooLarge(f"{reason} (brand {m.brand!r})"),
                                                 value[:MAX_RAW_BYTES], m.native_id, record_bytes=len(value)))
        for err in errors:
            log.warning("feed item skipped", extra={"feed": name, "reason": err.reason, "native_id": err.native_id})
            futures.append(self._dead_letter(name, MalformedItem(err.reason), err.raw, err.native_id))
        if flush:
            self.producer.flush(timeout=max(0.0, deadline - time.monotonic()))
        for fut in futures:
            fut.get(timeout=0 if flush else max(0.0, deadline - time.monotonic()))
        return sent, oversized

    def _dead_letter(self, name: str, error: Exception, value: bytes | None, native_id: str | None,
                     **extra: object) -> FutureRecordMetadata:
        return self.producer.send(
            self.settings.topics.dead_letter, key=name.encode(),
            value=dead_letter_record(stage="ingest", error=error, value=value,
                                     extra={"feed": name, "native_id": native_id, **extra}),
        )

    def _count(self, name: str, posts: Sequence[Post], mentions: Sequence[Mention],
               errors: int, now: datetime) -> None:
        """Counters and metrics for posts whose records Kafka has acknowledged."""
        for m in mentions:
            self.m_mentions.labels(name, m.brand).inc()
        self.m_posts.labels(name).inc(len(posts))
        self.m_item_errors.labels(name).inc(errors)
        self.metrics.processed.labels("ingest").inc(len(posts))
        self.metrics.produced.labels(self.settings.topics.raw).inc(len(mentions))
        with self._stats_lock:
            health = self.health[name]
            health.last_success = now.isoformat()
            health.posts_total += len(posts)
            health.mentions_total += len(mentions)
            health.item_errors_total += errors

    def deliver_pushed(self, name: str, posts: list[Post], errors: list[ItemError], timeout: float) -> None:
        """Make a push request durable: match, produce, and wait for the acks (acks=all).

        Runs on the request's thread and raises when Kafka does not acknowledge every record
        within ``timeout`` seconds; the feed then answers 503 and the sender retries (mention ids
        are deterministic, so records that did land are overwritten, not duplicated).
        """
        now = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        mentions, unmatched = self._match(name, posts, now)
        errors = [*errors, *unmatched]
        mentions, oversized = self._produce(name, mentions, errors, deadline, flush=False)
        self._count(name, posts, mentions, len(errors) + oversized, now)
        if posts or errors or oversized:
            log.info("pushed", extra={"feed": name, "posts": len(posts), "mentions": len(mentions),
                                      "item_errors": len(errors) + oversized})

    def _push_sink(self, name: str) -> DeliverFn:
        def deliver(posts: list[Post], errors: list[ItemError], timeout: float) -> None:
            try:
                self.deliver_pushed(name, posts, errors, timeout)
            except Exception as exc:
                self.m_poll_errors.labels(name).inc()
                self.metrics.failed.labels("ingest", "push_not_acked").inc()
                log.warning("pushed posts not acknowledged by Kafka; the sender gets 503",
                            extra={"feed": name, "posts": len(posts), "error": f"{type(exc).__name__}: {exc}"[:300]})
                raise
        return deliver

    def _failed(self, name: str, reason: str, retry_after: float | None) -> None:
        health = self.health[name]
        health.consecutive_failures += 1
        health.last_error = reason[:500]
        self.m_poll_errors.labels(name).inc()
        self.m_failures.labels(name).set(health.consecutive_failures)
        self.metrics.failed.labels("ingest", "feed_error").inc()
        log.warning("feed poll failed", extra={"feed": name, "error": reason[:300],
                                               "consecutive_failures": health.consecutive_failures})
        # Back off exponentially (with jitter) on repeated failures, or as long as the source asked.
        fs = next(f for f in self.feed_settings if f.name == name)
        backoff = min(3600.0, fs.interval_seconds * (2 ** min(health.consecutive_failures - 1, 6)))
        delay = max(retry_after or 0.0, backoff * random.uniform(0.8, 1.2))
        self._reschedule(name, delay)
        try:
            self._publish_health(name)
        except Exception:
            log.debug("could not publish feed health", exc_info=True)

    def _reschedule(self, name: str, delay: float) -> None:
        with self._schedule_lock:
            if self._stopping:
                return
            job = self.scheduler.get_job(name)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=max(0.0, delay)))

    def _publish_health(self, name: str) -> None:
        h = self.health[name]
        self.state.put(f"feed-health/{name}", h.__dict__, flush=False)

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("feed poll missed its slot (worker busy)", extra={"feed": event.job_id})
        else:
            log.error("feed job raised", extra={"feed": event.job_id, "error": repr(event.exception)})


def run_ingest(settings: Settings, metrics: WorkerMetrics, stop: Any, *, feed_names: Sequence[str] | None = None,
               exit_when_done: bool = False) -> None:
    worker = IngestWorker(settings, metrics, feed_names=feed_names)
    worker.start()
    try:
        while not stop.wait(1.0):
            metrics.heartbeat()
            metrics.extra_health["feeds"] = {n: {"failures": h.consecutive_failures, "done": h.done}
                                             for n, h in worker.health.items()}
            if exit_when_done and worker.all_done:
                log.info("all feeds finished")
                break
    finally:
        worker.shutdown()


def feed_settings_by_name(settings: Settings, name: str) -> FeedSettings:
    for f in settings.feeds:
        if f.name == name:
            return f
    known = ", ".join(f.name for f in settings.feeds) or "none configured"
    raise KeyError(f"no feed named {name!r} (known: {known})")


def poll_once(settings: Settings, name: str) -> tuple[PollResult, list[Mention]]:
    """Fetch one feed once and return the normalised mentions, producing nothing (`feeds test`)."""
    fs = feed_settings_by_name(settings, name)
    feed = build_feed(fs.name, fs.kind, fs.options, base_dir=Path(settings.base_dir))
    try:
        result = feed.poll(None)
    finally:
        feed.close()
    matcher = brand_matcher(settings.brands)
    now = datetime.now(UTC)
    mentions = [m for p in result.posts for m in match_post(matcher, p, name, now)]
    return result, mentions


