from __future__ import annotations

from pathlib import Path

import pytest

from app.stages import load_config
from brandpulse.settings import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bp.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_bundled_configs_are_valid() -> None:
    for name in ("brandpulse.yaml", "demo.yaml"):
        s = load_config(REPO / "config" / name, environ={})
        assert s.brands and s.feeds


def test_env_overrides_connection_settings_and_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    p = write(tmp_path, "brands: [{name: Acme}]\n")
    s = load_config(p, environ={
        "BRANDPULSE_KAFKA__BOOTSTRAP_SERVERS": "kafka:9092",
        "BRANDPULSE_ELASTICSEARCH__URL": "https://es:9200",
        "BRANDPULSE_ELASTICSEARCH__USERNAME": "elastic",
        "BRANDPULSE_ELASTICSEARCH__PASSWORD_FILE": str(secret),
    })
    assert s.kafka.bootstrap_servers == "kafka:9092"
    assert s.elasticsearch.url == "https://es:9200"
    assert s.elasticsearch.password is not None
    assert s.elasticsearch.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize(
    ("text", "key", "needle"),
    [
        ("brands: [{name: Acme}]\nkafka: {bootstrap_server: x}\n", "kafka.bootstrap_server", "unknown key"),
        ("brands: [{name: Acme}]\ntopics: {partitions: 0}\n", "topics.partitions", "greater than or equal to 1"),
        ("brands: [{name: Acme}]\nelasticsearch: {url: es:9200}\n", "elasticsearch.url", "http://"),
        ("brands: []\n", "brands", "at least 1"),
        ("brands: [{name: Acme}, {name: acme}]\n", "<top level>", "used twice"),
        ("brands: [{name: Acme}]\nfeeds: [{name: f, kind: nope}]\n", "feeds[0].kind", "unknown feed kind"),
        ("brands: [{name: Acme, query: '(acme OR'}]\n", "brands[0].query", "^"),
        ("brands: [{name: Acme]\n", "line 1", "not valid YAML"),
        ("brands: [{name: Acme}, {name: Globex}]\ncompetitors: [{name: g, brands: [Acme, Globx]}]\n",
         "<top level>", "competitors[0].brands[1] 'Globx' is not a configured brand"),
        ("brands: [{name: Acme}]\nalerts: {digest: daily, digest_channels: [slak], channels: [{name: slack, kind: console}]}\n",
         "alerts.digest_channels[0]", "no channel named 'slak' (known: slack)"),
        ("brands: [{name: Acme}]\nalerts: {chart_url: 'https://bp.example'}\n", "alerts.chart_secret",
         "required with chart_url"),
        ("brands: [{name: Acme}]\nalerts: {chart_url: 'bp.example', chart_secret: {env: S}}\n", "alerts.chart_url",
         "http(s) base URL"),
        ("brands: [{name: Acme}]\nalerts: {chart_url: 'https://bp.example', chart_secret: {env: S, file: f}}\n",
         "alerts.chart_secret", "exactly one"),
    ],
)
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str, needle: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(p, environ={})
    msg = str(exc.value)
    assert str(p) in msg
    assert key in msg
    assert needle in msg


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BRANDPULSE_CONFIG"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_bad_env_value_is_reported_with_its_key(tmp_path: Path) -> None:
    p = write(tmp_path, "brands: [{name: Acme}]\n")
    with pytest.raises(ConfigError, match=r"topics\.partitions"):
        load_config(p, environ={"BRANDPULSE_TOPICS__PARTITIONS": "many"})


def test_competitor_groups_map_each_brand_to_its_groups(tmp_path: Path) -> None:
    p = write(tmp_path, "brands: [{name: Acme}, {name: Globex}, {name: Initech}]\n"
                        "competitors: [{name: Rivals, brands: [Acme, Globex]}, {name: All, brands: [Acme, Globex, Initech]}]\n")
    s = load_config(p, environ={})
    assert s.brand_groups() == {"Acme": ("Rivals", "All"), "Globex": ("Rivals", "All"), "Initech": ("All",)}
