"""An explicit unlimited budget (-1, or a dialect's own spelling of it) against a real server started
with ``--thinking-budget``: unset means the server's budget, -1 means none. The random tiny model never
ends its thinking on its own, so only ``max_tokens`` less the answer reserve stops unlimited thinking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import API_KEY, SERVED_MODEL_NAME, _serve

pytestmark = pytest.mark.server

SERVER_BUDGET = 8
MAX_TOKENS = 80
FORCED_END_TOKENS = len("</think>\n\n") - len("</think>") + 1
# Thinking with no budget runs to max_tokens less the answer reserve (half of max_tokens here) and the end.
UNBOUNDED_REASONING = MAX_TOKENS - MAX_TOKENS // 2 - FORCED_END_TOKENS


@pytest.fixture(scope="module")
def budgeted_client(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    log_path = tmp_path_factory.mktemp("logs") / "serve-budgeted.log"
    args = ("--thinking-budget", str(SERVER_BUDGET))
    with _serve(tiny_model_dir, SERVED_MODEL_NAME, log_path, *args) as process:
        yield openai.OpenAI(base_url=process.base_url, api_key=API_KEY, max_retries=0)


def ask(client: openai.OpenAI, **extra: object):
    return client.chat.completions.create(
        model=SERVED_MODEL_NAME,
        messages=[{"role": "user", "content": "What is 12 + 7?"}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        extra_body=extra,
    )


def test_an_unset_budget_is_the_servers(budgeted_client: openai.OpenAI) -> None:
    reply = ask(budgeted_client)
    report = reply.choices[0].model_extra["budget_forcing"]
    assert (report["thinking_budget"], report["budget_source"]) == (SERVER_BUDGET, "server default")
    assert reply.usage.completion_tokens_details.reasoning_tokens == SERVER_BUDGET


@pytest.mark.parametrize(
    ("extra", "source"),
    [
        ({"thinking_token_budget": -1}, "thinking_token_budget"),
        ({"max_thinking_tokens": -1}, "max_thinking_tokens"),
        ({"thinking": {"type": "adaptive"}}, "thinking"),
        ({"reasoning": {"max_tokens": -1}}, "reasoning.max_tokens"),
    ],
)
def test_unlimited_overrides_the_server_budget(
    budgeted_client: openai.OpenAI, extra: dict, source: str
) -> None:
    reply = ask(budgeted_client, **extra)
    report = reply.choices[0].model_extra["budget_forcing"]
    assert (report["thinking_budget"], report["budget_source"]) == (None, source)
    assert reply.usage.completion_tokens_details.reasoning_tokens == UNBOUNDED_REASONING > SERVER_BUDGET
