"""A processor's consumer-group settings reach its consumer: session timeout, static membership."""

from __future__ import annotations

from pathlib import Path

from backbone.settings import load_settings
from processors.engine import EngineOptions, group_membership
from processors.order_fulfillment.processor import SPEC


def options(**env: object) -> EngineOptions:
    settings = load_settings(state_dir=Path("/tmp/unused"), **env)
    return EngineOptions.from_settings(settings, SPEC, "127.0.0.1:9092")


def test_by_default_dynamic_membership_and_librdkafkas_session_timeout() -> None:
    assert group_membership(options()) == {"session.timeout.ms": 45_000}


def test_a_shorter_session_and_a_static_member_when_configured() -> None:
    configured = options(processor_session_timeout_ms=10_000,
                         processor_instance_id="order-fulfillment-0")
    assert group_membership(configured) == {"session.timeout.ms": 10_000,
                                            "group.instance.id": "order-fulfillment-0"}
