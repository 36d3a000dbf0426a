"""Start ``serve`` in a child process and wait until it is healthy; needs httpx only (no server package)."""

from launcher._process import SMALL_KV_CACHE, SMALL_KV_CACHE_BYTES, ServerProcess, ServerStartError, free_port

__all__ = ["SMALL_KV_CACHE", "SMALL_KV_CACHE_BYTES", "ServerProcess", "ServerStartError", "free_port"]
