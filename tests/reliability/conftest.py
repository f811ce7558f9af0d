"""The three-node cluster for the fault matrix (session scope, started on first use), and
PostgreSQL from the integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.stack import StackError
from tests.integration.conftest import erp_db, postgres_url  # noqa: F401  (fixtures)
from tests.reliability.cluster import Cluster, three_node_cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Under CI=true a cluster that cannot start fails the run, never skips."""
    try:
        with three_node_cluster(tmp_path_factory.mktemp("cluster")) as started:
            yield started
    except StackError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the three-node cluster did not start: {error}")
        pytest.skip(f"no three-node cluster: {error}")


@pytest.fixture
def healthy(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, healed after the test whatever the test did to it."""
    yield cluster
    cluster.heal()


@pytest.fixture
def cluster_serde(cluster: Cluster) -> Iterator[AvroSerde]:
    registry = SchemaRegistry(cluster.registry_url)
    yield AvroSerde(registry)
    registry.close()
