"""Delivering alerts: per-channel workers, retries with backoff, and a delivery log for idempotency.

``Dispatcher.dispatch(alert)`` only routes and enqueues, so it returns in microseconds and the
detector never waits on Slack or an SMTP relay. Each channel has its own queue and thread: a
channel that is down (retrying with backoff) or slow only delays itself. Within one channel
alerts are delivered in order, so "opened" never arrives after "resolved".

Idempotency: each (channel, idempotency key) is delivered at most once per delivery log. The log
is marked after a successful send and can be persisted through two callables (the alert worker
backs them with the compacted state topic, see :func:`state_store_hooks`), so a restarted
worker that re-raises the same alert sends nothing twice. The window left is a crash between the
destination accepting a message and the mark being persisted: that message is sent again after
the restart (at-least-once); ``Idempotency-Key`` / ``Message-ID`` let receivers drop it.

Threads: a channel that can reply in a thread (a :class:`~alerts.channels.base.ThreadedChannel`,
Slack with a bot token) gets the thread of the alert's first message from the delivery log, which
keeps the reference that first message returned (persisted like the marks,
:func:`state_store_thread_hooks`), so every update of one alert lands in one conversation.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from brandpulse.schema import AlertRecord

from .base import Channel, DeliveryError, Record, ThreadedChannel, idempotency_key
from .routing import Route, route

log = logging.getLogger(__name__)

__all__ = [
    "Backoff",
    "DeliveryLog",
    "DeliveryResult",
    "Dispatcher",
    "InMemoryDeliveryLog",
    "state_store_hooks",
    "state_store_thread_hooks",
]


# --- backoff -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``min(max_delay, base·factor^(n-1))`` minus up to ``jitter`` of it.

    Jitter spreads the retries of many alerts that failed together (a Slack outage) so they do not
    return in lockstep. A destination's ``Retry-After`` is a floor: we never come back earlier
    than asked, but at most ``max_retry_after`` later, so a bogus hour-long hint cannot park an
    alert beyond the remaining attempts.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.5
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("Backoff needs base >= 0, factor >= 1, max_delay >= 0, 0 <= jitter <= 1")

    def delay(self, attempt: int, retry_after: float | None = None, *,
              rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        exp = min(self.max_delay, self.base * self.factor ** min(max(attempt - 1, 0), 64))
        draw = rng.random() if rng is not None else random.random()
        wait = exp * (1.0 - self.jitter * draw)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


# --- delivery log ---------------------------------------------------------------------------------


class DeliveryLog(Protocol):
    """Which (channel, key) pairs were delivered, and each alert's thread per channel. Called from
    several threads."""

    def load(self) -> None: ...

    def is_delivered(self, channel: str, key: str) -> bool: ...

    def mark_delivered(self, channel: str, key: str) -> None: ...

    def thread(self, channel: str, alert_id: str) -> str | None: ...

    def keep_thread(self, channel: str, alert_id: str, ref: str) -> None: ...


ThreadLoader = Callable[[], Iterable[tuple[str, str, str]]]


class InMemoryDeliveryLog:
    """A bounded in-memory log, optionally backed by durable storage through callables.

    ``loader()`` returns the (channel, key) pairs already delivered (read at :meth:`load`, which
    the Dispatcher calls when it is built); ``persist(channel, key)`` stores one new pair and
    should raise if it could not. A persist failure is logged, not fatal: the alert *was*
    delivered, and the worst outcome is one duplicate after a restart. ``threads`` is the same pair
    for threads: a loader of (channel, alert_id, ref) and a persist(channel, alert_id, ref).
    """

    def __init__(self, loader: Callable[[], Iterable[tuple[str, str]]] | None = None,
                 persist: Callable[[str, str], None] | None = None, *, max_entries: int = 100_000,
                 threads: tuple[ThreadLoader, Callable[[str, str, str], None]] | None = None) -> None:
        self._loader = loader
        self._persist = persist
        self._threads_io = threads
        self.max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._threads: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def load(self) -> None:
        pairs = list(self._loader()) if self._loader is not None else []
        threads = list(self._threads_io[0]()) if self._threads_io is not None else []
        with self._lock:
            for channel, key in pairs:
                self._seen[(channel, key)] = None
            for channel, alert_id, ref in threads:
                self._threads[(channel, alert_id)] = ref
            self._trim()

    def thread(self, channel: str, alert_id: str) -> str | None:
        with self._lock:
            return self._threads.get((channel, alert_id))

    def keep_thread(self, channel: str, alert_id: str, ref: str) -> None:
        with self._lock:
            self._threads[(channel, alert_id)] = ref
            self._trim()
        if self._threads_io is not None:
            try:
                self._threads_io[1](channel, alert_id, ref)
            except Exception:
                log.exception("could not persist an alert's thread; its updates after a restart start a new one",
                              extra={"channel": channel, "alert_id": alert_id})

    def is_delivered(self, channel: str, key: str) -> bool:
        with self._lock:
            return (channel, key) in self._seen

    def mark_delivered(self, channel: str, key: str) -> None:
        with self._lock:
            self._seen[(channel, key)] = None
            self._trim()
        if self._persist is not None:
            try:
                self._persist(channel, key)
            except Exception:
                log.exception("could not persist a delivery mark; it may be re-sent after a restart",
                              extra={"channel": channel, "idempotency_key": key})

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def _trim(self) -> None:
        # Oldest first: alerts old enough to fall out will not be re-raised by a replay.
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        while len(self._threads) > self.max_entries:
            self._threads.popitem(last=False)


class KeyValueStore(Protocol):
    """The slice of ``brandpulse.state.StateStore`` the delivery log needs."""

    def load(self, prefix: str = "") -> dict[str, Any]: ...

    def put(self, key: str, value: Any, *, flush: bool = True) -> None: ...


def state_store_hooks(store: KeyValueStore, *, prefix: str = "alerts-delivered/",
                      ttl_seconds: float | None = 30 * 86400, clock: Callable[[], float] = time.time,
                      ) -> tuple[Callable[[], list[tuple[str, str]]], Callable[[str, str], None]]:
    """``(loader, persist)`` for :class:`InMemoryDeliveryLog` over a compacted key/value topic.

    Keys are ``<prefix><channel>/<idempotency key>`` with ``{"at": epoch}``; channel names cannot
    contain ``/``. Entries older than ``ttl_seconds`` are skipped and tombstoned when loading,
    so the compacted topic does not grow forever.
    """

    def loader() -> list[tuple[str, str]]:
        now = clock()
        pairs = []
        for k, v in store.load(prefix).items():
            channel, sep, key = k[len(prefix):].partition("/")
            if not sep or not key:
                continue
            at = v.get("at") if isinstance(v, dict) else None
            if ttl_seconds is not None and isinstance(at, int | float) and now - at > ttl_seconds:
                store.put(k, None, flush=False)
                continue
            pairs.append((channel, key))
        return pairs

    def persist(channel: str, key: str) -> None:
        store.put(f"{prefix}{channel}/{key}", {"at": clock()})

    return loader, persist


def state_store_thread_hooks(store: KeyValueStore, *, prefix: str = "alerts-threads/",
                             ttl_seconds: float | None = 30 * 86400, clock: Callable[[], float] = time.time,
                             ) -> tuple[ThreadLoader, Callable[[str, str, str], None]]:
    """``threads=`` for :class:`InMemoryDeliveryLog`: ``<prefix><channel>/<alert_id>`` →
    ``{"ref": ..., "at": epoch}``, expired and tombstoned like :func:`state_store_hooks`."""

    def loader() -> list[tuple[str, str, str]]:
        now = clock()
        out = []
        for k, v in store.load(prefix).items():
            channel, sep, alert_id = k[len(prefix):].partition("/")
            if not sep or not alert_id or not isinstance(v, dict) or not isinstance(v.get("ref"), str):
                continue
            at = v.get("at")
            if ttl_seconds is not None and isinstance(at, int | float) and now - at > ttl_seconds:
                store.put(k, None, flush=False)
                continue
            out.append((channel, alert_id, v["ref"]))
        return out

    def persist(channel: str, alert_id: str, ref: str) -> None:
        store.put(f"{prefix}{channel}/{alert_id}", {"ref": ref, "at": clock()})

    return loader, persist


# --- dispatcher -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one alert on one channel (kept in ``Dispatcher.results``, passed to ``on_result``)."""

    channel: str
    key: str
    alert_id: str
    event: str
    ok: bool
    attempts: int
    error: str | None = None
    elapsed: float = 0.0  # seconds from dispatch to the outcome, by the dispatcher's clock


@dataclass
class _Job:
    alert: Record
    key: str
    queued_at: float


def _record_id(record: Record) -> str:
    return record.alert_id if isinstance(record, AlertRecord) else record.idempotency_key


_STOP = object()


class Dispatcher:
    """Routes alerts and delivers them, one worker thread and queue per channel.

    ``sleep`` defaults to an interruptible wait, so :meth:`close` can end pending backoffs;
    tests pass a fake. ``clock`` (monotonic seconds) only measures ``DeliveryResult.elapsed``.
    """

    def __init__(self, channels: Iterable[Channel] | Mapping[str, Channel], routes: Sequence[Route],
                 delivery_log: DeliveryLog | None = None, *, max_attempts: int = 8,
                 backoff: Backoff | None = None, sleep: Callable[[float], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 queue_size: int = 1000, on_result: Callable[[DeliveryResult], None] | None = None,
                 keep_results: int = 1000) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        chans = list(channels.values()) if isinstance(channels, Mapping) else list(channels)
        self.channels: dict[str, Channel] = {}
        for ch in chans:
            if ch.name in self.channels:
                raise ValueError(f"two channels are named {ch.name!r}")
            self.channels[ch.name] = ch
        self.routes = list(routes)
        unknown = sorted({n for r in self.routes for n in r.channels} - set(self.channels))
        if unknown:
            # Disabled channels are legitimately absent; say so once instead of on every alert.
            log.warning("routes name channels that are not running; they are skipped",
                        extra={"channels": unknown})
        self.delivery_log: DeliveryLog = delivery_log if delivery_log is not None else InMemoryDeliveryLog()
        self.delivery_log.load()
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        # `is None`, not `or`: a falsy-but-valid callable (e.g. a recording list) must still be used.
        self.sleep: Callable[[float], Any] = self._stop.wait if sleep is None else sleep
        self.clock = clock
        self.rng = rng or random.Random()  # jitter only; not security-relevant
        self.on_result = on_result
        self._results: deque[DeliveryResult] = deque(maxlen=keep_results)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight: set[tuple[str, str]] = set()
        self._closed = False
        self._queues: dict[str, queue.Queue[Any]] = {}
        self._threads: dict[str, threading.Thread] = {}
        for name, ch in self.channels.items():
            q: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
            t = threading.Thread(target=self._run, args=(ch, q), name=f"alert-channel-{name}", daemon=True)
            self._queues[name] = q
            self._threads[name] = t
            t.start()

    # -------- producer side (the alert worker's thread)
    def dispatch(self, alert: AlertRecord) -> list[str]:
        """Queue ``alert`` for every routed channel that has not had it yet; return those channel names.

        Never blocks and never raises for a bad record or a full queue: those are logged and
        recorded as failed results, because alert detection must go on regardless. Raises
        RuntimeError only when called after :meth:`close`. The record is frozen, so the channel
        threads that read it later see exactly what was dispatched.
        """
        if self._closed:
            raise RuntimeError("dispatcher is closed")
        try:
            if not isinstance(alert, AlertRecord):  # a caller outside the type checker's reach
                alert = AlertRecord.from_dict(alert)
            names = route(alert, self.routes)
        except Exception:
            log.exception("cannot route alert record", extra={"alert_id": getattr(alert, "alert_id", None)})
            return []
        return self._enqueue(alert, alert.idempotency_key, names)

    def send_to(self, record: Record, channels: Sequence[str]) -> list[str]:
        """Queue ``record`` (a digest) for the named channels without routing; like :meth:`dispatch`,
        each (channel, idempotency key) is sent once per delivery log. Returns the channels queued."""
        if self._closed:
            raise RuntimeError("dispatcher is closed")
        return self._enqueue(record, idempotency_key(record), list(dict.fromkeys(channels)))

    def _enqueue(self, alert: Record, key: str, names: Sequence[str]) -> list[str]:
        queued = []
        now = self.clock()
        for name in names:
            q = self._queues.get(name)
            if q is None:
                continue
            with self._lock:
                if (name, key) in self._inflight or self.delivery_log.is_delivered(name, key):
                    continue
                self._inflight.add((name, key))
            try:
                q.put_nowait(_Job(alert, key, now))
            except queue.Full:
                with self._lock:
                    self._inflight.discard((name, key))
                    self._idle.notify_all()
                log.error("alert channel queue is full; alert dropped for this channel",
                          extra={"channel": name, "alert_id": _record_id(alert)})
                self._record(name, _Job(alert, key, now), ok=False, attempts=0, error="queue full")
                continue
            queued.append(name)
        return queued

    @property
    def results(self) -> list[DeliveryResult]:
        """The most recent outcomes (a copy: channel threads keep appending)."""
        with self._lock:
            return list(self._results)

    def pending(self) -> int:
        """Deliveries queued or in progress."""
        with self._lock:
            return len(self._inflight)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or in progress; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
            return True

    def close(self, timeout: float = 10.0) -> bool:
        """Stop accepting alerts, let the queues drain for up to ``timeout`` s, then stop.

        Returns True when everything queued was delivered or given up on. Deliveries still
        pending at the deadline are abandoned without a delivery mark, so the alert is sent after
        the restart when the worker replays it.
        """
        self._closed = True
        deadline = time.monotonic() + timeout
        for q in self._queues.values():
            try:
                q.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                # A full queue behind a retrying channel: stop retrying so the worker drains the
                # queue quickly (recording each job as not delivered) and takes the sentinel.
                self._stop.set()
                q.put(_STOP)
        for t in self._threads.values():
            t.join(max(0.0, deadline - time.monotonic()))
        drained = not any(t.is_alive() for t in self._threads.values())
        if not drained:
            self._stop.set()  # cut backoff sleeps short and stop retrying
            for t in self._threads.values():
                t.join(1.0)
            log.warning("alert channels did not drain before shutdown; undelivered alerts resend on restart",
                        extra={"pending": self.pending()})
        for ch in self.channels.values():
            closer = getattr(ch, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:
                    log.exception("error closing alert channel", extra={"channel": ch.name})
        return drained

    # -------- consumer side (one thread per channel)
    def _run(self, ch: Channel, q: queue.Queue[Any]) -> None:
        while True:
            job = q.get()
            if job is _STOP:
                return
            try:
                self._deliver(ch, job)
            finally:
                with self._lock:
                    self._inflight.discard((ch.name, job.key))
                    self._idle.notify_all()

    def _deliver(self, ch: Channel, job: _Job) -> None:
        attempt = 0
        while True:
            if self._stop.is_set():
                self._record(ch.name, job, ok=False, attempts=attempt, error="shut down before delivery")
                return
            attempt += 1
            try:
                self._send(ch, job.alert)
            except DeliveryError as exc:
                if not exc.retryable or attempt >= self.max_attempts:
                    why = "not retryable" if not exc.retryable else f"gave up after {attempt} attempts"
                    log.error("alert delivery failed (%s): %s", why, exc.message,
                              extra={"channel": ch.name, "alert_id": _record_id(job.alert),
                                     "idempotency_key": job.key, "attempts": attempt})
                    self._record(ch.name, job, ok=False, attempts=attempt, error=exc.message)
                    return
                wait = self.backoff.delay(attempt, exc.retry_after, rng=self.rng)
                log.warning("alert delivery attempt failed, retrying in %.1fs: %s", wait, exc.message,
                            extra={"channel": ch.name, "alert_id": _record_id(job.alert), "attempt": attempt})
                self.sleep(wait)
                continue
            except Exception as exc:
                # A bug or a record the renderer cannot handle: the same input fails the same way,
                # so retrying would only delay the other alerts queued for this channel.
                log.exception("alert channel crashed; not retrying",
                              extra={"channel": ch.name, "alert_id": _record_id(job.alert)})
                self._record(ch.name, job, ok=False, attempts=attempt, error=f"{type(exc).__name__}: {exc}")
                return
            self.delivery_log.mark_delivered(ch.name, job.key)
            self._record(ch.name, job, ok=True, attempts=attempt)
            log.info("alert delivered", extra={"channel": ch.name, "alert_id": _record_id(job.alert),
                                               "attempts": attempt})
            return

    def _send(self, ch: Channel, record: Record) -> None:
        """One attempt; a threaded channel replies in the alert's thread and the first message's
        reference is kept (only after it was delivered: a failed first message starts no thread)."""
        if not (isinstance(record, AlertRecord) and isinstance(ch, ThreadedChannel)):
            ch.send(record)
            return
        thread = self.delivery_log.thread(ch.name, record.alert_id)
        ref = ch.send_in_thread(record, thread)
        if thread is None and ref:
            self.delivery_log.keep_thread(ch.name, record.alert_id, ref)

    def _record(self, channel: str, job: _Job, *, ok: bool, attempts: int, error: str | None = None) -> None:
        result = DeliveryResult(channel=channel, key=job.key, alert_id=_record_id(job.alert),
                                event=job.alert.event, ok=ok, attempts=attempts, error=error,
                                elapsed=max(0.0, self.clock() - job.queued_at))
        with self._lock:
            self._results.append(result)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:
                log.exception("on_result callback failed")
