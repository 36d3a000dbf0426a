from __future__ import annotations

import pytest

from reasoning_formats import (
    ReasoningSplitter,
    detect_think_format,
    get_think_format,
    split_reasoning,
)
from tinymodel import CHAT_TEMPLATE

R1 = get_think_format("deepseek-r1")
QWEN3 = get_think_format("qwen3")


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        (R1, "12+7: 2+7=9, 1 ten</think>\n\n\\boxed{19}", ("12+7: 2+7=9, 1 ten", "\\boxed{19}")),
        (R1, "<think>re-opened</think>answer", ("re-opened", "answer")),
        (R1, "never closed", ("never closed", "")),
        (R1, "</think>", ("", "")),
        (QWEN3, "<think>\nhmm\n</think>\n\nyes", ("\nhmm\n", "yes")),
        (QWEN3, "no thinking at all", (None, "no thinking at all")),
        (QWEN3, "", (None, "")),
    ],
)
def test_split_reasoning(fmt, text, expected) -> None:
    assert split_reasoning(text, fmt) == expected


@pytest.mark.parametrize("fmt", [R1, QWEN3])
@pytest.mark.parametrize(
    "text",
    [
        "<think>a</thi</think>\n\nb</think>c",
        "abc</think>\n\nanswer",
        "</th",
        "<thin",
        "  <think>x</think>y",
        # long stretches without a delimiter (the splitter's fast path), '<' and '/' in them
        "a < b / c, 2</3 <think> </ th</think>\n\nline\n\nnext <think></think> end\n",
    ],
)
def test_streaming_equals_whole_for_every_chunking(fmt, text) -> None:
    """Deltas split anywhere, even inside a delimiter, add up to the whole-text split."""
    reasoning, answer = split_reasoning(text, fmt)
    for size in range(1, len(text) + 1):
        splitter = ReasoningSplitter(fmt)
        got_reasoning = got_answer = ""
        for start in range(0, len(text), size):
            r, a = splitter.feed(text[start : start + size])
            got_reasoning, got_answer = got_reasoning + r, got_answer + a
        r, a = splitter.finish()
        assert (got_reasoning + r, got_answer + a) == (reasoning or "", answer), size


def test_partial_delimiter_is_held_back_then_released() -> None:
    splitter = ReasoningSplitter(R1)
    assert splitter.feed("step</th") == ("step", "")
    assert splitter.feed("is is not the end") == ("</this is not the end", "")


def test_detect_think_format() -> None:
    assert detect_think_format(CHAT_TEMPLATE) is R1
    assert detect_think_format("{% if enable_thinking %}<think>{% endif %}") is QWEN3
    assert detect_think_format("{{ messages }}") is None
    assert detect_think_format(None) is None


def test_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="deepseek-r1, qwen3, qwq"):
        get_think_format("o1")
