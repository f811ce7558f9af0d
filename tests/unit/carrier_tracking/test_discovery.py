"""Which shipments the poller finds in flight, from ASNs, milestones and statuses."""

from __future__ import annotations

from backbone.events.common import CarrierRef, Correlation, HandlingUnit, HandlingUnitType
from backbone.events.logistics import Milestone, RawStatus, RawStatusSource
from backbone.samples import (
    sample_advance_ship_notice,
    sample_shipment_milestone,
    sample_shipment_status,
)
from connectors.carrier_tracking.discovery import Sighting, sightings
from processors.shipment_status import load_mappings

MAPPINGS = load_mappings()


def test_an_asn_names_its_parcels_under_the_carrier_api_of_its_scac() -> None:
    asn = sample_advance_ship_notice(1)
    order = asn.orders[0]
    units = (*order.handling_units, HandlingUnit(type=HandlingUnitType.CARTON,
                                                          tracking_number="1ZUNIT0001"))
    parcel = asn.model_copy(update={
        "carrier": CarrierRef(scac="UPSN"),
        "correlation": Correlation(tracking_numbers=("1ZCORR0001", "1ZUNIT0001")),
        "orders": (order.model_copy(update={"handling_units": units}),)})
    assert sightings(parcel, MAPPINGS) == [Sighting("ups", "1ZCORR0001"),
                                           Sighting("ups", "1ZUNIT0001")]
    # an LTL carrier (ODFL) has no tracking API here: not polled
    assert sightings(asn, MAPPINGS) == []


def test_a_milestone_names_its_shipment_and_the_milestone_it_proves() -> None:
    event = sample_shipment_milestone(1)  # UPSN, I/DS "OUT FOR DELIVERY"
    assert sightings(event, MAPPINGS) == [
        Sighting("ups", event.tracking_number, Milestone.OUT_FOR_DELIVERY)]
    unknown = event.model_copy(update={"raw_status": RawStatus(source=RawStatusSource.UPS,
                                                               code="ZZ")})
    assert sightings(unknown, MAPPINGS) == [Sighting("ups", event.tracking_number, None)]


def test_a_terminal_status_is_seen_as_such() -> None:
    status = sample_shipment_status(1).model_copy(update={"carrier": "FDX"})
    assert sightings(status, MAPPINGS) == [
        Sighting("fedex", status.tracking_number, Milestone.DELIVERED)]
    freight = sample_shipment_status(1)  # FXFE: FedEx Freight, not the parcel Track API
    assert sightings(freight, MAPPINGS) == []
