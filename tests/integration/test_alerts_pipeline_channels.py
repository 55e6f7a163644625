"""From the real pipeline to every channel: enriched mentions on Kafka → the real alert worker
process (``brandpulse alerts``) → Slack, Teams, a signed webhook and email, on local stand-ins.
Each alert carries its new terms and its chart: inline in the email (the PNG decoded), and for the
others a signed link that the worker's own HTTP port serves while it runs.

Two brands with a day of normal history (default detector: balanced, one day of warm-up) each
get a negative burst. The routes send every alert to Slack and the webhook, Acme's to Teams and
email, and Globex's to Teams and email only from ``medium`` up, which a burst of 8 negatives can
never reach (at most s ≈ 7.7 where medium needs 8). Each channel must receive each routed alert
once, with what a social team needs to answer it, and nothing else; the alerts are also on the
alerts topic.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from alerts.chart import NEG, PALETTE
from alerts.detector import NegativeSpikeDetector
from alerts.worker import detector_config
from brandpulse.kafkaio import client_kwargs, ensure_topics, make_producer
from brandpulse.schema import Author, Enrichment, Language, Location, Mention, Sentiment
from brandpulse.settings import Settings
from tests.unit.test_chart import decode_png

sys.path.insert(0, str(Path(__file__).resolve().parent))
from receivers import HttpReceiver, Mail, Received, Reply, SmtpReceiver, closed_port, signature_checker

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SECRET = "pipeline-channels-signing-secret"
CHART_SECRET = "pipeline-channels-chart-secret"
KIBANA = "http://kibana.example:5601"
BRANDS = ("Acme", "Globex")
ROUTES = [
    {"brands": ["*"], "channels": ["slack", "hook"]},
    {"brands": ["acme"], "channels": ["teams", "mail"]},
    {"brands": ["Glob*"], "min_severity": "medium", "channels": ["teams", "mail"]},
]
# The loudest post of Acme's burst: it must lead every channel's list of top negative mentions.
CRITIC_HANDLE, CRITIC_FOLLOWERS, CRITIC_URL = "acme_critic", 250_000, "https://social.example/acme/critic-1"


def enriched(brand: str, native_id: str, at: datetime, *, negative: bool, text: str | None = None,
             handle: str = "someone", followers: int = 10, url: str | None = None, lang: str = "en",
             hashtags: tuple[str, ...] = (), keywords: tuple[str, ...] = (),
             places: tuple[str, ...] = ()) -> Mention:
    m = Mention.new(source="replay", feed="t", native_id=native_id, brand=brand, created_at=at, fetched_at=at,
                    text=text or f"{brand} post {native_id}", url=url or f"https://social.example/{native_id}",
                    author=Author(handle=handle, followers=followers))
    label = "negative" if negative else "neutral"
    e = Enrichment(version="1", language=Language(code=lang, confidence=0.99, method="t"),
                   sentiment=Sentiment(label=label, score=-0.7 if negative else 0.0, confidence=0.9, method="t"),
                   hashtags=hashtags, keywords=keywords, enriched_at=at,
                   locations=tuple(Location(name=p, source="text", confidence=0.8) for p in places))
    return m.model_copy(update={"enrichment": e})


def timeline(now: float) -> tuple[list[Mention], datetime]:
    """A day of history for both brands (12 mentions / 5 min, 20 % negative) up to ``t``, then the
    bursts at ``t .. t+9 s``. ``t`` is 20 s into a bucket that started at most ~6 min ago, so the
    early evaluation sees the burst at the same elapsed fraction of its bucket on every run (and
    within the allowed lateness of the wall clock)."""
    t = datetime.fromtimestamp(math.floor((now - 40) / 300) * 300 + 20, UTC)
    rng = random.Random(7)
    out: list[Mention] = []
    start = t - timedelta(hours=25)
    for brand in BRANDS:
        at = start
        i = 0
        while True:
            at += timedelta(seconds=rng.expovariate(12 / 300))
            if at >= t:
                break
            out.append(enriched(brand, f"{brand}-h{i}", at, negative=rng.random() < 0.2))
            i += 1
    langs = ("en", "es", "ur")
    places = ("Karachi", "Madrid", "Lisbon")
    for j in range(30):
        critic = j == 7
        out.append(enriched(
            "Acme", f"acme-burst-{j}", t + timedelta(seconds=0.3 * j), negative=True,
            text=f"Acme cancelled my order {j} and kept the money #acmefail",
            handle=CRITIC_HANDLE if critic else f"angry_{j}",
            followers=CRITIC_FOLLOWERS if critic else 100 + j,
            url=CRITIC_URL if critic else None, lang=langs[j % 3],
            hashtags=("#acmefail",), keywords=("refund", "cancelled order"), places=(places[j % 3],)))
    for j in range(8):
        out.append(enriched("Globex", f"globex-burst-{j}", t + timedelta(seconds=1 + j), negative=True,
                            text=f"Globex support never answers {j}", handle=f"globex_user_{j}", followers=50,
                            hashtags=("#globexdown",), keywords=("support",), places=("Tbilisi",)))
    out.sort(key=lambda m: m.created_at)
    return out, t


def oracle(s: Settings, mentions: list[Mention]) -> dict[str, str]:
    """What the pure detector opens on the same records fed one by one: {brand: severity}."""
    det = NegativeSpikeDetector(detector_config(s))
    opened: dict[str, str] = {}
    for m in mentions:
        det.observe(m.brand, m.created_at, negative=m.enrichment is not None and m.enrichment.sentiment.label == "negative")
        for e in det.advance(m.created_at):
            if e.kind == "opened":
                opened[e.key] = e.severity
    return opened


def read_topic(s: Settings, topic: str) -> list[dict[str, Any]]:
    c = KafkaConsumer(**client_kwargs(s.kafka, "test-reader"), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while any(c.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for _tp, recs in c.poll(timeout_ms=500).items():
                out.extend(json.loads(r.value) for r in recs)
        return out
    finally:
        c.close()


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    r.script("/slack", Reply(200, "ok"))
    r.script("/teams", Reply(202, ""))
    r.script("/hook", signature_checker(SECRET.encode()))
    yield r
    r.close()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    r = SmtpReceiver()
    yield r
    r.close()


def write_config(s: Settings, path: Path, http: HttpReceiver, smtp: SmtpReceiver, port: int) -> Path:
    data = {
        "kafka": {"bootstrap_servers": s.kafka.bootstrap_servers},
        "topics": s.topics.model_dump(),
        "workers": {**s.workers.model_dump(), "alerts_metrics_port": port},
        "elasticsearch": {"url": s.elasticsearch.url, "index_prefix": s.elasticsearch.index_prefix},
        "brands": [{"name": b} for b in BRANDS],
        "alerts": {
            "console": False,
            "kibana_url": KIBANA,
            "chart_url": f"http://127.0.0.1:{port}",
            "chart_secret": {"env": "PIPE_CHART_SECRET"},
            "channels": [
                {"name": "slack", "kind": "slack", "webhook_url": {"env": "PIPE_SLACK_URL"}},
                {"name": "teams", "kind": "teams", "webhook_url": {"env": "PIPE_TEAMS_URL"}},
                {"name": "hook", "kind": "webhook", "url": http.url("/hook"), "secret": {"env": "PIPE_HOOK_SECRET"}},
                {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": smtp.port, "security": "none",
                 "from": "BrandPulse <alerts@brandpulse.test>", "to": ["social@example.test"], "timeout_seconds": 10},
            ],
            "routes": ROUTES,
        },
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def wait_until(cond: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the alert worker exited: {log.read_text(errors='replace')[-4000:]}"
        if cond():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{log.read_text(errors='replace')[-4000:]}")


def test_pipeline_alerts_reach_every_channel_once_with_their_content(
    make_settings: Callable[..., Settings], http: HttpReceiver, smtp: SmtpReceiver, tmp_path: Path
) -> None:
    s = make_settings(brands=[{"name": b} for b in BRANDS])
    ensure_topics(s)
    mentions, t = timeline(time.time())
    expected = oracle(s, mentions)
    # Preconditions from the data alone: both bursts open, Globex's stays below its route's bar.
    assert set(expected) == set(BRANDS), expected
    assert expected["Globex"] == "low", expected

    port = closed_port()
    config = write_config(s, tmp_path / "alerts.yaml", http, smtp, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANDPULSE_") or k == "BRANDPULSE_STACK_DIR"}
    env.update({"PIPE_SLACK_URL": http.url("/slack"), "PIPE_TEAMS_URL": http.url("/teams"),
                "PIPE_HOOK_SECRET": SECRET, "PIPE_CHART_SECRET": CHART_SECRET})
    exe = REPO / ".venv" / "bin" / "brandpulse"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    log = tmp_path / "alerts.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([*argv, "--config", str(config), "alerts"], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=REPO)
    try:
        producer = make_producer(s.kafka, "test")
        try:
            for m in mentions:
                producer.send(s.topics.enriched, key=m.kafka_key, value=m.to_bytes())
            producer.flush()
        finally:
            producer.close()

        def hook_docs() -> list[dict[str, Any]]:
            return [r.json() for r in http.hits("/hook")]

        wait_until(lambda: (len(http.hits("/slack")) >= 2 and len(http.hits("/hook")) >= 2
                            and len(http.hits("/teams")) >= 1 and len(smtp.mails) >= 1),
                   180, "the alerts on every channel", proc, log)
        time.sleep(5)  # anything sent twice, or to a channel its route excludes, arrives by now
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
        # The chart links the channels got are served by the running worker's HTTP port.
        served = {d["brand"]: requests.get(d["chart_url"], timeout=10) for d in hook_docs()}
        forged = requests.get(hook_docs()[0]["chart_url"].replace("&s=", "&s=0"), timeout=10)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    # --- the webhook: signed (checked by the receiver's own HMAC), one per brand, full record
    hooks = http.hits("/hook")
    assert all(signature_checker(SECRET.encode())(r).status == 200 for r in hooks)
    docs = {d["brand"]: d for d in hook_docs()}
    assert len(hooks) == 2 and set(docs) == set(BRANDS), hook_docs()
    assert {r.headers["idempotency-key"] for r in hooks} == {d["idempotency_key"] for d in docs.values()}
    for brand, d in docs.items():
        assert d["event"] == "opened" and d["key"] == brand
        assert d["severity"] in ("low", "medium", "high", "critical")
        assert d["window_start"] == (t - timedelta(seconds=20)).isoformat() and d["window_end"] > d["window_start"]
        assert d["observed_negative"] >= 5 and 0 < d["expected_negative"] < d["observed_negative"] / 1.5
        assert d["observed_total"] >= d["observed_negative"]
        assert d["negative_share"] == pytest.approx(d["observed_negative"] / d["observed_total"])
        assert 0 < d["expected_share"] < d["negative_share"]
        assert d["top_mentions"] and all(m["url"].startswith("https://social.example/") for m in d["top_mentions"])
        assert d["kibana_url"].startswith(f"{KIBANA}/app/discover#/")
        assert f"brand%3A%22{brand}%22" in d["kibana_url"] and d["window_start"] in d["kibana_url"]
    acme, globex = docs["Acme"], docs["Globex"]
    assert globex["severity"] == "low"
    # --- what is new, and the chart: on the record, served signed by the worker, inline in the email
    assert ("hashtag", "#acmefail") in {(t["kind"], t["term"]) for t in acme["new_terms"]}
    assert acme["stories"] and acme["stories"][0]["negative"] >= 1
    for brand, resp in served.items():
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png", (brand, resp.text[:200])
        img = decode_png(resp.content)
        assert (img.width, img.height) == (480, 200) and PALETTE[NEG] in {c for row in img.rgb for c in row}
    assert forged.status_code == 403
    assert docs["Acme"]["chart_url"].startswith(f"http://127.0.0.1:{port}/charts/{acme['alert_id']}-0.png?c=")
    assert acme["chart"]["negative"][-1] >= acme["observed_negative"] / 2
    top = acme["top_mentions"][0]
    assert (top["author"], top["followers"], top["url"]) == (CRITIC_HANDLE, CRITIC_FOLLOWERS, CRITIC_URL)
    assert acme["top_hashtags"][0] == "#acmefail" and "refund" in acme["top_keywords"]
    assert set(acme["languages"]) == {"en", "es", "ur"} and sum(acme["languages"].values()) >= 5
    assert set(acme["locations"]) == {"Karachi", "Madrid", "Lisbon"}
    assert globex["top_hashtags"] == ["#globexdown"] and globex["locations"] == ["Tbilisi"]

    # --- Slack (every brand), Teams and email (Acme only: Globex's route needs medium)
    slack = {brand: text for brand, text in (_slack(r) for r in http.hits("/slack"))}
    assert len(http.hits("/slack")) == 2 and set(slack) == set(BRANDS)
    assert len(http.hits("/teams")) == 1 and len(smtp.mails) == 1, (http.hits("/teams"), smtp.mails)
    (teams_req,) = http.hits("/teams")
    (mail,) = smtp.mails
    rendered = {"slack": slack["Acme"], "teams": _teams(teams_req), "email": _email(mail)}
    for channel, text in rendered.items():
        start = datetime.fromisoformat(acme["window_start"])
        window = (f"<!date^{int(start.timestamp())}^" if channel == "slack" else f"{start:%Y-%m-%d %H:%M}–")
        for needle in ("Acme", acme["severity"].upper(), f"{acme['observed_negative']} negative mentions",
                       "expected ~", f"negative share {round(acme['negative_share'] * 100)}%", window,
                       "@acme_critic", "250,000 followers", CRITIC_URL, "#acmefail", "refund",
                       "Karachi", "en ", acme["kibana_url"]):
            assert needle in text, (channel, needle, text[:3000])
    assert "Globex" not in rendered["teams"] and "Globex" not in rendered["email"]
    assert "Globex" in slack["Globex"] and "#globexdown" in slack["Globex"]
    for text in (slack["Acme"], rendered["teams"]):
        assert acme["chart_url"] in text and "New against the usual talk" in text and "#acmefail ×" in text
    assert "Stories (most negative mentions first)" in rendered["email"] and "#acmefail ×" in rendered["email"]
    png = next(p for p in mail.message().walk() if p.get_content_type() == "image/png")
    img = decode_png(png.get_payload(decode=True))
    assert (img.width, img.height) == (480, 200)

    # --- the alerts topic holds the same alerts
    on_topic = [a for a in read_topic(s, s.topics.alerts) if a["event"] == "opened"]
    assert sorted((a["brand"], a["alert_id"]) for a in on_topic) == sorted((b, d["alert_id"]) for b, d in docs.items())


def _slack(req: Received) -> tuple[str, str]:
    payload = req.json()
    text = json.dumps(payload, ensure_ascii=False)
    brand = next(b for b in BRANDS if f"· {b} —" in payload["blocks"][0]["text"]["text"])
    return brand, text


def _teams(req: Received) -> str:
    body = req.json()
    assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    return json.dumps(body, ensure_ascii=False)


def _email(mail: Mail) -> str:
    msg = mail.message()
    plain = next(p for p in msg.iter_parts() if p.get_content_type() == "text/plain")
    return f"Subject: {msg['Subject']}\n{plain.get_content()}"
