"""Operator tools for dead letters: list, show, stats, replay, purge (see cli.py)."""
