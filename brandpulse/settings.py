"""Settings, declared once: type, default, environment variable and a one-line description.

Every connection setting can be overridden from the environment as
``BRANDPULSE_<SECTION>__<KEY>`` (e.g. ``BRANDPULSE_KAFKA__BOOTSTRAP_SERVERS``), and secrets can
be read from a file with ``..._FILE`` (e.g. ``BRANDPULSE_ELASTICSEARCH__PASSWORD_FILE``), the
Docker-secrets convention. ``brandpulse config check`` validates a file and prints the result.

>>> s = Settings.model_validate({"brands": [{"name": "Acme"}]})
>>> s.kafka.bootstrap_servers
'127.0.0.1:19092'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from brandpulse.errors import OnMalformed

ENV_PREFIX = "BRANDPULSE_"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "brandpulse.yaml"


class ConfigError(Exception):
    """A configuration problem, phrased as: file, key, what is wrong, how to fix it."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {key}: {msg}" for key, msg in problems]
        super().__init__("invalid configuration\n  " + "\n  ".join(lines))


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str = Field("127.0.0.1:19092", description="host:port[,host:port] of the brokers")
    client_id: str = Field("brandpulse", description="client id prefix sent to the brokers")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how clients talk to the brokers"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when security_protocol is SASL_*"
    )
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(None, description="SASL password (or use ..._FILE)")
    ssl_cafile: str | None = Field(None, description="CA bundle for SSL listeners")
    compression: Literal["gzip", "lz4", "zstd", "snappy", "none"] = Field(
        "gzip", description="producer compression (gzip needs no extra Python package)"
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (self.sasl_mechanism and self.sasl_username):
            raise ValueError("SASL needs sasl_mechanism and sasl_username (and sasl_password)")
        return self


class TopicSettings(_Section):
    raw: str = Field("brandpulse.mentions.raw", description="mentions as ingested, one record per brand")
    enriched: str = Field("brandpulse.mentions.enriched", description="mentions with the enrichment block")
    alerts: str = Field("brandpulse.alerts", description="alert events")
    dead_letter: str = Field("brandpulse.deadletter", description="records a stage could not process")
    state: str = Field("brandpulse.state", description="compacted: feed cursors and detector checkpoints")
    partitions: int = Field(6, ge=1, le=1000, description="partitions per data topic (max parallel consumers)")
    replication_factor: int = Field(1, ge=1, le=10, description="replicas per partition (1 for one broker)")
    retention_hours: int = Field(168, ge=1, description="how long data topics keep records")
    dead_letter_retention_hours: int = Field(720, ge=1, description="how long dead letters are kept")


class ElasticsearchSettings(_Section):
    url: str = Field("http://127.0.0.1:19200", description="Elasticsearch HTTP endpoint(s), comma-separated")
    username: str | None = Field(None, description="basic-auth user (compose: only the setup jobs use elastic; workers get API keys)")
    password: SecretStr | None = Field(None, description="basic-auth password (or use ..._FILE)")
    api_key: SecretStr | None = Field(None, description="API key instead of user/password")
    ca_certs: str | None = Field(None, description="CA bundle for https")
    verify_certs: bool = Field(True, description="verify TLS certificates")
    index_prefix: str = Field("brandpulse", description="prefix of every index, alias and template")
    request_timeout: float = Field(30.0, gt=0, description="seconds per request")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        for part in v.split(","):
            if not part.strip().startswith(("http://", "https://")):
                raise ValueError(f"{part.strip()!r} must start with http:// or https://")
        return v


class BrandSettings(_Section):
    name: str = Field(min_length=1, description="display name; also the Kafka key and ES keyword")
    query: str | None = Field(None, description="boolean query (see ingest/QUERY.md)")
    aliases: tuple[str, ...] = Field((), description="alternative spellings, any script")
    exclude_terms: tuple[str, ...] = Field((), description="a mention with any of these is dropped")
    exclude_authors: tuple[str, ...] = Field((), description="handles whose mentions are dropped")
    languages: tuple[str, ...] = Field((), description="ISO 639-1 allow-list; empty = all")


class CompetitorGroup(_Section):
    """A set of brands compared side by side (share of voice in the digest and in Kibana)."""

    name: str = Field(min_length=1, description="the group's name, e.g. 'Airlines'")
    brands: tuple[str, ...] = Field(min_length=2, description="names of configured brands")


class FeedSettings(BaseModel):
    """One feed. Keys other than the four below are the connector's own options (ingest/FEEDS.md)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="unique feed name")
    kind: str = Field(min_length=1, description="connector: rss, replay, reddit, mastodon, ...")
    interval_seconds: float = Field(300.0, gt=0, description="seconds between polls")
    jitter_seconds: float = Field(5.0, ge=0, description="random delay added to each poll")
    enabled: bool = Field(True, description="set false to keep a feed configured but idle")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class KibanaSettings(_Section):
    url: str = Field("http://127.0.0.1:5601", description="Kibana base URL for `brandpulse kibana import`")
    username: str | None = Field(None, description="Kibana/Elasticsearch user (compose: elastic)")
    password: SecretStr | None = Field(None, description="its password (or use ..._FILE)")
    api_key: SecretStr | None = Field(None, description="API key instead of user/password")
    space: str | None = Field(None, description="Kibana space to import into (default space if unset)")
    verify_certs: bool = Field(True, description="verify TLS certificates")
    wait_seconds: float = Field(180.0, ge=0, description="how long to wait for Kibana to become available")


class EnrichSettings(_Section):
    batch_size: int = Field(256, ge=1, le=10_000, description="records per enrichment batch")
    languages: tuple[str, ...] | None = Field(
        None, description="languages language ID may answer (unset: every language the sentiment model "
                          "knows; [] = any of the identifier's 176)"
    )
    on_malformed: OnMalformed = Field(
        "dead_letter", description="a raw record that cannot be read: dead_letter, skip (log and count) or fail (stop)"
    )
    stories: bool = Field(True, description="group reposts, copies and same-link posts into stories (enrichment.story_id)")
    story_budget: int = Field(
        40_000, ge=1_000, description="live stories kept per enrich process, shared between brands (~4 KB each)"
    )


class IndexSettings(_Section):
    batch_size: int = Field(500, ge=1, le=50_000, description="documents per bulk request")
    flush_seconds: float = Field(
        0.25, ge=0, description="a partial batch waits at most this long for more records before the bulk request (0: never)"
    )
    granularity: Literal["day", "week", "month"] = Field(
        "month", description="one mentions index per period of created_at"
    )
    retention_days: int = Field(400, ge=1, description="indices older than this are deleted")
    maintenance_interval_seconds: float = Field(
        3600.0, ge=0, description="index worker: retention + next index pre-created this often, and at start (0: off)"
    )
    on_malformed: OnMalformed = Field(
        "dead_letter", description="a record that cannot be indexed (unreadable, or rejected by Elasticsearch): "
                                   "dead_letter, skip (log and count) or fail (stop the worker)"
    )


class AlertSettings(_Section):
    sensitivity: Literal["fewer", "balanced", "more"] = Field("balanced", description="spike detector preset")
    bucket_seconds: int = Field(300, ge=10, description="event-time bucket of the spike detector")
    min_negative: int | None = Field(None, ge=1, description="fewest negatives that may alert (preset if unset)")
    allowed_lateness_seconds: int = Field(600, ge=0, description="how late a mention may arrive and still count")
    cooldown_seconds: int = Field(3600, ge=0, description="quiet time after an alert resolves before a new one")
    resolve_after_seconds: int = Field(600, ge=1, description="quiet time after a spike before its alert resolves")
    idle_tick_seconds: float = Field(
        5.0, ge=0, description="after this long without records, a caught-up partition's clock follows the wall clock (0: off)"
    )
    warmup_hours: float | None = Field(None, ge=0, description="history a brand needs before it may alert (1 day)")
    per: tuple[Literal["lang", "source"], ...] = Field(
        (), description="also watch brand×language and/or brand×source series"
    )
    console: bool = Field(True, description="print alerts to standard output")
    kibana_url: str | None = Field(None, description="base URL for the Kibana link in each alert")
    chart_url: str | None = Field(
        None, description="public base URL of the alert worker's HTTP port: Slack, Teams and webhooks get a signed "
                          "link to each alert's chart (alerts/CHANNELS.md); unset: only email carries the chart"
    )
    chart_secret: dict[str, str] | None = Field(
        None, description="HMAC key of the chart links, {env: VAR} or {file: path}; required with chart_url"
    )
    chart_link_hours: float = Field(168.0, gt=0, description="how long a chart link stays valid")
    channels: tuple[dict[str, Any], ...] = Field((), description="Slack, Teams, webhook, email (alerts/CHANNELS.md)")
    routes: tuple[dict[str, Any], ...] = Field((), description="which alerts go to which channels")
    digest: Literal["none", "hourly", "daily"] = Field("none", description="send a summary of each closed hour or UTC day")
    digest_channels: tuple[str, ...] = Field(
        (), description="channels that get the digest (empty: every enabled channel)"
    )
    on_malformed: OnMalformed = Field(
        "dead_letter", description="an enriched record that cannot be read: dead_letter, skip (log and count) or fail (stop)"
    )


class WorkerSettings(_Section):
    log_format: Literal["text", "json"] = Field("text", description="json for log shippers")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    metrics_host: str = Field("127.0.0.1", description="bind address of /metrics and /healthz")
    ingest_metrics_port: int = Field(9101, ge=0, le=65535, description="0 disables the endpoint")
    enrich_metrics_port: int = Field(9102, ge=0, le=65535, description="0 disables the endpoint")
    index_metrics_port: int = Field(9103, ge=0, le=65535, description="0 disables the endpoint")
    alerts_metrics_port: int = Field(9104, ge=0, le=65535, description="0 disables the endpoint")
    group_prefix: str = Field("brandpulse", description="consumer group id prefix")
    enrich_processes: int | None = Field(
        None, ge=1, le=256, description="`brandpulse run`: enrich processes in one consumer group (unset: half the cores)"
    )
    index_processes: int = Field(1, ge=1, le=256, description="`brandpulse run`: index processes in one consumer group")


class StackSettings(_Section):
    """The local, Docker-free stack started by ``brandpulse stack up``."""

    dir: str | None = Field(None, description="cache + data directory (default: see README)")
    kafka_port: int = Field(19092, ge=1, le=65535, description="Kafka client port on 127.0.0.1")
    kafka_controller_port: int = Field(19093, ge=1, le=65535, description="KRaft controller port")
    kafka_heap: str = Field("512m", pattern=r"^\d+[mg]$", description="Kafka JVM heap")
    es_port: int = Field(19200, ge=1, le=65535, description="Elasticsearch HTTP port on 127.0.0.1")
    es_transport_port: int = Field(19300, ge=1, le=65535, description="Elasticsearch transport port")
    es_heap: str = Field("1g", pattern=r"^\d+[mg]$", description="Elasticsearch JVM heap")


class Settings(_Section):
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    brands: tuple[BrandSettings, ...] = Field(min_length=1)
    feeds: tuple[FeedSettings, ...] = ()
    competitors: tuple[CompetitorGroup, ...] = ()
    kibana: KibanaSettings = KibanaSettings()
    enrich: EnrichSettings = EnrichSettings()
    index: IndexSettings = IndexSettings()
    alerts: AlertSettings = AlertSettings()
    workers: WorkerSettings = WorkerSettings()
    stack: StackSettings = StackSettings()
    base_dir: str = Field(".", description="directory relative paths are resolved from (set by loader)")

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for what, names in (("brands", [b.name for b in self.brands]), ("feeds", [f.name for f in self.feeds]),
                            ("competitors", [g.name for g in self.competitors])):
            seen: set[str] = set()
            for i, n in enumerate(names):
                if n.casefold() in seen:
                    raise ValueError(f"{what}[{i}].name {n!r} is used twice; names must be unique")
                seen.add(n.casefold())
        known = {b.name for b in self.brands}
        for i, group in enumerate(self.competitors):
            for j, brand in enumerate(group.brands):
                if brand not in known:
                    raise ValueError(f"competitors[{i}].brands[{j}] {brand!r} is not a configured brand "
                                     f"(brands: {', '.join(sorted(known))}); use a brand's name exactly")
        return self

    def brand_groups(self) -> dict[str, tuple[str, ...]]:
        """brand -> the competitor groups it is in (share of voice)."""
        out: dict[str, list[str]] = {}
        for group in self.competitors:
            for brand in group.brands:
                out.setdefault(brand, []).append(group.name)
        return {brand: tuple(names) for brand, names in out.items()}


ENV_SECTIONS = ("kafka", "topics", "elasticsearch", "kibana", "enrich", "index", "alerts", "workers", "stack")


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in ENV_SECTIONS:
            continue
        if key.endswith("_file"):
            key = key[: -len("_file")]
            try:
                value = Path(value).read_text().strip()
            except OSError as exc:
                raise ConfigError(name, [(f"{section}.{key}", f"cannot read secret file {value}: {exc}")]) from exc
        target = out.setdefault(section, {})
        if not isinstance(target, dict):
            continue
        target[key] = value
    return out


def _loc(err: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for p in err["loc"]:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]" if parts else f"[{p}]"]
        elif p in ("function-after", "function-before"):
            continue
        else:
            parts.append(str(p))
    return ".".join(parts) or "<top level>"


_FIXES = {
    "extra_forbidden": "remove it or check its spelling (see the README's configuration reference)",
    "missing": "add it",
}


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted key, message + fix) for each error pydantic found."""
    problems = []
    for err in exc.errors():
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        fix = _FIXES.get(err["type"])
        if "input" in err and err["type"] not in ("missing", "extra_forbidden") and not isinstance(
            err["input"], dict | list
        ):
            msg += f" (got {err['input']!r})"
        problems.append((_loc(err), msg + (f"; {fix}" if fix else "")))
    return problems


# A check of what a stage owns in the settings (its plug-ins' options, its queries): it returns
# (dotted key, message) problems, which the loader reports with the file name like its own.
Check = Callable[["Settings"], list[tuple[str, str]]]


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  checks: Sequence[Check] = ()) -> Settings:
    """Load, merge environment overrides, validate, then run the stages' ``checks``.

    The application passes every stage's check (``app.config.load_config``), so a bad feed option
    or brand query is a ``ConfigError`` naming the file and key before any worker starts.
    """
    env = os.environ if environ is None else environ
    cfg_path = Path(path or env.get("BRANDPULSE_CONFIG") or DEFAULT_CONFIG)
    shown = str(cfg_path)
    try:
        text = cfg_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(shown, [("<file>", "not found; pass --config PATH or set BRANDPULSE_CONFIG")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, [("<file>", f"cannot read: {exc}")]) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        raise ConfigError(shown, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise ConfigError(shown, [("<top level>", "expected a mapping of sections (kafka:, brands:, ...)")])
    data = _include(data, cfg_path.parent, shown)
    data = _apply_env(data, env)
    data["base_dir"] = str(cfg_path.parent.resolve())
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(shown, validation_problems(exc)) from None
    problems = [problem for check in checks for problem in check(settings)]
    if problems:
        raise ConfigError(shown, problems)
    return settings


def _include(data: dict[str, Any], base: Path, shown: str) -> dict[str, Any]:
    """``include: [other.yaml]`` merges lists (brands, feeds) and sections from sibling files."""
    includes = data.pop("include", None) or []
    if isinstance(includes, str):
        includes = [includes]
    for inc in includes:
        try:
            extra = yaml.safe_load((base / inc).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(shown, [("include", f"cannot load {inc}: {exc}")]) from None
        for key, value in extra.items():
            if isinstance(value, list):
                data[key] = [*(data.get(key) or []), *value]
            elif isinstance(value, dict):
                data[key] = {**value, **(data.get(key) or {})}
            else:
                data.setdefault(key, value)
    return data


def reference_markdown() -> str:
    """The configuration reference table of the README, generated from the models above."""
    rows = ["| key | type | default | env override | description |", "|---|---|---|---|---|"]
    for section, model in Settings.model_fields.items():
        sub = model.annotation
        if section in ENV_SECTIONS and isinstance(sub, type) and issubclass(sub, BaseModel):
            for key, field in sub.model_fields.items():
                default = field.default
                shown = "—" if default is None else f"`{default}`"
                typ = _type_name(field.annotation)
                env = f"`{ENV_PREFIX}{section.upper()}__{key.upper()}`"
                rows.append(f"| `{section}.{key}` | {typ} | {shown} | {env} | {field.description or ''} |")
    rows.append("| `brands[]` | list | — | — | name, query, aliases, exclude_terms, exclude_authors, languages |")
    rows.append("| `feeds[]` | list | — | — | name, kind, interval_seconds, jitter_seconds, enabled + the "
                "connector's options (ingest/FEEDS.md) |")
    rows.append("| `competitors[]` | list | — | — | name, brands: brands compared side by side (share of voice in "
                "the digest and Kibana) |")
    return "\n".join(rows)


def _type_name(annotation: Any) -> str:
    from typing import get_args, get_origin

    if get_origin(annotation) is Literal:
        return " / ".join(str(a) for a in get_args(annotation))
    args = get_args(annotation)
    if args and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner) + " (optional)"
    if args:
        return str(annotation).replace("typing.", "").replace("|", "or")
    return getattr(annotation, "__name__", str(annotation))
