"""The three processors as operators run them (``python -m backbone process NAME``) on the
three-node cluster, each on fresh ``<prefix>.``-named copies of its catalog topics created
by ``apply_topics`` (replication factor 3, min ISR 2), with N uniquely numbered inputs.

A faulted run is compared with a clean run of the same inputs: every output of the clean run
is one expected "input" of the checker (its id: a digest of topic, key and value bytes; its
key: topic and record key; its number: its place in that key's order).
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from confluent_kafka import Message

from backbone.events import Event, Quantity
from backbone.kafka import apply_topics
from backbone.samples import (
    sample_goods_receipt,
    sample_inventory_movement,
    sample_inventory_snapshot,
    sample_purchase_order_changed,
)
from processors.api import ProcessorTopics, processor
from tests.reliability.checker import Report, Sent, check, read_committed
from tests.reliability.cluster import Cluster
from tests.reliability.processor_harness import (
    count_committed,
    processor_env,
    produce_events,
    serde_for,
    start_processor,
)
from tests.reliability.workloads import milestones

Inputs = list[tuple[str, list[Event]]]  # (catalog topic, events) in production order


def shipment_status_inputs() -> Inputs:
    events, _ = milestones(400, 5, seed=1000)  # N = 2,000
    return [("logistics.shipment-milestone.raw.v1", list(events))]


def order_fulfillment_inputs() -> Inputs:
    """1,000 POs, then a receipt against the first line of each (re-keyed by SKU to the PO
    through the repartition topic): N = 2,000."""
    orders, receipts = [], []
    for seed in range(1_000):
        order = sample_purchase_order_changed(seed)
        line = order.lines[0]
        receipt = sample_goods_receipt(seed, po_number=order.po_number, asn_id=None)
        receipt = receipt.model_copy(update={
            "lines": (receipt.lines[0].model_copy(update={
                "line_ref": line.line_number, "item": line.item,
                "received_qty": Quantity(value=Decimal(1), uom="EA")}),),
            "sku": line.item.sku or receipt.sku})
        orders.append(order)
        receipts.append(receipt)
    return [("procurement.purchase-order.v1", orders), ("inventory.receipt.v1", receipts)]


def stock_reconciliation_inputs() -> Inputs:
    """400 sku@site: a WMS count, then four movements of -1 each: N = 2,000."""
    snapshots, movements = [], []
    for seed in range(400):
        count = sample_inventory_snapshot(seed, sku=f"SKU-{seed:04d}", location="DC-ATL-01")
        count = count.model_copy(update={
            "source": count.source.model_copy(update={"system": "WMS"}),
            "quantities": {"ON_HAND": Quantity(value=Decimal(100), uom="EA")}})
        snapshots.append(count)
        for n in range(4):
            move = sample_inventory_movement(seed * 10 + n, sku=count.sku,
                                             location=count.location)
            movements.append(move.model_copy(update={
                "event_id": str(uuid.uuid4()), "movement_id": f"M-{seed}-{n}",
                "source": move.source.model_copy(update={"system": "WMS"}),
                "occurred_at": count.as_of + timedelta(minutes=5 + n),
                "qty_delta": Quantity(value=Decimal(-1), uom="EA")}))
    return [("inventory.snapshot.v1", snapshots), ("inventory.movement.v1", movements)]


N = 2_000  # inputs of each workload

WORKLOADS: dict[str, Callable[[], Inputs]] = {
    "shipment-status": shipment_status_inputs,
    "order-fulfillment": order_fulfillment_inputs,
    "stock-reconciliation": stock_reconciliation_inputs,
}
_INPUTS: dict[str, Inputs] = {}


def inputs_of(name: str) -> Inputs:
    """The same inputs for the clean and every faulted run of a processor in this session."""
    if name not in _INPUTS:
        _INPUTS[name] = WORKLOADS[name]()
    return _INPUTS[name]


# processors whose state keys merge inputs written under other record keys (re-keyed through a
# repartition topic): their per-key interleaving is not deterministic (README.md, "Merging")
MERGING = {"order-fulfillment"}
# fields of an output that name the input that caused it, not the state it publishes
CAUSE_FIELDS = {"event_id", "occurred_at", "occurred_at_offset_minutes", "recorded_at",
                "correlation", "idempotency_key"}


@dataclass(frozen=True)
class Output:
    """One committed output record: its id (a digest of topic, key and value bytes), its key
    (``<topic>|<record key>``, the topic without the run's prefix), its ``event_id`` header
    (the processors derive it from the key and the input event it answers) and its value."""

    id: str
    key: str
    event_id: str
    topic: str
    value: bytes


def output_of(message: Message) -> Output:
    topic = message.topic().split(".", 1)[1]  # without the run's prefix
    key = message.key() or b""
    digest = hashlib.blake2b(digest_size=12)
    for part in (topic.encode(), key, message.value() or b""):
        digest.update(len(part).to_bytes(4, "big") + part)
    event_id = dict(message.headers() or []).get("event_id") or b""
    return Output(digest.hexdigest(), f"{topic}|{key.decode(errors='replace')}",
                  event_id.decode(), topic, message.value() or b"")


@dataclass
class ProcessorRun:
    """One processor on its own topics, group and state; ``instances`` it has started."""

    cluster: Cluster
    name: str
    prefix: str
    state_dir: Path
    instances: list[subprocess.Popen[bytes]]

    @property
    def topics(self) -> ProcessorTopics:
        return ProcessorTopics.prefixed(processor(self.name), self.prefix)

    @property
    def outputs(self) -> list[str]:
        return [self.topics.name(t) for t in processor(self.name).output_topics]

    def env(self, instance: int = 0, **extra: str) -> dict[str, str]:
        """A dead instance (SIGKILLed, SIGSTOPped) loses its partitions after 30 s instead of
        the default 45 s session timeout; not less: at 10 s a live processor's session timed
        out while its group coordinator failed over after a broker kill, and it stopped.
        Dynamic membership, not static (``BACKBONE_PROCESSOR_INSTANCE_ID``): a static member
        whose session timed out was fenced by its own rejoin, fatally (README.md)."""
        return processor_env(self.cluster.bootstrap, self.cluster.registry_url, self.prefix,
                             self.state_dir / f"instance-{instance}", f"{self.prefix}.",
                             **{"BACKBONE_PROCESSOR_SESSION_TIMEOUT_MS": "30000", **extra})

    def start(self, instance: int = 0, until_idle_s: float | None = None,
              **extra: str) -> subprocess.Popen[bytes]:
        started = start_processor(self.name, self.env(instance, **extra), until_idle_s,
                                  log=self.state_dir / f"instance-{instance}.log")
        self.instances.append(started)
        return started

    def committed(self, at_least: int, timeout_s: float = 90.0) -> int:
        """Waits until the first output topic holds ``at_least`` committed records."""
        return count_committed(self.cluster.bootstrap, self.outputs[0], at_least, timeout_s)

    def read(self, expect: int, timeout_s: float = 150.0) -> list[Output]:
        """Every committed output, in the order read."""
        outputs: list[Output] = []

        def collect(message: Message) -> str:
            outputs.append(output_of(message))
            return outputs[-1].id

        read_committed({"bootstrap.servers": self.cluster.bootstrap}, self.outputs, collect,
                       expect=expect, idle_s=4.0, timeout_s=timeout_s)
        return outputs

    def finish(self, expect: int, timeout_s: float = 150.0) -> list[Output]:
        """Wait until ``expect`` outputs are committed, stop every instance, then read them
        all (in the order read)."""
        self.read(expect, timeout_s)
        self.stop_all()
        return self.read(expect, timeout_s=30)

    def final_states(self, outputs: list[Output]) -> dict[str, str]:
        """Per key, its last output decoded without the fields that name the input which
        caused it: the state the processor published last for that key."""
        last = {output.key: output for output in outputs}
        serde = serde_for(self.cluster.registry_url)
        try:
            return {key: json.dumps(serde.deserialize(self.topics.topic(o.topic), o.value)
                                    .model_dump(mode="json", exclude=CAUSE_FIELDS),
                                    sort_keys=True)
                    for key, o in last.items()}
        finally:
            serde.registry.close()

    def log(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in self.state_dir.glob("*.log"))

    def stop_all(self) -> None:
        for instance in self.instances:
            if instance.poll() is None:
                instance.send_signal(signal.SIGCONT)
                instance.terminate()
                try:
                    instance.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    instance.kill()
                    instance.wait(timeout=10)


def prepared_run(cluster: Cluster, name: str, tmp_path: Path) -> ProcessorRun:
    """Fresh topics (replicated as the catalog says) holding the processor's inputs."""
    # 5 characters: Quix names order-fulfillment's changelog after the group and all six of its
    # sources, each prefixed, and Kafka caps names at 255
    prefix = f"t{uuid.uuid4().hex[:4]}"
    run = ProcessorRun(cluster, name, prefix, tmp_path / prefix, [])
    run.state_dir.mkdir(parents=True)
    spec = processor(name)
    refused = [c for c in apply_topics(cluster.admin(), [run.topics.topic(t)
                                                         for t in spec.all_topics])
               if c.action == "refused"]
    assert not refused, refused
    serde = serde_for(cluster.registry_url)
    try:
        for catalog_name, events in inputs_of(name):
            produce_events(cluster.bootstrap, serde, run.topics, catalog_name, events)
    finally:
        serde.registry.close()
    return run


@dataclass(frozen=True)
class Clean:
    """A clean run's outputs (in the order committed) and each key's final state."""

    name: str
    outputs: list[Output]
    final: dict[str, str]

    def __len__(self) -> int:
        return len(self.outputs)

    @property
    def expect(self) -> int:
        """How many outputs a faulted run commits at least: the clean run's, or for a
        merging processor one per key (inputs merged in another order may answer fewer)."""
        return len(self.final) if self.merging else len(self.outputs)

    @property
    def merging(self) -> bool:
        return self.name in MERGING


_CLEAN: dict[str, Clean] = {}


def clean_outputs(cluster: Cluster, name: str, tmp_path: Path) -> Clean:
    """The clean run of ``name`` (once per session)."""
    if name in _CLEAN:
        return _CLEAN[name]
    run = prepared_run(cluster, name, tmp_path)
    try:
        assert run.start(until_idle_s=5).wait(timeout=180) == 0, run.log()
        outputs = run.read(expect=1)
    finally:
        run.stop_all()
    assert len({o.id for o in outputs}) == len(outputs), "a clean run must not repeat an output"
    _CLEAN[name] = Clean(name, outputs, run.final_states(outputs))
    return _CLEAN[name]


def judge(fault: str, run: ProcessorRun, clean: Clean, outputs: list[Output],
          recovery_s: float | None = None) -> Report:
    """The checker's report on a faulted run against the clean run.

    Every processor: its outputs are the clean run's, record for record (digests), each
    key's in the same order. A MERGING processor: the clean run's outputs are one possible
    interleaving among several, so instead no output twice (by ``event_id``: one per input
    event and key), none for an input the clean run did not answer, and every key's final
    state equal to the clean run's; ``reordered`` counts the keys whose inputs were merged
    in another order than in the clean run (``interleaved``: allowed, reported)."""
    workload = f"{run.name}, N={N}"
    if run.name not in MERGING:
        numbers: dict[str, int] = {}
        sent = []
        for output in clean.outputs:
            numbers[output.key] = numbers.get(output.key, -1) + 1
            sent.append(Sent(output.id, output.key, numbers[output.key]))
        return check(fault, workload, sent, [o.id for o in outputs], recovery_s=recovery_s)
    final = run.final_states(outputs)
    clean_ids = {o.event_id for o in clean.outputs}
    copies: dict[str, int] = {}
    for output in outputs:
        copies[output.event_id] = copies.get(output.event_id, 0) + 1

    def order(of: list[Output]) -> dict[str, list[str]]:
        keys: dict[str, list[str]] = {}
        for output in of:
            keys.setdefault(output.key, []).append(output.event_id)
        return keys

    clean_order = order(clean.outputs)
    report = Report(fault, f"{workload} (merging: final state per key)", len(clean.final),
                    len(final), lost=[k for k in clean.final if k not in final],
                    duplicated={i: n - 1 for i, n in copies.items() if n > 1},
                    recovery_s=recovery_s)
    report.interleaved = sum(1 for key, ids in order(outputs).items()
                             if ids != clean_order.get(key))
    wrong = [k for k in clean.final if k in final and final[k] != clean.final[k]]
    strangers = [i for i in copies if i not in clean_ids] + [k for k in final
                                                             if k not in clean.final]
    if wrong:
        report.note = f"{len(wrong)} keys end in another state, e.g. {wrong[:3]}"
    if strangers:
        report.note += f" {len(strangers)} outputs nobody caused, e.g. {strangers[:3]}"
    return report
