"""The EDI inbox: partner files in, canonical events and dead letters out, 997/999s back.

For each file of the inbox (oldest first; hidden, `.tmp` and `.part` files are left alone):

1. read and envelope-check every transaction set, map the accepted ones;
2. a fatal file problem (not X12, truncated ISA, 1 MB segment, file cut short) publishes
   nothing: the file is quarantined in `failed/` beside `<file>.error.txt`;
3. otherwise, per interchange not yet in the ledger (sender + ISA13, whatever the file name):
   publish its events through `producers.EventPublisher`, and each rejected set (envelope or
   mapping) as a dead letter on `edi-x12.dlq.v1` (value: the set's raw text; headers
   `backbone.dlq.*`: reason, file, position, control numbers);
4. wait for every delivery; only then record the interchanges in the ledger, write one
   997 (999 for 005010) per functional group (never for a group of 997/999s; AK9 notes the
   group's trailer errors), and a TA1 per interchange whose ISA14 asks for one (E with the
   TA105 note when its IEA was wrong) to the outbound folder, and move the file to
   `processed/` (with `<file>.report.txt` when something was rejected). A delivery failure
   moves it to `failed/` with `<file>.error.txt`; the ledger is untouched, so a retry
   (move it back to the inbox) publishes it again — at least once, never lost.

Memory stays flat whatever the file's size: it is read twice (a fatal problem is looked for
first), sets are mapped and published one at a time, and deliveries are awaited every
10,000 events; only one small verdict per set (for the 997/999) is kept. One ingest process
per inbox: the ledger is a local file (see `connectors.edi_x12.ledger`).
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer

from backbone.clients import KafkaClients
from backbone.dead_letters import DeadLetter, Stage, now_ms
from backbone.errors import BackboneError, Category, PublishError
from backbone.events import Event
from backbone.headers import child_traceparent, new_traceparent
from backbone.registry import RegistryAuthError
from connectors.edi_x12.envelope import read_file
from connectors.edi_x12.errors import EdiError
from connectors.edi_x12.functional_ack import (
    TA1_NOTE_NO_ERROR,
    SetVerdict,
    functional_ack,
    group_error_code,
    interchange_ack,
    interchange_note_code,
    needs_functional_ack,
    set_error_code,
)
from connectors.edi_x12.ledger import InterchangeLedger, interchange_key
from connectors.edi_x12.mapping import MappingError, map_transaction_set
from connectors.edi_x12.model import (
    FunctionalGroup,
    Interchange,
    TransactionSet,
)
from producers.publisher import Delivery, EventPublisher, producer_config, wait_all

DLQ_TOPIC = "edi-x12.dlq.v1"
CONNECTOR = "edi-x12"
_IGNORED_SUFFIXES = (".tmp", ".part")
_SETTLE_EVERY = 10_000


@dataclass
class FileOutcome:
    """What happened to one inbox file."""

    file: str
    moved_to: Path
    published: int = 0
    dead_letters: int = 0
    duplicate_interchanges: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    acknowledgements: list[Path] = field(default_factory=list)
    quarantined: bool = False


@dataclass
class _Interchange:
    header: Interchange
    duplicate: bool
    events: int = 0
    trace: str = field(default_factory=new_traceparent)
    # one small verdict per set: what the 997/999 reports (the events are not kept)
    groups: dict[str, tuple[FunctionalGroup, list[SetVerdict]]] = field(default_factory=dict)
    group_errors: dict[str, list[str]] = field(default_factory=dict)  # AK905 codes by GS06
    ta1_note: str = TA1_NOTE_NO_ERROR  # TA105 of the interchange's trailer problem, if any


class _Deliveries:
    """Outstanding deliveries of one file, settled every ``_SETTLE_EVERY`` so that neither
    the futures nor librdkafka's queue grow with the file."""

    def __init__(self, inbox: EdiInbox) -> None:
        self.inbox = inbox
        self.events: list[Future[Delivery]] = []
        self.dead_letter_futures: list[Future[None]] = []
        self.published = self.dead_letters = 0

    def event(self, future: Future[Delivery]) -> None:
        self.events.append(future)
        if len(self.events) >= _SETTLE_EVERY:
            self.settle()

    def dead_letter(self, future: Future[None]) -> None:
        self.dead_letter_futures.append(future)
        if len(self.dead_letter_futures) >= _SETTLE_EVERY:
            self.settle()

    def settle(self) -> None:
        """Wait (bounded) for every outstanding delivery; PublishError if one failed."""
        self.inbox.publisher.flush(self.inbox.flush_timeout_s)
        self.inbox.dead_letters.flush(self.inbox.flush_timeout_s)
        self.published += len(wait_all(self.events))
        for future in self.dead_letter_futures:
            future.result(timeout=0)
        self.dead_letters += len(self.dead_letter_futures)
        self.events, self.dead_letter_futures = [], []


class DeadLetters:
    """Rejected transaction sets to the connector's dead-letter topic, raw text as value."""

    def __init__(self, kafka: KafkaClients | str, topic: str = DLQ_TOPIC,
                 producer: Producer | None = None) -> None:
        self.topic = topic
        self._producer = producer or Producer(producer_config(kafka))

    def send(self, transaction_set: TransactionSet, interchange: Interchange,
             error: EdiError, group: FunctionalGroup | None = None) -> Future[None]:
        future: Future[None] = Future()

        def on_delivery(failure: KafkaError | None, _: Message) -> None:
            if failure is not None:
                future.set_exception(PublishError(
                    f"dead letter for {error.file} set {transaction_set.control_number} not "
                    f"delivered to {self.topic}: {failure.str()}"))
            else:
                future.set_result(None)

        d = interchange.delimiters
        raw = "".join(d.element.join(s.fields) + d.segment for s in transaction_set.segments)
        headers = edi_dead_letter(transaction_set, interchange, error, group).to_headers()
        key = interchange_key(interchange.sender_qualifier, interchange.sender_id,
                              interchange.control_number)
        while True:
            try:
                self._producer.produce(self.topic, value=raw.encode("utf-8"),
                                       key=f"{key}:{transaction_set.control_number}",
                                       headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                self._producer.poll(0.1)
        self._producer.poll(0)
        return future

    def flush(self, timeout_s: float) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise PublishError(f"{remaining} dead letters had no delivery report after "
                               f"{timeout_s:.0f}s; is the broker reachable?")


def edi_dead_letter(transaction_set: TransactionSet, interchange: Interchange,
                    error: EdiError, group: FunctionalGroup | None = None) -> DeadLetter:
    """The dead-letter record of a rejected set: its place in the file, and the ISA and GS
    segments (``source.isa`` / ``source.gs``) that `backbone dlq replay` wraps it in again."""
    d = interchange.delimiters
    source = {
        "file": error.file, "segment": str(error.segment_index or ""),
        "byte_offset": str(error.byte_offset or ""),
        "interchange": interchange.control_number, "group": error.group_control or "",
        "transaction_set": f"{transaction_set.set_id} {transaction_set.control_number}",
        "isa": d.element.join(interchange.header.fields) + d.segment,
    }
    if group is not None:
        source["gs"] = d.element.join(group.header.fields) + d.segment
    return DeadLetter(stage=Stage.CONNECTOR.value, owner=CONNECTOR, message=str(error),
                      category=Category.SCHEMA_VALIDATION.value, step=error.scope,
                      first_failure_ms=(now := now_ms()), last_failure_ms=now,
                      source={k: v for k, v in source.items() if v})


class EdiInbox:
    """Ingests an inbox folder: `run_once()` processes what is there, `run()` keeps polling."""

    def __init__(
        self,
        inbox: Path,
        publisher: EventPublisher,
        dead_letters: DeadLetters,
        *,
        outbound: Path | None = None,
        state_dir: Path | None = None,
        flush_timeout_s: float = 30.0,
        log: Callable[[str], None] = print,
        on_file: Callable[[FileOutcome], None] | None = None,
    ) -> None:
        """``on_file`` is called after each file is settled (metrics hook)."""
        self.inbox = inbox
        self.on_file = on_file
        self.outbound = outbound or inbox.parent / "outbound"
        self.processed = inbox.parent / "processed"
        self.failed = inbox.parent / "failed"
        self.ledger = InterchangeLedger.open((state_dir or inbox.parent / "state")
                                             / "edi-interchanges.json")
        self.publisher = publisher
        self.dead_letters = dead_letters
        self.flush_timeout_s = flush_timeout_s
        self.log = log

    def pending(self) -> list[Path]:
        if not self.inbox.is_dir():
            return []
        files = [p for p in self.inbox.iterdir()
                 if p.is_file() and not p.name.startswith(".")
                 and not p.name.endswith(_IGNORED_SUFFIXES)]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def run_once(self) -> list[FileOutcome]:
        return [self.ingest(path) for path in self.pending()]

    def run(self, poll_interval_s: float, *, should_stop: Callable[[], bool] = lambda: False
            ) -> None:
        while not should_stop():
            self.run_once()
            time.sleep(poll_interval_s)

    def ingest(self, path: Path) -> FileOutcome:
        """One file, never raising for its content: bad files end in failed/."""
        outcome = self._settle(path)
        if self.on_file is not None:
            self.on_file(outcome)
        return outcome

    def _settle(self, path: Path) -> FileOutcome:
        try:
            return self._ingest(path)
        except RegistryAuthError:
            raise  # our credentials, not this file: stop, leave the file in the inbox
        except (PublishError, BackboneError) as failure:
            return self._quarantine(path, [f"{path.name}: events not delivered: {failure} — "
                                           "move the file back to the inbox once Kafka is "
                                           "reachable"])
        except Exception as unexpected:  # the loop must stay up whatever one file does
            detail = "".join(traceback.format_exception_only(unexpected)).strip()
            return self._quarantine(path, [f"{path.name}: unexpected failure: {detail} — "
                                           "report it with this file"])

    def _ingest(self, path: Path) -> FileOutcome:
        # Two passes over the file so that memory stays flat however large it is: the first
        # only looks for a fatal problem (which must stop the whole file before anything is
        # published), the second maps and publishes set by set.
        fatal = self._fatal_problems(path)
        if fatal is not None:
            return self._quarantine(path, fatal)
        outcome = FileOutcome(path.name, path)
        interchanges = self._publish(path, outcome)
        for key, plan in interchanges.items():
            if not plan.duplicate:
                self.ledger.record(key, path.name, plan.events)
        for plan in interchanges.values():
            for group, verdicts in plan.groups.values():
                if needs_functional_ack(group):
                    errors = tuple(plan.group_errors.get(group.control_number, ()))
                    outcome.acknowledgements.append(self._write_ack(path.name, plan.header,
                                                                    group, verdicts, errors))
            if plan.header.acknowledgment_requested == "1":  # ISA14: the partner wants a TA1
                outcome.acknowledgements.append(self._write_ta1(path.name, plan))
        self.ledger.save()
        outcome.moved_to = self._move(path, self.processed)
        if outcome.problems:
            self._write_report(outcome.moved_to, ".report.txt", outcome.problems)
        return outcome

    def _fatal_problems(self, path: Path) -> list[str] | None:
        """Every rejection of the file when one of them is fatal or the file is empty."""
        problems: list[str] = []
        fatal, empty = False, True
        for result in read_file(path):
            empty = False
            if result.rejection is not None:
                fatal = fatal or result.rejection.fatal
                problems.append(str(result.rejection))
        if empty:
            return [f"{path.name}: the file is empty — ask the partner to resend it"]
        return problems if fatal else None

    def _publish(self, path: Path, outcome: FileOutcome) -> dict[str, _Interchange]:
        """Map and publish the file set by set; waits for every delivery before returning."""
        interchanges: dict[str, _Interchange] = {}
        deliveries = _Deliveries(self)
        for result in read_file(path):
            header = result.interchange
            if header is None:
                continue
            key = interchange_key(header.sender_qualifier, header.sender_id,
                                  header.control_number)
            plan = interchanges.get(key)
            if plan is None:
                plan = interchanges[key] = _Interchange(header, duplicate=self.ledger.seen(key))
                if plan.duplicate:
                    outcome.duplicate_interchanges.append(key)
                    self.log(f"{path.name}: interchange {key} was already published "
                             f"(from {self.ledger.published[key]['file']}); not published "
                             "again")
            ts, group = result.transaction_set, result.group
            if ts is None:
                if result.rejection is not None:
                    outcome.problems.append(str(result.rejection))
                    code = group_error_code(result.rejection.problem)
                    if group is not None and code is not None:
                        plan.group_errors.setdefault(group.control_number, []).append(code)
                    note = interchange_note_code(result.rejection.problem)
                    if note is not None and plan.ta1_note == TA1_NOTE_NO_ERROR:
                        plan.ta1_note = note
                continue
            error = result.rejection
            events: list[Event] = []
            if error is None:
                try:
                    events = map_transaction_set(result, file=path.name)
                except MappingError as failure:
                    error = failure.error
            if error is not None:
                outcome.problems.append(str(error))
            if not plan.duplicate:
                # one trace per interchange: every event of the partner's document is a span
                plan.events += len(events)
                for event in events:
                    deliveries.event(self.publisher.publish(
                        event, traceparent=child_traceparent(plan.trace)))
                if error is not None:
                    deliveries.dead_letter(self.dead_letters.send(ts, plan.header, error, group))
            if group is not None:
                verdicts = plan.groups.setdefault(group.control_number, (group, []))[1]
                verdicts.append(SetVerdict(ts.set_id, ts.control_number,
                                           None if error is None else
                                           set_error_code(error.problem)))
        deliveries.settle()
        outcome.published, outcome.dead_letters = deliveries.published, deliveries.dead_letters
        return interchanges

    def _write_ack(self, name: str, interchange: Interchange, group: FunctionalGroup,
                   verdicts: list[SetVerdict], group_errors: tuple[str, ...]) -> Path:
        number = self.ledger.next_control_number()
        text = functional_ack(interchange, group, verdicts, control_number=number,
                              now=datetime.now(UTC), group_errors=group_errors)
        kind = "999" if group.version.startswith("005010") else "997"
        self.outbound.mkdir(parents=True, exist_ok=True)
        target = self.outbound / f"{Path(name).stem}.{group.control_number}.{number:09d}.{kind}"
        target.write_text(text, encoding="utf-8")
        return target

    def _write_ta1(self, name: str, plan: _Interchange) -> Path:
        number = self.ledger.next_control_number()
        text = interchange_ack(plan.header, control_number=number, now=datetime.now(UTC),
                               note_code=plan.ta1_note)
        self.outbound.mkdir(parents=True, exist_ok=True)
        target = self.outbound / f"{Path(name).stem}.{number:09d}.ta1"
        target.write_text(text, encoding="utf-8")
        return target

    def _quarantine(self, path: Path, problems: list[str]) -> FileOutcome:
        for problem in problems:
            self.log(problem)
        moved = self._move(path, self.failed) if path.exists() else path
        self._write_report(moved, ".error.txt", problems)
        return FileOutcome(path.name, moved, problems=problems, quarantined=True)

    @staticmethod
    def _move(path: Path, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        if target.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            target = folder / f"{path.stem}.{stamp}{path.suffix}"
        shutil.move(str(path), target)
        return target

    @staticmethod
    def _write_report(moved: Path, suffix: str, problems: list[str]) -> None:
        report = moved.with_name(moved.name + suffix)
        report.write_text("\n".join(problems) + "\n", encoding="utf-8")
