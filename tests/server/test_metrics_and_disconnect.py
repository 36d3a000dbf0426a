"""Prometheus metrics from the engine, and a client that goes away aborts its engine request."""

from __future__ import annotations

import time

import httpx
import pytest

from launcher import ServerProcess
from tests.conftest import API_KEY, SERVED_MODEL_NAME
from tests.server.conftest import metric

pytestmark = pytest.mark.server

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
LONG_REQUEST = {
    "model": SERVED_MODEL_NAME,
    "messages": [{"role": "user", "content": "Think for a long time."}],
    "max_tokens": 900,
    "temperature": 0,
    # Without this, the random model may stop early on its own and hide a missing abort.
    "ignore_eos": True,
}


def wait_until_idle(server: ServerProcess, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while metric(server, "vllm:num_requests_running") > 0:
        assert time.monotonic() < deadline, "engine request still running after the client left"
        time.sleep(0.2)


def test_metrics_count_generated_tokens(server: ServerProcess) -> None:
    before = metric(server, "vllm:generation_tokens_total")
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={**LONG_REQUEST, "max_tokens": 7},
        headers=HEADERS,
        timeout=60,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["usage"]["completion_tokens"] == 7
    # The random model thinks until forced; the forced "</think>\n\n" is inserted, not generated.
    assert body["choices"][0]["budget_forcing"]["forced_end"]
    assert metric(server, "vllm:generation_tokens_total") - before == 7 - 3


def test_stream_disconnect_aborts_the_engine_request(server: ServerProcess) -> None:
    wait_until_idle(server)
    before = metric(server, "vllm:generation_tokens_total")
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST",
            f"{server.base_url}/chat/completions",
            json={**LONG_REQUEST, "stream": True},
            headers=HEADERS,
        ) as response,
    ):
        assert response.status_code == 200
        next(response.iter_lines())  # the stream has started; now walk away
    wait_until_idle(server)
    generated = metric(server, "vllm:generation_tokens_total") - before
    assert generated < LONG_REQUEST["max_tokens"], f"all {generated} tokens generated despite disconnect"


def test_non_stream_disconnect_aborts_the_engine_request(server: ServerProcess) -> None:
    wait_until_idle(server)
    before = metric(server, "vllm:generation_tokens_total")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.base_url}/chat/completions", json=LONG_REQUEST, headers=HEADERS, timeout=0.3)
    wait_until_idle(server)
    generated = metric(server, "vllm:generation_tokens_total") - before
    assert generated < LONG_REQUEST["max_tokens"], f"all {generated} tokens generated despite disconnect"
