"""Any JSON value in any field of any endpoint (hypothesis): never a 5xx, every error the envelope,
a stream either refused up front or clean to its end, and the server still serving afterwards.

The fields come from the request models themselves (nested ones too), so a new field or endpoint is
fuzzed by adding its model to ``ENDPOINTS``.
"""

from __future__ import annotations

import itertools
import json
import types
import typing
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st
from pydantic import BaseModel

from launcher import ServerProcess
from server.protocol import ChatCompletionRequest, CompletionRequest
from server.protocol_responses import ResponsesRequest
from tests.conftest import API_KEY, SERVED_MODEL_NAME

pytestmark = pytest.mark.server

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
MAX_TOKENS = 4
BASE = {"model": SERVED_MODEL_NAME, "max_tokens": MAX_TOKENS}
# Each endpoint: its request model and a valid request to put the value into.
ENDPOINTS: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "/chat/completions": (ChatCompletionRequest, {**BASE, "messages": [{"role": "user", "content": "hi"}]}),
    "/completions": (CompletionRequest, {**BASE, "prompt": "hi"}),
    "/responses": (
        ResponsesRequest,
        {
            "model": SERVED_MODEL_NAME,
            "max_output_tokens": MAX_TOKENS,
            "input": [{"role": "user", "content": "hi"}],
        },
    ),
}
# The Responses API's stream ends with one of these events (no [DONE]); its body has output items.
RESPONSES_LAST = {"response.completed", "response.incomplete"}
EXAMPLES = 200  # each is one real request; ~1 min on 2 cores

Path = tuple[str | int, ...]
EDGES = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -1, 0, 1.5, 1e308, "\ud800", "a\udfffb", ""])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8) | EDGES
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def field_paths(model: type[BaseModel], prefix: Path = ()) -> list[Path]:
    """Every field of ``model`` and of the models it nests (a list's first item stands for all)."""
    paths: list[Path] = []
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        paths.append(path)
        for nested, in_list in _nested_models(info.annotation):
            paths += field_paths(nested, (*path, 0) if in_list else path)
    return paths


def _nested_models(annotation: Any, in_list: bool = False) -> list[tuple[type[BaseModel], bool]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, in_list)]
    origin = typing.get_origin(annotation)
    found: list[tuple[type[BaseModel], bool]] = []
    for arg in typing.get_args(annotation):
        found += _nested_models(arg, in_list or origin is list)
    return found if origin in (list, typing.Union, types.UnionType, typing.Annotated) else []


def with_value(base: dict[str, Any], path: Path, value: Any) -> Any:
    """``base`` with ``value`` at ``path`` (the empty path: the whole body); parents are created."""
    if not path:
        return value
    body = json.loads(json.dumps(base))
    target: Any = body
    for key, next_key in itertools.pairwise(path):
        kind = list if isinstance(next_key, int) else dict
        if isinstance(target, list):
            assert isinstance(key, int)
            target.extend({} for _ in range(key + 1 - len(target)))
        # A parent of the wrong shape (a string content that the path goes into) is replaced.
        if not isinstance(target[key] if isinstance(target, list) else target.get(key), kind):
            target[key] = kind()
        target = target[key]
    if isinstance(target, list):
        assert isinstance(path[-1], int)
        target.extend({} for _ in range(path[-1] + 1 - len(target)))
    target[path[-1]] = value
    return body


CASES = st.sampled_from(sorted(ENDPOINTS)).flatmap(
    lambda endpoint: st.tuples(
        st.just(endpoint),
        st.sampled_from([(), *field_paths(ENDPOINTS[endpoint][0])]),
        JSON_VALUES,
        st.booleans(),
    )
)


def test_any_json_in_any_field(server: ServerProcess) -> None:
    tried: set[tuple[str, Path]] = set()

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=CASES)
    def check(case: tuple[str, Path, Any, bool]) -> None:
        endpoint, path, value, stream = case
        tried.add((endpoint, path))
        body = with_value({**ENDPOINTS[endpoint][1], "stream": stream}, path, value)
        response = httpx.post(
            f"{server.base_url}{endpoint}", content=json.dumps(body).encode(), headers=HEADERS, timeout=120
        )
        described = f"{endpoint} {json.dumps(body)[:300]}: {response.status_code} {response.text[:300]}"
        assert response.status_code < 500, described
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}, described
            assert error["code"] == response.status_code, described
        elif endpoint == "/responses" and response.headers["content-type"].startswith("text/event-stream"):
            lines = response.text.splitlines()
            events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
            assert events[-1]["type"] in RESPONSES_LAST, described
            assert not any(event["type"] == "error" for event in events), described
        elif response.headers["content-type"].startswith("text/event-stream"):
            events = [line.removeprefix("data: ") for line in response.text.splitlines() if line]
            assert events[-1] == "[DONE]", described
            assert not any("error" in json.loads(event) for event in events[:-1]), described
        elif endpoint == "/responses":
            assert response.json()["output"], described
        else:
            assert response.json()["choices"], described

    check()
    assert len(tried) > 20  # the example budget spread over the fields
    assert httpx.get(f"{server.url}/health").status_code == 200
    chat_path, (_, chat_body) = "/chat/completions", ENDPOINTS["/chat/completions"]
    reply = httpx.post(f"{server.base_url}{chat_path}", json=chat_body, headers=HEADERS, timeout=60)
    assert reply.status_code == 200
    assert reply.json()["usage"]["completion_tokens"] == MAX_TOKENS
