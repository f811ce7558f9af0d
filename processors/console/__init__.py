"""The operator console (``backbone console``): dead letters, replay, purge, audit and processor
health in a browser, server-rendered, over the same actions as ``backbone dlq``."""
