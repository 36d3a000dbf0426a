"""The base of every error ``evalclient`` reports: its message is the CLI's one line."""

from __future__ import annotations


class EvalclientError(Exception):
    """An evalclient run or comparison cannot go on; ``str(exc)`` is one line for the user."""
