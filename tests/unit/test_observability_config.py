"""deploy/prometheus and deploy/grafana parse, and every metric they use is exported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from backbone.metrics import ConnectorMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\bbackbone_[a-z_]+\b")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _exported() -> set[str]:
    """Every metric family name some backbone process registers."""
    from connectors.carrier_webhooks.app import WebhookMetrics
    from processors.metrics import ProcessorMetrics
    from processors.order_fulfillment.metrics import ack_sla_metrics
    from sinks.iceberg.metrics import SinkMetrics

    processor_metrics = ProcessorMetrics()
    processor_metrics.add_output_metrics("order-fulfillment", ack_sla_metrics)
    registries: list[CollectorRegistry] = [
        ConnectorMetrics("probe").registry, processor_metrics.registry, WebhookMetrics().registry,
        SinkMetrics().registry,
    ]
    return {family.name for registry in registries for family in registry.collect()}


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _alert_expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    expressions = []
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"] and rule["expr"] and rule["annotations"]["summary"]
            expressions.append(rule["expr"])
    return expressions


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "backbone-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_prometheus_config_names_the_rule_file_and_jobs() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert {job["job_name"] for job in config["scrape_configs"]} >= {
        "backbone-processors", "backbone-connectors", "backbone-webhooks"}


def test_every_metric_used_by_alerts_and_dashboard_is_exported() -> None:
    exported = _exported()
    used = {name for expression in _alert_expressions() + _dashboard_expressions()
            for name in METRIC.findall(expression)}
    assert used, "the rules and dashboard use no backbone metric"
    missing = sorted(name for name in used if _base(name) not in exported)
    assert missing == [], f"used but exported by no process: {missing}"


def test_alerts_cover_dead_letters_lag_and_stale_connectors() -> None:
    expressions = " ".join(_alert_expressions())
    for metric in ("backbone_processor_dead_letters_total", "backbone_processor_consumer_lag",
                   "backbone_connector_source_offset_age_seconds"):
        assert metric in expressions
