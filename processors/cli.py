"""``backbone process NAME [--until-idle S]``: run one stream processor in this process.

``process`` is a plain command (the ``backbone.commands`` entry point names the function, so
``backbone process shipment-status`` takes NAME as its argument, not as a sub-command); ``app``
wraps the same command for ``python -m processors.<name>``.
"""

from __future__ import annotations

import gc
import logging

import typer

from backbone.cli.context import endpoints, serde
from backbone.cli.exits import fail
from backbone.settings import Settings, load_settings
from processors.api import ProcessorTopics, package, processor, processor_names
from processors.engine import EngineOptions, build_application, run, stuck_commit_s
from processors.metrics import ProcessorMetrics
from processors.restarts import restart_after
from processors.step import ProcessorLogic


def logic_for(name: str, settings: Settings) -> ProcessorLogic:
    """The processor called ``name`` bound to the settings."""
    return package(name).logic(settings)


def topics_for(name: str, settings: Settings) -> ProcessorTopics:
    """The catalog's topic names, or ``<prefix>.<catalog name>`` with a topic prefix set."""
    prefix = settings.processor_topic_prefix
    return ProcessorTopics.prefixed(processor(name), prefix) if prefix else ProcessorTopics()


def run_processor(name: str, until_idle: float | None, settings: Settings) -> None:
    spec = processor(name)
    logic = logic_for(name, settings)
    options = EngineOptions.from_settings(settings, spec, endpoints(settings).kafka,
                                          topics=topics_for(name, settings))
    metrics = ProcessorMetrics()
    metrics.serve(settings.metrics_port)
    application, _ = build_application(logic, serde(settings), options, metrics)
    # everything built so far (modules, schemas, compiled codecs) lives as long as the process:
    # out of the collector's way, a full collection no longer scans it (a process of its own,
    # so nothing that later becomes garbage is pinned by this)
    gc.freeze()
    run(application, until_idle, stuck_commit_after_s=stuck_commit_s(options))


def process(
    name: str = typer.Argument(..., metavar="NAME",
                               help=f"One of: {', '.join(processor_names())}."),
    until_idle: float = typer.Option(
        0.0, "--until-idle", metavar="S",
        help="Stop after S seconds without input (0: run until stopped)."),
) -> None:
    """Run processor NAME until stopped (SIGTERM/Ctrl-C) or idle for --until-idle seconds."""
    if name not in processor_names():
        fail(f"no processor named {name!r}; choose one of: {', '.join(processor_names())}")
    if until_idle < 0:
        fail(f"--until-idle {until_idle}: must be 0 (run until stopped) or a number of seconds")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        run_processor(name, until_idle or None, load_settings())
    except Exception as error:  # the message names what failed; the trace is in the log
        log = logging.getLogger(__name__)
        if restart_after(error, log.error):  # a transient broker fault: from the last commit
            return
        log.exception("processor %s stopped", name)
        fail(f"processor {name} stopped: {type(error).__name__}: {error}")


app = typer.Typer(name="process", add_completion=False,
                  help="Run a stream processor (exactly-once, state in RocksDB + changelog).")
app.command()(process)
