"""Starts, watches and stops the local Kafka broker and schema registry on loopback.

State lives in ``<state_dir>/run``: ``stack.json`` (pids and ports), the broker's data and
both logs. ``up`` is idempotent: a stack that already answers is left alone.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from backbone.clients import Endpoints
from backbone.settings import Settings
from backbone.stack import processes
from backbone.stack.errors import NO_STACK_HINT, StackError
from backbone.stack.install import install, is_installed, kafka_lib, registry_jar
from backbone.stack.postgres import LocalPostgres

KAFKA_MARKER = "kafka.Kafka"
REGISTRY_MARKER = "quarkus-run.jar"
KAFKA_MIN_JAVA = 17
# Apicurio Registry 3.3 is compiled for Java 21 (class file 65).
REGISTRY_MIN_JAVA = 21
CCOMPAT_PATH = "/apis/ccompat/v7"

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


@dataclass(frozen=True)
class ComponentStatus:
    """One process of the stack as ``status`` reports it."""

    name: str
    pid: int | None
    running: bool
    answering: bool
    address: str
    log: Path


@dataclass(frozen=True)
class _Ports:
    kafka: int
    controller: int
    registry: int
    registry_management: int


@dataclass(frozen=True)
class _State:
    """What ``up`` recorded in stack.json."""

    ports: _Ports
    kafka_pid: int
    registry_pid: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> _State:
        raw = json.loads(text)
        return cls(_Ports(**raw["ports"]), int(raw["kafka_pid"]), int(raw["registry_pid"]))


class LocalStack:
    """The local stack described by ``settings`` (ports, state and lib folders, Java)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_dir = settings.state_dir.resolve() / "run"
        self.lib_dir = settings.resolved_lib_dir.resolve()

    # -- public -----------------------------------------------------------------------------

    def up(self) -> Endpoints:
        """Start whatever is not running yet and wait until both answer."""
        state = self._read_state()
        if state is not None and self._all_answering(state):
            return _endpoints(state.ports)
        if state is not None:
            self._stop_recorded(state)
        if not is_installed(self.lib_dir):
            install(self.lib_dir)
        ports = self._choose_ports()
        kafka_java = processes.find_java(KAFKA_MIN_JAVA, "Kafka", self.settings.java_home)
        registry_java = processes.find_java(
            REGISTRY_MIN_JAVA, "Apicurio Registry 3.3", self.settings.java_home
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        kafka_pid = self._start_kafka(kafka_java, ports)
        registry_pid = self._start_registry(registry_java, ports)
        state = _State(ports, kafka_pid, registry_pid)
        (self.run_dir / "stack.json").write_text(state.to_json())
        try:
            self._wait_until_answering(state)
        except StackError:
            self.down()
            raise
        return _endpoints(ports)

    def down(self) -> list[str]:
        """Stop both processes (SIGTERM, then SIGKILL), and PostgreSQL if ``up --with-postgres``
        started it; the names of those that had to be killed."""
        postgres_killed = LocalPostgres(self.run_dir).down(self.settings.stack_stop_timeout_s)
        state = self._read_state()
        if state is None:
            return ["postgres"] if postgres_killed else []
        killed = self._stop_recorded(state) + (["postgres"] if postgres_killed else [])
        (self.run_dir / "stack.json").unlink(missing_ok=True)
        return killed

    def running_endpoints(self) -> Endpoints | None:
        """The endpoints of this stack when both processes run, without probing the network."""
        state = self._read_state()
        if state is None:
            return None
        running = processes.is_running(state.kafka_pid, KAFKA_MARKER) and processes.is_running(
            state.registry_pid, REGISTRY_MARKER
        )
        return _endpoints(state.ports) if running else None

    def status(self) -> list[ComponentStatus]:
        state = self._read_state()
        endpoints = _endpoints(state.ports) if state else None
        kafka_pid = state.kafka_pid if state else None
        registry_pid = state.registry_pid if state else None
        kafka_running = kafka_pid is not None and processes.is_running(kafka_pid, KAFKA_MARKER)
        registry_running = registry_pid is not None and processes.is_running(
            registry_pid, REGISTRY_MARKER
        )
        return [
            ComponentStatus(
                "kafka",
                kafka_pid,
                kafka_running,
                kafka_running and endpoints is not None and _kafka_answers(endpoints),
                endpoints.bootstrap_servers if endpoints else "-",
                self.run_dir / "kafka" / "logs" / "server.log",
            ),
            ComponentStatus(
                "schema-registry",
                registry_pid,
                registry_running,
                registry_running and endpoints is not None and _registry_answers(endpoints),
                endpoints.registry_url if endpoints else "-",
                self.run_dir / "registry.log",
            ),
        ]

    # -- starting ---------------------------------------------------------------------------

    def _choose_ports(self) -> _Ports:
        s = self.settings
        chosen = [
            processes.free_port() if port == 0 else port
            for port in (s.kafka_port, s.controller_port, s.registry_port,
                         s.registry_management_port)
        ]
        ports = _Ports(*chosen)
        processes.require_free_ports(
            {
                "Kafka": ports.kafka,
                "KRaft controller": ports.controller,
                "schema registry": ports.registry,
                "registry management": ports.registry_management,
            }
        )
        return ports

    def _start_kafka(self, java: processes.Java, ports: _Ports) -> int:
        home = self.run_dir / "kafka"
        data = home / "data"
        (home / "logs").mkdir(parents=True, exist_ok=True)
        properties = home / "server.properties"
        properties.write_text(_server_properties(ports, data))
        log_config = home / "log4j2.properties"
        log_config.write_text(LOG4J2)
        classpath = f"{kafka_lib(self.lib_dir)}/*"
        if not (data / "meta.properties").is_file():
            # Formatted once; later starts reuse the data (topics survive down/up).
            result = run_java(
                [str(java.executable), "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool",
                 "format", "-t", cluster_id(), "-c", str(properties)]
            )
            if result:
                raise StackError(f"formatting Kafka storage in {data} failed:\n{result}")
        return processes.spawn(
            [
                str(java.executable),
                "-Xms256m",
                "-Xmx512m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={home / 'logs'}",
                f"-Dlog4j2.configurationFile={log_config}",
                "-cp",
                classpath,
                KAFKA_MARKER,
                str(properties),
            ],
            home / "kafka.out",
        )

    def _start_registry(self, java: processes.Java, ports: _Ports) -> int:
        storage = self.run_dir / "registry"
        storage.mkdir(parents=True, exist_ok=True)
        return processes.spawn(
            [
                str(java.executable),
                "-Xmx384m",
                "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
                "-Dquarkus.http.host=127.0.0.1",
                f"-Dquarkus.http.port={ports.registry}",
                "-Dquarkus.management.host=127.0.0.1",
                f"-Dquarkus.management.port={ports.registry_management}",
                # H2 on disk rather than in memory: schema ids must outlive a restart, or the
                # events already in Kafka could no longer be decoded.
                f"-Dapicurio.datasource.url=jdbc:h2:file:{storage / 'registry'}",
                "-jar",
                str(registry_jar(self.lib_dir)),
            ],
            self.run_dir / "registry.log",
        )

    def _wait_until_answering(self, state: _State) -> None:
        endpoints = _endpoints(state.ports)
        deadline = time.monotonic() + self.settings.stack_start_timeout_s
        checks: dict[str, tuple[int, str, Callable[[Endpoints], bool], Path]] = {
            "kafka": (state.kafka_pid, KAFKA_MARKER, _kafka_answers,
                      self.run_dir / "kafka" / "kafka.out"),
            "schema-registry": (state.registry_pid, REGISTRY_MARKER, _registry_answers,
                                self.run_dir / "registry.log"),
        }
        waiting = set(checks)
        while waiting:
            for name in sorted(waiting):
                pid, marker, answers, log = checks[name]
                if not processes.is_running(pid, marker):
                    raise StackError(
                        f"{name} exited during start-up; last lines of {log}:\n"
                        f"{processes.tail(log)}"
                    )
                if answers(endpoints):
                    waiting.discard(name)
            if waiting and time.monotonic() > deadline:
                raise StackError(
                    f"{', '.join(sorted(waiting))} did not answer within "
                    f"{self.settings.stack_start_timeout_s:.0f}s (BACKBONE_STACK_START_TIMEOUT_S); "
                    f"see {self.run_dir}. {NO_STACK_HINT}"
                )
            if waiting:
                time.sleep(0.5)

    # -- state ------------------------------------------------------------------------------

    def _all_answering(self, state: _State) -> bool:
        endpoints = _endpoints(state.ports)
        return (
            processes.is_running(state.kafka_pid, KAFKA_MARKER)
            and processes.is_running(state.registry_pid, REGISTRY_MARKER)
            and _kafka_answers(endpoints)
            and _registry_answers(endpoints)
        )

    def _stop_recorded(self, state: _State) -> list[str]:
        timeout = self.settings.stack_stop_timeout_s
        killed = []
        for name, pid, marker in (
            ("schema-registry", state.registry_pid, REGISTRY_MARKER),
            ("kafka", state.kafka_pid, KAFKA_MARKER),
        ):
            if processes.stop(pid, marker, timeout):
                killed.append(name)
        return killed

    def _read_state(self) -> _State | None:
        try:
            return _State.from_json((self.run_dir / "stack.json").read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _endpoints(ports: _Ports) -> Endpoints:
    return Endpoints(
        f"127.0.0.1:{ports.kafka}", f"http://127.0.0.1:{ports.registry}{CCOMPAT_PATH}"
    )


def _server_properties(ports: _Ports, data: Path) -> str:
    return f"""\
# Written by `backbone stack up`: one KRaft node, broker and controller, loopback only.
process.roles=broker,controller
node.id=1
# A static voter set, so the stack can come back on other ports over the same data.
controller.quorum.voters=1@127.0.0.1:{ports.controller}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:{ports.kafka},CONTROLLER://127.0.0.1:{ports.controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{ports.kafka}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests and the demo start consumers often; waiting 3s for more members only slows them.
group.initial.rebalance.delay.ms=0
# Topics come from the catalog (`backbone topics apply`); a typo must not create one.
auto.create.topics.enable=false
"""


def cluster_id() -> str:
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            return candidate


def run_java(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    return "" if result.returncode == 0 else (result.stdout + result.stderr)[-3000:]


def _kafka_answers(endpoints: Endpoints) -> bool:
    from confluent_kafka.admin import AdminClient

    # librdkafka logs every refused connection; while starting up those are expected.
    quiet = logging.getLogger("backbone.stack.probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient({**endpoints.kafka.admin(), "logger": quiet})
    try:
        admin.list_topics(timeout=2)
    except Exception:
        return False
    return True


def _registry_answers(endpoints: Endpoints) -> bool:
    try:
        return httpx.get(f"{endpoints.registry_url}/subjects", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
