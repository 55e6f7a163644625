"""The README stays true to the code: its config reference and its two commands."""

from __future__ import annotations

import re
from pathlib import Path

from brandpulse.settings import reference_markdown

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_config_reference_matches_the_settings_models() -> None:
    m = re.search(r"<!-- config-reference:start[^>]*-->\n(.*?)\n<!-- config-reference:end -->", README, re.S)
    assert m, "README lost its config-reference markers"
    assert m.group(1).strip() == reference_markdown().strip(), (
        "README config reference is stale: regenerate with "
        "python -c 'from brandpulse.settings import reference_markdown as r; print(r())'"
    )


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test    #" in README and "make demo    #" in README
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_every_cli_subcommand_is_documented() -> None:
    from app.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    table = " ".join(line for line in README.splitlines() if line.startswith("| `brandpulse "))
    documented = set(re.findall(r"[a-z][a-z-]+", table))
    for name in sub.choices:  # type: ignore[union-attr]  # argparse types choices loosely
        assert name in documented, f"`brandpulse {name}` is not in the README's command table"


def test_readme_has_a_valid_example_for_every_feed_connector() -> None:
    import yaml

    from ingest.feeds import FEEDS, validate_options

    m = re.search(r"<!-- feeds-examples:start -->\n```yaml\n(.*?)```\n<!-- feeds-examples:end -->", README, re.S)
    assert m, "README lost its feeds-examples block"
    feeds = yaml.safe_load(m.group(1))["feeds"]
    common = {"name", "kind", "interval_seconds", "jitter_seconds", "enabled"}
    for feed in feeds:
        options = {k: v for k, v in feed.items() if k not in common}
        validate_options(feed["kind"], options)  # raises FeedConfigError naming the bad key
    assert {f["kind"] for f in feeds} == set(FEEDS), "every connector needs a README example"
