"""Unit tests for alert channels: payload builders, config validation, routing, backoff and the
dispatcher's retry/idempotency logic (fake channels and a fake sleep; no network)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.channels import (
    CHANNELS,
    Backoff,
    ChannelConfigError,
    ChannelsConfig,
    DeliveryError,
    DeliveryResult,
    Dispatcher,
    InMemoryDeliveryLog,
    Route,
    build_channel,
    idempotency_key,
    route,
    slack,
    state_store_hooks,
    teams,
    validate_channel_options,
    verify_signature,
)
from alerts.channels.base import Record, safe_url
from alerts.channels.console import format_console
from alerts.channels.email import EmailOptions, build_message, subject
from alerts.channels.webhook import WebhookChannel
from brandpulse.schema import AlertRecord

T0 = 1_772_366_400.0  # 2026-03-01 12:00:00 UTC


def sample_alert(**overrides: Any) -> AlertRecord:
    """An alert record like alerts.record.alert_record builds; quoted mentions given without an id or
    a time get one."""
    alert: dict[str, Any] = {
        "alert_id": "a1b2c3d4e5f6a7b8c9d0e1f2",
        "event": "opened",
        "key": "Nimbus Air",
        "brand": "Nimbus Air",
        "severity": "high",
        "window_start": "2026-03-01T12:00:00+00:00",
        "window_end": "2026-03-01T12:10:00+00:00",
        "raised_at": "2026-03-01T12:10:00+00:00",
        "observed_negative": 43,
        "expected_negative": 11.6,
        "observed_total": 70,
        "expected_total": 64.0,
        "negative_share": 0.614,
        "expected_share": 0.18,
        "score": 0.93,
        "p_value": 1e-9,
        "reason": "43 negative mentions vs ~12 expected in 10 min; share 61% vs usual 18%",
        "top_mentions": [
            {"id": f"m{i}", "created_at": f"2026-03-01T12:0{i}:00+00:00",
             "text": f"Flight {i} cancelled again, no refund. #nimbusfail", "url": f"https://social.example/p/{i}",
             "author": f"traveller{i}", "followers": 10_000 - i, "lang": "en", "hashtags": ["nimbusfail"],
             "keywords": ["refund"], "places": ["Lisbon"]}
            for i in range(5)
        ],
        "mention_ids": [f"m{i}" for i in range(5)],
        "top_hashtags": ["nimbusfail", "refund"],
        "top_keywords": ["refund", "cancelled flight"],
        "languages": {"en": 38, "pt": 5},
        "locations": ["Lisbon", "Porto"],
        "kibana_url": "https://kibana.example/app/discover#/?_a=(query:'brand:%22Nimbus%20Air%22')",
    }
    alert.update(overrides)
    alert["top_mentions"] = [{"id": f"q{i}", "created_at": "2026-03-01T12:00:00+00:00", **m}
                             for i, m in enumerate(alert["top_mentions"])]
    return AlertRecord.from_dict(alert)


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


# --- idempotency -------------------------------------------------------------------------------


def test_idempotency_key_is_alert_event_and_count_unless_the_record_brings_one() -> None:
    assert idempotency_key(sample_alert()) == "a1b2c3d4e5f6a7b8c9d0e1f2:opened:43"
    assert idempotency_key(sample_alert(event="updated", observed_negative=50)) == "a1b2c3d4e5f6a7b8c9d0e1f2:updated:50"
    assert idempotency_key(sample_alert(idempotency_key="x:7")) == "x:7"
    with pytest.raises(ValueError, match="alert_id"):
        idempotency_key({"event": "opened"})


# --- Slack ---------------------------------------------------------------------------------------


def test_slack_block_kit_structure() -> None:
    payload = slack.build_payload(sample_alert())
    blocks = payload["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "context", "section", "divider", "context",
                                          "section", "section", "section", "actions"]
    header = blocks[0]["text"]
    assert header["type"] == "plain_text"
    assert header["text"].startswith("🟠 HIGH · Nimbus Air")
    section = blocks[1]["text"]["text"]
    assert "*43 negative mentions vs ~12 expected" in section
    assert "43 negative mentions in 10 min (expected ~12)" in section
    assert "negative share 61% (usual 18%)" in section
    context = blocks[2]["elements"][0]["text"]
    assert "<!date^1772366400^{date_short_pretty} {time}|2026-03-01 12:00 UTC>" in context
    assert "<!date^1772367000^{time}|12:10 UTC>" in context
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[3]["fields"]}
    assert fields == {"*Top hashtags*": "#nimbusfail, #refund", "*Top keywords*": "refund, cancelled flight",
                      "*Languages*": "en 38, pt 5", "*Locations*": "Lisbon, Porto"}
    mentions = [b["text"]["text"] for b in blocks[6:9]]
    assert mentions[0].startswith("*<https://social.example/p/0|@traveller0>* · 10,000 followers · en\n>Flight 0")
    assert "traveller3" not in json.dumps(blocks)  # only the top 3 by reach
    button = blocks[-1]["elements"][0]
    assert button["type"] == "button" and button["url"] == sample_alert().kibana_url
    assert payload["text"] == "🟠 [HIGH] Nimbus Air: 43 negative mentions vs ~12 expected in 10 min; share 61% vs usual 18%"


def test_safe_url_allows_only_http_and_encodes_whitespace() -> None:
    assert safe_url("https://k.example/app?q=brand: Nimbus Air") == "https://k.example/app?q=brand:%20Nimbus%20Air"
    assert safe_url("  http://x.example/p  ") == "http://x.example/p"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//x.example", "ftp://x.example", "", None, 3):
        assert safe_url(bad) is None


def test_slack_respects_block_kit_limits_and_omits_missing_parts() -> None:
    alert = sample_alert(brand="B" * 400, reason="r" * 5000, kibana_url=None, top_hashtags=[], top_keywords=[],
                         languages={}, locations=[], top_mentions=[{"text": "x" * 5000, "author": None}])
    blocks = slack.build_payload(alert)["blocks"]
    assert len(blocks[0]["text"]["text"]) <= 150
    for b in walk(blocks):
        if b.get("type") == "mrkdwn":
            assert len(b["text"]) <= 3000
    assert "actions" not in [b["type"] for b in blocks]
    assert [b for b in blocks if b.get("fields")] == []
    assert blocks[-1]["text"]["text"].startswith("*unknown author*\n>")


def test_slack_escapes_control_sequences_from_posts() -> None:
    alert = sample_alert(reason="spike <!channel>", top_mentions=[
        {"text": "wake up <!everyone> & <https://evil.example|click>", "author": "x>y", "followers": 1,
         "url": "javascript:alert(1)"}])
    payload = slack.build_payload(alert)
    dumped = json.dumps(payload)
    assert "<!channel>" not in dumped and "<!everyone>" not in dumped
    assert "<https://evil.example" not in dumped
    mention = payload["blocks"][-2]["text"]["text"]
    assert mention == "*@x&gt;y* · 1 follower\n>wake up &lt;!everyone&gt; &amp; &lt;https://evil.example|click&gt;"
    assert "javascript" not in dumped


def test_slack_mention_prefix_only_for_severe_open_or_update() -> None:
    def text(alert: AlertRecord) -> str:
        return str(slack.build_payload(alert, mention="<!here>", mention_min_severity="high")["text"])

    assert text(sample_alert()).startswith("<!here> 🟠 [HIGH]")
    assert not text(sample_alert(severity="medium")).startswith("<!here>")
    assert text(sample_alert(event="resolved")).startswith("✅ [RESOLVED]")
    with pytest.raises(ChannelConfigError, match="mention"):
        validate_channel_options("slack", {"webhook_url": {"env": "X"}, "mention": "@here"})


# --- Teams ---------------------------------------------------------------------------------------


def test_teams_adaptive_card_structure() -> None:
    payload = teams.build_payload(sample_alert())
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"].startswith("🟠 HIGH · Nimbus Air") and card["body"][0]["color"] == "Attention"
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Negative mentions"] == "43 (expected ~12)"
    assert facts["Negative share"] == "61% (usual 18%)"
    assert facts["Window"] == "2026-03-01 12:00–12:10 UTC"
    containers = [b for b in card["body"] if b["type"] == "Container"]
    assert len(containers) == 3
    author = containers[0]["items"][0]["inlines"][0]
    assert author["text"] == "@traveller0"
    assert author["selectAction"] == {"type": "Action.OpenUrl", "url": "https://social.example/p/0", "title": "Open post"}
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in Kibana", "url": sample_alert().kibana_url}]
    assert "actions" not in teams.build_card(sample_alert(kibana_url=None))


def test_teams_user_text_is_never_parsed_as_markdown() -> None:
    evil = "[click me](https://evil.example) **urgent**"
    card = teams.build_card(sample_alert(top_mentions=[{"text": evil, "author": "mallory"}], top_hashtags=[evil]))
    holders = [n for n in walk(card) if evil in str(n.get("text", ""))]
    assert holders and all(n["type"] == "TextRun" for n in holders)
    resolved = teams.build_card(sample_alert(event="resolved"))
    assert resolved["body"][0]["color"] == "Good" and "RESOLVED" in resolved["body"][0]["text"]


# --- webhook signing -----------------------------------------------------------------------------


def webhook(monkeypatch: pytest.MonkeyPatch, **options: Any) -> WebhookChannel:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    ch = build_channel("hook", "webhook", {"url": "https://hooks.example/in", "secret": {"env": "HOOK_SECRET"},
                                           **options}, clock=lambda: T0)
    assert isinstance(ch, WebhookChannel)
    return ch


def test_webhook_signature_follows_the_documented_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    body, headers = webhook(monkeypatch).build_request(sample_alert())
    assert headers["X-BrandPulse-Timestamp"] == "1772366400"
    expected = hmac.new(b"s3cret", b"1772366400." + body, hashlib.sha256).hexdigest()
    assert headers["X-BrandPulse-Signature"] == f"sha256={expected}"
    assert headers["Idempotency-Key"] == "a1b2c3d4e5f6a7b8c9d0e1f2:opened:43"
    doc = json.loads(body)
    assert doc["delivered_at"] == "2026-03-01T12:00:00.000+00:00"
    assert doc["idempotency_key"] == headers["Idempotency-Key"]
    assert {k: v for k, v in doc.items() if k not in ("delivered_at", "idempotency_key")} == \
        {k: v for k, v in sample_alert().to_dict().items() if k != "idempotency_key"}
    # the body is the record (plus delivered_at): a receiver can read it back as one
    assert AlertRecord.from_dict({k: v for k, v in doc.items() if k != "delivered_at"}) == sample_alert()


def test_verify_signature_rejects_tampering_wrong_key_and_stale_timestamps(monkeypatch: pytest.MonkeyPatch) -> None:
    body, headers = webhook(monkeypatch).build_request(sample_alert())
    ts, sig = headers["X-BrandPulse-Timestamp"], headers["X-BrandPulse-Signature"]
    assert verify_signature("s3cret", body, ts, sig, now=T0 + 10)
    assert not verify_signature("s3cret", body.replace(b"43", b"44", 1), ts, sig, now=T0)
    assert not verify_signature("other", body, ts, sig, now=T0)
    assert not verify_signature("s3cret", body, str(int(T0) + 1), sig, now=T0)  # timestamp is signed too
    assert not verify_signature("s3cret", body, ts, sig, now=T0 + 301)
    assert not verify_signature("s3cret", body, "soon", sig, now=T0)


def test_webhook_custom_headers_and_secret_header_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "Bearer abc")
    ch = webhook(monkeypatch, signature_header="X-Sig", timestamp_header="X-Ts",
                 headers={"Authorization": {"env": "HOOK_TOKEN"}, "X-Team": "social"})
    _, headers = ch.build_request(sample_alert())
    assert headers["Authorization"] == "Bearer abc" and headers["X-Team"] == "social"
    assert headers["X-Sig"].startswith("sha256=") and headers["X-Ts"] == "1772366400"
    assert "X-BrandPulse-Signature" not in headers
    with pytest.raises(ChannelConfigError, match="set by BrandPulse"):
        validate_channel_options("webhook", {"url": "https://x.example", "secret": {"env": "S"},
                                             "headers": {"Content-Type": "text/plain"}})


# --- email ---------------------------------------------------------------------------------------


def email_opts(**kw: Any) -> EmailOptions:
    base = {"host": "smtp.example.com", "from": "BrandPulse <alerts@brandpulse.example>",
            "to": ["social@example.com", "Ops <ops@example.com>"]}
    opts = validate_channel_options("email", {**base, **kw})
    assert isinstance(opts, EmailOptions)
    return opts


def test_email_subject_lines() -> None:
    assert subject(sample_alert()) == "[BrandPulse][HIGH] Nimbus Air: 43 negative mentions in 10 min (expected ~12)"
    assert subject(sample_alert(event="updated", severity="critical"), "[Acme]") == \
        "[Acme][CRITICAL] Nimbus Air: 43 negative mentions in 10 min (expected ~12) — update"
    assert subject(sample_alert(event="resolved")) == \
        "[BrandPulse][RESOLVED] Nimbus Air: negative spike over (peak 43 negative mentions)"
    assert "\n" not in subject(sample_alert(brand="Evil\r\nBcc: victim@example.com"))


def test_email_mime_parts_and_headers() -> None:
    alert = sample_alert(top_mentions=[{"text": "<script>alert(1)</script> awful", "author": "bob",
                                        "followers": 2, "url": "https://social.example/b"}])
    msg = build_message(alert, email_opts(), now=T0)
    assert msg.get_content_type() == "multipart/alternative"
    plain, rich = (p for p in msg.iter_parts())
    assert plain.get_content_type() == "text/plain" and rich.get_content_type() == "text/html"
    text, markup = plain.get_content(), rich.get_content()
    assert "43 negative mentions in 10 min (expected ~12)" in text
    assert "https://social.example/b" in text and "Kibana: https://kibana.example/" in text
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert '<a href="https://social.example/b">@bob</a>' in markup
    assert msg["To"] == "social@example.com, Ops <ops@example.com>"
    assert msg["Date"] == "Sun, 01 Mar 2026 12:00:00 +0000"
    assert msg["Auto-Submitted"] == "auto-generated"
    digest = hashlib.sha256(b"a1b2c3d4e5f6a7b8c9d0e1f2:opened:43").hexdigest()[:32]
    assert msg["Message-ID"] == f"<{digest}@brandpulse.example>"
    again = build_message(alert, email_opts(), now=T0 + 60)
    update = build_message(sample_alert(event="updated", observed_negative=50), email_opts(), now=T0)
    assert again["Message-ID"] == msg["Message-ID"]
    assert update["Message-ID"] != msg["Message-ID"] and update["References"] == msg["References"]


def test_email_option_rules() -> None:
    with pytest.raises(ChannelConfigError, match="both username and password"):
        email_opts(username="u")
    with pytest.raises(ChannelConfigError, match="unencrypted"):
        email_opts(security="none", username="u", password={"env": "P"})
    assert email_opts(host="127.0.0.1", security="none", username="u", password={"env": "P"}).port is None
    with pytest.raises(ChannelConfigError) as err:
        build_channel("mail", "email", email_opts(ca_file="no-such-ca.pem"))
    assert err.value.key == "ca_file"
    with pytest.raises(ChannelConfigError) as err:
        email_opts(to=["not-an-address"])
    assert err.value.key == "to"


# --- config / registry ---------------------------------------------------------------------------


def test_registry_and_option_errors_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(CHANNELS) == {"slack", "teams", "webhook", "email", "console"}
    with pytest.raises(ChannelConfigError) as err:
        validate_channel_options("slack", {"webhook_url": {"env": "X"}, "chanel": "#x"})
    assert err.value.key == "chanel" and "allowed: api_url, bot_token, channel, max_mentions" in err.value.message
    with pytest.raises(ChannelConfigError) as err:  # a webhook posts where it was made for
        validate_channel_options("slack", {"webhook_url": {"env": "X"}, "channel": "#x"})
    assert err.value.key == "channel" and "bot_token" in err.value.message
    with pytest.raises(ChannelConfigError) as err:
        validate_channel_options("email", {"host": "h", "to": ["a@b.c"], "sender": "x@y.z", "frm": 1})
    assert "from" in err.value.message  # the alias is what users write
    with pytest.raises(ChannelConfigError) as err:
        validate_channel_options("pager", {})
    assert err.value.key == "kind"
    with pytest.raises(ChannelConfigError, match="exactly one"):
        validate_channel_options("teams", {"webhook_url": {"env": "A", "file": "b"}})
    monkeypatch.delenv("NOPE_URL", raising=False)
    with pytest.raises(ChannelConfigError) as err:
        build_channel("s", "slack", {"webhook_url": {"env": "NOPE_URL"}})
    assert err.value.key == "webhook_url" and "NOPE_URL" in err.value.message
    (tmp_path / "hook.txt").write_text("ftp://files.example/x\n")
    with pytest.raises(ChannelConfigError, match="http"):
        build_channel("s", "slack", {"webhook_url": {"file": "hook.txt"}}, tmp_path)
    (tmp_path / "hook.txt").write_text("https://hooks.slack.com/services/T/B/X\n")
    ch = build_channel("s", "slack", {"webhook_url": {"file": "hook.txt"}}, tmp_path)
    assert "hooks.slack.com" not in repr(ch)


def test_channels_config_cross_checks() -> None:
    ok = ChannelsConfig.model_validate({
        "channels": [{"name": "con", "kind": "console"}, {"name": "mail", "kind": "email", "host": "h",
                                                          "from": "a@b.c", "to": ["d@e.f"], "enabled": False}],
        "routes": [{"channels": ["con", "mail"]}],
    })
    assert ok.channels[1].options == {"host": "h", "from": "a@b.c", "to": ["d@e.f"]}
    cases = [
        ({"channels": [{"name": "a", "kind": "console"}], "routes": [{"channels": ["b"]}]}, "routes[0].channels[0]"),
        ({"channels": [{"name": "a", "kind": "console"}, {"name": "A", "kind": "console"}]}, "channels[1].name"),
        ({"channels": [{"name": "a", "kind": "console", "colour": "red"}]}, "channels[0].colour"),
        ({"channels": [{"name": "a", "kind": "slack", "webhook_url": "https://x"}]}, "channels[0].webhook_url"),
    ]
    for data, key in cases:
        with pytest.raises(ValidationError, match=key.replace("[", r"\[").replace("]", r"\]")):
            ChannelsConfig.model_validate(data)
    with pytest.raises(ValidationError):
        ChannelsConfig.model_validate({"routes": [{"channels": ["a"], "min_severity": "urgent"}]})


# --- routing -------------------------------------------------------------------------------------


ROUTES = [
    Route(brands=("*",), min_severity="medium", channels=("slack-all",)),
    Route(brands=("nimbus air",), min_severity="high", events=("opened", "resolved"), channels=("oncall", "slack-all")),
    Route(brands=("Globex*",), channels=("globex-team",)),
]


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, ["slack-all", "oncall"]),
    ({"severity": "medium"}, ["slack-all"]),
    ({"severity": "low"}, []),
    ({"event": "updated"}, ["slack-all"]),
    ({"event": "resolved", "severity": "critical"}, ["slack-all", "oncall"]),
    ({"brand": "NIMBUS AIR"}, ["slack-all", "oncall"]),
    ({"brand": "Globex Corp", "severity": "low"}, ["globex-team"]),
    ({"brand": "Globex", "severity": "high"}, ["slack-all", "globex-team"]),
    ({"severity": "catastrophic"}, ["slack-all", "oncall"]),  # unknown severities over-deliver
])
def test_route(overrides: dict[str, Any], expected: list[str]) -> None:
    assert route(sample_alert(**overrides), ROUTES) == expected


def test_route_accepts_plain_mappings() -> None:
    assert route(sample_alert(), [{"brands": ["*"], "channels": ["x"]}]) == ["x"]
    assert route(sample_alert(), []) == []


# --- backoff -------------------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_jittered_down() -> None:
    b = Backoff(base=1.0, factor=2.0, max_delay=10.0, jitter=0.0)
    assert [b.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.delay(1000) == 10.0
    jittered = Backoff(base=4.0, jitter=0.5)
    rng = random.Random(7)
    draws = [jittered.delay(1, rng=rng) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in draws) and max(draws) - min(draws) > 1.0


def test_backoff_retry_after_is_a_floor_with_a_cap() -> None:
    b = Backoff(base=1.0, jitter=0.0, max_retry_after=30.0)
    assert b.delay(1, retry_after=5.0) == 5.0
    assert b.delay(4, retry_after=0.5) == 8.0
    assert b.delay(1, retry_after=3600.0) == 30.0
    with pytest.raises(ValueError):
        Backoff(jitter=2.0)


# --- dispatcher ----------------------------------------------------------------------------------


class FakeChannel:
    """Fails with the scripted errors first, then succeeds; records every attempt."""

    def __init__(self, name: str, *errors: Exception, kind: str = "fake") -> None:
        self.name = name
        self.kind = kind
        self.errors = list(errors)
        self.attempts: list[Record] = []
        self.delivered: list[Record] = []
        self.closed = False

    def send(self, alert: Record) -> None:
        self.attempts.append(alert)
        if self.errors:
            raise self.errors.pop(0)
        self.delivered.append(alert)

    def close(self) -> None:
        self.closed = True


def until(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


ALL = [Route(channels=("a", "b"))]
NO_JITTER = Backoff(base=1.0, factor=2.0, max_delay=60.0, jitter=0.0)


def make_dispatcher(*channels: FakeChannel, log: InMemoryDeliveryLog | None = None, **kw: Any) -> tuple[Dispatcher, Sleeps]:
    sleeps = Sleeps()
    kw.setdefault("max_attempts", 4)
    d = Dispatcher(list(channels), kw.pop("routes", ALL), InMemoryDeliveryLog() if log is None else log, backoff=NO_JITTER,
                   sleep=sleeps, **kw)
    return d, sleeps


def test_retries_with_backoff_and_retry_after_then_delivers() -> None:
    a = FakeChannel("a", DeliveryError("500", retryable=True), DeliveryError("429", retryable=True, retry_after=7.0),
                    DeliveryError("timeout", retryable=True))
    d, sleeps = make_dispatcher(a)
    assert d.dispatch(sample_alert()) == ["a"]
    assert d.wait_idle(5)
    assert sleeps == [1.0, 7.0, 4.0]
    assert len(a.attempts) == 4 and len(a.delivered) == 1
    (result,) = d.results
    assert result.ok and result.attempts == 4 and result.channel == "a"
    assert d.close(1)
    assert a.closed


def test_gives_up_after_max_attempts_records_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    a = FakeChannel("a", *[DeliveryError("503 from hooks.example", retryable=True) for _ in range(10)])
    seen: list[DeliveryResult] = []
    d, sleeps = make_dispatcher(a, on_result=seen.append)
    with caplog.at_level(logging.ERROR, logger="alerts.channels.delivery"):
        d.dispatch(sample_alert())
        assert d.wait_idle(5)
    assert len(a.attempts) == 4 and sleeps == [1.0, 2.0, 4.0]
    assert seen == list(d.results)
    assert not seen[0].ok and seen[0].attempts == 4 and seen[0].error == "503 from hooks.example"
    assert any("gave up after 4 attempts" in r.getMessage() for r in caplog.records)
    assert not d.delivery_log.is_delivered("a", idempotency_key(sample_alert()))
    d.close(1)


def test_non_retryable_errors_and_crashes_are_not_retried() -> None:
    a = FakeChannel("a", DeliveryError("400 invalid_blocks", retryable=False))
    b = FakeChannel("b", KeyError("severity"))
    d, sleeps = make_dispatcher(a, b)
    d.dispatch(sample_alert())
    assert d.wait_idle(5)
    assert len(a.attempts) == 1 and len(b.attempts) == 1 and sleeps == []
    errors = {r.channel: r.error for r in d.results}
    assert errors == {"a": "400 invalid_blocks", "b": "KeyError: 'severity'"}
    # Nothing was marked delivered, so the same alert is tried again on the next dispatch.
    assert d.dispatch(sample_alert()) == ["a", "b"]
    assert d.wait_idle(5)
    assert len(a.delivered) == 1 and len(b.delivered) == 1
    d.close(1)


def test_each_alert_reaches_each_channel_once_across_restarts() -> None:
    durable: list[tuple[str, str]] = []
    a, b = FakeChannel("a"), FakeChannel("b", DeliveryError("down", retryable=False))

    def fresh_log() -> InMemoryDeliveryLog:
        return InMemoryDeliveryLog(loader=lambda: list(durable), persist=lambda c, k: durable.append((c, k)))

    d, _ = make_dispatcher(a, b, log=fresh_log())
    alert = sample_alert()
    d.dispatch(alert)
    d.dispatch(alert.model_copy())  # the same alert again before the first finished or after: no duplicate
    assert d.wait_idle(5)
    assert d.dispatch(alert) == ["b"]  # b failed before, so it is retried; a is done
    assert d.wait_idle(5)
    assert durable == [("a", "a1b2c3d4e5f6a7b8c9d0e1f2:opened:43"), ("b", "a1b2c3d4e5f6a7b8c9d0e1f2:opened:43")]
    d.close(1)

    a2, b2 = FakeChannel("a"), FakeChannel("b")
    d2, _ = make_dispatcher(a2, b2, log=fresh_log())  # "after a restart": the log is reloaded
    assert d2.dispatch(alert) == []
    update = sample_alert(event="updated", observed_negative=51)
    assert d2.dispatch(update) == ["a", "b"]
    assert d2.wait_idle(5)
    assert a2.attempts == [update] and b2.attempts == [update]
    assert len(a.delivered) == 1
    d2.close(1)


def test_slow_channel_does_not_block_dispatch_or_other_channels() -> None:
    release = threading.Event()
    entered = threading.Event()
    delivered_b = threading.Event()

    class Stuck(FakeChannel):
        def send(self, alert: Record) -> None:
            entered.set()
            release.wait(10)
            super().send(alert)

    class Quick(FakeChannel):
        def send(self, alert: Record) -> None:
            super().send(alert)
            delivered_b.set()

    a, b = Stuck("a"), Quick("b")

    def b_has(n: int) -> Callable[[], bool]:
        return lambda: len(b.delivered) >= n

    d, _ = make_dispatcher(a, b, queue_size=2)
    first = sample_alert()
    assert d.dispatch(first) == ["a", "b"]
    assert delivered_b.wait(2) and entered.wait(2) and not a.delivered
    # a is stuck on `first`; its queue holds 2 more, then dispatch drops rather than blocks.
    queued = []
    for i in range(3):
        queued.append(d.dispatch(sample_alert(alert_id=f"id{i}")))
        assert until(b_has(i + 2))  # keep b's own (size 2) queue from filling
    assert queued == [["a", "b"], ["a", "b"], ["b"]]
    dropped = [r for r in d.results if r.channel == "a" and not r.ok]
    assert [r.alert_id for r in dropped] == ["id2"] and dropped[0].error == "queue full"
    release.set()
    assert d.wait_idle(5)
    assert [x.idempotency_key.split(":")[0] for x in a.delivered] == [first.alert_id, "id0", "id1"]  # in order
    d.close(1)


def test_close_drains_then_rejects_and_abandons_retries_at_the_deadline() -> None:
    a = FakeChannel("a")
    d, _ = make_dispatcher(a)
    for i in range(5):
        d.dispatch(sample_alert(alert_id=f"id{i}"))
    assert d.close(5) is True
    assert len(a.delivered) == 5
    with pytest.raises(RuntimeError):
        d.dispatch(sample_alert())

    # A channel in a long backoff: close() cuts the (real, interruptible) sleep short.
    b = FakeChannel("a", *[DeliveryError("down", retryable=True) for _ in range(10)])
    d2 = Dispatcher([b], ALL, InMemoryDeliveryLog(), max_attempts=10, backoff=Backoff(base=30, jitter=0))
    d2.dispatch(sample_alert())
    assert d2.close(0.3) is False
    assert len(b.attempts) == 1
    (result,) = d2.results
    assert not result.ok and result.error == "shut down before delivery"
    assert not d2.delivery_log.is_delivered("a", idempotency_key(sample_alert()))


def test_unroutable_or_malformed_records_do_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    a = FakeChannel("a")
    d, _ = make_dispatcher(a, routes=[Route(channels=("a", "disabled-one"))])
    with caplog.at_level(logging.ERROR):
        assert d.dispatch({"brand": "x"}) == []  # type: ignore[arg-type]  # what an untyped caller might pass
    assert "cannot route" in caplog.text
    assert d.dispatch(sample_alert()) == ["a"]
    d.close(1)


def test_persist_failure_is_logged_but_delivery_counts(caplog: pytest.LogCaptureFixture) -> None:
    def broken(channel: str, key: str) -> None:
        raise OSError("kafka down")

    log = InMemoryDeliveryLog(persist=broken)
    with caplog.at_level(logging.ERROR):
        log.mark_delivered("a", "k")
    assert log.is_delivered("a", "k") and "could not persist" in caplog.text


def test_in_memory_log_is_bounded_oldest_first() -> None:
    log = InMemoryDeliveryLog(max_entries=2)
    for k in ("k1", "k2", "k3"):
        log.mark_delivered("a", k)
    assert len(log) == 2 and not log.is_delivered("a", "k1") and log.is_delivered("a", "k3")


class FakeStore:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.puts: list[tuple[str, Any]] = []

    def load(self, prefix: str = "") -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k.startswith(prefix)}

    def put(self, key: str, value: Any, *, flush: bool = True) -> None:
        self.puts.append((key, value))
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value


def test_state_store_hooks_round_trip_and_expire() -> None:
    store = FakeStore()
    now = [T0]
    loader, persist = state_store_hooks(store, ttl_seconds=86400, clock=lambda: now[0])
    persist("slack", "id:opened:43")
    assert store.data == {"alerts-delivered/slack/id:opened:43": {"at": T0}}
    store.data["other/x"] = {"at": T0}
    assert loader() == [("slack", "id:opened:43")]
    now[0] = T0 + 2 * 86400
    assert loader() == []
    assert store.puts[-1] == ("alerts-delivered/slack/id:opened:43", None)  # tombstoned


# --- console -------------------------------------------------------------------------------------


def test_console_prints_the_worker_summary(capsys: pytest.CaptureFixture[str]) -> None:
    ch = build_channel("con", "console", {})
    ch.send(sample_alert())
    out = capsys.readouterr().out
    assert out == format_console(sample_alert()) + "\n"
    assert out.startswith("ALERT [HIGH] Nimbus Air:")


# --- the reference doc stays true ----------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "alerts" / "CHANNELS.md"


def doc_blocks(lang: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [part.split("```", 1)[0] for part in text.split(f"```{lang}\n")[1:]]


def test_documented_config_example_validates() -> None:
    import yaml

    (example,) = [b for b in doc_blocks("yaml") if "routes:" in b]
    cfg = ChannelsConfig.model_validate(yaml.safe_load(example)["alerts"])
    assert {c.kind for c in cfg.channels} == set(CHANNELS)
    assert route(sample_alert(), cfg.routes) == ["social-slack", "automation", "oncall-mail", "social-teams"]
    assert route(sample_alert(event="updated"), cfg.routes) == ["social-slack", "automation"]


def test_documented_receiver_snippet_verifies_our_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    (snippet,) = [b for b in doc_blocks("python") if "def verify" in b]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation, run as written
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    ch = build_channel("hook", "webhook", {"url": "https://hooks.example/in", "secret": {"env": "HOOK_SECRET"}})
    assert isinstance(ch, WebhookChannel)
    body, headers = ch.build_request(sample_alert())  # real clock: the snippet checks freshness
    ts, sig = headers["X-BrandPulse-Timestamp"], headers["X-BrandPulse-Signature"]
    assert namespace["verify"](b"s3cret", body, ts, sig) is True
    assert namespace["verify"](b"s3cret", body + b" ", ts, sig) is False
