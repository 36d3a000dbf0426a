"""Gathering a run's calibration set: from a file, the hub, reused traces, or traces the source model
writes through ``serve``; then tokenized for llm-compressor, with the held-out part kept for verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from benchmark_data import data_dir
from quantize.calibration import (
    CalibrationSet,
    calib_kind,
    from_hub,
    from_records,
    read_jsonl,
    read_prompts,
    render_prompt,
)
from quantize.errors import QuantizeError
from quantize.request import QuantizeRequest
from quantize.schemes import Scheme

DEFAULT_PROMPT_FILE = "math500.jsonl"
# Files the artifact keeps beside the weights: what verify needs to reproduce the quality check.
CALIBRATION_DIR = "calibration"
HELDOUT_FILE = "heldout.jsonl"
TRACES_FILE = "traces.jsonl"


def reasoning_prompts(request: QuantizeRequest) -> list[str]:
    prompt_file = request.prompts or data_dir(request.data_dir) / DEFAULT_PROMPT_FILE
    if not prompt_file.is_file():
        raise QuantizeError(
            f"no prompt set for --calib reasoning at {prompt_file}: "
            "pass --prompts FILE.jsonl or --data-dir DIR"
        )
    return read_prompts(prompt_file)


def gather_calibration(
    request: QuantizeRequest, scheme: Scheme, tokenizer: Any, staging: Path, console: Console
) -> CalibrationSet | None:
    """The calibration set; data-free schemes get only the held-out part (verify's perplexity text)."""
    eos = tokenizer.eos_token
    kind = calib_kind(request.calib)
    wanted = request.num_samples if scheme.needs_calibration else 0
    think_format = request.resolve_think_format(getattr(tokenizer, "chat_template", None))
    if kind == "hub":
        return from_hub(request.calib.removeprefix("hub:"), tokenizer, wanted, request.heldout)
    if kind == "file":
        records = read_jsonl(Path(request.calib))
        return from_records(request.calib, records, tokenizer, eos, wanted, request.heldout, think_format)
    if request.traces:
        records = read_jsonl(request.traces)
        source = f"reasoning:traces:{request.traces}"
        return from_records(source, records, tokenizer, eos, wanted, request.heldout, think_format)
    prompts = reasoning_prompts(request)
    if not scheme.needs_calibration:
        # No traces needed to quantize: keep prompts (as chat prompts) for verify, without starting a server.
        prompts = prompts[: request.heldout]
        heldout = [render_prompt(tokenizer, p) for p in prompts]
        return CalibrationSet(source="reasoning:prompts", texts=[], heldout=heldout, heldout_prompts=prompts)
    from quantize.traces import TracePrompt, generate_traces, request_traces

    # Each trace gets what the model's context leaves after its prompt (up to --trace-max-tokens).
    candidates = [
        TracePrompt(
            text, len(tokenizer(render_prompt(tokenizer, text), add_special_tokens=False)["input_ids"])
        )
        for text in prompts
    ]
    count = wanted + request.heldout
    (staging / CALIBRATION_DIR).mkdir(exist_ok=True)
    traces_path = staging / CALIBRATION_DIR / TRACES_FILE
    if request.trace_server:
        console.print(f"asking {request.trace_server} for {count} reasoning traces")
        try:
            traces = request_traces(
                request.trace_server.rstrip("/"), candidates, count, traces_path, request.trace_max_tokens,
                model=request.trace_model or "default", api_key=request.trace_api_key,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise QuantizeError(f"trace server {request.trace_server}: {exc}") from exc
    else:
        console.print(f"generating {count} reasoning traces with serve on the source model")
        log_path = staging / CALIBRATION_DIR / "serve.log"
        traces = generate_traces(
            Path(request.model),
            candidates,
            count,
            traces_path,
            request.trace_max_tokens,
            log_path,
            think_format,
        )
    records = [trace.model_dump() for trace in traces]
    return from_records("reasoning:serve", records, tokenizer, eos, wanted, request.heldout, think_format)


def tokenize(calibration: CalibrationSet, tokenizer: Any, max_seq_len: int) -> tuple[Any, int, int]:
    """Token ids as a datasets.Dataset (texts carry their own special tokens), tokens kept, truncations."""
    from datasets import Dataset

    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in calibration.texts]
    truncated = sum(len(ids) > max_seq_len for ids in encoded)
    kept = [ids[:max_seq_len] for ids in encoded]
    dataset = Dataset.from_dict({"input_ids": kept, "attention_mask": [[1] * len(ids) for ids in kept]})
    return dataset, sum(len(ids) for ids in kept), truncated


def write_heldout(staging: Path, calibration: CalibrationSet) -> None:
    folder = staging / CALIBRATION_DIR
    folder.mkdir(exist_ok=True)
    with (folder / HELDOUT_FILE).open("w") as sink:
        for text, prompt in zip(
            calibration.heldout, calibration.heldout_prompts or [""] * len(calibration.heldout), strict=True
        ):
            sink.write(json.dumps({"text": text, "prompt": prompt}) + "\n")
