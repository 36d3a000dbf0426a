"""The demo's evaluation step, against the instant stub (the real-server path is test_e2e_reasoner)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from demo.eval_step import evaluate_thinking_budgets
from demo.study_step import compare_step
from evalclient.benchmarks import get_benchmark
from evalclient.session import spread
from evalclient.stub import StubThread


def test_budgets_are_evaluated_and_schemes_compared(stub: Callable[..., StubThread], tmp_path: Path) -> None:
    problems = spread(get_benchmark("toy-arith").load(None), 6)
    right = {p.prompt: f"<think>ok</think>\n\n\\boxed{{{p.gold}}}" for p in problems}
    half = {
        p.prompt: f"<think>ok</think>\n\n\\boxed{{{p.gold if i % 2 else 0}}}" for i, p in enumerate(problems)
    }
    console = Console(record=True, width=140)
    summaries = {}
    for scheme, answers in (("bf16", right), ("w4a16", half)):
        endpoint = stub(answers)
        summaries[scheme] = evaluate_thinking_budgets(
            console, endpoint.base_url, "stub", out_dir=tmp_path / scheme, budgets=(0, None), problems=6
        )
    assert compare_step(console, [tmp_path / "bf16", tmp_path / "w4a16"], tmp_path / "compare")
    text = console.export_text()
    assert "stub: toy-arith accuracy vs thinking budget" in text
    assert "100.0%" in text and "50.0%" in text
    study = (tmp_path / "compare" / "report.md").read_text()
    assert "| w4a16 | - | 50.0 -50.0" in study  # the stub says no scheme: no weight bits
    assert [r["thinking_budget"] for r in summaries["bf16"]["results"]] == [0, None]
