"""One polite HTTP fetcher shared by every polling connector.

Polite means: a descriptive User-Agent, bounded timeouts, a bounded number of retries with
exponential backoff and full jitter (connection errors, 5xx, 429), Retry-After and rate-limit
headers honoured, and a hard cap on response size so one broken endpoint cannot exhaust memory.
Sleeping and the wall clock are injectable so tests run at full speed.

Defensive, because the other end may be hostile (or just broken):

* ``total_timeout`` is a real wall-clock deadline for each attempt, headers and body included: a
  watchdog shuts the connection's socket when it passes, so a server sending one byte every
  half second cannot hold a poll (``read_timeout`` alone is per socket read).
* Redirects are followed here, not by ``requests``: at most 5, only to http(s). One to another
  origin (scheme, host or port) carries none of the caller's headers but the User-Agent and
  Accept ones, so an ``X-Api-Key`` or ``Authorization`` never reaches a host it was not meant
  for. A POST (logins, token requests: they carry credentials) follows no redirect at all.
* Permanent failures are not retried: a body over the cap, a redirect that is not followed, a
  deadline that passed, a 4xx other than 408/429.
"""

from __future__ import annotations

import codecs
import contextvars
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from brandpulse.timeparse import parse_reset, parse_retry_after

DEFAULT_USER_AGENT = "BrandPulse/0.1 (open-source social listening; +https://github.com/brandpulse)"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

Expect = Literal["json", "xml", "any"]

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# The only caller headers that follow a redirect to another origin: they describe the request
# and carry no credential. Everything else (Authorization, X-Api-Key, cookies set by hand,
# conditional headers for the original resource) stays behind.
_CROSS_ORIGIN_HEADERS = frozenset({"user-agent", "accept", "accept-encoding", "accept-language"})


class HttpError(Exception):
    """A request that failed for good; ``retry_after`` is set when the server told us when to return.

    ``retryable`` is False for failures another try cannot fix (a body over the cap, a redirect
    that is not followed, the deadline); inside ``request`` those end the retries at once.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, including the first
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After longer than this is not slept through inside one poll: the error carries it
    # to the worker, which reschedules the feed instead of blocking a thread for minutes.
    max_retry_after: float = 60.0


@dataclass
class Response:
    url: str
    status: int
    headers: CaseInsensitiveDict[str]
    body: bytes
    elapsed: float = 0.0
    _now: Callable[[], float] = field(default=time.time, repr=False)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", self.headers.get("content-type", ""), re.I)
        return match.group(1).lower() if match else None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    def text(self, default_charset: str = "utf-8") -> str:
        """Decode the body by its declared charset (BOM wins), else ``default_charset``.

        Raises ``HttpError`` when the bytes are not valid in that charset rather than silently
        replacing characters, which would corrupt mentions in ways nobody notices.
        """
        body = self.body
        charset = self.charset or default_charset
        for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
            if body.startswith(bom):
                charset = name
                if name == "utf-8":
                    body = body[len(bom):]
                break
        try:
            return body.decode(charset)
        except LookupError as exc:
            raise HttpError(f"unknown charset {charset!r}", url=self.url, status=self.status) from exc
        except UnicodeDecodeError as exc:
            raise HttpError(f"body is not valid {charset} (byte {exc.start}: {exc.reason})",
                            url=self.url, status=self.status) from exc

    def json(self) -> Any:
        text = self.text("utf-8")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            hint = " (truncated body?)" if exc.pos >= len(text) - 1 else ""
            raise HttpError(
                f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}",
                url=self.url,
                status=self.status,
            ) from exc
        except RecursionError:  # [[[[… deeper than the interpreter's recursion limit
            raise HttpError("malformed JSON: nested too deeply", url=self.url, status=self.status) from None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise HttpError(f"malformed JSON: {str(exc)[:200]}", url=self.url, status=self.status) from None

    def rate_limit_wait(self) -> float | None:
        """Seconds until the rate-limit window resets, when the server says we have nothing left.

        Understands Reddit's ``X-Ratelimit-Remaining/Reset`` (float count, seconds), Mastodon's
        ``X-RateLimit-Reset`` (ISO timestamp), and the IETF/Bluesky ``RateLimit-Remaining/Reset``
        (seconds or epoch seconds).
        """
        remaining = _first_header(self.headers, "x-ratelimit-remaining", "ratelimit-remaining")
        reset = _first_header(self.headers, "x-ratelimit-reset", "ratelimit-reset")
        if remaining is None or reset is None:
            return None
        try:
            left = float(remaining)
        except ValueError:
            return None
        if left >= 1:
            return None
        return parse_reset(reset, now=self._now())

    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        return parse_retry_after(value, now=self._now()) if value else None


def _first_header(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value.strip()
    return None


_JSON_TYPES = ("application/json", "text/json", "text/javascript", "application/javascript")
_XML_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml",
              "application/rdf+xml", "application/x-rss+xml", "application/x-atom+xml")


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:200]


def _html_title(body: bytes) -> str:
    match = re.search(rb"<title[^>]*>(.*?)</title>", body[:8192], re.I | re.S)
    if not match:
        return ""
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:120]


def check_content_type(resp: Response, expect: Expect) -> None:
    """Fail clearly when a proxy, captive portal or error handler sent HTML instead of data."""
    if expect == "any" or resp.status == 304:
        return
    ctype = resp.content_type
    if expect == "json":
        ok = ctype in _JSON_TYPES or ctype.endswith("+json") or ctype == ""
        if ok and not (ctype == "" and _looks_like_html(resp.body)):
            return
        if ctype == "text/plain" and resp.body.lstrip()[:1] in (b"{", b"["):
            return  # some APIs mislabel JSON; the parser will still catch real garbage
    else:  # xml
        ok = ctype in _XML_TYPES or ctype.endswith("+xml") or ctype in ("", "text/plain")
        if ok and not _looks_like_html(resp.body):
            return
        head = resp.body[:1024].lstrip().lower()
        if ctype == "text/html" and head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")):
            return  # mislabelled feed: the bytes are a feed, trust them
    if ctype == "text/html" or _looks_like_html(resp.body):
        title = _html_title(resp.body)
        raise HttpError(
            f"expected {expect.upper()} but got an HTML page" + (f" ({title!r})" if title else ""),
            url=resp.url,
            status=resp.status,
        )
    raise HttpError(f"expected {expect.upper()} but got content type {ctype or 'none'!r}",
                    url=resp.url, status=resp.status)


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


# --------------------------------------------------------------------------- the deadline watchdog
class _Deadline:
    """Shuts the socket of one attempt when ``seconds`` have passed, unless cancelled first.

    A blocked read then returns or raises at once, whatever phase it is in (status line,
    headers, body). The connection in use is learnt from the pool (``_WatchedPool``) through a
    context variable, so each thread's attempt has its own watchdog.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.conn: Any = None  # the urllib3 connection in use (set by the pool)
        self.response: requests.Response | None = None  # once the headers are in
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            # A response that ends with the connection ("Connection: close", no length) has
            # already detached the socket from the connection: it lives on in the response.
            sock = getattr(self.conn, "sock", None) or _response_socket(self.response)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the read has ended anyway

    def cancel(self) -> None:
        """Called before the connection goes back to the pool, so it is never shut there."""
        with self._lock:
            self._done = True
            self.conn = self.response = None
        self._timer.cancel()


def _response_socket(resp: requests.Response | None) -> socket.socket | None:
    # requests.Response.raw (urllib3) -> http.client.HTTPResponse -> its socket file -> the socket
    fp = getattr(getattr(getattr(resp, "raw", None), "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


_ATTEMPT: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("brandpulse_http_attempt",
                                                                            default=None)


def _watched(conn: Any) -> Any:
    """Tell the current attempt's watchdog (if any) which connection the pool handed out."""
    attempt = _ATTEMPT.get()
    if attempt is not None:
        attempt.conn = conn
    return conn


class _WatchedPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watched(super()._get_conn(timeout))


class _WatchedHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watched(super()._get_conn(timeout))


class _WatchedAdapter(HTTPAdapter):
    """A requests adapter whose pools tell the current attempt's watchdog which connection it uses."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}
        return manager


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


class HttpClient:
    """A ``requests`` session wrapped with the politeness rules above. One per feed (not thread-safe)."""

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.now = now
        self.rand = rand
        self.session = session or requests.Session()
        adapter = _WatchedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Expect = "any",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Response:
        hdrs = dict(headers or {})
        hdrs.update(conditional_headers(etag, last_modified))
        return self.request("GET", url, params=params, headers=hdrs, expect=expect)

    def post(
        self,
        url: str,
        *,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        expect: Expect = "json",
        retry: bool = False,
    ) -> Response:
        # POSTs here are logins/token requests: not retried by default so a bad password is not
        # hammered against an auth endpoint, and never redirected (see _once).
        return self.request("POST", url, json_body=json_body, data=data, headers=headers, auth=auth,
                            expect=expect, retry=retry)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        expect: Expect = "any",
        retry: bool = True,
    ) -> Response:
        attempts = self.retry.attempts if retry else 1
        last_error: HttpError | None = None
        for attempt in range(attempts):
            if attempt:
                assert last_error is not None
                delay = self._backoff(attempt, last_error.retry_after)
                if delay is None:
                    raise last_error
                self.sleep(delay)
            try:
                resp = self._once(method, url, params=params, headers=headers, json_body=json_body,
                                  data=data, auth=auth)
            except HttpError as exc:
                if not exc.retryable:
                    raise
                last_error = exc  # network-level failures: worth another try
                continue
            if resp.status in _RETRY_STATUSES:
                retry_after = resp.retry_after()
                if retry_after is None and resp.status == 429:
                    retry_after = resp.rate_limit_wait()
                last_error = HttpError(
                    f"HTTP {resp.status}" + (" (rate limited)" if resp.status == 429 else ""),
                    url=resp.url, status=resp.status, retry_after=retry_after,
                )
                continue
            if resp.status >= 400:
                detail = _html_title(resp.body) if _looks_like_html(resp.body) else \
                    resp.body[:200].decode("utf-8", "replace").strip()
                raise HttpError(f"HTTP {resp.status}" + (f": {detail}" if detail else ""),
                                url=resp.url, status=resp.status, retry_after=resp.retry_after(),
                                retryable=False)
            check_content_type(resp, expect)
            return resp
        assert last_error is not None
        raise HttpError(f"{last_error.message} after {attempts} attempt(s)", url=last_error.url,
                        status=last_error.status, retry_after=last_error.retry_after)

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        """Delay before ``attempt`` (1-based retries); None = give up now and let the worker wait."""
        if retry_after is not None:
            if retry_after > self.retry.max_retry_after:
                return None
            return retry_after
        cap = min(self.retry.max_delay, self.retry.base_delay * (2 ** (attempt - 1)))
        return self.rand() * cap  # full jitter: spreads retries from many feeds hitting one host

    def _once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
        data: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
    ) -> Response:
        """One attempt, redirects included, within one ``total_timeout`` deadline."""
        hdrs = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        hdrs.update(headers or {})
        started = time.monotonic()
        deadline = _Deadline(self.total_timeout)
        token = _ATTEMPT.set(deadline)
        deadline.start()
        raw: requests.Response | None = None
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                raw = self._send(method, url, deadline, params=params, headers=hdrs, json_body=json_body,
                                 data=data, auth=auth)
                location = raw.headers.get("location")
                if raw.status_code not in _REDIRECT_STATUSES or not location:
                    break
                raw.close()
                method, url, params, json_body, data = self._redirect(method, raw, location, json_body, data)
                if _origin(url) != _origin(raw.url):
                    hdrs = {k: v for k, v in hdrs.items() if k.lower() in _CROSS_ORIGIN_HEADERS}
                    auth = None
            else:
                raise HttpError(f"more than {MAX_REDIRECTS} redirects", url=url, retryable=False)
            assert raw is not None
            body = self._read_body(raw, started, deadline)
        finally:
            deadline.cancel()  # before the connection goes back to the pool
            _ATTEMPT.reset(token)
            if raw is not None:
                raw.close()
        return Response(url=raw.url, status=raw.status_code, headers=raw.headers, body=body,
                        elapsed=time.monotonic() - started, _now=self.now)

    def _send(self, method: str, url: str, deadline: _Deadline, *, headers: Mapping[str, str],
              params: Mapping[str, Any] | list[tuple[str, Any]] | None, json_body: Any,
              data: Mapping[str, str] | None, auth: tuple[str, str] | None) -> requests.Response:
        try:
            resp = self.session.request(
                method, url, params=params, headers=dict(headers), json=json_body, data=data, auth=auth,
                timeout=(self.connect_timeout, self.read_timeout), stream=True, allow_redirects=False,
            )
            deadline.response = resp
            return resp
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader) as exc:
            raise HttpError(f"invalid request: {_short(exc)}", url=url, retryable=False) from exc
        except requests.RequestException as exc:
            if deadline.expired:
                raise self._too_slow(url) from exc
            if isinstance(exc, requests.Timeout):
                raise HttpError(f"timed out connecting or waiting for a response ({type(exc).__name__})",
                                url=url) from exc
            raise HttpError(f"connection failed: {_short(exc)}", url=url) from exc

    @staticmethod
    def _redirect(method: str, raw: requests.Response, location: str, json_body: Any,
                  data: Mapping[str, str] | None) -> tuple[str, str, None, Any, Mapping[str, str] | None]:
        """The next request after a 3xx, or a permanent HttpError when it must not be followed."""
        host = urlsplit(raw.url).hostname or "?"
        if method != "GET":
            # A login or token POST carries credentials in its body: a 307/308 would resend them
            # to wherever the server points, so no redirect of a POST is followed.
            raise HttpError(f"HTTP {raw.status_code} redirect of a {method} to {host} not followed",
                            url=raw.url, status=raw.status_code, retryable=False)
        target = urljoin(raw.url, location.strip())
        parts = urlsplit(target)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            scheme = parts.scheme or "a relative"
            raise HttpError(f"HTTP {raw.status_code} redirect to a non-http(s) URL ({scheme}:) not followed",
                            url=raw.url, status=raw.status_code, retryable=False)
        # The Location is the whole next URL: the original query parameters (which may hold a
        # secret) are not carried over.
        return "GET", target, None, json_body, data

    def _too_slow(self, url: str, status: int | None = None) -> HttpError:
        # Not retried: the attempt already used the whole budget; the worker's next poll tries again.
        return HttpError(f"response took longer than {self.total_timeout:g}s", url=url, status=status,
                         retryable=False)

    def _read_body(self, raw: requests.Response, started: float, deadline: _Deadline) -> bytes:
        declared = raw.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            raise HttpError(f"response is {declared} bytes, over the {self.max_bytes}-byte limit",
                            url=raw.url, status=raw.status_code, retryable=False)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise HttpError(f"response exceeded the {self.max_bytes}-byte limit",
                                    url=raw.url, status=raw.status_code, retryable=False)
                if deadline.expired or time.monotonic() - started > self.total_timeout:
                    raise self._too_slow(raw.url, raw.status_code)
                chunks.append(chunk)
        except requests.RequestException as exc:
            if deadline.expired:
                raise self._too_slow(raw.url, raw.status_code) from exc
            raise HttpError(f"response body failed: {_short(exc)}", url=raw.url,
                            status=raw.status_code) from exc
        if deadline.expired:  # the watchdog's shutdown can look like a normal end of the body
            raise self._too_slow(raw.url, raw.status_code)
        return b"".join(chunks)


def _short(exc: BaseException) -> str:
    text = str(exc)
    # requests nests urllib3 reprs several levels deep; the innermost reason is what helps
    match = re.search(r"\(Caused by [^(]*\(([^)]*)\)", text) or re.search(r"'([^']{5,})'", text)
    text = match.group(1) if match else text
    return f"{type(exc).__name__}: {text[:200]}"


_LINK_PART = re.compile(r'<([^>]*)>\s*((?:;\s*[\w*-]+\s*=\s*(?:"[^"]*"|[^;,]*)\s*)*)')


def parse_link_header(value: str | None) -> dict[str, str]:
    """``rel -> url`` from an RFC 8288 Link header (Mastodon paginates with rel="next"/"prev")."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK_PART.finditer(value):
        url, params = match.group(1), match.group(2)
        rel = re.search(r';\s*rel\s*=\s*"?([^";]+)"?', params)
        if rel:
            for name in rel.group(1).split():
                links.setdefault(name.lower(), url)
    return links
