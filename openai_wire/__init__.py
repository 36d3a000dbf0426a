"""Reading OpenAI-compatible responses, as every client of this project does (evalclient, loadtest,
quantize's trace and verify requests): the error envelope, usage, and the reasoning field's two spellings.

Pure functions over decoded JSON; the transports (aiohttp, httpx) stay with each client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# DeepSeek's API and older vLLM say reasoning_content, newer vLLM and OpenRouter reasoning.
REASONING_FIELDS = ("reasoning_content", "reasoning")

__all__ = ["REASONING_FIELDS", "TokenUsage", "error_message", "read_usage", "reasoning_of"]


def error_message(body: str | dict[str, Any] | None) -> str | None:
    """The message of an error body (``{"error": {"message": ...}}``, or ``{"error": "text"}``); None when
    the body is not such an envelope."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        return str(message) if message else None
    return str(error) if error else None


def reasoning_of(message: dict[str, Any]) -> str | None:
    """A message's (or stream delta's) reasoning text under either spelling; None when it has neither."""
    values = [value for name in REASONING_FIELDS if isinstance(value := message.get(name), str)]
    return next((value for value in values if value), values[0] if values else None)


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None  # completion_tokens_details.reasoning_tokens


def read_usage(usage: dict[str, Any] | None) -> TokenUsage | None:
    """A response's ``usage``; None when it sent none (a stream sends it in its last chunk only)."""
    if not usage:
        return None
    details = usage.get("completion_tokens_details") or {}
    return TokenUsage(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning_tokens=details.get("reasoning_tokens"),
    )
