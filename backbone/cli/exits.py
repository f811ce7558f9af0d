"""Exit codes every command shares (INTERFACES.md) and the one way to fail with a message."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

OK = 0
PARTIAL = 1
UNUSABLE = 2


def fail(message: str, code: int = UNUSABLE) -> NoReturn:
    """Print ``message`` on stderr and exit: usage/config errors and nothing-usable are 2."""
    print(f"backbone: {message}", file=sys.stderr)
    raise typer.Exit(code)
