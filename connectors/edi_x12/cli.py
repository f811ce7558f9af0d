"""`backbone edi parse | ingest`: X12 files to canonical events (INTERFACES.md).

parse:  events as JSON lines on stdout; every rejection (envelope or mapping) and every skipped
        set on stderr; exit 0 all accepted, 1 some rejected, 2 nothing usable.
ingest: the inbox loop of `connectors.edi_x12.ingest` (publish, 997/999, processed/ failed/).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path
from types import FrameType

import typer

from backbone.cli.context import endpoints, serde
from backbone.cli.exits import OK, PARTIAL, UNUSABLE, fail
from backbone.metrics import ConnectorMetrics, serve
from backbone.settings import load_settings
from connectors.edi_x12.envelope import read_file
from connectors.edi_x12.ingest import DLQ_TOPIC, DeadLetters, EdiInbox, FileOutcome
from connectors.edi_x12.mapping import MappingError, map_transaction_set, skip_reason
from producers.publisher import EventPublisher, PublishHooks

app = typer.Typer(help="EDI X12 partner files to canonical events.", no_args_is_help=True)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


@app.command()
def parse(files: list[Path] = typer.Argument(..., help="X12 files to read.")) -> None:
    """X12 -> canonical events as JSON lines on stdout; rejections on stderr."""
    accepted = rejected = 0
    for path in files:
        if not path.is_file():
            _err(f"{path}: no such file — check the path")
            rejected += 1
            continue
        for result in read_file(path):
            if result.rejection is not None:
                _err(str(result.rejection))
                rejected += 1
                continue
            ts = result.transaction_set
            assert ts is not None
            try:
                events = map_transaction_set(result, file=path.name)
            except MappingError as failure:
                _err(str(failure.error))
                rejected += 1
                continue
            accepted += 1
            reason = skip_reason(ts.set_id)
            if reason is not None:
                _err(f"{path.name}: segment {ts.header.segment_index} (ST): set {ts.set_id} "
                     f"{ts.control_number} accepted, no event: {reason}")
            for event in events:
                sys.stdout.write(json.dumps(event.to_json_dict(), ensure_ascii=False) + "\n")
    sys.stdout.flush()
    if accepted == 0:
        raise typer.Exit(UNUSABLE)
    raise typer.Exit(PARTIAL if rejected else OK)


@app.command()
def ingest(
    inbox: Path = typer.Option(..., "--inbox", help="Folder partners' files arrive in."),
    once: bool = typer.Option(False, "--once", help="Process what is there, then exit."),
    outbound: Path = typer.Option(None, "--outbound",
                                  help="Where 997/999s go (default <inbox>/../outbound)."),
    state_dir: Path = typer.Option(None, "--state-dir",
                                   help="Interchange ledger folder (default <inbox>/../state); "
                                   "one ingest process per inbox."),
    poll_interval: float = typer.Option(5.0, "--poll-interval", min=0.1,
                                        help="Seconds between inbox scans without --once."),
    dlq_topic: str = typer.Option(DLQ_TOPIC, "--dlq-topic", help="Dead letters' topic."),
) -> None:
    """Publish every file of the inbox; move it to processed/ or failed/."""
    if not inbox.is_dir():
        fail(f"--inbox {inbox}: not a folder — create it or pass the partners' drop folder")
    settings = load_settings()
    where = endpoints(settings)
    try:
        metrics = ConnectorMetrics("edi-x12")
        serve(metrics.registry, settings.metrics_port)
        hooks = PublishHooks(on_delivered=lambda d, s: metrics.delivered(d.topic, s),
                             on_failed=lambda topic, _event_id, _error: metrics.failed(topic))
        publisher = EventPublisher(where.kafka, serde(settings), hooks=hooks,
                                   flush_timeout_s=settings.publish_flush_timeout_s)

        def settled(outcome: FileOutcome) -> None:
            metrics.dead_lettered(outcome.dead_letters)
            if not outcome.quarantined:
                metrics.offsets_committed()

        inbox_loop = EdiInbox(inbox, publisher, DeadLetters(where.kafka, dlq_topic),
                              outbound=outbound, state_dir=state_dir,
                              flush_timeout_s=settings.publish_flush_timeout_s, log=_err,
                              on_file=settled)
    except ValueError as broken:
        fail(str(broken))
    if once:
        outcomes = inbox_loop.run_once()
        for outcome in outcomes:
            _err(f"{outcome.file}: {outcome.published} events, {outcome.dead_letters} dead "
                 f"letters, {len(outcome.acknowledgements)} acks -> {outcome.moved_to}")
        if any(o.quarantined for o in outcomes):
            raise typer.Exit(UNUSABLE if all(o.quarantined for o in outcomes) else PARTIAL)
        raise typer.Exit(PARTIAL if any(o.problems for o in outcomes) else OK)
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C between two files is the documented way to stop the loop.
    with contextlib.suppress(KeyboardInterrupt):
        inbox_loop.run(poll_interval, should_stop=lambda: stopping)
    raise typer.Exit(OK)
