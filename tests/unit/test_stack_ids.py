"""The local stack's KRaft cluster id must be a value the storage tool reads as a value."""

from __future__ import annotations

import base64
import uuid

import pytest

from app import stack


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first uuid encodes to an id beginning with "-" (0xfb... -> "-..."); the second does not.
    dash = uuid.UUID(bytes=b"\xfb" + bytes(15))
    plain = uuid.UUID(bytes=b"\x00" * 16)
    assert base64.urlsafe_b64encode(dash.bytes).decode().startswith("-")
    draws = iter([dash, plain])
    monkeypatch.setattr(stack.uuid, "uuid4", lambda: next(draws))
    assert stack.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"


def test_cluster_id_shape() -> None:
    for _ in range(500):
        cid = stack.new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert uuid.UUID(bytes=base64.urlsafe_b64decode(cid + "=="))
