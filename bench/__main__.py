"""``python -m bench [name ...]``: run benchmarks, print them, write bench/results.json."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

from bench.common import report

HERE = Path(__file__).resolve().parent
SKIP = {"common"}


def main(names: list[str]) -> int:
    available = sorted(m.name for m in pkgutil.iter_modules([str(HERE)])
                       if m.name not in SKIP and not m.name.startswith("_"))
    chosen = names or available
    rows: list[dict[str, Any]] = []
    for name in chosen:
        if name not in available:
            print(f"bench: no benchmark {name!r}; available: {', '.join(available)}",
                  file=sys.stderr)
            return 2
        print(f"== {name}", flush=True)
        module_rows = importlib.import_module(f"bench.{name}").run()
        report(module_rows)
        rows.extend(module_rows)
    (HERE / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {HERE / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
