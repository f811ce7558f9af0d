"""Carrier REST tracking answers parsed into ShipmentMilestone events vs ``json.loads`` alone
of the same bodies (the floor any parser of these formats pays)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import report, result
from connectors.carriers import parse

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "carriers"
# The recorded answers that hold events (carrier, file), as the poller receives them.
BODIES = [
    ("usps", "karrio__usps__TrackingResponse.json"),
    ("fedex", "karrio__fedex__DuplicateTrackingResponse.json"),
    ("fedex", "karrio__fedex__InconsistentDateTimeResponse.json"),
    ("ups", "karrio__ups__TrackingResponseJSON.json"),
    ("dhl", "karrio__dhl_universal__TrackingResponseJSON.json"),
]
REPEAT = 400
ROUNDS = 5
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _rate(action: Callable[[str, bytes], Any], bodies: list[tuple[str, bytes]]) -> float:
    started = time.perf_counter()
    for carrier, body in bodies:
        action(carrier, body)
    return len(bodies) / (time.perf_counter() - started)


def run() -> list[dict[str, Any]]:
    bodies = [(carrier, (CORPUS / name).read_bytes()) for carrier, name in BODIES] * REPEAT
    events = sum(len(parse(c, b, name="bench", recorded_at=NOW, tracking_number="1").events)
                 for c, b in bodies[:len(BODIES)])
    ours, floor = [], []
    for _ in range(ROUNDS):  # interleaved; medians
        ours.append(_rate(lambda c, b: parse(c, b, name="bench", recorded_at=NOW,
                                             tracking_number="1"), bodies))
        floor.append(_rate(lambda _c, b: json.loads(b), bodies))
    ours_median = statistics.median(ours)
    print(f"carriers: {len(BODIES)} answers ({sum(len(b) for _, b in bodies[:len(BODIES)]):,} "
          f"bytes, {events} events) x {REPEAT}; parse = {ours_median * events / len(BODIES):,.0f} "
          "events/s")
    return [result("carriers: parse to milestones vs json.loads", ours_median,
                   statistics.median(floor), 0.1, "answers/s", "json.loads")]


if __name__ == "__main__":
    report(run())
