"""`python -m processors.stock_reconciliation`: same as `backbone process stock-reconciliation`."""

from __future__ import annotations

import sys

from processors.cli import app

if __name__ == "__main__":
    app(["stock-reconciliation", *sys.argv[1:]])
