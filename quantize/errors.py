"""The base of every error ``quantize`` reports: its message is the CLI's one line."""

from __future__ import annotations


class QuantizeError(Exception):
    """A problem with the inputs or the host; ``str(exc)`` is one line for the user."""
