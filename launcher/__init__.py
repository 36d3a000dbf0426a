"""Start ``serve`` in a child process and wait until it is healthy; needs httpx only (no server package)."""

from launcher._process import ServerProcess, ServerStartError, free_port

__all__ = ["ServerProcess", "ServerStartError", "free_port"]
