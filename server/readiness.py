"""The startup self-test: one chat and one text completion through the same code path as clients'
requests, run before ``/health`` may say ready. A server whose request path is broken (a vLLM
release it does not support, a chat template that raises, a quantized kernel that fails at its
first batch) then stays out of a load balancer instead of answering every request with a 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from server.protocol import ChatCompletionRequest, ChatMessage, CompletionRequest

if TYPE_CHECKING:
    from server.serving_chat import ChatService
    from server.serving_completion import CompletionService

logger = logging.getLogger(__name__)
SELF_TEST_TOKENS = 2


async def self_test(
    chat: ChatService, completion: CompletionService, model_name: str, *, has_chat_template: bool
) -> str | None:
    """None when both paths served a request; else why not (one line)."""
    completion_request = CompletionRequest(model=model_name, prompt="Hello", max_tokens=SELF_TEST_TOKENS)
    checks: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("completion", lambda: completion.create(completion.prepare(completion_request), "selftest-cmpl"))
    ]
    if has_chat_template:  # without one, chat requests are refused by design (400), not broken
        chat_request = ChatCompletionRequest(
            model=model_name,
            messages=[ChatMessage(role="user", content="Hello")],
            max_tokens=SELF_TEST_TOKENS,
        )
        checks.append(("chat completion", lambda: chat.create(chat.prepare(chat_request), "selftest-chat")))
    for name, run in checks:
        try:
            await run()
        except Exception as exc:
            logger.error("startup self-test: a %s request failed", name, exc_info=True)
            return f"startup self-test: a {name} request failed: {type(exc).__name__}: {exc}"
    logger.info("startup self-test passed (%s)", ", ".join(name for name, _ in checks))
    return None
