"""What every benchmark shares: the stack to run against, fresh topics, a result row."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import NewTopic

from backbone.kafka import admin_client
from backbone.settings import load_settings
from backbone.stack import Endpoints, LocalStack


def endpoints() -> Endpoints:
    """KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL, else the local stack (started if needed)."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    if bootstrap and registry:
        return Endpoints(bootstrap, registry)
    return LocalStack(load_settings()).up()


def fresh_topic(bootstrap: str, partitions: int = 3, prefix: str = "bench") -> str:
    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    admin = admin_client(bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name].result(timeout=30)
    return name


def timed(action: Callable[[], int]) -> float:
    """Items per second of ``action`` (which returns how many items it handled)."""
    started = time.perf_counter()
    count = action()
    return count / (time.perf_counter() - started)


def result(name: str, value: float, baseline: float, target: float, unit: str,
           baseline_name: str) -> dict[str, Any]:
    ratio = value / baseline if baseline else float("inf")
    return {"name": name, "value": round(value, 1), "baseline": round(baseline, 1),
            "baseline_name": baseline_name, "ratio": round(ratio, 3), "target": target,
            "unit": unit, "met": ratio >= target}


def latency_result(name: str, value_ms: float, baseline_ms: float, target_ms: float,
                   baseline_name: str) -> dict[str, Any]:
    """A row where lower is better: ``met`` when ``value_ms`` is at most ``target_ms``."""
    return {"name": name, "value": round(value_ms, 1), "baseline": round(baseline_ms, 1),
            "baseline_name": baseline_name, "ratio": round(value_ms / baseline_ms, 3),
            "target": target_ms, "target_is": "max", "unit": "ms", "met": value_ms <= target_ms}


def report(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        verdict = "ok" if row["met"] else "MISSED TARGET"
        target = (f"target <= {row['target']} {row['unit']}" if row.get("target_is") == "max"
                  else f"target ratio >= {row['target']}")
        print(f"{row['name']:<44} {row['value']:>12,.1f} {row['unit']:<10} vs "
              f"{row['baseline_name']} {row['baseline']:>12,.1f}  ratio {row['ratio']:.2f} "
              f"({target}) {verdict}")
