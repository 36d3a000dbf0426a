"""``loadtest compare``: several runs side by side (e.g. a bf16 server against a w4a16 one), as ratios to
the first. Reads loadtest's JSON and ``vllm bench serve``'s (the shared field names)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtest import report
from loadtest.errors import LoadtestError

METRICS = (
    ("request_throughput", "request throughput (req/s)", True),
    ("output_throughput", "output tokens/s", True),
    ("reasoning_throughput", "reasoning tokens/s", True),
    ("answer_throughput", "answer tokens/s", True),
    ("request_goodput", "goodput (req/s)", True),
    ("median_ttft_ms", "median TTFT (ms)", False),
    ("p99_ttft_ms", "p99 TTFT (ms)", False),
    ("median_ttfat_ms", "median first answer token (ms)", False),
    ("median_tpot_ms", "median TPOT (ms)", False),
    ("median_itl_ms", "median ITL (ms)", False),
    ("median_e2el_ms", "median E2EL (ms)", False),
    ("failed", "failed", False),
)


class CompareError(LoadtestError, ValueError):
    """A file that is not a run."""


def load_runs(path: Path) -> list[dict[str, Any]]:
    """The runs in a JSON file: one strategy document, a loadtest.json with several, or a vLLM result."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: cannot read a JSON run ({exc})") from None
    runs = document.get("runs", [document]) if isinstance(document, dict) else None
    if not runs or not all(isinstance(r, dict) and "request_throughput" in r for r in runs):
        raise CompareError(f"{path}: not a loadtest or vllm bench serve result")
    for run in runs:
        run.setdefault("strategy", run.get("backend", "run"))
        run["label"] = f"{path.stem}:{run['strategy']}" if len(runs) > 1 else path.stem
    return runs


def compare(paths: list[Path], console: Console, out: Path | None = None) -> list[dict[str, Any]]:
    runs = [run for path in paths for run in load_runs(path)]
    table = Table(title=f"loadtest compare (ratio to {runs[0]['label']})")
    table.add_column("metric")
    for run in runs:
        table.add_column(run["label"], justify="right")
    rows: list[dict[str, Any]] = []
    for key, label, _higher_is_better in METRICS:
        values = [run.get(key) for run in runs]
        if all(v is None for v in values):
            continue
        base = values[0]
        cells = []
        for i, value in enumerate(values):
            if value is None:
                cells.append("-")
            elif i and isinstance(base, int | float) and base:
                cells.append(f"{value:.4g} ({value / base:.2f}x)")
            else:
                cells.append(f"{value:.4g}")
        table.add_row(label, *cells)
        rows.append({"metric": key, **{run["label"]: v for run, v in zip(runs, values, strict=True)}})
    console.print(table)
    if out is not None:
        report.write_json(out / "compare.json", {"runs": [r["label"] for r in runs], "metrics": rows})
        _plot(runs, out / "compare.png")
    return rows


def _plot(runs: list[dict[str, Any]], path: Path) -> None:
    plt = report.pyplot()
    shown = [
        (k, label) for k, label, _ in METRICS if k != "failed" and all(r.get(k) is not None for r in runs)
    ]
    fig, axes = plt.subplots(1, len(shown), figsize=(2.4 * len(shown), 3.6), squeeze=False)
    for axis, (key, label) in zip(axes[0], shown, strict=True):
        axis.bar(range(len(runs)), [r[key] for r in runs], color=[f"C{i}" for i in range(len(runs))])
        axis.set_xticks(range(len(runs)), [r["label"] for r in runs], rotation=30, ha="right", fontsize=7)
        axis.set_title(label, fontsize=8)
    fig.suptitle("loadtest compare")
    report.save_png(fig, path)
    plt.close(fig)
