from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from brandpulse.schema import SCHEMA_VERSION, Author, Mention, SchemaError, mention_id

T = datetime(2026, 11, 20, 17, 45, tzinfo=UTC)


def make(**kw: object) -> Mention:
    base: dict[str, object] = {"source": "replay", "feed": "f", "native_id": "n1", "brand": "Acme",
                               "text": "Acme ایکمی აკმე", "created_at": T}
    base.update(kw)
    return Mention.new(**base)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field_and_script() -> None:
    m = make(author=Author(handle="zara", followers=10, location="لاہور"), url="https://x.example/1")
    back = Mention.from_bytes(m.to_bytes())
    assert back == m
    assert "ایکمی" in m.to_bytes().decode()  # not \\u-escaped: readable in Kafka tools


def test_id_is_deterministic_and_brand_scoped() -> None:
    assert make().id == make().id == mention_id("replay", "n1", "Acme")
    assert make(brand="Globex").id != make().id
    assert make(native_id="n2").id != make().id


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{", "invalid UTF-8 at byte 0"),
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"id": "x"}', "source: Field required"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(SchemaError) as exc:
        Mention.from_bytes(raw)
    assert reason in exc.value.reason


def test_naive_timestamps_wrong_types_and_unknown_fields_are_rejected() -> None:
    good = make().to_dict()
    for patch, needle in (
        ({"created_at": "2026-11-20T17:45:00"}, "created_at"),
        ({"author": {"followers": "many"}}, "author.followers"),
        ({"surprise": 1}, "surprise"),
        ({"schema_version": SCHEMA_VERSION + 1}, "schema_version"),
    ):
        with pytest.raises(SchemaError) as exc:
            Mention.from_bytes(json.dumps({**good, **patch}).encode())
        assert needle in exc.value.reason


def test_oversized_record_is_rejected_before_parsing() -> None:
    with pytest.raises(SchemaError, match="over the"):
        Mention.from_bytes(b"x" * 2_000_000)


def test_kafka_key_is_the_brand() -> None:
    assert make().kafka_key == b"Acme"
