"""Inputs a careless or hostile client sends, each class streamed and not: a 4xx envelope naming the
field, before the first byte (a stream never starts with a 200 it then breaks), and the server serves
on. Lone surrogates are replaced (U+FFFD), the same in every text field (docs/reliability.md)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from launcher import ServerProcess
from tests.conftest import API_KEY, SERVED_MODEL_NAME

pytestmark = pytest.mark.server

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
CHAT = {"model": SERVED_MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
TEXT = {"model": SERVED_MODEL_NAME, "prompt": "hi", "max_tokens": 4}
MIN = "min_thinking_tokens"
NUMBER_PART = [{"role": "user", "content": [{"type": "text", "text": 5}]}]
LONE = "\ud800"  # json.dumps writes it as the escape "\\ud800", as a JavaScript client would

# (endpoint body, fields to set, expected status, expected param)
REFUSED: dict[str, tuple[dict[str, Any], dict[str, Any], int, str | None]] = {
    "seed 2^64": (CHAT, {"seed": 2**64}, 400, "seed"),
    "seed 2^70": (TEXT, {"seed": 2**70}, 400, "seed"),
    "seed -2^63-1": (CHAT, {"seed": -(2**63) - 1}, 400, "seed"),
    "top_k 10^30": (CHAT, {"top_k": 10**30}, 400, "top_k"),
    "top_k -2": (TEXT, {"top_k": -2}, 400, "top_k"),
    "n 0": (CHAT, {"n": 0}, 400, "n"),
    "n 10^20": (TEXT, {"n": 10**20}, 400, "n"),
    "logprobs 10^20": (TEXT, {"logprobs": 10**20}, 400, "logprobs"),
    "top_logprobs 21": (CHAT, {"logprobs": True, "top_logprobs": 21}, 400, "top_logprobs"),
    "logit_bias beyond the vocabulary": (CHAT, {"logit_bias": {"99999": 1}}, 400, "logit_bias"),
    "logit_bias 2^70": (TEXT, {"logit_bias": {str(2**70): 1}}, 400, "logit_bias"),
    "logit_bias not an id": (CHAT, {"logit_bias": {"hi": 1}}, 400, "logit_bias"),
    "logit_bias spaced id": (CHAT, {"logit_bias": {" 5": 1}}, 400, "logit_bias"),
    "prompt id beyond the vocabulary": (TEXT, {"prompt": [1, 10**30]}, 400, "prompt"),
    "boolean for an integer": (CHAT, {"n": True}, 400, "n"),
    "float for an integer": (CHAT, {"max_tokens": 4.0}, 400, "max_tokens"),
    "string for a boolean": (CHAT, {"logprobs": "true"}, 400, "logprobs"),
    "string for a number": (TEXT, {"temperature": "0.5"}, 400, "temperature"),
    "number for a string": (CHAT, {"stop": 5}, 400, "stop"),
    "empty stop": (TEXT, {"stop": [""]}, 400, "stop"),
    "text part of a number": (CHAT, {"messages": NUMBER_PART}, 400, "messages"),
    "minimum over the budget": (CHAT, {"max_thinking_tokens": 4, "min_thinking_tokens": 8}, 400, MIN),
    "model with a lone surrogate": (CHAT, {"model": f"x{LONE}"}, 404, "model"),
    # Unknown fields are refused (issue 15), a lone surrogate in the name replaced first.
    "unknown field with a lone surrogate": (CHAT, {f"unknown{LONE}": 1}, 400, "unknown\ufffd"),
}
ACCEPTED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "lone surrogate in content": (CHAT, {"messages": [{"role": "user", "content": f"a{LONE}b"}]}),
    "lone surrogate in a content part": (
        CHAT,
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "\udc00"}]}]},
    ),
    "lone surrogate in a prompt": (TEXT, {"prompt": f"{LONE}x"}),
    "lone surrogate in stop": (CHAT, {"stop": [LONE, "\udfff"]}),
    "lone surrogate in the extension text": (
        CHAT,
        {"thinking_extension_text": LONE, "min_thinking_tokens": 2, "max_thinking_tokens": 3},
    ),
    "lone surrogate in a content part's key": (
        CHAT,
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", f"k{LONE}": 1}]}]},
    ),
    "seed -2^63, two choices": (CHAT, {"seed": -(2**63), "n": 2}),
    "seed 2^63-1, two choices (wraps)": (TEXT, {"seed": 2**63 - 1, "n": 2}),
    "top_k past the vocabulary": (CHAT, {"top_k": 2**31 - 1}),
    "integer for a number": (TEXT, {"temperature": 1, "top_p": 1}),
    "logit_bias in the vocabulary": (CHAT, {"logit_bias": {"5": 100, "6": -100}}),
}


def _post(server: ServerProcess, body: dict[str, Any]) -> httpx.Response:
    path = "/chat/completions" if "messages" in body else "/completions"
    # json.dumps writes a lone surrogate as its \\u escape (httpx's json= would fail to encode it).
    payload = json.dumps(body).encode()
    return httpx.post(f"{server.base_url}{path}", content=payload, headers=HEADERS, timeout=60)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_before_the_first_byte(server: ServerProcess, case: str, stream: bool) -> None:
    base, fields, status, param = REFUSED[case]
    response = _post(server, {**base, **fields, "stream": stream})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == status
    assert error["param"] == param
    assert error["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("case", list(ACCEPTED))
def test_accepted_and_answered(server: ServerProcess, case: str, stream: bool) -> None:
    base, fields = ACCEPTED[case]
    response = _post(server, {**base, **fields, "stream": stream})
    assert response.status_code == 200, response.text
    if stream:
        events = [line.removeprefix("data: ") for line in response.text.splitlines() if line]
        assert events[-1] == "[DONE]"
        assert all("error" not in json.loads(event) for event in events[:-1])
    else:
        assert response.json()["choices"]


def test_surrogate_becomes_the_replacement_character(server: ServerProcess) -> None:
    echoed = _post(server, {**TEXT, "prompt": f"a{LONE}b", "echo": True, "max_tokens": 1}).json()
    assert echoed["choices"][0]["text"].startswith("a\ufffdb")
    missing = _post(server, {**CHAT, "model": f"m{LONE}"}).json()
    assert "m\ufffd" in missing["error"]["message"]


def test_sdk_raises_bad_request_for_a_stream(client: openai.OpenAI) -> None:
    """The OpenAI SDK sees a 400 (BadRequestError), not a bare APIError from inside a stream."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=SERVED_MODEL_NAME,
            messages=[{"role": "user", "content": "hi"}],
            logit_bias={"99999": 1},
            max_tokens=4,
            stream=True,
        )
    assert caught.value.body["param"] == "logit_bias"


def test_non_standard_json_is_refused(server: ServerProcess) -> None:
    for raw in (b'{"model": "tiny", "prompt": "hi", "temperature": NaN}', b'{"prompt": Infinity}', b"\xff"):
        response = httpx.post(f"{server.base_url}/completions", content=raw, headers=HEADERS)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_wrong_method_is_405_with_allow(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/chat/completions", headers=HEADERS)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == 405


def test_still_serving_after_all_of_it(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/health").status_code == 200
    response = _post(server, CHAT)
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 4
