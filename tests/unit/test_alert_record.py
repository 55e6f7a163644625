"""The typed alert record (brandpulse/schema.py), its chart links (alerts/chartlinks.py) and what every
channel shows of it: stories, new terms, the chart (inline in email, a signed link elsewhere), and
replies in one thread (Slack with a bot token, email)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.channels import Dispatcher, InMemoryDeliveryLog, Route, build_channel, slack, teams
from alerts.channels.console import format_console
from alerts.channels.email import EmailOptions, build_message
from alerts.channels.routing import route
from alerts.chart import NEG, PALETTE
from alerts.chartlinks import ChartLinks, decode_chart, record_png
from alerts.detector import SEVERITIES as DETECTOR_SEVERITIES
from brandpulse.metrics import WorkerMetrics
from brandpulse.schema import (
    ALERT_SCHEMA_VERSION,
    ALERT_SEVERITIES,
    SEVERITIES,
    AlertChart,
    AlertRecord,
    SchemaError,
)
from tests.unit.test_chart import decode_png

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = b"chart-link-test-key"


def chart(n: int = 36) -> AlertChart:
    neg = [3] * n
    neg[-4:] = [9, 20, 35, 28]
    return AlertChart(start=T - timedelta(minutes=5 * (n - 1)), bucket_seconds=300, negative=tuple(neg),
                      total=tuple(40 + i % 7 for i in range(n)), expected_low=(1.0,) * n, expected_high=(6.0,) * n)


def record(**overrides: Any) -> AlertRecord:
    first = {"id": "m0", "created_at": (T - timedelta(minutes=9)).isoformat(), "text": "Nimbus lost my bag in Denver",
             "url": "https://social.example/p/0", "author": "zara", "followers": 5000, "lang": "en",
             "source": "mastodon", "story_id": "st-m0", "negative": True}
    data: dict[str, Any] = {
        "alert_id": "5f0c1d2e3a4b5c6d", "event": "opened", "seq": 0, "key": "Nimbus Air", "brand": "Nimbus Air",
        "severity": "high", "window_start": (T - timedelta(minutes=10)).isoformat(), "window_end": T.isoformat(),
        "raised_at": T.isoformat(), "emitted_at": T.isoformat(), "observed_negative": 43, "expected_negative": 11.6,
        "observed_total": 70, "expected_total": 64.0, "negative_share": 0.61, "expected_share": 0.18,
        "score": 0.93, "p_value": 1e-9, "reason": "43 negative mentions vs ~12 expected",
        "top_mentions": [first],
        "stories": [{"story_id": "st-m0", "size": 14, "negative": 12, "authors": 9, "reach": 12400, "growth": 2.5,
                     "trend": "growing", "sources": {"mastodon": 10, "rss": 4}, "languages": {"en": 10, "es": 4},
                     "first": first, "mention_ids": ["m0", "m1"]}],
        "new_terms": [{"kind": "hashtag", "term": "#nimbuslostmybag", "count": 12, "share": 0.3,
                       "baseline_share": 0.0001, "log_odds": 5.1, "z": 6.2},
                      {"kind": "term", "term": "lost bag", "count": 9, "share": 0.22, "baseline_share": 0.001,
                       "log_odds": 3.9, "z": 4.4},
                      {"kind": "language", "term": "es", "count": 4, "share": 0.1, "baseline_share": 0.01,
                       "log_odds": 2.0, "z": 2.5}],
        "chart": json.loads(chart().model_dump_json()),
    }
    data.update(overrides)
    return AlertRecord.from_dict(data)


# ------------------------------------------------------------------ the record


def test_one_severity_list_for_detector_records_and_routes() -> None:
    assert SEVERITIES == ("none", *ALERT_SEVERITIES) and DETECTOR_SEVERITIES is SEVERITIES
    assert ALERT_SEVERITIES == ("low", "medium", "high", "critical")


def test_round_trip_keeps_every_part() -> None:
    rec = record()
    back = AlertRecord.from_bytes(rec.to_bytes())
    assert back == rec and back.schema_version == ALERT_SCHEMA_VERSION
    assert back.idempotency_key == "5f0c1d2e3a4b5c6d:0" and back.stories[0].first.negative
    assert back.new_terms[0].term == "#nimbuslostmybag" and back.chart == chart()


def test_a_version_1_dict_is_upgraded() -> None:
    v1 = {k: v for k, v in record().to_dict().items()
          if k not in ("schema_version", "idempotency_key", "stories", "new_terms", "chart", "emitted_at", "seq")}
    v1["kind"] = v1["event"]  # version 1 repeated the event kind
    v1["raised_at"] = "2026-03-01T12:00:00"  # written without a zone by the first detector: UTC
    for m in v1["top_mentions"]:
        m.pop("negative")
    rec = AlertRecord.from_dict(v1)
    assert rec.schema_version == ALERT_SCHEMA_VERSION and rec.idempotency_key == "5f0c1d2e3a4b5c6d:opened:43"
    assert rec.raised_at == T and rec.top_mentions[0].negative  # v1 quoted only negative mentions
    assert rec.stories == () and rec.chart is None


@pytest.mark.parametrize(("patch", "reason"), [
    ({"schema_version": ALERT_SCHEMA_VERSION + 1}, "schema_version"),
    ({"event": "exploded"}, "event"),
    ({"window_end": "2026-03-01T12:00:00"}, "window_end"),  # a naive time in a current record
    ({"surprise": 1}, "surprise"),
    ({"observed_negative": -1}, "observed_negative"),
    ({"chart": {**json.loads(chart().model_dump_json()), "total": [1, 2]}}, "total has 2 values"),
    ({"stories": [{"story_id": "x"}]}, "stories.0"),
])
def test_bad_records_are_refused_with_a_one_line_reason(patch: dict[str, Any], reason: str) -> None:
    with pytest.raises(SchemaError) as exc:
        AlertRecord.from_bytes(json.dumps({**record().to_dict(), **patch}).encode())
    assert reason in exc.value.reason and "\n" not in exc.value.reason


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
                    max_leaves=30))
def test_any_json_is_read_or_refused_with_a_schema_error(value: Any) -> None:
    raw = json.dumps(value).encode()
    for data in (raw, json.dumps({**record().to_dict(), "stories": value}).encode()):
        try:
            AlertRecord.from_bytes(data)
        except SchemaError as exc:
            assert exc.reason and "\n" not in exc.reason


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_with_a_schema_error(raw: bytes) -> None:
    try:
        AlertRecord.from_bytes(raw)
    except SchemaError as exc:
        assert exc.reason


def test_an_unknown_severity_is_kept_and_routed_like_the_highest() -> None:
    rec = record(severity="catastrophic")
    assert route(rec, [Route(min_severity="critical", channels=("pager",))]) == ["pager"]


# ------------------------------------------------------------------ chart links


def links(now: float = T.timestamp()) -> ChartLinks:
    return ChartLinks("https://brandpulse.example/", SECRET, 7 * 86400, clock=lambda: now)


def target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_link_carries_the_chart_signed_and_expires() -> None:
    rec = record()
    url = links().url("5f0c1d2e3a4b5c6d-0", rec.chart, (rec.window_start, rec.window_end), "Nimbus Air", T)  # type: ignore[arg-type]
    assert url.startswith("https://brandpulse.example/charts/5f0c1d2e3a4b5c6d-0.png?c=") and len(url) < 1500
    data = links().open(target(url))
    assert list(data.negative) == list(rec.chart.negative) and data.highlight == (rec.window_start, rec.window_end)  # type: ignore[union-attr]
    status, ctype, body, headers = links().handle(target(url))
    assert (status, ctype) == (200, "image/png") and decode_png(body).width == 480
    assert "max-age" in headers["Cache-Control"]
    assert links().url("5f0c1d2e3a4b5c6d-0", rec.chart, (rec.window_start, rec.window_end), "Nimbus Air", T) == url  # type: ignore[arg-type]
    # expired, tampered with, signed with another key, malformed
    assert links(T.timestamp() + 8 * 86400).handle(target(url))[0] == 410
    tampered = url.replace("c=", "c=A", 1)
    assert links().handle(target(tampered))[0] == 403
    other = ChartLinks("https://brandpulse.example", b"another key", 86400, clock=lambda: T.timestamp())
    assert other.handle(target(url))[0] == 403
    assert links().handle("/charts/x.png?c=&e=1&s=ab")[0] == 400
    assert links().handle("/charts/../etc.png?c=a&e=1&s=ab")[0] == 400
    with pytest.raises(Exception, match="malformed chart data"):
        decode_chart("bm90IGRlZmxhdGVk")  # signed or not, it is decoded only as deflated JSON


def test_the_workers_http_port_serves_the_chart_links() -> None:
    import requests

    m = WorkerMetrics("alerts")
    rec = record()
    lk = ChartLinks("http://127.0.0.1:1", SECRET, 3600)
    m.add_route("/charts/", lk.handle)
    port = m.serve("ephemeral", 0)
    try:
        url = lk.url("a-1", rec.chart, (rec.window_start, rec.window_end), "x", datetime.now(UTC))  # type: ignore[arg-type]
        resp = requests.get(f"http://127.0.0.1:{port}{target(url)}", timeout=5)
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png"
        assert resp.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert requests.get(f"http://127.0.0.1:{port}/charts/a-1.png?c=x&e=99&s=00", timeout=5).status_code == 403
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code in (200, 503)
    finally:
        m.close()


# ------------------------------------------------------------------ what each channel shows


def email_opts() -> EmailOptions:
    return EmailOptions.model_validate({"host": "localhost", "from": "BrandPulse <a@brandpulse.example>",
                                        "to": ["b@example.com"]})


def test_email_carries_the_chart_inline_and_the_stories_and_new_terms() -> None:
    msg = build_message(record(), email_opts(), now=T.timestamp())
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.iter_parts()
    assert related.get_content_type() == "multipart/related"
    assert isinstance(related, EmailMessage)
    html_part, image = related.iter_parts()
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content() and image.get_content_type() == "image/png"
    png = image.get_content()
    assert png == record_png(record())
    img = decode_png(png)
    assert (img.width, img.height) == (480, 200) and PALETTE[NEG] in {c for row in img.rgb for c in row}
    text = plain.get_content()
    assert "×14 (12 negative) ↑ growing · 9 authors · reach 12,400 · en 10, es 4" in text
    assert "hashtags: #nimbuslostmybag ×12 (z 6.2)" in text and "languages: es ×4 (z 2.5)" in text
    assert "Chart: in the HTML version" in text


def test_email_updates_answer_the_opened_mail() -> None:
    opened = build_message(record(), email_opts(), now=T.timestamp())
    update = build_message(record(event="updated", seq=1), email_opts(), now=T.timestamp())
    resolved = build_message(record(event="resolved", seq=2), email_opts(), now=T.timestamp())
    assert opened["In-Reply-To"] is None and opened["References"] is None  # the thread's first message
    for later in (update, resolved):
        assert later["In-Reply-To"] == opened["Message-ID"]
        assert later["References"].split() == [f"<alert-{_digest('5f0c1d2e3a4b5c6d', 24)}@brandpulse.example>",
                                                opened["Message-ID"]]
    assert update["Message-ID"] != resolved["Message-ID"] != opened["Message-ID"]


def _digest(key: str, n: int) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:n]


def test_slack_teams_and_console_show_stories_new_terms_and_the_chart_link() -> None:
    rec = record(chart_url="https://brandpulse.example/charts/a-0.png?c=x&e=1&s=y")
    blocks = slack.build_payload(rec)["blocks"]
    texts = [b["text"]["text"] for b in blocks if b.get("type") == "section" and "text" in b]
    stories = next(t for t in texts if t.startswith("*Stories*"))
    assert "×14 (12 negative) ↑ growing" in stories and "<https://social.example/p/0|@zara>" in stories
    assert any(t.startswith("*New against the usual talk*\nlost bag ×9 (z 4.4) · #nimbuslostmybag ×12") for t in texts)
    assert {"type": "image", "image_url": rec.chart_url,
            "alt_text": "negative and total mentions of the last hours against the expected band"} in blocks
    card = teams.build_card(rec)
    assert {"type": "Image", "url": rec.chart_url, "size": "Stretch",
            "altText": "negative and total mentions of the last hours against the expected band"} in card["body"]
    runs = [i["text"] for b in card["body"] for item in b.get("items", [b]) for i in item.get("inlines", [])]
    assert any(r.startswith("×14 (12 negative)") for r in runs) and any("lost bag ×9" in r for r in runs)
    console = format_console(rec)
    assert "stories (1 biggest by negative mentions):" in console and "Nimbus lost my bag" in console
    assert "new: lost bag ×9 (z 4.4) · #nimbuslostmybag ×12 (z 6.2) · lang es ×4 (z 2.5)" in console
    assert f"chart: {rec.chart_url}" in console
    # without a link (alerts.chart_url unset) nothing points at a chart
    assert "image" not in [b["type"] for b in slack.build_payload(record())["blocks"]]


# ------------------------------------------------------------------ Slack threads


class FakeResponse:
    def __init__(self, body: dict[str, Any], status: int = 200) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        payload = json.dumps(body).encode()

        class Raw:
            def read(self, n: int, decode_content: bool = True) -> bytes:
                return payload[:n]

        self.raw = Raw()

    def close(self) -> None:
        pass


class FakeSlackApi:
    """chat.postMessage: answers ok with a new ts per message, or the scripted errors first."""

    def __init__(self, *errors: str) -> None:
        self.errors = list(errors)
        self.posts: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def post(self, url: str, data: bytes, headers: dict[str, str], **kw: Any) -> FakeResponse:
        body = json.loads(data)
        self.posts.append((url, body, headers))
        if self.errors:
            return FakeResponse({"ok": False, "error": self.errors.pop(0)})
        return FakeResponse({"ok": True, "channel": "C1", "ts": f"1700000000.{len(self.posts):06d}",
                             "message": {"blocks": body["blocks"]}})

    def close(self) -> None:
        pass


def test_a_bot_token_threads_every_update_under_the_first_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT", "xoxb-test")
    api = FakeSlackApi()
    ch = build_channel("team", "slack", {"bot_token": {"env": "SLACK_BOT"}, "channel": "C1"}, session=api)
    stored: list[tuple[str, str, str]] = []
    log = InMemoryDeliveryLog(threads=(lambda: list(stored), lambda c, a, r: stored.append((c, a, r))))
    d = Dispatcher([ch], [Route(channels=("team",))], log, sleep=lambda s: None)
    for event, seq in (("opened", 0), ("updated", 1), ("resolved", 2)):
        d.dispatch(record(event=event, seq=seq))
        assert d.wait_idle(5)
    d.close(1)
    urls = {u for u, _, _ in api.posts}
    assert urls == {"https://slack.com/api/chat.postMessage"}
    assert all(h["Authorization"] == "Bearer xoxb-test" for _, _, h in api.posts)
    first, update, resolved = (b for _, b, _ in api.posts)
    assert "thread_ts" not in first and first["channel"] == "C1"
    assert update["thread_ts"] == resolved["thread_ts"] == "1700000000.000001"
    assert stored == [("team", "5f0c1d2e3a4b5c6d", "1700000000.000001")]  # kept in the delivery log
    # after a restart the log is reloaded: a later update still lands in the same thread
    api2 = FakeSlackApi()
    ch2 = build_channel("team", "slack", {"bot_token": {"env": "SLACK_BOT"}, "channel": "C1"}, session=api2)
    d2 = Dispatcher([ch2], [Route(channels=("team",))],
                    InMemoryDeliveryLog(threads=(lambda: list(stored), lambda c, a, r: None)), sleep=lambda s: None)
    d2.dispatch(record(event="updated", seq=3))
    assert d2.wait_idle(5)
    d2.close(1)
    assert api2.posts[0][1]["thread_ts"] == "1700000000.000001"


def test_slack_api_errors_are_retried_only_when_trying_again_can_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT", "xoxb-test")
    api = FakeSlackApi("ratelimited", "channel_not_found")
    ch = build_channel("team", "slack", {"bot_token": {"env": "SLACK_BOT"}, "channel": "C1"}, session=api)
    d = Dispatcher([ch], [Route(channels=("team",))], InMemoryDeliveryLog(), sleep=lambda s: None)
    d.dispatch(record())
    assert d.wait_idle(5)
    (result,) = d.results
    assert not result.ok and result.attempts == 2 and "channel_not_found" in (result.error or "")
    assert d.delivery_log.thread("team", "5f0c1d2e3a4b5c6d") is None  # a failed first message starts no thread
    d.close(1)


def test_slack_options_pick_exactly_one_way_to_post() -> None:
    from alerts.channels import ChannelConfigError, validate_channel_options

    for bad, needle in (({}, "exactly one"), ({"webhook_url": {"env": "A"}, "bot_token": {"env": "B"}}, "exactly one"),
                        ({"bot_token": {"env": "B"}}, "needs channel")):
        with pytest.raises(ChannelConfigError, match=needle):
            validate_channel_options("slack", bad)
    assert validate_channel_options("slack", {"bot_token": {"env": "B"}, "channel": "C1"})
