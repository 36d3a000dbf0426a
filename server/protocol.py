"""OpenAI wire schema for the endpoints the server implements (pydantic, nothing else).

Requests are validated completely here or in the service's ``prepare`` (what needs the tokenizer or the
engine's limits), before any response byte; the pattern for a new field or endpoint:

- request models and the objects nested in them derive from ``_Request``: strict types as in
  OpenAI's API (a boolean is not an integer, a string is not a boolean; an integer is a number), no
  NaN or infinity, every bound as a ``Field`` constraint, so that /openapi.json states it, and an
  unknown field is a 400 naming it (``extra="forbid"``; fields OpenAI accepts without effect on the
  output are declared, and documented as ignored);
- integers that reach vLLM (which serializes them as 64-bit) carry a range: ``Int64`` or tighter;
- response models are plain models here, declared on the route with ``server/openapi.py``'s helpers.
"""

from __future__ import annotations

import re
import time
from json.encoder import encode_basestring  # C: JSON's escapes, non-ASCII kept as it is
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False)


class _Request(_Strict):
    # A field the server does not implement is a 400 naming it, never silently ignored: a client that
    # asked for something (a schema, a tool) must not get prose back. The few fields OpenAI itself
    # lets through without effect on the output are declared, and documented as ignored.
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Request):
    name: str
    arguments: str  # JSON, as a string (OpenAI's wire format)


class ToolCall(_Request):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


# vLLM hands requests to its engine process as msgpack, where an integer is at most 64 bits; torch
# seeds with any signed 64-bit value. Seeds are signed 64-bit, as in vLLM's own server.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
# top_k: -1 or 0 is "no top-k" (vLLM); larger than the vocabulary means the whole vocabulary.
MAX_TOP_K = 2**31 - 1
# logit_bias keys: token ids as decimal strings (their range is the vocabulary, checked in prepare).
TokenIdKey = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")]
LogitBias = Annotated[
    dict[TokenIdKey, Annotated[float, Field(ge=-100, le=100)]],
    Field(json_schema_extra={"additionalProperties": False}),
]
StopSequence = Annotated[str, Field(min_length=1)]


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None  # accepted and ignored, as chat templates of open models ignore it
    tool_calls: list[ToolCall] | None = None  # assistant turns that called tools
    tool_call_id: str | None = None  # tool turns: which call this is the result of

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
            text = part.get("text", "")
            if not isinstance(text, str):
                raise ValueError("a text content part's text must be a string")
            parts.append(text)
        return "".join(parts)


class StreamOptions(_Request):
    include_usage: bool = False


FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"  # OpenAI's rule for function names


class FunctionDefinition(_Request):
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema; None: no arguments
    strict: bool | None = None  # arguments always follow the schema here (structured outputs)


class ChatTool(_Request):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(_Request):
    name: str


class NamedToolChoice(_Request):
    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class JsonSchemaSpec(_Request):
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    description: str | None = None
    # "schema" shadows a BaseModel attribute, hence the alias.
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None  # the answer always follows the schema here


class TextFormat(_Request):
    type: Literal["text"]


class JsonObjectFormat(_Request):
    type: Literal["json_object"]


class JsonSchemaFormat(_Request):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


# Absurd budgets are refused rather than clamped: they are almost always a unit mistake.
MAX_THINKING_BUDGET = 1_000_000
# An explicit "no limit", distinct from leaving the field out (the server's --thinking-budget applies):
# llama.cpp's ``--reasoning-budget -1`` convention.
UNLIMITED_THINKING_BUDGET = -1
ThinkingBudget = Annotated[int, Field(ge=0, le=MAX_THINKING_BUDGET)]
# A requested budget: N tokens, or -1 for unlimited.
RequestedThinkingBudget = Annotated[int, Field(ge=UNLIMITED_THINKING_BUDGET, le=MAX_THINKING_BUDGET)]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]


class AnthropicThinking(_Strict):
    """Anthropic's ``thinking``: ``{"type": "enabled", "budget_tokens": N}``, ``{"type": "disabled"}``, or
    ``{"type": "adaptive"}`` (the model decides how long to think: no budget)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: ThinkingBudget | None = None


class OpenRouterReasoning(_Strict):
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
    top_k: Annotated[int | None, Field(ge=-1, le=MAX_TOP_K)] = None
    min_p: Annotated[float | None, Field(ge=0, le=1)] = None
    presence_penalty: Annotated[float | None, Field(ge=-2, le=2)] = None
    frequency_penalty: Annotated[float | None, Field(ge=-2, le=2)] = None
    repetition_penalty: Annotated[float | None, Field(gt=0)] = None
    n: Annotated[int, Field(ge=1, le=128)] = 1
    seed: Int64 | None = None
    stop: StopSequence | list[StopSequence] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logit_bias: LogitBias | None = None
    response_format: ResponseFormat | None = None
    # Accepted and ignored, as OpenAI does for the output: end-user ids and cache hints.
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    # vLLM extension: generate exactly max_tokens (load tests).
    ignore_eos: bool = False


class ChatCompletionRequest(SamplingRequest):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: Annotated[int | None, Field(ge=1)] = None
    logprobs: bool = False
    top_logprobs: Annotated[int | None, Field(ge=0, le=20)] = None
    tools: list[ChatTool] | None = None
    tool_choice: ToolChoice | None = None  # OpenAI's default: "auto" with tools, "none" without
    parallel_tool_calls: bool = True
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
    tool_calls: list[ToolCall] | None = None


class DeltaFunctionCall(BaseModel):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(BaseModel):
    """As OpenAI streams a call: id, type and name on its first delta, then argument fragments."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunctionCall


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
    tool_calls: list[DeltaToolCall] | None = None


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


# Placeholders for the texts of a text-only chunk: control characters, which no id or model name the
# server writes holds, so that their JSON (``"\u0000content\u0000"``) is found nowhere else in a chunk.
_CONTENT_SLOT = "\x00content\x00"
_REASONING_SLOT = "\x00reasoning\x00"
_SLOT_JSON = {encode_basestring(_CONTENT_SLOT): "content", encode_basestring(_REASONING_SLOT): "reasoning"}
_SLOTS = re.compile("|".join(map(re.escape, _SLOT_JSON)))


class TextChunkEncoder:
    """The server-sent events of one stream's chunks that carry only text, without pydantic.

    Nearly every chunk of a stream is one choice's next piece of text, and building three pydantic
    models and serializing them for each token was the largest part of the server's own CPU per
    token. This renders each shape of such a chunk once (the choice, whether it announces the role,
    whether it carries content, reasoning or both) through the models themselves, with placeholders
    where the text goes; each event then only JSON-escapes its text into that: byte for byte what
    ``model_dump_json(exclude_none=True)`` of the ``ChatCompletionChunk`` writes (a test checks).
    Chunks that carry anything else (tool calls, logprobs, a finish reason, usage) are not its job.
    The one difference: a lone surrogate, which pydantic refuses to serialize, passes through here;
    the engine's text never holds one (its detokenizer returns valid UTF-8).
    """

    def __init__(self, request_id: str, created: int, model: str) -> None:
        self._request_id = request_id
        self._created = created
        self._model = model
        # (index, role, content?, reasoning?) -> the event as a %-format of its escaped texts
        self._formats: dict[tuple[int, bool, bool, bool], str] = {}

    def event(self, index: int, content: str, reasoning: str, *, role: bool = False) -> str:
        """``data: {chunk}\n\n`` for choice ``index``'s delta of ``content`` and ``reasoning`` (either may
        be empty, not both); ``role``: the delta announces the assistant role."""
        key = (index, role, bool(content), bool(reasoning))
        form = self._formats.get(key)
        if form is None:
            form = self._formats[key] = self._render(*key)
        if not reasoning:
            return form % encode_basestring(content)[1:-1]
        escaped = encode_basestring(reasoning)[1:-1]  # the delta has it twice, in both spellings
        if not content:
            return form % (escaped, escaped)
        return form % (encode_basestring(content)[1:-1], escaped, escaped)

    def _render(self, index: int, role: bool, content: bool, reasoning: bool) -> str:
        reasoning_text = _REASONING_SLOT if reasoning else None
        chunk = ChatCompletionChunk(
            id=self._request_id,
            created=self._created,
            model=self._model,
            choices=[
                ChatChunkChoice(
                    index=index,
                    delta=DeltaMessage(
                        role="assistant" if role else None,
                        content=_CONTENT_SLOT if content else None,
                        reasoning_content=reasoning_text,
                        reasoning=reasoning_text,
                    ),
                )
            ],
        )
        text = f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"
        slots = [_SLOT_JSON[found] for found in _SLOTS.findall(text)]
        # ``event`` fills the texts in this order: the fields' order in DeltaMessage.
        if slots != ["content"] * content + ["reasoning"] * (2 * reasoning):
            raise AssertionError(f"unexpected layout of a text chunk: {text!r}")
        # Each placeholder's JSON becomes "%s": the escaped text goes between the quotes.
        return '"%s"'.join(part.replace("%", "%%") for part in _SLOTS.split(text))


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
    # True when the weights are an emulation (``quantize emulate``): the scheme's quantized weights,
    # dequantized and run by bf16 kernels; ``emulation`` says what is and is not emulated.
    emulated: bool = False
    emulation: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class VersionInfo(BaseModel):
    version: str
    vllm: str
    engine: dict[str, Any] | None = None  # what the engine runs with (batch limits, KV blocks)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: int


class ErrorResponse(BaseModel):
    """OpenAI's error envelope: every 4xx and 5xx body, and an in-stream error event."""

    error: ErrorDetail
