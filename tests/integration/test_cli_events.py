"""`backbone topics`, `publish` and `tail` as a user types them, against the real stack."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from backbone.kafka import apply_topics
from backbone.samples import sample_shipment_milestone
from backbone.stack import Endpoints
from backbone.topics import topic

pytestmark = pytest.mark.integration

MILESTONES = "logistics.shipment-milestone.raw.v1"


def backbone(stack: Endpoints, *args: str, stdin: str | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
           "SCHEMA_REGISTRY_URL": stack.registry_url}
    return subprocess.run([sys.executable, "-m", "backbone", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_topics_apply_is_idempotent(stack: Endpoints) -> None:
    backbone(stack, "topics", "apply")
    second = backbone(stack, "topics", "apply")
    assert second.returncode == 0, second.stderr
    actions = {line.split()[0] for line in second.stdout.splitlines()}
    assert actions == {"unchanged"}
    assert second.stdout.count("\n") == len(backbone(stack, "topics", "list", "--json")
                                            .stdout.splitlines())


def test_apply_grows_partitions_and_refuses_to_shrink(admin: AdminClient) -> None:
    import uuid
    from dataclasses import replace

    base = replace(topic(MILESTONES), name=f"test.apply.{uuid.uuid4().hex[:8]}", partitions=2)
    assert [c.action for c in apply_topics(admin, [base])] == ["created"]
    grown = replace(base, partitions=4, retention_ms=3_600_000)
    [change] = apply_topics(admin, [grown])
    assert change.action == "altered"
    assert "partitions 2 -> 4" in change.detail and "retention.ms" in change.detail
    [refused] = apply_topics(admin, [replace(grown, partitions=1)])
    assert refused.action == "refused" and "cannot remove partitions" in refused.detail


def test_publish_then_tail_round_trip_with_bad_lines_reported(
    stack: Endpoints, admin: AdminClient, tmp_path: Path
) -> None:
    apply_topics(admin, [topic(MILESTONES)])
    # seeds of this run only: the catalog topic keeps earlier runs' events on a reused cluster
    base = secrets.randbelow(10**9)
    events = [sample_shipment_milestone(seed=base + n) for n in range(3)]
    lines = [json.dumps(e.to_json_dict()) for e in events]
    bad_type = json.dumps({**events[0].to_json_dict(), "event_time": "yesterday"})
    source = tmp_path / "milestones.jsonl"
    source.write_text("\n".join([lines[0], "{not json", lines[1], bad_type, lines[2]]) + "\n")

    published = backbone(stack, "publish", MILESTONES, str(source))

    assert published.returncode == 1, published.stderr
    assert f"{source} line 2: not JSON" in published.stderr
    assert f"{source} line 4: field event_time" in published.stderr
    assert "published 3 events" in published.stderr

    tailed = backbone(stack, "tail", MILESTONES, "--from-beginning", "--timeout", "5")
    assert tailed.returncode == 0, tailed.stderr
    ours = {e.event_id for e in events}
    seen = [json.loads(line) for line in tailed.stdout.splitlines()]
    mine = [line for line in seen if line["event_id"] in ours]
    assert sorted(line["event_id"] for line in mine) == sorted(ours)
    # tail prints exactly what publish reads: the round trip is lossless
    assert {json.dumps(line, sort_keys=True) for line in mine} == {
        json.dumps(e.to_json_dict(), sort_keys=True) for e in events
    }


def test_publish_reports_lines_that_crashed_it_by_number(
    stack: Endpoints, admin: AdminClient, tmp_path: Path
) -> None:
    """Found by fuzzing (issue 14): a deeply nested line killed the command (RecursionError),
    and so did a line that is not UTF-8 (the file was decoded before any line was read)."""
    apply_topics(admin, [topic(MILESTONES)])
    base = secrets.randbelow(10**9)
    good = [json.dumps(sample_shipment_milestone(seed=base + n).to_json_dict()).encode()
            for n in range(2)]
    deep_but_readable = json.dumps({**json.loads(good[0]), "carrier": json.loads(
        "[" * 900 + "]" * 900)}).encode()
    lone_surrogate = good[1].replace(b'"carrier": "', b'"carrier": "\\ud800', 1)
    assert lone_surrogate != good[1]
    source = tmp_path / "milestones.jsonl"
    source.write_bytes(b"\n".join([good[0], b"[" * 100_000, b"\xff\xfe{}", deep_but_readable,
                                   lone_surrogate, good[1]]) + b"\n")

    published = backbone(stack, "publish", MILESTONES, str(source))

    assert published.returncode == 1, published.stderr
    assert "Traceback" not in published.stderr
    assert f"{source} line 2: not JSON this command reads: nested too deeply" in published.stderr
    assert f"{source} line 3: not UTF-8 text" in published.stderr
    assert f"{source} line 4: field carrier: Input should be a valid string" in published.stderr
    assert f"{source} line 5: " in published.stderr and "surrogates not allowed" in (
        published.stderr)
    assert "published 2 events to logistics.shipment-milestone.raw.v1; rejected 4 lines" in (
        published.stderr)


def test_publish_of_only_bad_lines_exits_2(stack: Endpoints, admin: AdminClient) -> None:
    apply_topics(admin, [topic(MILESTONES)])
    result = backbone(stack, "publish", MILESTONES, "-", stdin='{"event_type": "nope"}\n')
    assert result.returncode == 2
    assert "stdin line 1" in result.stderr


def test_unknown_topic_is_named(stack: Endpoints) -> None:
    result = backbone(stack, "tail", "no.such.topic.v1", "--max", "1")
    assert result.returncode == 2
    assert "'no.such.topic.v1' is not in the catalog" in result.stderr
