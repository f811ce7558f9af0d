"""Session fixtures: one real broker and registry, and factories for fresh topics and groups."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from backbone.stack import Endpoints, StackError
from tests.stack import real_stack

TopicFactory = Callable[..., str]


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
def topic_factory(admin: AdminClient) -> TopicFactory:
    """``topic_factory(partitions=1, config=None, name=None)`` -> a fresh, created topic."""

    def create(partitions: int = 1, config: dict[str, str] | None = None,
               name: str | None = None) -> str:
        topic = name or f"test.{uuid.uuid4().hex[:12]}"
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1,
                      config=config or {})]
        )
        futures[topic].result(timeout=30)
        return topic

    return create


@pytest.fixture
def group_id() -> str:
    """A consumer group no other test uses."""
    return f"test-group-{uuid.uuid4().hex[:12]}"
