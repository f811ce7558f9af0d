"""The Quix internals the engine relies on still exist, and its internal topics stay short.

processors/quix_adapter.py is the only module that reaches past Quix's public API; after a
``quixstreams`` upgrade these tests name the attribute that went away. They build real
applications (Quix asks the broker about every topic it is given), but run nothing.
"""

from __future__ import annotations

import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from quixstreams import Application

from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.settings import Settings
from processors import quix_adapter
from processors.api import ProcessorTopics, processor, processor_names
from processors.cli import logic_for
from processors.engine import EngineOptions, build_application

pytestmark = pytest.mark.integration

KAFKA_TOPIC_NAME_LIMIT = 249


def test_the_installed_quixstreams_is_the_tested_minor() -> None:
    installed = version("quixstreams")
    assert installed.startswith(f"{quix_adapter.TESTED_MINOR}."), (
        f"quixstreams {installed} installed, processors/quix_adapter.py was tested with "
        f"{quix_adapter.TESTED_MINOR}.x: review it (README, Upgrading Quix Streams)")


def test_every_internal_the_adapter_uses_still_exists(
        bootstrap_servers: str, topic_factory: Any, tmp_path: Path) -> None:
    app = Application(broker_address=bootstrap_servers, consumer_group="adapter-probe",
                      state_dir=tmp_path, processing_guarantee="exactly-once",
                      loglevel="ERROR", auto_create_topics=False)
    sdf = app.dataframe(app.topic(topic_factory()))
    owners = {
        "Application": app,
        "DataFrameRegistry": app._dataframe_registry,
        "ProcessingContext": app._processing_context,
        "StreamingDataFrame": sdf,
        "TopicManager": app._topic_manager,
    }
    missing = [f"{owner}.{attribute}" for owner, attribute in quix_adapter.INTERNALS
               if not hasattr(owners[owner], attribute)]
    assert missing == [], f"Quix no longer has {missing}: processors/quix_adapter.py needs work"
    renamed = quix_adapter.named_stream(sdf, "probe")
    assert renamed.stream_id == "probe" and renamed.stream is sdf.stream


@pytest.mark.parametrize("name", processor_names())
def test_internal_topic_names_are_short_and_named_after_the_group(
        name: str, bootstrap_servers: str, registry_url: str, topic_factory: Any,
        tmp_path: Path) -> None:
    """With a 60-character topic prefix, every internal topic leaves 60 characters to spare.

    The topics have the catalog's 3 partitions, so the routed processors re-key through a
    repartition topic (with one partition Quix re-keys in place and creates none).
    """
    spec = processor(name)
    prefix = f"p{uuid.uuid4().hex[:8]}" + "p" * 51
    topics = ProcessorTopics.prefixed(spec, prefix)
    for catalog_name in spec.all_topics:
        topic_factory(partitions=3, name=topics.name(catalog_name))
    settings = Settings(processor_topic_prefix=prefix)
    options = EngineOptions.from_settings(
        settings, spec, bootstrap_servers, state_dir=tmp_path, topics=topics)
    with SchemaRegistry(registry_url) as registry:
        app, _ = build_application(logic_for(name, settings), AvroSerde(registry), options)
    internal = quix_adapter.internal_topic_names(app)
    group = f"backbone.{name}"  # the default consumer group
    expected = [f"changelog__{group}--{prefix}.inputs--default"]
    if spec.name != "shipment-status":  # the routed ones
        expected = [f"changelog__{group}--repartition.{prefix}.inputs.state-key--default",
                    f"repartition__{group}--{prefix}.inputs--state-key"]
    assert internal == expected
    assert max(len(topic) for topic in internal) <= KAFKA_TOPIC_NAME_LIMIT - 60, internal
