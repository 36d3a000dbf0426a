"""What is being served: the quantization scheme and source model, from a quantize manifest when
the model directory is a quantreason artifact, else from its config.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "quantreason.json"


@dataclass(frozen=True)
class ModelInfo:
    scheme: str
    source_model: str | None


def describe_model(model: str) -> ModelInfo:
    directory = Path(model).expanduser()
    manifest = _read_json(directory / MANIFEST_NAME)
    if manifest:
        scheme, source = manifest.get("scheme", "unknown"), manifest.get("source_model")
        return ModelInfo(scheme=str(scheme), source_model=source)
    config = _read_json(directory / "config.json")
    quantization = config.get("quantization_config") if config else None
    if quantization:
        return ModelInfo(scheme=_scheme_from_quantization_config(quantization), source_model=None)
    dtype = (config or {}).get("dtype") or (config or {}).get("torch_dtype") or "unquantized"
    return ModelInfo(scheme=str(dtype), source_model=None)


def _scheme_from_quantization_config(quantization: dict[str, Any]) -> str:
    """E.g. ``compressed-tensors:w8a8-int``; good enough to tell artifacts apart in metrics."""
    method = str(quantization.get("quant_method", "quantized"))
    groups = quantization.get("config_groups") or {}
    for group in groups.values():
        weights, activations = group.get("weights") or {}, group.get("input_activations") or {}
        bits = f"w{weights.get('num_bits', '?')}"
        bits += f"a{activations['num_bits']}" if activations else "a16"
        return f"{method}:{bits}-{weights.get('type', 'int')}"
    return method


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
