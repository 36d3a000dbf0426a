"""The base of every error ``loadtest`` reports: its message is the CLI's one line."""

from __future__ import annotations


class LoadtestError(Exception):
    """A load test cannot start or go on; ``str(exc)`` is one line for the user."""
