"""``backbone asyncapi``: the AsyncAPI 3.0 document of every catalog topic."""

from __future__ import annotations

import json
import os

import typer
import yaml

from backbone.asyncapi import document


def asyncapi(
    json_output: bool = typer.Option(False, "--json", help="JSON instead of YAML."),
) -> None:
    """Print the AsyncAPI 3.0 document (channels, keys, Avro payloads, producers, consumers)."""
    doc = document(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    if json_output:
        print(json.dumps(doc, indent=2))
    else:
        print(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100), end="")
