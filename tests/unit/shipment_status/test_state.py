"""The milestone reducer: scripted event sequences with their exact outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from backbone.errors import UnknownCodeError
from backbone.events.logistics import (
    Milestone,
    RawStatus,
    RawStatusSource,
    ShipmentLocation,
    ShipmentMilestone,
    ShipmentStatus,
)
from backbone.samples import sample_shipment_milestone
from processors.shipment_status import (
    MilestoneEffect,
    ShipmentMemory,
    apply,
    load_mappings,
)
from processors.shipment_status.state import MAX_SEEN_KEYS

MAPPINGS = load_mappings()
T0 = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)
M = Milestone
E = MilestoneEffect


def ev(code: str, minute: int, *, reason: str | None = "NS", source: str = "X12_214",
       city: str = "DALLAS", eta: datetime | None = None, description: str | None = None,
       tracking: str = "PRO123") -> ShipmentMilestone:
    return sample_shipment_milestone(
        1, carrier="ODFL", tracking_number=tracking,
        raw_status=RawStatus(source=RawStatusSource(source), code=code, reason_code=reason,
                             description=description),
        event_time=T0 + timedelta(minutes=minute), eta=eta,
        location=ShipmentLocation(city=city, region="TX", country="US"),
    )


def run(events: list[ShipmentMilestone]
        ) -> tuple[ShipmentStatus, ShipmentMemory, list[tuple[MilestoneEffect, Milestone, bool]]]:
    status: ShipmentStatus | None = None
    memory: ShipmentMemory | None = None
    trace = []
    for event in events:
        outcome = apply(status, event, MAPPINGS, memory)
        status, memory = outcome.status, outcome.memory
        trace.append((outcome.effect, status.milestone, status.condition.exception))
    assert status is not None and memory is not None
    return status, memory, trace


def test_in_order_happy_path() -> None:
    status, _, trace = run([ev("XB", 0), ev("AF", 10), ev("X4", 20), ev("X6", 30), ev("X1", 40),
                            ev("D1", 50)])
    assert trace == [
        (E.CREATED, M.PRE_TRANSIT, False), (E.ADVANCED, M.PICKED_UP, False),
        (E.ADVANCED, M.IN_TRANSIT, False), (E.ADVANCED, M.OUT_FOR_DELIVERY, False),
        (E.ADVANCED, M.AT_DELIVERY_LOCATION, False), (E.ADVANCED, M.DELIVERED, False),
    ]
    assert (status.milestone_rank, status.terminal, status.history_count) == (50, True, 6)
    assert status.first_event_at == T0
    assert status.last_event.raw_status.code == "D1"
    assert status.occurred_at == T0 + timedelta(minutes=50)


def test_reverse_order_history_ends_in_the_same_state() -> None:
    # Carrier APIs list newest first; a resend may arrive in any order.
    status, _, trace = run([ev("D1", 50), ev("X6", 30), ev("X4", 20), ev("XB", 0)])
    assert [t[0] for t in trace] == [E.CREATED, E.LATE, E.LATE, E.LATE]
    assert (status.milestone, status.history_count) == (M.DELIVERED, 4)
    assert status.first_event_at == T0
    assert status.last_event.raw_status.code == "D1"


def test_duplicates_change_nothing() -> None:
    first = ev("X4", 20)
    status, memory, trace = run([ev("AF", 10), first, ev("AF", 10), first])
    assert [t[0] for t in trace] == [E.CREATED, E.ADVANCED, E.DUPLICATE, E.DUPLICATE]
    assert status.history_count == 2
    assert len(memory.seen) == 2


def test_same_code_and_time_at_another_location_is_not_a_duplicate() -> None:
    status, _, trace = run([ev("X4", 20, city="DALLAS"), ev("X4", 20, city="TULSA")])
    assert [t[0] for t in trace] == [E.CREATED, E.SAME]
    assert status.history_count == 2


def test_late_lower_rank_event_counts_in_history_only() -> None:
    status, _, trace = run([ev("X6", 30), ev("AF", 10)])
    assert trace[1] == (E.LATE, M.OUT_FOR_DELIVERY, False)
    assert status.history_count == 2
    assert status.last_event.raw_status.code == "X6"
    assert status.first_event_at == T0 + timedelta(minutes=10)


def test_delivery_attempt_then_reattempt_then_delivered() -> None:
    _, _, trace = run([ev("X6", 30), ev("AH", 40, reason="AQ"), ev("X6", 60 * 24),
                            ev("D1", 60 * 24 + 30)])
    assert trace == [
        (E.CREATED, M.OUT_FOR_DELIVERY, False),
        (E.ADVANCED, M.DELIVERY_ATTEMPTED, True),  # AQ recipient unavailable raises
        (E.ADVANCED, M.OUT_FOR_DELIVERY, False),  # newer OFD returns from the side state
        (E.ADVANCED, M.DELIVERED, False),
    ]


def test_old_attempt_arriving_after_the_reattempt_does_not_move_back() -> None:
    _, _, trace = run([ev("X6", 60 * 24), ev("AH", 40)])
    assert trace[1][:2] == (E.LATE, M.OUT_FOR_DELIVERY)


def test_older_out_for_delivery_does_not_leave_the_side_state() -> None:
    _, _, trace = run([ev("AH", 40), ev("X6", 30)])
    assert trace[1][:2] == (E.LATE, M.DELIVERY_ATTEMPTED)


def test_exception_raised_and_cleared_apart_from_progress() -> None:
    status, _, trace = run([ev("X4", 20), ev("SD", 25), ev("P1", 30), ev("A9", 35)])
    assert trace == [
        (E.CREATED, M.IN_TRANSIT, False),
        (E.ATTRIBUTE, M.IN_TRANSIT, True),
        (E.SAME, M.IN_TRANSIT, False),  # a newer normal scan clears the delay
        (E.ATTRIBUTE, M.IN_TRANSIT, True),
    ]
    assert (status.condition.reason_group, status.condition.raw_reason) == ("DAMAGE", "NS")


def test_older_normal_event_does_not_clear_a_newer_exception() -> None:
    status, _, _ = run([ev("SD", 25), ev("X4", 20)])
    assert status.condition.exception is True
    assert status.condition.reason_group == "DELAYED"


def test_older_exception_does_not_overrule_a_newer_clear() -> None:
    status, _, _ = run([ev("P1", 30), ev("SD", 25)])
    assert status.condition.exception is False


def test_reason_code_raises_on_a_progress_event() -> None:
    status, _, _ = run([ev("X6", 30, reason="AF")])
    assert (status.milestone, status.condition.exception, status.condition.reason_group,
            status.condition.raw_reason) == (M.OUT_FOR_DELIVERY, True, "CARRIER", "AF")


def test_nothing_moves_a_terminal_state_and_higher_ranks_are_refused_with_a_warning() -> None:
    status, _, trace = run([ev("D1", 50), ev("X6", 60), ev("A3", 70)])
    assert [t[:2] for t in trace] == [(E.CREATED, M.DELIVERED), (E.LATE, M.DELIVERED),
                                      (E.REFUSED, M.DELIVERED)]
    assert status.warnings == ("RETURN_TO_SENDER after terminal DELIVERED ignored; "
                               "check the carrier's data",)


def test_damage_after_delivery_raises_the_condition() -> None:
    status, _, trace = run([ev("D1", 50), ev("A9", 60)])
    assert trace[1] == (E.ATTRIBUTE, M.DELIVERED, True)
    assert status.terminal


def test_cancel_only_before_pickup() -> None:
    status, _, trace = run([ev("XB", 0), ev("CA", 5)])
    assert trace[1][:2] == (E.ADVANCED, M.CANCELLED)
    assert status.terminal and status.milestone_rank == 80
    status, _, trace = run([ev("AF", 10), ev("CA", 20)])
    assert trace[1][:2] == (E.REFUSED, M.PICKED_UP)
    assert "only be cancelled before pickup" in status.warnings[0]


def test_return_branch_and_returned_terminal() -> None:
    status, _, trace = run([ev("X6", 30), ev("A3", 40), ev("X4", 50), ev("D1", 90)])
    assert [t[:2] for t in trace] == [
        (E.CREATED, M.OUT_FOR_DELIVERY), (E.ADVANCED, M.RETURN_TO_SENDER),
        (E.LATE, M.RETURN_TO_SENDER), (E.LATE, M.RETURN_TO_SENDER),
    ]
    status, _, _ = run([ev("in_transit", 0, source="EASYPOST", reason=None),
                        ev("failure", 10, source="EASYPOST", reason=None)])
    assert (status.milestone, status.terminal, status.condition.exception) == (M.LOST, True, True)


def test_available_for_pickup_then_collected() -> None:
    _, _, trace = run([ev("IT", 0, source="FEDEX", reason=None),
                       ev("HP", 10, source="FEDEX", reason=None),
                       ev("DL", 20, source="FEDEX", reason=None)])
    assert [t[1] for t in trace] == [M.IN_TRANSIT, M.AVAILABLE_FOR_PICKUP, M.DELIVERED]


def test_eta_and_location_pings_update_attributes_not_the_milestone() -> None:
    eta1, eta2 = T0 + timedelta(days=2), T0 + timedelta(days=3)
    status, _, trace = run([ev("X4", 20), ev("AG", 25, eta=eta1), ev("X2", 22, eta=eta2)])
    assert [t[:2] for t in trace] == [(E.CREATED, M.IN_TRANSIT), (E.ATTRIBUTE, M.IN_TRANSIT),
                                      (E.ATTRIBUTE, M.IN_TRANSIT)]
    assert status.eta == eta1  # the estimate made at minute 22 is older than the one at 25


def test_eta_code_without_eta_warns() -> None:
    status, _, _ = run([ev("X4", 20), ev("AG", 25)])
    assert status.warnings == ("AG is an ETA code but the event carries no eta",)


def test_first_event_without_progress_starts_unknown_then_moves() -> None:
    status, _, trace = run([ev("AG", 0, eta=T0), ev("XB", 5)])
    assert [t[:2] for t in trace] == [(E.CREATED, M.UNKNOWN), (E.ADVANCED, M.PRE_TRANSIT)]
    assert status.eta == T0


def test_ups_out_for_delivery_under_type_i() -> None:
    status, _, _ = run([
        ev("I", 10, source="UPS", reason="AR", description="ARRIVAL SCAN"),
        ev("I", 20, source="UPS", reason="DS", description="OUT FOR DELIVERY"),
        ev("I", 15, source="UPS", reason="DS", description="DESTINATION SCAN"),
    ])
    assert status.milestone is M.OUT_FOR_DELIVERY


def test_unknown_code_raises_and_changes_nothing() -> None:
    status, memory, _ = run([ev("X4", 20)])
    with pytest.raises(UnknownCodeError, match="X12_214 status code 'QQ'"):
        apply(status, ev("QQ", 30), MAPPINGS, memory)


def test_event_for_another_shipment_is_refused() -> None:
    status, memory, _ = run([ev("X4", 20)])
    with pytest.raises(ValueError, match="applied to status of ODFL:PRO123"):
        apply(status, ev("X6", 30, tracking="OTHER"), MAPPINGS, memory)


def test_memory_round_trips_through_json_and_stays_bounded() -> None:
    status, memory, _ = run([ev("X4", 20), ev("SD", 25)])
    restored = ShipmentMemory.from_dict(json.loads(json.dumps(memory.to_dict())))
    assert restored == memory
    again = apply(status, ev("SD", 25), MAPPINGS, restored)
    assert again.duplicate
    events = [ev("X4", minute) for minute in range(MAX_SEEN_KEYS + 5)]
    _, memory, _ = run(events)
    assert len(memory.seen) == MAX_SEEN_KEYS


def test_status_envelope_is_deterministic_and_valid() -> None:
    a, _, _ = run([ev("XB", 0), ev("AF", 10)])
    b, _, _ = run([ev("XB", 0), ev("AF", 10)])
    assert a == b
    assert a.idempotency_key.startswith("shipment-status:ODFL:PRO123:")
    assert ShipmentStatus.from_json_dict(a.to_json_dict()) == a
    assert a.correlation.tracking_numbers == ("PRO123",)


def _exactly(model: object) -> object:
    """A model spelled out with field order, set fields and the exact type of every value."""
    if isinstance(model, BaseModel):
        return (type(model), sorted(model.model_fields_set),
                [(name, _exactly(value)) for name, value in model.__dict__.items()])
    if isinstance(model, tuple | list):
        return (type(model), [_exactly(item) for item in model])
    return (type(model), model)


@pytest.mark.parametrize("codes", [["AF", "X6", "AG", "D1"], ["AF", "SD", "X1"], ["CA"]])
def test_the_status_built_from_validated_values_equals_a_validated_one(codes: list[str]) -> None:
    """apply builds its outputs without re-validating (from_validated): they must be exactly
    what validation would build, down to field order, set fields and value types."""
    status: ShipmentStatus | None = None
    memory: ShipmentMemory | None = None
    for minute, code in enumerate(codes):
        outcome = apply(status, ev(code, minute * 10, eta=T0 + timedelta(days=1)), MAPPINGS,
                        memory)
        status, memory = outcome.status, outcome.memory
        validated = ShipmentStatus.model_validate(status.model_dump())
        validated_fields = ShipmentStatus(**{
            name: getattr(status, name) for name in status.model_fields_set})
        assert _exactly(status) == _exactly(validated_fields)
        assert status.model_dump() == validated.model_dump()
        assert _exactly(memory) == _exactly(ShipmentMemory(**{
            name: getattr(memory, name) for name in memory.model_fields_set}))
