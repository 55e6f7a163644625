"""Credentials in configured URLs are never printed (issue #14, row 14).

Before the fix, ``brandpulse config check`` with ``ELASTICSEARCH__URL=https://elastic:pw@…``
printed the password. URLs pass through one redaction helper (``brandpulse.text.redact_url``)
wherever they are printed: ``config check``, feed errors (``FeedBase.fail``/``error``, which end up
in logs and ``feeds status``), and Kibana import errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app import cli
from ingest.feeds import build_feed

PASSWORDS = ["pw", "s3cr3t-Pass", "p%40ss%2Fw0rd", "p@ss", "hunter2:more"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("template", [
    "https://elastic:{pw}@es.example:9200",
    "https://elastic:{pw}@es1.example:9200,https://elastic:{pw}@es2.example:9200",
    "http://{pw}@es.example",
])
def test_row14_config_check_prints_no_password(template: str, password: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "brandpulse.yaml"
    config.write_text("brands:\n  - name: Acme\n", encoding="utf-8")
    monkeypatch.setenv("BRANDPULSE_ELASTICSEARCH__URL", template.format(pw=password))
    monkeypatch.setenv("BRANDPULSE_KIBANA__URL", f"https://kibana:{password}@kibana.example:5601")
    assert cli.main(["--config", str(config), "config", "check"]) == 0
    out = capsys.readouterr().out
    assert password not in out, out
    assert "es.example" in out or "es1.example" in out  # the endpoints are still shown ...
    assert "kibana.example:5601" in out


def test_row14_feed_errors_carry_no_url_credentials(tmp_path: Path) -> None:
    feed = build_feed("m", "mastodon", {"instances": ["https://bot:t0psecret@m.example"], "hashtag": "acme"},
                      base_dir=tmp_path)
    try:
        error = feed.fail("HTTP 502 from https://bot:t0psecret@m.example/api/v1/streaming/hashtag")  # type: ignore[attr-defined]
        item = feed.error("instance https://bot:t0psecret@m.example failed")  # type: ignore[attr-defined]
    finally:
        feed.close()
    assert "t0psecret" not in str(error) and "https://m.example/api" in str(error)
    assert "t0psecret" not in item.reason


def test_row14_kibana_import_errors_carry_no_url_credentials() -> None:
    from index.kibana_import import KibanaImportError, wait_for_kibana

    with pytest.raises(KibanaImportError) as exc:
        wait_for_kibana("http://elastic:k1bana-pw@127.0.0.1:1", wait_seconds=0, timeout=1)
    assert "k1bana-pw" not in str(exc.value) and "127.0.0.1:1" in str(exc.value)
