"""End to end: the real worker processes on the bundled demo feeds, against the local stack.

The expected counts come from ``config/demo/feeds/expected.json``, written from the demo
author's intent (which brands each post mentions), not by running our matcher.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.supervisor import Supervisor
from brandpulse.esclient import make_es
from brandpulse.settings import Settings, StackSettings, load_settings
from tests.conftest import _cleanup, unique_name

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "config" / "demo.yaml"
EXPECTED = json.loads((REPO / "config" / "demo" / "feeds" / "expected.json").read_text())
# The demo also pushes support-desk posts to its webhook feed; each line records its brands.
WEBHOOK_RECORDS = sum(
    len(json.loads(line)["_brands"])
    for line in (REPO / "config" / "demo" / "feeds" / "webhook.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
)


def demo_env(local_stack: StackSettings, uid: str) -> dict[str, str]:
    # Drop the caller's overrides (a developer's shell may point elsewhere) but keep where the
    # stack lives, so the demo finds the stack the session fixture started.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANDPULSE_") or k == "BRANDPULSE_STACK_DIR"}
    env.update({
        "BRANDPULSE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{local_stack.kafka_port}",
        "BRANDPULSE_ELASTICSEARCH__URL": f"http://127.0.0.1:{local_stack.es_port}",
        "BRANDPULSE_ELASTICSEARCH__INDEX_PREFIX": uid,
        "BRANDPULSE_WORKERS__GROUP_PREFIX": uid,
        **{f"BRANDPULSE_TOPICS__{t.upper()}": f"{uid}.{t}" for t in ("raw", "enriched", "alerts", "dead_letter", "state")},
        **{f"BRANDPULSE_WORKERS__{w.upper()}_METRICS_PORT": "0" for w in ("ingest", "enrich", "index", "alerts")},
        **{f"BRANDPULSE_STACK__{k.upper()}": str(v) for k, v in local_stack.model_dump().items() if v is not None},
    })
    return env


def es_counts(s: Settings) -> tuple[int, list[dict[str, object]]]:
    es = make_es(s.elasticsearch)
    p = s.elasticsearch.index_prefix
    es.indices.refresh(index=f"{p}-*")
    n = es.count(index=f"{p}-mentions")["count"]
    alerts = [h["_source"] for h in es.search(index=f"{p}-alerts", size=100)["hits"]["hits"]]
    return int(n), alerts


def test_demo_command_indexes_exactly_the_expected_mentions_and_alerts_on_the_burst(
    local_stack: StackSettings, request: pytest.FixtureRequest
) -> None:
    uid = unique_name(request.node.name)
    env = demo_env(local_stack, uid)
    s = load_settings(DEMO, environ=env)
    try:
        proc = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(DEMO), "demo",
                               "--timeout", "400"], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        indexed, alerts = es_counts(s)
        assert indexed == EXPECTED["records_total"] + WEBHOOK_RECORDS
        assert "pushed 12 support-desk posts" in proc.stdout
        brands = {a["brand"] for a in alerts}
        assert brands == {EXPECTED["burst"]["brand"]}, alerts
        assert len({a["alert_id"] for a in alerts}) == 1  # one alert for the burst, not a storm
        assert alerts and all(a["event"] in ("opened", "updated") for a in alerts)
        # the printed summary is what Elasticsearch holds
        assert f"indexed             {indexed:>6}" in proc.stdout
        assert "ALERT [" in proc.stdout and "Nimbus Air" in proc.stdout
        # ...and every alert event reached the demo's local webhook, signed and verified, once.
        events = re.search(r"events on \S+: (\d+)", proc.stdout)
        hook = re.search(r"at the local webhook +(\d+) +\(signed alert events received and verified; (\d+) bad",
                         proc.stdout)
        assert events and hook, proc.stdout[-3000:]
        assert int(hook.group(1)) == int(events.group(1)) == len(alerts) >= 1
        assert hook.group(2) == "0"
        assert "signature verified" in proc.stdout
        check_alert_explains_itself(proc.stdout, alerts, int(events.group(1)))
    finally:
        _cleanup(s)


def check_alert_explains_itself(stdout: str, alerts: list[dict[str, object]], events: int) -> None:
    """The burst's alert shows its stories and what is new, on the console, in the summary and in
    every email, and each email carries the chart: the PNG decoded from its MIME part and checked."""
    from email import message_from_bytes, policy

    from alerts.chart import BAND, HIGHLIGHT, NEG, PALETTE, TOTAL, layout_for
    from alerts.chartlinks import chart_data
    from brandpulse.schema import AlertRecord
    from tests.unit.test_chart import decode_png

    records = sorted((AlertRecord.from_dict(a) for a in alerts), key=lambda r: r.seq or 0)
    opened = records[0]
    assert opened.event == "opened" and opened.brand == EXPECTED["burst"]["brand"]
    assert opened.stories and opened.stories[0].negative >= 1
    assert any("#nimbusairfail" in t.term for t in opened.new_terms), opened.new_terms
    assert opened.chart is not None and opened.chart.negative[-1] > opened.chart.expected_high[-1]
    assert "  stories (" in stdout and "  new: " in stdout  # the console alert
    summary = stdout[stdout.index("== Demo finished"):]
    assert "       story ×" in summary and "       new: " in summary and "#nimbusairfail" in summary
    mailbox = re.search(r"at the local mailbox +(\d+) +\(alert emails, (\d+) with the chart inline; in (\S+)\)", stdout)
    assert mailbox, stdout[-3000:]
    assert int(mailbox.group(1)) == int(mailbox.group(2)) == events
    mails = sorted(Path(mailbox.group(3)).glob("*.eml"))
    assert len(mails) == events
    first = message_from_bytes(mails[0].read_bytes(), policy=policy.default)
    assert EXPECTED["burst"]["brand"] in str(first["Subject"]) and first["X-BrandPulse-Event"] == "opened"
    html = first.get_body(("html",))
    assert html is not None and "Stories (most negative mentions first)" in html.get_content()
    related = next(p for p in first.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.walk() if p.get_content_type() == "image/png")
    assert f'src="cid:{str(image["Content-ID"]).strip("<>")}"' in html.get_content()
    png = image.get_payload(decode=True)
    assert isinstance(png, bytes) and 500 < len(png) < 20_000
    img = decode_png(png)
    assert (img.width, img.height) == (480, 200)
    colours = {c for row in img.rgb for c in row}
    assert {PALETTE[NEG], PALETTE[TOTAL], PALETTE[BAND], PALETTE[HIGHLIGHT]} <= colours
    # The last bucket (the burst) is drawn where the layout puts its count: the red line reaches it.
    data = chart_data(opened.chart, (opened.window_start, opened.window_end), opened.brand)
    lay = layout_for(data)
    x, y = lay.x_mid(len(data.negative) - 1), lay.y_neg(data.negative[-1])
    assert PALETTE[NEG] in {img.at(x, yy) for yy in (y - 1, y, y + 1)}
    for later in mails[1:]:  # the alert's updates answer its first mail: one conversation
        msg = message_from_bytes(later.read_bytes(), policy=policy.default)
        assert msg["In-Reply-To"] == first["Message-ID"]
    shutil.rmtree(mails[0].parent)  # this test's own mailbox (named by its unique index prefix)


def test_killed_workers_restart_without_losing_or_duplicating(
    local_stack: StackSettings, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from app.demo import caught_up, counts, feeds_finished, reset_demo
    from brandpulse.state import StateStore

    uid = unique_name(request.node.name)
    env = demo_env(local_stack, uid)
    s = load_settings(DEMO, environ=env)
    os.environ.update({k: v for k, v in env.items() if k.startswith("BRANDPULSE_")})
    try:
        reset_demo(s)
        log = (tmp_path / "workers.log").open("ab")
        sup = Supervisor(config=str(DEMO), stderr=log, stdout=log)
        sup.start()
        es = make_es(s.elasticsearch)
        store = StateStore(s)
        killed: set[str] = set()
        deadline = time.monotonic() + 300
        try:
            while time.monotonic() < deadline:
                time.sleep(1)
                sup.check()
                c = counts(s, es)
                # kill -9 the enrich and index workers once each, as early in the stream as we see it
                if c["ingested"] > 0 and "enrich" not in killed:
                    _kill(sup, "enrich")
                    killed.add("enrich")
                if c["enriched"] > 0 and "index" not in killed:
                    _kill(sup, "index")
                    killed.add("index")
                restarted = all(ch.restarts >= 1 and ch.proc is not None and ch.proc.poll() is None
                                for ch in sup.children if ch.stage in killed)
                if killed == {"enrich", "index"} and restarted and feeds_finished(s, store) and caught_up(s):
                    break
        finally:
            store.close()
            for k in [k for k in os.environ if k.startswith("BRANDPULSE_") and k != "BRANDPULSE_STACK_DIR"]:
                del os.environ[k]
            sup.stop()
        assert killed == {"enrich", "index"}
        assert {ch.stage for ch in sup.children if ch.restarts} == {"enrich", "index"}
        indexed, alerts = es_counts(s)
        assert indexed == EXPECTED["records_total"]
        assert len({a["alert_id"] for a in alerts}) == 1
    finally:
        _cleanup(s)


def _kill(sup: Supervisor, stage: str) -> None:
    child = next(c for c in sup.children if c.stage == stage)
    assert child.proc is not None
    child.proc.send_signal(signal.SIGKILL)
    child.proc.wait()
