"""Thinking control against the real engine. The random tiny model never ends its thinking on its
own (its output head has no weight on the end delimiter), so every cap it meets is visible; a
logit bias makes it end thinking at once where a test needs an early end."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest
from transformers import AutoTokenizer

from launcher import ServerProcess
from tests.conftest import EFFORT_BUDGETS, SERVED_MODEL_NAME, WRAPUP
from tests.server.conftest import metric

pytestmark = pytest.mark.server

QUESTION = [{"role": "user", "content": "What is 12 + 7?"}]
FORCED_END = "</think>\n\n"
FORCED_END_TOKENS = len(FORCED_END) - len("</think>") + 1


def ask(client: openai.OpenAI, max_tokens: int = 80, **extra: object):
    return client.chat.completions.create(
        model=SERVED_MODEL_NAME, messages=QUESTION, max_tokens=max_tokens, temperature=0, extra_body=extra
    )


def forcing(choice) -> dict:
    return choice.model_extra["budget_forcing"]


@pytest.fixture(scope="module")
def end_bias(tiny_model_dir: Path) -> dict[str, int]:
    """A logit bias that makes the model want to end its thinking at every step."""
    end_id = AutoTokenizer.from_pretrained(tiny_model_dir).convert_tokens_to_ids("</think>")
    return {str(end_id): 100}


@pytest.mark.parametrize(
    ("extra", "budget", "source"),
    [
        ({"thinking_token_budget": 10}, 10, "thinking_token_budget"),
        ({"max_thinking_tokens": 11}, 11, "max_thinking_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 12}}, 12, "thinking"),
        ({"thinking": {"type": "disabled"}}, 0, "thinking"),
        ({"reasoning": {"max_tokens": 13}}, 13, "reasoning.max_tokens"),
        ({"reasoning": {"effort": "minimal"}}, EFFORT_BUDGETS["minimal"], "reasoning.effort"),
        ({"reasoning_effort": "low"}, EFFORT_BUDGETS["low"], "reasoning_effort"),
        ({"reasoning_effort": "none"}, 0, "reasoning_effort"),
    ],
)
def test_every_dialect_holds_its_budget(client: openai.OpenAI, extra: dict, budget: int, source: str) -> None:
    reply = ask(client, **extra)
    choice = reply.choices[0]
    assert reply.usage.completion_tokens_details.reasoning_tokens == budget
    assert len(choice.message.model_extra["reasoning_content"]) == budget  # one character per token
    assert forcing(choice) == {
        "thinking_budget": budget,
        "budget_source": source,
        "min_thinking_tokens": 0,
        "forced_end": True,
        "extensions": 0,
    }
    # The answer gets everything the thinking left: max_tokens bounds both together.
    assert reply.usage.completion_tokens == 80
    assert len(choice.message.content) == 80 - budget - FORCED_END_TOKENS


@pytest.mark.parametrize("budget", [len(WRAPUP), 20])
def test_forced_end_inserts_the_wrapup_within_the_budget(client: openai.OpenAI, budget: int) -> None:
    reply = ask(client, thinking_token_budget=budget)
    reasoning = reply.choices[0].message.model_extra["reasoning_content"]
    assert reasoning.endswith(WRAPUP)
    assert len(reasoning) == budget == reply.usage.completion_tokens_details.reasoning_tokens


def test_wrapup_is_skipped_when_it_does_not_fit(client: openai.OpenAI) -> None:
    reply = ask(client, thinking_token_budget=len(WRAPUP) - 1)
    reasoning = reply.choices[0].message.model_extra["reasoning_content"]
    assert WRAPUP not in reasoning
    assert len(reasoning) == len(WRAPUP) - 1


def test_tight_max_tokens_still_leaves_an_answer(client: openai.OpenAI) -> None:
    reply = ask(client, max_tokens=16)
    choice = reply.choices[0]
    assert choice.finish_reason == "length"
    reasoning = choice.message.model_extra["reasoning_content"]
    assert reasoning == choice.message.model_extra["reasoning"]  # both spellings
    assert len(reasoning) == reply.usage.completion_tokens_details.reasoning_tokens
    # Answer reserve: half of max_tokens at most (the server's reserve is 128 > 16 / 2).
    assert reply.usage.completion_tokens == 16
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 16
    assert reply.usage.completion_tokens_details.reasoning_tokens == 16 - 8 - FORCED_END_TOKENS
    assert len(choice.message.content) == 8
    assert forcing(choice)["forced_end"] is True
    assert forcing(choice)["thinking_budget"] is None


def test_min_thinking_replaces_early_ends_with_the_extension(
    client: openai.OpenAI, end_bias: dict[str, int]
) -> None:
    reply = ask(
        client,
        max_tokens=40,
        logit_bias=end_bias,
        min_thinking_tokens=9,
        max_thinking_extensions=5,
        thinking_extension_text=" Wait",
    )
    choice = reply.choices[0]
    # Each early end became " Wait" (5 tokens) until the minimum of 9 was reached: two of them.
    assert choice.message.model_extra["reasoning_content"] == " Wait Wait"
    assert reply.usage.completion_tokens_details.reasoning_tokens == 10
    assert forcing(choice)["extensions"] == 2
    assert forcing(choice)["forced_end"] is False


def test_extensions_are_bounded(client: openai.OpenAI, end_bias: dict[str, int]) -> None:
    reply = ask(client, logit_bias=end_bias, min_thinking_tokens=30, max_thinking_extensions=1)
    assert reply.choices[0].message.model_extra["reasoning_content"] == "Wait"
    assert forcing(reply.choices[0])["extensions"] == 1


def test_extensions_never_break_the_budget(client: openai.OpenAI, end_bias: dict[str, int]) -> None:
    # Room for thinking: 12 - len(WRAPUP) = 6 tokens; one " Wait" (5) fits, a second does not.
    reply = ask(
        client,
        logit_bias=end_bias,
        thinking_token_budget=12,
        min_thinking_tokens=12,
        max_thinking_extensions=5,
        thinking_extension_text=" Wait",
    )
    assert reply.choices[0].message.model_extra["reasoning_content"] == " Wait"
    assert reply.usage.completion_tokens_details.reasoning_tokens == 5
    assert forcing(reply.choices[0])["extensions"] == 1
    assert forcing(reply.choices[0])["forced_end"] is False


def test_stream_with_a_budget_matches_non_stream(client: openai.OpenAI) -> None:
    whole = ask(client, thinking_token_budget=9)
    stream = client.chat.completions.create(
        model=SERVED_MODEL_NAME,
        messages=QUESTION,
        max_tokens=80,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"thinking_token_budget": 9},
    )
    reasoning, content, report, usage = "", "", None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            content += choice.delta.content or ""
            report = choice.model_extra.get("budget_forcing") or report
    assert reasoning == whole.choices[0].message.model_extra["reasoning_content"]
    assert content == whole.choices[0].message.content
    assert report == forcing(whole.choices[0])
    assert usage.completion_tokens_details.reasoning_tokens == 9


def test_exclude_hides_reasoning_but_counts_it(client: openai.OpenAI) -> None:
    reply = ask(client, reasoning={"max_tokens": 5, "exclude": True})
    message = reply.choices[0].message
    assert "reasoning_content" not in (message.model_extra or {})
    assert reply.usage.completion_tokens_details.reasoning_tokens == 5
    assert message.content


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"thinking_token_budget": -2}, "thinking_token_budget"),  # -1 is unlimited; below it is refused
        ({"reasoning": {"max_tokens": -2}}, "reasoning.max_tokens"),
        ({"max_thinking_tokens": 10**9}, "max_thinking_tokens"),
        ({"thinking_token_budget": 5, "min_thinking_tokens": 6}, "min_thinking_tokens"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "sometimes"}}, "thinking.type"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning": {"effort": "low", "verbosity": 1}}, "reasoning.verbosity"),
    ],
)
def test_bad_thinking_controls_are_400(client: openai.OpenAI, extra: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, **extra)
    assert caught.value.body["param"] == param


def test_later_phases_reuse_the_prompt_from_the_prefix_cache(
    client: openai.OpenAI, server: ServerProcess
) -> None:
    numbers = " ".join(str(i) for i in range(120))  # ~400 tokens, after a prefix never seen before
    before = metric(server, "vllm:prefix_cache_hits_total")
    reply = client.chat.completions.create(
        model=SERVED_MODEL_NAME,
        messages=[{"role": "user", "content": f"{time.time_ns()} {numbers}"}],
        max_tokens=40,
        temperature=0,
        extra_body={"thinking_token_budget": 5},
    )
    assert reply.choices[0].model_extra["budget_forcing"]["forced_end"]
    hits = metric(server, "vllm:prefix_cache_hits_total") - before
    # The answer phase found the prompt cached (in whole blocks) instead of prefilling it again.
    assert hits >= reply.usage.prompt_tokens // 2, hits
