"""One quantization run: check inputs early, gather calibration data, run the recipe, write the artifact.

The parts live apart: ``request`` (what was asked), ``host`` (model and host checks, the runtime patch),
``gather`` (the calibration set), ``manifest`` and ``artifact`` (what is written, atomically).
"""

from __future__ import annotations

import errno
import time
from pathlib import Path

from rich.console import Console

from quantize.artifact import atomic_directory, check_destination
from quantize.calibration import CalibrationError
from quantize.errors import QuantizeError
from quantize.gather import gather_calibration, tokenize, write_heldout
from quantize.host import (
    ModelInfo,
    allow_cpu_only_awq,
    check_resources,
    device_name,
    inspect_model,
    peak_memory,
)
from quantize.manifest import (
    MANIFEST_NAME,
    CalibrationRecord,
    Manifest,
    SourceModel,
    directory_size,
    hash_weights,
    library_versions,
    weights_size,
)
from quantize.request import QuantizeRequest
from quantize.schemes import Scheme, build_modifiers, resolve_scheme

__all__ = ["QuantizeError", "QuantizeRequest", "run"]


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

        allow_cpu_only_awq()
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
            write_heldout(staging, calibration)
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
        device=device_name(),
        wall_time_s=round(time.monotonic() - started, 3),
        peak_memory_bytes=peak_memory(),
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
