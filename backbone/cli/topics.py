"""``backbone topics apply | list``: the catalog's topics on the cluster."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from backbone.cli.context import endpoints
from backbone.cli.exits import PARTIAL, fail
from backbone.kafka import admin_client, apply_topics
from backbone.topics import CATALOG

app = typer.Typer(help="Create and inspect the catalog's topics.", no_args_is_help=True)


@app.command()
def apply() -> None:
    """Create missing topics; grow partitions and align configs where Kafka allows."""
    admin = admin_client(endpoints().kafka)
    try:
        changes = apply_topics(admin, CATALOG)
    except Exception as error:  # KafkaException: the broker did not answer
        fail(f"could not apply topics: {error}")
    for change in changes:
        print(f"{change.action:<10} {change.topic}  {change.detail}".rstrip())
    if any(change.action == "refused" for change in changes):
        raise typer.Exit(PARTIAL)


@app.command("list")
def list_topics(
    json_output: bool = typer.Option(False, "--json", help="One JSON object per topic."),
) -> None:
    """The catalog: name, record, key, partitions, retention, cleanup policy, compatibility."""
    if json_output:
        import json

        for topic in CATALOG:
            print(json.dumps({
                "name": topic.name, "record": topic.record, "key": topic.key_description,
                "format": topic.value_format.value, "partitions": topic.partitions,
                "config": topic.config(), "compatibility": topic.compatibility,
                "producers": list(topic.producers), "consumers": list(topic.consumers),
            }))
        return
    table = Table("topic", "record", "key", "parts", "retention", "cleanup")
    for topic in CATALOG:
        retention = "forever" if topic.retention_ms < 0 else f"{topic.retention_ms // 86_400_000}d"
        table.add_row(topic.name, (topic.record or topic.value_format.value).rsplit(".", 1)[-1],
                      topic.key_description, str(topic.partitions), retention,
                      topic.cleanup_policy)
    Console(width=160).print(table)
