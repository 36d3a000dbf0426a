"""Calibration samples hold whole traces (the seed paper's code kept only each trace's first character)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantize.calibration import CalibrationError, TraceRecord, from_records, read_jsonl, render_trace
from reasoning_formats import custom_think_format, get_think_format
from tests.quantize.conftest import trace_records
from tinymodel import REASONER_DIR

pytestmark = pytest.mark.quantize_env

R1 = get_think_format("deepseek-r1")  # the tiny reasoner's format: its template opens <think>
# A Qwen3-style template: the generation prompt does not open the think block, the model writes <think>.
QWEN3_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
)
# A model of another family: no <think> in its template; its delimiters come from --think-start/--think-end.
CUSTOM_TEMPLATE = (
    "{%- for message in messages %}[{{ message.role }}] {{ message.content }}\n{%- endfor %}"
    "{%- if add_generation_prompt %}[assistant] <reason>{%- endif %}"
)


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(REASONER_DIR)


def tokenizer_with_template(template: str):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(REASONER_DIR)
    tokenizer.chat_template = template
    return tokenizer


def test_every_sample_holds_its_whole_trace(tokenizer) -> None:  # type: ignore[no-untyped-def]
    from quantize.gather import tokenize

    records = trace_records(12)
    calibration = from_records(
        "test", records, tokenizer, tokenizer.eos_token, num_samples=12, heldout=0, think_format=R1
    )
    assert len(calibration.texts) == 12
    by_prompt = {r["prompt"]: r for r in records}
    for text in calibration.texts:
        prompt = next(p for p in by_prompt if p in text)
        record = by_prompt[prompt]
        expected_tail = (
            f"<think>\n{record['reasoning_content']}</think>\n\n{record['content']}{tokenizer.eos_token}"
        )
        assert text.endswith(expected_tail)
        assert len(record["reasoning_content"]) > 40  # a real multi-line trace, not one character
    dataset, tokens, truncated = tokenize(calibration, tokenizer, max_seq_len=4096)
    assert truncated == 0
    for ids, text in zip(dataset["input_ids"], calibration.texts, strict=True):
        # Token ids carry the whole text, special tokens included, once each (no doubled BOS).
        assert tokenizer.decode(ids) == text
        assert ids.count(tokenizer.bos_token_id) == 1
    assert tokens == sum(len(ids) for ids in dataset["input_ids"])


def test_truncation_is_counted(tokenizer) -> None:  # type: ignore[no-untyped-def]
    from quantize.gather import tokenize

    calibration = from_records("test", trace_records(4), tokenizer, None, 4, heldout=0, think_format=R1)
    _, tokens, truncated = tokenize(calibration, tokenizer, max_seq_len=32)
    assert truncated == 4 and tokens == 4 * 32


def test_heldout_texts_are_not_calibration_texts(tokenizer) -> None:  # type: ignore[no-untyped-def]
    calibration = from_records("test", trace_records(10), tokenizer, None, 100, heldout=3, think_format=R1)
    assert len(calibration.heldout) == 3 and len(calibration.texts) == 7
    assert not set(calibration.heldout) & set(calibration.texts)
    assert all(
        prompt in text for prompt, text in zip(calibration.heldout_prompts, calibration.heldout, strict=True)
    )


def test_text_chat_and_trace_records(tokenizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"text": "plain text sample"},
        {"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]},
        trace_records(1)[0],
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    calibration = from_records("file", read_jsonl(path), tokenizer, None, 3, heldout=0, think_format=R1)
    joined = "\n".join(calibration.texts)
    assert "plain text sample" in calibration.texts
    assert "<｜User｜>1+1?<｜Assistant｜>2" in joined
    assert rows[2]["reasoning_content"] in joined


def test_a_record_without_text_is_an_error(tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CalibrationError, match="needs 'text', 'messages'"):
        from_records("file", [{"question": "?"}], tokenizer, None, num_samples=1, heldout=0)


def test_render_trace_keeps_a_leading_blank_line(tokenizer) -> None:  # type: ignore[no-untyped-def]
    trace = TraceRecord(prompt="p", reasoning_content="r\n", content="\n\nanswer")
    assert render_trace(tokenizer, trace, None, R1).endswith("<think>\nr\n</think>\n\nanswer")


def calibration_text(request_fields: dict, template: str) -> tuple[str, dict[str, str]]:
    """The one calibration text quantize makes from one trace file record for a model with ``template``."""
    from quantize.request import QuantizeRequest

    tokenizer = tokenizer_with_template(template)
    request = QuantizeRequest(model="m", scheme="w8a8-int8", out=Path("unused"), **request_fields)
    think_format = request.resolve_think_format(tokenizer.chat_template)
    record = trace_records(1)[0]
    calibration = from_records("file", [record], tokenizer, "<eos>", 1, heldout=0, think_format=think_format)
    return calibration.texts[0], record


def test_a_qwen3_model_gets_traces_in_its_own_format() -> None:
    text, record = calibration_text({}, QWEN3_TEMPLATE)  # --think-format auto finds qwen3
    prompt_end = text.index("<|im_start|>assistant\n") + len("<|im_start|>assistant\n")
    # The model opens the block itself, right after the generation prompt, exactly once.
    assert text[prompt_end:] == (
        f"<think>\n{record['reasoning_content']}</think>\n\n{record['content']}<eos>"
    )
    assert text.count("<think>") == 1


def test_a_custom_delimiter_model_gets_traces_in_its_own_format() -> None:
    fields = {"think_start": "<reason>", "think_end": "</reason>", "think_in_prompt": True}
    text, record = calibration_text(fields, CUSTOM_TEMPLATE)
    assert text.endswith(
        f"[assistant] <reason>{record['reasoning_content']}</reason>\n\n{record['content']}<eos>"
    )
    assert "think>" not in text and text.count("<reason>") == 1


def test_traces_for_a_model_whose_delimiters_are_unknown_are_refused() -> None:
    with pytest.raises(CalibrationError, match="pass --think-format NAME or --think-start/--think-end"):
        calibration_text({}, CUSTOM_TEMPLATE)  # auto sees no <think> and no delimiters were given


def test_serve_makes_the_traces_in_the_same_format() -> None:
    from quantize.traces import think_format_args

    assert think_format_args(get_think_format("qwen3")) == ["--think-format", "qwen3"]
    custom = custom_think_format("<reason>", "</reason>", prompt_opens_think=True)
    assert think_format_args(custom) == [
        "--think-start",
        "<reason>",
        "--think-end",
        "</reason>",
        "--think-in-prompt",
    ]
