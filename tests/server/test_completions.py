"""/v1/completions through the OpenAI SDK, against the real engine."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from transformers import AutoTokenizer

from tests.conftest import SERVED_MODEL_NAME

pytestmark = pytest.mark.server

PROMPT = "12 + 7 = "


def test_completion_defaults_to_16_tokens(client: openai.OpenAI) -> None:
    reply = client.completions.create(model=SERVED_MODEL_NAME, prompt=PROMPT, temperature=0)
    assert reply.object == "text_completion"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 16
    assert reply.usage.prompt_tokens == len(PROMPT)  # one token per character
    assert len(reply.choices[0].text) == 16


def test_token_id_prompt_equals_text_prompt(client: openai.OpenAI, tiny_model_dir: Path) -> None:
    ids = AutoTokenizer.from_pretrained(tiny_model_dir).encode(PROMPT)
    by_text = client.completions.create(model=SERVED_MODEL_NAME, prompt=PROMPT, max_tokens=8, temperature=0)
    by_ids = client.completions.create(model=SERVED_MODEL_NAME, prompt=ids, max_tokens=8, temperature=0)
    assert by_ids.choices[0].text == by_text.choices[0].text
    assert by_ids.usage.prompt_tokens == len(ids)


def test_stream_matches_non_stream_with_echo_and_usage(client: openai.OpenAI) -> None:
    whole = client.completions.create(
        model=SERVED_MODEL_NAME, prompt=PROMPT, max_tokens=10, temperature=0, echo=True
    )
    assert whole.choices[0].text.startswith(PROMPT)
    chunks = list(
        client.completions.create(
            model=SERVED_MODEL_NAME,
            prompt=PROMPT,
            max_tokens=10,
            temperature=0,
            echo=True,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.text for chunk in chunks for c in chunk.choices)
    assert text == whole.choices[0].text
    assert [c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason] == ["length"]
    assert chunks[-1].usage.completion_tokens == 10


def test_logprobs(client: openai.OpenAI) -> None:
    reply = client.completions.create(
        model=SERVED_MODEL_NAME, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=2
    )
    logprobs = reply.choices[0].logprobs
    assert "".join(logprobs.tokens) == reply.choices[0].text
    assert len(logprobs.token_logprobs) == 6
    assert all(len(top) == 2 for top in logprobs.top_logprobs)
    assert logprobs.text_offset == [sum(len(t) for t in logprobs.tokens[:i]) for i in range(6)]


def test_n_choices_sample_with_seed_plus_index(client: openai.OpenAI) -> None:
    def sampled(n: int) -> list[list[str]]:
        reply = client.completions.create(
            model=SERVED_MODEL_NAME, prompt=PROMPT, max_tokens=6, temperature=1.0, seed=3, n=n, logprobs=0
        )
        assert [c.index for c in reply.choices] == list(range(n))
        return [c.logprobs.tokens for c in reply.choices]

    two = sampled(2)
    assert two[0] != two[1]
    assert sampled(1) == two[:1]  # reproducible: choice 0 always samples with the seed itself


@pytest.mark.parametrize(
    ("prompt", "extra", "param"),
    [
        ("", {}, "prompt"),
        ([999_999], {}, "prompt"),
        ("x" * 1100, {}, "prompt"),
        (PROMPT, {"max_tokens": 5000}, "max_tokens"),
    ],
)
def test_bad_completions_are_400(client: openai.OpenAI, prompt: object, extra: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=SERVED_MODEL_NAME, prompt=prompt, **extra)
    assert caught.value.body["param"] == param
