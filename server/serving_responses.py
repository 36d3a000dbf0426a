"""The Responses API (``/v1/responses``) over the chat service: the same prompt, thinking plan,
structured outputs and tools; only the wire format differs.

A request becomes a ``ChatCompletionRequest`` (``input`` items -> messages, ``reasoning.effort`` ->
``reasoning_effort``, ``text.format`` -> ``response_format``, flat function tools -> chat tools),
so every thinking control and its report behave exactly as on chat.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from server.errors import InvalidRequestError, stream_error_body
from server.protocol import ChatCompletionRequest, ChatMessage, NamedToolChoice
from server.protocol_responses import (
    FunctionCallItem,
    FunctionCallOutput,
    FunctionCallOutputItem,
    FunctionToolChoice,
    IncompleteDetails,
    InputMessage,
    OutputItem,
    OutputMessage,
    OutputText,
    OutputTokensDetails,
    ReasoningOutput,
    ReasoningText,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
)
from server.serving_chat import ChatJob, ChatService, ChoiceState, ChoiceUpdate


@dataclass(frozen=True)
class ResponsesJob:
    """A responses request that passed every check: the request (its fields echo in the response)
    and the chat job it runs as."""

    request: ResponsesRequest
    chat: ChatJob


class ResponsesService:
    def __init__(self, chat: ChatService) -> None:
        self._chat = chat
        self.model_name = chat.model_name

    def prepare(self, request: ResponsesRequest) -> ResponsesJob:
        """Every check of the request that needs no engine round trip; raises ``APIError``."""
        return ResponsesJob(request, self._chat.prepare(to_chat_request(request)))

    async def create(self, job: ResponsesJob, request_id: str) -> ResponseObject:
        (state,) = states = [self._chat.new_state(job.chat)]
        async for _ in self._chat.run(job.chat, request_id, states):
            pass
        return self._response(job, request_id, state, final=True)

    async def stream(self, job: ResponsesJob, request_id: str) -> AsyncIterator[str]:
        """The SDK's event sequence: response.created, per output item its added / delta / done
        events, then response.completed (or response.incomplete). response.created waits for the
        engine's first output: an error before it is raised (a plain error response), one after it
        is the in-band error event."""
        (state,) = states = [self._chat.new_state(job.chat)]
        updates = aiter(self._chat.run(job.chat, request_id, states))
        first: ChoiceUpdate | None = await anext(updates, None)
        events = _EventWriter()
        yield events.write("response.created", response=self._response(job, request_id, state, final=False))
        items = _ItemStream(request_id, events, show_reasoning=self._shows_reasoning(job.chat, state))
        try:
            if first is not None:
                for event in self._events(items, first):
                    yield event
                async for update in updates:
                    for event in self._events(items, update):
                        yield event
        except Exception as exc:
            # The Responses API's in-band error: an "error" event with the envelope's fields.
            error: Any = stream_error_body(exc, request_id)["error"]
            yield events.write("error", **error)
            return
        for event in items.close():
            yield event
        response = self._response(job, request_id, state, final=True)
        kind = "response.completed" if response.status == "completed" else "response.incomplete"
        yield events.write(kind, response=response)

    @staticmethod
    def _events(items: _ItemStream, update: ChoiceUpdate) -> list[str]:
        out = [*items.reasoning(update.reasoning), *items.text(update.content)]
        for call in update.tool_calls:
            out += items.call(call.index, call.id, call.function.name, call.function.arguments or "")
        return out

    @staticmethod
    def _shows_reasoning(prepared: ChatJob, state: ChoiceState) -> bool:
        return state.splitter is not None and not prepared.plan.exclude_reasoning

    def _response(
        self, job: ResponsesJob, request_id: str, state: ChoiceState, *, final: bool
    ) -> ResponseObject:
        request, prepared = job.request, job.chat
        output: list[OutputItem] = []
        status: Any = "in_progress"
        usage = incomplete = None
        if final:
            truncated = state.finish_reason == "length"
            status = "incomplete" if truncated else "completed"
            incomplete = IncompleteDetails(reason="max_output_tokens") if truncated else None
            output = self._output(prepared, state, status, request_id)
            chat_usage = self._chat.usage(prepared, [state])
            usage = ResponseUsage(
                input_tokens=chat_usage.prompt_tokens,
                output_tokens=chat_usage.completion_tokens,
                output_tokens_details=OutputTokensDetails(
                    reasoning_tokens=self._chat.reasoning_tokens(state)
                ),
                total_tokens=chat_usage.total_tokens,
            )
        return ResponseObject(
            id=request_id,
            model=self.model_name,
            status=status,
            output=output,
            usage=usage,
            incomplete_details=incomplete,
            instructions=request.instructions,
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            parallel_tool_calls=request.parallel_tool_calls,
            tool_choice=_dump(request.tool_choice) if request.tool_choice is not None else "auto",
            tools=[tool.model_dump(exclude_none=True) for tool in request.tools or []],
            reasoning=request.reasoning,
            text=_dump(request.text) if request.text else {"format": {"type": "text"}},
            metadata=request.metadata or {},
            budget_forcing=state.report,
        )

    def _output(
        self, prepared: ChatJob, state: ChoiceState, status: Any, request_id: str
    ) -> list[OutputItem]:
        ids = _ItemIds(request_id)
        output: list[OutputItem] = []
        if self._shows_reasoning(prepared, state):
            output.append(
                ReasoningOutput(
                    id=ids.reasoning,
                    content=[ReasoningText(type="reasoning_text", text=state.reasoning)],
                    status=status,
                )
            )
        if state.content or not state.tool_calls:
            output.append(
                OutputMessage(id=ids.message, status=status, content=[OutputText(text=state.content or "")])
            )
        for call in state.tool_calls:
            output.append(
                FunctionCallOutput(
                    id=ids.call(call.id),
                    call_id=call.id,
                    name=call.function.name,
                    arguments=call.function.arguments,
                    status=status,
                )
            )
        return output


def to_chat_request(request: ResponsesRequest) -> ChatCompletionRequest:
    """The chat request this responses request means; a field it cannot carry is a 400."""
    if request.store:
        raise InvalidRequestError(
            "this server keeps no responses: send store: false (or leave it out), and the whole "
            "conversation as input items",
            param="store",
        )
    if request.previous_response_id is not None:
        raise InvalidRequestError(
            "this server keeps no responses, so previous_response_id cannot be resolved: send the "
            "whole conversation as input items (earlier output items included)",
            param="previous_response_id",
        )
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    items = (
        [InputMessage(role="user", content=request.input)]
        if isinstance(request.input, str)
        else request.input
    )
    for item in items:
        if isinstance(item, InputMessage):
            messages.append({"role": item.role, "content": item.text()})
        elif isinstance(item, FunctionCallItem):
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)  # parallel calls: one assistant turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, FunctionCallOutputItem):
            messages.append({"role": "tool", "content": item.output, "tool_call_id": item.call_id})
    if not messages:
        raise InvalidRequestError("input has no messages", param="input")
    chat: dict[str, Any] = {
        "model": request.model,
        "messages": [ChatMessage.model_validate(m) for m in messages],
        "max_completion_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "parallel_tool_calls": request.parallel_tool_calls,
        "thinking_token_budget": request.thinking_token_budget,
    }
    if request.reasoning is not None and request.reasoning.effort is not None:
        chat["reasoning_effort"] = request.reasoning.effort
    if request.text is not None and request.text.format is not None:
        fmt = request.text.format.model_dump(by_alias=True, exclude_none=True)
        if fmt["type"] == "json_schema":
            fmt = {"type": "json_schema", "json_schema": {k: v for k, v in fmt.items() if k != "type"}}
        chat["response_format"] = fmt
    if request.tools:
        chat["tools"] = [
            {"type": "function", "function": tool.model_dump(exclude={"type"}, exclude_none=True)}
            for tool in request.tools
        ]
    if isinstance(request.tool_choice, FunctionToolChoice):
        chat["tool_choice"] = NamedToolChoice.model_validate(
            {"type": "function", "function": {"name": request.tool_choice.name}}
        )
    elif request.tool_choice is not None:
        chat["tool_choice"] = request.tool_choice
    try:
        return ChatCompletionRequest.model_validate(chat)
    except ValidationError as exc:  # the fields were checked as responses fields already
        raise InvalidRequestError(f"input: {exc.errors()[0]['msg']}", param="input") from exc


def _dump(value: Any) -> Any:
    return value.model_dump(by_alias=True, exclude_none=True) if isinstance(value, BaseModel) else value


class _ItemIds:
    def __init__(self, request_id: str) -> None:
        suffix = request_id.removeprefix("resp_")
        self.reasoning = f"rs_{suffix}"
        self.message = f"msg_{suffix}"

    @staticmethod
    def call(call_id: str) -> str:
        return f"fc_{call_id.removeprefix('call_')}"


class _EventWriter:
    """Server-sent events with the type in both the ``event:`` line and the payload, numbered."""

    def __init__(self) -> None:
        self._sequence = 0

    def write(self, kind: str, **fields: Any) -> str:
        payload = {
            "type": kind,
            "sequence_number": self._sequence,
            **{k: _dump(v) for k, v in fields.items()},
        }
        self._sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"


class _ItemStream:
    """Opens, fills and closes output items as deltas arrive: reasoning first, then the message,
    then function calls, each announced with output_item.added and ended with output_item.done."""

    def __init__(self, request_id: str, events: _EventWriter, *, show_reasoning: bool) -> None:
        self._ids = _ItemIds(request_id)
        self._events = events
        self._show_reasoning = show_reasoning
        self._open: str | None = None  # "reasoning", "message" or a call's item id
        self._index = -1
        self._reasoning = ""
        self._text = ""
        self._calls: dict[int, FunctionCallOutput] = {}

    def reasoning(self, delta: str) -> list[str]:
        if not delta or not self._show_reasoning:
            return []
        out = self._switch("reasoning")
        self._reasoning += delta
        out.append(
            self._event(
                "response.reasoning_text.delta", item_id=self._ids.reasoning, content_index=0, delta=delta
            )
        )
        return out

    def text(self, delta: str) -> list[str]:
        if not delta:
            return []
        out = self._switch("message")
        self._text += delta
        out.append(
            self._event(
                "response.output_text.delta",
                item_id=self._ids.message,
                content_index=0,
                delta=delta,
                logprobs=[],
            )
        )
        return out

    def call(self, index: int, call_id: str | None, name: str | None, arguments: str) -> list[str]:
        out: list[str] = []
        if index not in self._calls:
            item = FunctionCallOutput(
                id=self._ids.call(call_id or ""),
                call_id=call_id or "",
                name=name or "",
                arguments="",
                status="in_progress",
            )
            out = self._switch(item.id, item)
            self._calls[index] = item
        item = self._calls[index]
        if arguments:
            item.arguments += arguments
            out.append(
                self._event("response.function_call_arguments.delta", item_id=item.id, delta=arguments)
            )
        return out

    def close(self) -> list[str]:
        return self._switch(None)

    def _event(self, kind: str, **fields: Any) -> str:
        return self._events.write(kind, output_index=self._index, **fields)

    def _switch(self, item: str | None, call: FunctionCallOutput | None = None) -> list[str]:
        if item == self._open:
            return []
        out = self._done() if self._open is not None else []
        self._open = item
        if item is None:
            return out
        self._index += 1
        if item == "reasoning":
            added: BaseModel = ReasoningOutput(id=self._ids.reasoning, content=[], status="in_progress")
        elif item == "message":
            added = OutputMessage(id=self._ids.message, status="in_progress", content=[])
        else:
            assert call is not None
            added = call
        out.append(self._event("response.output_item.added", item=added))
        if item == "message":
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=self._ids.message,
                    content_index=0,
                    part=OutputText(text=""),
                )
            )
        return out

    def _done(self) -> list[str]:
        if self._open == "reasoning":
            text = ReasoningText(type="reasoning_text", text=self._reasoning)
            return [
                self._event(
                    "response.reasoning_text.done",
                    item_id=self._ids.reasoning,
                    content_index=0,
                    text=self._reasoning,
                ),
                self._event(
                    "response.output_item.done",
                    item=ReasoningOutput(id=self._ids.reasoning, content=[text], status="completed"),
                ),
            ]
        if self._open == "message":
            part = OutputText(text=self._text)
            return [
                self._event(
                    "response.output_text.done",
                    item_id=self._ids.message,
                    content_index=0,
                    text=self._text,
                    logprobs=[],
                ),
                self._event(
                    "response.content_part.done", item_id=self._ids.message, content_index=0, part=part
                ),
                self._event(
                    "response.output_item.done",
                    item=OutputMessage(id=self._ids.message, status="completed", content=[part]),
                ),
            ]
        call = next(c for c in self._calls.values() if c.id == self._open)
        call.status = "completed"
        return [
            self._event("response.function_call_arguments.done", item_id=call.id, arguments=call.arguments),
            self._event("response.output_item.done", item=call),
        ]
