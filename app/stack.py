"""The local, Docker-free stack: Kafka (KRaft, one node) and Elasticsearch on 127.0.0.1.

Both come from Maven Central through ``mvn`` (see ``stack/*/pom.xml``) and are cached outside
the repository. ``up`` is idempotent, ``down`` stops only the processes ``up`` started (their
pid files and command lines are checked), and data is wiped only when asked (``--wipe``).

Layout of the stack directory (``stack.dir``, ``$BRANDPULSE_STACK_DIR``, else
``/var/cache/brandpulse`` for root — Elasticsearch then runs as ``nobody``, which cannot
enter ``/root`` — or ``$XDG_CACHE_HOME/brandpulse`` for other users)::

    dist/kafka-<v>/lib/*.jar          dist/elasticsearch-<v>/   (cache; kept)
    data/kafka/  data/elasticsearch/                           (wiped on request)
    run/*.pid  logs/*.log  conf/
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from brandpulse.settings import StackSettings

REPO_STACK = Path(__file__).resolve().parent.parent / "stack"


class StackError(RuntimeError):
    """The local stack cannot be provisioned, started or reached; the message says what to do."""


def _pom_version(pom: Path, pattern: str) -> str:
    """The poms under stack/ are the single source of the versions (docker-compose.yml is
    checked against them by tests/unit/test_compose.py). Read lazily: an installed image has
    no stack/ directory and never runs the local stack."""
    try:
        m = re.search(pattern, pom.read_text())
    except OSError as exc:
        raise StackError(f"{pom} not found: the local stack runs from a source checkout") from exc
    if not m:
        raise StackError(f"no version in {pom}")
    return m.group(1)


def kafka_version() -> str:
    return _pom_version(REPO_STACK / "kafka" / "pom.xml", r"<kafka.version>([^<]+)</kafka.version>")


def es_version() -> str:
    return _pom_version(REPO_STACK / "elasticsearch" / "pom.xml", r"<version>(\d+\.\d+\.\d+)</version>")
NOBODY = 65534
MIN_JAVA = 17


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    healthy: bool
    detail: str


def stack_dir(settings: StackSettings) -> Path:
    if settings.dir:
        return Path(settings.dir).expanduser()
    if os.environ.get("BRANDPULSE_STACK_DIR"):
        return Path(os.environ["BRANDPULSE_STACK_DIR"]).expanduser()
    if os.geteuid() == 0:
        return Path("/var/cache/brandpulse")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "brandpulse"


def _say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


# ---------------------------------------------------------------- prerequisites
def find_java(min_version: int = MIN_JAVA) -> Path:
    """JAVA_HOME (or BRANDPULSE_JAVA_HOME), else ``java`` on PATH; must be >= 17."""
    candidates: list[Path] = []
    for var in ("BRANDPULSE_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            candidates.append(Path(os.environ[var]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve())
    for java in candidates:
        if not java.exists():
            continue
        version = java_major_version(java)
        if version is not None and version >= min_version:
            return java.parent.parent
    raise StackError(
        f"Java {min_version}+ not found (looked at $BRANDPULSE_JAVA_HOME, $JAVA_HOME and PATH). "
        "Install a JDK, e.g. `apt-get install openjdk-17-jdk-headless`, or set JAVA_HOME."
    )


def java_major_version(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError(
            "Maven (`mvn`) not found on PATH; it fetches Kafka and Elasticsearch from Maven Central. "
            "Install it, e.g. `apt-get install maven`."
        )
    return mvn


def _mvn(args: list[str], java_home: Path, log: Path) -> None:
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    with log.open("ab") as fh:
        proc = subprocess.run([find_maven(), "-B", "-q", *args], stdout=fh, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise StackError("mvn failed (" + " ".join(args[:2]) + "):\n    " + "\n    ".join(tail))


# ---------------------------------------------------------------- provisioning
def provision(root: Path, java_home: Path) -> tuple[Path, Path]:
    """Fetch (once) and unpack Kafka and Elasticsearch into ``root/dist``; return their homes."""
    dist = root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    mvn_log = root / "logs" / "mvn.log"

    kafka_home = dist / f"kafka-{kafka_version()}"
    if not (kafka_home / ".complete").exists():
        _say(f"fetching Kafka {kafka_version()} jars from Maven Central (first run only)")
        tmp = dist / f".kafka-{kafka_version()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        _mvn(
            [
                "-f", str(REPO_STACK / "kafka" / "pom.xml"),
                "dependency:copy-dependencies", "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp / 'lib'}",
            ],
            java_home,
            mvn_log,
        )
        shutil.rmtree(kafka_home, ignore_errors=True)
        tmp.rename(kafka_home)
        (kafka_home / ".complete").write_text(kafka_version())

    es_home = dist / f"elasticsearch-{es_version()}"
    if not (es_home / ".complete").exists():
        _say(f"fetching Elasticsearch {es_version()} (integ-test-zip) from Maven Central (first run only)")
        tmp = dist / ".es-download"
        shutil.rmtree(tmp, ignore_errors=True)
        _mvn(
            ["-f", str(REPO_STACK / "elasticsearch" / "pom.xml"), "dependency:copy-dependencies",
             f"-DoutputDirectory={tmp}"],
            java_home,
            mvn_log,
        )
        archive = next(tmp.glob("*.zip"))
        unpack = dist / ".es-unpack"
        shutil.rmtree(unpack, ignore_errors=True)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpack)
        inner = next(unpack.iterdir())
        for script in (inner / "bin").iterdir():
            script.chmod(0o755)
        shutil.rmtree(es_home, ignore_errors=True)
        inner.rename(es_home)
        shutil.rmtree(unpack, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        (es_home / ".complete").write_text(es_version())
    return kafka_home, es_home


# ---------------------------------------------------------------- processes
def _pidfile(root: Path, name: str) -> Path:
    return root / "run" / f"{name}.pid"


def _marker(root: Path, name: str) -> str:
    """A string only our own process has on its command line, so `down` never kills a stranger."""
    return str(root / "conf" / name)


def _running_pid(root: Path, name: str) -> int | None:
    pf = _pidfile(root, name)
    try:
        pid = int(pf.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if _marker(root, name) in cmdline else None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _spawn(root: Path, name: str, argv: list[str], env: dict[str, str], as_nobody: bool) -> int:
    log = root / "logs" / f"{name}.out"
    if as_nobody:
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, cwd=root,
        )
    _pidfile(root, name).parent.mkdir(parents=True, exist_ok=True)
    _pidfile(root, name).write_text(str(proc.pid))
    return proc.pid


def _wait(check: Callable[[], bool], what: str, timeout: float, pid_alive: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + timeout
    gone = 0
    while time.monotonic() < deadline:
        if check():
            return
        # Three misses in a row: a launcher that is mid-exec (Elasticsearch's shell script
        # becoming its Java CLI) briefly shows an empty /proc/<pid>/cmdline.
        gone = 0 if pid_alive() else gone + 1
        if gone >= 3:
            tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
            raise StackError(f"{what} exited during start-up; last lines of {log}:\n    " + "\n    ".join(tail))
        time.sleep(0.5)
    raise StackError(f"{what} did not become healthy within {timeout:.0f}s; see {log}")


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid``, it never starts with ``-``: the storage tool's
    argument parser would read such an id as an option (``--cluster-id: expected one
    argument``), which failed one fresh ``stack up`` in 64.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _write_kafka_conf(root: Path, s: StackSettings) -> Path:
    conf = root / "conf" / "kafka"
    conf.mkdir(parents=True, exist_ok=True)
    data = root / "data" / "kafka"
    props = f"""# written by brandpulse stack up; mirrors the kafka service in docker-compose.yml
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}
listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=6
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.enable=true
"""
    (conf / "server.properties").write_text(props)
    (conf / "log4j2.yaml").write_text(
        (REPO_STACK / "kafka" / "log4j2.yaml").read_text().replace("@LOGDIR@", str(root / "logs"))
    )
    return conf


def _write_es_conf(root: Path, es_home: Path, s: StackSettings) -> Path:
    conf = root / "conf" / "elasticsearch"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(es_home / "config", conf)
    (conf / "elasticsearch.yml").write_text(
        "# written by brandpulse stack up; mirrors the elasticsearch service in docker-compose.yml\n"
        "cluster.name: brandpulse-local\n"
        "node.name: local-1\n"
        "network.host: 127.0.0.1\n"
        f"http.port: {s.es_port}\n"
        f"transport.port: {s.es_transport_port}\n"
        "discovery.type: single-node\n"
        f"path.data: {root / 'data' / 'elasticsearch'}\n"
        f"path.logs: {root / 'logs' / 'elasticsearch'}\n"
        # Loopback-only development node; docker-compose.yml runs with security on.
        "xpack.security.enabled: false\n"
        "action.destructive_requires_name: false\n"
    )
    return conf


def kafka_healthy(port: int) -> bool:
    if not _port_open(port):
        return False
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=5000)
        try:
            admin.list_topics()
        finally:
            admin.close()
        return True
    except Exception:
        return False


def es_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=5
        ) as resp:
            return bool(json.load(resp).get("status") in ("green", "yellow"))
    except (OSError, urllib.error.URLError, ValueError):
        return False


def up(s: StackSettings, *, wipe: bool = False, timeout: float = 180.0) -> float:
    """Provision and start both services (no-op for the ones already running); returns seconds taken."""
    t0 = time.monotonic()
    root = stack_dir(s)
    java_home = find_java()
    if wipe:
        down(s, wipe=True)
    root.mkdir(parents=True, exist_ok=True)
    kafka_home, es_home = provision(root, java_home)
    as_nobody = os.geteuid() == 0
    for sub in ("data/kafka", "data/elasticsearch", "logs/elasticsearch", "run", "conf", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)

    started: list[tuple[str, Callable[[], bool], Callable[[], bool], Path]] = []
    # Kafka
    if _running_pid(root, "kafka") is None:
        if _port_open(s.kafka_port):
            raise StackError(
                f"port {s.kafka_port} is in use by another process; set stack.kafka_port / "
                "BRANDPULSE_STACK__KAFKA_PORT (and kafka.bootstrap_servers) to a free port"
            )
        conf = _write_kafka_conf(root, s)
        java = str(java_home / "bin" / "java")
        cp = str(kafka_home / "lib" / "*")
        log4j = f"-Dlog4j2.configurationFile={conf / 'log4j2.yaml'}"
        if not (root / "data" / "kafka" / "meta.properties").exists():
            cluster_id = new_cluster_id()
            fmt = subprocess.run(
                [java, "-cp", cp, log4j, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                 "-c", str(conf / "server.properties")],
                capture_output=True, text=True, timeout=120,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {fmt.stderr.strip() or fmt.stdout.strip()}")
        env = {**os.environ, "JAVA_HOME": str(java_home)}
        pid = _spawn(
            root, "kafka",
            [java, f"-Xms{s.kafka_heap}", f"-Xmx{s.kafka_heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
             "-Djava.awt.headless=true", log4j, f"-Dbrandpulse.conf={_marker(root, 'kafka')}",
             "-cp", cp, "kafka.Kafka", str(conf / "server.properties")],
            env, as_nobody=False,
        )
        _say(f"Kafka {kafka_version()} starting on 127.0.0.1:{s.kafka_port} (pid {pid})")
        started.append(("Kafka", lambda: kafka_healthy(s.kafka_port), lambda: _running_pid(root, "kafka") is not None,
                        root / "logs" / "kafka.out"))
    # Elasticsearch
    if _running_pid(root, "elasticsearch") is None:
        if _port_open(s.es_port):
            raise StackError(
                f"port {s.es_port} is in use by another process; set stack.es_port / "
                "BRANDPULSE_STACK__ES_PORT (and elasticsearch.url) to a free port"
            )
        conf = _write_es_conf(root, es_home, s)
        if as_nobody:
            for sub in ("data/elasticsearch", "logs/elasticsearch", "conf/elasticsearch", "tmp"):
                _chown_tree(root / sub, NOBODY)
            for p in (root, root / "data", root / "logs", root / "conf"):
                p.chmod(0o755)
            _make_readable(es_home)
        env = {
            **os.environ,
            "ES_JAVA_HOME": str(java_home),
            "ES_PATH_CONF": str(conf),
            "ES_TMPDIR": str(root / "tmp"),
            # -D marker lets `down` recognise our process; heap sized for a 2-core/24 GiB box.
            "ES_JAVA_OPTS": f"-Xms{s.es_heap} -Xmx{s.es_heap} -Dbrandpulse.conf={_marker(root, 'elasticsearch')}",
        }
        pid = _spawn(
            root, "elasticsearch",
            [str(es_home / "bin" / "elasticsearch"), "-E", f"node.attr.brandpulse_conf={_marker(root, 'elasticsearch')}"],
            env, as_nobody=as_nobody,
        )
        _say(f"Elasticsearch {es_version()} starting on 127.0.0.1:{s.es_port} (pid {pid})")
        started.append(("Elasticsearch", lambda: es_healthy(s.es_port),
                        lambda: _running_pid(root, "elasticsearch") is not None, root / "logs" / "elasticsearch.out"))
    for what, check, alive, log in started:
        _wait(check, what, timeout, alive, log)
        _say(f"{what} healthy")
    if not started:
        _say("already running")
    return time.monotonic() - t0


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), uid, uid, follow_symlinks=False)


def _make_readable(path: Path) -> None:
    path.chmod(path.stat().st_mode | 0o055)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames:
            p = Path(dirpath, n)
            p.chmod(p.stat().st_mode | 0o055)
        for n in filenames:
            p = Path(dirpath, n)
            p.chmod(p.stat().st_mode | 0o044)


def _stop(root: Path, name: str, timeout: float = 60.0) -> bool:
    pid = _running_pid(root, name)
    if pid is None:
        _pidfile(root, name).unlink(missing_ok=True)
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.3)
    if _group_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    _pidfile(root, name).unlink(missing_ok=True)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies of our own children count as gone
    try:
        state = Path(f"/proc/{pgid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def stop_service(s: StackSettings, name: str) -> bool:
    """Stop one service (``kafka`` or ``elasticsearch``); used by outage tests."""
    return _stop(stack_dir(s), name)


def down(s: StackSettings, *, wipe: bool = False) -> None:
    root = stack_dir(s)
    for name in ("elasticsearch", "kafka"):
        if _stop(root, name):
            _say(f"stopped {name}")
    if wipe:
        for sub in ("data", "conf", "tmp"):
            shutil.rmtree(root / sub, ignore_errors=True)
        _say(f"wiped data under {root / 'data'}")


def status(s: StackSettings) -> list[ServiceStatus]:
    root = stack_dir(s)
    out = []
    kpid = _running_pid(root, "kafka")
    out.append(ServiceStatus("kafka", kpid is not None, kpid, kafka_healthy(s.kafka_port),
                             f"127.0.0.1:{s.kafka_port} Kafka {kafka_version()}"))
    epid = _running_pid(root, "elasticsearch")
    out.append(ServiceStatus("elasticsearch", epid is not None, epid, es_healthy(s.es_port),
                             f"http://127.0.0.1:{s.es_port} Elasticsearch {es_version()}"))
    return out
