"""The tiny model is a valid llm-compressor input (runs in the quantize environment)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.quantize_env


def test_oneshot_w8a8_on_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype="auto")
    # Data-free W8A8 (per-channel int8 weights, dynamic per-token activations) needs no calibration.
    oneshot(model=model, recipe=QuantizationModifier(targets="Linear", scheme="W8A8", ignore=["lm_head"]))
    model.save_pretrained(tmp_path, save_compressed=True)

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "compressed-tensors"
    with safe_open(tmp_path / "model.safetensors", "pt") as weights:
        q_proj = weights.get_tensor("model.layers.0.self_attn.q_proj.weight")
        assert q_proj.dtype == torch.int8
        assert weights.get_tensor("lm_head.weight").dtype == torch.bfloat16
