"""``POST /v1/responses`` on the tiny reasoner, through the official SDK's ``responses`` client."""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

from launcher import ServerProcess
from tests.conftest import API_KEY, EFFORT_BUDGETS, REASONER_MODEL_NAME
from tests.server.conftest import ANSWER_SCHEMA, REASONER_QUESTION

pytestmark = pytest.mark.server

QUESTION = REASONER_QUESTION


def items_of(response, kind: str) -> list:
    return [item for item in response.output if item.type == kind]


def test_plain_response_has_reasoning_and_message(reasoner: openai.OpenAI) -> None:
    response = reasoner.responses.create(
        model=REASONER_MODEL_NAME, input=QUESTION, max_output_tokens=400, temperature=0
    )
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    (reasoning,) = items_of(response, "reasoning")
    assert "47+38" in reasoning.content[0].text
    assert "\\boxed{85}" in response.output_text
    usage = response.usage
    assert 0 < usage.output_tokens_details.reasoning_tokens < usage.output_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_instructions_and_items_reach_the_prompt(reasoner: openai.OpenAI) -> None:
    plain = reasoner.responses.create(model=REASONER_MODEL_NAME, input=QUESTION, max_output_tokens=8)
    framed = reasoner.responses.create(
        model=REASONER_MODEL_NAME,
        instructions="Be brief.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
        max_output_tokens=8,
    )
    assert framed.usage.input_tokens == plain.usage.input_tokens + len("Be brief.")
    assert framed.status == "incomplete" and framed.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize("effort", ["none", "minimal", "low"])
def test_effort_levels_map_onto_the_thinking_plan(reasoner: openai.OpenAI, effort: str) -> None:
    response = reasoner.responses.create(
        model=REASONER_MODEL_NAME,
        input=QUESTION,
        max_output_tokens=300,
        temperature=0,
        reasoning={"effort": effort, "summary": "auto"},
    )
    report = response.model_extra["budget_forcing"]
    assert report["thinking_budget"] == EFFORT_BUDGETS[effort]
    assert report["budget_source"] == "reasoning_effort"
    assert response.usage.output_tokens_details.reasoning_tokens <= EFFORT_BUDGETS[effort]


def test_streamed_events_follow_the_sdk(reasoner: openai.OpenAI) -> None:
    whole = reasoner.responses.create(
        model=REASONER_MODEL_NAME, input=QUESTION, max_output_tokens=400, temperature=0
    )
    kinds, reasoning, text, completed = [], "", "", None
    with reasoner.responses.stream(
        model=REASONER_MODEL_NAME, input=QUESTION, max_output_tokens=400, temperature=0
    ) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.reasoning_text.delta":
                reasoning += event.delta
            elif event.type == "response.output_text.delta":
                text += event.delta
        completed = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.done"):
        assert kind in kinds
    assert kinds.index("response.reasoning_text.delta") < kinds.index("response.output_text.delta")
    assert reasoning == items_of(whole, "reasoning")[0].content[0].text
    assert text == whole.output_text == completed.output_text
    assert (
        completed.usage.output_tokens_details.reasoning_tokens
        == whole.usage.output_tokens_details.reasoning_tokens
    )


@pytest.mark.parametrize("budget", [0, 16, None])
def test_text_format_json_schema(reasoner: openai.OpenAI, budget: int | None) -> None:
    response = reasoner.responses.create(
        model=REASONER_MODEL_NAME,
        input=QUESTION,
        max_output_tokens=400,
        temperature=0,
        text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
        extra_body={} if budget is None else {"thinking_token_budget": budget},
    )
    jsonschema.validate(json.loads(response.output_text), ANSWER_SCHEMA)


def test_function_tools_and_their_outputs(reasoner: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 999}},
            "required": ["a"],
            "additionalProperties": False,
        },
    }
    response = reasoner.responses.create(
        model=REASONER_MODEL_NAME,
        input=QUESTION,
        max_output_tokens=400,
        tools=[tool],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    (call,) = items_of(response, "function_call")
    assert call.name == "add" and isinstance(json.loads(call.arguments)["a"], int)
    follow_up = reasoner.responses.create(
        model=REASONER_MODEL_NAME,
        input=[
            {"role": "user", "content": QUESTION},
            {"type": "function_call", "call_id": call.call_id, "name": "add", "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "85"},
        ],
        max_output_tokens=200,
        tools=[tool],
        tool_choice="none",
    )
    assert follow_up.status in ("completed", "incomplete")
    assert items_of(follow_up, "message")


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"store": True}, "store"),
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"background": True}, "background"),
        ({"include": ["reasoning.encrypted_content"]}, "include"),
        ({"reasoning": {"effort": "high", "generate_summary": "auto"}}, "reasoning.generate_summary"),
    ],
)
def test_unkept_state_and_unknown_fields_are_400(
    reasoner_server: ServerProcess, payload: dict, param: str
) -> None:
    response = httpx.post(
        f"{reasoner_server.base_url}/responses",
        json={"model": REASONER_MODEL_NAME, "input": QUESTION, "max_output_tokens": 8, **payload},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
