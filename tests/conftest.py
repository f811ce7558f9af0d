"""Session fixtures: one real broker and registry, and factories for fresh topics and groups."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, settings

from backbone.clients import KafkaClients
from backbone.stack import Endpoints, StackError
from tests.stack import real_stack

TopicFactory = Callable[..., str]

# hypothesis profiles of the property tests (tests/README.md): HYPOTHESIS_PROFILE=ci (the
# default under CI=true: few examples, fixed seeds, no example database), dev (elsewhere) or
# deep (a fuzzing session by hand). Deadlines are generous on purpose: the hangs these tests
# guard against took minutes, and a loaded 2-core CI machine can stall any example a second.
_PROPERTY_TESTS = settings(deadline=5_000, print_blob=True,
                           suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.data_too_large])
settings.register_profile("ci", _PROPERTY_TESTS, max_examples=100, derandomize=True,
                          database=None)
settings.register_profile("dev", _PROPERTY_TESTS, max_examples=200)
settings.register_profile("deep", _PROPERTY_TESTS, max_examples=5_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") == "true" else "dev"))


@pytest.fixture(scope="session")
def stack() -> Iterator[Endpoints]:
    """The real broker and registry; under CI=true their absence fails the run, never skips."""
    try:
        with real_stack() as endpoints:
            yield endpoints
    except StackError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Kafka broker / schema registry for the tests: {error}")
        pytest.skip(f"no Kafka broker / schema registry: {error}")


@pytest.fixture(scope="session")
def bootstrap_servers(stack: Endpoints) -> str:
    return stack.bootstrap_servers


@pytest.fixture(scope="session")
def registry_url(stack: Endpoints) -> str:
    return stack.registry_url


@pytest.fixture(scope="session")
def admin(bootstrap_servers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers})


@pytest.fixture
def topic_factory(admin: AdminClient) -> Iterator[TopicFactory]:
    """``topic_factory(partitions=1, config=None, name=None)`` -> a fresh, created topic.

    The topics it created are deleted when the test ends (the suite may run on a user's own
    cluster: it leaves nothing behind).
    """
    created: list[str] = []

    def create(partitions: int = 1, config: dict[str, str] | None = None,
               name: str | None = None) -> str:
        topic = name or f"test.{uuid.uuid4().hex[:12]}"
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1,
                      config=config or {})]
        )
        futures[topic].result(timeout=30)
        created.append(topic)
        return topic

    yield create
    delete_topics(admin, created)


@pytest.fixture
def group_id(admin: AdminClient) -> Iterator[str]:
    """A consumer group no other test uses; deleted at the end of the test, with the internal
    topics a processor run under it created (``changelog__<group>--...``)."""
    group = f"test-group-{uuid.uuid4().hex[:12]}"
    yield group
    delete_group(admin, group)


def delete_topics(admin: AdminClient, topics: list[str]) -> None:
    """Delete ``topics`` (already gone: fine)."""
    if not topics:
        return
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        try:
            future.result(timeout=60)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def delete_group(admin: AdminClient, group: str) -> None:
    """Delete consumer group ``group`` and the Quix internal topics named after it."""
    internal = [name for name in admin.list_topics(timeout=30).topics
                if name.startswith(("changelog__", "repartition__"))
                and f"__{group}--" in name]
    delete_topics(admin, internal)
    for future in admin.delete_consumer_groups([group], request_timeout=30).values():
        try:
            future.result(timeout=60)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Delete what the processor harness created (fresh topics, groups, Quix internal topics)."""
    import sys

    harness = sys.modules.get("tests.reliability.processor_harness")
    created = getattr(harness, "CREATED", None)
    if created is None or created.bootstrap is None:
        return
    admin = AdminClient(KafkaClients.of(created.bootstrap).admin())
    delete_topics(admin, sorted(created.topics))
    for group in sorted(created.groups):
        delete_group(admin, group)
