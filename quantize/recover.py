"""``quantize recover``: retrain a quantized artifact's source model on a few task examples with the
artifact's weight scheme in the loop, then quantize it onto the same scheme again (docs/quantize-recover.md).

The result is an ordinary artifact of the base's scheme (same bits, group size and format: served like any
other), written atomically, with the recovery recorded in its manifest and its training curve beside it.
"""

from __future__ import annotations

import errno
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from quantize.artifact import atomic_directory, check_destination
from quantize.errors import QuantizeError
from quantize.gather import CALIBRATION_DIR, HELDOUT_FILE
from quantize.host import device_name, peak_memory
from quantize.manifest import (
    MANIFEST_NAME,
    CalibrationRecord,
    Manifest,
    RecoveryRecord,
    combined_hash,
    hash_weights,
    library_versions,
    read_manifest,
    weights_size,
)
from quantize.recover_data import (
    ReasoningSource,
    RecoverDataError,
    TrainingData,
    batch_order,
    read_examples,
    read_problem_texts,
    reasoning_examples,
    reference_answers,
    select_examples,
    tokenize_examples,
    write_examples,
)

if TYPE_CHECKING:
    from compressed_tensors.quantization import QuantizationArgs, QuantizationConfig
    from torch import Tensor
    from transformers import PreTrainedModel

    from reasoning_formats import ThinkFormat

RECOVERY_DIR = "recovery"
# The paper's example count (Li et al. 2025, "Quantization Meets Reasoning").
DEFAULT_EXAMPLES = 545
DEFAULT_EPOCHS = 3
WARMUP_FRACTION = 0.1
# The dtype artifacts are made in (quantize loads sources in bf16): training fake-quantizes that rounding.
STORAGE_DTYPE_NAME = "bfloat16"
METHODS = {
    "qat": "quantization-aware fine-tuning of the source model with the artifact's weight scheme as fake "
    "quantization (straight-through estimator), then re-quantization onto the same scheme",
}
Method = Literal["qat"]


class RecoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artifact: Path
    out: Path
    # "reasoning" (the source model's own traces through serve) or a JSONL of problems and worked solutions.
    data: str
    examples: int = DEFAULT_EXAMPLES
    max_minutes: float = 10.0
    method: Method = "qat"
    steps: int | None = None  # default: DEFAULT_EPOCHS passes over the examples
    batch_size: int = 16
    learning_rate: float = 2e-5
    seed: int = 0
    threads: int | None = None
    max_seq_len: int = 4096
    force: bool = False
    source: Path | None = None
    exclude: list[Path] = Field(default_factory=list)
    prompts: Path | None = None
    trace_max_tokens: int | None = None
    trace_server: str | None = None
    trace_model: str | None = None
    trace_api_key: str | None = None


class TrainingStep(BaseModel):
    step: int
    loss: float
    learning_rate: float
    elapsed_s: float


class TrainingResult(BaseModel):
    steps: list[TrainingStep]
    planned_steps: int
    stopped_by_time_limit: bool
    tokens: int
    wall_time_s: float


def _base_manifest(artifact: Path) -> Manifest:
    if not (artifact / MANIFEST_NAME).is_file():
        raise QuantizeError(f"{artifact} is not a quantize artifact (no {MANIFEST_NAME})")
    manifest = read_manifest(artifact)
    if not manifest.recipe:
        raise QuantizeError(
            f"{artifact} is a {manifest.scheme} artifact: nothing was quantized, nothing to recover"
        )
    return manifest


def _source_model(request: RecoverRequest, base: Manifest) -> Path:
    source = request.source or Path(base.source.path)
    if not (source / "config.json").is_file():
        why = "--data reasoning asks it for traces and " if request.data == "reasoning" else ""
        raise QuantizeError(
            f"source model {source} of {request.artifact} not found: {why}recover trains from its "
            "full-precision weights; pass --source PATH"
        )
    return source


def _think_format(source: Path) -> ThinkFormat:
    """The source's think delimiters, from its chat template (as serve and calibration find them)."""
    from transformers import AutoTokenizer

    from reasoning_formats import resolve_think_format

    think_format = resolve_think_format(
        "auto", getattr(AutoTokenizer.from_pretrained(source), "chat_template", None)
    )
    if think_format is None:
        raise QuantizeError(
            f"{source}: its chat template shows no think delimiters; recover trains a reasoner"
        )
    return think_format


def _check_data(request: RecoverRequest, think_format: ThinkFormat) -> None:
    """Everything about the data that can be refused before any directory is made."""
    if request.data == "reasoning":
        if request.prompts is None:
            raise QuantizeError(
                "--data reasoning needs --prompts FILE.jsonl (problem and answer per line): "
                "traces are kept only where the source model's answer is right"
            )
        reference_answers(request.prompts)
    else:
        read_examples(Path(request.data), think_format.end)
    for path in request.exclude:
        read_problem_texts(path)


def planned_steps(request: RecoverRequest, examples: int) -> int:
    return request.steps or max(1, math.ceil(DEFAULT_EPOCHS * examples / request.batch_size))


def learning_rate_at(step: int, steps: int, peak: float) -> float:
    """Linear warmup over the first tenth, then cosine decay to a tenth of the peak."""
    warmup = max(1, int(steps * WARMUP_FRACTION))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _pad(samples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Tensor]:
    """Right-padded ids and labels; no attention mask: under causal attention no real token sees the
    padding after it (and SDPA keeps its fast causal path)."""
    import torch

    width = max(len(ids) for ids, _ in samples)
    input_ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), width), -100, dtype=torch.long)
    for row, (ids, target) in enumerate(samples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(ids)] = torch.tensor(target)
    return {"input_ids": input_ids, "labels": labels}


def train_qat(
    model: PreTrainedModel,
    samples: list[tuple[list[int], list[int]]],
    request: RecoverRequest,
    pad_id: int,
    on_step: Callable[[TrainingStep], None],
) -> TrainingResult:
    """AdamW on the float weights through the fake-quantized forward; stops early at ``max_minutes``."""
    import torch

    steps = planned_steps(request, len(samples))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=request.learning_rate, weight_decay=0.0, foreach=False
    )
    model.train()
    history: list[TrainingStep] = []
    tokens = 0
    started = time.monotonic()
    stopped = False
    for step, indices in enumerate(batch_order(len(samples), request.batch_size, steps, request.seed)):
        batch = _pad(sorted((samples[i] for i in indices), key=lambda s: len(s[0])), pad_id)
        rate = learning_rate_at(step, steps, request.learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = rate
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        tokens += int((batch["labels"] != -100).sum())
        record = TrainingStep(
            step=step + 1, loss=float(loss.item()), learning_rate=rate, elapsed_s=time.monotonic() - started
        )
        history.append(record)
        on_step(record)
        if record.elapsed_s > request.max_minutes * 60 and step + 1 < steps:
            stopped = True
            break
    model.eval()
    return TrainingResult(
        steps=history,
        planned_steps=steps,
        stopped_by_time_limit=stopped,
        tokens=tokens,
        wall_time_s=round(time.monotonic() - started, 3),
    )


def requantize_recipe(config: QuantizationConfig) -> list[dict[str, Any]]:
    """The artifact's own quantization config as one llm-compressor step: round-to-nearest with the same
    observer the training fake-quantized with (GPTQ's error feedback would move weights off the codes
    the training optimized)."""
    groups = {}
    for name, group in config.config_groups.items():
        assert group.weights is not None  # weight_only_config checked it
        weights = group.weights.model_dump(mode="json", exclude={"actorder"})
        groups[name] = {"targets": list(group.targets), "weights": weights}
    return [
        {
            "type": "QuantizationModifier",
            "args": {"config_groups": groups, "ignore": list(config.ignore or [])},
        }
    ]


def _codes_matching(
    model: PreTrainedModel, trained_codes: dict[str, Tensor], wrapped: dict[str, QuantizationArgs]
) -> float:
    """Share of the re-quantized layers' codes equal to those the training fake-quantized to."""
    from compressed_tensors.quantization.lifecycle.forward import quantize

    equal = total = 0
    for name, args in wrapped.items():
        module = model.get_submodule(name)
        codes = quantize(
            module.weight, module.weight_scale, module.weight_zero_point, args, dtype=module.weight.dtype
        )
        equal += int((codes.to(trained_codes[name].dtype) == trained_codes[name]).sum())
        total += codes.numel()
    return equal / max(total, 1)


def draw_curve(history: list[TrainingStep], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot([h.step for h in history], [h.loss for h in history], linewidth=1)
    axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("training loss (fake-quantized forward)")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _gather(
    request: RecoverRequest, source: Path, think_format: ThinkFormat, staging: Path, console: Console
) -> TrainingData:
    exclude: set[str] = set()
    for path in request.exclude:
        exclude |= read_problem_texts(path)
    if request.data != "reasoning":
        examples, excluded = select_examples(
            read_examples(Path(request.data), think_format.end), request.examples, exclude
        )
        if not examples:
            raise RecoverDataError(f"every example of {request.data} is excluded (--exclude)")
        return TrainingData(source=f"file:{request.data}", examples=examples, excluded=excluded)
    assert request.prompts is not None
    from transformers import AutoConfig

    context = int(getattr(AutoConfig.from_pretrained(source), "max_position_embeddings", 4096))
    reasoning = ReasoningSource(
        model=source, prompts=request.prompts, max_tokens=request.trace_max_tokens or min(2048, context // 2),
        server=request.trace_server, served_model=request.trace_model, api_key=request.trace_api_key,
    )  # fmt: skip
    examples, excluded, asked = reasoning_examples(
        reasoning, request.examples, exclude, staging, console, think_format
    )
    return TrainingData(source=f"reasoning:serve:{asked} prompts", examples=examples, excluded=excluded)


def run_recover(request: RecoverRequest, console: Console) -> Manifest:
    started = time.monotonic()
    if request.examples < 1:
        raise QuantizeError("--examples must be at least 1")
    check_destination(request.out, request.force)
    base = _base_manifest(request.artifact)
    from quantize.fake_quant import weight_only_config

    config = weight_only_config(
        json.loads((request.artifact / "config.json").read_text()), str(request.artifact)
    )
    source = _source_model(request, base)
    think_format = _think_format(source)
    _check_data(request, think_format)
    try:
        with atomic_directory(request.out, request.force) as staging:
            return _recover_into(staging, request, base, config, source, think_format, started, console)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise QuantizeError(f"disk full while writing {request.out}; nothing was left behind") from exc
        raise


def _recover_into(
    staging: Path,
    request: RecoverRequest,
    base: Manifest,
    config: QuantizationConfig,
    source: Path,
    think_format: ThinkFormat,
    started: float,
    console: Console,
) -> Manifest:
    import os

    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from quantize.fake_quant import attach_fake_quant, detach_fake_quant, weight_codes

    threads = request.threads or min(8, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(request.seed)
    torch.use_deterministic_algorithms(True)
    folder = staging / RECOVERY_DIR
    folder.mkdir()
    data = _gather(request, source, think_format, folder, console)
    write_examples(folder / "examples.jsonl", data.examples)
    tokenizer = AutoTokenizer.from_pretrained(source)
    samples = tokenize_examples(
        tokenizer, data.examples, tokenizer.eos_token, request.max_seq_len, think_format
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    with console.status(f"loading {source}"):
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    storage_dtype = getattr(torch, STORAGE_DTYPE_NAME)
    wrapped = attach_fake_quant(model, config, storage_dtype)
    steps = planned_steps(request, len(samples))
    console.print(
        f"[bold]recover[/] {base.scheme}: {len(samples)} examples, {steps} steps of {request.batch_size}, "
        f"{len(wrapped)} layers fake-quantized, {threads} threads"
    )
    with (
        (folder / "training.jsonl").open("w") as log,
        Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), console=console, transient=True,
        ) as progress,
    ):  # fmt: skip
        task = progress.add_task(f"QAT {base.scheme}", total=steps, loss=float("nan"))

        def on_step(record: TrainingStep) -> None:
            log.write(record.model_dump_json() + "\n")
            log.flush()
            progress.update(task, advance=1, loss=record.loss)

        result = train_qat(model, samples, request, pad_id, on_step)
    if result.stopped_by_time_limit:
        console.print(
            f"[yellow]stopped at the {request.max_minutes:g}-minute limit after {len(result.steps)} steps[/]"
        )
    detach_fake_quant(model, wrapped)
    model.to(storage_dtype)
    trained_codes = {
        name: weight_codes(model.get_submodule(name).weight, args)[0] for name, args in wrapped.items()
    }

    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier

    recipe = requantize_recipe(config)
    with console.status(f"re-quantizing onto {base.scheme}"):
        oneshot(model=model, recipe=[QuantizationModifier(**step["args"]) for step in recipe])
    matching = _codes_matching(model, trained_codes, wrapped)
    with console.status(f"saving to {request.out}"):
        model.save_pretrained(staging, save_compressed=True)
        tokenizer.save_pretrained(staging)
    heldout = request.artifact / CALIBRATION_DIR / HELDOUT_FILE
    heldout_samples = 0
    if heldout.is_file():  # verify's perplexity and prompts: the base's held-out set
        (staging / CALIBRATION_DIR).mkdir()
        shutil.copy2(heldout, staging / CALIBRATION_DIR / HELDOUT_FILE)
        heldout_samples = sum(1 for line in heldout.read_text().splitlines() if line.strip())
    draw_curve(
        result.steps,
        folder / "training_curve.png",
        f"quantize recover: {base.scheme}, {len(samples)} examples, {len(result.steps)} steps",
    )
    recovery = RecoveryRecord(
        method=request.method,
        base_artifact=str(request.artifact.resolve()),
        base_artifact_sha256=combined_hash(base.weights_sha256),
        base_scheme=base.scheme,
        data_source=data.source,
        data_sha256=data.sha256,
        examples=len(data.examples),
        excluded_examples=data.excluded,
        steps=len(result.steps),
        planned_steps=result.planned_steps,
        stopped_by_time_limit=result.stopped_by_time_limit,
        batch_size=request.batch_size,
        learning_rate=request.learning_rate,
        seed=request.seed,
        threads=threads,
        training_tokens=result.tokens,
        first_loss=result.steps[0].loss,
        final_loss=result.steps[-1].loss,
        training_wall_time_s=result.wall_time_s,
        codes_matching_training=round(matching, 6),
    )
    manifest = Manifest(
        scheme=base.scheme,
        recipe=recipe,
        source_model=base.source_model,
        source=base.source,
        calibration=CalibrationRecord(
            source=f"none (round-to-nearest); held-out set of {request.artifact}",
            num_samples=0,
            sha256=None,
            max_seq_len=request.max_seq_len,
            tokens=0,
            truncated_samples=0,
            heldout_samples=heldout_samples,
        ),
        libraries=library_versions(),
        device=device_name(),
        wall_time_s=round(time.monotonic() - started, 3),
        peak_memory_bytes=peak_memory(),
        size_bytes=weights_size(staging),
        weights_sha256=hash_weights(staging),
        recovery=recovery,
    )
    (staging / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n")
    console.print(
        f"[green]recovered {base.scheme}[/]: loss {recovery.first_loss:.4f} -> {recovery.final_loss:.4f} in "
        f"{recovery.steps} steps ({result.wall_time_s:.0f} s); {matching:.2%} of codes as trained"
    )
    return manifest
