"""The composition root: the pipeline's stages, in data-flow order, and config loading over them.

Everything the application does per stage (CLI commands, config checks, setup, workers under the
supervisor) loops over :data:`STAGES`; a new stage is a package with a ``stage.py`` and one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from alerts.stage import STAGE as ALERTS
from brandpulse.settings import Settings, load_settings
from brandpulse.stage import Stage
from enrich.stage import STAGE as ENRICH
from index.stage import STAGE as INDEX
from ingest.stage import STAGE as INGEST

STAGES: tuple[Stage, ...] = (INGEST, ENRICH, INDEX, ALERTS)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no stage named {name!r} (stages: {', '.join(STAGE_NAMES)})")


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings validated by the core and by every stage's own check (feeds, queries, channels)."""
    return load_settings(path, environ, checks=[s.check for s in STAGES])
