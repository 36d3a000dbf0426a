"""``quantize`` with its default flags on the project's own model, as the README writes it: every scheme.

The defaults must fit the model they are given: the tiny reasoner's context is 1024 tokens, shorter than
the default trace cap (2048) and than some MATH-500 prompts (the default prompt set)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from quantize.manifest import read_manifest
from quantize.schemes import resolve_scheme
from tests.quantize.conftest import ALL_SCHEMES
from tinymodel import REASONER_DIR

# Trace generation starts an engine and asks 264 traces: minutes on a loaded 2-core host.
pytestmark = [pytest.mark.quantize_env, pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SAMPLES, DEFAULT_HELDOUT = 256, 8


@pytest.fixture(scope="module")
def readme_w8a8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's line, flags as written: traces gathered through ``serve`` on the source model."""
    out = tmp_path_factory.mktemp("defaults") / "w8a8-int8"
    done = subprocess.run(
        [sys.executable, "-m", "quantize", "--model", "tinymodel/weights/tiny-reasoner",
         "--scheme", "w8a8-int8", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_readme_quantize_line_succeeds_with_defaults(readme_w8a8: Path) -> None:
    manifest = read_manifest(readme_w8a8)
    assert manifest.scheme == "w8a8-int8"
    assert manifest.calibration is not None and manifest.calibration.source == "reasoning:serve"
    assert manifest.calibration.num_samples == DEFAULT_SAMPLES
    assert manifest.calibration.heldout_samples == DEFAULT_HELDOUT
    traces = (readme_w8a8 / "calibration" / "traces.jsonl").read_text().splitlines()
    assert len(traces) == DEFAULT_SAMPLES + DEFAULT_HELDOUT
    assert all(json.loads(line)["reasoning_content"] or json.loads(line)["content"] for line in traces)


@pytest.mark.parametrize("scheme", [s for s in ALL_SCHEMES if s != "w8a8-int8"])
def test_every_scheme_succeeds_with_defaults(scheme: str, readme_w8a8: Path, tmp_path: Path) -> None:
    """Default flags; the calibrated schemes reuse the README line's traces (one engine for them all)."""
    from quantize.cli import main

    out = tmp_path / scheme.replace("+", "_")
    calibrated = resolve_scheme(scheme).needs_calibration
    traces = ["--traces", str(readme_w8a8 / "calibration" / "traces.jsonl")] if calibrated else []
    main(["--model", str(REASONER_DIR), "--scheme", scheme, "--out", str(out), *traces])
    manifest = read_manifest(out)
    assert manifest.scheme == scheme
    assert manifest.calibration is not None
    assert manifest.calibration.num_samples == (DEFAULT_SAMPLES if calibrated else 0)
    assert manifest.calibration.heldout_samples == DEFAULT_HELDOUT
