"""Resolving the thinking dialects into one plan (no engine needed)."""

from __future__ import annotations

import pytest

from server.errors import InvalidRequestError
from server.protocol import ChatCompletionRequest
from server.thinking import DEFAULT_EFFORT_BUDGETS, ThinkingDefaults, parse_effort_budgets, plan_thinking

DEFAULTS = ThinkingDefaults(budget=None, effort_budgets={**DEFAULT_EFFORT_BUDGETS, "low": 100, "high": 900})


def plan(**fields: object):
    request = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "q"}], **fields)
    return plan_thinking(request, DEFAULTS)


@pytest.mark.parametrize(
    ("fields", "budget", "source"),
    [
        ({}, None, "server default"),
        ({"thinking_token_budget": 7}, 7, "thinking_token_budget"),
        ({"max_thinking_tokens": 8}, 8, "max_thinking_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 9}}, 9, "thinking"),
        ({"thinking": {"type": "disabled"}}, 0, "thinking"),
        ({"reasoning": {"max_tokens": 10}}, 10, "reasoning.max_tokens"),
        ({"reasoning": {"effort": "high"}}, 900, "reasoning.effort"),
        ({"reasoning": {"enabled": False}}, 0, "reasoning.enabled"),
        ({"reasoning_effort": "low"}, 100, "reasoning_effort"),
        ({"reasoning_effort": "none"}, 0, "reasoning_effort"),
        # -1 (and Anthropic's adaptive thinking) is an explicit unlimited, resolved like any budget.
        ({"thinking_token_budget": -1}, None, "thinking_token_budget"),
        ({"max_thinking_tokens": -1}, None, "max_thinking_tokens"),
        ({"thinking": {"type": "adaptive"}}, None, "thinking"),
        ({"reasoning": {"max_tokens": -1}}, None, "reasoning.max_tokens"),
        ({"thinking_token_budget": -1, "reasoning_effort": "low"}, None, "thinking_token_budget"),
        # Precedence: explicit token counts beat effort levels, in the documented order.
        ({"reasoning_effort": "high", "max_thinking_tokens": 5}, 5, "max_thinking_tokens"),
        ({"thinking_token_budget": 3, "max_thinking_tokens": 5}, 3, "thinking_token_budget"),
        ({"reasoning": {"effort": "low"}, "reasoning_effort": "high"}, 100, "reasoning.effort"),
        ({"thinking": {"type": "disabled"}, "reasoning": {"max_tokens": 50}}, 0, "thinking"),
    ],
)
def test_budget_precedence(fields: dict, budget: int | None, source: str) -> None:
    resolved = plan(**fields)
    assert (resolved.budget, resolved.budget_source) == (budget, source)


def test_server_default_budget_and_request_overrides() -> None:
    defaults = ThinkingDefaults(budget=64, min_tokens=4, max_extensions=1, extension_text="Hmm")
    request = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "q"}])
    resolved = plan_thinking(request, defaults)
    assert (resolved.budget, resolved.min_tokens, resolved.max_extensions, resolved.extension_text) == (
        64,
        4,
        1,
        "Hmm",
    )
    override = request.model_copy(
        update={"min_thinking_tokens": 2, "max_thinking_extensions": 0, "thinking_extension_text": "Wait"}
    )
    resolved = plan_thinking(override, defaults)
    assert (resolved.min_tokens, resolved.max_extensions, resolved.extension_text) == (2, 0, "Wait")


@pytest.mark.parametrize(
    "fields",
    [
        {"thinking_token_budget": -1},
        {"max_thinking_tokens": -1},
        {"thinking": {"type": "adaptive"}},
        {"reasoning": {"max_tokens": -1}},
    ],
)
def test_unlimited_overrides_the_server_budget(fields: dict) -> None:
    request = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "q"}], **fields)
    assert plan_thinking(request, ThinkingDefaults(budget=64, min_tokens=4)).budget is None
    unset = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "q"}])
    assert plan_thinking(unset, ThinkingDefaults(budget=64)).budget == 64


def test_exclude_reasoning() -> None:
    assert plan(reasoning={"exclude": True}).exclude_reasoning
    assert not plan().exclude_reasoning


def test_min_above_budget_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="min_thinking_tokens=20 exceeds the thinking budget 10"):
        plan(thinking_token_budget=10, min_thinking_tokens=20)


def test_enabled_thinking_needs_a_budget() -> None:
    with pytest.raises(InvalidRequestError, match="budget_tokens"):
        plan(thinking={"type": "enabled"})


def test_parse_effort_budgets() -> None:
    assert parse_effort_budgets("low=1,high=2") == {**DEFAULT_EFFORT_BUDGETS, "low": 1, "high": 2}
    for bad in ("low", "extreme=5", "low=-1", "low=many"):
        with pytest.raises(ValueError, match="bad effort budget"):
            parse_effort_budgets(bad)


def test_think_delimiters_for_any_model() -> None:
    from server.app import resolve_think_format
    from server.config import ServerConfig

    custom = resolve_think_format(
        ServerConfig(model="m", think_start="<reason>", think_end="</reason>", think_in_prompt=True), None
    )
    assert (custom.start, custom.end, custom.prompt_opens_think) == ("<reason>", "</reason>", True)
    assert resolve_think_format(ServerConfig(model="m", think_format="qwen3"), None).name == "qwen3"
    assert resolve_think_format(ServerConfig(model="m", think_format="none"), "<think>") is None
    with pytest.raises(ValueError, match="go together"):
        ServerConfig(model="m", think_start="<reason>")
