"""Thinking controls: one resolved plan per request, whatever dialect the client spoke.

Precedence, first match wins (documented in docs/thinking.md):
1. an explicit token budget: ``thinking_token_budget`` (vLLM), ``max_thinking_tokens``,
   ``thinking`` (Anthropic; ``{"type": "disabled"}`` is a budget of 0, ``{"type": "adaptive"}``
   unlimited), ``reasoning.max_tokens`` (OpenRouter), in that order; -1 is an explicit unlimited that
   overrides the server's budget (llama.cpp's ``--reasoning-budget -1``);
2. an effort level: ``reasoning.effort`` (OpenRouter), then ``reasoning_effort`` (OpenAI), mapped to
   a budget by the server's ``--effort-budgets``;
3. the server's ``--thinking-budget`` (unlimited when unset).
The minimum, the extension text and the number of extensions come from the request when given, else
from the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.errors import InvalidRequestError
from server.protocol import UNLIMITED_THINKING_BUDGET, ChatCompletionRequest

DEFAULT_EFFORT_BUDGETS = {"none": 0, "minimal": 128, "low": 512, "medium": 2048, "high": 8192}


@dataclass(frozen=True)
class ThinkingDefaults:
    """Server-wide thinking settings (from the command line)."""

    budget: int | None = None
    min_tokens: int = 0
    max_extensions: int = 3
    extension_text: str = "Wait"
    wrapup_text: str = ""
    answer_reserve: int = 128
    effort_budgets: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_EFFORT_BUDGETS))


@dataclass(frozen=True)
class ThinkingPlan:
    """How one request's thinking is bounded."""

    budget: int | None
    budget_source: str
    min_tokens: int
    max_extensions: int
    extension_text: str
    wrapup_text: str
    answer_reserve: int
    exclude_reasoning: bool


def plan_thinking(request: ChatCompletionRequest, defaults: ThinkingDefaults) -> ThinkingPlan:
    budget, source = _budget(request, defaults)
    min_tokens = defaults.min_tokens if request.min_thinking_tokens is None else request.min_thinking_tokens
    if budget is not None and min_tokens > budget:
        raise InvalidRequestError(
            f"min_thinking_tokens={min_tokens} exceeds the thinking budget {budget} (from {source})",
            param="min_thinking_tokens",
        )
    return ThinkingPlan(
        budget=budget,
        budget_source=source,
        min_tokens=min_tokens,
        max_extensions=(
            defaults.max_extensions
            if request.max_thinking_extensions is None
            else request.max_thinking_extensions
        ),
        extension_text=(
            defaults.extension_text
            if request.thinking_extension_text is None
            else request.thinking_extension_text
        ),
        wrapup_text=defaults.wrapup_text,
        answer_reserve=defaults.answer_reserve,
        exclude_reasoning=bool(request.reasoning and request.reasoning.exclude),
    )


def _budget(request: ChatCompletionRequest, defaults: ThinkingDefaults) -> tuple[int | None, str]:
    """The budget (None: unlimited) and the field it came from."""
    budget, source = _requested_budget(request, defaults)
    return (None if budget == UNLIMITED_THINKING_BUDGET else budget), source


def _requested_budget(request: ChatCompletionRequest, defaults: ThinkingDefaults) -> tuple[int | None, str]:
    if request.thinking_token_budget is not None:
        return request.thinking_token_budget, "thinking_token_budget"
    if request.max_thinking_tokens is not None:
        return request.max_thinking_tokens, "max_thinking_tokens"
    if request.thinking is not None:
        if request.thinking.type == "disabled":
            return 0, "thinking"
        if request.thinking.type == "adaptive":
            return UNLIMITED_THINKING_BUDGET, "thinking"
        if request.thinking.budget_tokens is None:
            raise InvalidRequestError(
                'thinking: {"type": "enabled"} needs "budget_tokens"', param="thinking.budget_tokens"
            )
        return request.thinking.budget_tokens, "thinking"
    reasoning = request.reasoning
    if reasoning is not None and reasoning.enabled is False:
        return 0, "reasoning.enabled"
    if reasoning is not None and reasoning.max_tokens is not None:
        return reasoning.max_tokens, "reasoning.max_tokens"
    if reasoning is not None and reasoning.effort is not None:
        return defaults.effort_budgets[reasoning.effort], "reasoning.effort"
    if request.reasoning_effort is not None:
        return defaults.effort_budgets[request.reasoning_effort], "reasoning_effort"
    return defaults.budget, "server default"


def parse_effort_budgets(text: str) -> dict[str, int]:
    """``low=512,high=8192`` -> budgets, on top of the defaults; raises ValueError on bad input."""
    budgets = dict(DEFAULT_EFFORT_BUDGETS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        level, sep, value = item.partition("=")
        if not sep or level not in budgets or not value.isdigit():
            levels = ", ".join(budgets)
            raise ValueError(f"bad effort budget {item!r}: expected LEVEL=TOKENS, LEVEL in {levels}")
        budgets[level] = int(value)
    return budgets
