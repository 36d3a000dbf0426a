"""OpenAI wire schema for the endpoints the server implements (pydantic, nothing else)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class _Request(BaseModel):
    # Unknown fields are accepted, as the OpenAI API and vLLM do, and logged by the router.
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message as plain text; only text content parts are supported."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text":
                raise ValueError(f"content part of type {part.get('type')!r} is not supported")
            parts.append(str(part.get("text", "")))
        return "".join(parts)


class StreamOptions(BaseModel):
    include_usage: bool = False


# Absurd budgets are refused rather than clamped: they are almost always a unit mistake.
MAX_THINKING_BUDGET = 1_000_000
# An explicit "no limit", distinct from leaving the field out (the server's --thinking-budget applies):
# llama.cpp's ``--reasoning-budget -1`` convention.
UNLIMITED_THINKING_BUDGET = -1
ThinkingBudget = Annotated[int, Field(ge=0, le=MAX_THINKING_BUDGET)]
# A requested budget: N tokens, or -1 for unlimited.
RequestedThinkingBudget = Annotated[int, Field(ge=UNLIMITED_THINKING_BUDGET, le=MAX_THINKING_BUDGET)]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]


class AnthropicThinking(BaseModel):
    """Anthropic's ``thinking``: ``{"type": "enabled", "budget_tokens": N}``, ``{"type": "disabled"}``, or
    ``{"type": "adaptive"}`` (the model decides how long to think: no budget)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: ThinkingBudget | None = None


class OpenRouterReasoning(BaseModel):
    """OpenRouter's ``reasoning``: ``{"max_tokens": N}`` or ``{"effort": E}``, and ``exclude``."""

    model_config = ConfigDict(extra="forbid")
    max_tokens: RequestedThinkingBudget | None = None
    effort: ReasoningEffort | None = None
    exclude: bool = False
    enabled: bool | None = None


class SamplingRequest(_Request):
    """Fields chat and text completions share."""

    model: str
    max_tokens: Annotated[int | None, Field(ge=1)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(gt=0, le=1)] = None
    top_k: int | None = None
    min_p: Annotated[float | None, Field(ge=0, le=1)] = None
    presence_penalty: Annotated[float | None, Field(ge=-2, le=2)] = None
    frequency_penalty: Annotated[float | None, Field(ge=-2, le=2)] = None
    repetition_penalty: Annotated[float | None, Field(gt=0)] = None
    n: Annotated[int, Field(ge=1, le=128)] = 1
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    user: str | None = None
    # vLLM extension: generate exactly max_tokens (load tests).
    ignore_eos: bool = False


class ChatCompletionRequest(SamplingRequest):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: Annotated[int | None, Field(ge=1)] = None
    logprobs: bool = False
    top_logprobs: Annotated[int | None, Field(ge=0, le=20)] = None
    # Thinking controls, in every dialect clients speak; server/thinking.py resolves them.
    thinking_token_budget: RequestedThinkingBudget | None = None  # vLLM; -1 = unlimited
    max_thinking_tokens: RequestedThinkingBudget | None = None
    thinking: AnthropicThinking | None = None
    reasoning: OpenRouterReasoning | None = None
    reasoning_effort: ReasoningEffort | None = None  # OpenAI
    min_thinking_tokens: ThinkingBudget | None = None
    max_thinking_extensions: Annotated[int | None, Field(ge=0, le=64)] = None
    thinking_extension_text: str | None = None


class CompletionRequest(SamplingRequest):
    """OpenAI's legacy text completions: a raw prompt, no chat template and no thinking control."""

    prompt: str | Annotated[list[int], Field(min_length=1)]
    max_tokens: Annotated[int | None, Field(ge=1)] = 16  # OpenAI's default for this endpoint
    logprobs: Annotated[int | None, Field(ge=0, le=20)] = None
    echo: bool = False


# vLLM's reasons pass through as they are: beside OpenAI's "stop" and "length" it may say "abort" or
# "repetition", and a response must not fail validation over a reason it did not foresee.
FinishReason = str


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails | None = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    # Both spellings: DeepSeek's API and older vLLM say reasoning_content, newer vLLM reasoning.
    reasoning_content: str | None = None
    reasoning: str | None = None


class BudgetForcingReport(BaseModel):
    """What the server did to this choice's thinking, so clients never have to guess."""

    thinking_budget: int | None
    budget_source: str
    min_thinking_tokens: int
    forced_end: bool = False
    extensions: int = 0

    @model_serializer(mode="wrap")
    def _keep_unlimited_budget(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        data["thinking_budget"] = self.thinking_budget  # null (unlimited) survives exclude_none
        return data


class ChatChoice(BaseModel):
    index: int
    message: ResponseMessage
    finish_reason: FinishReason | None
    logprobs: ChoiceLogprobs | None = None
    budget_forcing: BudgetForcingReport | None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[ChatChoice]
    usage: Usage


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: DeltaMessage
    finish_reason: FinishReason | None = None
    logprobs: ChoiceLogprobs | None = None
    budget_forcing: BudgetForcingReport | None = None  # on the chunk that finishes the choice


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class CompletionLogprobs(BaseModel):
    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: FinishReason | None = None
    logprobs: CompletionLogprobs | None = None


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=lambda: int(time.time()))
    owned_by: str = "quantreason"
    root: str
    max_model_len: int
    # From the quantize manifest (quantreason.json) when the model is an artifact.
    quantization_scheme: str
    source_model: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
