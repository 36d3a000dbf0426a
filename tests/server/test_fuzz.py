"""Property-based fuzzing of the server's OpenAPI schema (schemathesis) against the real engine, with
the responses checked against the schema: status codes, content types, headers and bodies as
/openapi.json states them, never a 5xx, and data the schema calls invalid always refused.

Derandomized by default (the same examples every run, so a failure reproduces). Set
``QUANTREASON_FUZZ_RANDOM=1`` for fresh examples each run, and ``QUANTREASON_FUZZ_EXAMPLES=N`` for more.
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from launcher import ServerProcess
from tests.conftest import API_KEY, SERVED_MODEL_NAME

pytestmark = pytest.mark.server

# Valid generation requests run on the real engine; keep each one small so the fuzz stays bounded.
MAX_FUZZED_TOKENS = 8
MAX_FUZZED_CHOICES = 2
MAX_CHOICES = 128  # the schema's bound on n
RANDOM = os.environ.get("QUANTREASON_FUZZ_RANDOM", "") not in ("", "0")
EXAMPLES = {
    GenerationMode.POSITIVE: int(os.environ.get("QUANTREASON_FUZZ_EXAMPLES", "150")),
    GenerationMode.NEGATIVE: int(os.environ.get("QUANTREASON_FUZZ_EXAMPLES", "100")),
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_responses_conform_to_the_schema(server: ServerProcess, mode: GenerationMode) -> None:
    # Built inside the test, not with schemathesis.pytest.from_fixture (broken on pytest 9).
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    seen: set[str] = set()

    @hypothesis.settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=not RANDOM,
        database=None,
    )
    @hypothesis.given(case=schema.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        bound_generation(case)
        seen.add(f"{case.method} {case.path}")
        response = case.call_and_validate(
            base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60, checks=checks
        )
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == response.status_code

    check()
    assert {"POST /v1/chat/completions", "POST /v1/completions", "POST /v1/responses"} <= seen


def test_the_fuzz_reaches_every_generation_endpoint(server: ServerProcess) -> None:
    paths = set(schemathesis.openapi.from_url(f"{server.url}/openapi.json").raw_schema["paths"])
    assert {"/v1/chat/completions", "/v1/completions", "/v1/responses"} <= paths


def bound_generation(case: Any) -> None:
    """Name the served model (else every request stops at 404) and keep generation small, without
    turning a value the schema refuses into one it allows (negative mode checks that it is refused)."""
    if not isinstance(case.body, dict):
        return
    if isinstance(case.body.get("model"), str):
        case.body["model"] = SERVED_MODEL_NAME
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = case.body.get(field)
        if _is_int(value) and value > MAX_FUZZED_TOKENS:
            case.body[field] = MAX_FUZZED_TOKENS
    if case.path.endswith("/responses"):
        case.body.setdefault("max_output_tokens", MAX_FUZZED_TOKENS)  # else the context's worth
    elif case.path.endswith("/chat/completions") and not _is_int(case.body.get("max_tokens")):
        case.body.setdefault("max_completion_tokens", MAX_FUZZED_TOKENS)  # else the context's worth
    choices = case.body.get("n")
    if _is_int(choices) and MAX_FUZZED_CHOICES < choices <= MAX_CHOICES:
        case.body["n"] = MAX_FUZZED_CHOICES


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
