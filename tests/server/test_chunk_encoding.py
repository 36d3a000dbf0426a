"""Text-only stream chunks are written by ``TextChunkEncoder``, not by pydantic: byte for byte the same."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from server.protocol import ChatChunkChoice, ChatCompletionChunk, DeltaMessage, TextChunkEncoder

TEXTS = [
    "a",
    " ",
    "hello world",
    'say "hi"',
    "back\\slash \\n not a newline",
    "\n",
    "\r\n\t\b\f",
    "\x00\x01\x1f\x7f",  # control characters, and DEL (not escaped)
    "100% %s %d %(name)s %%",  # what a %-format would take for its own
    "é中文ß",
    "\u2028\u2029",  # JSON allows them raw, JavaScript strings did not
    "😀🧮",  # beyond the BMP
    "\ufeff\ufffd",
    "</think>",
    "\\u0000content\\u0000",  # what a placeholder looks like once escaped
    "\x00content\x00",  # ... and the placeholder itself
    "\x00reasoning\x00",
    "x" * 5000,
]
IDS = ["chatcmpl-0123456789abcdef0123456789abcdef", 'odd "id" %s \\ é']
MODELS = ["tiny", "org/model-7B", 'a "quoted" 100% \\ model ✓']


def pydantic_event(
    request_id: str, created: int, model: str, index: int, content: str, reasoning: str, role: bool
) -> str:
    """The event as the server wrote every chunk before the encoder."""
    chunk = ChatCompletionChunk(
        id=request_id,
        created=created,
        model=model,
        choices=[
            ChatChunkChoice(
                index=index,
                delta=DeltaMessage(
                    role="assistant" if role else None,
                    content=content or None,
                    reasoning_content=reasoning or None,
                    reasoning=reasoning or None,
                ),
            )
        ],
    )
    return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"


def random_text(rng: random.Random) -> str:
    alphabet = [chr(code) for code in range(0x80)] + list('é中😀\u2028\ufffd%\\"')
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


@pytest.mark.parametrize("request_id", IDS)
@pytest.mark.parametrize("model", MODELS)
def test_text_chunks_are_pydantics_bytes(request_id: str, model: str) -> None:
    created = 1_700_000_000
    encoder = TextChunkEncoder(request_id, created, model)
    rng = random.Random(f"{request_id}{model}")
    texts = TEXTS + [random_text(rng) for _ in range(200)]
    for text in texts:
        other = rng.choice(texts)
        for index in (0, 3):
            for role in (False, True):
                for content, reasoning in ((text, ""), ("", text), (text, other), (other, text)):
                    expected = pydantic_event(request_id, created, model, index, content, reasoning, role)
                    got = encoder.event(index, content, reasoning, role=role)
                    assert got == expected, (index, role, content, reasoning)


def test_each_shape_is_rendered_once() -> None:
    encoder = TextChunkEncoder("chatcmpl-x", 1, "tiny")
    for text in TEXTS:
        encoder.event(0, text, "")
        encoder.event(0, "", text)
        encoder.event(1, text, text, role=True)
    assert len(encoder._formats) == 3


class _Output:
    def __init__(self, text: str, finish_reason: str | None) -> None:
        self.text, self.token_ids, self.logprobs = text, [65], None
        self.finish_reason, self.stop_reason = finish_reason, None


class _Renderer:
    async def render_cmpl_async(self, prompts: list[Any]) -> list[Any]:
        return prompts


class _FakeEngine:
    """Just enough of AsyncLLM for ChatService.stream: one piece of TEXTS per step."""

    renderer = _Renderer()

    async def generate(self, engine_input: Any, params: Any, request_id: str) -> AsyncIterator[Any]:
        for step in range(params.max_tokens):
            finish = "length" if step == params.max_tokens - 1 else None
            yield SimpleNamespace(outputs=[_Output(TEXTS[step % len(TEXTS)], finish)])


def test_a_stream_is_what_pydantic_writes(tiny_model_dir: Path) -> None:
    """Every event of a stream (reasoning, a forced end of thinking, the answer, usage) is the
    canonical JSON of its chunk, and the role is announced once, on the first."""
    from transformers import AutoTokenizer

    from reasoning_formats import get_think_format
    from server.protocol import ChatCompletionRequest
    from server.sampling import EngineLimits
    from server.serving_chat import ChatService

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    service = ChatService(
        _FakeEngine(),  # type: ignore[arg-type]
        tokenizer,
        model_name="tiny",
        limits=EngineLimits(1024, len(tokenizer), 20),
        think_format=get_think_format("deepseek-r1"),
    )
    request = ChatCompletionRequest.model_validate(
        {
            "model": "tiny",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 60,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )

    async def events() -> list[str]:
        return [event async for event in service.stream(service.prepare(request), "chatcmpl-test")]

    stream = asyncio.run(events())
    assert stream[-1] == "data: [DONE]\n\n"
    chunks = []
    for event in stream[:-1]:
        data = event.removeprefix("data: ").removesuffix("\n\n")
        chunk = ChatCompletionChunk.model_validate_json(data)
        assert f"data: {chunk.model_dump_json(exclude_none=True)}\n\n" == event
        chunks.append(chunk)
    deltas = [choice.delta for chunk in chunks for choice in chunk.choices]
    assert [delta.role for delta in deltas].count("assistant") == 1 and deltas[0].role == "assistant"
    reasoning = "".join(delta.reasoning or "" for delta in deltas)
    assert reasoning == "".join(delta.reasoning_content or "" for delta in deltas)
    assert reasoning.startswith("".join(TEXTS[:5])) and "".join(delta.content or "" for delta in deltas)
    assert chunks[-2].choices[0].finish_reason == "length" and chunks[-1].usage is not None
