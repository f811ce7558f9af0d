"""``backbone connect carrier-tracking [--once]``: poll the carriers' tracking APIs for the
shipments in flight and publish new ShipmentMilestone events."""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import replace

import typer
from confluent_kafka import Producer

from backbone.cli.context import endpoints, serde
from backbone.cli.exits import PARTIAL, fail
from backbone.errors import BackboneError
from backbone.metrics import serve
from backbone.settings import Settings, load_settings
from backbone.topics import Topic, topic
from connectors.carrier_tracking.clients import apis_from_settings
from connectors.carrier_tracking.discovery import Discovery
from connectors.carrier_tracking.metrics import TrackingMetrics
from connectors.carrier_tracking.poller import NAME, TrackingPoller
from connectors.carrier_tracking.schedule import CarrierGate, Intervals
from connectors.offsets import OFFSETS_TOPIC, KafkaOffsetStore
from processors.shipment_status import load_mappings
from producers.publisher import EventPublisher

MILESTONES = "logistics.shipment-milestone.raw.v1"
DISCOVERY = ("procurement.asn.v1", MILESTONES, "logistics.shipment-status.v1")


def carrier_tracking(
    once: bool = typer.Option(False, "--once", help="One round: every due shipment asked once."),
    milestone_topic: str | None = typer.Option(None, "--milestone-topic", hidden=True),
    discovery_topics: str | None = typer.Option(
        None, "--discovery-topics", hidden=True,
        help="asn,milestones,status topic names instead of the catalog's (tests, staging)."),
    offsets_topic: str | None = typer.Option(None, "--offsets-topic", hidden=True),
    dead_letter_topic: str | None = typer.Option(None, "--dead-letter-topic", hidden=True),
) -> None:
    """Poll UPS, FedEx, USPS and DHL for the shipments in flight (carrier + tracking number
    from ASNs, ShipmentMilestones and ShipmentStatus, not yet terminal); publish new
    ShipmentMilestone events once each. Carriers without credentials are not polled.
    """
    settings = load_settings()
    apis = apis_from_settings(settings)
    if not apis:
        fail("no carrier tracking API is configured: set BACKBONE_TRACKING_UPS_CLIENT_ID and "
             "..._CLIENT_SECRET (or FEDEX, USPS), or BACKBONE_TRACKING_DHL_API_KEY")
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    where = endpoints(settings)
    milestones = _named(MILESTONES, milestone_topic)
    names = (discovery_topics or "").split(",") if discovery_topics else [None] * 3
    if len(names) != 3:
        fail("--discovery-topics takes three names: asn,milestones,status")
    watched = [_named(catalog, name) for catalog, name in zip(DISCOVERY, names, strict=True)]
    store = KafkaOffsetStore(where.kafka, topic=offsets_topic or OFFSETS_TOPIC)
    metrics = TrackingMetrics()
    serve(metrics.registry, settings.metrics_port)
    mappings = load_mappings(settings.status_mappings)
    try:
        store.load()
        events_serde = serde(settings)
        with events_serde.registry, EventPublisher(
                where.kafka, events_serde,
                flush_timeout_s=settings.publish_flush_timeout_s) as publisher:
            poller = TrackingPoller(
                apis=apis, publisher=publisher, store=store,
                dead_letters=Producer(where.kafka.producer()),
                dead_letter_topic=dead_letter_topic or f"{NAME}.dlq.v1",
                discovery=Discovery(where.kafka, events_serde, watched, mappings),
                mappings=mappings, intervals=intervals(settings), gates=gates(settings),
                milestone_topic=milestones, metrics=metrics,
                flush_timeout_s=settings.publish_flush_timeout_s)
            for stop_signal in (signal.SIGTERM, signal.SIGINT):
                # finish the shipment in flight (published and stored), then return
                signal.signal(stop_signal, lambda _signum, _frame: poller.stop())
            summary = poller.run(once=once)
    except BackboneError as error:
        fail(f"{NAME}: {error}")
    finally:
        for api in apis.values():
            api.close()
    print(summary.line(), file=sys.stderr)
    if summary.dead_letters:
        raise SystemExit(PARTIAL)


def intervals(settings: Settings) -> Intervals:
    return Intervals(in_transit_s=settings.tracking_interval_s,
                     near_delivery_s=settings.tracking_near_delivery_interval_s,
                     pre_transit_s=settings.tracking_pre_transit_interval_s,
                     max_age_s=settings.tracking_max_age_days * 86_400,
                     backoff_max_s=settings.tracking_backoff_max_s)


def gates(settings: Settings) -> dict[str, CarrierGate]:
    return {carrier: CarrierGate(settings.tracking_min_request_gap_s,
                                 settings.tracking_daily_quota.get(carrier))
            for carrier in ("ups", "fedex", "usps", "dhl")}


def _named(catalog: str, name: str | None) -> Topic:
    return replace(topic(catalog), name=name) if name else topic(catalog)
