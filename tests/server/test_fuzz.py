"""Property-based fuzzing of the server's OpenAPI schema (schemathesis) against the real engine:
whatever a client sends, the answer is never a 5xx, and every error is OpenAI's envelope."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis

from launcher import ServerProcess
from tests.conftest import API_KEY, SERVED_MODEL_NAME

pytestmark = pytest.mark.server

# Valid generation requests run on the real engine; keep each one small so the fuzz stays bounded.
MAX_FUZZED_TOKENS = 8
MAX_FUZZED_CHOICES = 2


def test_no_server_errors_and_every_error_is_an_envelope(server: ServerProcess) -> None:
    # Built inside the test, not with schemathesis.pytest.from_fixture (broken on pytest 9).
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")

    @hypothesis.settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,  # the same examples every run: a fuzz failure reproduces
        database=None,
    )
    @hypothesis.given(case=schema.as_strategy())
    def check(case) -> None:
        bound_generation(case)
        response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
        assert response.status_code < 500, f"{case.method} {case.path} {case.body!r}: {response.text}"
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == response.status_code

    check()


def test_the_fuzz_reaches_every_generation_endpoint(server: ServerProcess) -> None:
    paths = set(schemathesis.openapi.from_url(f"{server.url}/openapi.json").raw_schema["paths"])
    assert {"/v1/chat/completions", "/v1/completions", "/v1/responses"} <= paths


def bound_generation(case) -> None:
    """Name the served model (else every request stops at 404) and keep generation small."""
    if not isinstance(case.body, dict):
        return
    if isinstance(case.body.get("model"), str):
        case.body["model"] = SERVED_MODEL_NAME
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if isinstance(case.body.get(field), int) and case.body[field] > MAX_FUZZED_TOKENS:
            case.body[field] = MAX_FUZZED_TOKENS
    if case.path.endswith("/responses"):
        case.body.setdefault("max_output_tokens", MAX_FUZZED_TOKENS)
    elif not isinstance(case.body.get("max_tokens"), int):
        case.body.setdefault("max_completion_tokens", MAX_FUZZED_TOKENS)
    if isinstance(case.body.get("n"), int) and case.body["n"] > MAX_FUZZED_CHOICES:
        case.body["n"] = MAX_FUZZED_CHOICES
