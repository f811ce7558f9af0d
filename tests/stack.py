"""Finds a real broker and registry for the test session, in the order tests/README.md gives.

1. KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL, when both are set (what .ci/run does);
2. containers through testcontainers, when a Docker engine answers and the images start;
3. the local stack (`backbone stack up`'s implementation) on free ports in a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from backbone.settings import load_settings
from backbone.stack import Endpoints, LocalStack, StackError

REPO = Path(__file__).resolve().parents[1]


def lib_dir() -> Path:
    """The project's Kafka and registry jars (BACKBONE_LIB_DIR or .backbone/lib, installed by
    `make install`): a stack a test starts in a temporary folder uses them instead of
    installing its own copy through Maven."""
    lib = load_settings().resolved_lib_dir
    return lib if lib.is_absolute() else (REPO / lib).resolve()


def from_environment() -> Endpoints | None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    if bootstrap and registry:
        return Endpoints(bootstrap, registry)
    return None


def _docker_socket_answers() -> bool:
    # docker-py leaks a socket (a ResourceWarning, an error under our filterwarnings) when
    # the engine is absent, so knock on the socket ourselves first.
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return True
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(2)
        try:
            probe.connect(host.removeprefix("unix://"))
        except OSError:
            return False
    return True


def _docker_answers() -> bool:
    if not _docker_socket_answers():
        return False
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no engine: DockerException, PermissionError, connection errors
        return False


@contextlib.contextmanager
def containers() -> Iterator[Endpoints | None]:
    """Kafka + Apicurio in Docker; None when there is no engine or the images cannot start."""
    if not _docker_answers():
        yield None
        return
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        kafka = (
            DockerContainer("apache/kafka:4.1.1")
            .with_exposed_ports(9092)
        )
        registry = DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080)
        kafka.start()
        registry.start()
        wait_for_logs(kafka, "Kafka Server started", timeout=120)
        wait_for_logs(registry, "Listening on", timeout=120)
    except Exception:  # offline image pulls fail here: fall through to the local stack
        yield None
        return
    try:
        host = kafka.get_container_host_ip()
        yield Endpoints(
            f"{host}:{kafka.get_exposed_port(9092)}",
            f"http://{host}:{registry.get_exposed_port(8080)}/apis/ccompat/v7",
        )
    finally:
        registry.stop()
        kafka.stop()


@contextlib.contextmanager
def local_stack() -> Iterator[Endpoints]:
    """The local stack on free ports, its data in a temporary folder, jars from the repo cache."""
    repo_settings = load_settings()
    lib_dir = (REPO / repo_settings.resolved_lib_dir).resolve() if not \
        repo_settings.resolved_lib_dir.is_absolute() else repo_settings.resolved_lib_dir
    with tempfile.TemporaryDirectory(prefix="backbone-test-stack-") as state:
        settings = load_settings(
            state_dir=Path(state), lib_dir=lib_dir, kafka_port=0, controller_port=0,
            registry_port=0, registry_management_port=0,
        )
        stack = LocalStack(settings)
        try:
            yield stack.up()
        finally:
            stack.down()


@contextlib.contextmanager
def real_stack() -> Iterator[Endpoints]:
    """The first real stack available; StackError when there is none."""
    found = from_environment()
    if found is not None:
        yield found
        return
    with containers() as in_docker:
        if in_docker is not None:
            yield in_docker
            return
    try:
        with local_stack() as local:
            yield local
    except StackError:
        raise
