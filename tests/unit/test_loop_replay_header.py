"""A replayed dead letter is for the stage that failed it; every other consumer skips it."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord

from brandpulse.loop import REPLAY_HEADER, for_stage


def _rec(headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord("t", 0, -1, 0, 0, 0, None, b"{}", headers, None, 0, 2, -1)


def test_records_without_the_header_are_for_every_stage() -> None:
    assert for_stage(_rec([]), "index") and for_stage(_rec([("other", b"x")]), "alerts")


def test_a_replay_is_only_for_the_stage_named_in_its_header() -> None:
    rec = _rec([(REPLAY_HEADER, b"index")])
    assert for_stage(rec, "index")
    assert not for_stage(rec, "alerts")
    assert not for_stage(_rec([(REPLAY_HEADER, b"")]), "index")
