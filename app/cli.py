"""``brandpulse`` — one command, a subcommand per job. ``brandpulse --help`` lists them."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app import stack
from app.setup import setup
from app.stages import STAGE_NAMES, STAGES, load_config
from brandpulse.deadletter import DeadLetter, Filter, list_dead_letters, print_table, replay
from brandpulse.errors import StageFailed
from brandpulse.logs import setup_logging
from brandpulse.loop import StopFlag
from brandpulse.metrics import WorkerMetrics
from brandpulse.settings import DEFAULT_CONFIG, ConfigError, Settings
from brandpulse.stage import Command, Stage, WorkerContext
from brandpulse.text import redact_url

log = logging.getLogger("brandpulse")
REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "config" / "demo.yaml"


def _settings(args: argparse.Namespace) -> Settings:
    return load_config(args.config)


# ---------------------------------------------------------------- config / stack / setup
def cmd_config_check(args: argparse.Namespace) -> int:
    s = _settings(args)
    path = args.config or os.environ.get("BRANDPULSE_CONFIG") or DEFAULT_CONFIG
    # URLs may carry credentials (https://elastic:pw@host is a valid way to give them): never printed
    print(redact_url(f"{path}: OK — {len(s.brands)} brands, {len(s.feeds)} feeds "
                     f"({sum(f.enabled for f in s.feeds)} enabled); kafka {s.kafka.bootstrap_servers}; "
                     f"elasticsearch {s.elasticsearch.url}; kibana {s.kibana.url}"))
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    s = _settings(args).stack
    if args.action == "up":
        took = stack.up(s, wipe=args.wipe)
        print(f"stack up in {took:.1f}s — Kafka 127.0.0.1:{s.kafka_port}, Elasticsearch http://127.0.0.1:{s.es_port}"
              f" (data in {stack.stack_dir(s)})")
    elif args.action == "down":
        stack.down(s, wipe=args.wipe)
    else:
        rows = stack.status(s)
        for r in rows:
            state = "healthy" if r.healthy else ("running, not healthy" if r.running else "stopped")
            print(f"{r.name:14} {state:22} pid {r.pid or '-':>7}  {r.detail}")
        print(f"stack dir: {stack.stack_dir(s)}")
        return 0 if all(r.healthy for r in rows) else 1
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    setup(_settings(args))
    return 0


# ---------------------------------------------------------------- workers
def _worker_context(args: argparse.Namespace, s: Settings, stage: str) -> WorkerContext:
    setup_logging(stage, args.log_format or s.workers.log_format, args.log_level or s.workers.log_level)
    metrics = WorkerMetrics(stage)
    port = args.metrics_port if args.metrics_port is not None else getattr(s.workers, f"{stage}_metrics_port")
    bound = metrics.serve(s.workers.metrics_host, port)
    if bound:
        log.info("metrics on http://%s:%d/metrics and /healthz", s.workers.metrics_host, bound)
    stop = StopFlag()
    stop.install()
    return WorkerContext(settings=s, metrics=metrics, stop=stop, options=args)


def _stage_command(stage: Stage) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        action = getattr(args, "action", None) or "run"
        if action != "run":
            return stage.actions[action](args, lambda: _settings(args))
        ctx = _worker_context(args, _settings(args), stage.name)
        try:
            stage.run(ctx)
        finally:
            ctx.metrics.close()
        return 0

    return run


def _plugin_command(command: Command) -> Callable[[argparse.Namespace], int]:
    return lambda args: command.run(args, lambda: _settings(args))


def cmd_run(args: argparse.Namespace) -> int:
    from app.supervisor import Supervisor, replicas_for

    s = _settings(args)
    setup(s)
    replicas = replicas_for(s)
    if args.enrich_processes:
        replicas["enrich"] = args.enrich_processes
    if args.index_processes:
        replicas["index"] = args.index_processes
    for stage, n in replicas.items():
        if n > s.topics.partitions:
            print(f"brandpulse: {n} {stage} processes but {s.topics.partitions} partitions: "
                  f"{n - s.topics.partitions} will sit idle (raise topics.partitions)", file=sys.stderr)
    ports = {st: getattr(s.workers, f"{st}_metrics_port") for st in replicas}
    sup = Supervisor(config=args.config, log_format=args.log_format, replicas=replicas, metrics_ports=ports)
    return sup.run_forever()


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    return run_demo(config=args.config or str(DEMO_CONFIG), keep_running=args.keep_running, timeout=args.timeout)


def cmd_deadletter(args: argparse.Namespace) -> int:
    s = _settings(args)
    flt = Filter(stage=args.stage, error_class=args.error_class, contains=args.contains)
    if args.action == "list":
        rows, counts = list_dead_letters(s, flt, limit=args.limit)
        if args.json:
            for d in rows:
                print(json.dumps(d.summary(), ensure_ascii=False))
        else:
            print_table(rows, counts, sys.stdout)
        return 0

    def show(d: DeadLetter) -> None:
        if args.dry_run:
            print(f"would replay {d.stage}/{d.error_class} → {d.source_topic}: {d.error[:100]}")

    rep = replay(s, flt, dry_run=args.dry_run, from_beginning=args.from_beginning, progress=show)
    verb = "would replay" if args.dry_run else "replayed"
    where = ", ".join(f"{n} to {t}" for t, n in (rep.by_topic or {}).items()) or "nothing"
    print(f"{verb} {rep.replayed} dead letters ({where}); {rep.skipped_filter} did not match the filter, "
          f"{rep.not_replayable} had no source topic (ingest-side rejects: fix the feed instead)")
    return 0


# ---------------------------------------------------------------- parser
def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="brandpulse", description=__doc__)
    p.add_argument("--config", help=f"config file (default: $BRANDPULSE_CONFIG or {DEFAULT_CONFIG.relative_to(REPO)})")
    p.add_argument("--log-format", choices=["text", "json"], help="override workers.log_format")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override workers.log_level")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("config", help="validate configuration")
    c.add_argument("action", choices=["check"])
    c.set_defaults(func=cmd_config_check)

    st = sub.add_parser("stack", help="local Kafka + Elasticsearch without Docker (up | down | status)")
    st.add_argument("action", choices=["up", "down", "status"])
    st.add_argument("--wipe", action="store_true", help="delete the stack's data (up: before starting)")
    st.set_defaults(func=cmd_stack)

    se = sub.add_parser("setup", help="create Kafka topics and Elasticsearch templates (idempotent)")
    se.set_defaults(func=cmd_setup)

    for stage in STAGES:
        w = sub.add_parser(stage.name, help=stage.help)
        w.add_argument("--metrics-port", type=int, help="override the worker's /metrics port (0 = off)")
        if stage.actions:
            w.add_argument("action", nargs="?", choices=["run", *stage.actions], default="run",
                           help=f"run the worker (default), or: {', '.join(stage.actions)}")
        if stage.add_arguments is not None:
            stage.add_arguments(w)
        w.set_defaults(func=_stage_command(stage), worker_stage=stage.name)

    r = sub.add_parser("run", help="set up and run every worker under a supervisor (Ctrl-C stops them)")
    r.add_argument("--enrich-processes", type=_positive, metavar="N",
                   help="enrich processes in one consumer group (default: workers.enrich_processes, else half the cores)")
    r.add_argument("--index-processes", type=_positive, metavar="N",
                   help="index processes in one consumer group (default: workers.index_processes, 1)")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="local stack + demo feeds through every stage, then a summary")
    d.add_argument("--keep-running", action="store_true", help="leave the workers running after the summary")
    d.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    d.set_defaults(func=cmd_demo)

    dl = sub.add_parser("deadletter", help="inspect or replay dead letters: list | replay")
    dl.add_argument("action", choices=["list", "replay"])
    dl.add_argument("--stage", choices=list(STAGE_NAMES), help="only this stage's rejects")
    dl.add_argument("--error-class", help="only this error class, e.g. SchemaError or PermanentRejection")
    dl.add_argument("--contains", help="only reasons containing this text (case-insensitive)")
    dl.add_argument("--limit", type=int, default=50, help="list: newest rows to show (default 50)")
    dl.add_argument("--json", action="store_true", help="list: one JSON object per line")
    dl.add_argument("--dry-run", action="store_true", help="replay: show what would be replayed, change nothing")
    dl.add_argument("--from-beginning", action="store_true",
                    help="replay: re-offer dead letters already replayed (default: only new ones)")
    dl.set_defaults(func=cmd_deadletter)

    for stage in STAGES:
        for command in stage.commands:
            c = sub.add_parser(command.name, help=command.help)
            command.configure(c)
            c.set_defaults(func=_plugin_command(command))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"brandpulse: {exc}", file=sys.stderr)
        return 2
    except StageFailed as exc:  # on_malformed: fail — stop, uncommitted, for a human to look at
        print(f"brandpulse: {exc}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `brandpulse ... | head`: the reader left, that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if isinstance(exc, stack.StackError):
            print(f"brandpulse stack: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
