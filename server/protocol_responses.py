"""OpenAI Responses API wire schema (``POST /v1/responses``), the subset this server implements.

The server keeps no state: ``store: true``, ``previous_response_id`` and ``conversation`` are 400s
(send the whole conversation as ``input`` items instead), as is every field not declared here.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from server.protocol import (
    FUNCTION_NAME_PATTERN,
    BudgetForcingReport,
    Int64,
    ReasoningEffort,
    RequestedThinkingBudget,
    _Request,
)


class InputText(_Request):
    type: Literal["input_text", "output_text", "text"]
    text: str
    annotations: list[Any] | None = None  # on output_text echoed back from an earlier response


class InputMessage(_Request):
    """A message item (the SDK's EasyInputMessage or a message output echoed back)."""

    type: Literal["message"] = "message"
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[InputText]
    id: str | None = None
    status: str | None = None

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class FunctionCallItem(_Request):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(_Request):
    type: Literal["function_call_output"]
    call_id: str
    output: str
    id: str | None = None
    status: str | None = None


class ReasoningText(_Request):
    type: Literal["reasoning_text", "summary_text"]
    text: str


class ReasoningInputItem(_Request):
    """Reasoning from an earlier response: accepted, and left out of the prompt, as R1-style
    chat templates drop earlier turns' reasoning."""

    type: Literal["reasoning"]
    id: str | None = None
    summary: list[ReasoningText] = Field(default_factory=list)
    content: list[ReasoningText] | None = None
    status: str | None = None


def _item_type(item: Any) -> Any:
    # The SDK's EasyInputMessage may leave "type" out: then it is a message.
    return item.get("type", "message") if isinstance(item, dict) else getattr(item, "type", None)


InputItem = Annotated[
    Annotated[InputMessage, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[ReasoningInputItem, Tag("reasoning")],
    Discriminator(_item_type),
]


class FunctionTool(_Request):
    type: Literal["function"]
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionToolChoice(_Request):
    type: Literal["function"]
    name: str


class ReasoningConfig(_Request):
    effort: ReasoningEffort | None = None
    # No summarizer runs: summaries stay empty (as OpenAI's are where it has none); the reasoning
    # itself is in the reasoning item's content.
    summary: Literal["auto", "concise", "detailed"] | None = None


class ResponsesTextFormatText(_Request):
    type: Literal["text"]


class ResponsesTextFormatJsonObject(_Request):
    type: Literal["json_object"]


class ResponsesTextFormatJsonSchema(_Request):
    type: Literal["json_schema"]
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    json_schema: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


ResponsesTextFormat = Annotated[
    ResponsesTextFormatText | ResponsesTextFormatJsonObject | ResponsesTextFormatJsonSchema,
    Field(discriminator="type"),
]


class TextConfig(_Request):
    format: ResponsesTextFormat | None = None


class ResponsesRequest(_Request):
    model: str
    input: str | Annotated[list[InputItem], Field(min_length=1)]
    instructions: str | None = None
    max_output_tokens: Annotated[int | None, Field(ge=1)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(gt=0, le=1)] = None
    reasoning: ReasoningConfig | None = None
    text: TextConfig | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice | None = None
    parallel_tool_calls: bool = True
    stream: bool = False
    seed: Int64 | None = None
    # Stateless: only "don't keep it" is accepted (the router explains the 400 otherwise).
    store: bool | None = None
    previous_response_id: str | None = None
    # Accepted and ignored, as OpenAI does for the output.
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    # The thinking budget in tokens, as on chat (quantreason/vLLM extension).
    thinking_token_budget: RequestedThinkingBudget | None = None  # -1: unlimited


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class OutputMessage(BaseModel):
    type: Literal["message"] = "message"
    id: str
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"]
    content: list[OutputText]


class ReasoningOutput(BaseModel):
    type: Literal["reasoning"] = "reasoning"
    id: str
    summary: list[ReasoningText] = Field(default_factory=list)
    content: list[ReasoningText]
    status: Literal["in_progress", "completed", "incomplete"]


class FunctionCallOutput(BaseModel):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"]


OutputItem = OutputMessage | ReasoningOutput | FunctionCallOutput


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class IncompleteDetails(BaseModel):
    reason: Literal["max_output_tokens", "content_filter"]


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int = Field(default_factory=lambda: int(time.time()))
    model: str
    status: Literal["in_progress", "completed", "incomplete"]
    output: list[OutputItem] = Field(default_factory=list)
    usage: ResponseUsage | None = None
    incomplete_details: IncompleteDetails | None = None
    error: None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    parallel_tool_calls: bool = True
    tool_choice: Any = "auto"
    tools: list[Any] = Field(default_factory=list)
    reasoning: ReasoningConfig | None = None
    text: dict[str, Any] | None = None
    store: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    # What the server did to the thinking (quantreason extension, as on chat choices).
    budget_forcing: BudgetForcingReport | None = None


class ResponseStreamEvent(BaseModel):
    """One server-sent event of a streamed response (``event: <type>``, ``data: <this>``): its other
    fields depend on the type, as in OpenAI's Responses streaming events; ``error`` carries the
    error envelope's fields."""

    model_config = ConfigDict(extra="allow")
    type: str
    sequence_number: int
