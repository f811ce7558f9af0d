"""``python -m backbone``: the same as the ``backbone`` command."""

from backbone.cli import main

main()
