"""``quantize emulate``: the emulated checkpoint holds the artifact's dequantized weights, tensor by tensor.

The reference dequantization here is written out by hand from the compressed-tensors format (unpack the
int32 words, subtract the zero point, multiply by the group's scale), independent of the dequantizer the
command uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from quantize.manifest import MANIFEST_NAME, mismatched_weights, read_manifest
from tests.quantize.conftest import MAX_SEQ_LEN
from tinymodel import REASONER_DIR

# Several GPTQ runs in one fixture: on a loaded 2-core host they take longer than the default 600 s.
pytestmark = [pytest.mark.quantize_env, pytest.mark.timeout(1800)]

# One scheme per compressed-tensors format: pack-quantized (2-bit), int-quantized, float-quantized.
EMULATED_SCHEMES = ("w2a16", "w8a8-int8", "w8a8-fp8")
# Few calibration samples: the test is about the dequantization, not the quantization's quality.
SAMPLES = 4


@pytest.fixture(scope="module")
def sources(traces_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from rich.console import Console

    from quantize.job import QuantizeRequest, run

    root = tmp_path_factory.mktemp("emulation-sources")
    made = {}
    for scheme in ("bf16", *EMULATED_SCHEMES):
        out = root / scheme
        request = QuantizeRequest(
            model=str(REASONER_DIR),
            scheme=scheme,
            out=out,
            calib=str(traces_file),
            num_samples=SAMPLES,
            max_seq_len=MAX_SEQ_LEN,
            heldout=4,
        )
        run(request, Console(quiet=True))
        made[scheme] = out
    return made


def _quantize_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quantize", *args], capture_output=True, text=True, check=False, timeout=600
    )


def reference_dequantization(artifact: Path) -> dict[str, Any]:
    """Every Linear weight of the artifact dequantized by hand, in bfloat16."""
    import torch
    from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32
    from safetensors.torch import load_file

    tensors = load_file(artifact / "model.safetensors")
    config = json.loads((artifact / "config.json").read_text())["quantization_config"]
    (group,) = config["config_groups"].values()
    bits, group_size = group["weights"]["num_bits"], group["weights"]["group_size"]
    weights = {}
    for name in tensors:
        if not name.endswith("weight_scale"):
            continue
        module = name.removesuffix(".weight_scale")
        scale = tensors[name].float()
        if f"{module}.weight_packed" in tensors:
            shape = torch.Size(tensors[f"{module}.weight_shape"].tolist())
            values = unpack_from_int32(tensors[f"{module}.weight_packed"], bits, shape).float()
            if f"{module}.weight_zero_point" in tensors:
                zero_shape = torch.Size((shape[0], scale.shape[-1]))
                packed_zero = tensors[f"{module}.weight_zero_point"]
                zero = unpack_from_int32(packed_zero, bits, zero_shape, packed_dim=0)
                values = values - zero.float().repeat_interleave(group_size, dim=1)
        else:
            values = tensors[f"{module}.weight"].float()
        if group_size:  # one scale per group of input columns
            scale = scale.repeat_interleave(group_size, dim=1)
        weights[f"{module}.weight"] = (values * scale).to(torch.bfloat16)
    return weights


@pytest.fixture(scope="module")
def emulations(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("emulations")
    made = {}
    for scheme in EMULATED_SCHEMES:
        out = root / f"{scheme}-emulated"
        done = _quantize_cli("emulate", str(sources[scheme]), "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(out)
        made[scheme] = out
    return made


@pytest.mark.parametrize("scheme", EMULATED_SCHEMES)
def test_emulated_weights_equal_the_artifacts_dequantization(
    sources: dict[str, Path], emulations: dict[str, Path], scheme: str
) -> None:
    import torch
    from safetensors.torch import load_file

    emulated = load_file(emulations[scheme] / "model.safetensors")
    reference = reference_dequantization(sources[scheme])
    bf16 = load_file(sources["bf16"] / "model.safetensors")
    assert set(emulated) == set(bf16)  # the plain checkpoint's tensors, no quantization parameters
    assert len(reference) == 3 * 7  # every Linear of the 3 layers; lm_head stays bf16
    for name, tensor in emulated.items():
        assert tensor.dtype == torch.bfloat16, name
        expected = reference.get(name, None)
        if expected is None:  # never quantized: copied as is from the artifact
            expected = load_file(sources[scheme] / "model.safetensors")[name]
        assert torch.equal(tensor, expected), name
    # The quantized weights moved (the check above is not comparing bf16 with itself).
    moved = [name for name in reference if not torch.equal(emulated[name], bf16[name])]
    assert len(moved) == len(reference)


@pytest.mark.parametrize("scheme", EMULATED_SCHEMES)
def test_emulation_manifest_says_what_is_emulated(
    sources: dict[str, Path], emulations: dict[str, Path], scheme: str
) -> None:
    out = emulations[scheme]
    manifest = read_manifest(out)
    assert manifest.emulates == scheme and manifest.scheme == scheme
    assert manifest.emulation is not None and manifest.emulation.weights
    assert not manifest.emulation.activations and not manifest.emulation.kv_cache
    assert manifest.emulation.summary.startswith("weights only")
    if scheme.startswith("w8a8"):
        assert manifest.emulation.not_emulated == ["8-bit activations"]
    else:
        assert manifest.emulation.not_emulated == []
    assert manifest.emulation.artifact == str(sources[scheme].resolve())
    assert mismatched_weights(out, manifest) == []
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "bfloat16"
    assert (out / "tokenizer.json").is_file() and (out / "chat_template.jinja").is_file()


def test_served_model_info_says_emulated(emulations: dict[str, Path]) -> None:
    from server.model_info import describe_model

    info = describe_model(str(emulations["w8a8-int8"]))
    assert info.scheme == "w8a8-int8"
    assert info.emulation is not None and info.emulation.startswith("weights only")
    assert info.metrics_label == "w8a8-int8-emulated"


def test_bad_input_one_line_nothing_written(
    sources: dict[str, Path], emulations: dict[str, Path], tmp_path: Path
) -> None:
    cases = {
        "not-an-artifact": (str(REASONER_DIR), "not a quantize artifact"),
        "bf16": (str(sources["bf16"]), "unquantized weights"),
        "missing": (str(tmp_path / "nowhere"), "no such directory"),
        "emulation": (str(emulations["w2a16"]), "already an emulation of w2a16"),
    }
    for name, (artifact, message) in cases.items():
        out = tmp_path / name
        done = _quantize_cli("emulate", artifact, "--out", str(out))
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (name, done.stderr)
        assert not out.exists() and not list(tmp_path.glob(f".{name}.partial-*"))
    existing = emulations["w2a16"]
    before = (existing / "model.safetensors").read_bytes()
    done = _quantize_cli("emulate", str(sources["w2a16"]), "--out", str(existing))
    assert done.returncode != 0 and "--force" in done.stderr.strip()
    assert (existing / "model.safetensors").read_bytes() == before
    manifest = (existing / MANIFEST_NAME).read_text()
    done = _quantize_cli("emulate", str(sources["w2a16"]), "--out", str(existing), "--force")
    assert done.returncode == 0, done.stderr
    assert (existing / MANIFEST_NAME).read_text() != manifest  # rewritten (new wall time)
    assert (existing / "model.safetensors").read_bytes() == before  # the same values again
