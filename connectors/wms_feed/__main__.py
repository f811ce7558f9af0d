"""``python -m connectors.wms_feed --inbox DIR [--once]``, as ``backbone connect wms-feed``."""

import sys

from connectors.cli import app

if __name__ == "__main__":
    app(["wms-feed", *sys.argv[1:]])
