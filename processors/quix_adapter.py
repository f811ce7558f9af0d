"""Every use of Quix Streams beyond its public API, in one place, each naming what it stands in for.

The engine needs a few things Quix's public API does not offer (or offers only at a per-record
cost the processors cannot pay). They are all reached through this module, so an upgrade of
``quixstreams`` (pinned to the minor in pyproject.toml; README "Upgrading Quix Streams") has one
file to review, and tests/integration/test_quix_adapter.py fails loudly, naming the attribute,
when one of them is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

TESTED_MINOR = "3.28"  # the quixstreams minor this module was written and tested against


def consumer(app: Application) -> Any:
    """The application's own Kafka consumer (pause/resume of retry partitions, lag metric).

    Stands in for: ``Application.get_consumer()``, which returns a NEW consumer outside the
    application's group membership, so pausing it would not pause what the app reads.
    """
    return app._consumer


def producer(app: Application) -> Any:
    """The application's own transactional producer, as ``to_topic`` uses it.

    Stands in for: ``StreamingDataFrame.to_topic()`` (same producer, same transaction; we skip
    its per-record row and serializer, several µs a record) and ``Application.get_producer()``,
    which returns a separate, non-transactional producer.
    """
    return app._producer


def read_unaligned(app: Application) -> None:
    """Poll record by record although the inputs are concatenated.

    Stands in for: ``StreamingDataFrame.concat()`` without its time alignment, which Quix turns
    on for any concat of different topics (buffered polling, batch by batch); with one input
    plus the retry topic there is nothing to align.
    """
    app._dataframe_registry._requires_time_alignment = False


def on_every_poll(app: Application, task: Callable[[], None]) -> None:
    """Run ``task`` after every poll of the run loop, records or not.

    Stands in for: ``Application(on_message_processed=...)``, which runs only after a record,
    so it cannot see an idle input or resume a retry partition that came due.
    """
    app._dataframe_registry.register_periodic_task(task)


def commit_now(app: Application) -> Callable[[], None]:
    """A function that commits the open checkpoint (the exactly-once transaction) now.

    Stands in for: ``Application(commit_interval=..., commit_every=...)``, which commit on a
    timer or a record count only, never when the input has gone idle.
    """
    context = app._processing_context
    return lambda: context.commit_checkpoint(force=True)


def around_commits(app: Application, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
                   ) -> None:
    """Every commit of the application (timer, forced, on revoke) goes through ``wrap``.

    Stands in for: nothing public; Quix's run loop commits through
    ``ProcessingContext.commit_checkpoint`` (and so does :func:`commit_now`).
    """
    context = app._processing_context
    setattr(context, "commit_checkpoint", wrap(context.commit_checkpoint))  # noqa: B010


def named_stream(sdf: StreamingDataFrame, name: str) -> StreamingDataFrame:
    """``sdf`` with stream id ``name``: its state store, changelog and repartition topics are
    named after ``name`` instead of after every input topic joined by "--".

    Stands in for: naming a stream, which the public API does not offer (``group_by(name=)``
    names the repartition step only, after the stream's id).
    """
    return sdf.__dataframe_clone__(stream=sdf.stream, stream_id=name)


def internal_topic_names(app: Application) -> list[str]:
    """The changelog and repartition topics Quix will create for ``app``.

    Stands in for: nothing public lists them (Quix creates them at ``run``).
    """
    manager = app._topic_manager
    return sorted([*manager.repartition_topics, *(t.name for t in manager.changelog_topics_list)])


# (what, attribute) for each internal reached above: the test checks every one still exists
INTERNALS = (
    ("Application", "_consumer"),
    ("Application", "_producer"),
    ("Application", "_dataframe_registry"),
    ("Application", "_processing_context"),
    ("Application", "_topic_manager"),
    ("DataFrameRegistry", "_requires_time_alignment"),
    ("DataFrameRegistry", "register_periodic_task"),
    ("ProcessingContext", "commit_checkpoint"),
    ("StreamingDataFrame", "__dataframe_clone__"),
    ("TopicManager", "repartition_topics"),
    ("TopicManager", "changelog_topics_list"),
)
