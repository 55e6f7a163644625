"""The one HMAC scheme for webhooks, both ways: alerts going out, posts coming in.

A request carries::

    X-BrandPulse-Timestamp: <unix seconds>
    X-BrandPulse-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The signed material is the ASCII timestamp, a dot, then the raw body bytes exactly as sent
(verify *before* parsing). Signing the timestamp is what lets a receiver refuse replays: a
request whose timestamp is more than ``tolerance`` seconds from the receiver's clock is refused,
so a captured request cannot be sent again later (and a receiver that remembers the signatures
it accepted within the window refuses it inside the window too).

>>> headers = signed_headers(b"s3cret", b'{"a":1}', now=1772445600)
>>> headers["X-BrandPulse-Timestamp"], headers["X-BrandPulse-Signature"][:15]
('1772445600', 'sha256=d93b70f5')
>>> verify_signature(b"s3cret", b'{"a":1}', "1772445600", headers["X-BrandPulse-Signature"], now=1772445660)
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "signed_headers",
           "verify_signature"]

SIGNATURE_HEADER = "X-BrandPulse-Signature"
TIMESTAMP_HEADER = "X-BrandPulse-Timestamp"
DEFAULT_TOLERANCE = 300.0
# ASCII digits only: int() also reads "１２" and "1_000", which are not what was signed.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``f"{timestamp}.".encode() + body``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers a sender adds to ``body``."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


def timestamp_ok(timestamp: str | None, *, tolerance: float = DEFAULT_TOLERANCE,
                 now: float | None = None) -> bool:
    """True when ``timestamp`` is whole unix seconds within ``tolerance`` of ``now``."""
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp.strip()):
        return False
    return abs((time.time() if now is None else now) - int(timestamp)) <= tolerance


def verify_signature(secret: bytes | str, body: bytes, timestamp: str | None, signature: str | None, *,
                     tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """For receivers: True when ``signature`` matches and ``timestamp`` is within ``tolerance`` s.

    The comparison is constant-time; ``sha256=`` may be omitted and the hex may be in any case.
    """
    if not signature or not timestamp_ok(timestamp, tolerance=tolerance, now=now):
        return False
    assert timestamp is not None
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    value = signature.strip()
    if value[:7].lower() == "sha256=":
        value = value[7:]
    expected = sign(key, timestamp.strip(), body)[7:]
    return hmac.compare_digest(value.lower().encode("ascii", "replace"), expected.encode("ascii"))
