"""The PNGs of ``evalclient compare``: accuracy by benchmark (95% CIs), accuracy vs thinking budget, output
length distributions. Each is written atomically; matplotlib (Agg) is imported only here."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalclient.compare_study import Study, run_title
from evalclient.metrics import accuracy_interval
from evalclient.outcomes import Run
from evalclient.records import budget_label, budget_order
from evalclient.rundir import save_figure


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _accuracy_of(run: Run, benchmark: str, budget: int | None) -> tuple[float, float, float] | None:
    groups = [o.correct for (b, t, _), o in run.outcomes.items() if b == benchmark and t == budget]
    return accuracy_interval(groups) if groups else None


def plot_accuracy_by_benchmark(runs: Sequence[Run], path: Path) -> Path:
    plt = _pyplot()
    cells = sorted(
        {(b, t) for run in runs for b, t, _ in run.outcomes}, key=lambda c: (c[0], budget_order(c[1]))
    )
    budgets = {t for _, t in cells}
    names = [b if len(budgets) == 1 else f"{b}\n@{budget_label(t)}" for b, t in cells]
    width = 0.8 / len(runs)
    figure, axis = plt.subplots(figsize=(max(6, 1.2 * len(cells) * len(runs) + 2), 4.5))
    for index, run in enumerate(runs):
        xs, ys, low, high = [], [], [], []
        for position, (benchmark, budget) in enumerate(cells):
            found = _accuracy_of(run, benchmark, budget)
            if found is None:
                continue
            accuracy, ci_low, ci_high = found
            xs.append(position + (index - (len(runs) - 1) / 2) * width)
            ys.append(100 * accuracy)
            # An interval bound computed apart from the point estimate may sit a rounding error past it.
            low.append(max(0.0, 100 * (accuracy - ci_low)))
            high.append(max(0.0, 100 * (ci_high - accuracy)))
        axis.bar(xs, ys, width, yerr=[low, high], capsize=3, label=run_title(run))
    axis.set_xticks(range(len(cells)), names)
    axis.set_ylabel("accuracy % (95% CI)")
    axis.set_ylim(0, 105)
    axis.set_title("accuracy by benchmark")
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return save_figure(figure, path)


def plot_accuracy_vs_budget(runs: Sequence[Run], path: Path) -> Path | None:
    budgets = sorted({t for run in runs for _, t, _ in run.outcomes}, key=budget_order)
    if all(budget is None for budget in budgets) or len(budgets) < 2:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    benchmarks = sorted({b for run in runs for b, _, _ in run.outcomes})
    styles = ("-", "--", ":", "-.")
    for run_index, run in enumerate(runs):
        for benchmark_index, benchmark in enumerate(benchmarks):
            xs, ys, low, high = [], [], [], []
            for position, budget in enumerate(budgets):
                found = _accuracy_of(run, benchmark, budget)
                if found is None:
                    continue
                accuracy, ci_low, ci_high = found
                xs.append(position)
                ys.append(100 * accuracy)
                low.append(max(0.0, 100 * (accuracy - ci_low)))
                high.append(max(0.0, 100 * (ci_high - accuracy)))
            if xs:
                title = run_title(run)
                label = title if len(benchmarks) == 1 else f"{title} ({benchmark})"
                axis.errorbar(
                    xs,
                    ys,
                    yerr=[low, high],
                    marker="o",
                    capsize=3,
                    label=label,
                    color=f"C{run_index}",  # one colour per run, one line style per benchmark
                    linestyle=styles[benchmark_index % len(styles)],
                )
    axis.set_xticks(range(len(budgets)), [budget_label(b) for b in budgets])
    axis.set_xlabel("thinking budget (tokens)")
    axis.set_ylabel("accuracy % (95% CI)")
    axis.set_ylim(0, 105)
    axis.set_title("accuracy vs thinking budget")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return save_figure(figure, path)


def plot_length_distributions(runs: Sequence[Run], path: Path) -> Path | None:
    fields = [
        name
        for name in ("reasoning_tokens", "answer_tokens")
        if any(getattr(r, name) is not None for run in runs for r in run.records)
    ]
    if not fields:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(fields), figsize=(6 * len(fields), 4), squeeze=False)
    for axis, name in zip(axes[0], fields, strict=True):
        values = {
            run.label: [getattr(r, name) for r in run.records if getattr(r, name) is not None] for run in runs
        }
        top = max((max(v) for v in values.values() if v), default=1)
        bins = [top * i / 30 for i in range(31)] if top > 0 else [0, 1]
        for label, data in values.items():
            if data:
                mean = statistics.fmean(data)
                axis.hist(data, bins=bins, histtype="step", linewidth=1.6, label=f"{label} (mean {mean:.0f})")
        axis.set_xlabel(name.replace("_", " "))
        axis.set_ylabel("samples")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle("output length distributions")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_accuracy_vs_weight_bits(study: Study, path: Path) -> Path | None:
    """Accuracy against the runs' weight bits at the largest budget, one line per level (and one for all).

    Where several runs share a bit width (w4a16, w4a16-awq), the line goes through the first given; the
    others are hollow markers. Emulated runs are marked in the x labels."""
    budget = study.budgets[-1]
    rows = [row for row in study.rows if row.thinking_budget == budget and row.weight_bits is not None]
    bits = sorted({row.weight_bits for row in rows if row.weight_bits is not None})
    if len(bits) < 2:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    first = {b: next(row for row in rows if row.weight_bits == b) for b in bits}
    series: list[tuple[str, Any]] = [("all", lambda row: row.overall)]
    series += [(level, lambda row, level=level: row.by_level.get(level)) for level in study.levels]
    for index, (name, pick) in enumerate(series):
        color = "black" if name == "all" else f"C{index - 1}"
        xs, ys = [], []
        for position, b in enumerate(bits):
            cell = pick(first[b])
            if cell is not None:
                xs.append(position)
                ys.append(100 * cell.accuracy)
        axis.plot(xs, ys, marker="o", color=color, label=name, linewidth=2.2 if name == "all" else 1.5)
        for row in rows:
            cell = pick(row)
            if row is not first[row.weight_bits] and cell is not None:
                axis.plot([bits.index(row.weight_bits)], [100 * cell.accuracy], marker="o", color=color,
                          markerfacecolor="none", linestyle="none")  # fmt: skip
    labels = [f"{b}\n{first[b].run}{' (emu)' if first[b].emulated else ''}" for b in bits]
    axis.set_xticks(range(len(bits)), labels)
    axis.set_xlabel("weight bits")
    axis.set_ylabel("accuracy %")
    axis.set_ylim(0, 105)
    axis.set_title(f"accuracy vs weight bits (thinking budget {budget_label(budget)})")
    axis.grid(alpha=0.3)
    axis.legend(title=study.level_key or None)
    figure.tight_layout()
    return save_figure(figure, path)
