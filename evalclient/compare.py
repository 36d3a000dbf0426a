"""``evalclient compare RUN_A RUN_B [RUN_C ...]``: how much accuracy changed between runs, and where.

The first run is the baseline; every other run is compared with it, problem by problem:

- Pairing: a problem is the unit, keyed by (benchmark, thinking budget, problem id) and present with at
  least one scored sample in both runs. Its outcome is its mean correctness over samples and seeds (errors
  left out, as in the run's own metrics). Problems in one run only are counted, never paired.
- Difference: mean over paired problems of (B - A), with a 95% paired bootstrap interval (problems
  resampled, so one problem's samples stay together; ``evalclient.metrics.bootstrap_interval``).
- Significance: a two-sided exact sign test on the per-problem differences (ties dropped). When every
  problem has exactly one binary outcome per run this is the exact McNemar test on the discordant pairs,
  and the report names it so.
- Length shift: mean reasoning, answer and completion tokens per problem, paired difference with its
  bootstrap interval, and the ratio B/A.
- Where losses concentrate: the same paired statistics for each benchmark, thinking budget and meta value
  (subject, level, difficulty, platform, ...), with each slice's share of the overall change in
  accuracy points, largest losses first.

- The study table (``compare_study``): every run against the first at each thinking budget, per difficulty
  level, with the reasoning length change; emulated runs (``quantize emulate``) labelled. Printed, and the
  head of ``report.md``.

Writes ``report.md``, ``comparison.json``, ``study.json`` and PNGs (``compare_plots``: accuracy by benchmark
with CIs; accuracy vs weight bits, one line per difficulty level; accuracy vs thinking budget, one line per
run, when runs have budgets; output length distributions) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from evalclient.errors import EvalclientError
from evalclient.metrics import accuracy_interval, bootstrap_interval
from evalclient.outcomes import LENGTH_FIELDS, ProblemKey, ProblemOutcome, Run, load_run
from evalclient.records import SLICE_KEYS, budget_label, budget_order
from evalclient.rundir import write_atomically


class CompareError(EvalclientError):
    """The runs cannot be compared; the message says which and why."""


# ---------------------------------------------------------------- statistics


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact sign test (= exact McNemar on discordant pairs): P(as extreme | p = 1/2)."""
    trials = wins + losses
    if trials == 0:
        return 1.0
    tail = sum(math.comb(trials, k) for k in range(min(wins, losses) + 1)) / 2**trials
    return min(1.0, 2 * tail)


class PairedDifference(BaseModel):
    problems: int
    accuracy_a: float
    accuracy_b: float
    ci_a: tuple[float, float]
    ci_b: tuple[float, float]
    difference: float  # B - A, in [-1, 1]
    difference_ci: tuple[float, float]  # paired bootstrap, 95%
    wins: int  # problems where B > A
    losses: int  # problems where B < A
    p_value: float
    test: str  # "exact McNemar" or "exact sign test"


class LengthShift(BaseModel):
    field: str
    problems: int
    mean_a: float
    mean_b: float
    difference: float
    difference_ci: tuple[float, float]
    ratio: float | None


class Slice(BaseModel):
    key: str  # "benchmark", "thinking_budget" or a meta key
    value: str
    stats: PairedDifference
    share_of_change: float  # this slice's sum of differences / all paired problems (accuracy points)


class Comparison(BaseModel):
    run_a: str
    run_b: str
    paired: int
    only_in_a: int
    only_in_b: int
    errors_a: int
    errors_b: int
    overall: PairedDifference
    by_benchmark: list[Slice]
    lengths: list[LengthShift]
    slices: list[Slice]  # every slice key, largest loss first
    biggest_drops: list[tuple[str, float, float]]  # "benchmark/budget/id", accuracy A, accuracy B


def paired_difference(
    pairs: Sequence[tuple[ProblemOutcome, ProblemOutcome]], resamples: int, seed: int
) -> PairedDifference:
    a_values = [a.accuracy for a, _ in pairs]
    b_values = [b.accuracy for _, b in pairs]
    differences = [b - a for a, b in zip(a_values, b_values, strict=True)]
    binary = all(len(a.correct) == 1 and len(b.correct) == 1 for a, b in pairs)
    wins = sum(d > 0 for d in differences)
    losses = sum(d < 0 for d in differences)
    accuracy_a, *ci_a = accuracy_interval([a.correct for a, _ in pairs])
    accuracy_b, *ci_b = accuracy_interval([b.correct for _, b in pairs])
    return PairedDifference(
        problems=len(pairs),
        accuracy_a=accuracy_a,
        accuracy_b=accuracy_b,
        ci_a=(ci_a[0], ci_a[1]),
        ci_b=(ci_b[0], ci_b[1]),
        difference=statistics.fmean(differences),
        difference_ci=bootstrap_interval(differences, resamples=resamples, seed=seed),
        wins=wins,
        losses=losses,
        p_value=sign_test_p(wins, losses),
        test="exact McNemar" if binary else "exact sign test",
    )


def length_shift(
    pairs: Sequence[tuple[ProblemOutcome, ProblemOutcome]], name: str, resamples: int, seed: int
) -> LengthShift | None:
    both = [(a.mean_length(name), b.mean_length(name)) for a, b in pairs]
    present = [(a, b) for a, b in both if a is not None and b is not None]
    if not present:
        return None
    mean_a = statistics.fmean(a for a, _ in present)
    mean_b = statistics.fmean(b for _, b in present)
    differences = [b - a for a, b in present]
    return LengthShift(
        field=name,
        problems=len(present),
        mean_a=mean_a,
        mean_b=mean_b,
        difference=statistics.fmean(differences),
        difference_ci=bootstrap_interval(differences, resamples=resamples, seed=seed),
        ratio=mean_b / mean_a if mean_a else None,
    )


def _slice_values(key: ProblemKey, outcome: ProblemOutcome) -> list[tuple[str, str]]:
    benchmark, budget, _ = key
    values = [("benchmark", benchmark), ("thinking_budget", budget_label(budget))]
    values += [(name, str(outcome.meta[name])) for name in SLICE_KEYS if name in outcome.meta]
    return values


def compare_runs(run_a: Run, run_b: Run, resamples: int = 2000, seed: int = 0) -> Comparison:
    shared = sorted(set(run_a.outcomes) & set(run_b.outcomes), key=lambda k: (k[0], budget_order(k[1]), k[2]))
    if not shared:
        raise CompareError(
            f"{run_a.label} and {run_b.label} share no scored problem (same benchmarks and budgets?)"
        )
    pairs = [(run_a.outcomes[key], run_b.outcomes[key]) for key in shared]
    groups: dict[tuple[str, str], list[tuple[ProblemOutcome, ProblemOutcome]]] = defaultdict(list)
    for key, pair in zip(shared, pairs, strict=True):
        for slice_key in _slice_values(key, pair[0]):
            groups[slice_key].append(pair)
    values_per_key: dict[str, int] = defaultdict(int)
    for name, _ in groups:
        values_per_key[name] += 1
    slices = []
    for (name, value), members in groups.items():
        if values_per_key[name] < 2 and name != "benchmark":  # one value: the same as the overall line
            continue
        stats = paired_difference(members, resamples, seed)
        share = sum(b.accuracy - a.accuracy for a, b in members) / len(pairs)
        slices.append(Slice(key=name, value=value, stats=stats, share_of_change=share))
    slices.sort(key=lambda s: (s.share_of_change, s.key, s.value))
    drops = sorted(
        ((key, a.accuracy, b.accuracy) for key, (a, b) in zip(shared, pairs, strict=True)),
        key=lambda item: item[2] - item[1],
    )
    return Comparison(
        run_a=run_a.label,
        run_b=run_b.label,
        paired=len(shared),
        only_in_a=len(set(run_a.outcomes) - set(run_b.outcomes)),
        only_in_b=len(set(run_b.outcomes) - set(run_a.outcomes)),
        errors_a=run_a.errors,
        errors_b=run_b.errors,
        overall=paired_difference(pairs, resamples, seed),
        by_benchmark=sorted((s for s in slices if s.key == "benchmark"), key=lambda s: s.value),
        lengths=[
            shift
            for name in LENGTH_FIELDS
            if (shift := length_shift(pairs, name, resamples, seed)) is not None
        ],
        slices=slices,
        biggest_drops=[(f"{k[0]}/{budget_label(k[1])}/{k[2]}", a, b) for k, a, b in drops[:10] if b < a],
    )


# ---------------------------------------------------------------- report


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _interval(bounds: tuple[float, float], points: bool = True) -> str:
    show = _points if points else _pct
    return f"[{show(bounds[0])}, {show(bounds[1])}]"


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 0.001 else "<0.001"


DIFF_HEADER = (
    "| {what} | problems | A % [95% CI] | B % [95% CI] | B - A (points) [95% CI] | B better | A better "
    "| p | share of change (points) |\n|---|---|---|---|---|---|---|---|---|\n"
)


def _diff_row(name: str, stats: PairedDifference, share: float | None) -> str:
    return (
        f"| {name} | {stats.problems} | {_pct(stats.accuracy_a)} {_interval(stats.ci_a, False)} "
        f"| {_pct(stats.accuracy_b)} {_interval(stats.ci_b, False)} | {_points(stats.difference)} "
        f"{_interval(stats.difference_ci)} | {stats.wins} | {stats.losses} | {_p(stats.p_value)} "
        f"| {'' if share is None else _points(share)} |\n"
    )


def render_comparison(comparison: Comparison) -> str:
    c = comparison
    o = c.overall
    verdict = "significant" if o.p_value < 0.05 else "not significant"
    parts = [
        f"## {c.run_b} vs {c.run_a}\n\n",
        f"{c.paired} problems paired (only in A: {c.only_in_a}, only in B: {c.only_in_b}; "
        f"error samples left out: A {c.errors_a}, B {c.errors_b}).\n\n",
        f"**Accuracy change: {_points(o.difference)} points** (95% paired bootstrap CI "
        f"{_interval(o.difference_ci)}), {o.test} p = {_p(o.p_value)} ({verdict} at 5%): "
        f"B better on {o.wins} problems, A better on {o.losses}.\n\n",
        "### By benchmark\n\n",
        DIFF_HEADER.format(what="benchmark"),
        *(_diff_row(s.value, s.stats, s.share_of_change) for s in c.by_benchmark),
        "\n### Length shift (mean tokens per problem)\n\n",
        "| tokens | problems | A | B | B - A [95% CI] | B / A |\n|---|---|---|---|---|---|\n",
        *(
            f"| {s.field.removesuffix('_tokens')} | {s.problems} | {s.mean_a:.0f} | {s.mean_b:.0f} "
            f"| {s.difference:+.0f} [{s.difference_ci[0]:+.0f}, {s.difference_ci[1]:+.0f}] "
            f"| {'n/a' if s.ratio is None else f'{s.ratio:.2f}'} |\n"
            for s in c.lengths
        ),
        "\n### Where the change concentrates (largest losses first)\n\n",
        "Share of change: the slice's summed per-problem difference over all paired problems, in accuracy "
        "points; the shares of one key add up to the overall change.\n\n",
        DIFF_HEADER.format(what="slice"),
        *(
            _diff_row(f"{s.key} = {s.value}", s.stats, s.share_of_change)
            for s in c.slices
            if s.key != "benchmark"
        ),
    ]
    if c.biggest_drops:
        parts.append("\n### Biggest per-problem drops\n\n| problem | A % | B % |\n|---|---|---|\n")
        parts += [f"| {name} | {_pct(a)} | {_pct(b)} |\n" for name, a, b in c.biggest_drops]
    return "".join(parts) + "\n"


def render_report(
    runs: Sequence[Run], comparisons: Sequence[Comparison], plots: Sequence[Path], study: str = ""
) -> str:
    from evalclient.compare_study import served_model

    lines = [
        "# evalclient comparison\n\n",
        "| run | model | served | endpoint | directory | samples | errors |\n",
    ]
    lines.append("|---|---|---|---|---|---|---|\n")
    for run in runs:
        served = served_model(run)
        what = served.scheme or "?"
        if served.emulated:
            what += f" (emulated: {served.emulation or 'weights only'})"
        lines.append(
            f"| {run.label} | {run.config.get('model', '?')} | {what} | {run.config.get('endpoint', '?')} "
            f"| {run.path} | {len(run.records)} | {run.errors} |\n"
        )
    lines.append(
        "\nA = the first run (baseline). Statistics: paired by problem (benchmark, thinking budget, id); "
        "per-problem accuracy = mean over its samples and seeds; 95% CIs of the difference by paired "
        "bootstrap over problems; p from a two-sided exact sign test on per-problem differences (the exact "
        "McNemar test when each problem has one sample per run).\n\n"
    )
    lines.append(study)
    lines += [render_comparison(comparison) for comparison in comparisons]
    lines += [f"![{plot.stem}]({plot.name})\n\n" for plot in plots]
    return "".join(lines)


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalclient compare",
        description="Compare evalclient runs problem by problem; the first run is the baseline.",
        epilog="example: evalclient compare runs/bf16 runs/w4a16 --out runs/compare",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (two or more)")
    parser.add_argument(
        "--out", type=Path, help="where report.md and the plots go (default: ./compare-A-vs-B)"
    )
    parser.add_argument("--labels", help="comma-separated names for the runs (default: directory names)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if len(args.runs) < 2:
            raise CompareError("give at least two run directories")
        labels = args.labels.split(",") if args.labels else [path.name or str(path) for path in args.runs]
        if len(labels) != len(args.runs):
            raise CompareError(f"--labels names {len(labels)} runs, {len(args.runs)} given")
        if len(set(labels)) != len(labels):
            labels = [f"{index}:{label}" for index, label in enumerate(labels)]
        if args.resamples < 100:
            raise CompareError("--resamples must be at least 100")
        runs = [load_run(path, label) for path, label in zip(args.runs, labels, strict=True)]
        from evalclient.compare_study import build_study

        study = build_study(runs, args.resamples, args.seed)  # checks the runs are comparable first
        comparisons = [compare_runs(runs[0], run, args.resamples, args.seed) for run in runs[1:]]
    except EvalclientError as exc:
        print(f"evalclient compare: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path(f"compare-{labels[0]}-vs-{labels[-1]}".replace("/", "_").replace(":", "_"))
    out.mkdir(parents=True, exist_ok=True)
    from evalclient.compare_plots import (  # matplotlib only when plotting
        plot_accuracy_by_benchmark,
        plot_accuracy_vs_budget,
        plot_accuracy_vs_weight_bits,
        plot_length_distributions,
    )
    from evalclient.compare_study import print_study, render_study_markdown

    plots = [plot_accuracy_by_benchmark(runs, out / "accuracy_by_benchmark.png")]
    plots += [
        plot
        for plot in (
            plot_accuracy_vs_weight_bits(study, out / "accuracy_vs_weight_bits.png"),
            plot_accuracy_vs_budget(runs, out / "accuracy_vs_budget.png"),
            plot_length_distributions(runs, out / "length_distributions.png"),
        )
        if plot is not None
    ]
    write_atomically(out / "comparison.json", json.dumps([c.model_dump() for c in comparisons], indent=2))
    write_atomically(out / "study.json", study.model_dump_json(indent=2))
    write_atomically(out / "report.md", render_report(runs, comparisons, plots, render_study_markdown(study)))
    print_study(study)
    for comparison in comparisons:
        o = comparison.overall
        print(
            f"{comparison.run_b} vs {comparison.run_a}: {_points(o.difference)} points "
            f"{_interval(o.difference_ci)} over {o.problems} problems, {o.test} p = {_p(o.p_value)}"
        )
    print(f"report: {out / 'report.md'}")
    return 0
