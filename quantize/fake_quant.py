"""Fake quantization of an artifact's weight scheme, for quantization-aware training (quantize environment).

Each targeted ``Linear`` computes with its weight quantized and dequantized exactly as the re-quantization
will store it: the artifact's own quantization arguments, its observer (llm-compressor's registry) and
compressed-tensors' ``fake_quantize``, recomputed from the trained weight at every step. Gradients pass the
rounding unchanged (straight-through estimator), so the full-precision weight learns where to sit on the
quantization grid.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from compressed_tensors.quantization import QuantizationArgs, QuantizationConfig

from quantize.errors import QuantizeError


class UnsupportedSchemeError(QuantizeError):
    pass


def weight_only_config(config: dict[str, Any], artifact: str) -> QuantizationConfig:
    """The artifact's compressed-tensors config, refused unless it quantizes only weights (integers)."""
    quantization = config.get("quantization_config")
    if not quantization:
        raise UnsupportedSchemeError(
            f"{artifact} is not quantized (no quantization_config): nothing to recover"
        )
    parsed = QuantizationConfig.model_validate(quantization)
    if parsed.kv_cache_scheme is not None:
        raise UnsupportedSchemeError(
            f"{artifact} quantizes the KV cache; recover handles weight-only schemes"
        )
    for name, group in parsed.config_groups.items():
        weights = group.weights
        if weights is None:
            raise UnsupportedSchemeError(f"{artifact}: config group {name} quantizes no weights")
        if group.input_activations is not None or group.output_activations is not None:
            raise UnsupportedSchemeError(
                f"{artifact} quantizes activations ({name}); recover handles weight-only schemes "
                "(w4a16, w3a16, w2a16, ...), where accuracy is lost to the weights"
            )
        if weights.type != "int" or weights.dynamic:
            raise UnsupportedSchemeError(
                f"{artifact}: {weights.type} weights ({name}); recover handles static integer weights"
            )
    return parsed


def _observer(args: QuantizationArgs) -> Any:
    from llmcompressor.observers import Observer

    return Observer.load_from_registry(args.observer or "memoryless_minmax", base_name="weight", args=args)


@torch.no_grad()
def fake_quantize_weight(weight: torch.Tensor, args: QuantizationArgs) -> torch.Tensor:
    """Quantize then dequantize ``weight`` with scales its observer computes from it, as the recipe would."""
    from compressed_tensors.quantization.lifecycle.forward import fake_quantize

    qparams = _observer(args)(weight).get_qparams()
    return fake_quantize(weight, qparams["scale"], qparams["zero_point"], args)


@torch.no_grad()
def weight_codes(weight: torch.Tensor, args: QuantizationArgs) -> tuple[torch.Tensor, torch.Tensor]:
    """The integer codes ``weight`` quantizes to, and its scales (for comparing with a stored artifact)."""
    from compressed_tensors.quantization.lifecycle.forward import quantize

    qparams = _observer(args)(weight).get_qparams()
    codes = quantize(weight, qparams["scale"], qparams["zero_point"], args, dtype=torch.int8)
    return codes, qparams["scale"]


class FakeQuantLinear(torch.nn.Module):
    """A ``Linear`` whose forward uses its fake-quantized weight; the gradient reaches the float weight."""

    def __init__(self, linear: torch.nn.Linear, args: QuantizationArgs, storage_dtype: torch.dtype) -> None:
        super().__init__()
        self.linear = linear
        self.args = args
        # The re-quantization sees the weight in the artifact's dtype: quantize that, so its codes are these.
        self.storage_dtype = storage_dtype

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        weight = self.linear.weight
        stored = weight.detach().to(self.storage_dtype)
        quantized = fake_quantize_weight(stored, self.args).to(weight.dtype)
        return F.linear(inputs, weight + (quantized - weight).detach(), self.linear.bias)


def _set_submodule(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def attach_fake_quant(
    model: torch.nn.Module, config: QuantizationConfig, storage_dtype: torch.dtype
) -> dict[str, QuantizationArgs]:
    """Wrap every module the config quantizes; returns each one's name and weight arguments."""
    from compressed_tensors.utils import match_named_modules

    wrapped: dict[str, QuantizationArgs] = {}
    for group in config.config_groups.values():
        assert group.weights is not None  # weight_only_config checked it
        for name, module in list(match_named_modules(model, group.targets, config.ignore or [])):
            if name in wrapped or not isinstance(module, torch.nn.Linear):
                continue
            _set_submodule(model, name, FakeQuantLinear(module, group.weights, storage_dtype))
            wrapped[name] = group.weights
    if not wrapped:
        raise UnsupportedSchemeError(
            "the artifact's quantization config targets no Linear layer of the source"
        )
    return wrapped


def detach_fake_quant(model: torch.nn.Module, wrapped: dict[str, QuantizationArgs]) -> None:
    """Put the plain ``Linear`` layers back (holding the trained float weights)."""
    for name in wrapped:
        module = model.get_submodule(name)
        assert isinstance(module, FakeQuantLinear)
        _set_submodule(model, name, module.linear)
