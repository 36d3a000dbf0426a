"""``report.md`` (and ``accuracy_vs_budget.png`` when the run swept thinking budgets) from a summary."""

from __future__ import annotations

from pathlib import Path

from evalclient.metrics import BenchmarkResult, Distribution, GroupStats, RunSummary
from evalclient.records import budget_label
from evalclient.rundir import save_figure


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _accuracy(stats: GroupStats) -> str:
    if stats.accuracy is None:
        return "n/a"
    return f"{_pct(stats.accuracy)} [{_pct(stats.ci_low)}, {_pct(stats.ci_high)}]"


def _mean(distribution: Distribution, digits: int = 0) -> str:
    return _num(distribution.mean, digits)


HEADER = (
    "| benchmark | thinking budget | problems | samples | errors | accuracy % [95% CI] | pass@k | maj@k "
    "| reasoning tok | answer tok | truncated % | empty % | latency s (p50) | TTFT s (p50) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def _row(first: str, second: str, stats: GroupStats) -> str:
    passes = ", ".join(f"@{k} {_pct(v)}" for k, v in stats.pass_at_k.items() if k != "1") or "-"
    majority = ", ".join(f"@{k} {_pct(v)}" for k, v in stats.maj_at_k.items()) or "-"
    return (
        f"| {first} | {second} | {stats.problems} | {stats.samples} | {stats.errors} | {_accuracy(stats)} "
        f"| {passes} | {majority} | {_mean(stats.reasoning_tokens)} | {_mean(stats.answer_tokens)} "
        f"| {_pct(stats.truncation_rate)} | {_pct(stats.empty_answer_rate)} | {_num(stats.latency_s.p50, 2)} "
        f"| {_num(stats.ttft_s.p50, 3)} |\n"
    )


def render_report(summary: RunSummary) -> str:
    run = summary.run
    sampling = run.get("sampling", {})
    lines = [
        f"# evalclient run: {run.get('model')} at {run.get('endpoint')}\n\n",
        f"protocol {run.get('protocol') or 'none'}; temperature {sampling.get('temperature')}, "
        f"top_p {sampling.get('top_p')}, max_tokens {sampling.get('max_tokens') or 'benchmark default'}, "
        f"seeds {sampling.get('seeds')}, {sampling.get('n')} sample(s) per seed; scored on the "
        f"{'answer' if run.get('score_on') == 'answer' else 'full output'}; thinking budget via "
        f"`{run.get('budget_field')}`.",
    ]
    if summary.wall_s is not None:
        lines.append(f" Wall time {summary.wall_s:.1f} s.")
    card = summary.served_model or {}
    if card.get("quantization_scheme"):
        lines.append(f"\n\nServed: quantization scheme {card['quantization_scheme']}")
        if card.get("emulated"):
            lines.append(f", **emulated** ({card.get('emulation') or 'weights only'})")
        lines.append(".")
    lines.append("\n\n## Results\n\n" + HEADER)
    lines += [_row(r.benchmark, budget_label(r.thinking_budget), r.overall) for r in summary.results]
    for result in summary.results:
        lines.append(_breakdown(result))
    if summary.error_messages:
        lines.append("\n## Errors (not scored, not counted as wrong)\n\n| count | error |\n|---|---|\n")
        lines += [
            f"| {count} | {message.replace('|', '/')} |\n"
            for message, count in summary.error_messages.items()
        ]
    return "".join(lines)


def _breakdown(result: BenchmarkResult) -> str:
    if not result.breakdown:
        return ""
    parts = [f"\n## {result.benchmark}, thinking budget {budget_label(result.thinking_budget)}: by slice\n\n"]
    for key, values in result.breakdown.items():
        parts.append(HEADER.replace("| benchmark | thinking budget |", f"| {key} | |", 1))
        parts += [_row(value, "", stats) for value, stats in values.items()]
        parts.append("\n")
    return "".join(parts)


def plot_budget_sweep(summary: RunSummary, path: Path) -> Path | None:
    """Accuracy (with its interval) against thinking budget, one line per benchmark; None if no sweep."""
    by_benchmark: dict[str, list[BenchmarkResult]] = {}
    for result in summary.results:
        by_benchmark.setdefault(result.benchmark, []).append(result)
    if all(len(results) < 2 for results in by_benchmark.values()):
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for benchmark, results in by_benchmark.items():
        points = [r for r in results if r.overall.accuracy is not None]
        labels = [budget_label(r.thinking_budget) for r in points]
        xs = list(range(len(points)))
        ys = [100 * (r.overall.accuracy or 0) for r in points]
        low = [max(0.0, y - 100 * (r.overall.ci_low or 0)) for y, r in zip(ys, points, strict=True)]
        high = [max(0.0, 100 * (r.overall.ci_high or 0) - y) for y, r in zip(ys, points, strict=True)]
        axis.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=benchmark)
        axis.set_xticks(xs, labels)
    axis.set_xlabel("thinking budget (tokens)")
    axis.set_ylabel("accuracy % (95% CI)")
    axis.set_ylim(0, 100)
    axis.set_title(f"{summary.run.get('model')}: accuracy vs thinking budget")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return save_figure(figure, path)
