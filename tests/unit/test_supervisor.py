"""`brandpulse run` scales a stage out to several processes in one consumer group."""

from __future__ import annotations

import pytest

from app.cli import build_parser
from app.supervisor import Supervisor, default_enrich_processes


def argv_of(sup: Supervisor) -> dict[str, list[str]]:
    return {c.stage: c.argv[c.argv.index("app.cli") + 1:] for c in sup.children}


def test_one_process_per_stage_by_default() -> None:
    sup = Supervisor(config="c.yaml")
    assert [c.stage for c in sup.children] == ["ingest", "enrich", "index", "alerts"]
    assert argv_of(sup)["enrich"] == ["--config", "c.yaml", "enrich"]


def test_replicas_get_their_own_metrics_ports() -> None:
    sup = Supervisor(config=None, replicas={"enrich": 3, "index": 2},
                     metrics_ports={"enrich": 9102, "index": 9103})
    names = [c.stage for c in sup.children]
    assert names == ["ingest", "enrich#1", "enrich#2", "enrich#3", "index#1", "index#2", "alerts"]
    args = argv_of(sup)
    assert [args[f"enrich#{i}"][-1] for i in (1, 2, 3)] == ["9102", "9112", "9122"]
    assert args["index#2"] == ["index", "--metrics-port", "9113"]
    assert "--metrics-port" not in args["ingest"]


def test_replicas_with_metrics_off_stay_off() -> None:
    sup = Supervisor(config=None, replicas={"enrich": 2}, metrics_ports={"enrich": 0})
    assert all("--metrics-port" not in c.argv for c in sup.children)


def test_default_enrich_processes_is_half_the_cores() -> None:
    assert [default_enrich_processes(n) for n in (1, 2, 4, 8)] == [1, 1, 2, 4]


def test_run_flags_are_validated() -> None:
    args = build_parser().parse_args(["run", "--enrich-processes", "3"])
    assert args.enrich_processes == 3 and args.index_processes is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--enrich-processes", "0"])
