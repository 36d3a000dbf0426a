"""README command 1: the main job runs end to end and shows the model's reply."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=400,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "serve ready" in out
    assert "reasoning_content" in out and "content" in out
    usage = r"finish_reason=(?:stop|length) prompt_tokens=\d+ completion_tokens=\d+ reasoning_tokens=(\d+)"
    counts = [int(tokens) for tokens in re.findall(usage, out)]
    assert len(counts) == 2, out
    assert counts[1] <= 8, "the second question's thinking budget was not held"
    assert "'thinking_budget': 8" in out
    assert "serve stopped (exit code 0)" in out
    assert (tmp_path / "models" / "tiny-random-seed0" / "config.json").exists()
