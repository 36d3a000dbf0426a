"""The paper-style study table of ``evalclient compare``: every run (scheme) against the first, per budget.

For each thinking budget, one row per run: accuracy with its 95% interval, the paired difference from the
baseline with its interval and exact-test p-value, the same per level of the run's difficulty key
(``difficulty``, MATH-500's ``level``, ...), and the change in mean reasoning length. The statistics are
``evalclient.compare``'s (paired by problem; bootstrap intervals; exact McNemar / sign test).

What a run served comes from its ``served_model.json`` (``Run.served_model``: the endpoint's ``/v1/models``
card, written by ``evalclient``): the quantization scheme, and whether the weights were an emulation
(``quantize emulate``), so emulated rows are labelled wherever they are shown.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

from evalclient.compare import CompareError, PairedDifference, length_shift, paired_difference
from evalclient.outcomes import ProblemKey, ProblemOutcome, Run
from evalclient.records import SLICE_KEYS, budget_label, budget_order

# The registry's names say their weight bits (w4a16, w8a8-int8, w3a16); bf16 and fp8-kv keep 16-bit weights.
_WEIGHT_BITS = re.compile(r"^w(\d+)a\d+")


class ServedModel(BaseModel):
    """What the run's endpoint said it served (its /v1/models card), as far as it said."""

    scheme: str | None = None
    emulated: bool = False
    emulation: str | None = None

    @property
    def weight_bits(self) -> int | None:
        if self.scheme is None:
            return None
        name = self.scheme.split("+")[0]
        if name in ("bf16", "fp8-kv", "bfloat16", "float16"):
            return 16
        found = _WEIGHT_BITS.match(name)
        return int(found.group(1)) if found else None


def served_model(run: Run) -> ServedModel:
    card = run.served_model or {}
    scheme = card.get("quantization_scheme")
    return ServedModel(
        scheme=str(scheme) if scheme else None,
        emulated=bool(card.get("emulated")),
        emulation=card.get("emulation"),
    )


def run_title(run: Run) -> str:
    """The run's label, marked when its weights were emulated."""
    return f"{run.label} (emulated)" if served_model(run).emulated else run.label


class Cell(BaseModel):
    """One run at one budget, over all its problems or one slice of them."""

    problems: int
    accuracy: float
    ci: tuple[float, float]
    vs_baseline: PairedDifference | None  # None on the baseline's own row


class StudyRow(BaseModel):
    run: str
    scheme: str | None
    emulated: bool
    emulation: str | None
    weight_bits: int | None
    thinking_budget: int | None
    overall: Cell
    by_level: dict[str, Cell]
    reasoning_tokens: float | None  # mean per problem
    reasoning_change: float | None  # paired mean difference vs the baseline, tokens
    reasoning_ratio: float | None


class Study(BaseModel):
    baseline: str
    level_key: str | None  # the meta key the levels come from ("difficulty", "level", ...)
    levels: list[str]
    budgets: list[int | None]
    rows: list[StudyRow]


def check_comparable(runs: Sequence[Run]) -> None:
    """Runs compared with each other must be of the same benchmarks; the error names the runs that differ."""
    baseline = runs[0]
    benchmarks = {key[0] for key in baseline.outcomes}
    for run in runs[1:]:
        theirs = {key[0] for key in run.outcomes}
        if theirs != benchmarks:
            raise CompareError(
                f"runs of different benchmarks: {baseline.label} ({', '.join(sorted(benchmarks))}) vs "
                f"{run.label} ({', '.join(sorted(theirs))}); compare runs of the same benchmarks"
            )
        if not set(run.outcomes) & set(baseline.outcomes):
            raise CompareError(
                f"{baseline.label} and {run.label} share no scored problem (same problems and budgets?)"
            )


def level_key(runs: Sequence[Run]) -> str | None:
    """The first slice key with two or more values in the baseline: the study's difficulty axis."""
    for name in SLICE_KEYS:
        values = {str(o.meta[name]) for o in runs[0].outcomes.values() if name in o.meta}
        if len(values) >= 2:
            return name
    return None


def _level_order(value: str) -> tuple[int, float, str]:
    named = {"easy": 0, "medium": 1, "hard": 2}
    if value in named:
        return (0, named[value], value)
    try:
        return (1, float(value.removeprefix("Level ")), value)
    except ValueError:
        return (2, 0.0, value)


def _cell(
    pairs: list[tuple[ProblemOutcome, ProblemOutcome]] | None,
    own: list[ProblemOutcome],
    resamples: int,
    seed: int,
) -> Cell:
    from evalclient.metrics import accuracy_interval

    accuracy, low, high = accuracy_interval([o.correct for o in own])
    stats = paired_difference(pairs, resamples, seed) if pairs else None
    return Cell(problems=len(own), accuracy=accuracy, ci=(low, high), vs_baseline=stats)


def build_study(runs: Sequence[Run], resamples: int = 2000, seed: int = 0) -> Study:
    check_comparable(runs)
    baseline = runs[0]
    key_name = level_key(runs)
    budgets = sorted({key[1] for key in baseline.outcomes}, key=budget_order)
    levels = sorted(
        {str(o.meta[key_name]) for o in baseline.outcomes.values() if key_name and key_name in o.meta},
        key=_level_order,
    )
    rows = [
        _row(baseline, run, index == 0, budget, key_name, resamples, seed)
        for budget in budgets
        for index, run in enumerate(runs)
    ]
    return Study(baseline=baseline.label, level_key=key_name, levels=levels, budgets=budgets, rows=rows)


def _row(
    baseline: Run,
    run: Run,
    is_baseline: bool,
    budget: int | None,
    key_name: str | None,
    resamples: int,
    seed: int,
) -> StudyRow:
    served = served_model(run)
    keys = sorted(k for k in run.outcomes if k[1] == budget)

    def pairs_of(selected: Sequence[ProblemKey]) -> list[tuple[ProblemOutcome, ProblemOutcome]] | None:
        if is_baseline:
            return None
        return [(baseline.outcomes[k], run.outcomes[k]) for k in selected if k in baseline.outcomes]

    by_level_keys: dict[str, list[ProblemKey]] = defaultdict(list)
    for k in keys:
        if key_name and key_name in run.outcomes[k].meta:
            by_level_keys[str(run.outcomes[k].meta[key_name])].append(k)
    by_level = {
        level: _cell(pairs_of(members), [run.outcomes[k] for k in members], resamples, seed)
        for level, members in by_level_keys.items()
    }
    reasoning = [
        value for k in keys if (value := run.outcomes[k].mean_length("reasoning_tokens")) is not None
    ]
    shift = None if is_baseline else length_shift(pairs_of(keys) or [], "reasoning_tokens", resamples, seed)
    return StudyRow(
        run=run.label,
        scheme=served.scheme,
        emulated=served.emulated,
        emulation=served.emulation,
        weight_bits=served.weight_bits,
        thinking_budget=budget,
        overall=_cell(pairs_of(keys), [run.outcomes[k] for k in keys], resamples, seed),
        by_level=by_level,
        reasoning_tokens=sum(reasoning) / len(reasoning) if reasoning else None,
        reasoning_change=shift.difference if shift else None,
        reasoning_ratio=shift.ratio if shift else None,
    )


# ---------------------------------------------------------------- rendering


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 0.001 else "<0.001"


def cell_text(cell: Cell | None) -> str:
    """``85.0 [79.9, 89.0]`` on the baseline; ``85.0 -5.0 [-9.2, -1.2] p=0.02*`` on the others."""
    if cell is None:
        return "-"
    text = f"{100 * cell.accuracy:.1f}"
    d = cell.vs_baseline
    if d is None:
        return f"{text} [{100 * cell.ci[0]:.1f}, {100 * cell.ci[1]:.1f}]"
    mark = "*" if d.p_value < 0.05 else ""
    low, high = d.difference_ci
    return f"{text} {100 * d.difference:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] p={_p(d.p_value)}{mark}"


def _reasoning_text(row: StudyRow) -> str:
    if row.reasoning_tokens is None:
        return "-"
    if row.reasoning_change is None:
        return f"{row.reasoning_tokens:.0f}"
    ratio = f" ({row.reasoning_ratio:.2f}x)" if row.reasoning_ratio else ""
    return f"{row.reasoning_tokens:.0f} {row.reasoning_change:+.0f}{ratio}"


def _row_name(row: StudyRow) -> str:
    return f"{row.run} (emulated)" if row.emulated else row.run


def _headers(study: Study) -> list[str]:
    return ["scheme", "W bits", "all", *study.levels, "reasoning tokens"]


def _cells(study: Study, row: StudyRow) -> list[str]:
    return [
        _row_name(row),
        "-" if row.weight_bits is None else str(row.weight_bits),
        cell_text(row.overall),
        *(cell_text(row.by_level.get(level)) for level in study.levels),
        _reasoning_text(row),
    ]


LEGEND = (
    "accuracy % [95% CI] on the baseline row; on the others accuracy %, paired difference vs the baseline in "
    "points [95% CI] and exact McNemar / sign-test p (* = p < 0.05); reasoning tokens: mean per problem, "
    "change vs the baseline (ratio)"
)


def render_study_markdown(study: Study) -> str:
    parts = [
        "## Study: every run vs the baseline\n\n",
        f"Baseline: {study.baseline}. Levels: {study.level_key or 'none'}. {LEGEND}.\n\n",
    ]
    for budget in study.budgets:
        parts.append(f"### Thinking budget {budget_label(budget)}\n\n")
        headers = _headers(study)
        parts.append("| " + " | ".join(headers) + " |\n" + "|---" * len(headers) + "|\n")
        for row in study.rows:
            if row.thinking_budget == budget:
                parts.append("| " + " | ".join(_cells(study, row)) + " |\n")
        parts.append("\n")
    emulated = {row.run: row.emulation for row in study.rows if row.emulated}
    if emulated:
        parts.append("Emulated rows (`quantize emulate`: the scheme's quantized weights, dequantized):\n\n")
        parts += [f"- {run}: {what or 'weights only'}\n" for run, what in emulated.items()]
        parts.append("\n")
    return "".join(parts)


def print_study(study: Study) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(160, 40 * (len(study.levels) + 2)))
    for budget in study.budgets:
        table = Table(title=f"thinking budget {budget_label(budget)}: accuracy vs {study.baseline}")
        for index, header in enumerate(_headers(study)):
            table.add_column(header, justify="left" if index == 0 else "right")
        for row in study.rows:
            if row.thinking_budget == budget:
                table.add_row(*_cells(study, row))
        console.print(table)
    console.print(LEGEND)
    for row in study.rows:
        if row.emulated and row.thinking_budget == study.budgets[-1]:
            console.print(f"[yellow]{row.run}[/]: emulated, {row.emulation or 'weights only'}")
