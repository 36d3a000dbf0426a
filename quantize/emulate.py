"""``quantize emulate ARTIFACT --out DIR``: the artifact's quantized weights as a plain bf16/fp32 checkpoint.

The seed paper measured most schemes with *fake quantization*: what quantized weights cost in accuracy does
not need the quantized kernel. The emulation holds exactly the values compressed-tensors' own dequantizer
(``CompressedTensorsDequantizer``, the one its checkpoint converter uses) computes from the artifact, in a
checkpoint with no ``quantization_config``, so any vLLM build serves it with its ordinary bf16 kernels.

Only weights are emulated: activations and the KV cache run in the checkpoint's dtype, whatever the scheme
quantizes there (W8A8's int8 activations, FP8 KV-cache scales). The manifest says so (``emulation``), and
``serve`` repeats it in ``/v1/models``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Literal

from rich.console import Console

from quantize.artifact import atomic_directory, check_destination
from quantize.job import QuantizeError
from quantize.manifest import (
    MANIFEST_NAME,
    Emulation,
    Manifest,
    combined_hash,
    hash_weights,
    library_versions,
    read_manifest,
    weight_files,
    weights_size,
)
from quantize.schemes import Scheme, UnknownSchemeError, resolve_scheme

EmulationDtype = Literal["bfloat16", "float32"]
EMULATED_WEIGHTS_FILE = "model.safetensors"
# Files of the artifact the emulation must not inherit: its weights, its quantized config, its manifest.
NOT_COPIED = {"config.json", MANIFEST_NAME, "recipe.yaml"}


def emulation_of(scheme: Scheme, dtype: EmulationDtype) -> Emulation:
    """What an emulation of ``scheme`` reproduces, in words the manifest and ``/v1/models`` show."""
    not_emulated = []
    if scheme.activation_bits < 16:
        not_emulated.append(f"{scheme.activation_bits}-bit activations")
    if scheme.kv_cache_bits < 16:
        not_emulated.append(f"{scheme.kv_cache_bits}-bit KV cache")
    summary = f"weights only: {scheme.weight_bits}-bit weights dequantized to {dtype}"
    if not_emulated:
        summary += f"; not emulated: {', '.join(not_emulated)} (run in {dtype})"
    return Emulation(
        weights=True,
        activations=False,
        kv_cache=False,
        dtype=dtype,
        summary=summary,
        not_emulated=not_emulated,
    )


def check_emulatable(artifact: Path) -> tuple[Manifest, Scheme]:
    """The artifact's manifest and scheme, or a QuantizeError saying in one line why it cannot be emulated."""
    if not artifact.is_dir():
        raise QuantizeError(f"{artifact}: no such directory")
    if not (artifact / MANIFEST_NAME).is_file():
        raise QuantizeError(f"{artifact}: not a quantize artifact (no {MANIFEST_NAME})")
    try:
        manifest = read_manifest(artifact)
    except ValueError as exc:
        raise QuantizeError(f"{artifact / MANIFEST_NAME}: not a valid manifest ({exc})") from None
    if manifest.emulates:
        raise QuantizeError(f"{artifact}: already an emulation of {manifest.emulates}")
    try:
        scheme = resolve_scheme(manifest.scheme)
    except UnknownSchemeError as exc:
        raise QuantizeError(f"{artifact}: {exc}") from None
    if scheme.weight_bits >= 16:
        raise QuantizeError(
            f"{artifact}: a {manifest.scheme} artifact has unquantized weights; emulation reproduces "
            "quantized weights only, so there is nothing to emulate (serve the artifact itself)"
        )
    config = artifact / "config.json"
    try:
        has_quantization = "quantization_config" in json.loads(config.read_text())
    except (OSError, ValueError):
        has_quantization = False
    if not has_quantization or not weight_files(artifact):
        raise QuantizeError(f"{artifact}: no quantized weights (config.json without quantization_config)")
    return manifest, scheme


def emulate(
    artifact: Path, out: Path, console: Console, *, force: bool = False, dtype: EmulationDtype = "bfloat16"
) -> Manifest:
    """Write the emulation of ``artifact`` to ``out`` atomically; return its manifest."""
    started = time.monotonic()
    source_manifest, scheme = check_emulatable(artifact)
    check_destination(out, force)
    if out.resolve() == artifact.resolve():
        raise QuantizeError(f"{out}: --out must differ from the artifact")
    with console.status(f"dequantizing {artifact}"):
        tensors = dequantized_tensors(artifact, dtype)
    with atomic_directory(out, force) as staging:
        _write_checkpoint(artifact, staging, tensors, dtype)
        artifact_hashes = hash_weights(artifact)
        manifest = source_manifest.model_copy(
            update={
                "emulates": scheme.name,
                "emulation": emulation_of(scheme, dtype).model_copy(
                    update={
                        "artifact": str(artifact.resolve()),
                        "artifact_weights": combined_hash(artifact_hashes),
                    }
                ),
                "libraries": library_versions(),
                "wall_time_s": round(time.monotonic() - started, 3),
                "size_bytes": weights_size(staging),
                "weights_sha256": hash_weights(staging),
            }
        )
        (staging / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n")
    console.print(f"[green]{scheme.name}[/] emulated ({manifest.emulation.summary}) in {out}")  # type: ignore[union-attr]
    return manifest


def dequantized_tensors(artifact: Path, dtype: EmulationDtype) -> dict[str, object]:
    """Every tensor of the artifact, quantized weights replaced by compressed-tensors' dequantization."""
    import torch
    from compressed_tensors.entrypoints.convert.converters.ct_dequantizer import CompressedTensorsDequantizer
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for path in weight_files(artifact):
        if path.suffix != ".safetensors":
            raise QuantizeError(f"{path}: only safetensors artifacts can be emulated")
        tensors.update(load_file(path))
    torch_dtype = getattr(torch, dtype)
    # Model-free, the dequantizer cannot tell a Linear from an embedding or a norm by name, and with the
    # int/float formats (the quantized tensor is called ``weight``) it would take them for quantized ones:
    # every module whose weight has no scale is left alone explicitly.
    unquantized = sorted(
        name.removesuffix(".weight")
        for name in tensors
        if name.endswith(".weight") and f"{name.removesuffix('.weight')}.weight_scale" not in tensors
    )
    try:
        dequantizer = CompressedTensorsDequantizer(str(artifact), ignore=unquantized, dtype=torch_dtype)
        dequantized = dequantizer.validate(tensors)
    except ValueError as exc:
        raise QuantizeError(f"{artifact}: compressed-tensors cannot dequantize it ({exc})") from None
    # Norms, embeddings and lm_head were never quantized: same dtype as the rest of the checkpoint.
    return {name: tensor.to(torch_dtype).contiguous() for name, tensor in dequantized.items()}


def _write_checkpoint(
    artifact: Path, staging: Path, tensors: dict[str, object], dtype: EmulationDtype
) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(staging / EMULATED_WEIGHTS_FILE), metadata={"format": "pt"})  # type: ignore[arg-type]
    config = json.loads((artifact / "config.json").read_text())
    config.pop("quantization_config", None)
    config["dtype"] = dtype
    config.pop("torch_dtype", None)
    (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    weights = {path.name for path in weight_files(artifact)}
    for path in artifact.iterdir():
        if path.name in NOT_COPIED or path.name in weights or path.name.endswith(".index.json"):
            continue
        if path.is_dir():
            shutil.copytree(path, staging / path.name)
        else:
            shutil.copy2(path, staging / path.name)
