"""The server through the official OpenAI SDK, against a real vLLM engine on the tiny model."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.conftest import SERVED_MODEL_NAME

pytestmark = pytest.mark.server

QUESTION = [{"role": "user", "content": "What is 12 + 7?"}]
# Random weights may emit the end-of-sequence token at any point; where a test needs an exact
# length it asks for vLLM's ignore_eos.
EXACT_LENGTH = {"extra_body": {"ignore_eos": True}}


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [SERVED_MODEL_NAME]
    assert models.data[0].model_extra["max_model_len"] == 1024


def test_greedy_is_deterministic_and_seeded_sampling_reproduces(client: openai.OpenAI) -> None:
    def text(**sampling: object) -> str:
        reply = client.chat.completions.create(
            model=SERVED_MODEL_NAME, messages=QUESTION, max_tokens=12, **EXACT_LENGTH, **sampling
        )
        return reply.choices[0].message.model_extra["reasoning_content"]

    assert text(temperature=0) == text(temperature=0)
    assert text(temperature=1.0, seed=7) == text(temperature=1.0, seed=7)
    seeded = {text(temperature=1.0, seed=seed) for seed in range(4)}
    assert len(seeded) > 1, "different seeds should sample different text at temperature 1"


def test_stream_matches_non_stream_and_reports_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=SERVED_MODEL_NAME, messages=QUESTION, max_tokens=20, temperature=0, **EXACT_LENGTH
    )
    stream = client.chat.completions.create(
        model=SERVED_MODEL_NAME,
        messages=QUESTION,
        max_tokens=20,
        temperature=0,
        **EXACT_LENGTH,
        stream=True,
        stream_options={"include_usage": True},
    )
    reasoning, content, finish, usage, roles = "", "", None, None, []
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            reasoning += extra.get("reasoning_content") or ""
            content += choice.delta.content or ""
            roles.append(choice.delta.role)
            finish = choice.finish_reason or finish
    assert roles[0] == "assistant"
    assert reasoning == whole.choices[0].message.model_extra["reasoning_content"]
    assert content == whole.choices[0].message.content
    assert finish == "length"
    assert usage is not None and usage.completion_tokens == 20
    assert usage.completion_tokens_details == whole.usage.completion_tokens_details


def test_n_choices_and_stop(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=SERVED_MODEL_NAME, messages=QUESTION, max_tokens=8, temperature=1.0, seed=1, n=3, **EXACT_LENGTH
    )
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert reply.usage.completion_tokens == 24

    greedy = (
        client.chat.completions.create(
            model=SERVED_MODEL_NAME, messages=QUESTION, max_tokens=60, temperature=0
        )
        .choices[0]
        .message.model_extra["reasoning_content"]
    )
    stop = greedy[5:8]
    assert len(stop) == 3, greedy
    stopped = client.chat.completions.create(
        model=SERVED_MODEL_NAME, messages=QUESTION, max_tokens=60, temperature=0, stop=stop, **EXACT_LENGTH
    ).choices[0]
    assert stopped.finish_reason == "stop"
    assert stopped.message.model_extra["reasoning_content"] == greedy[: greedy.index(stop)]


def test_logprobs(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=SERVED_MODEL_NAME,
        messages=QUESTION,
        max_tokens=12,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
        **EXACT_LENGTH,
    )
    entries = reply.choices[0].logprobs.content
    # Tokens the server inserts (the forced "</think>\n\n") were not sampled: they have no logprobs.
    assert reply.choices[0].model_extra["budget_forcing"]["forced_end"]
    assert len(entries) == 12 - 3
    for entry in entries:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # Greedy decoding picks the most likely token.
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-4)


async def test_concurrent_requests(async_client: openai.AsyncOpenAI) -> None:
    replies = await asyncio.gather(
        *(
            async_client.chat.completions.create(
                model=SERVED_MODEL_NAME,
                messages=[{"role": "user", "content": f"What is {i} + {i}?"}],
                max_tokens=10,
                temperature=0,
                **EXACT_LENGTH,
            )
            for i in range(8)
        )
    )
    assert len({r.id for r in replies}) == 8
    assert all(r.usage.completion_tokens == 10 for r in replies)


def test_developer_role_is_the_system_turn(client: openai.OpenAI) -> None:
    def prompt_tokens(role: str) -> int:
        reply = client.chat.completions.create(
            model=SERVED_MODEL_NAME,
            messages=[{"role": role, "content": "Be brief."}, *QUESTION],
            max_tokens=1,
        )
        return reply.usage.prompt_tokens

    bare = client.chat.completions.create(model=SERVED_MODEL_NAME, messages=QUESTION, max_tokens=1)
    assert (
        prompt_tokens("developer") == prompt_tokens("system") == bare.usage.prompt_tokens + len("Be brief.")
    )
