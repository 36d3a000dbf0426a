"""Each trace request fits the served context: the cap, or what the context leaves after the prompt."""

from __future__ import annotations

import pytest

from quantize.calibration import CalibrationError
from quantize.traces import MIN_TRACE_TOKENS, TracePrompt, fit_to_context


def test_the_cap_where_it_fits_else_what_the_context_leaves() -> None:
    prompts = [TracePrompt("short", 100), TracePrompt("long", 736), TracePrompt("medium", 500)]
    assert fit_to_context(prompts, 3, 2048, 1024) == [("short", 924), ("long", 288), ("medium", 524)]
    assert fit_to_context(prompts, 3, 256, 1024) == [("short", 256), ("long", 256), ("medium", 256)]


def test_prompts_without_room_are_passed_over_until_count_fit() -> None:
    prompts = [TracePrompt("a", 1000), TracePrompt("b", 1024 - MIN_TRACE_TOKENS), TracePrompt("c", 10)]
    assert [text for text, _ in fit_to_context(prompts, 1, 2048, 1024)] == ["b"]
    assert [text for text, _ in fit_to_context(prompts, 5, 2048, 1024)] == ["b", "c"]


def test_an_unknown_context_keeps_the_cap() -> None:
    assert fit_to_context([TracePrompt("a", 5000)], 1, 2048, None) == [("a", 2048)]


def test_nothing_fits_is_a_clear_error() -> None:
    with pytest.raises(CalibrationError, match="context of 1024 tokens"):
        fit_to_context([TracePrompt("a", 1020)], 1, 2048, 1024)
