"""Alert channels against local stand-ins for their destinations (127.0.0.1 only).

A threaded HTTP receiver plays Slack, Teams and a generic webhook (and checks the HMAC signature
with its own implementation of the documented scheme); a small SMTP server receives the email.
Needs no Kafka or Elasticsearch.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.channels import (
    Backoff,
    ChannelsConfig,
    DeliveryError,
    Dispatcher,
    InMemoryDeliveryLog,
    Route,
    build_channel,
    build_dispatcher,
    idempotency_key,
)
from brandpulse.schema import AlertRecord

# The receivers sit beside this file; importing by path works whether or not tests/ is a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from receivers import (
    HttpReceiver,
    Received,
    Reply,
    SmtpReceiver,
    closed_port,
    self_signed_cert,
    signature_checker,
)

SECRET = b"webhook-signing-secret"
SLACK_PATH = "/services/T000/B000/slack-token-xyz"
TEAMS_LEGACY_FAILURE = ("Webhook message delivery failed with error: Microsoft Teams endpoint returned "
                        "HTTP error {code} with ContextId tcid=0,server=x,cv=y")


def alert(**overrides: Any) -> AlertRecord:
    a: dict[str, Any] = {
        "alert_id": "5f0c1d2e3a4b5c6d7e8f9a0b", "event": "opened", "key": "Nimbus Air", "brand": "Nimbus Air",
        "severity": "high", "window_start": "2026-03-01T12:00:00+00:00", "window_end": "2026-03-01T12:10:00+00:00",
        "observed_negative": 43, "expected_negative": 11.6, "observed_total": 70, "expected_total": 64.0,
        "negative_share": 0.61, "expected_share": 0.18, "score": 0.93, "p_value": 1e-9,
        "reason": "43 negative mentions vs ~12 expected in 10 min",
        "top_mentions": [{"id": "m1", "created_at": "2026-03-01T12:03:00+00:00", "text": "Cancelled again. Ação já!",
                          "url": "https://social.example/p/1", "author": "traveller", "followers": 5400,
                          "lang": "pt", "hashtags": ["nimbusfail"], "keywords": ["refund"], "places": ["Lisbon"]}],
        "top_hashtags": ["nimbusfail"], "top_keywords": ["refund"], "languages": {"en": 38, "pt": 5},
        "locations": ["Lisbon"], "kibana_url": "https://kibana.example/app/dashboards#/view/brandpulse",
    }
    a.update(overrides)
    return AlertRecord.from_dict(a)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    r = SmtpReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = self_signed_cert(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("the openssl CLI is needed to make a throwaway certificate for the TLS tests")
    return made


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def fast(**kw: Any) -> dict[str, Any]:
    """Dispatcher options for tests: real sleeps, short deterministic backoff."""
    return {"backoff": Backoff(base=0.05, factor=2.0, max_delay=0.2, jitter=0.0), **kw}


# --- Slack ---------------------------------------------------------------------------------------


def test_slack_429_with_retry_after_is_honoured_then_delivered(http: HttpReceiver,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    http.script(SLACK_PATH, Reply(429, "rate_limited", {"Retry-After": "1"}), Reply(200, "ok"))
    monkeypatch.setenv("SLACK_URL", http.url(SLACK_PATH))
    ch = build_channel("slack", "slack", {"webhook_url": {"env": "SLACK_URL"}})
    d = Dispatcher([ch], [Route(channels=("slack",))], **fast())
    d.dispatch(alert())
    assert d.wait_idle(5)
    first, second = http.hits(SLACK_PATH)
    assert second.at - first.at >= 0.95  # waited for Retry-After, not the 0.05 s backoff
    assert first.body == second.body
    assert second.headers["content-type"] == "application/json; charset=utf-8"
    payload = second.json()
    assert payload["blocks"][0]["type"] == "header" and "Nimbus Air" in payload["text"]
    (result,) = d.results
    assert result.ok and result.attempts == 2
    d.close(1)


def test_slack_bot_token_posts_updates_in_the_first_messages_thread(http: HttpReceiver, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(range(1, 100))

    def api(req: Received) -> Reply:
        if req.headers.get("authorization") != "Bearer xoxb-integration":
            return Reply(200, json.dumps({"ok": False, "error": "invalid_auth"}))
        return Reply(200, json.dumps({"ok": True, "channel": "C42", "ts": f"1772366400.{next(answers):06d}",
                                      "message": {"text": req.json()["text"]}}))

    http.script("/api/chat.postMessage", api)
    monkeypatch.setenv("SLACK_BOT", "xoxb-integration")
    options = {"bot_token": {"env": "SLACK_BOT"}, "channel": "C42", "api_url": http.url("/api")}
    threads = tmp_path / "threads.jsonl"

    def thread_log() -> InMemoryDeliveryLog:  # threads persisted to a file, as the state topic would
        def load() -> list[tuple[str, str, str]]:
            rows = [json.loads(line) for line in threads.read_text().splitlines()] if threads.exists() else []
            return [(r[0], r[1], r[2]) for r in rows]

        def keep(channel: str, alert_id: str, ref: str) -> None:
            with threads.open("a") as f:
                f.write(json.dumps([channel, alert_id, ref]) + "\n")

        return InMemoryDeliveryLog(threads=(load, keep))

    d = Dispatcher([build_channel("slack", "slack", options)], [Route(channels=("slack",))], thread_log(), **fast())
    d.dispatch(alert(seq=0))
    d.dispatch(alert(event="updated", seq=1, observed_negative=60))
    assert d.wait_idle(5)
    d.close(1)
    d2 = Dispatcher([build_channel("slack", "slack", options)], [Route(channels=("slack",))], thread_log(), **fast())
    d2.dispatch(alert(event="resolved", seq=2))  # a restarted worker
    assert d2.wait_idle(5)
    d2.close(1)
    first, update, resolved = (r.json() for r in http.hits("/api/chat.postMessage"))
    assert first["channel"] == "C42" and "thread_ts" not in first
    assert update["thread_ts"] == resolved["thread_ts"] == "1772366400.000001"
    assert all(r.ok for r in d.results + d2.results)


def test_http_failures_are_classified_and_never_reveal_the_webhook_url(http: HttpReceiver,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_URL", http.url(SLACK_PATH))
    ch = build_channel("slack", "slack", {"webhook_url": {"env": "SLACK_URL"}, "timeout_seconds": 0.3})
    cases = [(Reply(404, "no_service"), False), (Reply(400, "invalid_blocks"), False), (Reply(500, "rollup_error"), True),
             (Reply(503, "busy", {"Retry-After": "7"}), True), (Reply(302, "", {"Location": "/x"}), False),
             (Reply(200, "ok", delay=1.0), True)]
    for reply, retryable in cases:
        http.script(SLACK_PATH, reply)
        with pytest.raises(DeliveryError) as err:
            ch.send(alert())
        assert err.value.retryable is retryable, (reply, err.value.message)
        assert "slack-token-xyz" not in str(err.value)
    assert err.value.message == "timed out after 0.3s talking to 127.0.0.1"
    http.script(SLACK_PATH, Reply(503, "busy", {"Retry-After": "7"}))
    with pytest.raises(DeliveryError) as err:
        ch.send(alert())
    assert err.value.retry_after == 7.0 and err.value.status == 503

    monkeypatch.setenv("SLACK_URL", f"http://127.0.0.1:{closed_port()}{SLACK_PATH}")
    refused = build_channel("slack", "slack", {"webhook_url": {"env": "SLACK_URL"}})
    with pytest.raises(DeliveryError) as err:
        refused.send(alert())
    assert err.value.retryable and "slack-token-xyz" not in str(err.value)


# --- Teams ---------------------------------------------------------------------------------------


def test_teams_workflow_accepts_card_and_legacy_errors_in_200_are_caught(http: HttpReceiver,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMS_URL", http.url("/workflows/teams"))
    ch = build_channel("teams", "teams", {"webhook_url": {"env": "TEAMS_URL"}})
    http.script("/workflows/teams", Reply(202, ""))
    ch.send(alert())
    body = http.hits("/workflows/teams")[0].json()
    assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert body["attachments"][0]["content"]["type"] == "AdaptiveCard"

    http.script("/workflows/teams", Reply(200, TEAMS_LEGACY_FAILURE.format(code=413)))
    with pytest.raises(DeliveryError) as err:
        ch.send(alert())
    assert not err.value.retryable and err.value.status == 413

    http.script("/workflows/teams", Reply(200, TEAMS_LEGACY_FAILURE.format(code=429)), Reply(200, "1"))
    d = Dispatcher([ch], [Route(channels=("teams",))], **fast())
    d.dispatch(alert())
    assert d.wait_idle(5)
    assert [r.ok for r in d.results] == [True] and d.results[0].attempts == 2
    d.close(1)


# --- generic webhook -----------------------------------------------------------------------------


def test_webhook_signature_verifies_at_the_receiver_on_every_attempt(http: HttpReceiver,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET.decode())
    monkeypatch.setenv("WRONG_SECRET", "not-the-secret")
    http.script("/hook", Reply(500, "oops"), signature_checker(SECRET))
    good = build_channel("hook", "webhook", {"url": http.url("/hook"), "secret": {"env": "HOOK_SECRET"}})
    forged = build_channel("forged", "webhook", {"url": http.url("/hook"), "secret": {"env": "WRONG_SECRET"}})
    d = Dispatcher([good, forged], [Route(channels=("hook", "forged"))], **fast())
    d.dispatch(alert())
    assert d.wait_idle(5)
    outcome = {r.channel: (r.ok, r.attempts, r.error) for r in d.results}
    # The first request (from either channel) got the scripted 500 and was retried.
    assert outcome["hook"][0] is True
    assert outcome["forged"][0] is False and "401" in str(outcome["forged"][2])
    hits = http.hits("/hook")
    assert {h.headers["idempotency-key"] for h in hits} == {"5f0c1d2e3a4b5c6d7e8f9a0b:opened:43"}
    verified = [h for h in hits if signature_checker(SECRET)(h).status == 200]
    assert verified, "no request carried a valid signature"
    doc = verified[0].json()
    assert doc["idempotency_key"] == "5f0c1d2e3a4b5c6d7e8f9a0b:opened:43" and doc["top_mentions"][0]["text"].endswith("Ação já!")
    assert AlertRecord.from_dict({k: v for k, v in doc.items() if k != "delivered_at"}) == alert()
    d.close(1)


# --- email ---------------------------------------------------------------------------------------


def email_options(port: int, **kw: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "none", "from": "BrandPulse <alerts@brandpulse.test>",
            "to": ["social@example.test", "Ops Desk <ops@example.test>"], "timeout_seconds": 5, **kw}


def test_email_is_received_with_subject_parts_and_message_id(smtp: SmtpReceiver) -> None:
    ch = build_channel("mail", "email", email_options(smtp.port))
    ch.send(alert())
    (mail,) = smtp.wait_for(1)
    assert mail.mail_from == "alerts@brandpulse.test"
    assert mail.rcpt_to == ["social@example.test", "ops@example.test"]
    msg = mail.message()
    assert msg["Subject"] == "[BrandPulse][HIGH] Nimbus Air: 43 negative mentions in 10 min (expected ~12)"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    plain, rich = msg.iter_parts()
    assert "Cancelled again. Ação já!" in plain.get_content() and "Ação já!" in rich.get_content()
    ch.send(alert())  # a resend (e.g. after a crash) carries the same Message-ID
    assert smtp.wait_for(2)[1].message()["Message-ID"] == msg["Message-ID"]
    assert "STARTTLS" not in smtp.commands


def test_email_auth_with_secret_file(tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text("pa55word\n")
    smtp = SmtpReceiver(auth=("alerts", "pa55word"))
    try:
        ok = build_channel("mail", "email", email_options(smtp.port, username="alerts",
                                                          password={"file": "smtp-password"}), tmp_path)
        ok.send(alert())
        assert smtp.wait_for(1)[0].auth_user == "alerts"
        (tmp_path / "smtp-password").write_text("wrong\n")
        bad = build_channel("mail", "email", email_options(smtp.port, username="alerts",
                                                           password={"file": "smtp-password"}), tmp_path)
        with pytest.raises(DeliveryError) as err:
            bad.send(alert())
        assert err.value.status == 535 and not err.value.retryable
    finally:
        smtp.close()


def test_email_starttls_and_implicit_tls(cert: tuple[Path, Path]) -> None:
    for mode, security in (("starttls", "starttls"), ("implicit", "tls")):
        smtp = SmtpReceiver(tls=mode, context=server_context(cert))
        try:
            trusting = build_channel("mail", "email", email_options(smtp.port, security=security,
                                                                    ca_file=str(cert[0])))
            trusting.send(alert())
            (mail,) = smtp.wait_for(1)
            assert mail.tls, mode
            untrusting = build_channel("mail", "email", email_options(smtp.port, security=security))
            with pytest.raises(DeliveryError) as err:
                untrusting.send(alert())
            assert not err.value.retryable and "certificate" in err.value.message
            assert len(smtp.mails) == 1
        finally:
            smtp.close()


def test_email_never_falls_back_to_plaintext(smtp: SmtpReceiver) -> None:
    ch = build_channel("mail", "email", email_options(smtp.port, security="starttls"))
    with pytest.raises(DeliveryError) as err:
        ch.send(alert())
    assert not err.value.retryable and "STARTTLS" in err.value.message
    smtp.advertise_starttls = True  # offered but broken: 454 is temporary
    with pytest.raises(DeliveryError) as err:
        ch.send(alert())
    assert err.value.retryable and err.value.status == 454
    assert smtp.mails == [] and not any(c.startswith("MAIL") for c in smtp.commands)


@pytest.mark.parametrize(("where", "reply", "retryable"), [
    ("rcpt", "451 4.3.0 try again later", True),
    ("rcpt", "550 5.1.1 no such user", False),
    ("data", "452 4.3.1 mailbox full", True),
    ("data", "554 5.7.1 rejected as spam", False),
])
def test_email_smtp_reply_codes_decide_retries(smtp: SmtpReceiver, where: str, reply: str, retryable: bool) -> None:
    setattr(smtp, f"{where}_reply", reply)
    ch = build_channel("mail", "email", email_options(smtp.port))
    with pytest.raises(DeliveryError) as err:
        ch.send(alert())
    assert err.value.retryable is retryable
    assert smtp.mails == []


# --- isolation and idempotency across restarts ---------------------------------------------------


def test_failing_and_slow_channels_do_not_delay_the_good_one(http: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET.decode())
    monkeypatch.setenv("GOOD_URL", http.url("/good"))
    monkeypatch.setenv("SLOW_URL", http.url("/slow"))
    monkeypatch.setenv("GONE_URL", f"http://127.0.0.1:{closed_port()}/gone")
    http.script("/good", Reply(200, "ok"))
    http.script("/broken", Reply(500, "down"))
    http.script("/slow", Reply(200, "ok", delay=2.5))
    channels = [
        build_channel("broken", "webhook", {"url": http.url("/broken"), "secret": {"env": "HOOK_SECRET"}}),
        build_channel("gone", "teams", {"webhook_url": {"env": "GONE_URL"}}),
        build_channel("slow", "slack", {"webhook_url": {"env": "SLOW_URL"}, "timeout_seconds": 5}),
        build_channel("good", "slack", {"webhook_url": {"env": "GOOD_URL"}}),
    ]
    d = Dispatcher(channels, [Route(channels=("broken", "gone", "slow", "good"))], max_attempts=50,
                   backoff=Backoff(base=0.1, factor=2.0, max_delay=0.5, jitter=0.0))
    t0 = time.monotonic()
    assert d.dispatch(alert()) == ["broken", "gone", "slow", "good"]
    assert time.monotonic() - t0 < 0.5  # dispatch only enqueues (a send would take >= 2.5 s here)
    d.dispatch(alert(alert_id="second-alert"))
    good = http.wait_for("/good", 2, timeout=2.0)
    assert len(good) == 2 and good[1].at - t0 < 2.0
    # ...while the others are still failing, retrying or waiting on a slow response.
    assert http.wait_for("/broken", 1, timeout=2.0)
    assert {r.channel for r in d.results} == {"good"}
    assert d.pending() >= 4  # broken, gone and slow still hold their alerts
    t1 = time.monotonic()
    assert d.close(0.3) is False
    assert time.monotonic() - t1 < 5.0
    broken = [r for r in d.results if r.channel == "broken"]
    assert broken and not any(r.ok for r in broken)


def file_log(path: Path) -> InMemoryDeliveryLog:
    """A delivery log persisted to a JSON-lines file, standing in for the compacted state topic."""
    lock = threading.Lock()

    def loader() -> list[tuple[str, str]]:
        if not path.exists():
            return []
        return [(c, k) for c, k in (json.loads(line) for line in path.read_text().splitlines())]

    def persist(channel: str, key: str) -> None:
        with lock, path.open("a") as f:
            f.write(json.dumps([channel, key]) + "\n")

    return InMemoryDeliveryLog(loader=loader, persist=persist)


CONFIG = """
channels:
  - {name: social-slack, kind: slack, webhook_url: {env: SLACK_URL}}
  - {name: automation, kind: webhook, url: {env: HOOK_URL}, secret: {env: HOOK_SECRET}}
  - name: oncall-mail
    kind: email
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    from: BrandPulse <alerts@brandpulse.test>
    to: [oncall@example.test]
  - {name: flaky, kind: teams, webhook_url: {env: FLAKY_URL}}
  - {name: parked, kind: console, enabled: false}
routes:
  - {brands: ["*"], min_severity: medium, channels: [social-slack, automation, parked]}
  - {brands: [nimbus air], min_severity: high, events: [opened, resolved], channels: [oncall-mail, flaky]}
"""


def test_redispatch_after_restart_sends_nothing_twice(http: HttpReceiver, smtp: SmtpReceiver, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_URL", http.url("/slack"))
    monkeypatch.setenv("HOOK_URL", http.url("/hook"))
    monkeypatch.setenv("HOOK_SECRET", SECRET.decode())
    monkeypatch.setenv("FLAKY_URL", http.url("/flaky"))
    http.script("/slack", Reply(200, "ok"))
    http.script("/hook", signature_checker(SECRET))
    http.script("/flaky", Reply(502, "bad gateway"))
    config = ChannelsConfig.model_validate(yaml.safe_load(CONFIG.replace("{smtp_port}", str(smtp.port))))
    log_path = tmp_path / "delivered.jsonl"

    def counts() -> tuple[int, int, int, int]:
        return len(http.hits("/slack")), len(http.hits("/hook")), len(smtp.mails), len(http.hits("/flaky"))

    first = build_dispatcher(config, delivery_log=file_log(log_path), max_attempts=2, **fast())
    assert first.dispatch(alert()) == ["social-slack", "automation", "oncall-mail", "flaky"]
    assert first.dispatch(alert(brand="Globex", severity="low")) == []
    assert first.wait_idle(10)
    assert counts() == (1, 1, 1, 2)  # flaky gave up after 2 attempts
    assert first.close(2)

    http.script("/flaky", Reply(202, ""))  # fixed while we were down
    second = build_dispatcher(config, delivery_log=file_log(log_path), max_attempts=2, **fast())
    assert second.dispatch(alert()) == ["flaky"]  # only what was never delivered
    assert second.dispatch(alert()) == []
    assert second.wait_idle(10)
    assert counts() == (1, 1, 1, 3)
    assert second.close(2)

    third = build_dispatcher(config, delivery_log=file_log(log_path), **fast())
    assert third.dispatch(alert()) == []
    resolved = alert(event="resolved")
    assert third.dispatch(resolved) == ["social-slack", "automation", "oncall-mail", "flaky"]
    assert third.wait_idle(10)
    assert counts() == (2, 2, 2, 4)
    assert smtp.mails[-1].message()["Subject"].startswith("[BrandPulse][RESOLVED] Nimbus Air")
    assert json.loads(http.hits("/hook")[-1].body)["idempotency_key"] == idempotency_key(resolved)
    third.close(2)
