"""The startup self-test: one chat and one text completion through the same code path as clients'
requests, run before ``/health`` may say ready. A server whose request path is broken (a vLLM
release it does not support, a chat template that raises, a quantized kernel that fails at its
first batch) then stays out of a load balancer instead of answering every request with a 500."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from server.protocol import ChatCompletionRequest, CompletionRequest

if TYPE_CHECKING:
    from server.serving_chat import ChatService
    from server.serving_completion import CompletionService

logger = logging.getLogger(__name__)
SELF_TEST_TOKENS = 2


async def self_test(
    chat: ChatService, completion: CompletionService, model_name: str, *, has_chat_template: bool
) -> str | None:
    """None when both paths served a request; else why not (one line)."""
    checks = [
        (
            "completion",
            completion.create(
                CompletionRequest(model=model_name, prompt="Hello", max_tokens=SELF_TEST_TOKENS),
                "selftest-cmpl",
            ),
        )
    ]
    if has_chat_template:  # without one, chat requests are refused by design (400), not broken
        request = ChatCompletionRequest(
            model=model_name,
            messages=[{"role": "user", "content": "Hello"}],
            max_tokens=SELF_TEST_TOKENS,
        )
        checks.append(("chat completion", chat.create(request, "selftest-chat")))
    for name, work in checks:
        try:
            await work
        except Exception as exc:
            logger.error("startup self-test: a %s request failed", name, exc_info=True)
            for pending in checks:  # close the coroutines not run, so none is left un-awaited
                pending[1].close()
            return f"startup self-test: a {name} request failed: {type(exc).__name__}: {exc}"
    logger.info("startup self-test passed (%s)", ", ".join(name for name, _ in checks))
    return None
