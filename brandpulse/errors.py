"""Named failures: why a stage could not process a record. The class name is the dead letter's
``error_class``, so ``brandpulse deadletter list|replay --error-class`` can select them.

What happens to a failed record is the stage's ``on_malformed`` choice (:data:`OnMalformed`),
applied the same way by every consuming stage (brandpulse/loop.py):

* ``dead_letter`` (default): the record goes to the dead-letter topic with its reason; the batch
  commits and the worker goes on;
* ``skip``: the record is logged and counted (``brandpulse_failed``), nothing else;
* ``fail``: the worker stops before committing, so the record is read again after the fix.
"""

from __future__ import annotations

from typing import Literal

OnMalformed = Literal["dead_letter", "skip", "fail"]


class Rejected(Exception):
    """A record a stage could not process; subclasses say why."""


class MalformedItem(Rejected):
    """A feed item that cannot become a post (missing id or text, a bad timestamp, …)."""


class RecordTooLarge(Rejected):
    """A record bigger than the broker accepts (``max_request_size``)."""


class EnrichmentError(Rejected):
    """Enrichment itself failed for the record (not one tagger: those fail softly, on the mention)."""


class UnreadableAlert(Rejected):
    """An alert-topic record that is not an alert event."""


class StageFailed(RuntimeError):
    """``on_malformed: fail``: a record failed and the stage stops without committing it."""
