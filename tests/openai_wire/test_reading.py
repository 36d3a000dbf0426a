"""Reading OpenAI-compatible responses the way every client of the project does."""

from __future__ import annotations

import pytest

from openai_wire import TokenUsage, error_message, read_usage, reasoning_of


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"error": {"message": "model not found", "type": "invalid_request_error"}}', "model not found"),
        ({"error": {"message": "too long", "code": 400}}, "too long"),
        ('{"error": "rate limited"}', "rate limited"),
        ('{"error": {"type": "x"}}', None),
        ("<html>bad gateway</html>", None),
        ('{"detail": "not found"}', None),
        (None, None),
    ],
)
def test_error_message(body: object, message: str | None) -> None:
    assert error_message(body) == message  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "reasoning"),
    [
        ({"reasoning_content": "think", "content": "a"}, "think"),
        ({"reasoning": "think", "content": "a"}, "think"),
        ({"reasoning_content": "", "reasoning": "think"}, "think"),
        ({"reasoning_content": ""}, ""),  # present but empty: the server separates, nothing was thought
        ({"content": "a"}, None),
        ({"reasoning_content": None}, None),
    ],
)
def test_reasoning_under_either_spelling(message: dict, reasoning: str | None) -> None:
    assert reasoning_of(message) == reasoning


def test_usage() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 7}}
    assert read_usage(usage) == TokenUsage(5, 9, 7)
    assert read_usage({"prompt_tokens": 5, "completion_tokens": 9}) == TokenUsage(5, 9, None)
    assert read_usage(None) is None and read_usage({}) is None
