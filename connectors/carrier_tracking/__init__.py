"""The carrier tracking poller (``backbone connect carrier-tracking``): the shipments in flight,
asked of the carriers' REST tracking APIs on a schedule, new ShipmentMilestone events published
once each. See poller.py for a round, schedule.py for when, clients.py for how.
"""

from connectors.carrier_tracking.clients import Answer, CarrierApi, TrackingApiError
from connectors.carrier_tracking.poller import NAME, RoundSummary, TrackingPoller
from connectors.carrier_tracking.schedule import CarrierGate, Intervals, Watch

__all__ = ["NAME", "Answer", "CarrierApi", "CarrierGate", "Intervals", "RoundSummary",
           "TrackingApiError", "TrackingPoller", "Watch"]
