"""``diagnosis.md``, ``diagnosis_summary.json`` and ``diagnosis.png`` from the rows of a diagnosis.

Counts per run and category (and per difficulty and thinking budget), flips vs the run's other failures,
and where in the trace the first error falls (relative position: 0 = first step, 1 = the final answer).
With a baseline, both runs' distributions side by side. Judge errors are counted apart, never as a kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evalclient.diagnose.rows import DiagnosisRow
from evalclient.diagnose.taxonomy import CATEGORIES, CATEGORY_NAMES, JUDGE_ERROR
from evalclient.records import budget_label, budget_order
from evalclient.rundir import save_figure, write_atomically, write_json

SUMMARY_FILE = "diagnosis_summary.json"
REPORT_FILE = "diagnosis.md"
PLOT_FILE = "diagnosis.png"
POSITION_BINS = 5  # [0, 0.2), [0.2, 0.4), ... [0.8, 1.0]
COLUMNS: tuple[str, ...] = (*CATEGORY_NAMES, JUDGE_ERROR)
SLICE_KEYS = ("difficulty", "level", "subject")


class GroupCounts(BaseModel):
    label: str
    total: int
    counts: dict[str, int]  # category (and judge_error) -> rows

    def share(self, category: str) -> float | None:
        judged = self.total - self.counts.get(JUDGE_ERROR, 0)
        return self.counts.get(category, 0) / judged if judged else None


class AgreementStats(BaseModel):
    judged: int  # rows with a verdict and a rules reference
    same_step: int
    same_category: int


class RunBreakdown(BaseModel):
    role: str
    run: str
    overall: GroupCounts
    flips: GroupCounts | None  # only for the diagnosed run, with a baseline
    others: GroupCounts | None
    by_slice: dict[str, list[GroupCounts]]  # meta key -> one group per value
    by_budget: list[GroupCounts]
    positions: list[int]  # first-error relative positions, POSITION_BINS bins
    truncated: int
    agreement: AgreementStats | None  # LLM judge vs the rules judge, on toy-arith


class DiagnosisSummary(BaseModel):
    run: str
    baseline: str | None
    judge: str
    runs: list[RunBreakdown]


def _group(label: str, rows: Sequence[DiagnosisRow]) -> GroupCounts:
    counts: Counter[str] = Counter(row.category for row in rows)
    return GroupCounts(label=label, total=len(rows), counts={c: counts.get(c, 0) for c in COLUMNS})


def _positions(rows: Iterable[DiagnosisRow]) -> list[int]:
    bins = [0] * POSITION_BINS
    for row in rows:
        position = row.relative_position
        if position is not None:
            bins[min(POSITION_BINS - 1, int(position * POSITION_BINS))] += 1
    return bins


def _agreement(rows: Sequence[DiagnosisRow]) -> AgreementStats | None:
    pairs = [
        (row, row.reference) for row in rows if row.reference is not None and row.category != JUDGE_ERROR
    ]
    if not pairs:
        return None
    return AgreementStats(
        judged=len(pairs),
        same_step=sum(row.first_faulty_step == ref.first_faulty_step for row, ref in pairs),
        same_category=sum(row.category == ref.category for row, ref in pairs),
    )


def breakdown(role: str, run: str, rows: Sequence[DiagnosisRow], with_flips: bool) -> RunBreakdown:
    by_slice: dict[str, list[GroupCounts]] = {}
    for key in SLICE_KEYS:
        values = sorted({str(row.meta[key]) for row in rows if key in row.meta})
        if values:
            by_slice[key] = [_group(v, [r for r in rows if str(r.meta.get(key)) == v]) for v in values]
    budgets = sorted({row.thinking_budget for row in rows}, key=budget_order)
    return RunBreakdown(
        role=role,
        run=run,
        overall=_group(run, rows),
        flips=_group("flips", [r for r in rows if r.flip]) if with_flips else None,
        others=_group("other failures", [r for r in rows if not r.flip]) if with_flips else None,
        by_slice=by_slice,
        by_budget=[_group(budget_label(b), [r for r in rows if r.thinking_budget == b]) for b in budgets],
        positions=_positions(rows),
        truncated=sum(row.truncated for row in rows),
        agreement=_agreement(rows),
    )


def summarize(run: str, baseline: str | None, judge: str, rows: Sequence[DiagnosisRow]) -> DiagnosisSummary:
    runs = [breakdown("run", run, [r for r in rows if r.role == "run"], baseline is not None)]
    if baseline is not None:
        runs.append(breakdown("baseline", baseline, [r for r in rows if r.role == "baseline"], False))
    return DiagnosisSummary(run=run, baseline=baseline, judge=judge, runs=runs)


def _cell(group: GroupCounts, category: str) -> str:
    count = group.counts.get(category, 0)
    if category == JUDGE_ERROR:
        return str(count)
    share = group.share(category)
    return f"{count} ({100 * share:.0f}%)" if share is not None and count else str(count)


def _table(title: str, groups: Sequence[GroupCounts]) -> list[str]:
    lines = [f"| {title} | n | {' | '.join(COLUMNS)} |", "|---" * (len(COLUMNS) + 2) + "|"]
    for group in groups:
        cells = " | ".join(_cell(group, c) for c in COLUMNS)
        lines.append(f"| {group.label} | {group.total} | {cells} |")
    return lines


def render(summary: DiagnosisSummary, plot: Path | None) -> str:
    out = [f"# Diagnosis of {summary.run}", ""]
    out.append(
        f"Judge: `{summary.judge}`. Every wrong sample is diagnosed: its first faulty step (0-based, the "
        "final answer is the last step) and the kind of error. Shares are of the samples the judge gave a "
        "verdict on; `judge_error` counts samples it could not judge (rerun to retry them)."
    )
    if summary.baseline:
        out.append(
            f"Baseline: {summary.baseline}. A *flip* is a failure of {summary.run} whose baseline sample "
            "(same problem, thinking budget, seed and index) is right."
        )
    out += ["", "## Kinds of error per run", ""]
    out += _table("run", [run.overall for run in summary.runs])
    main = summary.runs[0]
    if main.flips is not None and main.others is not None:
        out += ["", f"## Flips vs other failures ({summary.run})", ""]
        out += _table("failures of", [main.flips, main.others])
    for key in SLICE_KEYS:
        groups = [(run, run.by_slice[key]) for run in summary.runs if key in run.by_slice]
        if groups:
            out += ["", f"## Per {key}", ""]
            out += _table(
                f"run / {key}",
                [g.model_copy(update={"label": f"{run.run} / {g.label}"}) for run, gs in groups for g in gs],
            )
    if any(len(run.by_budget) > 1 for run in summary.runs):
        out += ["", "## Per thinking budget", ""]
        out += _table(
            "run / budget",
            [
                g.model_copy(update={"label": f"{run.run} / {g.label}"})
                for run in summary.runs
                for g in run.by_budget
            ],
        )
    out += [
        "",
        "## Where the first error falls",
        "",
        "Relative position in the trace (0 = first step, 1 = final answer).",
    ]
    edges = [f"{i / POSITION_BINS:.1f}-{(i + 1) / POSITION_BINS:.1f}" for i in range(POSITION_BINS)]
    out += [f"| run | {' | '.join(edges)} | thinking cut short |", "|---" * (POSITION_BINS + 2) + "|"]
    for run in summary.runs:
        out.append(f"| {run.run} | {' | '.join(map(str, run.positions))} | {run.truncated} |")
    agreements = [run for run in summary.runs if run.agreement is not None]
    if agreements:
        out += ["", "## Agreement with the rules judge (toy-arith ground truth)", ""]
        out += ["| run | judged | same first faulty step | same kind |", "|---|---|---|---|"]
        for run in agreements:
            a = run.agreement
            assert a is not None
            out.append(
                f"| {run.run} | {a.judged} | {a.same_step} ({100 * a.same_step / a.judged:.0f}%) "
                f"| {a.same_category} ({100 * a.same_category / a.judged:.0f}%) |"
            )
    out += ["", "## Kinds", ""] + [f"- `{name}`: {meaning}" for name, meaning in CATEGORIES.items()]
    if plot is not None:
        out += ["", f"![diagnosis]({plot.name})"]
    return "\n".join(out) + "\n"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(summary: DiagnosisSummary, path: Path) -> Path | None:
    runs = [run for run in summary.runs if run.overall.total]
    if not runs:
        return None
    plt = _pyplot()
    main = summary.runs[0]
    panels = 3 if main.flips is not None else 2
    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2))
    width = 0.8 / len(runs)
    names = list(CATEGORY_NAMES[:-1])  # "none" is rare in failures; kept in the tables
    for offset, run in enumerate(runs):
        shares = [100 * (run.overall.share(c) or 0) for c in names]
        axes[0].bar(
            [i + offset * width for i in range(len(names))],
            shares,
            width,
            label=f"{run.run} (n={run.overall.total})",
        )
    axes[0].set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(names))], names, rotation=20)
    axes[0].set_ylabel("% of diagnosed failures")
    axes[0].set_title("kind of error")
    axes[0].legend(fontsize=8)
    centers = [(i + 0.5) / POSITION_BINS for i in range(POSITION_BINS)]
    for offset, run in enumerate(runs):
        total = sum(run.positions) or 1
        axes[1].bar(
            [c + (offset - (len(runs) - 1) / 2) * 0.18 / len(runs) for c in centers],
            [100 * n / total for n in run.positions],
            0.18 / len(runs),
            label=run.run,
        )
    axes[1].set_xlabel("first faulty step, relative position (0 = first, 1 = answer)")
    axes[1].set_ylabel("% of located errors")
    axes[1].set_title("where the first error falls")
    axes[1].legend(fontsize=8)
    if main.flips is not None and main.others is not None:
        for offset, group in enumerate((main.flips, main.others)):
            axes[2].bar(
                [i + offset * 0.4 for i in range(len(names))],
                [100 * (group.share(c) or 0) for c in names],
                0.4,
                label=f"{group.label} (n={group.total})",
            )
        axes[2].set_xticks([i + 0.2 for i in range(len(names))], names, rotation=20)
        axes[2].set_title(f"{main.run}: flips vs other failures")
        axes[2].legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)


def write_report(out_dir: Path, summary: DiagnosisSummary) -> None:
    write_json(out_dir / SUMMARY_FILE, summary.model_dump(mode="json"))
    image = plot(summary, out_dir / PLOT_FILE)
    if image is None:
        (out_dir / PLOT_FILE).unlink(missing_ok=True)
    write_atomically(out_dir / REPORT_FILE, render(summary, image))
