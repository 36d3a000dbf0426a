"""``evalclient`` as a user runs it, against the real server on the trained tiny reasoner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalclient.records import UNLIMITED_BUDGET, SampleRecord
from tests.conftest import API_KEY, REASONER_MODEL_NAME

pytestmark = [pytest.mark.server, pytest.mark.slow]
BIN = Path(sys.executable).parent


def test_toy_arith_accuracy_rises_with_the_thinking_budget(reasoner_server, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "evalclient"), "--endpoint", reasoner_server.base_url, "--model", REASONER_MODEL_NAME,
         "--api-key", API_KEY, "--benchmark", "toy-arith", "--limit", "12", "--temperature", "0",
         "--thinking-budget", "0,unlimited", "--concurrency", "6", "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [
        SampleRecord.model_validate_json(line)
        for line in (tmp_path / "samples.jsonl").read_text().splitlines()
    ]
    assert len(records) == 24 and all(r.error is None for r in records)
    for record in records:
        assert record.finish_reason == "stop"
        assert record.budget_forcing is not None  # the server's per-choice report was kept
        assert record.ttft_s is not None and record.completion_tokens
    no_thinking = [r for r in records if r.thinking_budget == 0]
    thinking = [r for r in records if r.thinking_budget == UNLIMITED_BUDGET]
    assert len(no_thinking) == len(thinking) == 12
    assert all(r.reasoning_tokens == 0 for r in no_thinking)
    assert all(r.reasoning_tokens and r.reasoning_tokens > 20 for r in thinking)
    summary = json.loads((tmp_path / "summary.json").read_text())
    accuracy = {r["thinking_budget"]: r["overall"]["accuracy"] for r in summary["results"]}
    # The tiny reasoner solves toy-arith by thinking (docs/tiny-reasoner.md: 0% at budget 0).
    assert accuracy[UNLIMITED_BUDGET] >= 0.75
    assert accuracy[0] < accuracy[UNLIMITED_BUDGET]
    assert "| toy-arith | unlimited | 12 | 12 | 0 |" in (tmp_path / "report.md").read_text()
