"""``make demo``: the bundled samples through every connector and processor, then a summary."""
