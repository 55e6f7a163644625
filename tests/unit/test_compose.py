"""docker-compose.yml, Dockerfile and .dockerignore: valid, coherent, and in step with the project.

* Schema: ``tests/fixtures/compose-spec.json`` is the official Compose Specification schema
  (github.com/compose-spec/compose-spec, ``schema/compose-spec.json`` at commit
  00655e2222608fa6eaecdf12ac5195889ca2244a, vendored unmodified). The project's dependencies do
  not include ``jsonschema``, so a small draft-07 validator below checks the file (it refuses
  schema keywords it does not implement, so it cannot pass by ignoring one); when ``jsonschema``
  happens to be installed it checks the file too.
* Semantics: dependencies, volumes, ``${VAR}`` references, the subcommands each service runs,
  healthchecks, ports, the environment the workers get (validated by the real settings loader),
  image versions against ``stack/*/pom.xml``, and the Kafka/Elasticsearch settings against the
  Docker-free local stack (``brandpulse/stack.py``).
* ``docker compose config`` (or ``docker-compose config``) runs as well when one of them is on
  PATH; that single test is skipped otherwise.

Everything is read from files: no Docker engine, no network. Runs in well under a second or two.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import cli, stack
from brandpulse.settings import ENV_SECTIONS, Settings, StackSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SASL_OVERLAY = ROOT / "docker-compose.sasl.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"
SCHEMA_FILE = ROOT / "tests" / "fixtures" / "compose-spec.json"
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}

WORKERS = ("ingest", "enrich", "index", "alerts")
SUPERUSER_JOBS = ("setup", "kibana-password")  # the only BrandPulse containers with the elastic password
ES_KEY_ROLES = ("index", "alerts")  # workers that use Elasticsearch, with one API key each
SCALABLE = ("enrich", "index", "alerts")  # consumer groups: one partition per replica at most
ONE_SHOT_RESTART = ("no", "on-failure")
KAFKA_IMAGE = "apache/kafka"
ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch"
KIBANA_IMAGE = "docker.elastic.co/kibana/kibana"
ES_DATA_DIR = "/usr/share/elasticsearch/data"
# Variables compose itself understands in .env (not referenced from the file).
COMPOSE_BUILTIN_VARS = {"COMPOSE_PROJECT_NAME"}


# ====================================================================== loading + interpolation
@dataclass(frozen=True)
class VarRef:
    name: str
    op: str | None  # None, ":-", "-", ":?", "?", ":+", "+"
    arg: str | None

    @property
    def has_default(self) -> bool:
        return self.op in (":-", "-")


class MissingVariable(ValueError):
    pass


_DOLLAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.DOTALL)


def var_refs(text: str) -> list[VarRef]:
    refs: list[VarRef] = []
    for m in _DOLLAR.finditer(text):
        if m.group("escaped"):
            continue
        if m.group("named"):
            refs.append(VarRef(m.group("named"), None, None))
            continue
        b = _BRACED.match(m.group("braced"))
        if not b:
            raise ValueError(f"invalid interpolation {m.group(0)!r} in {text!r}")
        refs.append(VarRef(b.group("name"), b.group("op"), b.group("arg")))
    return refs


def interpolate_str(text: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}`` syntax. An unset variable without a default is an error here (compose
    would warn and substitute an empty string, which is never what this file wants)."""

    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        ref = var_refs(m.group(0))[0]
        value = env.get(ref.name)
        if ref.op == ":-":
            return value if value else ref.arg or ""
        if ref.op == "-":
            return value if value is not None else ref.arg or ""
        if ref.op == ":+":
            return (ref.arg or "") if value else ""
        if ref.op == "+":
            return (ref.arg or "") if value is not None else ""
        if value is None or (ref.op == ":?" and not value):
            raise MissingVariable(f"{ref.name}: {ref.arg or 'not set'}")
        return value

    return _DOLLAR.sub(sub, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value (never keys), like compose does."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if isinstance(node, str):
        return interpolate_str(node, env)
    return node


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for v in node.values():
            yield from walk_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_strings(v)
    elif isinstance(node, str):
        yield node


def parse_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}:{n}: expected KEY=VALUE, got {line!r}"
        assert key not in env, f"{path.name}:{n}: {key} defined twice"
        assert not value.startswith(("'", '"')) and "$" not in value, f"{path.name}:{n}: keep values literal"
        env[key] = value
    return env


@functools.cache
def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@functools.cache
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@functools.cache
def compose() -> dict[str, Any]:
    """The file as compose sees it with the documented .env.example values."""
    result = interpolate(raw_compose(), env_example())
    assert isinstance(result, dict)
    return result


# ---------------------------------------------------------------------- overlays (compose's merge rules)
_REPLACED = {"command", "entrypoint", "test"}  # sequences an override replaces instead of extending
_BY_TARGET = {"volumes", "secrets", "configs"}  # sequences merged by their target path


def _target(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target"))
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def merge_compose(base: Any, override: Any, key: str = "") -> Any:
    """``docker compose -f base -f override``: mappings merge recursively; a sequence is extended,
    except command/entrypoint/healthcheck test (replaced) and mounts (unique by target)."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge_compose(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED:
        if key in _BY_TARGET:
            merged = {_target(e): e for e in base}
            merged.update({_target(e): e for e in override})
            return list(merged.values())
        return base + [e for e in override if e not in base]
    return override


@functools.cache
def raw_overlay() -> dict[str, Any]:
    data = yaml.safe_load(SASL_OVERLAY.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@functools.cache
def sasl_compose() -> dict[str, Any]:
    """docker-compose.yml with docker-compose.sasl.yml on top, as compose sees it with .env.example."""
    result = interpolate(merge_compose(raw_compose(), raw_overlay()), env_example())
    assert isinstance(result, dict)
    return result


def services(doc: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    svc = (compose() if doc is None else doc)["services"]
    assert isinstance(svc, dict)
    return svc


def env_of(name: str, doc: dict[str, Any] | None = None) -> dict[str, str]:
    environment = services(doc)[name].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def raw_env_of(name: str) -> dict[str, Any]:
    environment = raw_compose()["services"][name].get("environment") or {}
    assert isinstance(environment, dict), f"{name}: use the mapping form of environment"
    return environment


def depends_on(name: str, doc: dict[str, Any] | None = None) -> dict[str, str]:
    """service -> condition (the short list form means service_started)."""
    deps = services(doc)[name].get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {d: spec["condition"] for d, spec in deps.items()}


def restart_of(name: str, doc: dict[str, Any] | None = None) -> str:
    return str(services(doc)[name].get("restart", "no"))


def is_one_shot(name: str, doc: dict[str, Any] | None = None) -> bool:
    return restart_of(name, doc) in ONE_SHOT_RESTART


def built_services() -> list[str]:
    return [n for n, s in services().items() if "build" in s]


# ====================================================================== a small draft-07 validator
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "default", "deprecated", "examples"})
_IMPLEMENTED = frozenset({
    "$ref", "type", "enum", "const", "properties", "patternProperties", "additionalProperties", "required",
    "items", "uniqueItems", "oneOf", "anyOf", "allOf", "not", "minimum", "maximum", "pattern", "definitions",
})


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    raise ValueError(f"unknown JSON Schema type {name!r}")


class SchemaValidator:
    """Just enough of JSON Schema draft-07 for the Compose Specification schema."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        unknown = self._keywords(root) - _IMPLEMENTED - _ANNOTATIONS
        if unknown:
            raise NotImplementedError(f"schema uses keywords this validator lacks: {sorted(unknown)}")

    def _keywords(self, schema: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(schema, dict):
            found |= set(schema)
            for key, sub in schema.items():
                if key in ("properties", "patternProperties", "definitions"):
                    for s in sub.values():
                        found |= self._keywords(s)
                elif key in ("items", "additionalProperties", "not"):
                    found |= self._keywords(sub)
                elif key in ("oneOf", "anyOf", "allOf"):
                    for s in sub:
                        found |= self._keywords(s)
        return found

    def _resolve(self, ref: str) -> dict[str, Any]:
        assert ref.startswith("#/"), f"only local $ref supported, got {ref}"
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        assert isinstance(node, dict)
        return node

    def errors(self, instance: Any, schema: dict[str, Any] | None = None, path: str = "$") -> list[str]:
        schema = self.root if schema is None else schema
        errs: list[str] = []
        if "$ref" in schema:  # draft-07: $ref makes sibling keywords irrelevant
            return self.errors(instance, self._resolve(schema["$ref"]), path)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(instance, t) for t in types):
                return [f"{path}: expected {'/'.join(types)}, got {type(instance).__name__} {instance!r}"]
        if "enum" in schema and instance not in schema["enum"]:
            errs.append(f"{path}: {instance!r} not one of {schema['enum']}")
        if "const" in schema and instance != schema["const"]:
            errs.append(f"{path}: {instance!r} != {schema['const']!r}")
        if isinstance(instance, str) and "pattern" in schema and not re.search(schema["pattern"], instance):
            errs.append(f"{path}: {instance!r} does not match {schema['pattern']!r}")
        if _is_type(instance, "number"):
            if "minimum" in schema and instance < schema["minimum"]:
                errs.append(f"{path}: {instance} < minimum {schema['minimum']}")
            if "maximum" in schema and instance > schema["maximum"]:
                errs.append(f"{path}: {instance} > maximum {schema['maximum']}")
        if isinstance(instance, dict):
            errs += self._object_errors(instance, schema, path)
        if isinstance(instance, list):
            if isinstance(schema.get("items"), dict):
                for i, item in enumerate(instance):
                    errs += self.errors(item, schema["items"], f"{path}[{i}]")
            if schema.get("uniqueItems"):
                seen = [json.dumps(item, sort_keys=True) for item in instance]
                if len(seen) != len(set(seen)):
                    errs.append(f"{path}: items are not unique")
        for sub in schema.get("allOf", []):
            errs += self.errors(instance, sub, path)
        if "anyOf" in schema and not any(not self.errors(instance, s, path) for s in schema["anyOf"]):
            errs.append(f"{path}: matches none of anyOf")
        if "oneOf" in schema:
            results = [self.errors(instance, s, path) for s in schema["oneOf"]]
            matching = sum(1 for r in results if not r)
            if matching != 1:
                detail = "; ".join(e for r in results for e in r[:2])
                errs.append(f"{path}: matches {matching} of oneOf (exactly one required): {detail}")
        if "not" in schema and not self.errors(instance, schema["not"], path):
            errs.append(f"{path}: must not match {schema['not']}")
        return errs

    def _object_errors(self, instance: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        errs: list[str] = []
        props: dict[str, Any] = schema.get("properties", {})
        patterns: dict[str, Any] = schema.get("patternProperties", {})
        errs += [f"{path}: missing required {r!r}" for r in schema.get("required", []) if r not in instance]
        for key, value in instance.items():
            sub = f"{path}.{key}"
            matched = False
            if key in props:
                matched = True
                errs += self.errors(value, props[key], sub)
            for pattern, pschema in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    errs += self.errors(value, pschema, sub)
            if not matched and "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errs.append(f"{sub}: additional property not allowed")
                elif isinstance(extra, dict):
                    errs += self.errors(value, extra, sub)
        return errs


@functools.cache
def schema() -> dict[str, Any]:
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def schema_errors(instance: Any) -> list[str]:
    return SchemaValidator(schema()).errors(instance)


def jsonschema_errors(instance: Any) -> list[str] | None:
    """Errors according to the ``jsonschema`` package, or None when it is not installed."""
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:
        return None
    validator = jsonschema.Draft7Validator(schema())
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


# ====================================================================== schema
def test_vendored_schema_is_the_compose_specification() -> None:
    s = schema()
    assert s["title"] == "Compose Specification"
    assert s["$schema"].endswith("draft-07/schema")
    for definition in ("service", "healthcheck", "deployment", "volume", "network", "secret"):
        assert definition in s["definitions"]
    SchemaValidator(s)  # raises if the schema uses a keyword the validator does not implement


def test_compose_file_matches_the_compose_specification() -> None:
    errors = schema_errors(compose())
    assert not errors, "docker-compose.yml violates the Compose Specification:\n" + "\n".join(errors)
    others = jsonschema_errors(compose())
    if others is not None:
        assert not others, "jsonschema: " + "\n".join(others)


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda c: c["services"]["kafka"].update(restartt="always"), "additional property"),
        (lambda c: c["services"]["ingest"]["depends_on"]["setup"].update(condition="service_ready"), "not one of"),
        (lambda c: c["services"]["kafka"]["healthcheck"].update(interval=10), "expected string"),
        (lambda c: c.update(service={}), "additional property"),
        (lambda c: c["services"]["kafka"].update(ports=[{"target": 9092, "bogus": 1}]), "oneOf"),
    ],
    ids=["unknown-key", "bad-condition", "wrong-type", "unknown-top-level", "bad-port"],
)
def test_schema_check_rejects_invalid_files(mutation: Any, expected: str) -> None:
    """The validator is not vacuous: a broken file fails, as it does under jsonschema."""
    broken = copy.deepcopy(compose())
    mutation(broken)
    errors = schema_errors(broken)
    assert any(expected in e for e in errors), errors
    others = jsonschema_errors(broken)
    assert others is None or others


# ====================================================================== semantic checks
def test_depends_on_targets_exist_and_form_no_cycle() -> None:
    svc = services()
    for name in svc:
        for dep, condition in depends_on(name).items():
            assert dep in svc, f"{name} depends on unknown service {dep}"
            assert dep != name, f"{name} depends on itself"
            if condition == "service_healthy":
                assert "healthcheck" in svc[dep], f"{name} waits for {dep} to be healthy, which has no healthcheck"
            if condition == "service_completed_successfully":
                assert is_one_shot(dep), f"{name} waits for {dep} to complete, but {dep} restarts"
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "active", "dependency cycle: " + " -> ".join([*trail, node])
        state[node] = "active"
        for dep in depends_on(node):
            visit(dep, [*trail, node])
        state[node] = "done"

    for name in svc:
        visit(name, [])


def _mounts(name: str, doc: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """(kind, source, target) for each volume of a service: kind is 'volume', 'bind' or 'tmpfs'."""
    out = []
    for v in services(doc)[name].get("volumes") or []:
        if isinstance(v, dict):
            out.append((v["type"], v.get("source", ""), v["target"]))
            continue
        source, _, rest = v.partition(":")
        target = rest.split(":")[0] if rest else source
        if not rest:
            out.append(("volume", "", source))  # anonymous volume
        elif source.startswith((".", "/", "~")):
            out.append(("bind", source, target))
        else:
            out.append(("volume", source, target))
    return out


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(compose().get("volumes") or {})
    used: set[str] = set()
    for name in services():
        for kind, source, target in _mounts(name):
            if kind == "volume":
                assert source, f"{name}: anonymous volume at {target}; name it and declare it"
                assert source in declared, f"{name}: volume {source} is not declared under top-level volumes"
                used.add(source)
            elif kind == "bind":
                assert (ROOT / source).exists(), f"{name}: bind mount source {source} does not exist"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"


def test_data_lives_on_named_volumes() -> None:
    kafka_mounts = {t: s for k, s, t in _mounts("kafka") if k == "volume"}
    assert env_of("kafka")["KAFKA_LOG_DIRS"] in kafka_mounts, "Kafka's log.dirs must be on a named volume"
    es_mounts = {t: s for k, s, t in _mounts("elasticsearch") if k == "volume"}
    assert ES_DATA_DIR in es_mounts, "Elasticsearch data must be on a named volume"


def test_every_variable_has_a_default_or_is_in_env_example() -> None:
    documented = env_example()
    refs = [r for doc in (raw_compose(), raw_overlay()) for text in walk_strings(doc) for r in var_refs(text)]
    assert refs, "expected ${VAR} references (passwords come from .env)"
    missing = sorted({r.name for r in refs if not r.has_default and r.name not in documented})
    assert not missing, f"referenced without a default and missing from .env.example: {missing}"
    unused = sorted(set(documented) - {r.name for r in refs} - COMPOSE_BUILTIN_VARS)
    assert not unused, f".env.example documents variables docker-compose.yml never uses: {unused}"
    # ... and the documented values really work (interpolation raises on anything missing).
    compose()
    sasl_compose()


KAFKA_PASSWORDS = ("KAFKA_KEYSTORE_PASSWORD", "KAFKA_BROKER_PASSWORD", "KAFKA_SETUP_PASSWORD", "KAFKA_INGEST_PASSWORD",
                   "KAFKA_ENRICH_PASSWORD", "KAFKA_INDEX_PASSWORD", "KAFKA_ALERTS_PASSWORD")


def test_secrets_come_from_env_without_defaults_in_compose() -> None:
    for var in ("ELASTIC_PASSWORD", "KIBANA_SYSTEM_PASSWORD", "KIBANA_ENCRYPTION_KEY", *KAFKA_PASSWORDS):
        refs = [r for doc in (raw_compose(), raw_overlay()) for text in walk_strings(doc) for r in var_refs(text)
                if r.name == var]
        assert refs, f"{var} is not used"
        assert all(r.op in (":?", "?") for r in refs), f"{var} must be required (${{{var}:?...}}), never defaulted"
        assert env_example().get(var), f"{var} needs a documented placeholder in .env.example"
    assert len(env_example()["KIBANA_ENCRYPTION_KEY"]) >= 32, "Kibana encryption keys need 32+ characters"
    with pytest.raises(MissingVariable, match="ELASTIC_PASSWORD"):
        interpolate(raw_compose(), {k: v for k, v in env_example().items() if k != "ELASTIC_PASSWORD"})


def test_long_running_services_have_healthchecks_and_restart_policies() -> None:
    for name, svc in services().items():
        if is_one_shot(name):
            continue
        assert restart_of(name) in ("always", "unless-stopped"), f"{name}: restart policy {restart_of(name)!r}"
        hc = svc.get("healthcheck")
        assert hc and not hc.get("disable"), f"{name}: long-running service without a healthcheck"
        test = hc["test"]
        assert (test[0] if isinstance(test, list) else test) != "NONE", f"{name}: healthcheck disabled"


def test_only_kibana_and_elasticsearch_publish_ports_on_loopback() -> None:
    for name, svc in services().items():
        ports = svc.get("ports") or []
        if name not in ("kibana", "elasticsearch"):
            assert not ports, f"{name} must not publish ports"
        for p in ports:
            host_ip = p.get("host_ip") if isinstance(p, dict) else (p.split(":")[0] if p.count(":") == 2 else None)
            assert host_ip == "127.0.0.1", f"{name}: port {p} must be bound to 127.0.0.1"
    assert services()["kibana"].get("ports"), "Kibana must be reachable on 127.0.0.1"


# ---------------------------------------------------------------------- BrandPulse services
@functools.cache
def parser_help() -> str:
    return cli.build_parser().format_help()


def _parse(argv: list[str]) -> Any:
    try:
        return cli.build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse reports the problem on stderr
        raise AssertionError(f"`brandpulse {' '.join(argv)}` is not a valid command line") from exc


def _entrypoint(name: str) -> list[str]:
    entry = services()[name].get("entrypoint")
    if entry is None:
        return ["brandpulse"]  # the image's ENTRYPOINT (checked in test_dockerfile_*)
    return entry if isinstance(entry, list) else shlex.split(entry)


def test_workers_run_real_subcommands() -> None:
    for stage in WORKERS:
        assert stage in services(), f"missing worker service {stage}"
        svc = services()[stage]
        assert "build" in svc, f"{stage} must be built from the project's Dockerfile"
        assert _entrypoint(stage) == ["brandpulse"], f"{stage}: keep the image's entrypoint"
        command = svc["command"]
        assert isinstance(command, list), f"{stage}: use the exec (list) form of command"
        assert re.search(rf"^\s+{re.escape(command[0])}\s", parser_help(), re.MULTILINE), (
            f"{stage}: `{command[0]}` is not listed by `brandpulse --help`"
        )
        args = _parse(command)
        assert args.command == stage and args.worker_stage == stage  # the stage's own worker command
    for name in built_services():
        if not is_one_shot(name):
            assert name in WORKERS, f"{name}: long-running service from the BrandPulse image that is not a worker"


def setup_steps() -> list[list[str]]:
    svc = services()["setup"]
    entry = _entrypoint("setup")
    command = svc["command"]
    if entry == ["brandpulse"]:
        return [["brandpulse", *command]]
    assert entry[0] in ("/bin/sh", "sh") and entry[1].startswith("-") and "e" in entry[1] and entry[1].endswith("c"), (
        f"setup: a shell entrypoint must stop at the first failing step (sh -ec), got {entry}"
    )
    assert isinstance(command, list) and len(command) == 1, "setup: the command is one script"
    steps = []
    for line in command[0].splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            steps.append(shlex.split(line))
    return steps


def test_setup_job_runs_real_steps_after_kafka_and_elasticsearch() -> None:
    assert "build" in services()["setup"]
    assert is_one_shot("setup"), "setup is a one-shot job: restart 'no' or 'on-failure'"
    steps = setup_steps()
    assert steps and steps[0] == ["brandpulse", "setup"], steps
    for step in steps:
        assert step[0] == "brandpulse", f"setup step {step} must be a brandpulse subcommand"
        assert not {"||", "|", ";", "&"} & set(step), f"setup step {step}: one command per line, no failure hiding"
        _parse(step[1:])
    deps = depends_on("setup")
    assert deps.get("kafka") == "service_healthy" and deps.get("elasticsearch") == "service_healthy", deps
    if any(step[1:2] == ["kibana"] for step in steps):
        assert deps.get("kibana") == "service_healthy", "the Kibana import needs Kibana healthy first"


def test_workers_wait_for_setup_to_complete_successfully() -> None:
    for stage in WORKERS:
        deps = depends_on(stage)
        assert deps.get("setup") == "service_completed_successfully", f"{stage}: {deps}"
        assert deps.get("kafka") == "service_healthy", f"{stage}: {deps}"
    assert depends_on("index").get("elasticsearch") == "service_healthy"


@functools.cache
def _runtime_files() -> Path:
    return Path(tempfile.mkdtemp(prefix="compose-runtime-"))


def container_settings(name: str, doc: dict[str, Any] | None = None) -> Settings:
    """The settings a BrandPulse container would load: the mounted config + its environment.

    A ``..._FILE`` secret on a named volume is written there at run time (the setup job's API
    keys); a placeholder stands in for it, so the loader still checks the variable and its key.
    """
    env = env_of(name, doc)
    volume_targets = [target for kind, _source, target in _mounts(name, doc) if kind == "volume"]
    for key, value in list(env.items()):
        if key.endswith("_FILE") and any(Path(value).is_relative_to(t) for t in volume_targets):
            stand_in = _runtime_files() / name / key
            stand_in.parent.mkdir(parents=True, exist_ok=True)
            stand_in.write_text(f"placeholder-for-{value}")
            env[key] = str(stand_in)
    container_path = Path(env.pop("BRANDPULSE_CONFIG"))
    for kind, source, target in _mounts(name, doc):
        if kind == "bind" and container_path.is_relative_to(target):
            host_path = ROOT / source / container_path.relative_to(target)
            break
    else:
        pytest.fail(f"{name}: {container_path} is not inside a mounted config directory")
    for key in env:
        if key.startswith("BRANDPULSE_") and "__" in key:
            section = key.removeprefix("BRANDPULSE_").partition("__")[0].lower()
            assert section in ENV_SECTIONS, f"{name}: {key} names no settings section (ignored by the loader)"
    return load_settings(host_path, environ=env)


def test_worker_environment_is_valid_and_points_at_the_compose_services() -> None:
    kafka_env = env_of("kafka")
    advertised = {urlish.split("://")[1] for urlish in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    es_password = env_of("elasticsearch")["ELASTIC_PASSWORD"]
    for name in built_services():
        s = container_settings(name)  # raises ConfigError on an unknown key or a bad value
        for server in s.kafka.bootstrap_servers.split(","):
            assert server in advertised, f"{name}: {server} is not an advertised Kafka listener {advertised}"
            assert server.split(":")[0] in services()
        for url in s.elasticsearch.url.split(","):
            assert re.fullmatch(r"https?://elasticsearch:9200/?", url.strip()), f"{name}: {url}"
        es = s.elasticsearch
        if name in SUPERUSER_JOBS:
            assert es.username == "elastic" and es.api_key is None
            assert es.password is not None and es.password.get_secret_value() == es_password
        else:
            assert es.username is None and es.password is None, f"{name} must not get the elastic password"
            if name in ES_KEY_ROLES:
                assert es.api_key is not None, f"{name}: needs its role's API key"
            else:
                assert es.api_key is None, f"{name} does not use Elasticsearch: no credential at all"
        all_interfaces = "0.0.0.0"  # noqa: S104 - inside the container, so other services can scrape it
        assert s.workers.metrics_host == all_interfaces, f"{name}: /metrics must listen on all interfaces"
    assert "BRANDPULSE_ELASTICSEARCH__PASSWORD" not in raw_compose()["x-brandpulse"]["environment"]


def test_only_the_one_shot_jobs_and_elasticsearch_see_the_elastic_password() -> None:
    for name in services():
        refs = {r.name for text in walk_strings(raw_compose()["services"][name]) for r in var_refs(text)}
        if "ELASTIC_PASSWORD" in refs:
            assert name in (*SUPERUSER_JOBS, "elasticsearch"), f"{name} gets the elastic superuser password"
    for name in SUPERUSER_JOBS:
        assert is_one_shot(name), f"{name} holds the superuser password, so it must not keep running"


def _es_key_dir() -> str:
    """Where the setup job writes the keys (its `brandpulse es-keys --dir DIR` step)."""
    steps = [step for step in setup_steps() if step[1:2] == ["es-keys"]]
    assert len(steps) == 1, "the setup job must run `brandpulse es-keys --dir DIR` once"
    args = _parse(steps[0][1:])
    return str(args.dir)


def test_each_es_worker_reads_its_own_key_from_its_own_read_only_volume() -> None:
    from index.apikeys import KEY_FILE, ROLES

    assert set(ROLES) == set(ES_KEY_ROLES)
    key_dir = Path(_es_key_dir())
    setup_mounts = {target: (source, kind) for kind, source, target in _mounts("setup")}
    key_volumes: dict[str, str] = {}
    for role in ROLES:
        target = str(key_dir / role)
        assert target in setup_mounts and setup_mounts[target][1] == "volume", f"setup does not mount {target}"
        key_volumes[role] = setup_mounts[target][0]
        assert env_of(role)["BRANDPULSE_ELASTICSEARCH__API_KEY_FILE"] == f"{target}/{KEY_FILE}"
        raw = [v for v in raw_compose()["services"][role]["volumes"] if isinstance(v, str) and target in v]
        assert raw == [f"{key_volumes[role]}:{target}:ro"], f"{role}: mount its key read-only: {raw}"
    assert len(set(key_volumes.values())) == len(ROLES), "one volume per role"
    for name in services():
        for kind, source, _target in _mounts(name):
            owner = [role for role, volume in key_volumes.items() if volume == source]
            if kind == "volume" and owner:
                assert name in ("setup", owner[0]), f"{name} mounts {source}, {owner[0]}'s API key"


def test_the_image_owns_the_mount_points_the_setup_job_writes() -> None:
    """A new named volume takes the owner of the image directory it is mounted on: without it,
    the non-root setup job could not write the keys."""
    final = dockerfile_stages()[-1]
    user = [rest for op, rest in final.instructions if op == "USER"][-1].split(":")[0]
    runs = " ".join(rest for op, rest in final.instructions if op == "RUN")
    key_dir = _es_key_dir()
    assert f"chown -R {user}:{user} /run/brandpulse" in runs and key_dir.startswith("/run/brandpulse/")
    for role in ES_KEY_ROLES:
        assert f"{key_dir}/{role}" in runs, f"the image must create {key_dir}/{role}"


def test_worker_healthchecks_probe_their_own_healthz_with_python() -> None:
    for stage in WORKERS:
        test = services()[stage]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], f"{stage}: use python (the slim image has no curl): {test}"
        compile(test[3], f"{stage}-healthcheck", "exec")
        port = getattr(container_settings(stage).workers, f"{stage}_metrics_port")
        assert port, f"{stage}: metrics endpoint disabled, nothing to probe"
        assert f"http://127.0.0.1:{port}/healthz" in test[3], f"{stage}: must probe port {port}: {test}"


def test_replicas_are_scalable_within_the_partition_count() -> None:
    for stage in SCALABLE:
        assert "replicas" in (services()[stage].get("deploy") or {}), f"{stage}: set deploy.replicas"
    for stage in WORKERS:
        replicas = int((services()[stage].get("deploy") or {}).get("replicas", 1))
        partitions = container_settings(stage).topics.partitions
        assert 1 <= replicas <= partitions, f"{stage}: {replicas} replicas for {partitions} partitions"
        if stage not in SCALABLE:
            assert replicas == 1, f"{stage} must run as a single replica"
        assert "container_name" not in services()[stage], f"{stage}: container_name prevents scaling"


def test_kibana_uses_kibana_system_whose_password_a_one_shot_sets() -> None:
    kibana = raw_env_of("kibana")
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert [r.name for r in var_refs(kibana["ELASTICSEARCH_PASSWORD"])] == ["KIBANA_SYSTEM_PASSWORD"]
    setter = raw_env_of("kibana-password")
    assert [r.name for r in var_refs(setter["KIBANA_SYSTEM_PASSWORD"])] == ["KIBANA_SYSTEM_PASSWORD"]
    assert is_one_shot("kibana-password")
    assert depends_on("kibana-password") == {"elasticsearch": "service_healthy"}
    assert depends_on("kibana").get("kibana-password") == "service_completed_successfully"
    entry, command = _entrypoint("kibana-password"), services()["kibana-password"]["command"]
    assert entry == ["python", "-c"] and len(command) == 1
    code = command[0]
    tree = ast.parse(code)  # the script is valid Python ...
    for node in ast.walk(tree):  # ... and everything it imports exists
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"kibana-password imports missing {node.module}.{alias.name}"
    assert "change_password" in code and "kibana_system" in code
    from elasticsearch import Elasticsearch

    assert hasattr(Elasticsearch("http://elasticsearch:9200").security, "change_password")


def test_elasticsearch_and_kibana_run_with_security_on() -> None:
    es = env_of("elasticsearch")
    assert es["xpack.security.enabled"] == "true"
    assert es["discovery.type"] == "single-node"
    assert [r.name for r in var_refs(raw_env_of("elasticsearch")["ELASTIC_PASSWORD"])] == ["ELASTIC_PASSWORD"]
    kibana = env_of("kibana")
    assert kibana["ELASTICSEARCH_HOSTS"] == "http://elasticsearch:9200"
    assert len(kibana["XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY"]) >= 32


# ---------------------------------------------------------------------- the SASL/TLS overlay
KAFKA_USERS = ("setup", "ingest", "enrich", "index", "alerts")  # every BrandPulse service that talks to Kafka


def test_sasl_overlay_matches_the_compose_specification() -> None:
    errors = schema_errors(sasl_compose())
    assert not errors, "docker-compose.yml + docker-compose.sasl.yml:\n" + "\n".join(errors)
    others = jsonschema_errors(sasl_compose())
    if others is not None:
        assert not others, "jsonschema: " + "\n".join(others)
    new = set(raw_overlay()["services"]) - set(raw_compose()["services"])
    assert new == {"kafka-certs"} and is_one_shot("kafka-certs", sasl_compose())


def test_merge_rules_are_compose_s() -> None:
    """The merge the overlay tests rely on: mappings merge, mounts by target, commands replaced."""
    base = {"services": {"a": {"command": ["x"], "volumes": ["v1:/a", "v2:/b"], "environment": {"K": "1"},
                               "cap_drop": ["ALL"]}}}
    over = {"services": {"a": {"command": ["y"], "volumes": ["v3:/b:ro"], "environment": {"L": "2"},
                               "cap_drop": ["ALL"]}}}
    assert merge_compose(base, over) == {"services": {"a": {
        "command": ["y"], "volumes": ["v1:/a", "v3:/b:ro"], "environment": {"K": "1", "L": "2"}, "cap_drop": ["ALL"]}}}


def test_sasl_overlay_leaves_no_plaintext_listener_reachable() -> None:
    env = env_of("kafka", sasl_compose())
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    protocols = dict(item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    for name, address in listeners.items():
        if protocols[name] in ("PLAINTEXT", "SASL_PLAINTEXT"):
            assert address.startswith(("127.0.0.1:", "localhost:")), f"{name} ({protocols[name]}) on {address}"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "SASL_SSL://kafka:9092"
    assert protocols[env["KAFKA_INTER_BROKER_LISTENER_NAME"]] == "SASL_SSL"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "PLAIN" and env["KAFKA_SSL_CLIENT_AUTH"] == "none"
    assert "broker_jaas.conf" in env["KAFKA_OPTS"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@" + listeners["CONTROLLER"]
    assert depends_on("kafka", sasl_compose()) == {"kafka-certs": "service_completed_successfully"}
    test = services(sasl_compose())["kafka"]["healthcheck"]["test"][1]
    assert "--command-config /etc/kafka/secrets/client.properties" in test


def _certs_script() -> str:
    command = services(sasl_compose())["kafka-certs"]["command"]
    assert isinstance(command, list) and len(command) == 1
    return str(command[0])


def test_sasl_overlay_gives_every_kafka_client_its_own_user_and_pins_the_ca() -> None:
    doc = sasl_compose()
    script = _certs_script()
    ca_written = re.search(r"install -m 0644 cert\.pem (\S+)", script)
    assert ca_written, "kafka-certs must publish the certificate"
    ca_volume = next(source for kind, source, target in _mounts("kafka-certs", doc)
                     if kind == "volume" and ca_written.group(1).startswith(target + "/"))
    raw_overlay_services = raw_overlay()["services"]
    passwords: set[str] = set()
    for name in KAFKA_USERS:
        s = container_settings(name, doc)
        k = s.kafka
        assert (k.security_protocol, k.sasl_mechanism, k.sasl_username) == ("SASL_SSL", "PLAIN", name), name
        assert k.ssl_cafile is not None
        mount = [(source, target) for kind, source, target in _mounts(name, doc)
                 if kind == "volume" and k.ssl_cafile.startswith(target + "/")]
        assert mount and mount[0][0] == ca_volume, f"{name}: {k.ssl_cafile} is not on the {ca_volume} volume"
        raw_volumes = raw_overlay_services[name]["volumes"]
        assert f"{ca_volume}:{mount[0][1]}:ro" in raw_volumes, f"{name}: mount the CA read-only"
        refs = var_refs(raw_overlay_services[name]["environment"]["BRANDPULSE_KAFKA__SASL_PASSWORD"])
        assert [r.op for r in refs] == [":?"], f"{name}: its Kafka password must be required from .env"
        passwords.add(refs[0].name)
        # the broker knows this user, with this password
        assert f'user_{name}="$${refs[0].name}"' in raw_overlay()["services"]["kafka-certs"]["command"][0]
    assert len(passwords) == len(KAFKA_USERS), "one password per service"
    # the certificate names the host the clients connect to (hostname checking stays on)
    bootstrap = {server.split(":")[0] for name in KAFKA_USERS
                 for server in container_settings(name, doc).kafka.bootstrap_servers.split(",")}
    for host in bootstrap:
        assert f"dns:{host}" in script, f"the broker certificate does not name {host}"
    # the secrets volume (key pair, JAAS file) is the broker's and the certs job's only
    for name in services(doc):
        if name not in ("kafka", "kafka-certs"):
            assert "kafka-secrets" not in {source for _kind, source, _t in _mounts(name, doc)}, name


def test_sasl_overlay_clients_are_real_settings_for_kafka_python() -> None:
    from brandpulse.kafkaio import client_kwargs

    kw = client_kwargs(container_settings("ingest", sasl_compose()).kafka, "ingest")
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "PLAIN"
    assert kw["sasl_plain_username"] == "ingest" and kw["sasl_plain_password"] == env_example()["KAFKA_INGEST_PASSWORD"]
    assert kw["ssl_cafile"] == "/run/brandpulse/kafka-ca/ca.pem"


# ---------------------------------------------------------------------- versions + local stack parity
def _pom(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 - the project's own pom


def pom_kafka_version() -> str:
    node = _pom(ROOT / "stack" / "kafka" / "pom.xml").find("m:properties/m:kafka.version", POM_NS)
    assert node is not None and node.text
    return node.text.strip()


def pom_es_version() -> str:
    for dep in _pom(ROOT / "stack" / "elasticsearch" / "pom.xml").iterfind("m:dependencies/m:dependency", POM_NS):
        if dep.findtext("m:artifactId", namespaces=POM_NS) == "elasticsearch":
            version = dep.findtext("m:version", namespaces=POM_NS)
            assert version
            return version.strip()
    raise AssertionError("no elasticsearch dependency in stack/elasticsearch/pom.xml")


def test_image_versions_follow_the_poms() -> None:
    kafka_version, es_version = pom_kafka_version(), pom_es_version()
    assert (kafka_version, es_version) == (stack.kafka_version(), stack.es_version())
    assert services()["kafka"]["image"] == f"{KAFKA_IMAGE}:{kafka_version}"
    assert services()["elasticsearch"]["image"] == f"{ES_IMAGE}:{es_version}"
    assert services()["kibana"]["image"] == f"{KIBANA_IMAGE}:{es_version}"
    for name, svc in services(sasl_compose()).items():
        image = svc.get("image", "")
        if image.startswith((ES_IMAGE + ":", KIBANA_IMAGE + ":", KAFKA_IMAGE + ":")):
            expected = kafka_version if image.startswith(KAFKA_IMAGE) else es_version
            assert image.rsplit(":", 1)[1] == expected, f"{name}: {image}"


def test_python_client_major_matches_elasticsearch() -> None:
    client_major = importlib.metadata.version("elasticsearch").split(".")[0]
    assert client_major == pom_es_version().split(".")[0]


def _properties(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


# Host- and address-specific Kafka settings that legitimately differ from the local stack.
KAFKA_LOCAL_ONLY = {"listeners", "advertised.listeners", "controller.quorum.voters", "log.dirs"}


def test_kafka_settings_match_the_local_stack(tmp_path: Path) -> None:
    local = _properties(stack._write_kafka_conf(tmp_path, StackSettings()) / "server.properties")
    env = env_of("kafka")
    in_compose = {k.removeprefix("KAFKA_").lower().replace("_", "."): v for k, v in env.items()
                  if k.startswith("KAFKA_") and k != "KAFKA_HEAP_OPTS"}
    for key, value in local.items():
        if key in KAFKA_LOCAL_ONLY:
            continue
        assert key in in_compose, f"kafka: the local stack sets {key}={value}; set KAFKA_{key.upper().replace('.', '_')}"
        if key == "listener.security.protocol.map":
            assert set(in_compose[key].split(",")) == set(value.split(",")), key
        else:
            assert in_compose[key] == value, f"kafka: {key} is {in_compose[key]!r} here, {value!r} locally"
    assert in_compose["auto.create.topics.enable"] == "false"
    heap = StackSettings().kafka_heap
    assert env["KAFKA_HEAP_OPTS"].split() == [f"-Xms{heap}", f"-Xmx{heap}"]
    assert env.get("CLUSTER_ID"), "KRaft needs a CLUSTER_ID to format the data volume"


def test_elasticsearch_settings_match_the_local_stack(tmp_path: Path) -> None:
    fake_home = tmp_path / "es-home"
    (fake_home / "config").mkdir(parents=True)
    conf = stack._write_es_conf(tmp_path / "root", fake_home, StackSettings())
    local = dict(
        (k.strip(), v.strip()) for k, _, v in
        (line.partition(":") for line in (conf / "elasticsearch.yml").read_text().splitlines()
         if line.strip() and not line.startswith("#"))
    )
    env = env_of("elasticsearch")
    assert env["discovery.type"] == local["discovery.type"]
    assert env["cluster.name"].startswith("brandpulse") and local["cluster.name"].startswith("brandpulse")
    heap = StackSettings().es_heap
    assert env["ES_JAVA_OPTS"].split() == [f"-Xms{heap}", f"-Xmx{heap}"]


# ====================================================================== Dockerfile + .dockerignore
@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]]


def dockerfile_stages() -> list[Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        elif op == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name, []))
        else:
            assert stages, f"Dockerfile: {op} before the first FROM"
            stages[-1].instructions.append((op, rest))
    return stages


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "the Dockerfile must be multi-stage (builder + runtime)"
    final = stages[-1]
    assert final.base.startswith("python:3.11-slim"), final.base
    users = [rest for op, rest in final.instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"final stage runs as {users or 'root'}"
    ops = dict(final.instructions)  # last wins
    assert json.loads(ops["ENTRYPOINT"]) == ["brandpulse"]
    assert json.loads(ops["CMD"]) == ["--help"]
    copies = [rest for op, rest in final.instructions if op == "COPY"]
    assert any(c.startswith("--from=") for c in copies), "the runtime stage copies the built venv"
    runs = " ".join(rest for op, rest in final.instructions if op == "RUN")
    assert "pip install" not in runs, "install in the builder stage; the runtime only copies the venv"


def test_dockerfile_installs_with_the_lock_as_constraints_and_no_dev_extras() -> None:
    builder_runs = [rest for stage in dockerfile_stages()[:-1] for op, rest in stage.instructions if op == "RUN"]
    installs = [r for r in builder_runs if "pip install" in r]
    assert installs, "the builder stage must pip install the project"
    assert any(re.search(r"pip install (?:.* )?-c \S+ \.(?:\s|$)", r) for r in installs), installs
    assert any("requirements.lock" in r for r in builder_runs), "constraints must come from requirements.lock"
    for run in installs:
        assert "[dev]" not in run and not re.search(r"\s(?:-e|--editable)\s", run), f"no dev extras/editable: {run}"


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rx = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                rx, i = rx + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                rx, i = rx + ".*", i + 2
            elif pattern[i] == "*":
                rx, i = rx + "[^/]*", i + 1
            elif pattern[i] == "?":
                rx, i = rx + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                rx, i = rx + pattern[i : end + 1], end + 1
            else:
                rx, i = rx + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(rx + r"\Z")))
    return rules


def in_build_context(path: str) -> bool:
    """Docker's .dockerignore semantics: the last matching rule wins; a rule matching a parent
    directory matches everything below it."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    included = True
    for negate, rx in _dockerignore_rules():
        if any(rx.match(c) for c in candidates):
            included = negate
    return included


def test_dockerignore_keeps_secrets_and_junk_out_of_the_build_context() -> None:
    for path in (".env", ".git/config", ".venv/bin/python", "tests/unit/test_compose.py",
                 "brandpulse/__pycache__/cli.cpython-311.pyc", ".mypy_cache/x.json", "docs/DEPLOY.md"):
        assert not in_build_context(path), f"{path} must not be sent to the Docker daemon"
    for path in ("pyproject.toml", "requirements.lock", "README.md", "app/cli.py", "brandpulse/settings.py",
                 "config/brandpulse.yaml", "enrich/lexicons/en.tsv", "index/templates.py"):
        assert in_build_context(path), f"{path} is needed by the image build"
    # every package the wheel is built from is in the context and copied into the builder
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {shlex.split(rest)[0] for stage in dockerfile_stages() for op, rest in stage.instructions
              if op == "COPY" and not rest.startswith("--from=")}
    for package in (pat.rstrip("*") for pat in patterns):
        assert in_build_context(f"{package}/__init__.py"), f"package {package} is excluded by .dockerignore"
        assert package in copied, f"the Dockerfile does not copy package {package}"
    for stage in dockerfile_stages():
        for op, rest in stage.instructions:
            if op == "COPY" and not rest.startswith("--from="):
                for source in shlex.split(rest)[:-1]:
                    if not source.startswith("--"):
                        assert in_build_context(source), f"Dockerfile copies {source}, excluded by .dockerignore"
                        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


# ====================================================================== docs + the real compose CLI
def test_deploy_guide_covers_every_service_and_variable() -> None:
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    assert SASL_OVERLAY.name in doc, "docs/DEPLOY.md does not describe the SASL/TLS overlay"
    for name in services(sasl_compose()):
        assert f"`{name}`" in doc, f"docs/DEPLOY.md does not describe the {name} service"
    for var in env_example():
        assert var in doc, f"docs/DEPLOY.md does not mention {var}"


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_cli_accepts_the_file() -> None:
    tool = _compose_cli()
    if tool is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed; the schema test above still ran")
    proc = subprocess.run(
        [*tool, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, f"{' '.join(tool)} config failed:\n{proc.stdout}{proc.stderr}"
