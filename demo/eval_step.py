"""Demo step: evaluate a served model on toy-arith at several thinking budgets and show the comparison.

``evalclient`` runs as a user runs it (its own process, talking HTTP to the server); this step reads the
run's ``summary.json``. ``demo.study_step.compare_step`` then compares the schemes' runs.

    from demo.eval_step import evaluate_thinking_budgets
    bf16 = evaluate_thinking_budgets(console, server.base_url, "tiny-reasoner", out_dir=workdir / "eval-bf16")
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

UNLIMITED = -1  # evalclient's and the server's explicit "no limit"; None sends no budget (server default)
DEFAULT_BUDGETS: tuple[int | None, ...] = (0, 64, 128, UNLIMITED)  # the traces need ~60-250
DEFAULT_PROBLEMS = 30  # evenly spread over easy/medium/hard: a few seconds per budget on 2 CPU cores


class EvalStepError(RuntimeError):
    pass


def _label(budget: int | None) -> str:
    """A budget as ``evalclient --thinking-budget`` spells it."""
    if budget is None:
        return "default"
    return "unlimited" if budget == UNLIMITED else str(budget)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def evaluate_thinking_budgets(
    console: Console,
    base_url: str,
    model: str,
    *,
    out_dir: Path,
    api_key: str | None = None,
    budgets: Sequence[int | None] = DEFAULT_BUDGETS,
    problems: int = DEFAULT_PROBLEMS,
    concurrency: int = 8,
    title: str | None = None,
) -> dict[str, Any]:
    """Run ``evalclient`` on toy-arith at each budget (temperature 0), print a table, return summary.json.

    Rerunning with the same ``out_dir`` resumes: finished samples are not asked again.
    """
    command = [
        sys.executable, "-m", "evalclient", "--endpoint", base_url, "--model", model,
        "--benchmark", "toy-arith", "--limit", str(problems), "--temperature", "0",
        "--thinking-budget", ",".join(_label(b) for b in budgets), "--concurrency", str(concurrency),
        "--out", str(out_dir),
    ]  # fmt: skip
    if api_key:
        command += ["--api-key", api_key]
    console.rule(
        title or f"evalclient: {model} on toy-arith, thinking budgets {', '.join(map(_label, budgets))}"
    )
    # The progress bar (stderr) goes straight to the terminal.
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise EvalStepError(f"evalclient exited with {result.returncode}; see the message above")
    summary = json.loads((out_dir / "summary.json").read_text())
    console.print(budget_table(summary, title=f"{model}: toy-arith accuracy vs thinking budget"))
    console.print(
        f"run directory: {out_dir} (samples.jsonl, summary.json, report.md, accuracy_vs_budget.png)"
    )
    return summary


def budget_table(summary: Mapping[str, Any], title: str) -> Table:
    table = Table(title=title)
    for column in (
        "thinking budget",
        "accuracy [95% CI]",
        "reasoning tokens",
        "answer tokens",
        "latency p50",
    ):
        table.add_column(column, justify="right")
    for result in summary["results"]:
        stats = result["overall"]
        table.add_row(
            _label(result["thinking_budget"]),
            f"{_pct(stats['accuracy'])} [{_pct(stats['ci_low'])}, {_pct(stats['ci_high'])}]",
            f"{stats['reasoning_tokens']['mean'] or 0:.0f}",
            f"{stats['answer_tokens']['mean'] or 0:.0f}",
            f"{stats['latency_s']['p50'] or 0:.2f} s",
        )
    return table
