"""Starts, watches and stops the local Kafka (one node, or a KRaft cluster of several) and
the schema registry on loopback.

State lives in ``<state_dir>/run``: ``stack.json`` (pids and ports), the brokers' data and the
logs; a single node in ``kafka/``, the nodes of a cluster in ``cluster/kafka-<id>/`` (so the
two never share data). Node ``i`` of a cluster listens on the client and controller ports
plus ``2 * (i - 1)``. ``up`` is idempotent: a stack that already answers is left alone.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from backbone.clients import Endpoints, KafkaClients
from backbone.durability import durability_for
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
class KafkaNode:
    """One Kafka process of the stack: a KRaft node that is broker and controller."""

    node_id: int
    port: int
    controller_port: int
    pid: int
    # where the node listens when that is not ``port``: a TCP proxy in front of it owns
    # ``port``, which the node advertises (network-fault tests); 0: the node listens on port
    listen_port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class _State:
    """What ``up`` recorded in stack.json (``kafka_pid``: node 1, as scripts read it)."""

    ports: _Ports
    kafka_pid: int
    registry_pid: int
    nodes: tuple[KafkaNode, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> _State:
        raw = json.loads(text)
        ports = _Ports(**raw["ports"])
        kafka_pid = int(raw["kafka_pid"])
        nodes = tuple(KafkaNode(**node) for node in raw.get("nodes", ())) or (
            KafkaNode(1, ports.kafka, ports.controller, kafka_pid),)
        return cls(ports, kafka_pid, int(raw["registry_pid"]), nodes)

    def with_node(self, node: KafkaNode) -> _State:
        nodes = tuple(node if n.node_id == node.node_id else n for n in self.nodes)
        return _State(self.ports, nodes[0].pid, self.registry_pid, nodes)


class LocalStack:
    """The local stack described by ``settings`` (ports, state and lib folders, Java)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_dir = settings.state_dir.resolve() / "run"
        self.lib_dir = settings.resolved_lib_dir.resolve()

    # -- public -----------------------------------------------------------------------------

    def up(self, brokers: int | None = None, listen_ports: Sequence[int] = ()) -> Endpoints:
        """Start whatever is not running yet and wait until everything answers; ``brokers``
        Kafka nodes (default BACKBONE_KAFKA_BROKERS). With ``listen_ports`` node i listens
        there and advertises its usual port, where a proxy forwarding to it must listen."""
        brokers = brokers or self.settings.kafka_brokers
        if brokers < 1:
            raise StackError(f"--brokers must be at least 1, got {brokers}")
        state = self._read_state()
        if state is not None and len(state.nodes) != brokers and self._any_running(state):
            raise StackError(
                f"the local stack runs {len(state.nodes)} Kafka node(s), not {brokers}: "
                f"`backbone stack down` first, then `backbone stack up --brokers {brokers}`")
        if state is not None and self._all_answering(state):
            return _endpoints(state)
        if state is not None:
            self._stop_recorded(state)
        if not is_installed(self.lib_dir):
            install(self.lib_dir)
        ports, node_ports = self._choose_ports(brokers, listen_ports)
        kafka_java = processes.find_java(KAFKA_MIN_JAVA, "Kafka", self.settings.java_home)
        registry_java = processes.find_java(
            REGISTRY_MIN_JAVA, "Apicurio Registry 3.3", self.settings.java_home
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{i}@127.0.0.1:{controller}"
                          for i, (_, controller) in enumerate(node_ports, start=1))
        nodes = tuple(
            KafkaNode(i, port, controller, 0, listen_ports[i - 1] if listen_ports else 0)
            for i, (port, controller) in enumerate(node_ports, start=1))
        nodes = tuple(KafkaNode(n.node_id, n.port, n.controller_port,
                                self._start_kafka(kafka_java, n, voters, brokers),
                                n.listen_port)
                      for n in nodes)
        registry_pid = self._start_registry(registry_java, ports)
        state = _State(ports, nodes[0].pid, registry_pid, nodes)
        self._write_state(state)
        try:
            self._wait_until_answering(state)
        except StackError:
            self.down()
            raise
        return _endpoints(state)

    def nodes(self) -> tuple[KafkaNode, ...]:
        """The Kafka nodes ``up`` started (pids as recorded; some may have been killed)."""
        state = self._read_state()
        return state.nodes if state is not None else ()

    def start_node(self, node_id: int) -> KafkaNode:
        """Start one node again (after a crash or a kill) on its data; waits until the whole
        cluster answers. A node that still runs is left alone."""
        state = self._read_state()
        if state is None:
            raise StackError(f"no local stack is recorded in {self.run_dir}. {NO_STACK_HINT}")
        node = next((n for n in state.nodes if n.node_id == node_id), None)
        if node is None:
            raise StackError(f"the local stack has no Kafka node {node_id} "
                             f"(nodes: {', '.join(str(n.node_id) for n in state.nodes)})")
        if not processes.is_running(node.pid, KAFKA_MARKER):
            java = processes.find_java(KAFKA_MIN_JAVA, "Kafka", self.settings.java_home)
            home = self._node_home(node.node_id, len(state.nodes))
            if node.pid and not processes.wait_gone(node.pid, self.settings.stack_stop_timeout_s):
                raise StackError(f"kafka-{node.node_id} (pid {node.pid}) has not exited yet: "
                                 "its ports and data directory are still held")
            node = dataclasses.replace(node, pid=self._spawn_kafka(java, home))
            state = state.with_node(node)
            self._write_state(state)
        self._wait_until_answering(state)
        return node

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
        """The endpoints of this stack when its processes run, without probing the network
        (a cluster with one node down still counts: it serves)."""
        state = self._read_state()
        if state is None:
            return None
        running = any(processes.is_running(n.pid, KAFKA_MARKER) for n in state.nodes) and \
            processes.is_running(state.registry_pid, REGISTRY_MARKER)
        return _endpoints(state) if running else None

    def status(self) -> list[ComponentStatus]:
        state = self._read_state()
        endpoints = _endpoints(state) if state else None
        registry_pid = state.registry_pid if state else None
        registry_running = registry_pid is not None and processes.is_running(
            registry_pid, REGISTRY_MARKER
        )
        nodes = state.nodes if state else (KafkaNode(1, 0, 0, 0),)
        kafka = []
        for node in nodes:
            running = state is not None and processes.is_running(node.pid, KAFKA_MARKER)
            kafka.append(ComponentStatus(
                "kafka" if len(nodes) == 1 else f"kafka-{node.node_id}",
                node.pid or None,
                running,
                running and _node_answers(node.address),
                node.address if state else "-",
                self._node_home(node.node_id, len(nodes)) / "logs" / "server.log",
            ))
        return [
            *kafka,
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

    def _choose_ports(self, brokers: int, listen_ports: Sequence[int] = ()
                      ) -> tuple[_Ports, list[tuple[int, int]]]:
        s = self.settings
        nodes = [
            tuple(processes.free_port() if base == 0 else base + 2 * k
                  for base in (s.kafka_port, s.controller_port))
            for k in range(brokers)
        ]
        registry = [processes.free_port() if port == 0 else port
                    for port in (s.registry_port, s.registry_management_port)]
        ports = _Ports(nodes[0][0], nodes[0][1], *registry)
        named = {"schema registry": ports.registry,
                 "registry management": ports.registry_management}
        for i, (port, controller) in enumerate(nodes, start=1):
            suffix = "" if brokers == 1 else f" {i}"
            # behind a proxy the node binds its listen port; the proxy holds the advertised one
            named[f"Kafka{suffix}"] = listen_ports[i - 1] if listen_ports else port
            named[f"KRaft controller{suffix}"] = controller
        processes.require_free_ports(named)
        return ports, [(port, controller) for port, controller in nodes]

    def _node_home(self, node_id: int, brokers: int) -> Path:
        return self.run_dir / "kafka" if brokers == 1 else \
            self.run_dir / "cluster" / f"kafka-{node_id}"

    def _start_kafka(self, java: processes.Java, node: KafkaNode, voters: str,
                     brokers: int) -> int:
        home = self._node_home(node.node_id, brokers)
        data = home / "data"
        (home / "logs").mkdir(parents=True, exist_ok=True)
        properties = home / "server.properties"
        properties.write_text(_server_properties(node, voters, brokers, data))
        (home / "log4j2.properties").write_text(LOG4J2)
        if not (data / "meta.properties").is_file():
            # Formatted once; later starts reuse the data (topics survive down/up). The nodes
            # of a cluster share one cluster id, kept beside them.
            result = run_java(
                [str(java.executable), "-Xmx256m", "-cp", f"{kafka_lib(self.lib_dir)}/*",
                 "kafka.tools.StorageTool", "format", "-t", self._cluster_id(brokers),
                 "-c", str(properties)]
            )
            if result:
                raise StackError(f"formatting Kafka storage in {data} failed:\n{result}")
        return self._spawn_kafka(java, home)

    def _cluster_id(self, brokers: int) -> str:
        if brokers == 1:
            return cluster_id()
        recorded = self.run_dir / "cluster" / "cluster.id"
        if not recorded.is_file():
            recorded.parent.mkdir(parents=True, exist_ok=True)
            recorded.write_text(cluster_id())
        return recorded.read_text().strip()

    def _spawn_kafka(self, java: processes.Java, home: Path) -> int:
        log_config = home / "log4j2.properties"
        classpath = f"{kafka_lib(self.lib_dir)}/*"
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
                str(home / "server.properties"),
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
        endpoints = _endpoints(state)
        deadline = time.monotonic() + self.settings.stack_start_timeout_s
        brokers = len(state.nodes)
        checks: dict[str, tuple[int, str, Callable[[Endpoints], bool], Path]] = {
            "schema-registry": (state.registry_pid, REGISTRY_MARKER, _registry_answers,
                                self.run_dir / "registry.log"),
        }
        for node in state.nodes:
            checks["kafka" if brokers == 1 else f"kafka-{node.node_id}"] = (
                node.pid, KAFKA_MARKER, _cluster_probe(node.address, brokers),
                self._node_home(node.node_id, brokers) / "kafka.out")
        waiting = set(checks)
        while waiting:
            for name in sorted(waiting):
                pid, marker, answers, log = checks[name]
                if not processes.is_running(pid, marker):
                    raise StackError(f"{name} exited during start-up; {_last_lines(log)}")
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
        brokers = len(state.nodes)
        return (
            all(processes.is_running(n.pid, KAFKA_MARKER) for n in state.nodes)
            and processes.is_running(state.registry_pid, REGISTRY_MARKER)
            and all(_node_answers(n.address, brokers) for n in state.nodes)
            and _registry_answers(_endpoints(state))
        )

    def _any_running(self, state: _State) -> bool:
        return any(processes.is_running(n.pid, KAFKA_MARKER) for n in state.nodes) or \
            processes.is_running(state.registry_pid, REGISTRY_MARKER)

    def _stop_recorded(self, state: _State) -> list[str]:
        timeout = self.settings.stack_stop_timeout_s
        killed = []
        if processes.stop(state.registry_pid, REGISTRY_MARKER, timeout):
            killed.append("schema-registry")
        # all nodes at once: one after the other, the last ones would wait for a quorum that
        # is already gone and be killed after the timeout
        with ThreadPoolExecutor(len(state.nodes)) as pool:
            stopped = list(pool.map(lambda n: processes.stop(n.pid, KAFKA_MARKER, timeout),
                                    state.nodes))
        killed += [("kafka" if len(state.nodes) == 1 else f"kafka-{node.node_id}")
                   for node, was_killed in zip(state.nodes, stopped, strict=True) if was_killed]
        return killed

    def _write_state(self, state: _State) -> None:
        (self.run_dir / "stack.json").write_text(state.to_json())

    def _read_state(self) -> _State | None:
        try:
            return _State.from_json((self.run_dir / "stack.json").read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _endpoints(state: _State) -> Endpoints:
    return Endpoints(
        ",".join(node.address for node in state.nodes),
        f"http://127.0.0.1:{state.ports.registry}{CCOMPAT_PATH}",
    )


def _server_properties(node: KafkaNode, voters: str, brokers: int, data: Path) -> str:
    durability = durability_for(brokers)
    rf, min_isr = durability.replication_factor, durability.min_insync_replicas
    what = "one KRaft node" if brokers == 1 else f"node {node.node_id} of {brokers} KRaft nodes"
    return f"""\
# Written by `backbone stack up`: {what}, broker and controller, loopback only.
process.roles=broker,controller
node.id={node.node_id}
# A static voter set, so the stack can come back on other ports over the same data.
controller.quorum.voters={voters}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:{node.listen_port or node.port},\
CONTROLLER://127.0.0.1:{node.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
# Kafka's own topics replicated like the catalog's (backbone.durability): RF min(3, nodes).
default.replication.factor={rf}
offsets.topic.replication.factor={rf}
offsets.topic.num.partitions=3
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor={rf}
share.coordinator.state.topic.min.isr={min_isr}
unclean.leader.election.enable=false
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


def _cluster_probe(address: str, brokers: int) -> Callable[[Endpoints], bool]:
    """A node answers once the cluster's metadata it serves lists every node."""
    return lambda _: _node_answers(address, brokers)


def _node_answers(address: str, brokers: int = 1) -> bool:
    """Whether the node at ``address`` serves metadata listing at least ``brokers`` nodes."""
    from confluent_kafka.admin import AdminClient

    # librdkafka logs every refused connection; while starting up those are expected.
    quiet = logging.getLogger("backbone.stack.probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient({**KafkaClients(address).admin(), "logger": quiet})
    try:
        return len(admin.list_topics(timeout=2).brokers) >= brokers
    except Exception:
        return False


def _registry_answers(endpoints: Endpoints) -> bool:
    try:
        return httpx.get(f"{endpoints.registry_url}/subjects", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _last_lines(log: Path) -> str:
    """The end of a process's log for an error message. A broker logs through log4j to
    logs/server.log beside its kafka.out, which only has what the JVM printed before that."""
    report = f"last lines of {log}:\n{processes.tail(log)}"
    server_log = log.parent / "logs" / "server.log"
    if server_log.exists():
        report += f"\nlast lines of {server_log}:\n{processes.tail(server_log)}"
    return report
