"""Operations: version, model card, admission limits (413, 429), and the project's own metrics."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from launcher import ServerProcess
from tests.conftest import API_KEY, MAX_PENDING_REQUESTS, MAX_REQUEST_BYTES, SERVED_MODEL_NAME
from tests.server.conftest import metric

pytestmark = pytest.mark.server

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def test_version(server: ServerProcess) -> None:
    body = httpx.get(f"{server.url}/version").json()
    assert body["version"] == "0.1.0"
    assert body["vllm"] == "0.32.0"


def test_model_card_names_the_scheme(client: openai.OpenAI) -> None:
    card = client.models.list().data[0]
    assert card.model_extra["quantization_scheme"] == "bfloat16"  # the tiny model is not quantized
    assert card.model_extra["source_model"] is None


def test_body_over_the_limit_is_413(server: ServerProcess) -> None:
    big = {"model": SERVED_MODEL_NAME, "messages": [{"role": "user", "content": "x" * MAX_REQUEST_BYTES}]}
    response = httpx.post(f"{server.base_url}/chat/completions", json=big, headers=HEADERS, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"

    def chunked():  # no Content-Length: counted as it arrives
        yield b'{"model": "tiny", "messages": [{"role": "user", "content": "'
        for _ in range(MAX_REQUEST_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}]}'

    url = f"{server.base_url}/chat/completions"
    response = httpx.post(url, content=chunked(), headers=HEADERS, timeout=30)
    assert response.status_code == 413
    assert "exceeds" in response.json()["error"]["message"]


async def test_requests_past_the_limit_get_429_with_retry_after(server: ServerProcess) -> None:
    long_stream = {
        "model": SERVED_MODEL_NAME,
        "messages": [{"role": "user", "content": "go"}],
        "max_tokens": 900,
        "ignore_eos": True,
        "stream": True,
    }
    async with httpx.AsyncClient(base_url=server.base_url, headers=HEADERS, timeout=60) as http:
        streams = [
            http.stream("POST", "/chat/completions", json=long_stream) for _ in range(MAX_PENDING_REQUESTS)
        ]
        responses = await asyncio.gather(*(stream.__aenter__() for stream in streams))
        try:
            assert all(r.status_code == 200 for r in responses)
            refused = await http.post("/chat/completions", json={**long_stream, "stream": False})
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["type"] == "rate_limit_error"
        finally:
            for stream in streams:
                await stream.__aexit__(None, None, None)
    # Slots come back when the streams end: a new request is served again.
    for _ in range(50):
        ok = httpx.post(
            f"{server.base_url}/chat/completions",
            json={**long_stream, "stream": False, "max_tokens": 4},
            headers=HEADERS,
            timeout=60,
        )
        if ok.status_code != 429:
            break
        await asyncio.sleep(0.2)
    assert ok.status_code == 200


def test_reasoning_metrics_move(client: openai.OpenAI, server: ServerProcess) -> None:
    names = [
        "quantreason:requests_total",
        "quantreason:reasoning_tokens_count",
        "quantreason:reasoning_tokens_sum",
        "quantreason:answer_tokens_sum",
        "quantreason:time_to_first_answer_token_seconds_count",
        "quantreason:forced_thinking_ends_total",
    ]
    before = {name: metric(server, name) for name in names}
    reply = client.chat.completions.create(
        model=SERVED_MODEL_NAME,
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=30,
        temperature=0,
        extra_body={"thinking_token_budget": 6},
    )
    moved = {name.removeprefix("quantreason:"): metric(server, name) - before[name] for name in names}
    assert moved == {
        "requests_total": 1,
        "reasoning_tokens_count": 1,
        "reasoning_tokens_sum": 6,
        # 30 tokens: 6 reasoning, "</think>", then the answer (the blank line after it included).
        "answer_tokens_sum": 30 - 6 - 1,
        "time_to_first_answer_token_seconds_count": 1,
        "forced_thinking_ends_total": 1,
    }
    assert reply.choices[0].message.content
    text = httpx.get(f"{server.url}/metrics").text
    assert f'quantreason:requests_total{{model_name="{SERVED_MODEL_NAME}",scheme="bfloat16"}}' in text
