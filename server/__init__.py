"""``serve``: an OpenAI-compatible server for quantized reasoning models, on vLLM's async engine."""

from server.app import create_app
from server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
