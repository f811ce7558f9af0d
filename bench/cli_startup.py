"""``backbone --help`` wall time against a bare Python start-up, measured in the same run.

An operator types these commands all day: the CLI imports a command's module only when the
command runs (backbone/cli/__init__.py), so --help costs the interpreter, typer and the
kernel's CLI module. ROUNDS interleaved runs of each; medians. Target: --help <= 0.5 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import latency_result, report

ROUNDS = int(os.environ.get("BENCH_CLI_ROUNDS", "15"))
TARGET_MS = 500.0
HELP = [sys.executable, "-c", "import sys; sys.argv = ['backbone', '--help']\n"
        "from backbone.cli import main\nmain()"]
BARE = [sys.executable, "-c", "pass"]


def _wall_ms(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=60)
    return (time.perf_counter() - started) * 1000


def run() -> list[dict[str, Any]]:
    helps, bares = [], []
    for _ in range(ROUNDS):
        helps.append(_wall_ms(HELP))
        bares.append(_wall_ms(BARE))
    print(f"bench.cli_startup: {ROUNDS} rounds; --help ms {[round(x) for x in sorted(helps)]}; "
          f"bare python ms {[round(x) for x in sorted(bares)]}")
    return [latency_result("cli: backbone --help wall time", statistics.median(helps),
                           statistics.median(bares), TARGET_MS, "python -c pass")]


if __name__ == "__main__":
    report(run())
