"""Demo step: where the worst served scheme's reasoning goes wrong, against bf16.

Runs ``evalclient diagnose`` as a user runs it (its own process, the rules judge: exact on toy-arith)
on the scheme with the lowest accuracy, with the bf16 run as its baseline, then prints one table from
its ``diagnosis_summary.json``: failures per kind of error for both runs, and the flips.

    from demo.diagnose_step import diagnose_worst_scheme
    diagnose_worst_scheme(console, summaries, runs_dir=workdir / "runs", out_dir=workdir / "diagnosis")
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evalclient.diagnose.taxonomy import CATEGORY_NAMES, JUDGE_ERROR

BASELINE = "bf16"


class DiagnoseStepError(RuntimeError):
    pass


def _mean_accuracy(summary: Mapping[str, Any]) -> float:
    values = [r["overall"]["accuracy"] for r in summary["results"] if r["overall"]["accuracy"] is not None]
    return sum(values) / len(values) if values else 0.0


def worst_scheme(summaries: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The non-baseline scheme with the lowest accuracy (mean over thinking budgets), if any."""
    others = [scheme for scheme in summaries if scheme != BASELINE]
    return min(others, key=lambda s: _mean_accuracy(summaries[s])) if others else None


def diagnosis_table(summary: Mapping[str, Any]) -> Table:
    """One row per run (and one for the run's flips), one column per kind of error."""
    table = Table(
        title=f"where reasoning goes wrong: {summary['run']} vs {summary['baseline']} "
        f"({summary['judge']} judge)"
    )
    table.add_column("failures of", justify="left")
    table.add_column("n", justify="right")
    for name in (*CATEGORY_NAMES[:-1], JUDGE_ERROR):
        table.add_column(name, justify="right")
    table.add_column("cut off by budget", justify="right")

    def row(label: str, group: Mapping[str, Any], truncated: str) -> None:
        total = group["total"]
        judged = total - group["counts"].get(JUDGE_ERROR, 0)
        cells = []
        for name in CATEGORY_NAMES[:-1]:
            count = group["counts"].get(name, 0)
            cells.append(f"{count} ({100 * count / judged:.0f}%)" if judged else "0")
        table.add_row(label, str(total), *cells, str(group["counts"].get(JUDGE_ERROR, 0)), truncated)

    for run in summary["runs"]:
        row(run["run"], run["overall"], str(run["truncated"]))
        if run.get("flips"):
            row(f"  flips ({BASELINE} right)", run["flips"], "")
    return table


def diagnose_worst_scheme(
    console: Console, summaries: Mapping[str, Mapping[str, Any]], *, runs_dir: Path, out_dir: Path
) -> dict[str, Any] | None:
    """Diagnose the worst scheme's run against bf16's, print the table, return diagnosis_summary.json."""
    worst = worst_scheme(summaries)
    if worst is None or BASELINE not in summaries:
        console.print(f"[yellow]diagnose: needs {BASELINE} and one other served scheme; skipped[/]")
        return None
    console.rule(f"evalclient diagnose: {worst} (the lowest accuracy) against {BASELINE}")
    command = [
        sys.executable, "-m", "evalclient", "diagnose", str(runs_dir / worst),
        "--baseline", str(runs_dir / BASELINE), "--judge", "rules", "--out", str(out_dir), "--quiet",
    ]  # fmt: skip
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise DiagnoseStepError(f"evalclient diagnose exited with {result.returncode}; see the message above")
    summary: dict[str, Any] = json.loads((out_dir / "diagnosis_summary.json").read_text())
    console.print(diagnosis_table(summary))
    console.print(f"diagnosis: {out_dir} (diagnosis.jsonl, diagnosis.md, diagnosis.png)")
    return summary
