"""Deprecated: the launcher moved to the ``launcher`` package, which needs no FastAPI."""

from __future__ import annotations

import warnings

from launcher import ServerProcess, ServerStartError, free_port

warnings.warn(
    "server.launcher is deprecated: use `from launcher import ServerProcess, ServerStartError, free_port`",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["ServerProcess", "ServerStartError", "free_port"]
