"""The demo's diagnose step on run directories (the real-server path is the main-job test)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from demo.diagnose_step import diagnose_worst_scheme, worst_scheme
from tests.evalclient.diagnose.conftest import injected_cases, write_run


def _summary(accuracy: float) -> dict[str, object]:
    return {"results": [{"thinking_budget": None, "overall": {"accuracy": accuracy}}]}


def test_worst_scheme_is_the_least_accurate_other_than_bf16() -> None:
    summaries = {"bf16": _summary(0.1), "w8a8-int8": _summary(0.8), "w4a16": _summary(0.5)}
    assert worst_scheme(summaries) == "w4a16"
    assert worst_scheme({"bf16": _summary(0.9)}) is None


def test_the_worst_scheme_is_diagnosed_against_bf16_in_one_table(tmp_path: Path) -> None:
    cases = injected_cases(10)
    exact = [(c.problem, c.problem.trace, f"\\boxed{{{c.problem.answer}}}", True) for c in cases]
    broken = [(c.problem, c.reasoning, c.answer, False) for c in cases]
    runs = tmp_path / "runs"
    write_run(runs / "bf16", exact[:8] + broken[8:])
    write_run(runs / "w4a16", broken[:6] + exact[6:])
    console = Console(record=True, width=200)
    summaries = {"bf16": _summary(0.8), "w4a16": _summary(0.4), "w8a8-int8": _summary(0.8)}
    summary = diagnose_worst_scheme(console, summaries, runs_dir=runs, out_dir=tmp_path / "diagnosis")
    assert summary is not None and summary["run"] == "w4a16"
    text = console.export_text()
    assert "where reasoning goes wrong: w4a16 vs bf16 (rules judge)" in text
    assert "flips (bf16 right)" in text
    assert (tmp_path / "diagnosis" / "diagnosis.md").is_file()
