"""Bad input gets the OpenAI error envelope with the right status, through the SDK and raw HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest

from launcher import ServerProcess
from tests.conftest import API_KEY, SERVED_MODEL_NAME

pytestmark = pytest.mark.server

QUESTION = [{"role": "user", "content": "hi"}]


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=QUESTION, max_tokens=4)
    assert caught.value.body["type"] == "not_found_error"
    assert "no-such-model" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": QUESTION, "temperature": 5}, "temperature"),
        ({"messages": QUESTION, "max_tokens": 100_000}, "max_tokens"),
        ({"messages": QUESTION, "max_completion_tokens": 0}, "max_completion_tokens"),
        ({"messages": [{"role": "user", "content": "x" * 2000}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
        ({"messages": QUESTION, "stop": [""]}, "stop"),
        ({"messages": QUESTION, "top_k": -5}, "top_k"),
    ],
)
def test_bad_requests_are_400_envelopes(server: ServerProcess, payload: dict, param: str | None) -> None:
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": SERVED_MODEL_NAME, **payload},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == 400
    assert error["param"] == param
    assert error["message"]


def test_wrong_api_key_is_401(server: ServerProcess) -> None:
    bad = openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_health_needs_no_key(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_unknown_route_is_an_envelope(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/v1/nothing-here", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[]", b'{"model": "tiny", "messages": "hi"}', b'{"model": 5, "messages": []}']
)
def test_malformed_bodies_are_400_envelopes(server: ServerProcess, raw: bytes) -> None:
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        content=raw,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
