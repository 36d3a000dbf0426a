"""Structured outputs and tool calls on the tiny reasoner, through the official SDK: the answer
phase is constrained by vLLM's backend, the thinking stays free, and a forced end of thinking
comes before the constrained answer at every budget."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from launcher import ServerProcess
from tests.conftest import API_KEY, REASONER_MODEL_NAME
from tests.server.conftest import ANSWER_SCHEMA, REASONER_QUESTION, metric

pytestmark = pytest.mark.server

QUESTION = [{"role": "user", "content": REASONER_QUESTION}]
# None: unlimited (the reasoner ends its thinking itself).
BUDGETS = [0, 16, None]
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "minimum": 0, "maximum": 999},
                "b": {"type": "integer", "minimum": 0, "maximum": 999},
            },
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
}
SUBTRACT = {
    "type": "function",
    "function": {
        "name": "subtract",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 999}},
            "required": ["a"],
            "additionalProperties": False,
        },
    },
}


def budget_body(budget: int | None) -> dict[str, object]:
    return {} if budget is None else {"thinking_token_budget": budget}


def check_thinking(message_or_delta_reasoning: str, budget: int | None, report: dict) -> None:
    """Reasoning is kept apart from the answer, and within its budget."""
    assert "</think>" not in message_or_delta_reasoning
    if budget is not None:
        assert report["thinking_budget"] == budget
        assert len(message_or_delta_reasoning) <= budget  # one character per token
    if budget == 0:
        assert report["forced_end"] is True


@pytest.mark.parametrize("budget", BUDGETS)
def test_json_schema_answers_validate_at_every_budget(reasoner: openai.OpenAI, budget: int | None) -> None:
    reply = reasoner.chat.completions.create(
        model=REASONER_MODEL_NAME,
        messages=QUESTION,
        max_tokens=400,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA}},
        extra_body=budget_body(budget),
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    jsonschema.validate(json.loads(choice.message.content), ANSWER_SCHEMA)
    reasoning = choice.message.model_extra["reasoning_content"]
    check_thinking(reasoning, budget, choice.model_extra["budget_forcing"])
    if budget is None:
        assert "47+38" in reasoning  # the thinking was free: the reasoner's own trace


def test_json_object_streamed(reasoner: openai.OpenAI) -> None:
    stream = reasoner.chat.completions.create(
        model=REASONER_MODEL_NAME,
        messages=QUESTION,
        max_tokens=400,
        temperature=0,
        response_format={"type": "json_object"},
        stream=True,
        extra_body={"thinking_token_budget": 16},
    )
    content = reasoning = ""
    for chunk in stream:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
    assert isinstance(json.loads(content), dict)
    assert 0 < len(reasoning) <= 16


def test_completions_take_a_response_format(reasoner: openai.OpenAI) -> None:
    reply = reasoner.completions.create(
        model=REASONER_MODEL_NAME,
        prompt="Ann has 47 coins. Answer in JSON: ",
        max_tokens=60,
        temperature=0,
        extra_body={
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": ANSWER_SCHEMA}}
        },
    )
    jsonschema.validate(json.loads(reply.choices[0].text), ANSWER_SCHEMA)


def tool_choice_of(kind: str) -> object:
    return "required" if kind == "required" else {"type": "function", "function": {"name": "add"}}


def ask_for_a_tool_call(reasoner: openai.OpenAI, kind: str, budget: int | None, stream: bool = False) -> Any:
    """A chat request that must call ADD or SUBTRACT (``kind``: "required" or "named") at ``budget``."""
    return reasoner.chat.completions.create(
        model=REASONER_MODEL_NAME,
        messages=QUESTION,
        max_tokens=300,  # the tools' preamble takes ~450 of the 1024 tokens of context
        temperature=0,
        tools=[ADD, SUBTRACT],
        tool_choice=tool_choice_of(kind),
        parallel_tool_calls=False,  # else the tiny model, free to add calls, adds them until max_tokens
        stream=stream,
        extra_body=budget_body(budget),
    )


def check_calls(calls: list, kind: str) -> None:
    assert calls
    for call in calls:
        assert call["type"] == "function"
        assert call["id"].startswith("call_")
        tool = {"add": ADD, "subtract": SUBTRACT}[call["function"]["name"]]
        jsonschema.validate(json.loads(call["function"]["arguments"]), tool["function"]["parameters"])
    if kind == "named":
        assert [c["function"]["name"] for c in calls] == ["add"]


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("kind", ["required", "named"])
def test_forced_tool_calls_are_valid_at_every_budget(
    reasoner: openai.OpenAI, kind: str, budget: int | None
) -> None:
    reply = ask_for_a_tool_call(reasoner, kind, budget)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    check_calls([c.model_dump() for c in choice.message.tool_calls], kind)
    assert len(choice.message.tool_calls) == 1  # parallel_tool_calls: false
    check_thinking(
        choice.message.model_extra["reasoning_content"], budget, choice.model_extra["budget_forcing"]
    )


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("kind", ["required", "named"])
def test_forced_tool_calls_stream_as_openai_does(
    reasoner: openai.OpenAI, kind: str, budget: int | None
) -> None:
    stream = ask_for_a_tool_call(reasoner, kind, budget, stream=True)
    calls: dict[int, dict] = {}
    reasoning, finish, report = "", None, None
    for chunk in stream:
        for choice in chunk.choices:
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            assert not choice.delta.content
            for delta in choice.delta.tool_calls or []:
                if delta.index not in calls:  # the first delta of a call names it
                    assert delta.id and delta.type == "function" and delta.function.name
                    calls[delta.index] = {
                        "id": delta.id,
                        "type": "function",
                        "function": {"name": delta.function.name, "arguments": ""},
                    }
                else:
                    assert delta.id is None and delta.function.name is None
                calls[delta.index]["function"]["arguments"] += delta.function.arguments or ""
            if choice.finish_reason:
                finish, report = choice.finish_reason, choice.model_extra["budget_forcing"]
    assert finish == "tool_calls"
    check_calls(list(calls.values()), kind)
    check_thinking(reasoning, budget, report)


def test_a_multi_turn_tool_exchange(reasoner: openai.OpenAI) -> None:
    first = reasoner.chat.completions.create(
        model=REASONER_MODEL_NAME,
        messages=QUESTION,
        max_tokens=400,
        temperature=0,
        tools=[ADD],
        tool_choice={"type": "function", "function": {"name": "add"}},
    )
    call = first.choices[0].message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": str(arguments["a"] + arguments["b"])},
    ]
    second = reasoner.chat.completions.create(
        model=REASONER_MODEL_NAME,
        messages=history,
        max_tokens=300,
        temperature=0,
        tools=[ADD],
        tool_choice="auto",
    )
    choice = second.choices[0]
    # The reasoner never learned Hermes' <tool_call> syntax: under "auto" its turn stays content.
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    # And the exchange reached the prompt: the tool result is in it (the tools preamble too).
    assert second.usage.prompt_tokens > first.usage.prompt_tokens + len(call.function.arguments)


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}},
            "response_format.json_schema.schema",
        ),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [ADD], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tools": [ADD, ADD], "tool_choice": "required"}, "tools"),
        ({"functions": [ADD["function"]]}, "functions"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"messages": [{"role": "user", "content": "hi", "colour": "red"}]}, "messages.0.colour"),
    ],
)
def test_bad_or_unknown_fields_are_400_naming_them(
    reasoner_server: ServerProcess, payload: dict, param: str
) -> None:
    response = httpx.post(
        f"{reasoner_server.base_url}/chat/completions",
        json={"model": REASONER_MODEL_NAME, "messages": QUESTION, "max_tokens": 8, **payload},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param or error["param"].startswith(param), error


def test_metrics_cover_tool_calls_and_constrained_answers(
    reasoner: openai.OpenAI, reasoner_server: ServerProcess
) -> None:
    calls, forced = (
        metric(reasoner_server, "quantreason:tool_calls_total"),
        metric(reasoner_server, "quantreason:forced_thinking_ends_total"),
    )
    reasoner.chat.completions.create(
        model=REASONER_MODEL_NAME,
        messages=QUESTION,
        max_tokens=300,
        tools=[ADD],
        tool_choice={"type": "function", "function": {"name": "add"}},
        extra_body={"thinking_token_budget": 4},
    )
    assert metric(reasoner_server, "quantreason:tool_calls_total") == calls + 1
    assert metric(reasoner_server, "quantreason:forced_thinking_ends_total") == forced + 1
