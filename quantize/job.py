"""One quantization run: check inputs early, gather calibration data, run the recipe, write the artifact."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict
from rich.console import Console

from quantize.artifact import atomic_directory, check_destination
from quantize.calibration import (
    CalibrationError,
    CalibrationSet,
    calib_kind,
    from_hub,
    from_records,
    read_jsonl,
    read_prompts,
    render_prompt,
)
from quantize.manifest import (
    MANIFEST_NAME,
    CalibrationRecord,
    Manifest,
    SourceModel,
    combined_hash,
    directory_size,
    hash_weights,
    library_versions,
    weights_size,
)
from quantize.schemes import Scheme, build_modifiers, resolve_scheme
from reasoning_formats import ThinkFormat, resolve_think_format

DEFAULT_DATA_DIR = Path("../shared/datasets")
DEFAULT_PROMPT_FILE = "math500.jsonl"
# Files the artifact keeps beside the weights: what verify needs to reproduce the quality check.
CALIBRATION_DIR = "calibration"
HELDOUT_FILE = "heldout.jsonl"
TRACES_FILE = "traces.jsonl"
# Model bytes are held about twice (the model and its compressed copy while saving), plus the runtime.
MEMORY_MODEL_COPIES = 2.5
MEMORY_OVERHEAD_BYTES = 1 << 30


class QuantizeError(Exception):
    """A problem with the inputs or the host, reported as one line by the CLI."""


class QuantizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    scheme: str
    out: Path
    calib: str = "reasoning"
    num_samples: int = 256
    max_seq_len: int = 4096
    force: bool = False
    prompts: Path | None = None
    data_dir: Path | None = None
    traces: Path | None = None
    trace_max_tokens: int = 2048
    # A server already serving the source model (its root URL), instead of starting one for the traces.
    trace_server: str | None = None
    trace_model: str | None = None
    trace_api_key: str | None = None
    heldout: int = 8
    # The source model's think delimiters, as serve takes them: a format name ("auto": guessed from the
    # chat template), or its own start/end delimiters. Traces are rendered in them.
    think_format: str = "auto"
    think_start: str | None = None
    think_end: str | None = None
    think_in_prompt: bool = False

    def resolve_think_format(self, chat_template: str | None) -> ThinkFormat | None:
        try:
            return resolve_think_format(
                self.think_format,
                chat_template,
                start=self.think_start,
                end=self.think_end,
                prompt_opens_think=self.think_in_prompt,
            )
        except ValueError as exc:
            raise QuantizeError(str(exc)) from None


class ModelInfo(BaseModel):
    path: str
    revision: str
    parameters: int
    hidden_size: int
    size_bytes: int


def inspect_model(model: str) -> ModelInfo:
    """Config and parameter count (on the meta device: no weights loaded); refuses non-causal-LMs."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(model)
    if not path.exists() and (model.startswith((".", "/")) or model.count("/") != 1):
        raise QuantizeError(f"model not found: {model}")
    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise QuantizeError(f"cannot read a model config from {model}: {str(exc).splitlines()[0]}") from exc
    architectures = getattr(config, "architectures", None) or []
    if not any(arch.endswith("ForCausalLM") for arch in architectures):
        raise QuantizeError(
            f"{model} is not a causal language model (architectures: {architectures or 'none'})"
        )
    try:
        with init_empty_weights():
            meta_model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    except ValueError as exc:
        raise QuantizeError(f"{model} is not a causal language model transformers knows: {exc}") from exc
    parameters = sum(p.numel() for p in meta_model.parameters())
    if path.is_dir():
        revision = "sha256:" + combined_hash(hash_weights(path))
        size = weights_size(path)
    else:
        revision = str(getattr(config, "_commit_hash", None) or "main")
        size = parameters * 2
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    return ModelInfo(
        path=model, revision=revision, parameters=parameters, hidden_size=hidden, size_bytes=size
    )


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def check_resources(info: ModelInfo, request: QuantizeRequest, scheme: Scheme) -> None:
    """Refuse before loading anything when the host cannot hold the model or the disk the artifact."""
    bf16_bytes = info.parameters * 2
    activations = (
        request.num_samples * request.max_seq_len * info.hidden_size * 4 if scheme.needs_calibration else 0
    )
    needed = int(bf16_bytes * MEMORY_MODEL_COPIES) + activations + MEMORY_OVERHEAD_BYTES
    available = available_memory()
    if needed > available:
        raise QuantizeError(
            f"not enough host memory: {scheme.name} of {info.parameters / 1e9:.2f} B parameters needs about "
            f"{needed / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available"
        )
    parent = request.out.resolve().parent
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if bf16_bytes > free:  # the bf16 size bounds every artifact from above
        raise QuantizeError(
            f"not enough disk space at {parent}: the artifact needs up to {bf16_bytes / 2**30:.1f} GiB, "
            f"{free / 2**30:.1f} GiB free"
        )


def _data_dir(request: QuantizeRequest) -> Path:
    return request.data_dir or Path(os.environ.get("QUANTREASON_DATA_DIR", DEFAULT_DATA_DIR))


def reasoning_prompts(request: QuantizeRequest) -> list[str]:
    prompt_file = request.prompts or _data_dir(request) / DEFAULT_PROMPT_FILE
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
    prompts = reasoning_prompts(request)[: wanted + request.heldout]
    if not scheme.needs_calibration:
        # No traces needed to quantize: keep prompts (as chat prompts) for verify, without starting a server.
        heldout = [render_prompt(tokenizer, p) for p in prompts]
        return CalibrationSet(source="reasoning:prompts", texts=[], heldout=heldout, heldout_prompts=prompts)
    from quantize.traces import generate_traces, request_traces

    (staging / CALIBRATION_DIR).mkdir(exist_ok=True)
    traces_path = staging / CALIBRATION_DIR / TRACES_FILE
    if request.trace_server:
        console.print(f"asking {request.trace_server} for {len(prompts)} reasoning traces")
        try:
            traces = request_traces(
                request.trace_server.rstrip("/"), prompts, traces_path, request.trace_max_tokens,
                model=request.trace_model or "default", api_key=request.trace_api_key,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise QuantizeError(f"trace server {request.trace_server}: {exc}") from exc
    else:
        console.print(f"generating {len(prompts)} reasoning traces with serve on the source model")
        log_path = staging / CALIBRATION_DIR / "serve.log"
        traces = generate_traces(
            Path(request.model), prompts, traces_path, request.trace_max_tokens, log_path, think_format
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


def _allow_cpu_only_awq() -> None:
    """llm-compressor 0.14's AWQ pins its activation cache for faster host-to-GPU copies, which raises on a
    host with no accelerator; pinning does nothing useful there, so skip it."""
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if not torch.accelerator.is_available():
        IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None  # type: ignore[method-assign]


def _device() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def _peak_memory() -> dict[str, int]:
    import torch

    peaks = {"host_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if torch.cuda.is_available():
        peaks["gpu_bytes"] = int(torch.cuda.max_memory_allocated())
    return peaks


def _write_heldout(staging: Path, calibration: CalibrationSet) -> None:
    folder = staging / CALIBRATION_DIR
    folder.mkdir(exist_ok=True)
    with (folder / HELDOUT_FILE).open("w") as sink:
        for text, prompt in zip(
            calibration.heldout, calibration.heldout_prompts or [""] * len(calibration.heldout), strict=True
        ):
            sink.write(json.dumps({"text": text, "prompt": prompt}) + "\n")


def run(request: QuantizeRequest, console: Console) -> Manifest:
    started = time.monotonic()
    scheme = resolve_scheme(request.scheme)
    check_destination(request.out, request.force)
    with console.status(f"reading {request.model}"):
        info = inspect_model(request.model)
    check_resources(info, request, scheme)
    try:
        with atomic_directory(request.out, request.force) as staging:
            manifest = _quantize_into(staging, request, scheme, info, started, console)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise QuantizeError(f"disk full while writing {request.out}; nothing was left behind") from exc
        raise
    return manifest


def _quantize_into(
    staging: Path, request: QuantizeRequest, scheme: Scheme, info: ModelInfo, started: float, console: Console
) -> Manifest:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(request.model)
    try:
        calibration = gather_calibration(request, scheme, tokenizer, staging, console)
    except CalibrationError as exc:
        raise QuantizeError(str(exc)) from exc
    if calibration is not None and scheme.needs_calibration and not calibration.texts:
        raise QuantizeError(f"{scheme.name} needs calibration data and {calibration.source} gave none")

    with console.status(f"loading {request.model}"):
        model = AutoModelForCausalLM.from_pretrained(request.model, dtype=torch.bfloat16)
    calibration_record = None
    if scheme.recipe:
        from llmcompressor import oneshot

        _allow_cpu_only_awq()
        dataset = None
        if scheme.needs_calibration and calibration is not None:
            dataset, tokens, truncated = tokenize(calibration, tokenizer, request.max_seq_len)
            calibration_record = CalibrationRecord(
                source=calibration.source,
                num_samples=len(calibration.texts),
                sha256=calibration.sha256,
                max_seq_len=request.max_seq_len,
                tokens=tokens,
                truncated_samples=truncated,
                heldout_samples=len(calibration.heldout),
            )
        console.print(
            f"[bold]{scheme.name}[/]: running the recipe ({', '.join(s.type for s in scheme.recipe)})"
        )
        oneshot(
            model=model,
            recipe=build_modifiers(scheme),
            dataset=dataset,
            num_calibration_samples=len(dataset) if dataset is not None else 512,
            max_seq_length=request.max_seq_len,
            shuffle_calibration_samples=False,
        )
    with console.status(f"saving to {request.out}"):
        model.save_pretrained(staging, save_compressed=bool(scheme.recipe))
        tokenizer.save_pretrained(staging)
        if calibration is not None:
            _write_heldout(staging, calibration)
    if calibration_record is None and calibration is not None:
        calibration_record = CalibrationRecord(
            source=calibration.source,
            num_samples=0,
            sha256=None,
            max_seq_len=request.max_seq_len,
            tokens=0,
            truncated_samples=0,
            heldout_samples=len(calibration.heldout),
        )
    source_path = str(Path(request.model).resolve()) if Path(request.model).exists() else request.model
    manifest = Manifest(
        scheme=scheme.name,
        recipe=[step.model_dump() for step in scheme.recipe],
        source_model=source_path,
        source=SourceModel(
            path=source_path,
            revision=info.revision,
            size_bytes=info.size_bytes,
        ),
        calibration=calibration_record,
        libraries=library_versions(),
        device=_device(),
        wall_time_s=round(time.monotonic() - started, 3),
        peak_memory_bytes=_peak_memory(),
        size_bytes=weights_size(staging),
        weights_sha256=hash_weights(staging),
    )
    (staging / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n")
    console.print(
        f"[green]{scheme.name}[/] {directory_size(staging) / 2**20:.2f} MiB "
        f"(weights {manifest.size_bytes / max(info.size_bytes, 1):.2f}x the source) "
        f"in {manifest.wall_time_s:.1f} s"
    )
    return manifest
