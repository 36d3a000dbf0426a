"""The source model and the host, before anything heavy is loaded: parameter count, memory, disk, device.

Also the one runtime patch of llm-compressor this project needs (``allow_cpu_only_awq``).
"""

from __future__ import annotations

import resource
import shutil
from pathlib import Path

from pydantic import BaseModel

from quantize.errors import QuantizeError
from quantize.manifest import combined_hash, hash_weights, weights_size
from quantize.request import QuantizeRequest
from quantize.schemes import Scheme

# Model bytes are held about twice (the model and its compressed copy while saving), plus the runtime.
MEMORY_MODEL_COPIES = 2.5
MEMORY_OVERHEAD_BYTES = 1 << 30


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


def allow_cpu_only_awq() -> None:
    """llm-compressor 0.14's AWQ pins its activation cache for faster host-to-GPU copies, which raises on a
    host with no accelerator; pinning does nothing useful there, so skip it."""
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if not torch.accelerator.is_available():
        IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None  # type: ignore[method-assign, unused-ignore]


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def peak_memory() -> dict[str, int]:
    import torch

    peaks = {"host_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if torch.cuda.is_available():
        peaks["gpu_bytes"] = int(torch.cuda.max_memory_allocated())
    return peaks
