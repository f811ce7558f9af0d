"""``python -m connectors.erp_outbox --db URL [--once]``, as ``backbone connect erp-outbox``."""

import sys

from connectors.cli import app

if __name__ == "__main__":
    app(["erp-outbox", *sys.argv[1:]])
