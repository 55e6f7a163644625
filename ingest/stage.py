"""The ingest stage as the application runs it: the worker, its config checks, the ``feeds`` command.

Workers import only what they run: the worker's own modules load inside ``_run`` and the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from brandpulse.settings import Settings
from brandpulse.stage import Command, Problem, Stage, WorkerContext
from ingest.feeds import FeedConfigError, FeedError, validate_options
from ingest.query import QuerySyntaxError, compile_query


def check(settings: Settings) -> list[Problem]:
    """Brand queries parse, and every feed's options are valid for its connector."""
    problems: list[Problem] = []
    for i, brand in enumerate(settings.brands):
        if brand.query:
            try:
                compile_query(brand.query)
            except QuerySyntaxError as exc:
                problems.append((f"brands[{i}].query", str(exc)))
    for i, feed in enumerate(settings.feeds):
        try:
            validate_options(feed.kind, feed.options)
        except FeedConfigError as exc:
            problems.append((f"feeds[{i}].{exc.key}" if exc.key else f"feeds[{i}].kind", exc.message))
    return problems


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feed", action="append", help="only this feed (repeatable)")
    p.add_argument("--exit-when-done", action="store_true", help="exit once every feed is finished")


def _run(ctx: WorkerContext) -> None:
    from ingest.worker import run_ingest

    run_ingest(ctx.settings, ctx.metrics, ctx.stop, feed_names=getattr(ctx.options, "feed", None) or None,
               exit_when_done=bool(getattr(ctx.options, "exit_when_done", False)))


def _feeds_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "status", "test"])
    p.add_argument("name", nargs="?", help="feed name (for test)")


def cmd_feeds(args: argparse.Namespace, load: Callable[[], Settings]) -> int:
    from brandpulse.state import StateStore
    from ingest.worker import poll_once

    s = load()
    if args.action == "list":
        for f in s.feeds:
            opts = ", ".join(f"{k}={v}" for k, v in f.options.items() if "secret" not in k and "token" not in k)
            print(f"{f.name:24} {f.kind:18} every {f.interval_seconds:>6.0f}s  "
                  f"{'enabled ' if f.enabled else 'disabled'}  {opts}")
        return 0
    if args.action == "status":
        store = StateStore(s)
        try:
            health = store.load("feed-health/")
            cursors = store.load("cursor/")
        finally:
            store.close()
        print(f"{'feed':24} {'last success':26} {'failures':>8} {'posts':>8} {'mentions':>9}  last error")
        for f in s.feeds:
            h = health.get(f"feed-health/{f.name}", {})
            print(f"{f.name:24} {h.get('last_success') or 'never':26} {h.get('consecutive_failures', 0):>8} "
                  f"{h.get('posts_total', 0):>8} {h.get('mentions_total', 0):>9}  {h.get('last_error') or ''}"
                  f"{'  (cursor stored)' if f'cursor/{f.name}' in cursors else ''}")
        return 0
    if not args.name:
        print("brandpulse feeds test: give the feed's NAME (brandpulse feeds list shows them)", file=sys.stderr)
        return 2
    try:
        result, mentions = poll_once(s, args.name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    except FeedError as exc:
        print(f"feed failed: {exc}", file=sys.stderr)
        return 1
    for m in mentions:
        print(json.dumps(m.to_dict(), ensure_ascii=False))
    print(f"# {args.name}: {len(result.posts)} posts, {len(mentions)} mentions for configured brands, "
          f"{len(result.errors)} items skipped; nothing was produced", file=sys.stderr)
    for err in result.errors[:20]:
        print(f"#   skipped {err.native_id or '?'}: {err.reason}", file=sys.stderr)
    return 0


STAGE = Stage(
    name="ingest",
    help="run the ingest worker (feeds → raw topic)",
    run=_run,
    check=check,
    add_arguments=_arguments,
    commands=(Command("feeds", "inspect feeds: list | status | test NAME", _feeds_arguments, cmd_feeds),),
)
