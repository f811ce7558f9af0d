"""The kernel imports no stage, and ``backbone --help`` imports no command's module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

KERNEL = Path(__file__).resolve().parents[2] / "backbone"
STAGES = ("connectors", "producers", "processors")
# what the commands themselves pull in; --help must not pay for any of it
HEAVY = (*STAGES, "quixstreams", "confluent_kafka", "backbone.events", "backbone.serde",
         "backbone.cli.events", "backbone.cli.stack", "backbone.cli.schemas")


def test_the_kernel_imports_no_stage() -> None:
    offenders = []
    for path in KERNEL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(KERNEL.parent)}: {name}" for name in names
                          if name.split(".")[0] in STAGES]
    assert offenders == []


def test_help_lists_every_command_and_imports_none_of_them() -> None:
    probe = (
        "import sys\n"
        "from backbone.cli import main\n"
        "sys.argv = ['backbone', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', *sorted(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, check=True)
    help_text, _, modules = result.stdout.partition("MODULES")
    loaded = [name for name in modules.split()
              if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY)]
    assert loaded == []
    for command in ("stack", "topics", "schemas", "tail", "publish", "asyncapi", "edi",
                    "carriers", "shipments", "connect", "process", "dlq"):
        assert f"\n  {command} " in help_text, f"{command} missing from --help"
