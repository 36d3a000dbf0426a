"""Start ``serve`` in a child process and wait until it is healthy; needs httpx only (no server package)."""

from launcher._process import (
    SMALL_KV_CACHE,
    SMALL_KV_CACHE_BYTES,
    ServerProcess,
    ServerStartError,
    free_port,
    terminate,
    wait_for_health,
)

__all__ = [
    "SMALL_KV_CACHE",
    "SMALL_KV_CACHE_BYTES",
    "ServerProcess",
    "ServerStartError",
    "free_port",
    "terminate",
    "wait_for_health",
]
