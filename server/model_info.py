"""What is being served: the quantization scheme and source model, from a quantize manifest when
the model directory is a quantreason artifact, else from its config.json. An emulated checkpoint
(``quantize emulate``) says so: its scheme's weights, dequantized, and what was not emulated."""

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
    # For an emulated checkpoint: what it reproduces of ``scheme`` ("weights only: ..."); else None.
    emulation: str | None = None

    @property
    def metrics_label(self) -> str:
        """The scheme label of the server's metrics: an emulation never passes for the real kernel."""
        return f"{self.scheme}-emulated" if self.emulation else self.scheme


def describe_model(model: str) -> ModelInfo:
    directory = Path(model).expanduser()
    manifest = _read_json(directory / MANIFEST_NAME)
    if manifest:
        scheme, source = manifest.get("scheme", "unknown"), manifest.get("source_model")
        emulation = manifest.get("emulation") if manifest.get("emulates") else None
        summary = str(emulation.get("summary") or "weights only") if isinstance(emulation, dict) else None
        return ModelInfo(scheme=str(scheme), source_model=source, emulation=summary)
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
