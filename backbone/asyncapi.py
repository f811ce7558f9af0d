"""The AsyncAPI 3.0 document of every catalog topic, generated from the catalog and schemas/.

Channels are topics (address = topic name, Kafka bindings from the catalog), messages carry the
Avro contract itself (schemaFormat Avro 1.9.0) with Confluent schema-id framing, and every
producer and consumer the catalog names becomes a send or receive operation.
"""

from __future__ import annotations

import re
from typing import Any

from backbone import __version__, headers, schemas
from backbone.topics import CATALOG, Topic, ValueFormat

AVRO_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"

_HEADERS_SCHEMA = {
    "type": "object",
    "properties": {
        headers.EVENT_ID: {"type": "string", "format": "uuid",
                           "description": "The event's envelope event_id."},
        headers.CORRELATION_ID: {"type": "string",
                                 "description": "Ties every event derived from one source "
                                 "document together."},
        headers.TRACEPARENT: {"type": "string", "description": "W3C Trace Context."},
        headers.SOURCE_SYSTEM: {"type": "string",
                                "description": "ERP, WMS, CARRIER, EDI, ... (envelope "
                                "source.system)."},
    },
}


def _identifier(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _message_name(entry: Topic) -> str:
    if entry.record:
        return entry.record.rpartition(".")[2]
    return "".join(part.capitalize() for part in _identifier(entry.name).split("-"))


def namespaced(schema: Any) -> Any:
    """The same Avro with each named type declared as ``name`` + ``namespace``.

    schemas.load writes the full name into ``name`` (``backbone.common.PartyRef``), which Avro
    allows but AsyncAPI's Avro meta-schema refuses (a name is an identifier there). References
    to a type already declared stay full names, which both accept.
    """
    if isinstance(schema, list):
        return [namespaced(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if schema.get("type") in ("record", "error", "enum", "fixed") and "." in schema["name"]:
        out["namespace"], _, out["name"] = schema["name"].rpartition(".")
    if "fields" in schema:
        out["fields"] = [{**f, "type": namespaced(f["type"])} for f in schema["fields"]]
    for key in ("items", "values"):
        if key in schema:
            out[key] = namespaced(schema[key])
    return out


def _message(entry: Topic) -> dict[str, Any]:
    key = {"type": "string", "description": f"{entry.key_description} (UTF-8)"}
    if entry.value_format is ValueFormat.AVRO and entry.record:
        schema = namespaced(schemas.load(entry.record))
        return {
            "name": _message_name(entry),
            "title": _message_name(entry),
            "summary": schema.get("doc", entry.description),
            "contentType": "application/vnd.apache.avro+binary",
            "headers": _HEADERS_SCHEMA,
            "payload": {"schemaFormat": AVRO_FORMAT, "schema": schema},
            "bindings": {"kafka": {
                "key": key,
                "schemaIdLocation": "payload",
                "schemaIdPayloadEncoding": "confluent",
                "bindingVersion": "0.5.0",
            }},
        }
    payload: dict[str, Any] = (
        {"type": "object", "description": "UTF-8 JSON object."}
        if entry.value_format is ValueFormat.JSON
        else {"type": "string", "format": "binary",
              "description": "Opaque bytes (dead letters keep the original record's bytes; "
              "context is in backbone.dlq.* headers)."}
    )
    return {
        "name": _message_name(entry),
        "title": _message_name(entry),
        "summary": entry.description,
        "contentType": "application/json" if entry.value_format is ValueFormat.JSON
        else "application/octet-stream",
        "payload": payload,
        "bindings": {"kafka": {"key": key, "bindingVersion": "0.5.0"}},
    }


def _channel(entry: Topic) -> dict[str, Any]:
    name = _message_name(entry)
    topic_config: dict[str, Any] = {
        "cleanup.policy": entry.cleanup_policy.split(","),
        "retention.ms": entry.retention_ms,
        "max.message.bytes": entry.max_message_bytes,
    }
    return {
        "address": entry.name,
        "title": entry.name,
        "description": entry.description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {"kafka": {
            "topic": entry.name,
            "partitions": entry.partitions,
            "topicConfiguration": topic_config,
            "bindingVersion": "0.5.0",
        }},
    }


def document(bootstrap_servers: str = "127.0.0.1:9092") -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document as a plain dict (YAML or JSON ready)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for entry in CATALOG:
        channel_id = _identifier(entry.name)
        channels[channel_id] = _channel(entry)
        messages[_message_name(entry)] = _message(entry)
        for action, parties in (("send", entry.producers), ("receive", entry.consumers)):
            for party in parties:
                operation_id = _identifier(f"{party}-{action}s-{entry.name}")
                operations[operation_id] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "title": f"{party} {action}s {entry.name}",
                    "messages": [{"$ref": f"#/channels/{channel_id}/messages/"
                                          f"{_message_name(entry)}"}],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "backbone",
            "version": __version__,
            "description": "Canonical events on Apache Kafka for distribution ERP, EDI, WMS "
            "and carrier integration. Generated from the topic catalog and schemas/ by "
            "`backbone asyncapi`.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/vnd.apache.avro+binary",
        "servers": {"local": {"host": bootstrap_servers, "protocol": "kafka",
                              "description": "`backbone stack up` (KRaft, loopback)"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
