"""Tool calling: which calls a request allows, how tools reach the prompt, and how an answer
becomes OpenAI ``tool_calls``.

- ``none``: tools are shown to the model (as OpenAI does) but the answer is plain text.
- ``auto``: the answer is free; vLLM's tool parser named by ``--tool-call-parser`` finds calls in it
  (a 400 without one, as in vLLM).
- ``required`` and a named function: the answer is constrained by vLLM's structured outputs, with
  vLLM's schemas (a JSON array of ``{"name", "parameters"}``; the named function's arguments), so any
  model, however small, yields valid calls.

The constraint and the parser apply to the answer phase only (server/forcing.py): a call can never
start inside the thinking, so a forced end of thinking never lands inside one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from server.errors import InvalidRequestError
from server.protocol import ChatMessage, ChatTool, FunctionCall, NamedToolChoice, ToolCall, ToolChoice
from server.structured import AnswerConstraint, check_schema

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ToolMode = Literal["none", "auto", "required", "named"]
EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolPlan:
    mode: ToolMode
    tools: list[ChatTool]
    named: str | None = None
    parallel: bool = True
    parser: str | None = None  # vLLM's tool parser, for "auto"

    @property
    def calls_possible(self) -> bool:
        return bool(self.tools) and self.mode != "none"

    def constraint(self) -> AnswerConstraint | None:
        if self.mode == "named":
            return AnswerConstraint(self._parameters(self.named or ""), "tool_choice")
        if self.mode != "required":
            return None
        schema: dict[str, Any] = {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "anyOf": [
                    {
                        "properties": {
                            "name": {"type": "string", "enum": [tool.function.name]},
                            "parameters": tool.function.parameters or EMPTY_OBJECT,
                        },
                        "required": ["name", "parameters"],
                    }
                    for tool in self.tools
                ],
            },
        }
        if not self.parallel:
            schema["maxItems"] = 1
        return AnswerConstraint(schema, "tool_choice")

    def _parameters(self, name: str) -> dict[str, Any]:
        tool = next(t for t in self.tools if t.function.name == name)
        return tool.function.parameters or EMPTY_OBJECT

    def parse(self, answer: str, tokenizer: PreTrainedTokenizerBase) -> tuple[str | None, list[ToolCall]]:
        """A whole ``auto`` or ``required`` answer as (content, tool calls). An answer that is not a
        complete call (cut by the token limit) stays content: the finish reason says ``length``."""
        if self.mode == "auto":
            if self.parser is None:
                return answer, []
            from server.vllm_compat import extract_tool_calls

            tools = [tool.model_dump(exclude_none=True) for tool in self.tools]
            content, found = extract_tool_calls(self.parser, tokenizer, tools, answer)
            return content, [new_call(name, arguments) for name, arguments in found]
        try:
            value = json.loads(answer)
        except ValueError:
            return answer, []
        if not isinstance(value, list):
            return answer, []
        calls = [
            new_call(item["name"], json.dumps(item["parameters"], ensure_ascii=False))
            for item in value
            if isinstance(item, dict) and "name" in item and "parameters" in item
        ]
        return None, calls


def new_call(name: str, arguments: str) -> ToolCall:
    return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", function=FunctionCall(name=name, arguments=arguments))


def plan_tools(
    tools: list[ChatTool] | None,
    tool_choice: ToolChoice | None,
    *,
    parallel: bool,
    parser: str | None,
) -> ToolPlan:
    """Resolve ``tool_choice`` against ``tools`` and the server's parser; a bad pairing is a 400."""
    tools = tools or []
    names = [tool.function.name for tool in tools]
    if len(set(names)) != len(names):
        raise InvalidRequestError("tools: function names must be unique", param="tools")
    for index, tool in enumerate(tools):
        if tool.function.parameters is not None:
            check_schema(tool.function.parameters, f"tools[{index}].function.parameters")
    choice = tool_choice if tool_choice is not None else ("auto" if tools else "none")
    if isinstance(choice, NamedToolChoice):
        if choice.function.name not in names:
            raise InvalidRequestError(
                f"tool_choice names {choice.function.name!r}, which is not among `tools`",
                param="tool_choice",
            )
        return ToolPlan("named", tools, named=choice.function.name, parallel=parallel)
    if choice != "none" and not tools:
        raise InvalidRequestError(f'tool_choice "{choice}" needs `tools`', param="tool_choice")
    if choice == "auto" and parser is None:
        raise InvalidRequestError(
            'tool_choice "auto" needs a tool parser: start the server with --tool-call-parser '
            '(or ask for tool_choice "required" or a named function, which need none)',
            param="tool_choice",
        )
    return ToolPlan(choice, tools, parallel=parallel, parser=parser)


def template_supports_tools(chat_template: str | None) -> bool:
    return bool(chat_template) and "tools" in (chat_template or "")


def template_messages(
    messages: list[ChatMessage], tools: list[ChatTool], *, native: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The conversation as the chat template takes it, and the ``tools`` argument for it.

    A template that renders tools (``native``) gets them as vLLM passes them: OpenAI's tool list,
    and assistant ``tool_calls`` whose arguments are parsed into objects. A template that knows
    nothing of tools (R1 distills, the tiny models) would drop them silently; for it they are
    written into the conversation, as minja's polyfills do for llama.cpp: the tool list in the
    system turn, calls as a JSON assistant turn, results as user turns.
    """
    names = {call.id: call.function.name for m in messages for call in m.tool_calls or []}
    rendered: list[dict[str, Any]] = []
    for message in messages:
        # Chat templates of open models predate OpenAI's "developer" role: it is the system turn.
        role = "system" if message.role == "developer" else message.role
        turn: dict[str, Any] = {"role": role, "content": message.text()}
        if message.tool_calls:
            calls = [
                {"id": c.id, "type": "function", "name": c.function.name, "arguments": _arguments(c)}
                for c in message.tool_calls
            ]
            if native:
                turn["tool_calls"] = [
                    {"id": c["id"], "type": "function", "function": {k: c[k] for k in ("name", "arguments")}}
                    for c in calls
                ]
            else:
                text = json.dumps(
                    {"tool_calls": [{k: c[k] for k in ("name", "arguments", "id")} for c in calls]}
                )
                turn["content"] = f"{turn['content']}\n{text}" if turn["content"] else text
        if role == "tool":
            if native:
                turn["tool_call_id"] = message.tool_call_id
            else:
                response = {"tool": names.get(message.tool_call_id or "", ""), "content": turn["content"]}
                turn = {"role": "user", "content": json.dumps({"tool_response": response})}
        rendered.append(turn)
    if not tools:
        return rendered, None
    listed = [tool.model_dump(exclude_none=True) for tool in tools]
    if native:
        return rendered, listed
    preamble = "You can call any of the following tools to satisfy the user's requests: " + json.dumps(
        listed, separators=(",", ":")
    )
    if rendered and rendered[0]["role"] == "system":
        rendered[0] = {**rendered[0], "content": f"{rendered[0]['content']}\n\n{preamble}"}
    else:
        rendered.insert(0, {"role": "system", "content": preamble})
    return rendered, None


def _arguments(call: ToolCall) -> Any:
    try:
        return json.loads(call.function.arguments)
    except ValueError as exc:
        raise InvalidRequestError(f"tool call {call.id}: arguments are not JSON", param="messages") from exc
